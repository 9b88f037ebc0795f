"""shared/steps/outcome.py: predicting a progressing operation's end, and starting an Azure operation once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.errors import AzureOperationError
from shared.steps.outcome import recheck_delay, refused, start_once, status_recheck

FLOOR, CEILING = timedelta(seconds=15), timedelta(minutes=30)


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("elapsed", "percent", "kwargs", "expected"),
    [
        (600, 0, {}, 15),  # no progress yet: the floor
        (0, 50, {}, 15),  # no time yet: the floor
        (0, 50, {"floor": s(1)}, 1),  # ... whatever the floor is
        (10, 1, {}, 490),  # 1 % is progress: the end could come when 2 % would (10 s x 98 / 2)
        (110, 10, {}, 890),  # narrowing: when 11 % would be reached (110 s x 89 / 11)
        (110, 10, {"ceiling": s(600)}, 600),  # ... within the ceiling
        (1980, 99, {}, 15),  # 99 %: the next percent is the end, at once: the floor
        (800, 80, {}, 206),  # the doubt (12.3 s) is within the floor: remaining 200 s + slack 2 + 4 s
        (3, 4, {}, 75.44),  # a doubt of exactly the floor (72 s - 57 s) is no reason to narrow
        (110, 10, {"narrow": False}, 1011.8),  # 990 s + 2 s + 2 % of 990 s
        (600, 60, {"narrow": False}, 410),  # 400 s + 2 s + 8 s
        (600, 10, {"narrow": False}, 1800),  # the ceiling
    ],
)
def test_recheck_delay_predicts_the_end_from_progress(
    elapsed: float, percent: float, kwargs: dict[str, object], expected: float
) -> None:
    """The next look lands just past the end predicted from progress, or where the next whole percent could end it."""
    options: dict[str, object] = {"floor": FLOOR, "ceiling": CEILING, **kwargs}
    assert recheck_delay(s(elapsed), percent, **options) == s(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("elapsed", "encrypted", "took", "expected"),
    [
        (600, 40, 0, 410),  # 60 % decrypted in 600 s: 400 s to go + 10 s slack, no narrowing look
        (600, 40, 40, 370),  # less the 40 s the last status script took to answer
        (600, 99, 40, 1760),  # at most 30 min, less the script's time
        (600, 0, 500, 15),  # decrypted: the floor
    ],
)
def test_status_recheck_sends_the_next_bitlocker_script_at_the_predicted_end(
    elapsed: float, encrypted: int, took: float, expected: float
) -> None:
    """BitLocker's next status script goes at the predicted end of decryption, less the script's own time."""
    assert status_recheck(s(elapsed), encrypted, s(took)) == s(expected)


@pytest.mark.parametrize(
    ("message", "is_refusal"),
    [
        ("Operation results in exceeding approved Total Regional Cores quota.", True),
        ("QUOTA exceeded", True),
        ("Another operation is in progress on the resource.", False),
    ],
)
def test_a_409_about_a_quota_is_a_refusal(message: str, is_refusal: bool) -> None:
    """A 409 naming a quota (in any case) says no; any other says 'busy with it'."""
    assert refused(AzureOperationError("create vm", "OperationNotAllowed", message, status=409)) is is_refusal


class Start:
    """A start call that records its arguments and raises the given error."""

    def __init__(self, error: AzureOperationError | None = None) -> None:
        self.error, self.calls = error, list[tuple[tuple[object, ...], dict[str, object]]]()

    def __call__(self, *args: object, **kwargs: object) -> None:
        self.calls.append((args, kwargs))
        if self.error is not None:
            raise self.error


def test_start_once_passes_the_arguments_on() -> None:
    """The operation is started with the positional and keyword arguments given."""
    start = Start()
    start_once(start, "vm-1", 2, size="D4")
    assert start.calls == [(("vm-1", 2), {"size": "D4"})]


BUSY = AzureOperationError("create vm", "Conflict", "operation in progress", status=409)
QUOTA = AzureOperationError("create vm", "OperationNotAllowed", "exceeding approved Cores quota", status=409)
OTHER = AzureOperationError("create vm", "InvalidParameter", "bad size", status=400)


@pytest.mark.parametrize(
    ("error", "exists", "raises"),
    [
        (BUSY, None, False),  # under way: go on
        (AzureOperationError("x", "OperationNotAllowed", "in progress", status=409), None, False),
        (BUSY, True, False),  # under way and the resource is there
        (BUSY, False, True),  # "busy" but nothing was made: Azure's error goes up
        (QUOTA, None, True),  # a refusal, not "already started"
        (OTHER, None, True),
        (OTHER, True, True),
    ],
)
def test_start_once_goes_on_only_when_the_operation_is_under_way(
    error: AzureOperationError, exists: bool | None, raises: bool
) -> None:
    """Only a 409 that is no refusal, for a resource that exists when asked, counts as already started."""
    check = None if exists is None else (lambda: exists)
    if raises:
        with pytest.raises(AzureOperationError) as raised:
            start_once(Start(error), exists=check)
        assert raised.value is error
    else:
        start_once(Start(error), exists=check)


@pytest.mark.parametrize(
    ("elapsed", "encrypted", "took", "floor", "expected"),
    [
        (600, 1, 0, 15, 15),  # 99 % decrypted: about 8 s to go, but never sooner than 15 s ...
        (600, 1, 0, 6, 600 / 99 * 1.02 + 2),  # ... unless its events come late (the 6 s floor): 6 s + slack
        (600, 0, 500, 6, 6),  # decrypted: that floor
    ],
)
def test_status_recheck_keeps_the_runs_floor(
    elapsed: float, encrypted: int, took: float, floor: float, expected: float
) -> None:
    """The next status script never goes sooner than the floor the run's waits use (waits.floor)."""
    assert status_recheck(s(elapsed), encrypted, s(took), s(floor)) == s(expected)
