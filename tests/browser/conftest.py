"""The status page served over loopback HTTP from the status function, for a real browser to load."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
import pytest

from functions.status import status_page
from localrun.runtime import LocalRuntime
from shared import bootstrap
from tests.cli.scenario import demo_runtime

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
STATUS = status_page.build().get_user_function()  # the user function, as the worker calls it


class _StatusHandler(BaseHTTPRequestHandler):
    """GET /api/status -> the status function with a real func.HttpRequest; its body written back."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/api/status":
            self.send_error(404)
            return
        request = func.HttpRequest(
            method="GET", url=f"http://127.0.0.1{self.path}", body=b"", params=dict(parse_qsl(parts.query))
        )
        response: func.HttpResponse = STATUS(request)
        body = response.get_body()
        self.send_response(response.status_code)
        self.send_header("Content-Type", f"{response.mimetype}; charset={response.charset}")
        for name, value in response.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    runtime = demo_runtime()
    bootstrap.use(runtime.entrypoints)
    yield runtime
    bootstrap.use(None)


@pytest.fixture(scope="module")
def status_url(runtime: LocalRuntime) -> Iterator[str]:
    """http://127.0.0.1:<free port>/api/status, served from a thread for the module's tests."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/status"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; missing is a failure, not a skip: `make test-browser` installs it."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "chromium is not installed: run `make test-browser` (installs Debian's chromium with apt) "
        "or `apt-get update && apt-get install -y chromium`"
    )


@pytest.fixture(scope="session")
def output() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT
