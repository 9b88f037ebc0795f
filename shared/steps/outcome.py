"""What a step decided: advance, wait (re-check later), finish or fail, and what to record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shared.domain.commands import Envelope
from shared.domain.errors import AzureOperationError
from shared.domain.model import ImageVersion, PendingOperation, Pointers
from shared.domain.records import AuditEntry
from shared.steps import waits


@dataclass
class Outcome:
    next_step: str | None = None  # advance to this step now
    wait: timedelta | None = None  # re-check this step after this long (an event may come first)
    pending: PendingOperation | None = None
    finish: bool = False
    fail: str | None = None
    run_updates: dict[str, Any] = field(default_factory=dict)
    version: ImageVersion | None = None  # the changed version to commit with the run
    pointers: Pointers | None = None  # changed pointers to commit with the run
    audit: list[AuditEntry] = field(default_factory=list)
    then: list[Envelope] = field(default_factory=list)  # further messages after the commit


def recheck_delay(
    elapsed: timedelta, progress_percent: float, floor: timedelta, ceiling: timedelta, *, narrow: bool = True
) -> timedelta:
    """Predict when a progressing operation ends from how far it got, so re-checks land just after.

    Keeps the critical path close to the operation's own duration without polling often.
    """
    if progress_percent <= 0 or elapsed <= timedelta(0):
        return floor
    remaining = elapsed * (100 - progress_percent) / progress_percent
    # A whole percent read early says little: the end could be as soon as the next percent allows.
    # While that doubt is wider than the floor, look then (the next reading narrows it).
    soonest = elapsed * (99 - progress_percent) / (progress_percent + 1)
    if narrow and remaining - soonest > floor:
        return max(floor, min(ceiling, soonest))
    slack = PROGRESS_SLACK + remaining * 0.02  # progress is reported in whole percents
    return max(floor, min(ceiling, remaining + slack))


# Past the predicted end: a whole percent that Azure rounds down already over-states what remains,
# so the look needs only a moment more (every second of it lies on the critical path; a look that
# still comes early costs one read and a re-check at the floor).
PROGRESS_SLACK = timedelta(seconds=2)


def status_recheck(
    elapsed: timedelta, encrypted_percent: int, script_took: timedelta, floor: timedelta = waits.SHORTEST
) -> timedelta:
    """When to send the next BitLocker status script: at the decryption's end predicted from its
    progress, less the time the last status script took to answer (Azure's figure, not a typical one).
    `floor`: the run's shortest gap between looks (finer while its events come late, waits.floor)."""
    # Each reading is a Run Command (a write and a read, ~40 s): no narrowing looks, the slack instead.
    until_done = recheck_delay(elapsed, float(100 - encrypted_percent), floor, DECRYPT_CEILING, narrow=False)
    return max(until_done - script_took, floor)


DECRYPT_CEILING = timedelta(minutes=30)  # decryption progress is read at least this often

ALREADY_STARTED = frozenset({"Conflict", "OperationNotAllowed"})
# Azure answers refusals with the same codes: a quota (409 OperationNotAllowed, "... exceeding approved
# ... Cores quota ...") is never "already started", whatever else the 409 could mean.
REFUSAL_WORDS = ("quota",)


def refused(error: AzureOperationError) -> bool:
    """A 409 that says no (a quota), as opposed to one that says "busy with it"."""
    message = error.azure_message.lower()
    return any(word in message for word in REFUSAL_WORDS)


def start_once(
    start: Callable[..., object], *args: object, exists: Callable[[], bool] | None = None, **kwargs: object
) -> None:
    """Start an Azure operation; a redelivery after a crash finds it under way (409) and goes on.

    A 409 counts as "under way" only if it is not a refusal and, when `exists` is given, the
    resource it would have made exists; otherwise Azure's error goes up and fails the run,
    whose cleanup removes what was made before it.
    """
    try:
        start(*args, **kwargs)
    except AzureOperationError as error:
        if error.code not in ALREADY_STARTED or refused(error):
            raise
        if exists is not None and not exists():
            raise
