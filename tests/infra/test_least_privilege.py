"""Least privilege, proven: the product's whole lifecycle runs on the simulator, its ARM request
log is mapped to actions, and the custom roles in infra/role-actions.json must grant exactly those.

Two roles, two scopes (see infra/main.bicep):
- `actions`: the Operator role, assignable on the image resource group only; it must cover every
  request under /subscriptions/<id>/resourceGroups/<image rg>/...
- `subscriptionActions`: the Subscription Reader role; it must cover every request ARM serves
  outside any resource group (/subscriptions/<id>/providers/...): async-operation polls,
  marketplace versions and the subscription-wide VM and scale set lists of the in-use check.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from localrun.hostpools import deploy_pool
from localrun.runtime import LocalRuntime
from localrun.scenario import build, full_lifecycle, to_production
from shared.domain.catalog import load_catalog
from shared.domain.commands import Prune, StartRollout
from shared.domain.compute import RUN_TAG
from shared.domain.model import BuildReason, RunState, Status, VersionNumber
from shared.steps.rollout import gallery_version_id
from simulator.core import RequestLogEntry
from tests.e2e.conftest import with_retention
from tests.e2e.hostpool_scenario import POOL_RG, manual_policy, with_pools

REPO = Path(__file__).resolve().parents[2]
ROLE_ACTIONS = REPO / "infra" / "role-actions.json"
RESOURCE_GROUP_PATH = re.compile(r"^/subscriptions/[^/]+/resourceGroups/(?P<group>[^/]+)/", re.IGNORECASE)
SUBSCRIPTION_PATH = re.compile(r"^/subscriptions/[^/]+/providers/", re.IGNORECASE)

# Linked access checks: ARM's resource providers authorize these on the *referenced* resource
# while serving another request, so they never appear as requests of their own and the
# simulator cannot log them. Each one is implied by a request the app does make:
IMPLIED = {
    # PUT networkInterfaces with ipConfigurations[].subnet.id: Microsoft.Network checks that the
    # caller may join the subnet (LinkedAuthorizationFailed otherwise).
    "Microsoft.Network/virtualNetworks/subnets/join/action": "Microsoft.Network/networkInterfaces/write",
    # PUT virtualMachines with networkProfile.networkInterfaces[].id: Microsoft.Compute checks that
    # the caller may join the NIC to the VM.
    "Microsoft.Network/networkInterfaces/join/action": "Microsoft.Compute/virtualMachines/write",
}


@dataclass(frozen=True)
class Lifecycle:
    """What the scenario did: the runtime afterwards and the request log split by scope."""

    runtime: LocalRuntime
    image_group: str
    group_requests: tuple[RequestLogEntry, ...]
    hostpool_requests: tuple[RequestLogEntry, ...]
    subscription_requests: tuple[RequestLogEntry, ...]
    other_requests: tuple[RequestLogEntry, ...]

    @property
    def group_actions(self) -> set[str]:
        return {entry.action for entry in self.group_requests}

    @property
    def hostpool_actions(self) -> set[str]:
        return {entry.action for entry in self.hostpool_requests}

    @property
    def subscription_actions(self) -> set[str]:
        return {entry.action for entry in self.subscription_requests}


def role_actions() -> dict[str, list[str]]:
    document: dict[str, list[str]] = json.loads(ROLE_ACTIONS.read_text(encoding="utf-8"))
    return document


def run_every_path() -> LocalRuntime:
    """Every code path that calls ARM: builds, promotions, rollback, retention, sweeper, failures."""
    catalog = with_retention(load_catalog(REPO / "catalog"), "data-analyst", keep=1, grace_days=7)
    runtime = LocalRuntime(catalog)  # in-memory records: only the ARM side matters here
    sim = runtime.sim

    # A new source VM, build -> production -> dr, a patch build, a rollback; then another workload.
    full_lifecycle(runtime, "data-analyst")
    build(runtime, "office", "first-build", BuildReason.FIRST)
    runtime.tick_retention()  # the retention + sweeper timer
    runtime.run()

    # A newer production version makes the withdrawn 1.0.1 prunable: deprecate, then delete.
    build(runtime, "data-analyst", "patch-2027-01", BuildReason.PATCH)
    to_production(runtime, "data-analyst", "1.0.2", dr=False)
    runtime.submit(Prune(workload="data-analyst", requested_at=sim.clock.now()))
    runtime.run()
    sim.clock.advance(8 * 86400)
    runtime.submit(Prune(workload="data-analyst", requested_at=sim.clock.now()))
    runtime.run()

    # Failure paths: sysprep fails (temp VM and snapshot removed); replication fails after
    # capture (the new gallery version is deleted too).
    sim.faults.sysprep_fails("Fatal error occurred while trying to sysprep the machine.")
    build(runtime, "office", "sysprep-fails", BuildReason.PATCH)
    sim.faults.replication_fails("westeurope", times=5)
    build(runtime, "office", "replication-fails", BuildReason.PATCH)

    # An admin deallocated the source VM (directly in the backend: not an app request), so the
    # next run starts it; and that run's temp VM is refused, leaving its disk and NIC to the sweeper.
    sim.compute.power_action(runtime.settings.image_resource_group, "office--image--src", "deallocate")
    sim.clock.advance(600)
    sim.faults.fail_once(
        "Microsoft.Compute/virtualMachines/write",
        "OperationNotAllowed",
        "Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota.",
        status=409,
    )
    build(runtime, "office", "temp-vm-refused", BuildReason.PATCH)
    runtime.tick_retention()
    runtime.run()

    # Host pools: a manual rollout with users to message and sign off, an agent that fails (halt),
    # a resume, and an expired registration token renewed on the way.
    roll_host_pool(runtime)
    return runtime


def roll_host_pool(runtime: LocalRuntime) -> None:
    pool = manual_policy(drain_grace_minutes=0, batch_size=1, max_unavailable_percent=None)
    runtime.deps.catalog = runtime.catalog = with_pools(runtime.catalog, "data-analyst", pool)
    source = gallery_version_id(runtime.deps, runtime.catalog.get("data-analyst"), VersionNumber.parse("1.0.0"))
    deploy_pool(runtime, pool, source, hosts=2, users=2)
    runtime.sim.clock.advance(6 * 3600)  # the deployment's registration token has expired
    runtime.sim.faults.lro_fails("Microsoft.Compute/virtualMachines/extensions/write", "VMExtensionProvisioningError")
    for requested in ("admin@contoso.com", "admin@contoso.com"):  # the second one resumes the halted rollout
        runtime.submit(
            StartRollout(
                workload="data-analyst",
                pool=pool.name,
                run_id="lp-roll",
                version="1.0.2",
                requested_by=requested,
                requested_at=runtime.sim.clock.now(),
            )
        )
        runtime.run()


@pytest.fixture(scope="module")
def lifecycle() -> Lifecycle:
    """The scenario, run once for the module, with its requests split by the scope ARM authorizes them at."""
    runtime = run_every_path()
    log = tuple(runtime.sim.request_log)
    image_group = runtime.settings.image_resource_group

    def in_group(entry: RequestLogEntry, group: str) -> bool:
        found = RESOURCE_GROUP_PATH.match(entry.path)
        return found is not None and found["group"].lower() == group.lower()

    return Lifecycle(
        runtime=runtime,
        image_group=image_group,
        group_requests=tuple(e for e in log if in_group(e, image_group)),
        hostpool_requests=tuple(e for e in log if in_group(e, POOL_RG)),
        subscription_requests=tuple(e for e in log if SUBSCRIPTION_PATH.match(e.path)),
        other_requests=tuple(
            e for e in log if not (in_group(e, image_group) or in_group(e, POOL_RG) or SUBSCRIPTION_PATH.match(e.path))
        ),
    )


def test_scenario_reaches_every_path_that_calls_arm(lifecycle: Lifecycle) -> None:
    """The scenario really starts a VM, prunes and deletes a version, fails runs and sweeps leftovers."""
    runtime = lifecycle.runtime
    counts = runtime.sim.request_log.counts()
    assert counts["Microsoft.Compute/virtualMachines/start/action"] >= 1
    assert counts["Microsoft.Compute/galleries/images/versions/delete"] >= 2  # prune + failed replication
    assert counts["Microsoft.Compute/disks/delete"] >= 1  # sweeper
    assert counts["Microsoft.Network/networkInterfaces/delete"] >= 1  # sweeper
    assert counts["Microsoft.Compute/virtualMachineScaleSets/read"] >= 1  # in-use check before pruning
    statuses = {str(v.version): v.status for v in runtime.records.list_versions("data-analyst")}
    assert statuses["1.0.1"] is Status.DELETED
    for run_id in ("sysprep-fails", "replication-fails", "temp-vm-refused"):
        run = runtime.records.find_run("office", run_id)
        assert run is not None
        assert run.state is RunState.FAILED
    assert runtime.sim.live_resources(tag=RUN_TAG) == []  # the sweeper removed the leftovers
    assert runtime.trace.refusals == []


def test_requests_stay_in_the_image_resource_group_or_the_subscription(lifecycle: Lifecycle) -> None:
    """Every ARM request targets the image resource group (the Operator role's only scope), a host pool's
    resource group (the Host Pool Operator role's only scope) or a subscription-level path."""
    assert lifecycle.other_requests == ()
    assert lifecycle.group_requests
    assert lifecycle.hostpool_requests


def test_host_pool_rollout_scenario_reaches_every_path(lifecycle: Lifecycle) -> None:
    """The host pool phase drains, messages and signs off users, recreates and registers hosts, renews a token."""
    counts = lifecycle.runtime.sim.request_log.counts()
    for action in (
        "Microsoft.DesktopVirtualization/hostPools/sessionHosts/userSessions/sendMessage/action",
        "Microsoft.DesktopVirtualization/hostPools/sessionHosts/userSessions/delete",
        "Microsoft.DesktopVirtualization/hostPools/write",
        "Microsoft.Compute/virtualMachines/extensions/write",
    ):
        assert counts[action] >= 1, action
    rollouts = lifecycle.runtime.deps.rollouts
    assert rollouts is not None
    states = [e.kind for e in rollouts.events("data-analyst", manual_policy().key)]
    assert "halted" in states
    assert "resumed" in states
    assert states[-1] == "finished"


def test_every_action_used_in_host_pool_resource_groups_is_granted(lifecycle: Lifecycle) -> None:
    """The Host Pool Operator role grants every action the rollout performs in a host pool's resource group."""
    missing = sorted(lifecycle.hostpool_actions - set(role_actions()["hostPoolActions"]))
    assert missing == [], f"add to infra/role-actions.json `hostPoolActions`: {missing}"


def test_host_pool_role_grants_nothing_unused(lifecycle: Lifecycle) -> None:
    """Each Host Pool Operator action is used in a host pool's resource group or implied by a request that is."""
    implied = {action for action, by in IMPLIED.items() if by in lifecycle.hostpool_actions}
    unused = sorted(set(role_actions()["hostPoolActions"]) - lifecycle.hostpool_actions - implied)
    assert unused == [], f"remove from infra/role-actions.json `hostPoolActions`: {unused}"


def test_every_action_used_in_the_image_resource_group_is_granted(lifecycle: Lifecycle) -> None:
    """The Operator role grants every action the app performs in the image resource group (a new call fails here)."""
    missing = sorted(lifecycle.group_actions - set(role_actions()["actions"]))
    assert missing == [], f"add to infra/role-actions.json `actions`: {missing}"


def test_every_subscription_level_action_used_is_granted(lifecycle: Lifecycle) -> None:
    """The Subscription Reader role grants every action the app performs outside any resource group."""
    missing = sorted(lifecycle.subscription_actions - set(role_actions()["subscriptionActions"]))
    assert missing == [], f"add to infra/role-actions.json `subscriptionActions`: {missing}"


def test_operator_role_grants_nothing_unused(lifecycle: Lifecycle) -> None:
    """Each Operator action is used in the image resource group or implied by a request that is."""
    implied = {action for action, by in IMPLIED.items() if by in lifecycle.group_actions}
    unused = sorted(set(role_actions()["actions"]) - lifecycle.group_actions - implied)
    assert unused == [], f"remove from infra/role-actions.json `actions`: {unused}"


def test_subscription_role_grants_nothing_unused(lifecycle: Lifecycle) -> None:
    """Each Subscription Reader action is used on a subscription-level path."""
    unused = sorted(set(role_actions()["subscriptionActions"]) - lifecycle.subscription_actions)
    assert unused == [], f"remove from infra/role-actions.json `subscriptionActions`: {unused}"


def test_subscription_role_only_reads(lifecycle: Lifecycle) -> None:
    """The subscription-wide role holds reads only: every write, action and delete is confined to the image group."""
    assert all(action.endswith("/read") for action in role_actions()["subscriptionActions"])
    assert all(entry.method == "GET" for entry in lifecycle.subscription_requests)


def test_implied_actions_are_granted_and_never_logged(lifecycle: Lifecycle) -> None:
    """The linked-access actions are in the Operator role and are not requests the simulator sees."""
    assert set(IMPLIED) <= set(role_actions()["actions"])
    assert set(IMPLIED).isdisjoint(lifecycle.group_actions | lifecycle.subscription_actions)
    assert set(IMPLIED.values()) <= lifecycle.group_actions
