"""Wire the real service layer to the simulator, a record store and the in-process bus.

Timers, Service Bus deliveries and Event Grid events all happen on the simulator's virtual
clock, so a whole lifecycle (hours of Azure time) runs in seconds with the same handlers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as compute_models

from localrun.issuer import LocalIssuer
from localrun.timers import Schedule, Timer
from shared.adapters.azure_compute import AzureCompute
from shared.adapters.entity_store import EntityStore
from shared.adapters.hostpools_azure import AzureHostPools
from shared.adapters.hostpools_records import EntityRolloutRecords
from shared.adapters.local_bus import LocalBus
from shared.adapters.memory_records import MemoryRecordStore
from shared.adapters.messaging import DeadLetter, DeadLetteredMessage
from shared.config import Settings
from shared.domain.approvals import approval_message_id
from shared.domain.catalog import Catalog
from shared.domain.catalog_isolation import load_catalog_isolated
from shared.domain.commands import Command, Envelope
from shared.domain.errors import RequestRefused
from shared.domain.records import RecordStore
from shared.entrypoints import APPROVAL_SUBJECT, Entrypoints
from shared.steps.deps import Deps
from simulator import Simulator, client_kwargs

log = logging.getLogger("localrun")
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
REJECTED = "Rejected"  # dead-letter reason of a refused message (already kept with its reason)


@dataclass
class Trace:
    """What happened, for tests and the demo's progress output."""

    deliveries: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    sweeps: list[str] = field(default_factory=list)  # what each sweeper run removed (or that it found nothing)


