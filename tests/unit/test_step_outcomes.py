"""Step helpers pinned by behaviour: re-check prediction, "already started" vs refused, script failures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.compute import ManagedScriptResult
from shared.domain.errors import AzureOperationError
from shared.steps.managed_script import command_name, failure
from shared.steps.outcome import PROGRESS_SLACK, recheck_delay, refused, start_once

FLOOR, CEILING = timedelta(seconds=30), timedelta(minutes=30)


def test_no_progress_yet_rechecks_at_the_floor() -> None:
    """Without progress (or elapsed time) nothing can be predicted: look again at the floor."""
    assert recheck_delay(timedelta(minutes=5), 0, FLOOR, CEILING) == FLOOR
    assert recheck_delay(timedelta(0), 50, FLOOR, CEILING) == FLOOR


def test_the_recheck_lands_just_after_the_predicted_end() -> None:
    """Half done after 10 minutes: 10 more, plus PROGRESS_SLACK and 2% slack for whole-percent progress."""
    assert (
        recheck_delay(timedelta(minutes=10), 50, FLOOR, CEILING) == timedelta(minutes=10, seconds=12) + PROGRESS_SLACK
    )


def test_the_recheck_stays_between_floor_and_ceiling() -> None:
    """Almost done rechecks at the floor; barely started is capped at the ceiling."""
    assert recheck_delay(timedelta(seconds=10), 99, FLOOR, CEILING) == FLOOR
    assert recheck_delay(timedelta(minutes=10), 1, FLOOR, CEILING) == CEILING


def test_a_quota_409_is_a_refusal_whatever_its_code() -> None:
    """A message mentioning a quota (any case) is a refusal; a plain conflict is not."""
    assert refused(AzureOperationError("create VM", "OperationNotAllowed", "exceeding approved Cores QUOTA", 409))
    assert not refused(AzureOperationError("create VM", "Conflict", "operation in progress", 409))


class Starter:
    def __init__(self, error: AzureOperationError | None) -> None:
        self.error = error
        self.calls: list[tuple[object, ...]] = []

    def __call__(self, *args: object, **kwargs: object) -> None:
        self.calls.append((*args, *kwargs.items()))
        if self.error is not None:
            raise self.error


def test_start_once_passes_its_arguments_and_returns_on_success() -> None:
    """The operation is called once with the given arguments."""
    start = Starter(None)
    start_once(start, "vm-1", size="D4")
    assert start.calls == [("vm-1", ("size", "D4"))]


@pytest.mark.parametrize("code", ["Conflict", "OperationNotAllowed"])
def test_a_busy_409_counts_as_already_started(code: str) -> None:
    """A redelivered start that Azure answers "busy with it" goes on, unless the resource is missing."""
    start_once(Starter(AzureOperationError("create VM", code, "another operation is in progress", 409)))
    start_once(
        Starter(AzureOperationError("create VM", code, "in progress", 409)),
        exists=lambda: True,
    )
    with pytest.raises(AzureOperationError):
        start_once(Starter(AzureOperationError("create VM", code, "in progress", 409)), exists=lambda: False)


def test_other_errors_and_refusals_go_up() -> None:
    """Any other code, or a quota refusal under a 409 code, fails the step."""
    with pytest.raises(AzureOperationError, match="BadRequest"):
        start_once(Starter(AzureOperationError("create VM", "BadRequest", "no", 400)))
    with pytest.raises(AzureOperationError, match="quota"):
        start_once(Starter(AzureOperationError("create VM", "OperationNotAllowed", "cores quota exceeded", 409)))


def test_command_names_are_per_purpose_and_azure_safe() -> None:
    """Anything outside letters, digits and '-' becomes '-', cut at 80 characters."""
    assert command_name("customize:m365 apps") == "avd-customize-m365-apps"
    assert len(command_name("x" * 100)) == 80


def result(state: str, exit_code: int | None, stderr: str = "", message: str = "") -> ManagedScriptResult:
    return ManagedScriptResult(state=state, exit_code=exit_code, stdout="", stderr=stderr, message=message)


def test_a_script_failure_says_how_it_ended_and_quotes_its_error_tail() -> None:
    """Timed out, canceled or the exit code, then the last 1200 characters of stderr (or the message)."""
    assert failure("m365-apps", "vm1", result("Failed", 2, "  boom\n")) == "m365-apps exited with code 2 on vm1: boom"
    assert failure("x", "vm1", result("TimedOut", None, message="took too long")) == "x timed out on vm1: took too long"
    assert failure("x", "vm1", result("Canceled", None)) == "x was canceled on vm1: no error output"
    long = failure("x", "vm1", result("Failed", 1, "a" * 100 + "b" * 1200))
    assert long == "x exited with code 1 on vm1: " + "b" * 1200
