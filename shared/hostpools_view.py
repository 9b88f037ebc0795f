"""What runs where: per host pool, hosts per version, drained, with sessions, and the rollout.

Read by `avdimage hostpools`, `avdimage status` (which pools use a version) and the status page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.domain.errors import AzureOperationError
from shared.domain.hostpools import PoolInventory, Rollout, versions_in_use
from shared.steps.deps import Deps

PALETTE = ("#2f6fb0", "#c77c1e", "#4a9a5b", "#8a5cb8", "#b8434a", "#5f6b7a")


@dataclass(frozen=True)
class PoolView:
    inventory: PoolInventory
    rollout: Rollout | None = None

    @property
    def name(self) -> str:
        return self.inventory.pool.name


@dataclass
class Estate:
    pools: list[PoolView] = field(default_factory=list)

    def using(self) -> dict[str, list[str]]:
        """ "workload version" -> pools whose hosts run it."""
        used: dict[str, list[str]] = {}
        for view in self.pools:
            for version, pools in versions_in_use([view.inventory]).items():
                used.setdefault(f"{view.inventory.workload} {version}", []).extend(pools)
        return used


def estate(deps: Deps, workload: str | None = None) -> Estate:
    """Every host pool of the catalog (or one workload), joined to its VMs; unreachable pools say why."""
    result = Estate()
    if deps.hostpools is None:
        return result
    for item in deps.catalog.workloads:
        if workload is not None and item.name != workload:
            continue
        for policy in item.host_pools:
            try:
                inventory = PoolInventory(item.name, policy, tuple(deps.hostpools.hosts(policy.id)))
            except AzureOperationError as error:
                inventory = PoolInventory(item.name, policy, (), error=str(error))
            rollout = None
            if deps.rollouts is not None:
                runs = deps.rollouts.runs(item.name, policy.key)
                rollout = runs[-1] if runs else None
            result.pools.append(PoolView(inventory, rollout))
    return result


def _rollout_text(rollout: Rollout | None) -> str:
    if rollout is None:
        return "no rollout yet"
    text = f"rollout {rollout.run_id} to {rollout.target_version}: {rollout.state.value}"
    if rollout.state.value == "running":
        text += f" ({rollout.step})"
    if rollout.reason:
        text += f" - {rollout.reason}"
    return text


def lines(view: Estate) -> list[str]:
    """Plain text, 80 columns: one block per pool."""
    out: list[str] = []
    for pool in view.pools:
        inv = pool.inventory
        mode = inv.pool.rollout.value
        out.append(f"{inv.pool.name} ({inv.workload}, {mode}, {inv.pool.resource_group})"[:80])
        if inv.error:
            out.append(f"  unreachable: {inv.error}"[:80])
            continue
        counts = ", ".join(f"{n} on {v}" for v, n in sorted(inv.by_version().items()))
        out.append(f"  {len(inv.hosts)} hosts: {counts or 'none'}"[:80])
        out.append(f"  available {inv.available}, drained {inv.drained}, with sessions {inv.with_sessions}"[:80])
        out.append(f"  {_rollout_text(pool.rollout)}"[:80])
    return out or ["no host pools in the catalog"]


def as_json(view: Estate) -> list[dict[str, object]]:
    return [
        {
            "pool": p.inventory.pool.id,
            "workload": p.inventory.workload,
            "rollout_policy": p.inventory.pool.rollout.value,
            "error": p.inventory.error,
            "hosts": [
                {
                    "name": h.name,
                    "version": h.exact_version,
                    "status": h.status,
                    "drained": not h.allow_new_session,
                    "sessions": h.sessions,
                    "vm": h.vm_id,
                }
                for h in p.inventory.hosts
            ],
            "rollout": p.rollout.model_dump(mode="json") if p.rollout else None,
        }
        for p in view.pools
    ]


@dataclass(frozen=True)
class Segment:
    version: str
    hosts: int
    left: float  # percent
    width: float
    colour: str


def bars(view: Estate) -> list[tuple[PoolView, list[Segment]]]:
    """One bar per pool, a segment per version (same colour for the same version everywhere)."""
    versions: list[str] = sorted({v for p in view.pools for v in p.inventory.by_version()})
    colours = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(versions)}
    result = []
    for pool in view.pools:
        total = max(len(pool.inventory.hosts), 1)
        left, segments = 0.0, []
        for version, count in sorted(pool.inventory.by_version().items()):
            width = 100.0 * count / total
            segments.append(Segment(version, count, left, width, colours[version]))
            left += width
        result.append((pool, segments))
    return result


def pools_using(view: Estate, workload: str) -> dict[str, list[str]]:
    """Version -> pools of `workload` whose hosts run it (for `avdimage status`)."""
    prefix = f"{workload} "
    return {k.removeprefix(prefix): v for k, v in view.using().items() if k.startswith(prefix)}


def status_lines(view: Estate, workload: str) -> Sequence[str]:
    used = pools_using(view, workload)
    if not used:
        return []
    return ["Host pools by version:"] + [f"  {v}: {', '.join(sorted(set(p)))}"[:80] for v, p in sorted(used.items())]
