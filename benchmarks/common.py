"""What the benchmarks, the reliability suite and their smoke tests share.

- catalogs of many workloads cloned from catalog/office.toml (unique names and image definitions);
- `Probe`: counts handler invocations, record-store round trips and commits (= state transitions)
  and marks phases at every command a scenario submits;
- the reference chains: the Azure operations any tool must wait for (and a Packer-style build),
  fixed lists priced from the duration table the simulator used in the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from localrun.runtime import LocalRuntime
from shared.domain.catalog import Catalog, Workload, load_catalog, parse_workload
from shared.domain.commands import Command, Promote, Rollback, StartBuild
from shared.domain.model import Stage
from shared.domain.records import Changes
from shared.steps import replication

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "catalog"
DOCS = ROOT / "docs"


# -- catalogs ---------------------------------------------------------------------------------------


def repo_catalog() -> Catalog:
    return load_catalog(CATALOG)


def office_template() -> Workload:
    workload, issues = parse_workload((CATALOG / "office.toml").read_text(encoding="utf-8"), "office.toml")
    if workload is None:
        raise RuntimeError(f"catalog/office.toml does not load: {issues}")
    return workload


def cloned_catalog(count: int, prefix: str = "wl") -> Catalog:
    """`count` workloads built from office.toml: own name, own image definition (the sprawl guard)."""
    template = office_template().model_dump()
    workloads = []
    for i in range(count):
        data = dict(template)
        data["name"] = f"{prefix}-{i:04d}"
        data["gallery"] = {**template["gallery"], "definition": f"{template['gallery']['definition']}-{i:04d}"}
        workloads.append(Workload.model_validate(data))
    return Catalog(workloads=tuple(workloads))


# -- instrumentation --------------------------------------------------------------------------------


@dataclass
class Invocation:
    """One handler invocation (a Service Bus delivery or an Event Grid event)."""

    kind: str  # "step", "approval", "event"
    round_trips: int
    commits: int
    label: str = ""


@dataclass
class Phase:
    """Everything between one submitted command and the next."""

    label: str
    command: Command
    start: datetime
    request_index: int
    commit_times: list[datetime] = field(default_factory=list)
    end_request_index: int = 0

    @property
    def end(self) -> datetime:
        return max(self.commit_times, default=self.start)

    @property
    def busy_seconds(self) -> float:
        """Virtual time from the command to the last state change it caused."""
        return (self.end - self.start).total_seconds()


class Probe:
    """Instruments a LocalRuntime without changing its behaviour.

    Wraps (per instance) the three entry points the triggers call, the store's `commit` and the
    runtime's `submit`. A commit is one state transition: it writes one single-partition
    transaction (state + audit).
    """

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.invocations: list[Invocation] = []
        self.phases: list[Phase] = []
        self.commits = 0
        records: Any = runtime.records
        self._store = records
        original_commit = records.commit

        def commit(changes: Changes) -> None:
            original_commit(changes)
            self.commits += 1
            if self.phases:
                self.phases[-1].commit_times.append(runtime.sim.clock.now())

        records.commit = commit
        entry: Any = runtime.entrypoints
        for name, kind in (("step_message", "step"), ("approval", "approval"), ("arm_event", "event")):
            setattr(entry, name, self._counted(getattr(entry, name), kind))
        original_submit = runtime.submit

        def submit(*commands: Command) -> None:
            for command in commands:
                if not self._same_promotion(command):  # a second approval belongs to the same phase
                    self._open_phase(command)
            original_submit(*commands)

        runtime.submit = submit  # type: ignore[method-assign]

    @property
    def round_trips(self) -> int:
        return int(self._store.round_trips)

    def _counted(self, handler: Callable[..., Any], kind: str) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            trips, commits = self.round_trips, self.commits
            try:
                return handler(*args, **kwargs)
            finally:
                label = _message_label(kind, args)
                self.invocations.append(Invocation(kind, self.round_trips - trips, self.commits - commits, label))

        return wrapped

    def _same_promotion(self, command: Command) -> bool:
        last = self.phases[-1].command if self.phases else None
        if not isinstance(command, Promote) or not isinstance(last, Promote):
            return False
        return (last.workload, last.version, last.target_stage) == (
            command.workload,
            command.version,
            command.target_stage,
        )

    def _open_phase(self, command: Command) -> None:
        log_size = len(self.runtime.sim.request_log)
        if self.phases:
            self.phases[-1].end_request_index = log_size
        self.phases.append(Phase(_label(command), command, self.runtime.sim.clock.now(), log_size))

    def close(self) -> None:
        if self.phases:
            self.phases[-1].end_request_index = len(self.runtime.sim.request_log)

    def requests(self, phase: Phase) -> dict[str, int]:
        entries = self.runtime.sim.request_log[phase.request_index : phase.end_request_index]
        reads = sum(1 for e in entries if e.is_read)
        return {"reads": reads, "writes": len(entries) - reads, "total": len(entries)}

    def actions(self, phase: Phase) -> list[str]:
        return [e.action for e in self.runtime.sim.request_log[phase.request_index : phase.end_request_index]]

    def by_step(self) -> dict[str, tuple[int, int, int]]:
        """label -> (invocations, commits, round trips)."""
        table: dict[str, tuple[int, int, int]] = {}
        for i in self.invocations:
            count, commits, trips = table.get(i.label, (0, 0, 0))
            table[i.label] = (count + 1, commits + i.commits, trips + i.round_trips)
        return table

    def transition_stats(self) -> dict[str, float]:
        """Round trips per state transition, over every invocation and over the committing ones."""
        committing = [i for i in self.invocations if i.commits]
        idle = [i for i in self.invocations if not i.commits]
        trips = sum(i.round_trips for i in self.invocations)
        return {
            "invocations": len(self.invocations),
            "transitions": sum(i.commits for i in self.invocations),
            "round_trips": trips,
            "per_transition_all": trips / max(1, sum(i.commits for i in self.invocations)),
            "per_transition_committing": sum(i.round_trips for i in committing)
            / max(1, sum(i.commits for i in committing)),
            "max_per_committing_invocation": max((i.round_trips / i.commits for i in committing), default=0),
            "noop_invocations": len(idle),
            "noop_round_trips": sum(i.round_trips for i in idle),
        }


def _message_label(kind: str, args: tuple[Any, ...]) -> str:
    """A message id without its workload and attempt (`run:step`, `version:validate` ...)."""
    if kind == "event":
        event = args[0] if args else {}
        data = event.get("data", {}) if isinstance(event, dict) else {}
        operation = str(data.get("operationName", "?")) if isinstance(data, dict) else "?"
        return f"event {operation.removeprefix('Microsoft.')}"
    message_id = str(args[0]) if args else ""
    parts = message_id.split(":")[1:]
    if len(parts) >= 2 and parts[0] not in ("rollback", "prune"):
        parts = parts[1:]  # the run id or the version
    name = parts[0] if parts else "?"
    return f"{kind} {name}" + (" (after an event)" if message_id.endswith(":event") else "")


def _label(command: Command) -> str:
    if isinstance(command, StartBuild):
        return f"build {command.run_id} ({command.reason.value})"
    if isinstance(command, Promote):
        return f"promote {command.version} to {command.target_stage.value}"
    if isinstance(command, Rollback):
        return "rollback"
    return type(command).__name__


# -- the reference chains -------------------------------------------------------------------------------
#
# Fixed lists of operations, priced from the duration table the simulator used in the run
# (`runtime.sim.durations`): nothing here looks at what the product did, so an operation the
# product adds (a clone, a validation VM, a late re-check) can only raise its ratio.


@dataclass(frozen=True)
class Op:
    step: str  # the part of the chain it belongs to
    what: str
    seconds: float


def source_ships_encrypted(workload: Workload) -> bool:
    """Whether a VM created from the workload's marketplace image boots BitLocker-encrypted.

    Read from the simulator's marketplace catalog (the offering's default) and the workload's
    security type (a Trusted Launch VM of these offerings encrypts itself), not from the product.
    """
    from simulator.backends.catalog import find_offering

    market = workload.base_image.marketplace
    if market is None:
        return False
    offering = find_offering(market.publisher, market.offer, market.sku)
    trusted = workload.security_type.value.startswith("TrustedLaunch")
    return bool(offering and offering.default_encrypted) or trusted


def _decrypt(d: dict[str, float], workload: Workload) -> list[Op]:
    if not source_ships_encrypted(workload):
        return []
    return [
        Op("bitlocker", "Run Command: BitLocker off (sysprep refuses an encrypted volume)", d["run_command"]),
        Op("bitlocker", "decryption to FullyDecrypted (128 GB)", d["bitlocker_decrypt_128gb"]),
    ]


def _image_chain(d: dict[str, float], workload: Workload, *, decrypt: bool) -> list[Op]:
    rc = d["run_command"]
    return [
        Op("create", "VM create from the source image", d["vm_create"]),
        Op("customize", "customizations: one Run Command", rc),
        *(_decrypt(d, workload) if decrypt else []),
        Op("sysprep", "Run Command starting sysprep /generalize /oobe /shutdown", rc),
        Op("sysprep", "sysprep until the VM shuts down", d["sysprep"]),
        Op("capture", "deallocate", d["vm_deallocate"]),
        Op("capture", "generalize", d["vm_generalize"]),
        Op("capture", "gallery version create incl. home-region replica", d["gallery_version_create"]),
    ]


def reference_build(d: dict[str, float], workload: Workload) -> list[Op]:
    """What any tool must wait for to put this workload's image in its test regions.

    Create from the source image, customize, sysprep, capture into the gallery, replicate. A
    lower bound: no decryption (a tool that keeps a decrypted source VM avoids it), no clone,
    no validation VM, no clean-up wait.
    """
    ops = _image_chain(d, workload, decrypt=False)
    if len(replication.target_regions(workload, Stage.TEST)) > 1:
        ops.append(Op("replicate", "replication to the other test regions (parallel)", d["replication_per_region"]))
    return ops


def packer_chain(d: dict[str, float], workload: Workload) -> list[Op]:
    """A Packer-style build: a fresh VM from the source image every time, then capture.

    It pays the decryption on every build when the source boots encrypted (sysprep refuses an
    encrypted volume), and ends when the version exists in its home region.
    """
    return _image_chain(d, workload, decrypt=True)


def reference_promotion(d: dict[str, float], workload: Workload, stage: Stage) -> list[Op]:
    """A promotion must wait only for replication, when the stage adds a region or a replica count."""
    previous = list(Stage)[stage.order - 1]
    before = {t.name: t.replica_count for t in replication.target_regions(workload, previous)}
    after = {t.name: t.replica_count for t in replication.target_regions(workload, stage)}
    if before == after:
        return []
    return [Op("replicate", f"replication to {stage.value} regions (parallel)", d["replication_per_region"])]


def reference_path(runtime: LocalRuntime, phase: Phase) -> list[Op]:
    """The reference chain of a phase (rollback and unknown commands: nothing to wait for)."""
    command = phase.command
    d = runtime.sim.durations
    if isinstance(command, StartBuild):
        return reference_build(d, runtime.catalog.get(command.workload))
    if isinstance(command, Promote):
        return reference_promotion(d, runtime.catalog.get(command.workload), command.target_stage)
    return []


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """The product logs every refusal at WARNING; benchmarks provoke thousands of them on purpose."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
