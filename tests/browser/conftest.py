"""The status page served over loopback HTTP by `make ui`'s server (the status function), for a real browser."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.status import status_page
from localrun.runtime import LocalRuntime
from localrun.ui import serving
from shared import bootstrap
from tests.cli.scenario import demo_runtime

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
STATUS = status_page.build().get_user_function()  # the user function, as the worker calls it


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    runtime = demo_runtime()
    bootstrap.use(runtime.entrypoints)
    yield runtime
    bootstrap.use(None)


@pytest.fixture(scope="module")
def status_url(runtime: LocalRuntime) -> Iterator[str]:
    """http://127.0.0.1:<free port>/api/status, served the way `make ui` serves it (localrun.ui)."""
    with serving() as base:
        yield f"{base}/api/status"


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
