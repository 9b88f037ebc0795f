"""`make demo`: the product's main job on local stand-ins (Azurite, the simulator, the in-process bus).

Six weeks of an estate in well under a minute of wall time: timer-driven builds (new workloads, new
base images, Patch Tuesday), approvals arriving as messages, an incident and a one-message
rollback, event-driven retention, the sweeper, and a production version deleted by hand in the
portal, which reconcile detects and flags.

With `--state DIR` (what `make demo` passes: .demo) the demo starts its own Azurite with its
tables in DIR/azurite and saves the simulator to DIR/simulator.pickle at the end, so that
`avdimage --demo ...` and `make ui` work on the estate it leaves (localrun/state.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from azure.mgmt.compute import ComputeManagementClient
from rich.console import Console
from rich.table import Table
from rich.text import Text

from localrun.azurite import azurite, azurite_blob
from localrun.demo_hostpools import chapter as hostpool_chapter
from localrun.issuer import ANALYST_APPROVERS, OFFICE_APPROVERS, forged
from localrun.runtime import LocalRuntime
from localrun.state import TABLE, azurite_dir, save_simulator, simulator_file
from shared.adapters.table_records import TableRecordStore
from shared.domain.catalog import CatalogError, load_catalog
from shared.domain.model import LifecycleEvent, RunState, VersionNumber
from shared.domain.records import RecordStore
from shared.render import render_catalog, render_decisions, render_diff, render_report, render_runs
from shared.report import report_for
from shared.steps.versions import plan_prune
from shared.views import catalog_view, diff
from simulator import client_kwargs

ROOT = Path(__file__).resolve().parent.parent
console = Console(highlight=False)  # the terminal's width: everything below fits 80 columns


def narrate(label: Text, text: Text) -> None:
    """One line of the story: a short label, then text wrapped at words under itself (a hanging indent)."""
    grid = Table.grid(padding=(0, 1, 0, 2))
    grid.add_column(width=11, no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(label, text)
    console.print(grid)


class Demo:
    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.seen: set[tuple[str, str, int]] = set()

    def at(self, when: datetime, title: str) -> None:
        clock = self.runtime.sim.clock
        if when > clock.now():
            clock.advance_to(when)
        console.print()
        console.rule(style="dim")
        console.print(Text(f"{clock.now():%a %Y-%m-%d %H:%M}  {title}", style="bold"))

    def settle(self) -> None:
        """Deliver every message and advance virtual time until the estate is idle; show what happened."""
        self.runtime.run()
        fresh: list[LifecycleEvent] = []
        for workload in self.runtime.catalog.names:
            for event in self.runtime.records.list_events(workload):
                key = (workload, str(event.version), event.seq if event.seq >= 0 else hash((event.at, event.detail)))
                if key not in self.seen:
                    self.seen.add(key)
                    fresh.append(event)
        for event in sorted(fresh, key=lambda e: e.at):
            version = f" {event.version}" if event.version else ""
            line = Text()
            line.append(f"{event.workload}{version} ", style="cyan")
            line.append(event.kind, style="bold")
            line.append(f" ({event.actor}) ", style="dim")
            line.append(event.detail)  # whole: ids at the end are what an admin copies
            narrate(Text(f"{event.at:%m-%d %H:%M}", style="dim"), line)
        for refusal in self.runtime.trace.refusals:
            narrate(Text("refused", style="red"), Text(refusal))
        self.runtime.trace.refusals.clear()

    def approve(self, workload: str, version: str, stage: str, approver: str, ticket: str, token: str = "") -> None:
        """An approval system's message, signed for `approver` by the local stand-in for Entra ID."""
        body = {
            "workload": workload,
            "version": version,
            "target_stage": stage,
            "approver_token": token or self.runtime.issuer.token_for(approver),
            "ticket": ticket,
            "reason": "signed off by the pilot ring",
            "requested_at": self.runtime.sim.clock.now().isoformat(),
        }
        shown = {**body, "approver_token": f"<token of {approver}>"}
        narrate(Text("approval", style="green"), Text(json.dumps(shown)))
        self.runtime.approve(json.dumps(body))

    def rollback(self, workload: str, approver: str, ticket: str, reason: str) -> None:
        production = self.runtime.records.get_pointers(workload).production
        body = {
            "action": "rollback",
            "workload": workload,
            "version": str(production),
            "approver_token": self.runtime.issuer.token_for(approver),
            "ticket": ticket,
            "reason": reason,
            "requested_at": self.runtime.sim.clock.now().isoformat(),
        }
        shown = {**body, "approver_token": f"<token of {approver}>"}
        narrate(Text("rollback", style="yellow"), Text(json.dumps(shown)))
        self.runtime.approve(json.dumps(body))

    def promote_all(self, workload: str, version: str, stages: list[str], approvers: dict[str, list[str]]) -> None:
        for stage in stages:
            for person in approvers[stage]:  # production: two people (the two-person rule)
                self.approve(workload, version, stage, person, f"CHG-{workload}-{version}-{stage}")
                self.settle()

    def forged_approvals(self, workload: str, version: str) -> None:
        """What an attacker with only "Send" on the queue can do: nothing. Each is refused with its reason."""
        records = self.runtime.records
        before = records.get_pointers(workload).production
        for kind, what in FORGERIES:
            narrate(Text("forged", style="red"), Text(what))
            token = forged(self.runtime.issuer, kind)
            self.approve(workload, version, "production", f"forged: {kind}", f"FORGED-{kind}", token=token)
            self.settle()
        after = records.get_pointers(workload).production
        narrate(
            Text("result", style="bold"),
            Text(f"production of {workload}: {before or 'none'} before, {after or 'none'} after"),
        )


