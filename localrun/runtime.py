"""Wire the real service layer to the simulator, a record store and the in-process bus.

Timers, Service Bus deliveries and Event Grid events all happen on the simulator's virtual
clock, so a whole lifecycle (hours of Azure time) runs in seconds with the same handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as compute_models

from shared.adapters.azure_compute import AzureCompute
from shared.adapters.local_bus import LocalBus
from shared.adapters.memory_records import MemoryRecordStore
from shared.adapters.messaging import DeadLetter
from shared.adapters.table_records import TableRecordStore
from shared.config import Settings
from shared.domain.catalog import Catalog, load_catalog
from shared.domain.commands import Command, Envelope
from shared.domain.errors import InvalidInput, RequestRefused
from shared.domain.records import RecordStore
from shared.messagebus import MessageBus
from shared.steps.deps import Deps
from shared.steps.events import route_event
from simulator import Simulator, client_kwargs

log = logging.getLogger("localrun")
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@dataclass
class Trace:
    """What happened, for tests and the demo's progress output."""

    deliveries: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


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
        self.sim = simulator or Simulator(subscription_id=self.settings.subscription_id, start=start)
        self.catalog = load_catalog(catalog) if isinstance(catalog, Path) else catalog
        kwargs = client_kwargs(self.sim)
        self.compute = AzureCompute(self.settings.subscription_id, self.settings.image_resource_group, lambda: kwargs)
        self.records: RecordStore = records or MemoryRecordStore()
        self.deps = Deps(
            records=self.records,
            compute=self.compute,
            catalog=self.catalog,
            clock=self.sim.clock,
            settings=self.settings,
        )
        self.service = MessageBus(self.deps)
        self.bus = LocalBus(self.sim.clock, self._deliver)
        self.trace = Trace()
        self._on_delivery = on_delivery
        self._deliver_twice = deliver_twice  # at-least-once delivery at its worst: every message twice
        self._provision_galleries(kwargs)
        if event_grid:
            self.sim.events.subscribe(self._on_events)

    @classmethod
    def with_tables(
        cls, catalog: Catalog | Path, connection_string: str, table_name: str, **options: Any
    ) -> LocalRuntime:
        store = TableRecordStore.from_connection_string(connection_string, table_name)
        store.ensure_table()
        return cls(catalog, records=store, **options)

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

    def send(self, envelopes: Iterable[Envelope]) -> None:
        self.bus.send(envelopes)

    def run(self, until: datetime | None = None) -> None:
        """Deliver messages and advance virtual time until nothing is left to do (or `until`)."""
        self.bus.run(self.sim.clock.advance_to, other_due=self.sim.clock.next_due, until=until)

    def _deliver(self, envelope: Envelope) -> None:
        self.trace.deliveries.append(f"{self.sim.clock.now():%Y-%m-%d %H:%M} {envelope.subject} {envelope.message_id}")
        if self._on_delivery is not None:
            self._on_delivery(envelope)
        for _ in range(2 if self._deliver_twice else 1):
            try:
                out = self.service.handle_envelope(envelope)
            except (InvalidInput, RequestRefused) as refusal:
                self.trace.refusals.append(f"{envelope.message_id}: {refusal}")
                raise DeadLetter(type(refusal).__name__, str(refusal)) from None
            self.bus.send(out)

    def _on_events(self, events: list[Mapping[str, Any]]) -> None:
        for event in events:
            try:
                messages, why = route_event(event, self.deps)
            except InvalidInput as error:
                self.trace.events.append(f"rejected: {error}")
                continue
            self.trace.events.append(why)
            self.bus.send(messages)
