"""Azurite's table (and blob) endpoints as child processes: in memory (tests) or persisted in a folder (the demo).

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
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"  # managed Run Command output (append blobs)
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
    """(port, connection string) of a private Azurite table service; stopped on exit whatever happens."""
    with _service(AZURITE, "table", location, "Tables") as port:
        yield port, connection_string(port)


@contextmanager
def azurite_blob(location: Path | None = None) -> Iterator[tuple[int, str]]:
    """(port, connection string) of a private Azurite blob service (Run Command output)."""
    with _service(AZURITE_BLOB, "blob", location, "?comp=list") as port:
        yield port, blob_connection_string(port)


@contextmanager
def _service(binary: Path, kind: str, location: Path | None, probe: str) -> Iterator[int]:
    if not binary.exists():
        raise AzuriteMissing(f"{binary} is missing; run `npm ci` (make install does)")
    port = free_port()
    args = [str(binary), f"--{kind}Host", "127.0.0.1", f"--{kind}Port", str(port)]
    if location is None:
        args.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    args += ["--disableTelemetry", "--skipApiVersionCheck", "--silent"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    try:
        wait_until_answering(port, proc, probe)
        yield port
    finally:
        # SIGINT is Azurite's graceful close: it writes its data to `location` before exiting
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
