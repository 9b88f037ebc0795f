"""Gallery update rules, throttling, faults, Event Grid delivery and response-shape fidelity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from simulator import Simulator
from tests.simulator.conftest import LOC, RG, Env, make_vm
from tests.simulator.test_pipeline import DEF, GALLERY, _capture, _gallery, _prepared_vm


@pytest.fixture
def version(env: Env) -> Env:
    _gallery(env)
    _prepared_vm(env)
    _capture(env, "tmp")
    env.sim.clock.run_until_idle()
    return env


def test_version_names_must_be_major_minor_patch_int32(version: Env) -> None:
    """Names that are not three int32 parts are 400 InvalidParameter."""
    for bad in ("1.0", "1.0.0.0", "v1.0.0", "1.0.2147483648"):
        with pytest.raises(HttpResponseError) as err:
            _capture(version, "tmp", bad)
        assert err.value.status_code == 400, bad


def test_only_publishing_fields_can_change(version: Env) -> None:
    """excludeFromLatest, endOfLifeDate and regions change; a different source is 409 PropertyChangeNotAllowed."""
    versions = version.compute.gallery_image_versions
    updated = versions.begin_update(
        RG,
        GALLERY,
        DEF,
        "1.0.0",
        {
            "properties": {
                "publishingProfile": {"excludeFromLatest": False, "endOfLifeDate": "2027-06-01T00:00:00Z"},
                "storageProfile": {},
            }
        },
    ).result()
    assert updated.publishing_profile.exclude_from_latest is False
    assert updated.publishing_profile.end_of_life_date.year == 2027
    with pytest.raises(HttpResponseError) as err:
        versions.begin_create_or_update(
            RG,
            GALLERY,
            DEF,
            "1.0.0",
            {"location": LOC, "properties": {"storageProfile": {"source": {"id": "/subscriptions/x/other"}}}},
        ).result()
    assert err.value.status_code == 409
    assert err.value.error is not None
    assert err.value.error.code == "PropertyChangeNotAllowed"


def test_adding_a_region_replicates_it(version: Env) -> None:
    """Adding a target region puts the version in Updating with the new region Replicating until done."""
    versions = version.compute.gallery_image_versions
    versions.begin_update(
        RG,
        GALLERY,
        DEF,
        "1.0.0",
        {
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": LOC}, {"name": "Sweden Central"}]},
                "storageProfile": {},
            }
        },
        polling=False,
    )
    got = versions.get(RG, GALLERY, DEF, "1.0.0", expand="ReplicationStatus")
    assert got.provisioning_state == "Updating"
    assert got.replication_status.aggregated_state == "InProgress"
    version.sim.clock.run_until_idle()
    got = versions.get(RG, GALLERY, DEF, "1.0.0", expand="ReplicationStatus")
    assert {s.region: s.state for s in got.replication_status.summary} == {
        "West Europe": "Completed",
        "Sweden Central": "Completed",
    }


def test_block_deletion_before_end_of_life(env: Env) -> None:
    """blockDeletionBeforeEndOfLife refuses DELETE until endOfLifeDate has passed on the virtual clock."""
    _gallery(env)
    _prepared_vm(env)
    env.compute.gallery_image_versions.begin_create_or_update(
        RG,
        GALLERY,
        DEF,
        "1.0.0",
        {
            "location": LOC,
            "properties": {
                "storageProfile": {"source": {"virtualMachineId": env.compute.virtual_machines.get(RG, "tmp").id}},
                "publishingProfile": {"endOfLifeDate": "2026-12-01T00:00:00Z"},
                "safetyProfile": {"blockDeletionBeforeEndOfLife": True},
            },
        },
    ).result()
    with pytest.raises(HttpResponseError) as err:
        env.compute.gallery_image_versions.begin_delete(RG, GALLERY, DEF, "1.0.0").result()
    assert err.value.status_code == 409
    env.sim.clock.advance_to(env.sim.clock.now() + timedelta(days=31))
    env.compute.gallery_image_versions.begin_delete(RG, GALLERY, DEF, "1.0.0").result()
    assert list(env.compute.gallery_image_versions.list_by_gallery_image(RG, GALLERY, DEF)) == []


def test_replication_fault_fails_the_version_and_a_retry_recovers(env: Env) -> None:
    """replication_fails(region) marks the region Failed and the LRO Failed; re-sending the regions retries it."""
    _gallery(env)
    _prepared_vm(env)
    env.sim.faults.replication_fails("northeurope")
    _capture(env, "tmp", regions=[LOC, "northeurope"])
    env.sim.clock.run_until_idle()
    versions = env.compute.gallery_image_versions
    got = versions.get(RG, GALLERY, DEF, "1.0.0", expand="ReplicationStatus")
    assert got.provisioning_state == "Failed"
    assert got.replication_status.aggregated_state == "Failed"
    regions = {"targetRegions": [{"name": LOC}, {"name": "North Europe"}]}
    versions.begin_update(
        RG, GALLERY, DEF, "1.0.0", {"properties": {"publishingProfile": regions, "storageProfile": {}}}
    ).result()
    got = versions.get(RG, GALLERY, DEF, "1.0.0", expand="ReplicationStatus")
    assert got.replication_status.aggregated_state == "Completed"


def test_throttling_storm_is_retried_by_the_sdk(in_process_env: Env) -> None:
    """429 with Retry-After is honored by the SDK's retry policy; the wait passes on the virtual clock.

    In-process only: over the loopback server the SDK's back-off is real time (15 s here).
    """
    env, sim = in_process_env, in_process_env.sim
    sim.faults.throttle(storm_requests=3, retry_after=5)
    before = sim.clock.now()
    assert list(env.compute.disks.list_by_resource_group(RG)) == []
    assert [e.status for e in sim.request_log] == [429, 429, 429, 200]
    assert sim.clock.now() - before >= timedelta(seconds=15)


def test_token_bucket_reports_remaining_and_throttles_when_empty(sim: Simulator) -> None:
    """x-ms-ratelimit-remaining-subscription-reads counts down; an empty bucket answers 429 with Retry-After >= 1."""
    sim.faults.throttle(read_capacity=2, read_refill_per_second=0.1)
    url = "https://x/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/disks"
    first = sim.handle("GET", url)
    assert first[0] == 200
    assert first[1]["x-ms-ratelimit-remaining-subscription-reads"] == "1"
    sim.handle("GET", url)
    status, headers, _ = sim.handle("GET", url)
    assert status == 429
    assert int(headers["Retry-After"]) >= 1


def test_fail_once_and_lro_fails(env: Env, sim: Simulator) -> None:
    """fail_once fails one request with the given code; lro_fails ends the next LRO Failed with a Failure event."""
    events: list[dict[str, Any]] = []
    sim.events.subscribe(events.extend)
    sim.faults.fail_once("Microsoft.Compute/galleries/write", code="Conflict", message="busy")
    with pytest.raises(HttpResponseError) as err:
        env.compute.galleries.begin_create_or_update(RG, GALLERY, {"location": LOC}).result()
    assert err.value.status_code == 409
    sim.faults.lro_fails("Microsoft.Compute/galleries/write")
    with pytest.raises(HttpResponseError):
        env.compute.galleries.begin_create_or_update(RG, GALLERY, {"location": LOC}).result()
    assert events[-1]["eventType"] == "Microsoft.Resources.ResourceWriteFailure"
    env.compute.galleries.begin_create_or_update(RG, GALLERY, {"location": LOC}).result()
    assert events[-1]["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"


def test_error_rate_is_reproducible(sim: Simulator) -> None:
    """error_rate with a seed fails the same requests every run."""
    url = "https://x/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/disks"

    def pattern() -> list[int]:
        sim.faults.clear()
        sim.faults.error_rate("*", 0.5, seed=7)
        return [sim.handle("GET", url)[0] for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert 500 in first
    assert 200 in first


def test_events_arrive_when_operations_complete(env: Env, sim: Simulator) -> None:
    """Events are delivered on completion (virtual time), in order, in EventGrid and CloudEvents shapes."""
    grid: list[dict[str, Any]] = []
    cloud: list[dict[str, Any]] = []
    sim.events.subscribe(grid.extend)
    sim.events.subscribe(cloud.extend, schema="cloudevents")
    make_vm(env)
    grid.clear()
    cloud.clear()
    env.compute.virtual_machines.begin_deallocate(RG, "vm1", polling=False)
    assert grid == []
    sim.clock.advance(60)
    [event] = grid
    assert event["eventType"] == "Microsoft.Resources.ResourceActionSuccess"
    assert event["data"]["operationName"] == "Microsoft.Compute/virtualMachines/deallocate/action"
    assert event["subject"].endswith("/virtualMachines/vm1")
    assert event["dataVersion"] == "2"
    assert event["metadataVersion"] == "1"
    for key in (
        "resourceUri",
        "resourceProvider",
        "status",
        "subscriptionId",
        "tenantId",
        "correlationId",
        "httpRequest",
        "claims",
        "authorization",
    ):
        assert key in event["data"], key
    assert event["eventTime"].startswith("2026-11-01T00:")
    [ce] = cloud
    assert ce["specversion"] == "1.0"
    assert ce["type"] == event["eventType"]
    assert ce["source"] == event["topic"]


def test_request_log_attributes_every_request_to_an_arm_action(env: Env, sim: Simulator) -> None:
    """Every request is logged with its ARM action, status and virtual time; polls count as operations/read."""
    make_vm(env)
    counts = sim.request_log.counts()
    assert counts["Microsoft.Compute/virtualMachines/write"] == 1
    assert counts["Microsoft.Network/networkInterfaces/write"] == 1
    assert counts["Microsoft.Compute/locations/operations/read"] >= 1
    assert not any(a.startswith("unknown") for a in counts)
    assert sim.request_log.totals()["writes"] == 3
    sim.reset()
    assert sim.request_log == []
    assert sim.live_resources() == []


def test_live_resources_filters_by_tag(env: Env, sim: Simulator) -> None:
    """live_resources(tag, value) lists only resources carrying that tag value."""
    make_vm(env)
    tagged = sim.live_resources("run", "r1")
    assert [r["name"] for r in tagged] == ["vm1"]
    assert sim.live_resources("run", "other") == []
