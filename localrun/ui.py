"""`make ui`: the status page and the read API on a loopback URL, served by the functions' own code.

Each request becomes a real `azure.functions.HttpRequest` handed to the same user function the
Functions host calls (functions/status.py, functions/api.py); its `HttpResponse` is written back.
The wiring is the demo's state in .demo/ (localrun/state.py), so what you see is what `make demo`
left and what `avdimage --demo` changes.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from functions import api, status

Handler = Callable[[func.HttpRequest], func.HttpResponse]


def _route(pattern: str) -> re.Pattern[str]:
    """`workloads/{workload}/history` -> a regex with a named group per route parameter."""
    return re.compile("^/api/" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")


def _user_function(builder: object) -> Handler:
    function: Handler = builder.build().get_user_function()  # type: ignore[attr-defined]
    return function


ROUTES: list[tuple[re.Pattern[str], Handler]] = [
    (_route("status"), _user_function(status.status_page)),
    (_route("catalog"), _user_function(api.catalog)),
    (_route("workloads/{workload}/versions"), _user_function(api.workload_versions)),
    (_route("workloads/{workload}/history"), _user_function(api.workload_history)),
]


class FunctionsHandler(BaseHTTPRequestHandler):
    """GET /api/... -> the function's user code with a real func.HttpRequest; its response written back."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        matches = ((pattern.match(parts.path), function) for pattern, function in ROUTES)
        found, function = next(((m, f) for m, f in matches if m), (None, None))
        if found is None or function is None:
            self.send_error(404, "not a route of this app: try /api/status")
            return
        request = func.HttpRequest(
            method="GET",
            url=f"http://127.0.0.1{self.path}",
            body=b"",
            params=dict(parse_qsl(parts.query)),
            route_params=found.groupdict(),
        )
        response = function(request)
        body = response.get_body()
        self.send_response(response.status_code)
        self.send_header("Content-Type", f"{response.mimetype}; charset={response.charset}")
        for name, value in response.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # the page is the output; request lines would bury the URL


@contextmanager
def serving(port: int = 0) -> Iterator[str]:
    """The app's HTTP functions on http://127.0.0.1:<port> (a free one by default) from a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), FunctionsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    from localrun.state import DemoStateMissing, demo_runtime
    from shared import bootstrap

    parser = argparse.ArgumentParser(prog="python -m localrun.ui", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7071, help="loopback port (default 7071, as `func start`)")
    args = parser.parse_args(argv)
    try:
        with demo_runtime(save=False) as runtime, serving(args.port) as base:
            bootstrap.use(runtime.entrypoints)
            print(f"status page: {base}/api/status", flush=True)
            print(f"read API:    {base}/api/catalog, {base}/api/workloads/office/history", flush=True)
            print("Ctrl+C stops it (avdimage --demo waits for that: one user of .demo/ at a time)", flush=True)
            threading.Event().wait()
    except DemoStateMissing as error:
        print(f"make ui: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
