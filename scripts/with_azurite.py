"""Run one command with a private Azurite table endpoint on a free loopback port.

Used by `make test` and `make demo`: starts Azurite in memory, waits until it answers,
exports the connection string, runs the command, stops Azurite whatever happens.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE = ROOT / "node_modules" / ".bin" / "azurite-table"
# Azurite's published development account; not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{DEV_ACCOUNT};"
    )


def wait_until_answering(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    url = f"http://127.0.0.1:{port}/{DEV_ACCOUNT}/Tables"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"with_azurite: Azurite exited early with code {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
        except urllib.error.HTTPError:
            return  # any HTTP answer (403 without auth) means it is listening
        except OSError:
            time.sleep(0.2)
        else:
            return
    raise SystemExit(f"with_azurite: Azurite did not answer on port {port} in {STARTUP_TIMEOUT_S:.0f}s")


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: with_azurite.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    if not AZURITE.exists():
        print(f"with_azurite: {AZURITE} is missing; run `npm ci` (make install does)", file=sys.stderr)
        return 2
    port = free_port()
    args = [str(AZURITE), "--tableHost", "127.0.0.1", "--tablePort", str(port)]
    args += ["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--silent"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    try:
        wait_until_answering(port, proc)
        env = dict(os.environ, AVD_TABLES_CONNECTION_STRING=connection_string(port), AZURITE_TABLE_PORT=str(port))
        return subprocess.call(command, env=env)  # noqa: S603 - the caller's own command
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
