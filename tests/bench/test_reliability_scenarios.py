"""The scenario table in docs/reliability.md names tests and classes that exist."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.reliability_healing import healing_classes
from benchmarks.reliability_scenarios import SCENARIOS, scenario_lines

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_the_scenario_table_names_exists() -> None:
    """Each path::name in the table is a test function defined in that file."""
    missing = []
    for scenario in SCENARIOS:
        assert scenario.tests, scenario.fault
        for ref in scenario.tests:
            path, name = ref.split("::")
            text = (ROOT / path).read_text(encoding="utf-8")
            if not re.search(rf"^def {re.escape(name)}\(", text, re.MULTILINE):
                missing.append(ref)
    assert missing == []


def test_every_class_the_scenario_table_names_is_run_by_make_reliability() -> None:
    """A class named in the table is one of the self-healing classes (the source names them)."""
    source = (ROOT / "benchmarks" / "reliability_healing.py").read_text(encoding="utf-8")
    for scenario in SCENARIOS:
        if scenario.fault_class:
            assert f'"{scenario.fault_class}"' in source, scenario.fault_class
    assert callable(healing_classes)


def test_the_scenario_table_has_a_row_per_scenario() -> None:
    """The markdown section lists every scenario once, with its tests."""
    rows = [line for line in scenario_lines() if line.startswith("| ") and "`tests/" in line]
    assert len(rows) == len(SCENARIOS)
