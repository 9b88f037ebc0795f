"""How long each operation of a workload took on its last run: what its next run's waits start from.

A run records, per pending operation (its kind), the seconds from the operation's start to the
step that saw it done; when the run succeeds they move onto the workload's pointers (committed
with the run's end anyway, so no extra round trip), and every step of the next run reads them
with its run (`StepContext.pointers`). Scripts are left out: a Run Command takes as long as what
it finds to do (a Windows Update pass that installs a cumulative update, or one that finds
nothing), so last month's time says nothing about this month's. Sysprep's command is the
exception: it generalizes the same kind of image every run, so its time carries over.
"""

from __future__ import annotations

from datetime import datetime

from shared.domain.model import PendingOperation, Pointers, Run

SCRIPTS = ("script:", "managed:", "script-busy:", "managed-start:")
STEADY_SCRIPTS = ("managed:sysprep",)  # scripts whose work is the same every run


def measured(kind: str) -> bool:
    """Whether an operation's duration carries over from one run to the next (not a script's)."""
    return kind in STEADY_SCRIPTS or not kind.startswith(SCRIPTS)


def took(run: Run, now: datetime, after: PendingOperation | None) -> dict[str, float]:
    """The run's measured durations, with its pending operation's if the step saw it done now
    (the step moved on, or waits for an operation of another kind)."""
    pending = run.pending
    if pending is None or not measured(pending.kind) or (after is not None and after.kind == pending.kind):
        return run.took
    return {**run.took, pending.kind: (now - pending.started_at).total_seconds()}


def expected(pointers: Pointers, kind: str) -> float | None:
    """Seconds the operation of this kind took on the workload's last finished run (None: unknown)."""
    if not measured(kind):
        return None
    return pointers.took.get(kind)


def kept(pointers: Pointers, run: Run) -> Pointers:
    """The pointers with a succeeded run's measured durations (a failed run's may be cut short), how
    late its events came (the workload's next run and its promotions start from that lag), and the
    source OS disk its inventory saw decrypted (the next run on it leaves BitLocker alone)."""
    lag = run.event_lag if run.event_lag is not None else pointers.event_lag
    decrypted = run.source_decrypted or pointers.source_decrypted
    return pointers.evolve(took={**pointers.took, **run.took}, event_lag=lag, source_decrypted=decrypted)