OFFICE = OFFICE_APPROVERS  # the sample catalog's people (localrun/issuer.py)
ANALYST = ANALYST_APPROVERS
FORGERIES = [
    ("unsigned", "an unsigned token (alg none) naming the change board chair"),
    ("wrong-issuer", "a token from another tenant"),
    ("wrong-audience", "a real token for another app of the tenant"),
    ("expired", "an expired token of the chair"),
    ("non-approver", "a valid token of mallory, who approves nothing"),
]


def newest(runtime: LocalRuntime, workload: str) -> str:
    return str(max(v.version for v in runtime.records.list_versions(workload)))


def scenario(demo: Demo) -> None:
    """Six weeks of an estate: everything below the approvals and the incident is started by timers."""
    runtime = demo.runtime
    runtime.start_timers(rebuild="0 0 6 * * *", sweep="0 30 0 * * *")  # production sweeps hourly; daily reads better
    demo.at(datetime(2026, 11, 2, 5, 0, tzinfo=UTC), "the rebuild timer (daily 06:00) finds two new workloads")
    runtime.run_until(datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
    demo.settle()
    demo.at(runtime.sim.clock.now(), "approval messages: test -> validation -> production -> dr")
    demo.promote_all("office", "1.0.0", ["validation"], OFFICE)
    demo.at(runtime.sim.clock.now(), "forged approvals for production: refused, production untouched")
    demo.forged_approvals("office", "1.0.0")
    demo.at(runtime.sim.clock.now(), "two people approve production: 1 of 2, then production")
    demo.promote_all("office", "1.0.0", ["production", "dr"], OFFICE)
    demo.promote_all("data-analyst", "1.0.0", ["validation", "production", "dr"], ANALYST)

    demo.at(
        runtime.sim.clock.now(),
        "timers run for two weeks: updates on the source VMs, a new 25H2 base image, Patch Tuesday + 7 days",
    )
    runtime.run_until(datetime(2026, 11, 17, 12, 0, tzinfo=UTC))
    demo.settle()
    office, analyst = newest(runtime, "office"), newest(runtime, "data-analyst")
    demo.promote_all("office", office, ["validation", "production"], OFFICE)
    demo.promote_all("data-analyst", analyst, ["validation", "production", "dr"], ANALYST)

    demo.at(
        datetime(2026, 11, 18, 9, 30, tzinfo=UTC),
        f"incident: Outlook crashes on office {office} -> one rollback message",
    )
    demo.rollback("office", "cab-chair@contoso.com", "INC-20261118", f"Outlook crashes at start on {office}")
    demo.settle()

    demo.at(runtime.sim.clock.now(), "timers run for four weeks: December's updates, base image and Patch Tuesday")
    runtime.run_until(datetime(2026, 12, 15, 12, 0, tzinfo=UTC))
    demo.settle()
    office, analyst = newest(runtime, "office"), newest(runtime, "data-analyst")
    demo.promote_all("office", office, ["validation", "production"], OFFICE)
    demo.promote_all("data-analyst", analyst, ["validation", "production", "dr"], ANALYST)

    demo.at(runtime.sim.clock.now(), "the sweep timer (00:30) runs retention and removes abandoned temporary resources")
    runtime.trace.sweeps.clear()
    runtime.run_until(datetime(2026, 12, 16, 1, 0, tzinfo=UTC))
    demo.settle()
    for note in runtime.trace.sweeps:
        at, _, what = note.partition(" ")
        narrate(Text("sweeper", style="magenta"), Text(f"{at} {what}"))
    for name in runtime.catalog.names:
        render_decisions(name, plan_prune(name, runtime.deps), console, dry_run=False)
    hand_deleted(demo)


def hand_deleted(demo: Demo) -> None:
    """Self-healing: a production version deleted by hand in the portal is detected by reconcile and flagged."""
    runtime = demo.runtime
    workload = runtime.catalog.get("data-analyst")
    production = runtime.records.get_pointers(workload.name).production
    demo.at(runtime.sim.clock.now(), f"an admin deletes data-analyst {production} (production) in the portal")
    client = ComputeManagementClient(**client_kwargs(runtime.sim))
    gallery = workload.gallery
    client.gallery_image_versions.begin_delete(
        gallery.resource_group, gallery.name, gallery.definition, str(production), polling=False
    )
    demo.settle()  # the delete event asks for a reconcile pass
    health = runtime.records.get_health(workload.name)
    for flag in health.flags if health else ():
        console.print(f"  [red]reconcile flags[/red] {flag}")


def summary(runtime: LocalRuntime) -> None:
    """What a new admin sees: the catalog, what changed in the last patch, the runs, governance."""
    deps = runtime.deps
    console.print()
    console.rule("[bold]The catalog after six weeks[/bold]")
    render_catalog(catalog_view(deps, with_usage=True), console)
    analyst = {v.version: v for v in runtime.records.list_versions("data-analyst")}
    render_diff(diff(analyst[VersionNumber.parse("1.0.0")], analyst[VersionNumber.parse("1.0.1")]), console)
    render_runs([r for w in runtime.catalog.names for r in runtime.records.list_runs(w)], console)
    render_report(report_for(deps), console)
    leaked = runtime.sim.live_resources(tag="avd-lifecycle-run")
    totals = runtime.sim.request_log.totals()
    console.print(
        f"ARM requests: {totals['reads']} reads, {totals['writes']} writes; temporary resources left: {len(leaked)}; "
        f"dead letters: {len(runtime.bus.dead_letters)}; rejected messages: {len(runtime.records.list_rejections())}"
    )


@contextmanager
def _records(state: Path | None) -> Iterator[tuple[RecordStore | None, str, str | None]]:
    """Azurite persisted under `state`, the Azurite `make test` started, or memory."""
    if state is not None:
        shutil.rmtree(state, ignore_errors=True)  # every `make demo` starts a new estate
        blobs = azurite_dir(state) / "blobs"
        with azurite(azurite_dir(state)) as (_, connection), azurite_blob(blobs) as (_, blob_connection):
            os.environ["AVD_BLOBS_CONNECTION_STRING"] = blob_connection  # Run Command output, as with_azurite
            records = TableRecordStore.from_connection_string(connection, TABLE)
            records.ensure_table()
            yield records, f"Azurite, kept in {state}/", connection
        return
    connection = os.environ.get("AVD_TABLES_CONNECTION_STRING")
    if connection:
        records = TableRecordStore.from_connection_string(connection, TABLE)
        records.ensure_table()
        yield records, "Azurite (Table Storage)", connection
        return
    console.print(Text("no --state and no AVD_TABLES_CONNECTION_STRING: records in memory", style="yellow"))
    yield None, "memory", None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localrun.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, help="keep Azurite's tables and the simulator here (make demo: .demo)")
    args = parser.parse_args(argv)
    logging.getLogger("avdimage").setLevel(logging.ERROR)  # the demo shows refusals itself
    try:
        catalog = load_catalog(ROOT / "catalog")
    except CatalogError as error:
        console.print(Text(str(error), style="red"))
        return 1
    with _records(args.state) as (records, where, _connection):
        runtime = LocalRuntime(catalog, records=records, start=datetime(2026, 11, 2, 5, 0, tzinfo=UTC))
        console.print(
            Text.assemble(
                ("AVD Image Lifecycle demo", "bold"),
                f": catalog {', '.join(catalog.names)}; records in {where}; Azure simulated on a virtual clock",
            )
        )
        demo = Demo(runtime)
        scenario(demo)
        summary(runtime)
        pools_ok = hostpool_chapter(console, runtime, ROOT / "catalog", args.state)
        if args.state is not None:
            save_simulator(runtime.sim, simulator_file(args.state))
            console.print()
            console.rule("[bold]Now it is yours[/bold]")
            console.print(
                Text(
                    f"The estate is kept in {args.state}/ (Azurite's tables and the simulator). Try:\n"
                    "  .venv/bin/avdimage --demo catalog\n"
                    "  .venv/bin/avdimage --demo status office\n"
                    "  .venv/bin/avdimage --demo history office --stage production\n"
                    "  .venv/bin/avdimage --demo hostpools\n"
                    "  make ui    (the status page at a local URL)"
                )
            )
        failed = [r for w in catalog.names for r in runtime.records.list_runs(w) if r.state is not RunState.SUCCEEDED]
    broken = [d for d in runtime.bus.dead_letters if d.reason != "Rejected"]  # refused forgeries are expected
    return 1 if failed or broken or not pools_ok else 0


if __name__ == "__main__":
    sys.exit(main())
