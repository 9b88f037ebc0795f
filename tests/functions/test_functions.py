"""Each function as the host invokes it, and the metadata the host indexes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from localrun.runtime import LocalRuntime
from shared.domain.commands import ContinueRun, Envelope, StartBuild
from shared.domain.model import BuildReason, RunState, Stage, Status, VersionNumber
from tests.functions.conftest import REGISTERED, approval, as_, bus_message, function, http_get, snapshot

V100 = VersionNumber.parse("1.0.0")


def bindings() -> dict[str, list[dict[str, Any]]]:
    return {name: json.loads(f.get_function_json())["bindings"] for name, f in REGISTERED.items()}


def test_function_metadata() -> None:
    """Trigger types, queues, connections, sessions, schedules and auth levels are what infra provides."""
    found = bindings()
    assert sorted(found) == [
        "arm_events",
        "catalog",
        "health",
        "image_approvals",
        "image_steps",
        "image_steps_dead_letters",
        "rebuild_scheduler",
        "retention_sweep",
        "status_page",
        "workload_history",
        "workload_versions",
    ]
    steps = found["image_steps"][0]
    assert (steps["type"], steps["queueName"], steps["connection"], steps["isSessionsEnabled"]) == (
        "serviceBusTrigger",
        "image-steps",
        "ServiceBusConnection",
        True,
    )
    approvals = found["image_approvals"][0]
    assert (approvals["type"], approvals["queueName"], approvals["connection"]) == (
        "serviceBusTrigger",
        "image-approvals",
        "ServiceBusConnection",
    )
    dead = found["image_steps_dead_letters"][0]
    assert (dead["type"], dead["queueName"], dead["connection"]) == (
        "serviceBusTrigger",
        "image-steps/$DeadLetterQueue",
        "ServiceBusConnection",
    )
    assert found["arm_events"][0]["type"] == "eventGridTrigger"
    assert found["rebuild_scheduler"][0]["schedule"] == "%AVD_REBUILD_SCHEDULE%"
    assert found["retention_sweep"][0]["schedule"] == "%AVD_SWEEP_SCHEDULE%"
    http = found["catalog"][0]
    assert (http["type"], http["authLevel"], http["methods"], http["route"]) == (
        "httpTrigger",
        "FUNCTION",
        ["GET"],
        "catalog",
    )


def test_step_message_advances_the_run(fresh: LocalRuntime) -> None:
    """A step message delivered to image_steps runs the step and sends the next message."""
    run = fresh.records.find_run("data-analyst", "first-build")
    assert run is not None
    stale = Envelope.wrap(ContinueRun(workload="data-analyst", run_id="first-build", step="source-vm", attempt=0))
    before = fresh.bus.stats.accepted
    function("image_steps")(bus_message(stale.body, stale.message_id, stale.subject))
    assert fresh.bus.stats.accepted + fresh.bus.stats.duplicates_dropped > before  # re-sent where the run is


def test_approval_promotes(fresh: LocalRuntime) -> None:
    """An approval message in the documented contract starts the promotion."""
    function("image_approvals")(bus_message(approval(), "approval-1"))
    fresh.run()
    version = fresh.records.get_version("data-analyst", V100)
    assert (version.status, version.stage) == (Status.READY, Stage.VALIDATION)
    assert version.approvals[-1].ticket == "CHG-1"


def test_duplicate_approval_is_harmless(fresh: LocalRuntime) -> None:
    """The same approval delivered twice promotes once and leaves no rejection."""
    function("image_approvals")(bus_message(approval(), "approval-1"))
    fresh.run()
    state = snapshot(fresh)
    function("image_approvals")(bus_message(approval(), "approval-1"))
    fresh.run()
    assert snapshot(fresh) == state
    assert fresh.records.list_rejections() == []


def test_rollback_request_uses_the_same_channel(fresh: LocalRuntime) -> None:
    """A rollback with nothing to roll back to is refused with the reason and recorded."""
    body = approval(action="rollback", target_stage=..., approver_token=as_("cab-chair@contoso.com"))
    function("image_approvals")(bus_message(body, "rollback-1"))
    rejected = fresh.records.list_rejections()
    assert [r.reason for r in rejected] == [
        "cannot roll back data-analyst 1.0.0: production serves nothing now, not 1.0.0; nothing was changed"
    ]
    assert "eyJ" not in rejected[0].body  # kept for inspection, never with a usable bearer token
    assert '"approver_token": "<redacted sha256:' in rejected[0].body


def test_event_grid_event_continues_the_waiting_step(fresh: LocalRuntime) -> None:
    """An ARM event about a resource nobody waits for is ignored; a malformed one is rejected with a reason."""
    event = func.EventGridEvent(
        id="e1",
        data={
            "operationName": "Microsoft.Compute/virtualMachines/write",
            "resourceUri": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/someone-elses-vm",
            "status": "Succeeded",
        },
        topic="/subscriptions/x/resourceGroups/rg",
        subject="/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/someone-elses-vm",
        event_type="Microsoft.Resources.ResourceWriteSuccess",
        event_time=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        data_version="2",
    )
    function("arm_events")(event)
    assert fresh.records.list_rejections() == []
    broken = func.EventGridEvent(
        id="e2",
        data={"status": "Succeeded"},
        topic="t",
        subject="s",
        event_type="Microsoft.Resources.ResourceWriteSuccess",
        event_time=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        data_version="2",
    )
    function("arm_events")(broken)
    assert "operationName" in fresh.records.list_rejections()[0].reason


def test_timers(fresh: LocalRuntime) -> None:
    """The rebuild timer starts nothing while a version of this window exists; the sweep timer queues retention."""
    before = fresh.bus.stats.accepted
    function("rebuild_scheduler")(TimerRequest(past_due=False))
    fresh.run()
    assert fresh.records.find_run("office", "first-build") is not None  # office had no version yet
    assert [r.run_id for r in fresh.records.list_runs("data-analyst")] == ["first-build"]
    function("retention_sweep")(TimerRequest(past_due=True))
    assert fresh.bus.stats.accepted > before


def test_http_catalog_and_history(fresh: LocalRuntime) -> None:
    """The read-only API shows display names and the audit trail; unknown workloads are 404 with a reason."""
    response = function("catalog")(http_get("/api/catalog"))
    payload = json.loads(response.get_body())
    analyst = next(w for w in payload if w["name"] == "data-analyst")
    assert analyst["in_test"][0]["display_name"] == "Win11 | DataAnalyst | v1.0.0 | 2026-11"
    history = json.loads(
        function("workload_history")(
            http_get("/api/workloads/data-analyst/history", {"workload": "data-analyst"})
        ).get_body()
    )
    assert "bitlocker-ready" in [e["kind"] for e in history]
    assert {e["version"] for e in history if e["version"]} == {"1.0.0"}  # "1.0.0", as in the CLI's --json
    missing = function("workload_versions")(http_get("/api/workloads/nope/versions", {"workload": "nope"}))
    assert missing.status_code == 404
    assert "unknown workload 'nope'" in json.loads(missing.get_body())["error"]["message"]


def test_a_dead_lettered_step_fails_its_run(fresh: LocalRuntime) -> None:
    """image_steps_dead_letters reads Service Bus's dead-letter reason and ends the run with it."""
    fresh.submit(StartBuild(workload="data-analyst", run_id="patch-1", reason=BuildReason.PATCH, requested_by="a@b.c"))
    fresh.run(until=fresh.sim.clock.now() + timedelta(minutes=5))
    run = fresh.records.find_run("data-analyst", "patch-1")
    assert run is not None
    assert run.state is RunState.RUNNING
    stuck = Envelope.wrap(ContinueRun(workload="data-analyst", run_id="patch-1", step=run.step, attempt=run.attempt))
    message = ServiceBusMessage(
        body=stuck.body.encode(),
        message_id=stuck.message_id,
        application_properties={},
        user_properties={},
        dead_letter_reason="MaxDeliveryCountExceeded",
        dead_letter_error_description="ConnectionError: 503 Server Busy",
    )
    function("image_steps_dead_letters")(message)
    fresh.run()
    ended = fresh.records.find_run("data-analyst", "patch-1")
    assert ended is not None
    assert ended.state is RunState.FAILED
    assert "dead-lettered: MaxDeliveryCountExceeded: ConnectionError: 503 Server Busy" in ended.failure_reason
    assert fresh.records.get_pointers("data-analyst").active_run is None


