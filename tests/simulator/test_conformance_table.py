"""The conformance table in docs/simulator.md stays true: every row names a source and tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

from tests.simulator.spec_operations import OPS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "simulator.md").read_text()
SECTION = DOC[DOC.index("## Conformance: what Azure does") : DOC.index("## Conformance: refusals and timing")]
ROWS = [
    [cell.strip() for cell in line.strip("|").split("|")]
    for line in SECTION.splitlines()
    if line.startswith("| ") and not line.startswith("| Behaviour")
]


def _test_exists(reference: str) -> bool:
    replay = re.fullmatch(r"replay\[(.+)\]", reference)
    if replay:
        return replay.group(1) in OPS
    module, _, name = reference.partition("::")
    path = ROOT / "tests" / "simulator" / module
    return path.exists() and re.search(rf"^def {re.escape(name)}\(", path.read_text(), re.M) is not None


def test_table_has_forty_sourced_rows() -> None:
    """At least 40 rows cite a public source; the others say they are assumptions."""
    sourced = [row for row in ROWS if not row[1].startswith("**assumption**")]
    assert len(sourced) >= 40
    assert all(row[1] for row in ROWS)


def test_every_row_names_tests_that_exist() -> None:
    """Each row's test column names replays of stored examples or test functions that exist."""
    missing = []
    for behaviour, _, tests in ROWS:
        references = re.findall(r"`([^`]+)`", tests)
        assert references, f"no test named for: {behaviour}"
        missing += [r for r in references if not _test_exists(r)]
    assert missing == []
