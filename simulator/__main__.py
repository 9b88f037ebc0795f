"""``python -m simulator serve --host 127.0.0.1 --port 0 [--speed F] [--config f.json] [--event-webhook URL]``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from simulator.app import DEFAULT_SUBSCRIPTION
from simulator.core import DEFAULT_START, Simulator
from simulator.server import SimulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the ARM simulator over loopback HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--speed", type=float, default=60.0, help="virtual seconds per real second (0 = frozen)")
    serve.add_argument("--config", help="JSON: subscription_id, start, durations, auto_advance_on_poll")
    serve.add_argument("--event-webhook", help="POST Event Grid event arrays to this URL")
    args = parser.parse_args(argv)

    config: dict[str, object] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            config = json.load(fh)
    start = config.get("start")
    sim = Simulator(
        str(config.get("subscription_id") or DEFAULT_SUBSCRIPTION),
        start=datetime.fromisoformat(str(start).replace("Z", "+00:00")) if start else DEFAULT_START,
        durations=config.get("durations") or None,  # type: ignore[arg-type]
        auto_advance_on_poll=bool(config.get("auto_advance_on_poll", True)),
        advance_on_sleep=False,
    )
    server = SimulatorServer(sim, args.host, args.port, speed=args.speed, event_webhook=args.event_webhook)
    print(f"Simulator listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
