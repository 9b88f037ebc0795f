"""What an ARM event alone says (shared.steps.event_sight): malformed events refused with the reason,
ignored ones named in one line cut to a readable length, before any record or client is touched."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.errors import InvalidInput
from shared.steps.event_sight import ArmEvent, ignored_at_sight, ignored_unless_a_rollout_waits, sight

RG = "/subscriptions/s/resourceGroups/rg/providers"
WRITE = "Microsoft.Resources.ResourceWriteSuccess"


def arm(operation: str, uri: str, event_type: Any = WRITE) -> dict[str, Any]:
    return {
        "id": "e1",
        "eventType": event_type,
        "eventTime": "2026-11-02T08:00:00Z",
        "data": {"operationName": operation, "resourceUri": uri},
    }


@pytest.mark.parametrize("parse", [ArmEvent.parse, sight])
def test_an_event_that_is_no_object_is_refused_naming_its_type(parse: Any) -> None:
    """A list where an object was expected: refused, naming what came."""
    with pytest.raises(InvalidInput) as error:
        parse([1])
    assert str(error.value) == "an event must be a JSON object, got list"


def test_a_malformed_event_lists_every_problem_with_its_id() -> None:
    """Each invalid field by its path, joined by '; ', after the event's id cut at 60 characters."""
    raw = arm("", "/x") | {"id": "i" * 70, "eventTime": "later"}
    with pytest.raises(InvalidInput) as error:
        ArmEvent.parse(raw)
    assert str(error.value) == (
        f"malformed ARM event {'i' * 60!r}: time: Input should be a valid datetime or date, input is too short; "
        "data.operationName: String should have at least 1 character"
    )


def test_ignored_at_sight_says_why_or_nothing() -> None:
    """An event the event alone dismisses gets its reason; a malformed one gets '' (the router refuses it)."""
    assert ignored_at_sight(arm("x", "/y", "Microsoft.EventGrid.SubscriptionValidationEvent")) == (
        "ignored: event type 'Microsoft.EventGrid.SubscriptionValidationEvent' is not an ARM resource event"
    )
    assert ignored_at_sight("not an event") == ""


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (arm("x", "/y", None), "ignored: event type '' is not an ARM resource event"),
        (arm("x", "/y", "T" * 150), f"ignored: event type {'T' * 100!r} is not an ARM resource event"),
        (
            arm("Microsoft.Compute/" + "o" * 300, "/y"),
            f"ignored: {('microsoft.compute/' + 'o' * 300)[:200]} completes nothing the pipeline waits for",
        ),
        (
            arm("Microsoft.Compute/disks/write", f"{RG}/Microsoft.Compute/disks/{'d' * 100}"),
            f"ignored: {'d' * 80} is not a resource the product created",
        ),
        (
            arm("Microsoft.Compute/disks/write", f"{RG}/Microsoft.Compute/disks/mydisk"),
            "ignored: mydisk is not a resource the product created",
        ),
        (
            arm("Microsoft.Compute/disks/write", f"{RG}/Microsoft.Storage/storageAccounts/{'s' * 250}"),
            f"ignored: {(RG + '/Microsoft.Storage/storageAccounts/' + 's' * 250)[:200]} "
            "is not a resource type the product manages",
        ),
    ],
)
def test_ignored_events_are_named_cut_to_a_readable_length(raw: dict[str, Any], why: str) -> None:
    """No type, another type, an operation nothing waits for, a disk the product did not name, another resource type."""
    assert sight(raw) == (None, why)


def test_without_rollouts_vms_the_product_did_not_name_are_ignored() -> None:
    """No rollout waits: a VM of another name or an extension is ignored, cut at 80 / 200 characters."""
    vm = f"{RG}/Microsoft.Compute/virtualMachines/{'h' * 100}"
    assert ignored_unless_a_rollout_waits(arm("Microsoft.Compute/virtualMachines/write", vm)) == (
        f"ignored: {'h' * 80} is not a resource the product created"
    )
    extension = f"{vm}/extensions/{'x' * 200}"
    assert ignored_unless_a_rollout_waits(arm("Microsoft.Compute/virtualMachines/extensions/write", extension)) == (
        f"ignored: {extension[:200]} is not a resource the product manages"
    )
