"""The customizations on the source VM (shared.steps.build_source): BitLocker off first, each
customization a managed Run Command with its timeout, restarts, and Windows Update in passes.

Against the recording compute of tests/unit/source_fakes.py: what runs in which order, what the run
records, and the literal reasons and audit lines an admin reads.
"""

from __future__ import annotations

import json
from datetime import timedelta

from shared.adapters import guest_scripts
from shared.domain.catalog import Builtin, Customization
from shared.domain.compute import ManagedScriptResult
from shared.domain.model import PendingOperation, Pointers
from shared.steps import build_source as bs
from tests.unit.source_fakes import MARKED, NOW, OFF, OFFICE, SRC, SourceCompute, context, ran, report, vm, volume


def test_a_customization_script_stops_at_the_first_error() -> None:
    """Every script runs with $ErrorActionPreference = 'Stop'; the builtin runs the Windows Update script."""
    script = Customization(name="x", script="  Write-Output 1\n")
    assert bs.customization_script(script) == "$ErrorActionPreference = 'Stop'\nWrite-Output 1"
    update = Customization(name="wu", builtin=Builtin.WINDOWS_UPDATE)
    assert bs.customization_script(update) == "$ErrorActionPreference = 'Stop'\n" + guest_scripts.WINDOWS_UPDATE.strip()


def test_bitlocker_is_turned_off_on_the_source_vm_first() -> None:
    """Before any customization: BITLOCKER_OFF on the source VM; its answer is audited and marked."""
    compute = SourceCompute()
    started = bs.step_customize(context(compute))
    assert compute.calls == [("start_script", (SRC, guest_scripts.BITLOCKER_OFF))]
    assert started.pending is not None
    assert started.pending.kind == "script:source-bitlocker-off"
    compute.script_results["op-1"] = volume("FullyEncrypted", 100)
    outcome = bs.step_customize(context(compute, OFF))
    assert outcome.next_step == "customize"
    assert outcome.run_updates == {"marks": {bs.SOURCE_BITLOCKER: NOW}}
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("source-bitlocker", f"source VM {SRC}: BitLocker FullyEncrypted (100% encrypted), decryption started; "
         "PreventDeviceEncryption=1 set")
    ]  # fmt: skip
    compute.script_results["op-1"] = volume("FullyDecrypted", 0)
    decrypted = bs.step_customize(context(compute, OFF))
    assert decrypted.audit[0].detail == (
        f"source VM {SRC}: BitLocker FullyDecrypted (0% encrypted); PreventDeviceEncryption=1 set"
    )


def test_the_first_customization_runs_as_a_managed_script_with_its_timeout() -> None:
    """Customization 0, pass 0: its own named command on the source VM, with the catalog's timeout."""
    compute = SourceCompute()
    outcome = bs.step_customize(context(compute, marks=MARKED))
    first = OFFICE.customizations[0]
    assert compute.calls == [
        ("start_managed_script", (SRC, "avd-wu0-p0", bs.customization_script(first), timedelta(minutes=90),
                                  "westeurope"))
    ]  # fmt: skip
    assert outcome.pending is not None
    assert outcome.pending.kind == "managed:wu0-p0"


def test_a_plain_customization_that_succeeded_moves_to_the_next() -> None:
    """m365-apps (no restart) exit 0: the next customization, from pass 0, no audit."""
    pending, results = ran("c1-p0")
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED, customization_index=1))
    assert outcome.next_step == "customize"
    assert outcome.run_updates == {"customization_index": 2, "customization_pass": 0}
    assert outcome.audit == []


def test_a_failed_customization_fails_the_run_naming_it() -> None:
    """A non-zero exit code: the run fails with the customization's name, the VM and the output."""
    pending, results = ran("c1-p0", state="Failed", code=3)
    results["avd-c1-p0"] = ManagedScriptResult("Failed", 3, "", "winget: no package", started=NOW)
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED, customization_index=1))
    assert outcome.fail == f"customization 'm365-apps' exited with code 3 on {SRC}: winget: no package"


def test_a_customization_that_asks_for_a_restart_restarts_the_vm() -> None:
    """fslogix (restart = true): the VM restarts once; the index moves on with the restart's wait."""
    pending, results = ran("c2-p0")
    compute = SourceCompute(managed=results)
    outcome = bs.step_customize(context(compute, pending, marks=MARKED, customization_index=2))
    assert compute.calls == [("start_restart", SRC)]
    assert outcome.pending is not None
    assert outcome.pending.kind == "vm-restart"
    assert outcome.run_updates == {"customization_index": 3, "customization_pass": 0}
    assert outcome.audit == []


