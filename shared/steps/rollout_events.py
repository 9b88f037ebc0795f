"""Route ARM events about session host VMs to the host pool rollout waiting for them.

A rollout replacing a batch waits for the VM delete, the VM create and the AVD agent (DSC extension)
install. Their completion events (success or failure) wake the waiting step at once; the step's own
re-check stays the safety net for a lost or late event. Only the VMs of the batch in flight count.
"""

from __future__ import annotations

import re

from shared.domain.commands import Envelope
from shared.domain.hostpools import RolloutState
from shared.steps.deps import Deps
from shared.steps.rollout import position

HOST_RESOURCE = re.compile(
    r"^(?P<vm>/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/virtualmachines/[^/]+)"
    r"(?P<extension>/extensions/[^/]+)?$",
    re.IGNORECASE,
)
# What each waiting step waits for: the VM itself, or its agent extension.
WAITS_ON = {"delete": False, "create": False, "register": True}


def route_rollout_event(uri: str, deps: Deps, lag: float | None = None) -> tuple[list[Envelope], str] | None:
    """The message that wakes the rollout waiting on this VM (or its extension), with how late the
    event came (`lag` seconds: the rollout's waits use it); None if no rollout waits on it."""
    match = HOST_RESOURCE.match(uri)
    if match is None or deps.rollouts is None:
        return None
    vm, extension = match["vm"].lower(), match["extension"] is not None
    for workload in deps.catalog.workloads:
        for policy in workload.host_pools:
            pool, _ = deps.rollouts.load(workload.name, policy.key, policy.id, None)
            if pool.active_run is None:
                continue
            _, run = deps.rollouts.load(workload.name, policy.key, policy.id, pool.active_run)
            if run is None or run.state is not RolloutState.RUNNING:
                continue
            batch = {run.vm_ids.get(host, "").lower() for host in run.batch}
            if vm not in batch:
                continue
            pending = run.pending.kind if run.pending is not None else ""
            if WAITS_ON.get(pending) is not extension:
                return [], f"ignored: rollout {run.run_id} of {policy.name} waits for {pending or 'nothing'} now"
            woken = position(run, "event").model_copy(update={"event_lag": lag})
            return [Envelope.wrap(woken)], f"continues rollout {run.run_id} of {policy.name}"
    return None
