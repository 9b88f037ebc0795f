"""The reference chains: the Azure operations any tool must wait for to get the same result.

Fixed lists of operations priced from the duration table the simulator used in the run
(`runtime.sim.durations`). What they contain comes from the workload's catalog entry (its
customizations, its source image, its stages) and from the simulated world (the marketplace
image's cumulative update, the month's updates, the Windows guest's script costs), never from
what the product did: an operation the product adds (a validation VM, an inventory, a late
re-check, a clean-up wait) can only raise its ratio.

The result a build must deliver: an image version in the test regions with the workload's
customizations applied, and the workload's source VM kept as the authoritative, updated copy
(docs: DESIGN "Clone": sysprep destroys a VM's usefulness, so it never runs on the source VM).
So every build copies the source OS disk (snapshot, then a disk from it) and creates the VM
that sysprep consumes (the report also shows the chain of a tool that keeps no source VM).

With seeded duration variance, each Azure operation takes the table's value times a log-normal
factor (simulator/timing.py). Its mean is above 1, so an operation the run did not draw is
priced at the table times that mean (`mean_variance_factor`): the expected chain, not its
median. The guest's own work (`GUEST_WORK`: BitLocker decryption, sysprep, Windows Update,
app installs) is not varied: the simulated guest reads it from the table as it is
(simulator/backends/guest.py, guest_script.py), so it is priced at the table's value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain import naming
from shared.domain.catalog import Builtin, Customization, Workload
from shared.domain.model import Stage
from shared.steps import replication


@dataclass(frozen=True)
class Op:
    step: str  # the part of the chain it belongs to
    what: str
    seconds: float


@dataclass(frozen=True)
class SourceState:
    """What Windows Update will find on the source VM: its update level and MSRT month."""

    ubr: int
    msrt_month: str


# Durations the simulated guest reads from the table without variance (run_script is given
# ctx.durations, not a varied copy): pricing them at the mean factor would overprice the chain.
GUEST_WORK = frozenset(
    {"bitlocker_decrypt_128gb", "sysprep", "sysprep_failure", "windows_update_scan", "windows_update_install",
     "app_install"}
)  # fmt: skip


# Kinds whose operations a chain lists in the order any tool starts them (the source VM before
# the VM sysprep consumes, one snapshot, one disk, one deallocate ...): each is priced at the
# draw Azure made for that operation, not at the mean of the phase's draws of its kind, which
# would mix in a VM created after the build served test or a second Run Command. Scripts'
# starts and replications stay at the mean (several per chain step, or parallel regions).
IN_ORDER = frozenset(
    {"vm_create", "snapshot_create", "disk_create", "vm_deallocate", "vm_generalize", "gallery_version_create",
     "run_command", "vm_restart"}
)  # fmt: skip


def mean_variance_factor() -> float:
    """E[factor] of the simulator's seeded duration variance (clamped log-normal), by quadrature."""
    from simulator import timing

    steps, lo, hi = 4000, -6.0, 6.0
    width = (hi - lo) / steps
    total = 0.0
    for i in range(steps):
        z = lo + (i + 0.5) * width
        density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        total += min(timing.HIGHEST, max(timing.LOWEST, math.exp(timing.SPREAD * z))) * density * width
    return total


def _offering(workload: Workload):  # type: ignore[no-untyped-def]
    from simulator.backends.catalog import find_offering

    market = workload.base_image.marketplace
    return None if market is None else find_offering(market.publisher, market.offer, market.sku)


def source_ships_encrypted(workload: Workload) -> bool:
    """Whether a VM created from the workload's marketplace image boots BitLocker-encrypted.

    Read from the simulator's marketplace catalog (the offering's default) and the workload's
    security type (a Trusted Launch VM of these offerings encrypts itself), not from the product.
    """
    offering = _offering(workload)
    if offering is None:
        return False
    trusted = workload.security_type.value.startswith("TrustedLaunch")
    return bool(offering.default_encrypted) or trusted


