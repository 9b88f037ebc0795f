"""The validate step's judgement: every check must be ok, the verdict is committed before the VM goes.

Drives shared.steps.versions._judge and _as_script_result directly with the in-memory record store,
so each rule of invariant 4 (docs/invariants.md) is pinned by a literal expectation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.domain.catalog import load_catalog
from shared.domain.commands import Envelope
from shared.domain.compute import ManagedScriptResult, ScriptResult
from shared.domain.errors import AzureOperationError
from shared.domain.model import ImageVersion, LifecycleEvent, Manifest, PendingOperation, Stage, Status, VersionNumber
from shared.domain.records import Changes
from shared.steps.versions import _as_script_result, _judge, _validation_checks
from tests.conftest import T0, make_version
from tests.unit.fakes import FakeClock, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
OFFICE = CATALOG.get("office")
V100 = VersionNumber.parse("1.0.0")
OK = {"bitlocker": "ok: FullyDecrypted after first boot", "PreventDeviceEncryption": "ok: 1", "manifest": "ok: same"}


def judged(
    checks: dict[str, str], stage: Stage | None = Stage.DR, status: Status = Status.READY
) -> tuple[ImageVersion, list[LifecycleEvent], list[Envelope], FakeClock]:
    """Judge 1.0.0 (in `stage`, `status`) on `checks`; the stored version, its events and the messages."""
    clock = FakeClock()
    deps = make_deps(CATALOG, clock=clock)
    version = make_version(status=status, stage=stage, op_attempt=3)
    deps.records.commit(Changes(workload="office", versions=[version]))
    version = deps.records.get_version("office", V100)  # with its ETag
    out = _judge(OFFICE, version, "vm-val", checks, deps, {"op_attempt": 4})
    return deps.records.get_version("office", V100), deps.records.list_events("office", V100), out, clock


def test_a_host_passes_only_when_every_check_is_ok() -> None:
    """All checks ok: passed evidence for the stage, in the stage's first region, at the clock's time."""
    version, events, out, clock = judged(OK)
    assert version.status is Status.READY
    [evidence] = version.validations
    assert (evidence.stage, evidence.passed, evidence.region, evidence.at) == (
        Stage.DR,
        True,
        "swedencentral",
        clock.now(),
    )
    assert evidence.checks == OK
    assert [(e.kind, e.actor, e.detail) for e in events] == [
        (
            "validation-passed",
            "step:validate",
            "vm-val: bitlocker: ok: FullyDecrypted after first boot; PreventDeviceEncryption: ok: 1; manifest: ok: same",
        )
    ]
    assert (events[0].from_status, events[0].to_status, events[0].stage) == (Status.READY, Status.READY, Stage.DR)
    assert [json.loads(m.body)["operation"] for m in out] == ["validate"]


def test_one_check_not_ok_fails_the_version() -> None:
    """A single check that does not start with "ok" (PreventDeviceEncryption missing) fails the version."""
    checks = {**OK, "PreventDeviceEncryption": "missing (value None)"}
    version, events, _, _ = judged(checks)
    assert version.status is Status.FAILED
    assert [e.passed for e in version.validations] == [False]
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [
        ("validation-failed", Status.READY, Status.FAILED)
    ]


def test_the_verdict_is_committed_with_the_cleanup_before_the_vm_is_deleted() -> None:
    """The judged version carries the validate-cleanup of its VM, so a redelivery never redeploys it."""
    version, _, out, clock = judged(OK)
    assert version.pending == PendingOperation(kind="validate-cleanup", resource_id="vm-val", started_at=clock.now())
    assert version.op_attempt == 4
    [message] = out
    assert message.scheduled_for is None
    assert json.loads(message.body)["attempt"] == 4


def test_a_version_no_longer_ready_keeps_its_status_but_still_cleans_up() -> None:
    """A version that left READY meanwhile (e.g. withdrawn) gets no evidence, only the VM's cleanup."""
    version, events, _, _ = judged(OK, status=Status.WITHDRAWN)
    assert (version.status, version.validations) == (Status.WITHDRAWN, ())
    assert version.pending is not None
    assert version.pending.kind == "validate-cleanup"
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [
        ("validation-passed", Status.WITHDRAWN, Status.WITHDRAWN)
    ]


def test_a_version_in_no_stage_is_not_judged() -> None:
    """Nothing to validate for: no evidence, no event, no message."""
    version, events, out, _ = judged(OK, stage=None)
    assert (version.validations, version.pending, events, out) == ((), None, [], [])


def test_a_finished_inventory_passes_its_output_on_unchanged() -> None:
    """Succeeded with exit code 0: the output is checked and there is no error."""
    managed = ManagedScriptResult(state="Succeeded", exit_code=0, stdout="{}", stderr="warning\n")
    assert _as_script_result(managed) == ScriptResult("{}", "")


