"""The one place that builds real clients, lazily: the Functions host imports function_app.py
to index the functions, and every import there is cold-start time users pay for.

Production wiring: DefaultAzureCredential (the app's user-assigned identity via AZURE_CLIENT_ID),
Table Storage by endpoint, ARM at AVD_ARM_ENDPOINT, Service Bus by fully qualified namespace.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shared.names import APPROVAL_QUEUE, SERVICE_BUS_CONNECTION, STEP_QUEUE

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.adapters.run_commands import BlobRunOutput
    from shared.adapters.servicebus_bus import ServiceBusBus
    from shared.config import Settings
    from shared.domain.commands import Envelope
    from shared.entrypoints import Entrypoints
    from shared.steps.deps import Deps

_override: Entrypoints | None = None


def use(entrypoints: Entrypoints | None) -> None:
    """Tests and the local runtime put their own wiring in place (None restores production)."""
    global _override
    _override = entrypoints


def entrypoints() -> Entrypoints:
    return _override if _override is not None else _production()


def reader() -> Deps:
    """Deps for reading only (the CLI's read commands): needs no Service Bus settings."""
    return _override.deps if _override is not None else _reader()


@functools.cache
def _reader() -> Deps:
    return build_deps(_settings())


@functools.cache
def _settings() -> Settings:
    from shared.config import Settings

    return Settings()


def ignored_before_wiring(event: object) -> str:
    """Why an ARM event is ignored, decided from the event and the catalog's files before any client,
    record store or catalog schema loads: a VM the product did not name matters only to a host pool
    rollout, and no workload declares a host pool. "" otherwise, and always under tests' or the local
    runtime's wiring (its router decides the same from its own catalog)."""
    if _override is not None:
        return ""
    from shared.steps.event_sight import ignored_unless_a_rollout_waits

    why = ignored_unless_a_rollout_waits(event)
    if not why:
        return ""
    from shared.domain.catalog_glance import may_declare_host_pools

    return "" if may_declare_host_pools(_settings().catalog_path) else why


@functools.cache
def _credential() -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def build_deps(settings: Settings) -> Deps:
    from shared.adapters.azure_compute import AzureCompute
    from shared.adapters.clock import SystemClock
    from shared.adapters.hostpools_azure import AzureHostPools
    from shared.adapters.hostpools_records import EntityRolloutRecords
    from shared.adapters.table_records import TableRecordStore
    from shared.domain.catalog_isolation import load_catalog_isolated
    from shared.steps.deps import Deps

    if settings.tables_connection_string:
        records = TableRecordStore.from_connection_string(settings.tables_connection_string, settings.table_name)
    elif settings.tables_endpoint:
        records = TableRecordStore.from_endpoint(settings.tables_endpoint, settings.table_name, _credential())
    else:
        raise RuntimeError("set AVD_TABLES_ENDPOINT (or AVD_TABLES_CONNECTION_STRING locally) to reach Table Storage")

    def client_kwargs() -> dict[str, Any]:
        return {
            "credential": _credential(),
            "subscription_id": settings.subscription_id,
            "base_url": settings.arm_endpoint,
        }

    compute = AzureCompute(
        settings.subscription_id, settings.image_resource_group, client_kwargs, run_output=run_output(settings)
    )
    clock = SystemClock()
    verifier = None
    if settings.entra_tenant_id and settings.approvals_client_id:  # else approvals are refused with the reason
        from shared.identity.tokens import JwtVerifier, TrustedIssuer

        verifier = JwtVerifier(TrustedIssuer.entra(settings), clock)
    return Deps(
        records=records,
        compute=compute,
        # One bad catalog file disables that workload only (shared.domain.catalog_isolation).
        catalog=load_catalog_isolated(settings.catalog_path, settings.deployed_gallery),
        clock=clock,
        settings=settings,
        hostpools=AzureHostPools(client_kwargs),
        rollouts=EntityRolloutRecords(records),
        verifier=verifier,
    )


def run_output(settings: Settings) -> BlobRunOutput | None:
    """The blob store for managed Run Command output (None: instance view only, cut at 4 KB)."""
    from shared.adapters.run_commands import BlobRunOutput

    if settings.blobs_connection_string:
        return BlobRunOutput.from_connection_string(settings.blobs_connection_string, settings.run_output_container)
    if settings.blobs_endpoint:
        return BlobRunOutput.from_endpoint(settings.blobs_endpoint, _credential(), settings.run_output_container)
    return None


class LazyServiceBus:
    """A Service Bus queue whose client library is imported on the first send: the read-only
    functions (HTTP API, status page) never load azure-servicebus."""

    def __init__(self, namespace: str, queue_name: str) -> None:
        self.namespace = namespace
        self.queue_name = queue_name
        self._bus: ServiceBusBus | None = None

    def send(self, envelopes: Iterable[Envelope]) -> None:
        batch = list(envelopes)
        if not batch:
            return
        if self._bus is None:
            from azure.servicebus import ServiceBusClient

            from shared.adapters.servicebus_bus import ServiceBusBus

            self._bus = ServiceBusBus(lambda: ServiceBusClient(self.namespace, _credential()), self.queue_name)
        self._bus.send(batch)


@functools.cache
def _production() -> Entrypoints:
    from shared.entrypoints import Entrypoints

    namespace = os.environ.get(f"{SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace", "")
    if not namespace:
        raise RuntimeError(f"set {SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace to send step messages")
    steps, approvals = LazyServiceBus(namespace, STEP_QUEUE), LazyServiceBus(namespace, APPROVAL_QUEUE)
    # Settings, Table Storage, ARM and Entra ID are built (and imported) when a handler first needs
    # them: an event the app ignores at sight costs a function its imports, nothing more.
    wired = Entrypoints(_reader, steps, approvals)
    wired.sign_in = _sign_in
    return wired


def _sign_in(person: str | None) -> str:
    """The operator's Entra ID sign-in (the CLI's promote/rollback); azure-identity loads here."""
    from shared.identity.operator import azure_sign_in

    return azure_sign_in(_reader().settings)(person)
