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
from shared.layout import Cell, Column, show
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


def _named(row: VersionRow | None) -> str:
    return f"{row.display_name} ({row.version})" if row else "-"


def _vms(row: VersionRow) -> str:
    return "?" if row.vms is None else str(row.vms)


def approvals_summary(row: VersionRow) -> str:
    """`3: validation, production, dr`; who and which ticket are behind --wide and --json."""
    if not row.approvals:
        return "-"
    stages = [a.split(":", 1)[0] for a in row.approvals]
    return f"{len(stages)}: {', '.join(dict.fromkeys(stages))}"


def _role(row: VersionRow) -> Text:
    """Badges, plus the status when no badge says it already."""
    shown = list(row.badges)
    if row.status not in shown and row.status not in ("ready", "deleted") and "in progress" not in shown:
        shown.append(row.status)
    return badges(shown) if shown else Text("-")


def render_catalog(summaries: Sequence[WorkloadSummary], console: Console, *, wide: bool = False) -> None:
    """Which image to pick: per workload production, rollback target, what is coming, what is going."""
    columns = [
        Column("Workload", key=True),
        Column("Production"),
        Column("Rollback target"),
        Column("DR"),
        Column("Coming"),
        Column("Deprecated (end of life)"),
    ]
    rows = []
    for summary in summaries:
        coming = [f"{r.display_name} ({r.version}, {r.stage})" for r in summary.in_validation + summary.in_test]
        going = [f"{r.display_name} ({r.version}, EOL {_date(r.end_of_life)})" for r in summary.deprecated]
        rows.append(
            [
                summary.name,
                _named(summary.production),
                _named(summary.rollback_target),
                _named(summary.dr),
                "\n".join(coming) or "-",
                "\n".join(going) or "-",
            ]
        )
    show(console, "Image catalog", columns, rows, empty="no workloads in the catalog")
    for summary in summaries:
        console.print()
        render_versions(summary, console, wide=wide)


def render_versions(summary: WorkloadSummary, console: Console, *, wide: bool = False) -> None:
    columns = [
        Column("Version", key=True, no_wrap=True),
        Column("Display name"),
        Column("Role"),
        Column("VMs"),
        Column("End of life", no_wrap=True),
    ]
    if wide:
        columns[3:3] = [Column("Status"), Column("OS build", no_wrap=True), Column("Built", no_wrap=True)]
        columns.append(Column("Gallery version id", no_wrap=True))
    rows = []
    for row in summary.versions:
        cells: list[Cell] = [row.version, row.display_name, _role(row), _vms(row), _date(row.end_of_life)]
        if wide:
            cells[3:3] = [row.status, row.os_build, _date(row.created_at)]
            cells.append(row.gallery_version_id)
        rows.append(cells)
    title = f"{summary.name} (owner {summary.owner}): {summary.image_definition}"
    show(console, title, columns, rows, empty="no versions yet")


def render_status(summary: WorkloadSummary, console: Console, *, wide: bool = False) -> None:
    """One workload in detail: what it is for, who owns it, every version with its approvals."""
    console.print(Text(f"{summary.name}  {summary.os_label} | {summary.workload_label}", style="bold"))
    facts = [
        ("owner", summary.owner),
        ("purpose", summary.purpose),
        ("image definition", summary.image_definition),
        ("production", _named(summary.production)),
        ("rollback target", _named(summary.rollback_target)),
        ("dr", _named(summary.dr)),
        ("active run", summary.active_run or "-"),
    ]
    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(no_wrap=True, style="dim")
    grid.add_column(overflow="fold")
    for label, value in facts:
        grid.add_row(f"{label}:", value)
    console.print(grid)
    console.print()
    columns = [
        Column("Version", key=True, no_wrap=True),
        Column("Display name"),
        Column("Role"),
        Column("VMs"),
        Column("Approvals"),
        Column("Notes"),
    ]
    if wide:
        columns.append(Column("Gallery version id", no_wrap=True))
    rows = []
    for row in summary.versions:
        notes = row.failure_reason or (f"end of life {_date(row.end_of_life)}" if row.end_of_life else "")
        approvals = "\n".join(row.approvals) if wide else approvals_summary(row)
        cells: list[Cell] = [row.version, row.display_name, _role(row), _vms(row), approvals or "-", notes or "-"]
        if wide:
            cells.append(row.gallery_version_id)
        rows.append(cells)
    show(console, "Versions", columns, rows, empty="no versions yet")


def render_history(workload: str, events: Sequence[LifecycleEvent], console: Console, *, matched: int) -> None:
    columns = [
        Column("When (UTC)", key=True, no_wrap=True),
        Column("Version", key=True, no_wrap=True),
        Column("Event", key=True, no_wrap=True),
        Column("Who/what"),
        Column("Why/detail"),
    ]
    rows = [[_when(e.at), str(e.version or "-"), e.kind, e.actor, e.detail] for e in events]
    show(console, f"{workload}: lifecycle history", columns, rows, empty="no events match")
    if matched > len(events):
        console.print(
            Text(
                f"the newest {len(events)} of {matched} events; --limit 0 shows all, "
                "--since, --stage, --event and --version narrow them",
                style="dim",
            )
        )


