"""Malformed and hostile input for the entry points, each case with the reason it is refused with.

Shared by tests/functions/test_bad_input.py and make reliability's bad-input classes, so both
send the same cases. Bodies carry placeholders (`sign-as:PERSON`, `forged:PERSON`, `now:`)
that `signed` fills for one runtime: tokens its issuer signs (or forges) and its clock's time.
"""

from __future__ import annotations

import json
import re
from typing import Any

from localrun.issuer import forged
from localrun.runtime import LocalRuntime

MARKER = re.compile(r'"(sign-as|forged|now):([^"]*)"')


def as_(person: str) -> str:
    """A placeholder for a token the local issuer signs for `person` when the message is sent."""
    return f"sign-as:{person}"


def approval(**fields: Any) -> str:
    """A valid approval of data-analyst 1.0.0 to validation, with `fields` changed (`...` drops one)."""
    body = {
        "workload": "data-analyst",
        "version": "1.0.0",
        "target_stage": "validation",
        "approver_token": as_("data-lead@contoso.com"),
        "ticket": "CHG-1",
        "reason": "pilot signed off",
        "requested_at": "now:",
    }
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not ...})


def signed(body: str, runtime: LocalRuntime) -> str:
    """Fill the placeholders: tokens signed now (they expire), forged tokens, the current time."""

    def fill(match: re.Match[str]) -> str:
        kind, value = match.groups()
        if kind == "sign-as":
            return json.dumps(runtime.issuer.token_for(value))
        if kind == "forged":
            return json.dumps(forged(runtime.issuer, value))
        return json.dumps(runtime.sim.clock.now().isoformat())

    return MARKER.sub(fill, body)


ARM = "Microsoft.Resources.ResourceWriteSuccess"

VM_URI = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-avd-images"
    "/providers/Microsoft.Compute/virtualMachines/x"
)


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
