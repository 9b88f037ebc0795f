"""Loopback HTTP server (stdlib ThreadingHTTPServer) around a Simulator."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulator.core import Simulator


class SimulatorServer:
    """Serves ``sim`` over HTTP; virtual time runs at ``speed`` virtual seconds per real second."""

    def __init__(
        self,
        sim: Simulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        speed: float = 0.0,
        event_webhook: str | None = None,
        tick_seconds: float = 0.1,
    ) -> None:
        self.sim = sim
        self.speed = speed
        self.tick_seconds = tick_seconds
        self.event_webhook = event_webhook
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        handler = _make_handler(sim)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        if event_webhook:
            sim.events.subscribe(self._post_events)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def _post_events(self, events: list[dict[str, Any]]) -> None:
        assert self.event_webhook is not None
        data = json.dumps(events).encode()
        request = urllib.request.Request(  # noqa: S310 - the webhook URL is configured by the operator
            self.event_webhook,
            data=data,
            headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
        )

        def post() -> None:
            try:
                with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - operator-configured URL
                    pass
            except OSError:
                pass  # Event Grid would retry; a local webhook that is down just misses the event

        threading.Thread(target=post, daemon=True).start()

    def _tick(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick_seconds):
            now = time.monotonic()
            with self.sim.lock:
                self.sim.clock.advance((now - last) * self.speed)
            last = now

    def start(self) -> SimulatorServer:
        """Serve in background threads; returns self."""
        serve = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        serve.start()
        self._threads.append(serve)
        if self.speed > 0:
            tick = threading.Thread(target=self._tick, daemon=True)
            tick.start()
            self._threads.append(tick)
        return self

    def serve_forever(self) -> None:
        if self.speed > 0:
            threading.Thread(target=self._tick, daemon=True).start()
        self.httpd.serve_forever()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _make_handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            address = self.server.server_address
            host = self.headers.get("Host") or f"{address[0]!s}:{address[1]}"  # type: ignore[index]
            url = f"http://{host}{self.path}"
            status, headers, payload = sim.handle(self.command, url, dict(self.headers.items()), body)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        do_GET = _serve
        do_PUT = _serve
        do_POST = _serve
        do_PATCH = _serve
        do_DELETE = _serve
        do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