def test_status_page_in_azure_answers_only_behind_easy_auth(fresh: LocalRuntime, monkeypatch: Any) -> None:
    """In App Service the page needs Easy Auth's signed-in reader; the JSON API keeps its function key."""
    found = bindings()
    assert found["status_page"][0]["authLevel"] == "ANONYMOUS"
    assert found["catalog"][0]["authLevel"] == "FUNCTION"
    page = function("status_page")
    monkeypatch.setenv("WEBSITE_SITE_NAME", "func-test")
    monkeypatch.delenv("AVD_STATUS_READERS_GROUP", raising=False)
    assert "approvalsClientId and statusReadersGroupId" in page(http_get("/api/status")).get_body().decode()
    monkeypatch.setenv("AVD_STATUS_READERS_GROUP", "9e4c7a21-5b6d-4c8e-a1f3-2d7b8e9c0f50")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    assert page(http_get("/api/status")).status_code == 401  # no signed-in principal
    signed_in = func.HttpRequest(
        "GET", "/api/status", headers={"X-MS-CLIENT-PRINCIPAL-ID": "5d9c3f16"}, params={"usage": "false"}, body=b""
    )
    assert page(signed_in).status_code == 200
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "False")  # the header could be forged without Easy Auth
    assert page(signed_in).status_code == 401
