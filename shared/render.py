"""How the read models look to people: rich tables for the CLI and the demo.

Everything here takes what `shared.views`, `shared.report` and the retention plan return and
prints it; nothing here reads records or decides anything. The HTML status page is in
`shared.page` (jinja2 templates in shared/templates/).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shared.domain.model import LifecycleEvent, RejectedMessage
from shared.domain.retention import Action, Decision
from shared.report import DESCRIPTIONS, GovernanceReport
from shared.views import ManifestDiff, VersionRow, WorkloadSummary

BADGE_STYLES = {
    "production": "bold white on green",
    "rollback target": "bold black on yellow",
    "dr": "white on magenta",
    "validation": "white on blue",
    "test": "white on blue",
    "deprecated": "black on grey70",
    "withdrawn": "white on red",
    "failed": "white on red",
    "in progress": "black on cyan",
    "pinned": "black on white",
}


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else ""


def _date(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d}" if at else ""


def badges(names: Iterable[str]) -> Text:
    text = Text()
    for name in names:
        if text:
            text.append(" ")
        text.append(f" {name} ", style=BADGE_STYLES.get(name, "reverse"))
    return text


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _named(row: VersionRow | None) -> str:
    return f"{row.display_name} ({row.version})" if row else "-"


def _vms(row: VersionRow) -> str:
    return "?" if row.vms is None else str(row.vms)


def render_catalog(summaries: Sequence[WorkloadSummary], console: Console) -> None:
    """Which image to pick: per workload production, rollback target, what is coming, what is going."""
    overview = _table(
        "Image catalog",
        "Workload",
        "Owner",
        "Production",
        "Rollback target",
        "DR",
        "Coming (validation/test)",
        "Deprecated (end of life)",
    )
    for summary in summaries:
        coming = [f"{r.display_name} ({r.version}, {r.stage})" for r in summary.in_validation + summary.in_test]
        going = [f"{r.display_name} ({r.version}, EOL {_date(r.end_of_life)})" for r in summary.deprecated]
        overview.add_row(
            summary.name,
            summary.owner,
            _named(summary.production),
            _named(summary.rollback_target),
            _named(summary.dr),
            "\n".join(coming) or "-",
            "\n".join(going) or "-",
        )
    console.print(overview)
    for summary in summaries:
        render_versions(summary, console)


def render_versions(summary: WorkloadSummary, console: Console) -> None:
    table = _table(
        f"{summary.name}: {summary.image_definition}",
        "Version",
        "Display name",
        "Role",
        "Status",
        "OS build",
        "VMs/VMSS",
        "Built",
        "End of life",
    )
    for row in summary.versions:
        table.add_row(
            row.version,
            row.display_name,
            badges(row.badges),
            row.status,
            row.os_build,
            _vms(row),
            _date(row.created_at),
            _date(row.end_of_life),
        )
    if not summary.versions:
        table.add_row("-", "no versions yet", "", "", "", "", "", "")
    console.print(table)


def render_status(summary: WorkloadSummary, console: Console) -> None:
    """One workload in detail: what it is for, who owns it, every version with its approvals."""
    console.print(f"[bold]{summary.name}[/bold]  {summary.os_label} | {summary.workload_label}", highlight=False)
    console.print(f"owner: {summary.owner}", highlight=False, markup=False)
    console.print(f"purpose: {summary.purpose}", highlight=False, markup=False)
    console.print(f"image definition: {summary.image_definition}", highlight=False, markup=False)
    console.print(f"production: {_named(summary.production)}", highlight=False, markup=False)
    console.print(f"rollback target: {_named(summary.rollback_target)}", highlight=False, markup=False)
    console.print(f"dr: {_named(summary.dr)}", highlight=False, markup=False)
    console.print(f"active run: {summary.active_run or '-'}", highlight=False, markup=False)
    table = _table("Versions", "Version", "Display name", "Role", "Status", "VMs/VMSS", "Approvals", "Notes")
    for row in summary.versions:
        notes = row.failure_reason or (f"end of life {_date(row.end_of_life)}" if row.end_of_life else "")
        table.add_row(
            row.version,
            row.display_name,
            badges(row.badges),
            row.status,
            _vms(row),
            "\n".join(row.approvals) or "-",
            notes,
        )
    console.print(table)


def render_history(workload: str, events: Sequence[LifecycleEvent], console: Console) -> None:
    table = _table(f"{workload}: lifecycle history", "When (UTC)", "Version", "Event", "Who/what", "Why/detail")
    for event in sorted(events, key=lambda e: (e.at, str(e.version or ""), e.seq)):
        table.add_row(_when(event.at), str(event.version or "-"), event.kind, event.actor, event.detail)
    console.print(table)


def render_diff(change: ManifestDiff, console: Console) -> None:
    table = _table(f"{change.workload}: {change.older} -> {change.newer}", "What", "Change")
    if change.os_build:
        table.add_row("OS build", f"{change.os_build[0]} -> {change.os_build[1]}")
    rows = [
        ("hotfix added", change.hotfixes_added),
        ("hotfix removed", change.hotfixes_removed),
        ("app added", change.apps_added),
        ("app removed", change.apps_removed),
        ("app upgraded/changed", change.apps_changed),
        ("registry", change.registry_changed),
    ]
    for label, values in rows:
        for value in values:
            table.add_row(label, value)
    if change.empty:
        table.add_row("-", "no difference in the recorded manifests")
    console.print(table)


def render_decisions(workload: str, decisions: Sequence[Decision], console: Console, *, dry_run: bool) -> None:
    title = f"{workload}: retention plan" + (" (dry run: nothing changes)" if dry_run else "")
    table = _table(title, "Version", "Display name", "Action", "Why", "End of life")
    styles = {Action.KEEP: "green", Action.DEPRECATE: "yellow", Action.DELETE: "red"}
    for d in decisions:
        table.add_row(
            str(d.version), d.display_name, Text(d.action.value, style=styles[d.action]), d.reason, _date(d.end_of_life)
        )
    console.print(table)


def render_report(report: GovernanceReport, console: Console) -> None:
    table = _table(
        f"Governance report ({', '.join(report.workloads)}; "
        f"minimal-image check over the last {report.last_builds} builds)",
        "Check",
        "Workload",
        "Subject",
        "Finding",
    )
    for finding in report.findings:
        table.add_row(finding.check.value, finding.workload or "-", finding.subject, finding.detail)
    if report.findings:
        console.print(table)
    else:
        console.print(f"Governance report ({', '.join(report.workloads)}): no findings", highlight=False)
    for check, description in DESCRIPTIONS.items():
        if check in report.skipped:
            state = f"skipped: {report.skipped[check]}"
        else:
            count = len(report.of(check))
            state = "ok" if count == 0 else f"{count} finding(s)"
        console.print(f"  {check.value}: {description}: {state}", highlight=False, markup=False)


def render_rejections(messages: Sequence[RejectedMessage], console: Console) -> None:
    table = _table("Rejected messages", "When (UTC)", "Source", "Message id", "Reason", "Body")
    for m in sorted(messages, key=lambda m: m.at):
        body = m.body if len(m.body) <= 200 else m.body[:200] + "..."
        table.add_row(_when(m.at), m.source, m.message_id, m.reason, body)
    if messages:
        console.print(table)
    else:
        console.print("no rejected messages")
