"""Every command read at 80 and 160 columns: no line longer than the terminal, no word cut in two.

A cut word is found by comparison with the same command at a width where nothing needs to wrap:
every token printed at the narrow width must be a whole token of that reference (resource ids and
image URNs, longer than any line may be, are the only tokens the layout folds).
"""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from shared.cli import app
from tests.cli.conftest import Cli

COMMANDS = [
    ["catalog"],
    ["catalog", "--wide"],
    ["status", "data-analyst"],
    ["status", "office"],
    ["status", "data-analyst", "--wide"],
    ["history", "data-analyst"],
    ["history", "data-analyst", "--limit", "0"],
    ["diff", "data-analyst", "1.0.0", "1.0.1"],
    ["report"],
    ["rejected"],
    ["prune", "--dry-run"],
    ["validate-catalog", "catalog"],
]
NAMES = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
HELP = [[], ["-h"], *([name, "-h"] for name in NAMES)]
BORDERS = re.compile(r"[\s│┃┏┓┗┛┡┩└┘━─┳┻╇╈┼┬┴├┤╭╮╰╯|]+")


def _render(args: list[str], width: int) -> str:
    result = CliRunner().invoke(app, args, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, f"{args}: {result.stdout}{result.stderr}"
    return result.stdout


def _tokens(text: str) -> list[str]:
    """Words without table borders; a card's `Label:` is the column header `Label`."""
    return [t.rstrip(":") for t in BORDERS.split(text) if t.rstrip(":")]


def assert_fits(args: list[str], width: int) -> None:
    out = _render(args, width)
    too_long = [line for line in out.splitlines() if len(line) > width]
    assert not too_long, f"{args} at {width}: lines over {width} columns: {too_long[:3]}"
    reference = set(_tokens(_render(args, 1000)))
    ids = [t for t in reference if ("/" in t or ":" in t) and len(t) > 40]  # resource ids, image URNs
    cut = [t for t in _tokens(out) if t not in reference and not any(t in i for i in ids)]
    assert not cut, f"{args} at {width}: words cut in two: {cut[:10]}"


@pytest.mark.parametrize("width", [80, 160])
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_read_command_fits_the_terminal_without_cutting_a_word(demo: Cli, args: list[str], width: int) -> None:
    """Tables fit by columns or fall back to cards; no line is over the width and no word is split."""
    assert_fits(args, width)


@pytest.mark.parametrize("width", [80, 160])
@pytest.mark.parametrize("args", HELP, ids=lambda a: " ".join(a) or "(none)")
def test_help_fits_the_terminal(demo: Cli, args: list[str], width: int) -> None:
    """Every command's help (with its az-style examples) fits the width without cutting a word."""
    result = CliRunner().invoke(app, args, env={"COLUMNS": str(width)})
    assert result.exit_code in (0, 2), result.stderr  # no arguments: usage, exit 2
    out = result.stdout
    assert [line for line in out.splitlines() if len(line) > width] == []
    if args:
        assert "Examples:" in out
        assert "avdimage " in out.split("Examples:")[1]
