"""How the read models look to people: rich tables for the CLI and the demo, and the HTML status page.

Everything here takes what `shared.views`, `shared.report` and the retention plan return and
renders it; nothing here reads records or decides anything. The status page is rendered with
jinja2 (autoescape on) from shared/templates/, with per-workload timelines as inline SVG: no
JavaScript, no CDN, nothing the app does not serve itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shared.domain.model import LifecycleEvent, RejectedMessage, Run
from shared.domain.retention import Action, Decision
from shared.hostpools_view import Estate, bars
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


# --- the HTML status page -------------------------------------------------------------------

TEMPLATES = Path(__file__).resolve().parent / "templates"
LABEL_WIDTH = 250  # px left of the timeline for the version labels
PLOT_WIDTH = 860
LANE_HEIGHT = 28
AXIS_HEIGHT = 30
PHASES = ("building", "test", "validation", "production", "dr", "rollback target", "withdrawn", "deprecated", "failed")
MARKED = {"promotion-approved", "promoted", "rolled-back", "restored", "superseded", "deprecated", "request-refused"}


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    phase: str
    title: str

    @property
    def css(self) -> str:
        return "phase-" + self.phase.replace(" ", "-")


@dataclass(frozen=True)
class Mark:
    x: float
    title: str


@dataclass(frozen=True)
class Lane:
    version: str
    label: str
    y: float
    bars: list[Bar] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    label_width: int
    lanes: list[Lane]
    ticks: list[tuple[float, str]]
    empty: bool


def _phase_after(event: LifecycleEvent, current: str | None) -> str | None:
    """The version's phase after this audit entry; unchanged for entries that do not move it."""
    kind = event.kind
    if kind == "build-started":
        return "building"
    if kind == "ready":
        return "test"
    if kind == "promoted" and event.stage is not None:
        stage = event.stage.value
        return current if stage == "dr" and current == "production" else stage
    if kind == "superseded":
        return "rollback target"
    if kind == "restored":
        return "production"
    mapped = {"withdrawn": "withdrawn", "deprecated": "deprecated", "failed": "failed", "deleted": None}
    if event.to_status is not None and event.to_status.value in mapped:
        return mapped[event.to_status.value]
    return current


def timeline(summary: WorkloadSummary, events: Sequence[LifecycleEvent], now: datetime) -> Timeline:
    """Each version a lane; each lane coloured by the phase it was in over time, with its decisions marked."""
    by_version: dict[str, list[LifecycleEvent]] = {}
    for event in sorted(events, key=lambda e: (e.at, e.seq)):
        if event.version is not None:
            by_version.setdefault(str(event.version), []).append(event)
    shown = [row for row in summary.versions if row.version in by_version]
    if not shown:
        return Timeline(LABEL_WIDTH + PLOT_WIDTH, AXIS_HEIGHT + LANE_HEIGHT, LABEL_WIDTH, [], [], True)
    start = min(e.at for rows in by_version.values() for e in rows)
    end = max([now] + [e.at for rows in by_version.values() for e in rows])
    span = max((end - start).total_seconds(), 3600.0)

    def x(at: datetime) -> float:
        return round(LABEL_WIDTH + PLOT_WIDTH * (at - start).total_seconds() / span, 1)

    lanes = []
    for index, row in enumerate(shown):
        bars: list[Bar] = []
        marks: list[Mark] = []
        phase: str | None = None
        since = start
        for event in by_version[row.version]:
            after = _phase_after(event, phase)
            if after != phase:
                if phase is not None:
                    bars.append(_bar(x(since), x(event.at), phase, since, event.at))
                phase, since = after, event.at
            if event.kind in MARKED:
                marks.append(
                    Mark(x(event.at), f"{event.at:%Y-%m-%d %H:%M} {event.kind} by {event.actor}: {event.detail}")
                )
        if phase is not None:
            bars.append(_bar(x(since), x(end), phase, since, None))
        lanes.append(Lane(row.version, row.display_name, AXIS_HEIGHT + index * LANE_HEIGHT, bars, marks))
    return Timeline(
        LABEL_WIDTH + PLOT_WIDTH + 10,
        AXIS_HEIGHT + len(lanes) * LANE_HEIGHT + 6,
        LABEL_WIDTH,
        lanes,
        [(x(at), label) for at, label in _ticks(start, end)],
        False,
    )


def _bar(left: float, right: float, phase: str, since: datetime, until: datetime | None) -> Bar:
    period = f"{since:%Y-%m-%d %H:%M} to {f'{until:%Y-%m-%d %H:%M}' if until else 'now'}"
    return Bar(left, max(right - left, 2.0), phase, f"{phase}: {period}")


def _ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    if end - start > timedelta(days=45):
        at = datetime(start.year, start.month, 1, tzinfo=UTC)
        found = []
        while at <= end:
            if at >= start:
                found.append((at, f"{at:%Y-%m}"))
            at = datetime(at.year + (at.month == 12), at.month % 12 + 1, 1, tzinfo=UTC)
        return found
    step = timedelta(days=7) if end - start > timedelta(days=10) else timedelta(days=1)
    day = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
    found = []
    while day <= end:
        found.append((day, f"{day:%m-%d}"))
        day += step
    return found


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value on the page comes from records and the catalog
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def status_html(
    summaries: Sequence[WorkloadSummary],
    events: Mapping[str, Sequence[LifecycleEvent]],
    now: datetime,
    hostpools: Estate | None = None,
) -> str:
    """The status page: the catalog with badges and, per workload, its versions across stages over time."""
    template = _environment().get_template("status.html")
    workloads = [(s, timeline(s, events.get(s.name, []), now)) for s in summaries]
    pools = bars(hostpools) if hostpools is not None else []
    return template.render(workloads=workloads, now=now, phases=PHASES, date=_date, hostpools=pools)


def render_runs(runs: Sequence[Run], console: Console) -> None:
    """Each pipeline run and the simulated (or real) Azure time it took, step by step."""
    table = _table("Runs", "Workload", "Run", "Reason", "Version", "Result", "Azure time", "Slowest steps")
    for run in sorted(runs, key=lambda r: r.started_at):
        took = (run.ended_at - run.started_at) if run.ended_at else None
        slowest = sorted(run.step_times.items(), key=lambda item: -item[1])[:3]
        table.add_row(
            run.workload,
            run.run_id,
            run.reason.value + (" (prepare only)" if run.prepare_only else ""),
            str(run.version or "-"),
            run.state.value if not run.failure_reason else f"{run.state.value}: {run.failure_reason[:80]}",
            _duration(took) if took else "running",
            ", ".join(f"{step} {_duration(timedelta(seconds=seconds))}" for step, seconds in slowest),
        )
    console.print(table)


def _duration(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
