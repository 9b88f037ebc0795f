"""How long each operation of a workload took on its last run: what its next run's waits start from.

A run records, per pending operation (its kind), the seconds from the operation's start to the
step that saw it done; when the run succeeds they move onto the workload's pointers (committed
with the run's end anyway, so no extra round trip), and every step of the next run reads them
with its run (`StepContext.pointers`). Windows Update passes and BitLocker scripts are left out:
they take as long as what they find to do (a pass that installs a cumulative update, or one that
finds nothing; a volume already decrypted or not), so last month's time says nothing about this
month's. Scripts that do the same work every run carry over: sysprep's command, the
inventories, and the workload's own customizations (the same installers each run; their
commands are named "c<index>-p<pass>", Windows Update's "wu<index>-p<pass>").
"""

from __future__ import annotations

import re
from datetime import datetime

from shared.domain.model import PendingOperation, Pointers, Run

SCRIPTS = ("script:", "managed:", "script-busy:", "managed-start:")
STEADY_SCRIPTS = ("managed:sysprep", "managed:inventory", "managed:clone-inventory")  # same work every run
CUSTOMIZATION = re.compile(r"^managed:c\d+-p\d+$")  # a customization's command (not Windows Update's)


def measured(kind: str) -> bool:
    """Whether an operation's duration carries over from one run to the next (not a varying script's)."""
    return kind in STEADY_SCRIPTS or bool(CUSTOMIZATION.match(kind)) or not kind.startswith(SCRIPTS)


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
