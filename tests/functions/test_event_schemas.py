"""The Event Grid trigger accepts both delivery schemas, decoded by azure.functions as the worker does.

An event subscription can deliver in the Event Grid schema or in CloudEvents v1.0; azure.functions
turns the first into `func.EventGridEvent` and the second into `func.CloudEvent` (chosen by the
payload's `specversion`, not by the annotation). The trigger used to read `.topic` and crashed on
the second: "'CloudEvent' object has no attribute 'topic'".
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from localrun.runtime import LocalRuntime
from simulator.events import to_cloudevent
from tests.functions.conftest import function


def delivered(body: dict[str, Any]) -> func.EventGridEvent | func.CloudEvent:
    """The object the Python worker hands the function for this payload."""
    decoded: func.EventGridEvent | func.CloudEvent = EventGridEventInConverter.decode(
        meta.Datum(type="json", value=json.dumps(body)), trigger_metadata={}
    )
    return decoded


def version_write_event(runtime: LocalRuntime) -> dict[str, Any]:
    """The simulator's Event Grid-schema event for the write of data-analyst's first gallery version."""
    return next(
        e
        for e in runtime.sim.events.history
        if e["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
        and e["data"]["operationName"].lower() == "microsoft.compute/galleries/images/versions/write"
    )


def sent(runtime: LocalRuntime) -> int:
    """Every message ever sent to the bus (a duplicate of an earlier Prune is dropped, yet counted)."""
    return runtime.bus.stats.accepted + runtime.bus.stats.duplicates_dropped


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_both_schemas_route_the_same_event(fresh: LocalRuntime, schema: str) -> None:
    """A gallery version write in either schema queues the workload's retention check and rejects nothing."""
    body = version_write_event(fresh)
    if schema == "cloudevents":
        body = to_cloudevent(body)
    event = delivered(body)
    assert isinstance(event, func.CloudEvent if schema == "cloudevents" else func.EventGridEvent)
    before = sent(fresh)
    function("arm_events")(event)
    assert fresh.records.list_rejections() == []
    assert sent(fresh) == before + 1  # the Prune the router sends for a version write


def test_malformed_cloudevent_is_rejected_with_the_field(fresh: LocalRuntime) -> None:
    """A CloudEvent without data.operationName is kept as a rejection naming the field, like the Event Grid schema."""
    body = to_cloudevent(version_write_event(fresh))
    body["id"] = "ce-broken"
    body["data"] = {"resourceUri": body["subject"]}
    function("arm_events")(delivered(body))
    (rejected,) = fresh.records.list_rejections()
    assert rejected.message_id == "ce-broken"
    assert "operationName" in rejected.reason
    assert rejected.source == "event-grid"