def test_a_restart_under_way_is_followed_until_the_vm_is_back() -> None:
    """After the restart: back and running means customize again; not yet, the restart's wait."""
    restarting = PendingOperation(kind="vm-restart", started_at=NOW - timedelta(minutes=5))
    compute = SourceCompute(vms={SRC: vm()})
    back = bs.step_customize(context(compute, restarting, marks=MARKED, customization_index=2))
    assert (back.next_step, back.pending, back.run_updates) == ("customize", None, {})
    compute.vms[SRC] = vm(power="starting")
    waiting = bs.step_customize(context(compute, restarting, marks=MARKED, customization_index=2))
    assert waiting.next_step is None
    assert waiting.pending == restarting.model_copy(update={"checks": 1})


def test_windows_update_that_installed_updates_runs_another_pass_after_its_restart() -> None:
    """Updates installed and a restart asked: the same customization again at pass + 1, after a restart, audited."""
    pending, results = ran("wu0-p2", report("KB1", "KB2", reboot=True))
    compute = SourceCompute(managed=results)
    outcome = bs.step_customize(context(compute, pending, marks=MARKED, customization_pass=2))
    assert compute.calls == [("start_restart", SRC)]
    assert outcome.run_updates == {"customization_index": 0, "customization_pass": 3}
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("windows-update", f"Windows Update pass 3 on {SRC}: installed KB1, KB2; restarting")
    ]


def test_windows_update_that_installed_without_a_restart_runs_again_at_once() -> None:
    """Updates installed, no restart asked: the next pass without restarting."""
    pending, results = ran("wu0-p0", report("KB1"))
    compute = SourceCompute(managed=results)
    outcome = bs.step_customize(context(compute, pending, marks=MARKED))
    assert compute.calls == []
    assert outcome.next_step == "customize"
    assert outcome.run_updates == {"customization_index": 0, "customization_pass": 1}
    assert outcome.audit[0].detail == f"Windows Update pass 1 on {SRC}: installed KB1"


def test_windows_update_with_nothing_left_moves_on() -> None:
    """Nothing installed, no restart: the next customization; the audit says nothing was installed."""
    pending, results = ran("wu0-p4", report())
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED, customization_pass=4))
    assert outcome.run_updates == {"customization_index": 1, "customization_pass": 0}
    assert outcome.audit[0].detail == f"Windows Update pass 5 on {SRC}: installed nothing"


def test_windows_update_still_finding_updates_after_the_last_pass_fails() -> None:
    """Pass 8 of 8 still installs: the run fails saying so; pass 7 still goes on."""
    last = bs.MAX_UPDATE_PASSES - 1
    pending, results = ran(f"wu0-p{last}", report("KB9"))
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED,
                                        customization_pass=last))  # fmt: skip
    assert outcome.fail == f"customization 'windows-updates' still found updates after 8 passes on {SRC}"
    pending, results = ran(f"wu0-p{last - 1}", report("KB9"))
    earlier = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED,
                                        customization_pass=last - 1))  # fmt: skip
    assert earlier.fail is None
    assert earlier.run_updates == {"customization_index": 0, "customization_pass": last}


def test_an_update_reported_without_a_kb_still_counts_as_installed() -> None:
    """An installed update with no KB number: another pass follows, and the audit names no KB."""
    pending, results = ran("wu0-p0", json.dumps({"installed": [{"title": "Defender"}], "rebootRequired": False}))
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED))
    assert outcome.run_updates == {"customization_index": 0, "customization_pass": 1}
    assert outcome.audit[0].detail == f"Windows Update pass 1 on {SRC}: installed nothing"


def test_a_customization_is_first_looked_at_near_its_last_duration() -> None:
    """A customization does the same work every run: the first look comes at half of its last time.
    A Windows Update pass takes as long as the month's updates: its last time is not used."""
    last = {"managed:c1-p0": 600.0, "managed:wu0-p0": 600.0}
    script = bs.step_customize(context(SourceCompute(), marks=MARKED, customization_index=1,
                                       pointers=Pointers(workload="office", took=last)))  # fmt: skip
    assert script.pending is not None
    assert (script.pending.kind, script.wait) == ("managed:c1-p0", timedelta(seconds=300))
    update = bs.step_customize(context(SourceCompute(), marks=MARKED, pointers=Pointers(workload="office", took=last)))
    assert update.pending is not None
    assert (update.pending.kind, update.wait) == ("managed:wu0-p0", timedelta(seconds=15))
