"""Malformed and hostile input: every message gets a clear reason, none changes state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from localrun.bad_input import ARM, BAD_APPROVALS, BAD_EVENTS, BAD_STEPS, VM_URI
from localrun.runtime import LocalRuntime
from tests.functions.conftest import bus_message, function, snapshot

NOW = "2026-11-02T10:00:00Z"


@pytest.mark.parametrize(("case", "body", "reason"), BAD_APPROVALS, ids=[c[0] for c in BAD_APPROVALS])
def test_bad_approvals_are_rejected_with_a_reason(built: LocalRuntime, case: str, body: str, reason: str) -> None:
    """Each bad approval is kept with a reason that names what is wrong; no record changes."""
    before = snapshot(built)
    count = len(built.records.list_rejections())
    function("image_approvals")(bus_message(body, f"bad-{case}"))
    built.run()
    rejections = built.records.list_rejections()
    assert len(rejections) == count + 1
    mine = next(r for r in rejections if r.message_id == f"bad-{case}")
    assert reason in mine.reason
    assert mine.source == "image-approvals"
    assert len(mine.reason) < 1500
    assert snapshot(built) == before


def arm_event(data: Any, event_type: str = ARM, event_id: str = "evt") -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event_id,
        data=data,
        topic="/subscriptions/x/resourceGroups/rg-avd-images",
        subject="s",
        event_type=event_type,
        event_time=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        data_version="2",
    )


@pytest.mark.parametrize(("case", "data", "reason"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
def test_malformed_events_are_rejected_with_a_reason(built: LocalRuntime, case: str, data: Any, reason: str) -> None:
    """A malformed ARM event is kept with the field that is wrong; no record changes."""
    before = snapshot(built)
    count = len(built.records.list_rejections())
    function("arm_events")(arm_event(data, event_id=f"evt-{case}"))
    rejections = built.records.list_rejections()
    assert len(rejections) == count + 1
    mine = next(r for r in rejections if r.message_id == f"evt-{case}")
    assert reason in mine.reason
    assert mine.source == "event-grid"
    assert snapshot(built) == before


IGNORED_EVENTS: list[tuple[str, Any, str]] = [
    ("subscription-validation", {"validationCode": "abc"}, "Microsoft.EventGrid.SubscriptionValidationEvent"),
    ("other-type", {"operationName": "x", "resourceUri": VM_URI}, "Microsoft.Storage.BlobCreated"),
    ("foreign-vm", {"operationName": "Microsoft.Compute/virtualMachines/write", "resourceUri": VM_URI}, ARM),
    (
        "run-command",
        {"operationName": "Microsoft.Compute/virtualMachines/runCommand/action", "resourceUri": VM_URI},
        ARM,
    ),
    (
        "foreign-gallery",
        {
            "operationName": "Microsoft.Compute/galleries/images/versions/write",
            "resourceUri": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/other/versions/1.0.0",
        },
        ARM,
    ),
    (
        "storage",
        {
            "operationName": "Microsoft.Storage/storageAccounts/write",
            "resourceUri": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/s",
        },
        ARM,
    ),
    (
        "hostile-name",
        {
            "operationName": "Microsoft.Compute/virtualMachines/write",
            "resourceUri": VM_URI[:-1] + "data-analyst--..%2f--vm",
        },
        ARM,
    ),
]


@pytest.mark.parametrize(("case", "data", "event_type"), IGNORED_EVENTS, ids=[c[0] for c in IGNORED_EVENTS])
def test_unrelated_events_are_ignored_without_error(built: LocalRuntime, case: str, data: Any, event_type: str) -> None:
    """Events about what the product does not own, or waits for, change nothing and are not errors."""
    before = snapshot(built)
    count = len(built.records.list_rejections())
    function("arm_events")(arm_event(data, event_type))
    assert len(built.records.list_rejections()) == count
    assert snapshot(built) == before


@pytest.mark.parametrize(("case", "body", "reason"), BAD_STEPS, ids=[c[0] for c in BAD_STEPS])
def test_bad_step_messages_are_rejected(built: LocalRuntime, case: str, body: str, reason: str) -> None:
    """A step message that can never succeed is kept with its reason instead of being retried."""
    before = snapshot(built)
    function("image_steps")(bus_message(body, f"step-{case}"))
    mine = next(r for r in built.records.list_rejections() if r.message_id == f"step-{case}")
    assert reason in mine.reason
    assert snapshot(built) == before
