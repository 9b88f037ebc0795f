"""The `avdimage` commands that only read: records, catalog and Azure reads, no Service Bus.

Registered on the main app by shared/cli.py (`app.add_typer(reading)`); the same options,
exit codes and JSON rules as every command (shared/cli_support.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from shared import hostpools_view, render
from shared.cli_support import (
    USAGE,
    JsonFlag,
    WideFlag,
    WorkloadArg,
    complain,
    examples,
    fail,
    outcome,
    print_json,
    read_deps,
    say,
)
from shared.cli_support import console as _console
from shared.domain.model import Stage, VersionNumber
from shared.steps.deps import Deps

reading = typer.Typer(rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]})


def _deps() -> Deps:
    return read_deps()


@reading.command(
    epilog=examples(
        ("The catalog, with VM counts per version", "avdimage catalog"),
        ("Without listing compute (faster on big estates)", "avdimage catalog --no-usage"),
        ("Every version's status, OS build and resource id", "avdimage catalog --wide"),
        ("For scripts", "avdimage catalog --json"),
    )
)
def catalog(
    as_json: JsonFlag = False,
    wide: WideFlag = False,
    usage: Annotated[bool, typer.Option(help="Count VMs and scale sets per version (lists compute)")] = True,
) -> None:
    """Which image to use: per workload production, rollback target, coming and deprecated versions."""
    from shared.views import catalog_view

    with outcome():
        summaries = catalog_view(_deps(), with_usage=usage)
        if as_json:
            print_json(summaries)
        else:
            render.render_catalog(summaries, _console(), wide=wide)


@reading.command(
    epilog=examples(
        ("One workload: stages, versions, approvals summarised", "avdimage status office"),
        ("Who approved each stage, with tickets and resource ids", "avdimage status office --wide"),
    )
)
def status(workload: WorkloadArg, as_json: JsonFlag = False, wide: WideFlag = False) -> None:
    """One workload: owner, purpose, stages, every version with its approvals and VM count."""
    from shared.views import workload_summary

    with outcome():
        deps = _deps()
        summary = workload_summary(deps.workload(workload), deps, deps.compute.images_in_use())
        pools = hostpools_view.estate(deps, summary.name) if deps.workload(workload).host_pools else None
        if as_json:
            payload = summary.model_dump(mode="json")
            if pools is not None:
                payload["host_pools"] = hostpools_view.pools_using(pools, summary.name)
            print_json(payload)
        else:
            render.render_status(summary, _console(), wide=wide)
            for line in hostpools_view.status_lines(pools, summary.name) if pools is not None else []:
                typer.echo(line)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since {text!r} is not a date: use YYYY-MM-DD or an ISO 8601 time, e.g. 2026-12-01T06:00Z", USAGE)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@reading.command(
    epilog=examples(
        ("The newest 20 events", "avdimage history office"),
        ("Everything since December", "avdimage history office --since 2026-12-01 --limit 0"),
        ("Promotions into production", "avdimage history office --stage production --event promoted"),
        ("One version's life", "avdimage history office --version 1.0.1 --limit 0"),
    )
)
def history(
    workload: WorkloadArg,
    since: Annotated[str | None, typer.Option(help="Only events at or after this date/time (UTC)")] = None,
    stage: Annotated[Stage | None, typer.Option(help="Only events about this stage")] = None,
    event: Annotated[
        list[str] | None, typer.Option("--event", help="Only this kind of event, e.g. promoted (repeatable)")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Only events of this version, e.g. 1.0.1")] = None,
    limit: Annotated[int, typer.Option(min=0, help="Show the newest N matching events; 0 for all")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Every lifecycle event of a workload: when, who or what, why. Newest 20 unless --limit says."""
    from shared.views import HistoryFilter, event_row
    from shared.views import history as events_of

    with outcome():
        if version is not None:
            version = str(VersionNumber.parse(version))
        chosen = HistoryFilter(
            since=_since(since),
            stage=stage.value if stage else None,
            kinds=tuple(event or ()),
            version=version,
            limit=limit,
        )
        shown, matched = chosen.apply(events_of(_deps(), workload))
        if as_json:
            print_json([event_row(e) for e in shown])
        else:
            render.render_history(workload, shown, _console(), matched=matched)


