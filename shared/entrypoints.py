"""What every trigger does once it has decoded its input, the same in Azure Functions and locally.

Invalid or refused messages are kept with their reason (RecordStore.reject) and not retried:
they can never succeed as sent. Anything else (a conflict, Azure being down) propagates so the
host retries and, past the max delivery count, dead-letters the message.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared.adapters.messaging import Bus
from shared.domain import retention
from shared.domain.approvals import ApprovalRequest, NothingToDo, redact
from shared.domain.catalog import Workload
from shared.domain.commands import (
    ContinueRollout,
    ContinueRun,
    ContinueVersion,
    Envelope,
    Prune,
    Reconcile,
    Rollback,
    StartBuild,
    StartRollout,
)
from shared.domain.errors import AzureOperationError, InvalidInput, RequestRefused, TransitionRefused
from shared.domain.model import RejectedMessage
from shared.messagebus import MessageBus, decode
from shared.steps.dead_letters import abandon_operation, dead_lettered
from shared.steps.deps import Deps
from shared.steps.event_sight import ignored_at_sight
from shared.steps.events import route_event
from shared.steps.prepare import due_prepares
from shared.steps.promotion import decide_promotion, decide_rollback, progress_note
from shared.steps.reconcile_slice import backstop_slice
from shared.steps.rollout_end import dead_lettered_rollout, rollout_watchdog
from shared.steps.runs import watchdog
from shared.steps.schedule import due_builds
from shared.steps.sweep import sweep

log = logging.getLogger("avdimage")
APPROVAL_SUBJECT = "approval"


@dataclass
class Handled:
    sent: list[Envelope] = field(default_factory=list)
    rejected: str = ""  # the reason, when the message was refused
    note: str = ""
    queued: bool = False  # handed to the approvals queue; the approvals function applies it
    nothing_to_do: bool = False  # the request asked for what is already true; nothing changed


class Entrypoints:
    def __init__(self, deps: Deps | Callable[[], Deps], bus: Bus, approvals: Bus | None = None) -> None:
        self._wiring = deps  # or a factory: the clients are built (and imported) on first use
        self.bus = bus
        self.approvals = approvals  # set in Azure: operators' approvals go through the queue
        # Signs the operator in for `avdimage promote/rollback`: azure-identity in Azure, the local
        # issuer on local stand-ins. Takes the local "--as" person (refused in Azure).
        self.sign_in: Callable[[str | None], str] | None = None

    @functools.cached_property
    def deps(self) -> Deps:
        return self._wiring if isinstance(self._wiring, Deps) else self._wiring()

    @functools.cached_property
    def service(self) -> MessageBus:
        return MessageBus(self.deps)

    def submit_approval(self, message_id: str, body: str) -> Handled:
        """An operator's approval (the CLI). In Azure it is checked read-only here and then queued,
        so operators need no rights on the gallery; locally it is decided at once."""
        if self.approvals is None:
            return self.approval(message_id, body)
        try:
            request = ApprovalRequest.model_validate_json(body)
            precheck(request, self.deps)
        except ValidationError as error:
            return Handled(rejected=f"invalid approval: {error.errors()[0]['msg']}")
        except NothingToDo as done:
            return Handled(note=str(done), nothing_to_do=True)
        except (InvalidInput, RequestRefused, TransitionRefused) as refusal:
            return Handled(rejected=str(refusal))
        self.approvals.send(
            [Envelope(message_id=message_id, session_id=request.workload, subject=APPROVAL_SUBJECT, body=body)]
        )
        return Handled(note=f"{request.action} {request.workload} {request.version or ''}".strip(), queued=True)

    def step_message(self, message_id: str, body: str | bytes, subject: str = "") -> Handled:
        """The step queue: one command per message, chained by the messages it sends."""
        try:
            sent = self.service.handle(decode(body))
        except NothingToDo as done:
            return Handled(note=str(done), nothing_to_do=True)
        except (InvalidInput, RequestRefused) as refusal:
            return self._reject("image-steps", message_id, subject, body, str(refusal))
        self.bus.send(sent)
        return Handled(sent=sent)

    def approval(self, message_id: str, body: str | bytes) -> Handled:
        """The approvals queue: the documented contract, turned into a promotion or a rollback."""
        try:
            request = ApprovalRequest.model_validate_json(body)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(message)'}: {e['msg'].removeprefix('Value error, ')}"
                for e in error.errors()[:10]
            )
            return self._reject("image-approvals", message_id, APPROVAL_SUBJECT, body, f"invalid approval: {problems}")
        command = request.to_command()
        try:
            sent = self.service.handle(command)
        except NothingToDo as done:
            return Handled(note=str(done), nothing_to_do=True)
        except (InvalidInput, RequestRefused) as refusal:
            return self._reject("image-approvals", message_id, APPROVAL_SUBJECT, body, str(refusal))
        except AzureOperationError as error:
            if error.status != 404:
                raise
            # A version the request names was deleted outside the product: no retry can help. Keep the
            # request with the reason, and let reconcile record the deletion and repair the pointers.
            self.bus.send([Envelope.wrap(Reconcile(workload=request.workload, requested_at=self.deps.clock.now()))])
            reason = f"{error} (deleted outside the product; reconcile will record it)"
            return self._reject("image-approvals", message_id, APPROVAL_SUBJECT, body, reason)
        self.bus.send(sent)
        return Handled(sent=sent, note=progress_note(command, self.deps))

    def arm_event(self, event: Mapping[str, Any]) -> Handled:
        """Event Grid: continue whatever waits on the resource; ignore what is not ours."""
        if why := ignored_at_sight(event):  # decided from the event alone: no client is built
            return Handled(note=why)
        try:
            sent, why = route_event(event, self.deps)
        except InvalidInput as error:
            body = json.dumps(event, default=str)[:30_000] if isinstance(event, Mapping) else repr(event)
            return self._reject(
                "event-grid", str(event.get("id", "")) if isinstance(event, Mapping) else "", "", body, str(error)
            )
        self.bus.send(sent)
        return Handled(sent=sent, note=why)

    def scheduled_rebuilds(self) -> Handled:
        now = self.deps.clock.now()
        builds = due_builds(self.deps, now)
        # The month's updates on the source VMs (no image), for workloads without a rebuild this tick.
        builds += due_prepares(self.deps, now, busy={b.workload for b in builds})
        sent = [Envelope.wrap(b) for b in builds]
        self.bus.send(sent)
        return Handled(sent=sent, note=", ".join(f"{b.workload}:{b.run_id}" for b in builds) or "nothing due")

    def retention_and_sweep(self) -> Handled:
        """Per workload, as messages that serialize with its steps: retention; a reconcile pass
        for this sweep's slice of workloads (shared.steps.reconcile_slice); then the watchdog's
        checks of runs without progress, and the sweeper.

        The messages go first: a sweeper that meets an Azure error must not cost that hour's pruning.
        """
        now = self.deps.clock.now()
        inventory = self._compute_inventory()
        sent = [
            Envelope.wrap(Prune(workload=w.name, requested_at=now, in_use=self._share(inventory, w)))
            for w in self.deps.catalog.workloads
        ]
        # A rotating slice, not every workload: reads per sweep do not grow with the estate.
        names = backstop_slice(self.deps.catalog.names, now, self.deps.settings.reconcile_per_sweep)
        sent += [Envelope.wrap(Reconcile(workload=name, requested_at=now)) for name in names]
        sent += watchdog(self.deps, now)
        sent += rollout_watchdog(self.deps, now)
        self.bus.send(sent)
        removed = sweep(self.deps, now)
        return Handled(sent=sent, note="; ".join(removed) or "no abandoned temp resources")

    def dead_letter(self, message_id: str, body: str | bytes, reason: str, description: str) -> Handled:
        """The step queue's dead-letter subqueue: a step that can never run ends its run with the reason.

        A dead-lettered run step fails its run (and starts its cleanup); a version operation fails that
        operation's version; a host pool rollout step halts its rollout (the pool keeps serving); anything
        else is kept as a rejected message, so nothing ends without a trace.
        """
        why = f"{reason}: {description}".strip(": ") or "dead-lettered"
        try:
            command = decode(body)
        except InvalidInput as error:
            return self._reject("image-steps/$DeadLetterQueue", message_id, "", body, f"{why}; {error}")
        if isinstance(command, ContinueRun | StartBuild):
            sent = dead_lettered(command, why, self.deps)
        elif isinstance(command, ContinueVersion):
            sent = abandon_operation(command, why, self.deps)
        elif isinstance(command, ContinueRollout | StartRollout) and self.deps.rollouts is not None:
            ended = dead_lettered_rollout(command, why, self.deps)
            if ended is None:  # a start that never opened a rollout: keep it, with the reason
                return self._reject("image-steps/$DeadLetterQueue", message_id, "", body, f"dead-lettered: {why}")
            sent = ended
        else:
            return self._reject("image-steps/$DeadLetterQueue", message_id, "", body, f"dead-lettered: {why}")
        self.bus.send(sent)
        return Handled(sent=sent, note=f"dead letter {message_id[:200]}: {why}")

    def _compute_inventory(self) -> dict[str, int] | None:
        """One subscription-wide VM and scale set listing per sweep, shared by every workload's
        retention (two ARM reads per sweep, not per workload). None: each prune lists itself."""
        try:
            return self.deps.compute.images_in_use()
        except AzureOperationError as error:
            log.warning("compute inventory failed (%s); each retention check lists on its own", error)
            return None

    def _share(self, inventory: dict[str, int] | None, workload: Workload) -> dict[str, int] | None:
        if inventory is None:
            return None
        gallery = workload.gallery
        path = f"{gallery.name}/images/{gallery.definition}"
        return retention.in_use_of(inventory, self.deps.compute.id_of("Microsoft.Compute/galleries", path))

    def _reject(self, source: str, message_id: str, subject: str, body: str | bytes, reason: str) -> Handled:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
        text = redact(text)  # a refused message is kept, never with a usable bearer token in it
        self.deps.records.reject(
            RejectedMessage(
                source=source,
                message_id=message_id[:200],
                subject=subject[:100],
                body=text,
                reason=reason,
                at=self.deps.clock.now(),
            )
        )
        log.warning("rejected %s message %s: %s", source, message_id[:200], reason)
        return Handled(rejected=reason)


def precheck(request: ApprovalRequest, deps: Deps) -> None:
    """Would this approval be accepted now? Reads only; raises the refusal the handler would give."""
    command = request.to_command()
    if isinstance(command, Rollback):
        decide_rollback(command, deps)
    else:
        decide_promotion(command, deps)
