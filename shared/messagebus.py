"""The service layer's entry: a command in, its handler run with injected dependencies, messages out.

Shaped after cosmicpython's message bus: handlers are plain functions, dependencies are
injected once (bootstrap), and entry points (functions, CLI, local runtime) only decode input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from shared.domain.commands import (
    AnyCommand,
    Command,
    ContinueRollout,
    ContinueRun,
    ContinueVersion,
    Envelope,
    FailRun,
    HaltRollout,
    Promote,
    Prune,
    Reconcile,
    Rollback,
    StartBuild,
    StartRollout,
)
from shared.domain.errors import ConcurrencyConflict, InvalidInput
from shared.steps import promotion, reconcile, rollout, rollout_end, runs, versions
from shared.steps.deps import Deps

C = TypeVar("C", bound=Command)
Handler = Callable[[Any, Deps], list[Envelope]]

HANDLERS: dict[type[Command], Handler] = {
    StartBuild: runs.start_build,
    ContinueRun: runs.continue_run,
    Promote: promotion.promote,
    Rollback: promotion.rollback,
    ContinueVersion: versions.continue_version,
    Prune: versions.prune,
    FailRun: runs.fail_run,
    Reconcile: reconcile.reconcile,
    StartRollout: rollout.start_rollout,
    ContinueRollout: rollout.continue_rollout,
    HaltRollout: rollout_end.halt_rollout,
}
RACE_RETRIES = 4  # a handler that lost an ETag race re-reads and decides again, this many times
_COMMAND = TypeAdapter[AnyCommand](AnyCommand)


def decode(body: str | bytes) -> Command:
    """Parse a message body into a command; a clear InvalidInput (field and reason) otherwise."""
    try:
        command: Command = _COMMAND.validate_json(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()[:10]
        )
        raise InvalidInput(f"invalid message: {problems}") from None
    return command


class MessageBus:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def handle(self, command: Command) -> list[Envelope]:
        """Run the command's handler; one that lost a race (ConcurrencyConflict) re-reads and decides again.

        Handlers read before they act and their Azure calls are idempotent, so running one again
        is what a redelivery would do - without spending one of the message's deliveries.
        """
        handler = HANDLERS[type(command)]
        for _ in range(RACE_RETRIES):
            try:
                messages = handler(command, self.deps)
                break
            except ConcurrencyConflict:
                continue
        else:
            messages = handler(command, self.deps)
        if isinstance(command, ContinueVersion | Rollback):  # production may have moved: host pools follow
            messages += rollout.on_production_change(command, self.deps)
        return messages
