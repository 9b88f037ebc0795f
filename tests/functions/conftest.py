"""Functions are invoked as the host would: real azure.functions objects, the local stand-ins behind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

from function_app import app
from localrun import bad_input
from localrun.bad_input import approval as approval
from localrun.bad_input import as_ as as_
from localrun.runtime import LocalRuntime
from localrun.scenario import build
from shared import bootstrap
from shared.domain.catalog import load_catalog
from shared.domain.model import BuildReason

ROOT = Path(__file__).resolve().parents[2]


# The worker indexes the app once; get_functions() may be called only once per app.
REGISTERED = {f.get_function_name(): f for f in app.get_functions()}


def function(name: str) -> Any:
    """The user function behind a registered function, as the worker calls it."""
    return REGISTERED[name].get_user_function()


# The runtime the functions run against (set by the fixtures), whose local issuer signs tokens.
CURRENT: list[LocalRuntime] = []


def signed(body: str, runtime: LocalRuntime | None = None) -> str:
    """Fill the placeholders for `runtime`, or for the runtime the fixtures set."""
    runtime = runtime or (CURRENT[-1] if CURRENT else None)
    return body if runtime is None else bad_input.signed(body, runtime)


def bus_message(body: str | bytes, message_id: str, subject: str = "") -> ServiceBusMessage:
    if isinstance(body, str):
        body = signed(body)
    return ServiceBusMessage(
        body=body if isinstance(body, bytes) else body.encode(),
        message_id=message_id,
        subject=subject,
        application_properties={},
        user_properties={},
        content_type="application/json",
        delivery_count=1,
        enqueued_time_utc=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
    )


def snapshot(runtime: LocalRuntime, workload: str = "data-analyst") -> dict[str, Any]:
    """Every record that a refused request must leave untouched (audit entries excluded)."""
    records = runtime.records.load_workload(workload)
    return {
        "pointers": records.pointers.model_dump(exclude={"event_count"}),
        "versions": [v.model_dump(exclude={"event_count"}) for v in records.versions],
        "runs": [r.model_dump() for r in records.runs],
    }


@pytest.fixture(scope="module")
def built() -> Iterator[LocalRuntime]:
    """One runtime with data-analyst 1.0.0 ready in test, shared by read-only and refusal tests."""
    runtime = LocalRuntime(load_catalog(ROOT / "catalog"))
    build(runtime, "data-analyst", "first-build", BuildReason.FIRST)
    bootstrap.use(runtime.entrypoints)
    CURRENT.append(runtime)
    yield runtime
    CURRENT.remove(runtime)
    bootstrap.use(None)


@pytest.fixture
def fresh() -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(load_catalog(ROOT / "catalog"))
    build(runtime, "data-analyst", "first-build", BuildReason.FIRST)
    bootstrap.use(runtime.entrypoints)
    CURRENT.append(runtime)
    yield runtime
    CURRENT.remove(runtime)
    bootstrap.use(None)


def http_get(
    url: str, route_params: dict[str, str] | None = None, params: dict[str, str] | None = None
) -> func.HttpRequest:
    return func.HttpRequest("GET", url, route_params=route_params or {}, params=params or {}, body=b"")
