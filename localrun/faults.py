"""Faults made from outside the product, as an operator or an outage makes them.

Shared by the self-healing tests and `make reliability`, so that both break a local run the
same way: an admin's ARM call through the real SDK, a hook just before a step's message is
delivered, Table Storage refusing commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from azure.mgmt.compute import ComputeManagementClient

from localrun.runtime import LocalRuntime
from localrun.scenario import CrashingStore, approvers_of
from shared.domain.commands import ContinueRun, Envelope
from shared.domain.model import Stage
from shared.domain.records import Changes
from simulator import client_kwargs

RG = "rg-avd-images"


def operator(runtime: LocalRuntime) -> ComputeManagementClient:
    """What an admin in the portal uses: ARM, through the real SDK."""
    return ComputeManagementClient(**client_kwargs(runtime.sim))


def delete_by_hand(runtime: LocalRuntime, resource_type: str, name: str) -> None:
    """Start an ARM delete of a resource the product created ("vm" or "disk"), as an admin would."""
    client = operator(runtime)
    if resource_type == "vm":
        client.virtual_machines.begin_delete(RG, name, polling=False)
    elif resource_type == "disk":
        client.disks.begin_delete(RG, name, polling=False)


def at_step(runtime: LocalRuntime, step: str, action: Callable[[], None]) -> list[bool]:
    """Run `action` once, just before the first delivery of the run's message for `step`."""
    done: list[bool] = []

    def hook(envelope: Envelope) -> None:
        if done or envelope.subject != "continue-run":
            return
        command = ContinueRun.model_validate_json(envelope.body)
        if command.step == step:
            done.append(True)
            action()

    runtime._on_delivery = hook
    return done


class FailingCommits(CrashingStore):
    """Table Storage answering 503 to `count` commits in a row, from the first commit of `step` on."""

    def __init__(self, step: str, count: int) -> None:
        super().__init__()
        self.step, self.count, self.failed = step, count, 0

    def commit(self, changes: Changes) -> None:
        at_step = changes.run is not None and changes.run.step != "abort" and self._current(changes) == self.step
        if self.failed < self.count and (self.failed or at_step):
            self.failed += 1
            raise ConnectionError("503 Server Busy: the server is currently unable to receive requests")
        super().commit(changes)

    def _current(self, changes: Changes) -> str:
        run = self.find_run(changes.workload, changes.run.run_id) if changes.run else None
        return run.step if run is not None else ""


@contextmanager
def refusals_before(
    runtime: LocalRuntime, workload: str, version: str, before: Callable[[Changes], bool]
) -> Iterator[list[str]]:
    """Before each commit that `before` picks, three approvals of `version` for DR are handled (and
    refused: unrelated traffic on the workload between a step's read and its commit). Yields the
    rejection reasons as they come; the store commits as before once the block ends."""
    records: Any = runtime.records
    original = records.commit
    refusals: list[str] = []

    def commit(changes: Changes) -> None:
        if before(changes):
            for n in range(3):
                body = json.dumps(
                    {
                        "workload": workload,
                        "version": version,
                        "target_stage": "dr",
                        "approver_token": runtime.issuer.token_for(approvers_of(workload, Stage.DR)[0]),
                        "ticket": f"CHG-{n}",
                        "requested_at": runtime.sim.clock.now().isoformat(),
                    }
                )
                refusals.append(runtime.entrypoints.approval(f"refused-{len(refusals)}", body).rejected)
        original(changes)

    records.commit = commit
    try:
        yield refusals
    finally:
        records.commit = original