def fresh_source(workload: Workload, at: datetime) -> SourceState | None:
    """A VM created now from the workload's marketplace image (its pinned version, or the latest)."""
    from simulator.backends import catalog

    offering, market = _offering(workload), workload.base_image.marketplace
    if offering is None or market is None:
        return None
    image = catalog.resolve(offering, market.version, at)
    return None if image is None else SourceState(image.update.ubr, "")


def installed_on(sim: Any, workload: str) -> SourceState | None:
    """What the simulated Windows guest of the workload's source VM has installed now (None: no such VM).

    Read from the simulator's guest (its update level and MSRT month), the simulated world, not
    from the product's records: a build's chain starts from the source VM as it really is.
    """
    name = naming.source_vm_name(workload).lower()
    vm = next((v for v in sim.compute.vms.values() if v.res.name.lower() == name), None)
    guest = None if vm is None else sim.compute.guest_of(vm)
    return None if guest is None else SourceState(guest.ubr, guest.msrt_month)


def windows_update(d: dict[str, float], workload: Workload, source: SourceState | None, at: datetime) -> list[Op]:
    """The Windows Update Agent's passes until a search finds nothing, on a source in `source`'s state.

    The month's cumulative update (if newer than the source) needs a restart before the Malicious
    Software Removal Tool is offered; the last search that finds nothing is how any tool knows
    it is done. Costs: one managed Run Command start per pass, a search, each install.
    """
    from simulator.backends import catalog

    offering = _offering(workload)
    start, scan = d["run_command_start"], d["windows_update_scan"]
    if offering is None or source is None:  # unknown source: one search that finds nothing
        return [Op("customize", "Windows Update: one search", start + scan)]
    cu = catalog.current_update(offering, at)
    month = f"{cu.year}-{cu.month:02d}"
    ops = []
    if cu.ubr > source.ubr:
        ops.append(Op("customize", f"Windows Update: search + {cu.kb}", start + scan + d["windows_update_install"]))
        ops.append(Op("customize", "restart (the cumulative update asks for it)", d["vm_restart"]))
    if source.msrt_month != month:
        ops.append(Op("customize", "Windows Update: search + MSRT", start + scan + d["windows_update_install"] / 20))
    ops.append(Op("customize", "Windows Update: a search that finds nothing", start + scan))
    return ops


def script(d: dict[str, float], customization: Customization) -> list[Op]:
    """A script customization: one managed Run Command running what the script does in the guest."""
    from simulator.backends.guest_script import estimate_seconds

    work = estimate_seconds(customization.script.splitlines(), d)
    ops = [Op("customize", f"{customization.name}: managed Run Command", d["run_command_start"] + work)]
    if customization.restart:
        ops.append(Op("customize", f"{customization.name}: restart", d["vm_restart"]))
    return ops


def customizations(d: dict[str, float], workload: Workload, source: SourceState | None, at: datetime) -> list[Op]:
    ops: list[Op] = []
    for item in workload.customizations:
        ops += windows_update(d, workload, source, at) if item.builtin is Builtin.WINDOWS_UPDATE else script(d, item)
    return ops


def after_build(workload: Workload, source: SourceState | None, at: datetime) -> SourceState | None:
    """The source VM's state once a build at `at` applied the customizations (updates included)."""
    from simulator.backends import catalog

    offering = _offering(workload)
    updates = any(c.builtin is Builtin.WINDOWS_UPDATE for c in workload.customizations)
    if offering is None or source is None or not updates:
        return source
    cu = catalog.current_update(offering, at)
    return SourceState(max(source.ubr, cu.ubr), f"{cu.year}-{cu.month:02d}")


def _decrypt(d: dict[str, float]) -> list[Op]:
    return [
        Op("bitlocker", "Run Command: BitLocker off (sysprep refuses an encrypted volume)", d["run_command"]),
        Op("bitlocker", "decryption to FullyDecrypted (128 GB)", d["bitlocker_decrypt_128gb"]),
    ]