def render_diff(change: ManifestDiff, console: Console) -> None:
    rows: list[list[Cell]] = []
    if change.os_build:
        rows.append(["OS build", f"{change.os_build[0]} -> {change.os_build[1]}"])
    labelled = [
        ("hotfix added", change.hotfixes_added),
        ("hotfix removed", change.hotfixes_removed),
        ("app added", change.apps_added),
        ("app removed", change.apps_removed),
        ("app changed", change.apps_changed),
        ("registry", change.registry_changed),
    ]
    rows += [[label, value] for label, values in labelled for value in values]
    columns = [Column("What", key=True), Column("Change")]
    show(console, f"{change.workload}: {change.older} -> {change.newer}", columns, rows, empty="no difference")


def render_decisions(workload: str, decisions: Sequence[Decision], console: Console, *, dry_run: bool) -> None:
    title = f"{workload}: retention plan" + (" (dry run: nothing changes)" if dry_run else "")
    styles = {Action.KEEP: "green", Action.DEPRECATE: "yellow", Action.DELETE: "red"}
    columns = [
        Column("Version", key=True, no_wrap=True),
        Column("Action", key=True),
        Column("Display name"),
        Column("Why"),
        Column("End of life", no_wrap=True),
    ]
    rows: list[list[Cell]] = [
        [str(d.version), Text(d.action.value, style=styles[d.action]), d.display_name, d.reason, _date(d.end_of_life)]
        for d in decisions
    ]
    show(console, title, columns, rows, empty="no versions")


def render_report(report: GovernanceReport, console: Console) -> None:
    title = (
        f"Governance report ({', '.join(report.workloads)}; "
        f"minimal-image check over the last {report.last_builds} builds)"
    )
    columns = [Column("Check", key=True), Column("Workload", key=True), Column("Subject"), Column("Finding")]
    rows: list[list[Cell]] = [[f.check.value, f.workload or "-", f.subject, f.detail] for f in report.findings]
    show(console, title, columns, rows, empty="no findings")
    console.print()
    for check, description in DESCRIPTIONS.items():
        if check in report.skipped:
            state = f"skipped: {report.skipped[check]}"
        else:
            count = len(report.of(check))
            state = "ok" if count == 0 else f"{count} finding(s)"
        console.print(Text(f"  {check.value}: {description}: {state}"))


def render_rejections(messages: Sequence[RejectedMessage], console: Console, *, wide: bool = False) -> None:
    columns = [
        Column("When (UTC)", key=True, no_wrap=True),
        Column("Source", key=True),
        Column("Message id", no_wrap=True),
        Column("Reason"),
        Column("Body"),
    ]
    rows = []
    for m in sorted(messages, key=lambda m: m.at):
        body = m.body if wide or len(m.body) <= 120 else m.body[:117] + "..."
        rows.append([_when(m.at), m.source, m.message_id, m.reason, body])
    show(console, "Rejected messages", columns, rows, empty="no rejected messages")


# --- the HTML status page -------------------------------------------------------------------

TEMPLATES = Path(__file__).resolve().parent / "templates"
LABEL_WIDTH = 250  # px left of the timeline for the version labels
NOW_MARGIN = 0.15  # the plot extends this share of its span past now
TICK_LABEL = 50  # px a tick label needs right of its line; ticks closer to the edge are left out
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
    now_x: float = 0.0


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
    latest = max([now] + [e.at for rows in by_version.values() for e in rows])
    # The plot runs on past now, so what holds now (current production) is a bar, not a sliver at the edge.
    ahead = max((latest - start) * NOW_MARGIN, timedelta(days=1))
    end = latest + ahead
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
        [(x(at), label) for at, label in _ticks(start, latest) if x(at) <= LABEL_WIDTH + PLOT_WIDTH - TICK_LABEL],
        False,
        x(latest),
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
    attention: Sequence[str] = (),
) -> str:
    """The status page: the catalog with badges and, per workload, its versions across stages over time;
    `attention` lists what needs a person (shared.report.needs_attention)."""
    template = _environment().get_template("status.html")
    workloads = [(s, timeline(s, events.get(s.name, []), now)) for s in summaries]
    width = max((tl.width for _, tl in workloads), default=LABEL_WIDTH + PLOT_WIDTH)
    pools = bars(hostpools) if hostpools is not None else []
    return template.render(
        workloads=workloads,
        now=now,
        phases=PHASES,
        date=_date,
        timeline_width=width,
        approvals=approvals_summary,
        hostpools=pools,
        attention=attention,
    )


def render_runs(runs: Sequence[Run], console: Console) -> None:
    """Each pipeline run and the simulated (or real) Azure time it took, step by step."""
    columns = [
        Column("Workload", key=True),
        Column("Run", key=True, no_wrap=True),
        Column("Reason"),
        Column("Version", no_wrap=True),
        Column("Result"),
        Column("Azure time", no_wrap=True),
        Column("Slowest steps"),
    ]
    rows = []
    for run in sorted(runs, key=lambda r: r.started_at):
        took = (run.ended_at - run.started_at) if run.ended_at else None
        slowest = sorted(run.step_times.items(), key=lambda item: -item[1])[:3]
        rows.append(
            [
                run.workload,
                run.run_id,
                run.reason.value + (" (prepare only)" if run.prepare_only else ""),
                str(run.version or "-"),
                run.state.value if not run.failure_reason else f"{run.state.value}: {run.failure_reason[:80]}",
                _duration(took) if took else "running",
                ", ".join(f"{step} {_duration(timedelta(seconds=seconds))}" for step, seconds in slowest),
            ]
        )
    show(console, "Runs", columns, rows, empty="no runs")


def _duration(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
