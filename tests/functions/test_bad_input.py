"""Malformed and hostile input: every message gets a clear reason, none changes state."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from localrun.runtime import LocalRuntime
from tests.functions.conftest import approval, as_, bus_message, function, snapshot

NOW = "2026-11-02T10:00:00Z"
ARM = "Microsoft.Resources.ResourceWriteSuccess"
VM_URI = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-avd-images/providers/Microsoft.Compute/virtualMachines/x"

BAD_APPROVALS: list[tuple[str, str, str]] = [
    ("not-json", "this is not json", "invalid approval"),
    ("empty", "", "invalid approval"),
    ("array", "[]", "invalid approval"),
    ("string", '"promote"', "invalid approval"),
    ("no-workload", approval(workload=...), "workload: Field required"),
    ("no-token", approval(approver_token=...), "approver_token: Field required"),
    ("no-time", approval(requested_at=...), "requested_at: Field required"),
    ("naive-time", approval(requested_at="2026-11-02T10:00:00"), "requested_at: Input should have timezone info"),
    ("garbage-time", approval(requested_at="yesterday"), "requested_at"),
    ("unknown-field", approval(approvedBy="x"), "approvedBy: Extra inputs are not permitted"),
    ("sql-workload", approval(workload="' or ''='"), "invalid workload name"),
    ("path-workload", approval(workload="../etc/passwd"), "invalid workload name"),
    ("huge-workload", approval(workload="a" * 10_000), "invalid workload name"),
    ("null-workload", approval(workload=None), "workload"),
    ("unknown-workload", approval(workload="finance"), "unknown workload 'finance'"),
    ("short-version", approval(version="1.0"), "invalid version '1.0'"),
    ("sql-version", approval(version="1.0.0' or 1=1"), "invalid version"),
    ("overflow-version", approval(version="2147483648.0.0"), "invalid version"),
    ("number-version", approval(version=100), "version"),
    ("unknown-version", approval(version="9.9.9"), "data-analyst has no version 9.9.9"),
    ("bad-stage", approval(target_stage="prod"), "target_stage: Input should be"),
    (
        "skip-to-production",
        approval(target_stage="production", approver_token=as_("cab-chair@contoso.com")),
        "stages cannot be skipped",
    ),
    (
        "skip-to-dr",
        approval(target_stage="dr", approver_token=as_("cab-chair@contoso.com")),
        "stages cannot be skipped",
    ),
    ("unauthorized", approval(approver_token=as_("mallory@contoso.com")), "mallory@contoso.com (7fb15138"),
    ("old-contract", approval(approver="data-platform@contoso.com"), "'approver' is no longer accepted"),
    ("token-spaces", approval(approver_token="Robert'); DROP TABLE--"), "approver_token: String should match pattern"),
    ("token-empty", approval(approver_token=""), "approver_token"),
    ("token-nul", approval(approver_token="a\u0000b.c.d"), "approver_token"),
    ("unsigned", approval(approver_token="forged:unsigned"), "algorithm 'none' is refused"),
    ("hs256", approval(approver_token="forged:hs256"), "algorithm 'HS256' is refused"),
    ("unknown-key", approval(approver_token="forged:unknown-key"), "which the tenant does not publish"),
    ("wrong-issuer", approval(approver_token="forged:wrong-issuer"), "is not the configured tenant"),
    ("wrong-audience", approval(approver_token="forged:wrong-audience"), "not this app"),
    ("expired", approval(approver_token="forged:expired"), "the token expired at"),
    ("tampered", approval(approver_token="forged:tampered"), "the signature does not verify"),
    ("future", approval(requested_at="9999-01-01T00:00:00Z"), "is in the future"),
    ("long-ticket", approval(ticket="x" * 2000), "ticket: String should have at most 1000 characters"),
    ("promote-no-version", approval(version=...), "version: Field required"),
    ("promote-no-stage", approval(target_stage=...), "a promotion needs 'target_stage'"),
    ("rollback-with-stage", approval(action="rollback"), "a rollback takes no 'target_stage'"),
    ("unknown-action", approval(action="delete"), "action: Input should be 'promote' or 'rollback'"),
    (
        "no-rollback-target",
        approval(action="rollback", target_stage=..., approver_token=as_("cab-chair@contoso.com")),
        "production serves nothing now, not 1.0.0",
    ),
]


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


BAD_EVENTS: list[tuple[str, Any, str]] = [
    ("no-operation", {"resourceUri": VM_URI}, "operationName"),
    ("no-resource", {"operationName": "Microsoft.Compute/virtualMachines/write"}, "resourceUri"),
    ("data-list", ["x"], "data"),
    ("empty-operation", {"operationName": "", "resourceUri": VM_URI}, "operationName"),
    (
        "huge-uri",
        {"operationName": "Microsoft.Compute/virtualMachines/write", "resourceUri": "/" + "a" * 5000},
        "resourceUri",
    ),
    ("numbers", {"operationName": 7, "resourceUri": 8}, "operationName"),
]


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


BAD_STEPS: list[tuple[str, str, str]] = [
    ("garbage", "{not json", "invalid message"),
    ("unknown-kind", json.dumps({"kind": "format-c", "workload": "data-analyst"}), "invalid message"),
    (
        "hostile-run",
        json.dumps(
            {
                "kind": "continue-run",
                "workload": "data-analyst",
                "run_id": "x' or '1'='1",
                "step": "capture",
                "attempt": 0,
            }
        ),
        "invalid run id",
    ),
    (
        "unknown-run",
        json.dumps(
            {
                "kind": "continue-run",
                "workload": "data-analyst",
                "run_id": "no-such-run",
                "step": "capture",
                "attempt": 0,
            }
        ),
        "run no-such-run of data-analyst does not exist",
    ),
]


@pytest.mark.parametrize(("case", "body", "reason"), BAD_STEPS, ids=[c[0] for c in BAD_STEPS])
def test_bad_step_messages_are_rejected(built: LocalRuntime, case: str, body: str, reason: str) -> None:
    """A step message that can never succeed is kept with its reason instead of being retried."""
    before = snapshot(built)
    function("image_steps")(bus_message(body, f"step-{case}"))
    mine = next(r for r in built.records.list_rejections() if r.message_id == f"step-{case}")
    assert reason in mine.reason
    assert snapshot(built) == before