@reading.command(
    epilog=examples(
        ("What the January patch changed", "avdimage diff data-analyst 1.0.0 1.0.1"),
    )
)
def diff(
    workload: WorkloadArg,
    v1: Annotated[str, typer.Argument(help="One version, e.g. 1.0.0", show_default=False)],
    v2: Annotated[str, typer.Argument(help="The other version, e.g. 1.0.1", show_default=False)],
    as_json: JsonFlag = False,
) -> None:
    """What changed between two versions: OS build, hotfixes, apps, registry (recorded manifests)."""
    from shared.views import diff as manifest_diff

    with outcome():
        deps = _deps()
        name = deps.workload(workload).name
        found = []
        for text in (v1, v2):
            number = VersionNumber.parse(text)
            version = deps.records.find_version(name, number)
            if version is None:
                fail(f"{name} has no version {number}")
            found.append(version)
        older, newer = sorted(found, key=lambda v: v.version)
        change = manifest_diff(older, newer)
        if as_json:
            print_json(change)
        else:
            render.render_diff(change, _console())


@reading.command(
    "validate-catalog",
    epilog=examples(
        ("The catalog of this repository", "avdimage validate-catalog catalog"),
        ("In a pull request check", "avdimage validate-catalog catalog --json"),
    ),
)
def validate_catalog(
    path: Annotated[Path | None, typer.Argument(help="Catalog folder; default AVD_CATALOG_PATH")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check every workload file; list every error with file, field and reason."""
    from shared.config import Settings
    from shared.domain.catalog import CatalogError, load_catalog

    settings = Settings()
    folder = path or settings.catalog_path
    try:
        loaded = load_catalog(folder, settings.deployed_gallery)
    except CatalogError as error:
        if as_json:
            print_json({"folder": str(folder), "workloads": [], "errors": error.issues})
        else:
            for issue in error.issues:
                complain(str(issue))
        fail(f"{folder}: {len(error.issues)} error(s)")
    workloads = [
        {"name": w.name, "gallery": w.gallery.name, "definition": w.gallery.definition} for w in loaded.workloads
    ]
    if as_json:
        print_json({"folder": str(folder), "workloads": workloads, "errors": []})
        return
    for w in workloads:
        say(f"ok: {w['name']} ({w['gallery']}/{w['definition']})")
    say(f"{folder}: {len(workloads)} workload(s), no errors")
    say(f"gallery: {settings.gallery_name} in {settings.image_resource_group} (AVD_GALLERY_NAME)")


def _schema_text(schema: dict[str, object]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@reading.command(
    epilog=examples(
        ("The approval message contract", "avdimage schema"),
        ("Regenerate docs/contracts/", "avdimage schema --write"),
    )
)
def schema(
    write: Annotated[bool, typer.Option("--write", help="Write every message contract into --out")] = False,
    out: Annotated[Path, typer.Option(help="Folder for --write")] = Path("docs/contracts"),
    as_json: JsonFlag = False,
) -> None:
    """Print the approval message JSON Schema, or (--write) regenerate docs/contracts/*.schema.json.

    The schema is JSON already; --json is accepted so every command takes it.
    """
    from shared.domain.approvals import contract_schemas

    schemas = contract_schemas()
    if not write:
        typer.echo(_schema_text(schemas["approval.schema.json"]), nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, content in sorted(schemas.items()):
        (out / name).write_text(_schema_text(content), encoding="utf-8")
        if not as_json:
            say(f"wrote {out / name}")
    if as_json:
        print_json({"written": [str(out / name) for name in sorted(schemas)]})


@reading.command(
    epilog=examples(
        ("Refused approvals and messages, with reasons", "avdimage rejected"),
        ("Whole message bodies", "avdimage rejected --wide"),
    )
)
def rejected(as_json: JsonFlag = False, wide: WideFlag = False) -> None:
    """Messages refused as invalid or not allowed, with their reasons."""
    with outcome():
        messages = _deps().records.list_rejections()
        if as_json:
            print_json(messages)
        else:
            render.render_rejections(messages, _console(), wide=wide)


@reading.command(
    epilog=examples(
        ("Sprawl, owners, unapproved production, naming", "avdimage report"),
        ("The minimal-image check over 12 builds", "avdimage report --last-builds 12"),
    )
)
def report(
    as_json: JsonFlag = False,
    last_builds: Annotated[int, typer.Option(min=3, help="Builds the minimal-image check looks at")] = 6,
) -> None:
    """Governance: image sprawl, owners, unapproved production, naming, volatile components."""
    from shared.report import report_for

    with outcome():
        result = report_for(_deps(), last_builds=last_builds)
        if as_json:
            print_json(result)
        else:
            render.render_report(result, _console())


@reading.command(
    epilog=examples(
        ("Which session hosts run which version", "avdimage hostpools"),
        ("The same for scripts", "avdimage hostpools --json"),
    )
)
def hostpools(as_json: JsonFlag = False) -> None:
    """Per host pool: hosts per image version, drained, with sessions, and its rollout."""
    with outcome():
        view = hostpools_view.estate(_deps())
        if as_json:
            print_json(hostpools_view.as_json(view))
        else:
            for line in hostpools_view.lines(view):
                typer.echo(line)
