"""Azurite's table endpoint as a child process: in memory (tests) or persisted in a folder (the demo).

`scripts/with_azurite.py` (make test, make bench), `make demo`, `avdimage --demo` and `make ui` start it here.
With `location`, Azurite keeps its tables in that folder (its `--location` option), so the demo's
records outlive the process and later commands read them.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE = ROOT / "node_modules" / ".bin" / "azurite-table"
# Azurite's published development account; not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STARTUP_TIMEOUT_S = 60.0


class AzuriteMissing(RuntimeError):
    """node_modules has no Azurite (npm ci was not run)."""


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
            raise RuntimeError(f"Azurite exited early with code {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
        except urllib.error.HTTPError:
            return  # any HTTP answer (403 without auth) means it is listening
        except OSError:
            time.sleep(0.2)
        else:
            return
    raise RuntimeError(f"Azurite did not answer on port {port} in {STARTUP_TIMEOUT_S:.0f}s")


@contextmanager
def azurite(location: Path | None = None) -> Iterator[tuple[int, str]]:
    """(port, connection string) of a private Azurite; stopped on exit whatever happens."""
    if not AZURITE.exists():
        raise AzuriteMissing(f"{AZURITE} is missing; run `npm ci` (make install does)")
    port = free_port()
    args = [str(AZURITE), "--tableHost", "127.0.0.1", "--tablePort", str(port)]
    if location is None:
        args.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    args += ["--disableTelemetry", "--skipApiVersionCheck", "--silent"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    try:
        wait_until_answering(port, proc)
        yield port, connection_string(port)
    finally:
        # SIGINT is Azurite's graceful close: it writes its tables to `location` before exiting
        # (SIGTERM would lose up to its 5 s autosave interval).
        if location is None:
            proc.terminate()
        else:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
