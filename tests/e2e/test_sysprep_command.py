"""Sysprep runs as a managed Run Command that ends when sysprep does, so its completion is news.

`sysprep /generalize /oobe /quit /mode:vm` leaves the VM and its agent up: the command ends with
ImageState and the log, its PUT completes, and Azure's ResourceWriteSuccess event for the run
command continues the build (docs/simulator.md, "Run Command"). A guest that shut itself down
(/shutdown) gave no event, so the product read the VM until it saw it stopped, and the agent
could go down before it reported at all.
"""

from __future__ import annotations

from pathlib import Path

from localrun.runtime import START, LocalRuntime
from localrun.scenario import build
from shared.config import Settings
from shared.domain import naming
from shared.domain.model import BuildReason, Status, VersionNumber
from simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = "office"  # 24H2: arrives decrypted, so sysprep follows the clone at once
COMMAND = "runcommands/avd-sysprep"


def _runtime(**options: bool) -> LocalRuntime:
    """The product on a simulator whose events come at once (a late event is beaten by the back-off)."""
    sim = Simulator(
        subscription_id=Settings().subscription_id, start=START, auto_advance_on_poll=False, event_latency=(0.0, 0.0)
    )
    return LocalRuntime(ROOT / "catalog", simulator=sim, **options)


def _sysprep_reads(runtime: LocalRuntime) -> list[str]:
    """The GETs of the temp VM and its sysprep command from the command's start to the deallocation."""
    vm = naming.temp_resource_name(WORKLOAD, "first-build", "vm").lower()
    log = list(runtime.sim.request_log)
    start = next(i for i, e in enumerate(log) if e.method == "PUT" and e.path.lower().split("?")[0].endswith(COMMAND))
    end = next(i for i, e in enumerate(log) if i > start and e.path.lower().split("?")[0].endswith("/deallocate"))
    return [e.path for e in log[start:end] if e.is_read and vm in e.path.lower()]


def test_the_sysprep_commands_event_continues_the_build_with_few_reads() -> None:
    """With events, the build reads sysprep's command about once (was 17 reads of the VM) and the VM stays up for it."""
    runtime = _runtime()
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    version = runtime.records.get_version(WORKLOAD, VersionNumber.parse("1.0.0"))
    assert version.status is Status.READY, version.failure_reason
    reads = _sysprep_reads(runtime)
    assert 1 <= len(reads) <= 3, reads
    written = [
        e
        for e in runtime.sim.events.history
        if e["eventType"] == "Microsoft.Resources.ResourceWriteSuccess" and e["subject"].lower().endswith(COMMAND)
    ]
    assert len(written) == 1
    (done,) = [e.detail for e in runtime.records.list_events(WORKLOAD) if e.kind == "sysprep-done"]
    assert done.endswith("generalized (IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE)")


def test_without_event_grid_the_recheck_reads_the_commands_result() -> None:
    """Without events the back-off reads the command until it has ended; the build completes."""
    runtime = _runtime(event_grid=False)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    version = runtime.records.get_version(WORKLOAD, VersionNumber.parse("1.0.0"))
    assert version.status is Status.READY, version.failure_reason
    reads = _sysprep_reads(runtime)
    assert all(COMMAND in r.lower() for r in reads), reads  # the command's instance view, never the VM
    assert 3 <= len(reads) <= 20, reads
