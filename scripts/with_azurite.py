"""Run one command with private Azurite table and blob endpoints on free loopback ports.

Used by `make test` and `make demo`: starts Azurite's table and blob services in memory, waits
until they answer, exports their connection strings (AVD_TABLES_CONNECTION_STRING,
AVD_BLOBS_CONNECTION_STRING: managed Run Command output goes to append blobs), runs the
command, stops Azurite whatever happens.
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
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"
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


def blob_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{DEV_ACCOUNT};"
    )


def wait_until_answering(port: int, proc: subprocess.Popen[bytes], path: str = "Tables") -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    url = f"http://127.0.0.1:{port}/{DEV_ACCOUNT}/{path}"
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
    for binary in (AZURITE, AZURITE_BLOB):
        if not binary.exists():
            print(f"with_azurite: {binary} is missing; run `npm ci` (make install does)", file=sys.stderr)
            return 2
    common = ["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--silent"]
    port, blob_port = free_port(), free_port()
    table_args = [str(AZURITE), "--tableHost", "127.0.0.1", "--tablePort", str(port), *common]
    blob_args = [str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", str(blob_port), *common]
    procs = [
        subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        for args in (table_args, blob_args)
    ]
    try:
        wait_until_answering(port, procs[0])
        wait_until_answering(blob_port, procs[1], "?comp=list")
        env = dict(
            os.environ,
            AVD_TABLES_CONNECTION_STRING=connection_string(port),
            AZURITE_TABLE_PORT=str(port),
            AVD_BLOBS_CONNECTION_STRING=blob_connection_string(blob_port),
            AZURITE_BLOB_PORT=str(blob_port),
        )
        return subprocess.call(command, env=env)  # noqa: S603 - the caller's own command
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