class LocalRuntime:
    def __init__(
        self,
        catalog: Catalog | Path,
        *,
        records: RecordStore | None = None,
        settings: Settings | None = None,
        simulator: Simulator | None = None,
        start: datetime = START,
        event_grid: bool = True,
        on_delivery: Callable[[Envelope], None] | None = None,
        deliver_twice: bool = False,
    ) -> None:
        self.settings = settings or Settings()
        # Nothing in the product waits on an operation, so polling never needs to move the clock.
        self.sim = simulator or Simulator(
            subscription_id=self.settings.subscription_id, start=start, auto_advance_on_poll=False
        )
        deployed = self.settings.deployed_gallery
        self.catalog = load_catalog_isolated(catalog, deployed) if isinstance(catalog, Path) else catalog
        kwargs = client_kwargs(self.sim)
        self.compute = AzureCompute(self.settings.subscription_id, self.settings.image_resource_group, lambda: kwargs)
        self.records: RecordStore = records or MemoryRecordStore()
        # Entra ID's stand-in: real RSA signatures, checked by the production verifier.
        self.issuer = LocalIssuer(self.sim.clock)
        self.deps = Deps(
            records=self.records,
            compute=self.compute,
            catalog=self.catalog,
            clock=self.sim.clock,
            settings=self.settings,
            hostpools=AzureHostPools(lambda: kwargs),
            rollouts=EntityRolloutRecords(self.records) if isinstance(self.records, EntityStore) else None,
            verifier=self.issuer.verifier(),
        )
        self.bus = LocalBus(self.sim.clock, self._deliver, on_dead_letter=self._dead_letter)
        self.entrypoints = Entrypoints(self.deps, self.bus)
        self.entrypoints.sign_in = self._sign_in
        self.trace = Trace()
        self.timers: list[Timer] = []
        self._on_delivery = on_delivery
        self._deliver_twice = deliver_twice  # at-least-once delivery at its worst: every message twice
        self._provision_galleries(kwargs)
        if event_grid:
            self.sim.events.subscribe(self._on_events)

    def _provision_galleries(self, kwargs: dict[str, Any]) -> None:
        """What `azd up` creates in Azure (infra/): the galleries the catalog names."""
        client = ComputeManagementClient(**kwargs)
        seen: set[tuple[str, str]] = set()
        for workload in self.catalog.workloads:
            key = (workload.gallery.resource_group, workload.gallery.name)
            if key in seen:
                continue
            seen.add(key)
            body = compute_models.Gallery({"location": workload.location, "properties": {"description": "AVD images"}})
            client.galleries.begin_create_or_update(key[0], key[1], body).result()
        self.sim.request_log.clear()  # the app's own requests start here

    def submit(self, *commands: Command) -> None:
        self.bus.send(Envelope.wrap(c) for c in commands)

    def run(self, until: datetime | None = None) -> None:
        """Deliver messages and advance virtual time until nothing is left to do (or `until`)."""
        self.bus.run(self.sim.clock.advance_to, other_due=self.sim.clock.next_due, until=until)

    def start_timers(self, rebuild: str = "0 0 6 * * *", sweep: str = "0 30 * * * *") -> None:
        """The two timer functions on their NCRONTAB schedules (as in AVD_REBUILD/SWEEP_SCHEDULE)."""
        now = self.sim.clock.now()
        for name, expression, fire in (
            ("rebuild_scheduler", rebuild, self.tick_scheduler),
            ("retention_sweep", sweep, self.tick_retention),
        ):
            schedule = Schedule.parse(expression)
            self.timers.append(Timer(name, schedule, fire, schedule.next_after(now)))

    def run_until(self, until: datetime) -> None:
        """Run with the timers firing on the virtual clock, up to `until`."""
        while True:
            due = min((t.next_at for t in self.timers), default=None)
            if due is None or due > until:
                self.run(until=until)
                if self.sim.clock.now() < until:
                    self.sim.clock.advance_to(until)
                self.run(until=until)
                return
            self.run(until=due)
            if self.sim.clock.now() < due:
                self.sim.clock.advance_to(due)
            now = self.sim.clock.now()
            for timer in self.timers:
                if timer.next_at <= now:  # missed firings collapse into one, as the host's "past due"
                    self.trace.deliveries.append(f"{now:%Y-%m-%d %H:%M} timer {timer.name}")
                    timer.fire()
                    timer.next_at = timer.schedule.next_after(now)

    def _deliver(self, envelope: Envelope) -> None:
        """The local bus's consumer: the same entry points the Functions triggers call."""
        self.trace.deliveries.append(f"{self.sim.clock.now():%Y-%m-%d %H:%M} {envelope.subject} {envelope.message_id}")
        if self._on_delivery is not None:
            self._on_delivery(envelope)
        for _ in range(2 if self._deliver_twice else 1):
            if envelope.subject == APPROVAL_SUBJECT:
                handled = self.entrypoints.approval(envelope.message_id, envelope.body)
            else:
                handled = self.entrypoints.step_message(envelope.message_id, envelope.body, envelope.subject)
            if handled.rejected:
                self.trace.refusals.append(f"{envelope.message_id}: {handled.rejected}")
                raise DeadLetter(REJECTED, handled.rejected)

    def _dead_letter(self, dead: DeadLetteredMessage) -> None:
        """The dead-letter function on `image-steps/$DeadLetterQueue` (refusals are recorded already)."""
        envelope = dead.envelope
        if envelope.subject == APPROVAL_SUBJECT or dead.reason == REJECTED:
            return
        handled = self.entrypoints.dead_letter(envelope.message_id, envelope.body, dead.reason, dead.description)
        self.trace.deliveries.append(f"{self.sim.clock.now():%Y-%m-%d %H:%M} dead letter {handled.note}")

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        """Event Grid delivers arrays; each event goes through the Event Grid function's path."""
        for event in events:
            handled = self.entrypoints.arm_event(event)
            self.trace.events.append(handled.rejected or handled.note)

    def _sign_in(self, who: str | None) -> str:
        """`avdimage` on local stand-ins: the local issuer signs the named demo person in."""
        if not who:
            raise RequestRefused("locally, name the demo person to sign in as with --as (e.g. qa-lead@contoso.com)")
        return self.issuer.token_for(who)

    def approve(self, body: str, message_id: str | None = None) -> None:
        """An approval system puts a message on the approvals queue (MessageId derived from the content)."""
        workload = str(json.loads(body).get("workload", "approvals")) if body.strip().startswith("{") else "approvals"
        identity = message_id or approval_message_id(body)
        self.bus.send([Envelope(message_id=identity, session_id=workload[:64], subject=APPROVAL_SUBJECT, body=body)])

    def tick_scheduler(self) -> None:
        """The rebuild timer firing at the current virtual time."""
        self.entrypoints.scheduled_rebuilds()

    def tick_retention(self) -> None:
        """The retention and sweeper timer firing at the current virtual time."""
        handled = self.entrypoints.retention_and_sweep()
        self.trace.sweeps.append(f"{self.sim.clock.now():%Y-%m-%d %H:%M} {handled.note}")