def test_a_failed_inventory_becomes_the_checks_error() -> None:
    """A failed script reports its stripped stderr, cut to its last 300 characters."""
    managed = ManagedScriptResult(state="Failed", exit_code=1, stdout="out", stderr="  " + "x" * 290 + "tail-of-it\n")
    assert _as_script_result(managed) == ScriptResult("out", "x" * 290 + "tail-of-it")
    assert len(_as_script_result(managed).stderr) == 300


def test_a_silent_failure_names_its_state_and_exit_code() -> None:
    """No stderr: the error says how the script ended, so an empty error never passes validation."""
    timed_out = ManagedScriptResult(state="TimedOut", exit_code=None, stdout="", stderr=" \n")
    assert _as_script_result(timed_out) == ScriptResult("", "TimedOut (None)")
    nonzero = ManagedScriptResult(state="Succeeded", exit_code=2, stdout="o", stderr="")
    assert _as_script_result(nonzero) == ScriptResult("o", "Succeeded (2)")


def test_a_cut_inventory_is_an_error_even_when_it_succeeded() -> None:
    """Output cut to 4 KB cannot be judged: it becomes the error, whatever the state."""
    managed = ManagedScriptResult(state="Succeeded", exit_code=0, stdout="{", stderr="", truncated=True)
    assert _as_script_result(managed) == ScriptResult(
        "{", "the inventory was cut to its last 4 KB (no blob store configured)"
    )


def test_the_evidence_time_is_the_judgement_time() -> None:
    """Evidence is stamped when judged, not when the version was made."""
    version, _, _, clock = judged(OK)
    assert version.validations[0].at == clock.now() != T0


def inventory_json(hotfixes: list[str], volume: str = "FullyDecrypted") -> str:
    body = {
        "osBuild": "26100.7171",
        "osDisplayVersion": "24H2",
        "hotfixes": hotfixes,
        "apps": [],
        "registry": {"PreventDeviceEncryption": "1"},
        "bitlocker": {"volumeStatus": volume, "encryptionPercentage": 0},
    }
    return json.dumps(body)


def test_a_failed_inventory_is_the_only_check_and_names_the_vm() -> None:
    """An inventory error is one failed check, 'inventory', with the VM and the first 300 characters."""
    error = "  " + "e" * 299 + "cut-here\n"
    checks = _validation_checks(make_version(), ScriptResult("", error), "vm-val")
    assert checks == {"inventory": "failed on vm-val: " + "e" * 299 + "c"}


def test_a_drifted_manifest_names_the_first_ten_differences() -> None:
    """Hotfixes missing on the host fail the manifest check, listing at most ten differences."""
    recorded = make_version(manifest=Manifest(os_build="26100.7171", hotfixes=tuple(f"KB{n}" for n in range(10, 22))))
    checks = _validation_checks(recorded, ScriptResult(inventory_json([]), ""), "vm-val")
    expected = "; ".join(f"hotfix KB{n} missing" for n in range(10, 20))
    assert checks["manifest"] == "differs: " + expected
    same = make_version(manifest=Manifest(os_build="26100.7171", hotfixes=("KB1",)))
    assert _validation_checks(same, ScriptResult(inventory_json(["KB1"]), ""), "vm-val")["manifest"] == (
        "ok: matches the recorded manifest"
    )


def test_an_unreadable_inventory_names_the_vm_it_came_from() -> None:
    """Output that is not an inventory is refused with the VM named in the error."""
    with pytest.raises(AzureOperationError, match="^inventory on vm-val failed: "):
        _validation_checks(make_version(), ScriptResult('{"osBuild": "1"}', ""), "vm-val")


def test_a_long_script_error_keeps_its_last_300_characters() -> None:
    """The end of stderr is where PowerShell puts the reason: its last 300 characters are kept."""
    managed = ManagedScriptResult(state="Failed", exit_code=1, stdout="", stderr="a" + "b" * 300 + "\n")
    assert _as_script_result(managed).stderr == "b" * 300


def test_a_stage_the_workload_no_longer_has_is_judged_in_its_location() -> None:
    """No policy for the stage (DR removed from the catalog): the evidence names the workload's location."""
    deps = make_deps(CATALOG)
    no_dr = OFFICE.model_copy(update={"stages": OFFICE.stages.model_copy(update={"dr": None})})
    version = make_version(status=Status.READY, stage=Stage.DR)
    deps.records.commit(Changes(workload="office", versions=[version]))
    _judge(no_dr, deps.records.get_version("office", V100), "vm-val", OK, deps, {})
    assert deps.records.get_version("office", V100).validations[0].region == "westeurope"
