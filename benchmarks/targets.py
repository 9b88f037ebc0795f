"""The benchmark targets (issue 16) and verdicts computed from a run's figures, never written by hand."""

from __future__ import annotations

import textwrap

# key in docs/benchmarks.json -> (comparison, target); "packer_chain_s" as a target names another key.
TARGETS: dict[str, tuple[str, float | str]] = {
    "ratio_eg_worst": ("<=", 1.03),
    "ratio_no_eg_worst": ("<=", 1.08),
    "patch_build_s": ("<", "packer_chain_s"),
    "arm_requests_first": ("<=", 60),
    "table_trips_all": ("<=", 2.5),
    "first_invocation_import_ratio": ("<=", 3),
    "sweep_arm_reads_5000": ("<=", 10),
}

JSON_KEYS = (
    "ratio_eg_worst",
    "ratio_eg_median",
    "ratio_no_eg_worst",
    "patch_build_s",
    "packer_chain_s",
    "prepare_run_s",
    "arm_requests_first",
    "arm_requests_patch",
    "table_trips_all",
    "table_trips_committing",
    "first_invocation_import_ratio",
    "sweep_arm_reads_5000",
    "concurrent_200_cpu_s_per_lifecycle",
)


def number(value: float) -> str:
    """Short, stable text for a figure: integers as such, else 3 significant decimals."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"


def target_of(key: str, figures: dict[str, float]) -> float:
    target = TARGETS[key][1]
    return figures[target] if isinstance(target, str) else float(target)


def met(key: str, figures: dict[str, float]) -> bool:
    comparison, _ = TARGETS[key]
    value, target = figures[key], target_of(key, figures)
    return value < target if comparison == "<" else value <= target


def verdict(key: str, figures: dict[str, float]) -> str:
    """'met (1.01 <= 1.03)' or '**missed**: 1.63, target <= 1.03' - from the figures of this run."""
    comparison, raw = TARGETS[key]
    target = target_of(key, figures)
    named = f"{raw} = {number(target)}" if isinstance(raw, str) else number(target)
    value = number(figures[key])
    if met(key, figures):
        return f"met ({value} {comparison} {named})"
    return f"**missed**: measured {value}, target {comparison} {named}"


def para(text: str) -> list[str]:
    """A paragraph wrapped to 80 columns, then a blank line."""
    return [*textwrap.wrap(text, 80, break_on_hyphens=False), ""]
