"""The run's bookkeeping between deliveries: step deadlines (deadlines.py), measured durations (history.py),
and what the injected dependencies answer (deps.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import shared
from shared.domain.approvals import TokenRefused
from shared.domain.catalog import Catalog, DisabledWorkload, load_catalog
from shared.domain.errors import RequestRefused
from shared.domain.model import BuildReason, PendingOperation, Pointers, Run
from shared.steps import deadlines, history
from tests.unit.fakes import ISSUER, make_deps

# The catalog beside the `shared` package: found the same way in mutmut's copy of the tree.
CATALOG = load_catalog(Path(shared.__file__).resolve().parents[1] / "catalog")
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def run(**changes: object) -> Run:
    base = Run(workload="office", run_id="run-1", reason=BuildReason.PATCH, requested_by="a@b.c", started_at=T0)
    return base.evolve(**changes)


# deadlines --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "now", "expected"),
    [
        (run(), T0 + s(500), 500),  # an old record: since the run started
        (run(step_started_at=T0 + s(200)), T0 + s(500), 300),  # ... or since its step started
        (run(step_started_at=T0 + s(200)), T0 + s(100), 0),  # a clock behind counts nothing
        (run(step_progress=100, step_seen=T0, step_wait=120), T0 + s(60), 160),  # counted + since last seen
        (run(step_progress=100, step_seen=T0, step_wait=120), T0 + s(1000), 430),  # at most wait + 3.5 min
        (run(step_progress=100, step_seen=T0, step_wait=0), T0 + s(1000), 310),  # a delivery's handling time
        (run(step_progress=100, step_seen=T0, step_wait=120), T0 - s(50), 100),  # behind: nothing added
    ],
)
def test_a_steps_progress_is_counted_on_its_record(record: Run, now: datetime, expected: float) -> None:
    """A step's age adds, per delivery, at most the wait asked plus 3.5 min, and never less than nothing."""
    assert deadlines.progress(record, now) == s(expected)


@pytest.mark.parametrize(("limit", "overdue"), [(159, True), (160, False), (161, False)])
def test_a_step_is_overdue_only_past_its_limit(limit: float, overdue: bool) -> None:
    """A step exactly at its limit is not yet overdue."""
    record = run(step_progress=100, step_seen=T0, step_wait=120)
    assert deadlines.overdue(record, T0 + s(60), s(limit)) is overdue


def test_a_waiting_delivery_records_the_count_when_and_the_wait() -> None:
    """After a re-check is asked, the record keeps the step's count so far, now, and the wait asked."""
    record = run(step_progress=100, step_seen=T0, step_wait=120)
    assert deadlines.waiting(record, T0 + s(60), s(90)) == {
        "step_progress": 160.0,
        "step_seen": T0 + s(60),
        "step_wait": 90.0,
    }


def test_a_started_step_counts_from_nothing() -> None:
    """A new step starts at zero, seen now, with no wait asked."""
    assert deadlines.started(T0) == {"step_progress": 0.0, "step_seen": T0, "step_wait": 0.0}


# history ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "measured"),
    [
        ("vm-create", True),
        ("sysprep", True),
        ("script:inventory", False),
        ("managed:windows-update", False),
        ("managed:sysprep", True),  # the one steady script: it generalizes the same kind of image every run
        ("script-busy:inventory", False),
        ("managed-start:windows-update", False),
    ],
)
def test_scripts_are_never_measured(kind: str, measured: bool) -> None:
    """Run Commands take as long as what they find to do: their durations never carry over, but sysprep's."""
    assert history.measured(kind) is measured


def pending(kind: str) -> PendingOperation:
    return PendingOperation(kind=kind, started_at=T0)


@pytest.mark.parametrize(
    ("current", "after", "took"),
    [
        (None, None, {"snapshot": 30.0}),  # nothing pending: as recorded
        (pending("vm-create"), None, {"snapshot": 30.0, "vm-create": 90.0}),  # seen done now
        (pending("vm-create"), pending("disk"), {"snapshot": 30.0, "vm-create": 90.0}),  # done, next one waits
        (pending("vm-create"), pending("vm-create"), {"snapshot": 30.0}),  # still waiting for it
        (pending("script:inventory"), None, {"snapshot": 30.0}),  # a script: left out
    ],
)
def test_a_run_records_the_duration_of_an_operation_seen_done(
    current: PendingOperation | None, after: PendingOperation | None, took: dict[str, float]
) -> None:
    """A pending operation's seconds are recorded when the step moves past it, never a script's."""
    record = run(pending=current, took={"snapshot": 30.0})
    assert history.took(record, T0 + s(90), after) == took


def test_expected_reads_the_workloads_last_duration_of_a_kind() -> None:
    """The workload's last duration of a measured kind; None for an unknown kind or a script."""
    pointers = Pointers(workload="office", took={"vm-create": 90.0, "script:inventory": 40.0})
    assert history.expected(pointers, "vm-create") == 90.0
    assert history.expected(pointers, "disk") is None
    assert history.expected(pointers, "script:inventory") is None


@pytest.mark.parametrize(("run_lag", "kept_lag"), [(4.0, 4.0), (None, 9.0)])
def test_a_finished_run_leaves_its_durations_and_event_lag(run_lag: float | None, kept_lag: float) -> None:
    """The run's durations replace the same kinds and keep the others; its event lag, if measured, replaces the old."""
    pointers = Pointers(workload="office", took={"vm-create": 90.0, "disk": 20.0}, event_lag=9.0)
    kept = history.kept(pointers, run(took={"vm-create": 70.0, "sysprep": 300.0}, event_lag=run_lag))
    assert kept.took == {"vm-create": 70.0, "disk": 20.0, "sysprep": 300.0}
    assert kept.event_lag == kept_lag


# deps -------------------------------------------------------------------------------------------


def test_verify_asks_the_configured_verifier_for_the_action_named() -> None:
    """A token is verified by the injected verifier (the local issuer's real keys), which names the action on refusal."""
    deps = make_deps(CATALOG)
    assert deps.verify(ISSUER.token_for("data-lead@contoso.com"), "approver_token").display == "data-lead@contoso.com"
    with pytest.raises(TokenRefused, match=r"^approve office 1\.0\.0: not a signed JWT"):
        deps.verify("not-a-token", "approve office 1.0.0")


def test_verify_without_a_verifier_says_how_to_configure_approvals() -> None:
    """Approvals not configured: refused with the settings to set and where the docs say how."""
    deps = make_deps(CATALOG)
    deps.verifier = None
    with pytest.raises(TokenRefused) as refused:
        deps.verify("tok", "approve")
    assert str(refused.value) == (
        "approvals are not configured: set AVD_ENTRA_TENANT_ID and AVD_APPROVALS_CLIENT_ID "
        "(docs/deploy.md, 'Approvals: the app registration')"
    )


BROKEN = DisabledWorkload(name="broken", file="broken.toml", issues=("os: missing",))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("broken", "workload 'broken' is disabled: broken.toml is invalid (os: missing)"),
        ("nope", "unknown workload 'nope': it is not in the catalog"),
    ],
)
def test_a_workload_not_in_the_catalog_is_refused_with_why(name: str, message: str) -> None:
    """A disabled workload is refused with its file's problems; an unknown one as not in the catalog."""
    deps = make_deps(Catalog(workloads=CATALOG.workloads, disabled=(BROKEN,)))
    assert deps.workload("office").name == "office"
    with pytest.raises(RequestRefused) as refused:
        deps.workload(name)
    assert str(refused.value) == message
