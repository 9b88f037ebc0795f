"""CLI fixtures: the demo state on the local stand-ins, injected as the CLI's wiring."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner, Result

from localrun.runtime import LocalRuntime
from shared import bootstrap
from shared.cli import app
from tests.cli.scenario import demo_runtime

# Content assertions read phrases whole, at a width where no cell wraps; what people see at
# 80 and 160 columns (no line too long, no word cut) is checked for every command in test_widths.py.
WIDE = {"COLUMNS": "1000"}


@dataclass
class Cli:
    runtime: LocalRuntime

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=WIDE)


@pytest.fixture(scope="module")
def demo() -> Iterator[Cli]:
    """The demo state shared by read-only tests (never changed by them)."""
    runtime = demo_runtime()
    bootstrap.use(runtime.entrypoints)
    yield Cli(runtime)
    bootstrap.use(None)


@pytest.fixture
def fresh() -> Iterator[Cli]:
    """The demo state for one test that changes it."""
    runtime = demo_runtime()
    bootstrap.use(runtime.entrypoints)
    yield Cli(runtime)
    bootstrap.use(None)
