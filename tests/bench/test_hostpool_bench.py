"""The host pool rollout benchmark runs and meets the critical-path target."""

from __future__ import annotations

from benchmarks import rollout
from benchmarks.__main__ import RATIO_TARGET
from benchmarks.common import repo_catalog


def test_rollout_critical_path_ratio_meets_the_target() -> None:
    """A rollout without users ends within the critical-path target of its unavoidable Azure operations."""
    result = rollout.measure(repo_catalog(), hosts=4, batch=2)
    assert result["state"] == "succeeded"
    assert result["batches"] == 2
    assert 1.0 <= result["ratio"] <= RATIO_TARGET
    assert "| critical-path ratio |" in "\n".join(rollout.section(result))
