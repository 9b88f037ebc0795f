"""Issue 13's scenarios, each with the tests that pin it and its `make reliability` class.

The operator-met faults listed under the issue's "Why" (and the time rule of "What to build") are
each a named test; this table is written into docs/reliability.md, and a unit test checks that every
test it names exists, so the mapping cannot silently go stale.
"""

from __future__ import annotations

from dataclasses import dataclass

SELF = "tests/e2e/test_self_healing.py"
RACES = "tests/e2e/test_self_healing_races.py"
TIME = "tests/unit/test_time_and_sweep_healing.py"


@dataclass(frozen=True)
class Scenario:
    fault: str  # as the issue tells it
    tests: tuple[str, ...]  # path::name
    fault_class: str  # the `make reliability` class, or "" when only a test covers it


SCENARIOS = (
    Scenario(
        "temp VM deleted by hand during deallocate or capture, or its temp disk deleted",
        (f"{SELF}::test_a_temp_resource_deleted_by_hand_fails_the_run_and_cleans_up",),
        "temp resource deleted by hand",
    ),
    Scenario(
        "Table Storage answering 503 to ten commits in a row (disk, bitlocker, sysprep)",
        (f"{SELF}::test_ten_failed_commits_in_a_row_dead_letter_the_step_and_the_run_fails_cleanly",),
        "Table Storage 503 x10",
    ),
    Scenario(
        "a malformed catalog file deployed",
        (
            "tests/e2e/test_catalog_isolation.py::test_a_bad_catalog_file_disables_only_its_workload",
            "tests/e2e/test_catalog_isolation.py::test_a_disabled_workload_is_reported_everywhere",
        ),
        "malformed catalog file deployed",
    ),
    Scenario(
        "two production approvals together, or an older version promoted after a newer one",
        (
            f"{RACES}::test_two_production_approvals_processed_together_leave_exactly_production_visible",
            f"{SELF}::test_reconcile_hides_a_newer_version_when_an_older_one_is_promoted_to_production",
            "tests/e2e/test_latest_per_region.py::"
            "test_a_non_production_version_visible_to_latest_in_one_region_only_is_excluded",
            "tests/e2e/test_latest_per_region.py::test_the_production_version_excluded_in_one_region_is_made_visible_there",
        ),
        "older version promoted after a newer one",
    ),
    Scenario(
        "after a rollback DR still serves the withdrawn version (GalleryImageNotFound)",
        (f"{SELF}::test_after_a_rollback_dr_serves_a_deployable_version",),
        "rollback while DR serves the withdrawn version",
    ),
    Scenario(
        "a gallery version deleted by hand: unnoticed, rollback to it and later prunes dead-letter",
        (
            f"{SELF}::test_a_version_deleted_by_hand_is_recorded_and_the_rollback_pointer_repaired",
            f"{SELF}::test_a_rollback_to_a_version_deleted_by_hand_is_refused_with_the_reason",
        ),
        "gallery version deleted by hand",
    ),
    Scenario(
        "a burst of refused approvals between the replicate step's read and its commit",
        (f"{SELF}::test_a_burst_of_refused_approvals_never_dead_letters_a_step",),
        "refused approvals racing a step",
    ),
    Scenario(
        "the sweeper on an instance 25 h ahead deleted the VM of a build in progress",
        (f"{TIME}::test_the_sweeper_keeps_a_running_builds_vm_whatever_its_expiry_tag_says",),
        "clock skew",
    ),
    Scenario(
        "the sweeper's pass after removing a VM meets NicInUse and skips the hour's prunes",
        (f"{TIME}::test_nic_in_use_never_costs_the_hours_prune_messages",),
        "",
    ),
    Scenario(
        "a version stamped 60 days ahead skipped the next patch rebuild",
        (
            f"{TIME}::test_a_version_stamped_60_days_ahead_does_not_skip_the_next_patch_rebuild",
            "tests/unit/test_schedule_sequence.py::"
            "test_two_skewed_schedulers_neither_double_start_nor_skip_a_patch_rebuild",
            "tests/unit/test_schedule_sequence.py::test_an_instance_behind_never_starts_an_older_window_again",
            "tests/e2e/test_schedule_hand_builds.py::test_a_hand_build_fills_its_window_for_a_scheduler_a_day_behind",
        ),
        "clock skew",
    ),
    Scenario(
        "a skewed instance fails a build (step, sysprep and BitLocker deadlines)",
        (
            f"{TIME}::test_one_skewed_check_does_not_time_a_step_out",
            f"{TIME}::test_the_watchdog_fails_only_a_run_whose_sequence_did_not_move",
            "tests/unit/test_step_deadlines.py::test_an_instance_25_hours_ahead_does_not_time_sysprep_out",
            "tests/unit/test_step_deadlines.py::test_an_instance_25_hours_ahead_does_not_time_bitlocker_out",
            "tests/unit/test_step_deadlines.py::test_a_hung_sysprep_fails_after_its_deadline_in_virtual_time",
        ),
        "",
    ),
    Scenario(
        "a ~100 KB approval body of emoji is never shown as rejected",
        ("tests/integration/test_storage_limits.py::test_a_160_kb_approval_of_emoji_is_kept_as_a_rejected_message",),
        "approval body over Table Storage's limits",
    ),
)


def scenario_lines() -> list[str]:
    """The markdown section of docs/reliability.md that maps each scenario to its tests and class."""
    lines = [
        "## Issue 13's scenarios and the tests that pin them",
        "",
        'Each fault an operator met (issue 13, "Why") is a named test; most are also a class above.',
        "",
        "| scenario | tests | class |",
        "|---|---|---|",
    ]
    for s in SCENARIOS:
        tests = "<br>".join(f"`{t}`" for t in s.tests)
        lines.append(f"| {s.fault} | {tests} | {s.fault_class or '-'} |")
    lines.append("")
    return lines
