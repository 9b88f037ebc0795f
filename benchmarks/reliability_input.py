"""The bad-input fault classes: hostile approvals, events and step messages, catalog mistakes.

The cases are localrun/bad_input.py's, the ones the function tests send.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT
from benchmarks.reliability_judge import Expect, FaultClass, Verdict
from localrun.runtime import LocalRuntime
from localrun.scenario import build
from shared.domain.catalog import Catalog, CatalogError, load_catalog
from shared.domain.model import BuildReason


def bad_input(catalog: Catalog) -> list[FaultClass]:
    from localrun.bad_input import ARM, BAD_APPROVALS, BAD_EVENTS, BAD_STEPS, signed

    approvals = FaultClass(
        "bad approvals",
        f"Every body in `localrun/bad_input.py` `BAD_APPROVALS` ({len(BAD_APPROVALS)}) put on the "
        "approvals queue of a runtime with data-analyst 1.0.0 in test. Completed = n/a; each must be refused "
        "with the expected reason (failed with reason) and change nothing.",
    )
    runtime = LocalRuntime(catalog)
    build(runtime, "data-analyst", "first-build", BuildReason.FIRST)
    before = _snapshot(runtime)
    for case, body, reason in BAD_APPROVALS:
        runtime.approve(signed(body, runtime), message_id=f"bad-{case}")
        runtime.run()
        mine = [r for r in runtime.records.list_rejections() if r.message_id == f"bad-{case}"]
        dead = [d for d in runtime.bus.dead_letters if d.envelope.message_id == f"bad-{case}"]
        if mine and reason in mine[0].reason:
            approvals.verdicts.append(Verdict(case, "failed", mine[0].reason))
        elif dead:
            approvals.verdicts.append(Verdict(case, "unexpected", f"dead-lettered, not refused: {dead[0].description}"))
        else:
            approvals.verdicts.append(Verdict(case, "lost", f"no rejection with {reason!r}"))
    if _snapshot(runtime) != before:
        approvals.notes.append("**records changed** by refused approvals")
    approvals.expect = Expect("failed", "refused with the case's reason, nothing changed")

    events = FaultClass(
        "bad Event Grid events and step messages",
        f"`BAD_EVENTS` ({len(BAD_EVENTS)}) through the Event Grid entry point and `BAD_STEPS` "
        f"({len(BAD_STEPS)}) on the step queue; each must be kept as a rejection with its reason.",
    )
    for case, data, reason in BAD_EVENTS:
        event = {"id": f"evt-{case}", "eventType": ARM, "subject": "s", "data": data, "dataVersion": "2"}
        event["eventTime"] = datetime(2026, 11, 2, 10, tzinfo=UTC).isoformat()
        handled = runtime.entrypoints.arm_event(event)
        events.verdicts.append(
            Verdict(case, "failed" if reason in handled.rejected else "lost", handled.rejected or "accepted")
        )
    for case, body, reason in BAD_STEPS:
        handled = runtime.entrypoints.step_message(f"step-{case}", body)
        events.verdicts.append(
            Verdict(case, "failed" if reason in handled.rejected else "lost", handled.rejected or "accepted")
        )
    if _snapshot(runtime) != before:
        events.notes.append("**records changed** by refused events")
    events.expect = Expect("failed", "kept as a rejection with the case's reason")

    catalogs = FaultClass(
        "catalog mistakes",
        "Broken workload files written to a temp folder next to a valid copy of office.toml and loaded with "
        "`load_catalog`; each must raise `CatalogError` whose issues name the field (or the cross-file rule) "
        "with file and reason. Refusals of approvals and events are written to the audit trail; "
        '"nothing changed" compares versions\' status, stage and approvals and the stage pointers.',
    )
    office = (ROOT / "catalog" / "office.toml").read_text(encoding="utf-8")
    mistakes: dict[str, tuple[str, str]] = {
        "toml-syntax": (office.replace('name = "office"', 'name = "office'), "(syntax)"),
        "missing-owner": (office.replace('owner = "euc-team@contoso.com"\n', ""), "owner"),
        "unknown-field": (office + '\ncolour = "blue"\n', "colour"),
        "bad-name": (office.replace('name = "office"', 'name = "Office Desktop"'), "name"),
        "duplicate-name": (office.replace("win11-24h2-office", "win11-24h2-office-2"), "is also defined in"),
        "duplicate-definition": (office.replace('name = "office"', 'name = "office-two"'), "image sprawl guard"),
        "bad-region": (office.replace('location = "westeurope"', 'location = "West Europe"'), "location"),
        "both-bases": (
            office.replace(
                "[gallery]",
                'source_vm = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/'
                'Microsoft.Compute/virtualMachines/src"\n\n[gallery]',
            ),
            "base_image",
        ),
        "no-approvers": (
            office.replace(
                'approvers = [{ group = "9e4c7a21-5b6d-4c8e-a1f3-2d7b8e9c0f50", label = "Change board" }]'
                "\n\n[stages.dr]",
                "\n[stages.dr]",
            ),
            "stages",
        ),
        "duplicate-customization": (office.replace('name = "m365-apps"', 'name = "fslogix"'), "must be unique"),
        "huge-script": (
            office.replace('builtin = "windows-update"', f'script = "{"x" * 210_000}"'),
            "customizations",
        ),
        "bad-version-pin": (office.replace("pinned = []", 'pinned = ["1.0"]'), "retention.pinned"),
        "keep-zero": (office.replace("keep = 3", "keep = 0"), "retention.keep"),
        "bad-vm-size": (office.replace('vm_size = "Standard_D4s_v5"', 'vm_size = "D4s"'), "vm_size"),
        "empty-file": ("", "name"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for case, (text, field_name) in mistakes.items():
            for old in folder.glob("*.toml"):
                old.unlink()
            (folder / "office.toml").write_text(office, encoding="utf-8")
            (folder / f"{case}.toml").write_text(text, encoding="utf-8")
            try:
                load_catalog(folder)
            except CatalogError as error:
                named = [i for i in error.issues if field_name in i.field or field_name in i.reason]
                if named:
                    catalogs.verdicts.append(Verdict(case, "failed", str(named[0])))
                else:
                    catalogs.verdicts.append(Verdict(case, "lost", f"issues do not name {field_name}: {error}"))
            except Exception as error:
                catalogs.verdicts.append(Verdict(case, "lost", f"{type(error).__name__}: {error}"))
            else:
                catalogs.verdicts.append(Verdict(case, "lost", "accepted"))
    catalogs.expect = Expect("failed", "CatalogError naming file, field and reason")
    return [approvals, events, catalogs]


def _snapshot(runtime: LocalRuntime) -> Any:
    records = runtime.records
    return [
        (
            w,
            [(str(v.version), v.status, v.stage, v.approvals) for v in records.list_versions(w)],
            records.get_pointers(w).model_dump(exclude={"event_count"}),
        )
        for w in runtime.catalog.names
    ]
