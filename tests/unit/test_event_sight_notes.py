"""What the event alone decides (shared.steps.event_sight): the exact refusal of a malformed event and
the notes the log shows for an event ignored at sight, each quoted value cut to its stated length."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.errors import InvalidInput
from shared.steps.event_sight import ArmEvent, ignored_at_sight, ignored_unless_a_rollout_waits, sight

RG = "/subscriptions/s/resourceGroups/rg-avd-images/providers"
WRITE = "Microsoft.Resources.ResourceWriteSuccess"


def arm(operation: str, uri: str, **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": "e1", "eventType": WRITE, "eventTime": "2026-11-02T07:59:30Z",
                           "data": {"operationName": operation, "resourceUri": uri}}  # fmt: skip
    return raw | changes


@pytest.mark.parametrize("read", [ArmEvent.parse, sight])
@pytest.mark.parametrize(("raw", "kind"), [([1], "list"), ("{}", "str"), (None, "NoneType")])
def test_an_event_that_is_no_object_is_refused_naming_its_type(read: Any, raw: object, kind: str) -> None:
    """A JSON array, a string or null is no event: the refusal names the type that came."""
    with pytest.raises(InvalidInput) as error:
        read(raw)
    assert str(error.value) == f"an event must be a JSON object, got {kind}"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            arm("w", "/x", id="e" * 70, data={"resourceUri": "/x"}),
            f"malformed ARM event {'e' * 60!r}: data.operationName: Field required",
        ),
        (
            arm("", "/x", eventTime="soon"),
            "malformed ARM event 'e1': time: Input should be a valid datetime or date, input is too short; "
            "data.operationName: String should have at least 1 character",
        ),
        (
            {"type": WRITE, "time": "2026-11-02T07:59:30Z", "data": {"operationName": "w", "resourceUri": "/x"}},
            "malformed ARM event 'None': id: Input should be a valid string",
        ),
    ],
)
def test_a_malformed_event_is_refused_listing_each_problem_where_it_is(raw: dict[str, Any], message: str) -> None:
    """Its id (cut at 60) and every problem with its dotted location, joined by '; '."""
    with pytest.raises(InvalidInput) as error:
        ArmEvent.parse(raw)
    assert str(error.value) == message


def test_the_note_at_sight_is_sights_and_a_malformed_event_has_none() -> None:
    """An event of another type is ignored with sight's note; a malformed one gets "" (the router refuses it)."""
    other = {"id": "e1", "eventType": "Microsoft.Storage.BlobCreated", "data": {}}
    assert ignored_at_sight(other) == "ignored: event type 'Microsoft.Storage.BlobCreated' is not an ARM resource event"
    assert ignored_at_sight(arm("Microsoft.Compute/disks/write", f"{RG}/Microsoft.Compute/disks/d", id="")) == ""
    assert (
        ignored_at_sight(arm("Microsoft.Compute/disks/write", f"{RG}/Microsoft.Compute/disks/office--run-1--disk"))
        == ""
    )


@pytest.mark.parametrize(
    ("event_type", "shown"),
    [(None, "''"), ("", "''"), ("T" * 150, repr("T" * 100))],
)
def test_an_event_of_no_arm_type_is_ignored_quoting_its_type_to_100_characters(event_type: Any, shown: str) -> None:
    """No type or another type: ignored, the type quoted and cut at 100 characters."""
    raw = {"id": "e1", "eventType": event_type, "data": {}}
    assert sight(raw) == (None, f"ignored: event type {shown} is not an ARM resource event")


def test_an_operation_nobody_waits_for_is_ignored_quoting_it_to_200_characters() -> None:
    """An operation the pipeline does not wait for: ignored, lowercased and cut at 200 characters."""
    operation = "Microsoft.Compute/disks/" + "Beginget" * 40
    raw = arm(operation, f"{RG}/Microsoft.Compute/disks/office--run-1--disk")
    assert sight(raw) == (None, f"ignored: {operation.lower()[:200]} completes nothing the pipeline waits for")


def test_a_disk_the_product_did_not_name_is_ignored_quoting_its_name_to_80_characters() -> None:
    """A disk whose name the product never makes cannot be a session host: ignored, its name cut at 80."""
    name = "data-disk-" + "9" * 100
    assert sight(arm("Microsoft.Compute/disks/write", f"{RG}/Microsoft.Compute/disks/{name}")) == (
        None,
        f"ignored: {name[:80]} is not a resource the product created",
    )


def test_a_vm_the_product_did_not_name_is_seen_as_a_possible_session_host() -> None:
    """A VM named by someone else passes sight: a rollout may be replacing it."""
    raw = arm("Microsoft.Compute/virtualMachines/write", f"{RG}/Microsoft.Compute/virtualMachines/host-7")
    event, why = sight(raw)
    assert why == ""
    assert event is not None
    assert event.data.resource_uri.endswith("/host-7")


def test_a_resource_type_the_product_does_not_manage_is_ignored_quoting_it_to_200_characters() -> None:
    """A routed operation on an unmanaged type (a disk under another provider path): its URI cut at 200."""
    uri = f"{RG}/Microsoft.Compute/disks/office--run-1--disk/" + "sub/" * 60
    assert sight(arm("Microsoft.Compute/disks/write", uri)) == (
        None,
        f"ignored: {uri[:200]} is not a resource type the product manages",
    )


def test_without_a_rollout_an_unnamed_vm_and_an_extension_are_quoted_to_their_lengths() -> None:
    """A VM the product did not name (cut at 80) and a VM extension (its URI cut at 200) are ignored."""
    name = "host-" + "7" * 100
    vm = arm("Microsoft.Compute/virtualMachines/write", f"{RG}/Microsoft.Compute/virtualMachines/{name}")
    assert ignored_unless_a_rollout_waits(vm) == f"ignored: {name[:80]} is not a resource the product created"
    uri = f"{RG}/Microsoft.Compute/virtualMachines/host-7/extensions/" + "x" * 250
    extension = arm("Microsoft.Compute/virtualMachines/extensions/write", uri)
    assert ignored_unless_a_rollout_waits(extension) == f"ignored: {uri[:200]} is not a resource the product manages"