def _parallel(left: list[Op], right: list[Op], label: str) -> list[Op]:
    """Two chains that run side by side cost the longer one; the shorter is listed at 0 s."""
    a, b = sum(o.seconds for o in left), sum(o.seconds for o in right)
    longer, shorter = (left, right) if a >= b else (right, left)
    return [*longer, *(Op(o.step, f"{o.what} ({label}, in parallel)", 0.0) for o in shorter)]


def _capture(d: dict[str, float], workload: Workload) -> list[Op]:
    ops = [
        Op("sysprep", "Run Command starting sysprep /generalize /oobe /quit", d["run_command_start"]),
        Op("sysprep", "sysprep until resealed (ImageState)", d["sysprep"]),
        Op("capture", "deallocate (stops the VM)", d["vm_deallocate"]),
        Op("capture", "generalize", d["vm_generalize"]),
        Op("capture", "gallery version create incl. home-region replica", d["gallery_version_create"]),
    ]
    if len(replication.target_regions(workload, Stage.TEST)) > 1:
        ops.append(Op("replicate", "replication to the other test regions (parallel)", d["replication_per_region"]))
    return ops


def reference_build(
    d: dict[str, float], workload: Workload, at: datetime, source: SourceState | None, *, first: bool
) -> list[Op]:
    """What any tool that keeps the source VM must wait for to put this build's image in test.

    First build: create the source VM; its decryption (when it boots encrypted) runs beside the
    customizations. Every build: the customizations, a copy of the source OS disk (snapshot, disk),
    the VM that sysprep consumes, sysprep, capture. No validation VM, no inventory, no clean-up.
    """
    ops: list[Op] = []
    custom = customizations(d, workload, source, at)
    if first:
        ops.append(Op("create", "source VM create from the marketplace image", d["vm_create"]))
        if source_ships_encrypted(workload):
            custom = _parallel(custom, _decrypt(d), "decryption")
    ops += custom
    ops += [
        Op("clone", "snapshot of the source OS disk", d["snapshot_create"]),
        Op("clone", "disk from the snapshot", d["disk_create"]),
        Op("clone", "VM create on that disk (sysprep consumes it)", d["vm_create"]),
    ]
    return ops + _capture(d, workload)


def reference_prepare(
    d: dict[str, float], workload: Workload, at: datetime, source: SourceState | None, *, first: bool
) -> list[Op]:
    """A prepare run: the source VM takes the customizations (the month's updates first), no image.

    First (no source VM yet): its create, and its decryption beside the customizations when it boots
    encrypted. Nothing is copied, sysprepped or captured.
    """
    custom = customizations(d, workload, source, at)
    if not first:
        return custom
    if source_ships_encrypted(workload):
        custom = _parallel(custom, _decrypt(d), "decryption")
    return [Op("create", "source VM create from the marketplace image", d["vm_create"]), *custom]


def packer_chain(d: dict[str, float], workload: Workload, at: datetime) -> list[Op]:
    """A Packer-style build: a fresh VM from the marketplace image every time, customized, captured.

    It pays the decryption on every build when the source boots encrypted (sysprep refuses an
    encrypted volume; it can run beside the customizations) and the month's updates on top of the
    marketplace image; it ends when the version exists in its home region.
    """
    source = fresh_source(workload, at)
    custom = customizations(d, workload, source, at)
    if source_ships_encrypted(workload):
        custom = _parallel(custom, _decrypt(d), "decryption")
    return [Op("create", "VM create from the marketplace image", d["vm_create"]), *custom, *_capture(d, workload)]


def reference_promotion(d: dict[str, float], workload: Workload, stage: Stage) -> list[Op]:
    """A promotion must wait only for replication, when the stage adds a region or a replica count."""
    previous = list(Stage)[stage.order - 1]
    before = {t.name: t.replica_count for t in replication.target_regions(workload, previous)}
    after = {t.name: t.replica_count for t in replication.target_regions(workload, stage)}
    if before == after:
        return []
    return [Op("replicate", f"replication to {stage.value} regions (parallel)", d["replication_per_region"])]


def scaled(ops: list[Op], factor: float) -> list[Op]:
    return [Op(o.step, o.what, o.seconds * factor) for o in ops]
