"""`avdimage`: the admin's command line. The same service layer as the functions, another entry point.

Read commands (catalog, status, history, diff, report, rejected) read the records directly.
Commands that act go the way the functions go: `build` and `prune` send step messages to the
step queue (the functions do the work); `promote` and `rollback` are approvals, decided by
exactly the approval contract (`ApprovalRequest`, `Entrypoints.approval`), so a refused
approval is refused here at once, with its reason, and kept with the rejected messages.

Target: `bootstrap.entrypoints()`, i.e. Azure as configured by the environment (AVD_* settings
and ServiceBusConnection__fullyQualifiedNamespace), unless a wiring was injected with
`bootstrap.use(...)` (tests, the demo). With a LocalRuntime's wiring, the caller runs
`runtime.run()` after a command that sends messages.

Exit codes (scripts may rely on them):
  0  done
  1  refused or invalid input: unknown workload or version, unauthorized approver, a promotion
     whose criteria do not hold, an invalid catalog; the reason is on stderr
  2  usage error (unknown option, missing argument), reported by typer on stderr
  3  environment or configuration missing (which settings to set is on stderr)

`--json` output is stable JSON on stdout (the same models the HTTP API returns).
"""

from __future__ import annotations

import getpass
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from shared import bootstrap, hostpools_view, render
from shared.domain.commands import Envelope, Prune, StartBuild, StartRollout
from shared.domain.errors import DomainError, InvalidInput
from shared.domain.model import BuildReason, RunState, Stage, VersionNumber
from shared.entrypoints import Entrypoints
from shared.steps.deps import Deps

OK, REFUSED, USAGE, ENVIRONMENT = 0, 1, 2, 3
SETTINGS_HELP = (
    "set AVD_TABLES_ENDPOINT (or AVD_TABLES_CONNECTION_STRING), AVD_SUBSCRIPTION_ID, AVD_CATALOG_PATH and "
    "ServiceBusConnection__fullyQualifiedNamespace (see docs/deploy.md); `make demo` shows the product on "
    "local stand-ins without Azure"
)

app = typer.Typer(
    name="avdimage",
    help="Build, version, promote and roll back AVD golden images in Azure Compute Gallery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _quiet_logs(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the service layer's log lines")] = False,
) -> None:
    """Refusals are reported once, as the command's error; the service layer's log lines only with -v."""
    logger = logging.getLogger("avdimage")
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    elif not logging.getLogger().handlers and not logger.handlers:
        logger.addHandler(logging.NullHandler())


class ConfigurationMissing(Exception):
    """The environment does not say where the records, Azure or Service Bus are."""


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def fail(message: str, code: int = REFUSED) -> NoReturn:
    typer.echo(f"avdimage: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _outcome() -> Iterator[None]:
    """Map what went wrong to the documented exit code, with the reason on stderr."""
    try:
        yield
    except ConfigurationMissing as error:
        fail(f"configuration missing: {error}", ENVIRONMENT)
    except (DomainError, ValidationError) as error:
        fail(str(error), REFUSED)


def wiring() -> Entrypoints:
    """The injected wiring, or production's; missing settings become exit code 3."""
    try:
        return bootstrap.entrypoints()
    except (RuntimeError, ValidationError, InvalidInput, ImportError) as error:
        raise ConfigurationMissing(f"{error}; {SETTINGS_HELP}") from error


def _deps() -> Deps:
    return wiring().deps


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout")]
WorkloadArg = Annotated[str, typer.Argument(help="Workload name as in the catalog, e.g. office")]


@app.command()
def catalog(
    as_json: JsonFlag = False,
    usage: Annotated[bool, typer.Option(help="Count VMs and scale sets per version (lists compute)")] = True,
) -> None:
    """Which image to use: per workload production, rollback target, coming and deprecated versions."""
    from shared.views import catalog_view

    with _outcome():
        summaries = catalog_view(_deps(), with_usage=usage)
        if as_json:
            _print_json([s.model_dump(mode="json") for s in summaries])
        else:
            render.render_catalog(summaries, _console())


@app.command()
def status(workload: WorkloadArg, as_json: JsonFlag = False) -> None:
    """One workload: owner, purpose, stages, every version with its approvals and VM count."""
    from shared.views import workload_summary

    with _outcome():
        deps = _deps()
        summary = workload_summary(deps.workload(workload), deps, deps.compute.images_in_use())
        pools = hostpools_view.estate(deps, summary.name) if deps.workload(workload).host_pools else None
        if as_json:
            payload = summary.model_dump(mode="json")
            if pools is not None:
                payload["host_pools"] = hostpools_view.pools_using(pools, summary.name)
            _print_json(payload)
        else:
            render.render_status(summary, _console())
            for line in hostpools_view.status_lines(pools, summary.name) if pools is not None else []:
                typer.echo(line)


@app.command()
def history(workload: WorkloadArg, as_json: JsonFlag = False) -> None:
    """Every lifecycle event of a workload: when, who or what, why."""
    from shared.views import history as events_of

    with _outcome():
        events = events_of(_deps(), workload)
        if as_json:
            _print_json([e.model_dump(mode="json") for e in sorted(events, key=lambda e: (e.at, e.seq))])
        else:
            render.render_history(workload, events, _console())


@app.command()
def diff(
    workload: WorkloadArg,
    v1: Annotated[str, typer.Argument(help="One version, e.g. 1.0.0")],
    v2: Annotated[str, typer.Argument(help="The other version, e.g. 1.0.1")],
    as_json: JsonFlag = False,
) -> None:
    """What changed between two versions: OS build, hotfixes, apps, registry (recorded manifests)."""
    from shared.views import diff as manifest_diff

    with _outcome():
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
            _print_json(change.model_dump(mode="json"))
        else:
            render.render_diff(change, _console())


def _requester() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return f"{user}@cli" if user else "avdimage-cli"


def wait_for_run(
    deps: Deps, workload: str, run_id: str, console: Console, *, poll: Callable[[], None], timeout: timedelta
) -> RunState:
    """Show the run's step until it ends; `poll` waits (or, in-process, delivers messages)."""
    deadline = time.monotonic() + timeout.total_seconds()
    with console.status(f"{workload} {run_id}: queued") as shown:
        while True:
            run = deps.records.find_run(workload, run_id)
            if run is not None:
                shown.update(f"{workload} {run_id}: {run.step} (attempt {run.attempt})")
                if run.state is not RunState.RUNNING:
                    console.print(f"{workload} {run_id}: {run.state.value} at step {run.step} {run.failure_reason}")
                    return run.state
            if time.monotonic() > deadline:
                fail(f"{workload} {run_id} still running after {timeout}; follow it with `avdimage status {workload}`")
            poll()


@app.command()
def build(
    workload: WorkloadArg,
    prepare_only: Annotated[bool, typer.Option("--prepare-only", help="Prepare the source VM only")] = False,
    reason: Annotated[
        BuildReason | None,
        typer.Option(help="Decides the version bump; default: first for a new workload, else catalog-change"),
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Default manual-YYYYMMDD-HHMM")] = None,
    requested_by: Annotated[str | None, typer.Option(help="Recorded as the requester; default user@cli")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the run until it ends")] = False,
    timeout_minutes: Annotated[int, typer.Option(min=1)] = 240,
) -> None:
    """Start a pipeline run (a message on the step queue; the functions do the work)."""
    from shared.identity.operator import signed_requester

    with _outcome():
        entrypoints = wiring()
        deps = entrypoints.deps
        name = deps.workload(workload).name
        records = deps.records.load_workload(name)
        if records.pointers.active_run:
            fail(f"{name} already has an active run {records.pointers.active_run}; one run per workload at a time")
        chosen = reason or (BuildReason.CATALOG_CHANGE if records.versions else BuildReason.FIRST)
        command = StartBuild(
            workload=name,
            run_id=run_id or f"manual-{deps.clock.now():%Y%m%d-%H%M}",
            reason=chosen,
            requested_by=signed_requester(entrypoints.sign_in, deps.verify) or requested_by or _requester(),
            prepare_only=prepare_only,
        )
        entrypoints.bus.send([Envelope.wrap(command)])
        console = _console()
        console.print(
            f"sent: build {name} run {command.run_id} ({chosen.value}{', prepare only' if prepare_only else ''})"
        )
        if wait:
            state = wait_for_run(
                deps,
                name,
                command.run_id,
                console,
                poll=lambda: time.sleep(15),
                timeout=timedelta(minutes=timeout_minutes),
            )
            if state is RunState.FAILED:
                raise typer.Exit(REFUSED)


def _approve(entrypoints: Entrypoints, body: dict[str, Any], signer: str | None) -> str:
    """Sign the operator in, then decide the approval exactly as the approvals queue does."""
    from shared.domain.approvals import approval_message_id

    if entrypoints.sign_in is None:
        raise ConfigurationMissing("no way to sign in: approvals need Entra ID (AVD_ENTRA_TENANT_ID, ...)")
    text = json.dumps({**body, "approver_token": entrypoints.sign_in(signer)})
    handled = entrypoints.submit_approval(approval_message_id(text), text)
    if handled.rejected:
        fail(f"refused: {handled.rejected}")
    if handled.queued:
        typer.echo("checked and sent to the image-approvals queue; the approvals function applies it")
    return handled.note


SignInAs = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Local stand-ins only: the demo person to sign in as. In Azure you approve as yourself "
        "(AVD_OPERATOR_CREDENTIAL: cli, interactive or device-code)",
    ),
]
Ticket = Annotated[str, typer.Option(help="Change or incident reference")]
Reason = Annotated[str, typer.Option(help="Why, in words a later admin will understand")]


@app.command()
def promote(
    workload: WorkloadArg,
    version: Annotated[str, typer.Argument(help="Major.Minor.Patch")],
    to: Annotated[Stage, typer.Option("--to", help="The next stage")],
    signer: SignInAs = None,
    ticket: Ticket = "",
    reason: Reason = "",
) -> None:
    """Approve a version for the next stage, signed with your identity (the approval contract)."""
    with _outcome():
        entrypoints = wiring()
        note = _approve(
            entrypoints,
            {
                "action": "promote",
                "workload": workload,
                "version": version,
                "target_stage": to.value,
                "ticket": ticket,
                "reason": reason,
                "requested_at": entrypoints.deps.clock.now().isoformat(),
            },
            signer,
        )
        typer.echo(f"{note} (follow with `avdimage status {workload}`)")


@app.command()
def rollback(
    workload: WorkloadArg,
    version: Annotated[
        str | None, typer.Option(help="The production version to withdraw; default: the one serving now")
    ] = None,
    signer: SignInAs = None,
    ticket: Ticket = "",
    reason: Reason = "",
) -> None:
    """Withdraw the production version; the rollback target serves again (a pointer move)."""
    with _outcome():
        entrypoints = wiring()
        deps = entrypoints.deps
        name = deps.workload(workload).name
        pointers = deps.records.get_pointers(name)
        if pointers.rollback is None or pointers.production is None:
            fail(f"{name} has no rollback target (production is {pointers.production or 'not set'})")
        note = _approve(
            entrypoints,
            {
                "action": "rollback",
                "workload": name,
                "version": str(VersionNumber.parse(version) if version else pointers.production),
                "ticket": ticket,
                "reason": reason,
                "requested_at": deps.clock.now().isoformat(),
            },
            signer,
        )
        typer.echo(note)


@app.command()
def prune(
    workload: Annotated[str | None, typer.Argument(help="One workload; default every workload")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the decisions; change nothing")] = False,
) -> None:
    """Apply the retention policy (deprecate, then delete) or, with --dry-run, show what it would do."""
    from shared.steps.versions import plan_prune

    with _outcome():
        entrypoints = wiring()
        deps = entrypoints.deps
        names = [deps.workload(workload).name] if workload else deps.catalog.names
        console = _console()
        for name in names:
            render.render_decisions(name, plan_prune(name, deps), console, dry_run=dry_run)
        if not dry_run:
            now = deps.clock.now()
            entrypoints.bus.send([Envelope.wrap(Prune(workload=n, requested_at=now)) for n in names])
            console.print(f"sent: prune {', '.join(names)}")


@app.command("validate-catalog")
def validate_catalog(
    path: Annotated[Path | None, typer.Argument(help="Catalog folder; default AVD_CATALOG_PATH")] = None,
) -> None:
    """Check every workload file; list every error with file, field and reason."""
    from shared.config import Settings
    from shared.domain.catalog import load_catalog

    with _outcome():
        settings = Settings()
        folder = path or settings.catalog_path
        loaded = load_catalog(folder, settings.deployed_gallery)
        for workload in loaded.workloads:
            typer.echo(f"ok: {workload.name} ({workload.gallery.name}/{workload.gallery.definition})")
        typer.echo(f"{folder}: {len(loaded.workloads)} workload(s), no errors")
        typer.echo(f"gallery: {settings.gallery_name} in {settings.image_resource_group} (AVD_GALLERY_NAME)")


def _schema_text(schema: dict[str, object]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@app.command()
def schema(
    write: Annotated[bool, typer.Option("--write", help="Write every message contract into --out")] = False,
    out: Annotated[Path, typer.Option(help="Folder for --write")] = Path("docs/contracts"),
) -> None:
    """Print the approval message JSON Schema, or (--write) regenerate docs/contracts/*.schema.json."""
    from shared.domain.approvals import contract_schemas

    schemas = contract_schemas()
    if not write:
        typer.echo(_schema_text(schemas["approval.schema.json"]), nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, content in sorted(schemas.items()):
        (out / name).write_text(_schema_text(content), encoding="utf-8")
        typer.echo(f"wrote {out / name}")


@app.command()
def rejected(as_json: JsonFlag = False) -> None:
    """Messages refused as invalid or not allowed, with their reasons."""
    with _outcome():
        messages = _deps().records.list_rejections()
        if as_json:
            _print_json([m.model_dump(mode="json") for m in messages])
        else:
            render.render_rejections(messages, _console())


@app.command()
def report(
    as_json: JsonFlag = False,
    last_builds: Annotated[int, typer.Option(min=3, help="Builds the minimal-image check looks at")] = 6,
) -> None:
    """Governance: image sprawl, owners, unapproved production, naming, volatile components."""
    from shared.report import report_for

    with _outcome():
        result = report_for(_deps(), last_builds=last_builds)
        if as_json:
            _print_json(result.model_dump(mode="json"))
        else:
            render.render_report(result, _console())


@app.command()
def hostpools(as_json: JsonFlag = False) -> None:
    """Per host pool: hosts per image version, drained, with sessions, and its rollout."""
    with _outcome():
        view = hostpools_view.estate(_deps())
        if as_json:
            _print_json(hostpools_view.as_json(view))
        else:
            for line in hostpools_view.lines(view):
                typer.echo(line)


@app.command()
def rollout(
    pool: Annotated[str, typer.Argument(help="Host pool name (or resource id) as in the catalog")],
    to: Annotated[str | None, typer.Option("--to", help="Version; default: the workload's production")] = None,
    requested_by: Annotated[str | None, typer.Option(help="Recorded as the requester; default user@cli")] = None,
) -> None:
    """Roll a host pool onto a version in batches (or resume its halted rollout)."""
    from shared.domain.hostpools import RolloutState
    from shared.domain.naming import version_slug
    from shared.steps.rollout import policy_of

    with _outcome():
        entrypoints = wiring()
        deps = entrypoints.deps
        owners = [
            w
            for w in deps.catalog.workloads
            if any(pool.lower() in (p.name.lower(), p.id.lower()) for p in w.host_pools)
        ]
        if not owners:
            fail(f"no workload in the catalog serves a host pool {pool!r} (see `avdimage hostpools`)")
        workload = owners[0]
        policy = policy_of(workload, pool)
        production = deps.records.get_pointers(workload.name).production
        version = VersionNumber.parse(to) if to else production
        if version is None:
            fail(f"{workload.name} has no production version yet; name one with --to")
        runs = deps.rollouts.runs(workload.name, policy.key) if deps.rollouts else []
        halted = next((r for r in reversed(runs) if r.state is RolloutState.HALTED), None)
        if halted is not None and halted.target_version == str(version):
            run_id = halted.run_id  # resume it
        else:
            run_id = f"manual-{version_slug(version)}-{deps.clock.now():%m%d%H%M}"[:32].strip("-")
        command = StartRollout(
            workload=workload.name,
            pool=policy.key,
            run_id=run_id,
            version=str(version),
            requested_by=requested_by or _requester(),
            requested_at=deps.clock.now(),
        )
        entrypoints.bus.send([Envelope.wrap(command)])
        verb = "resume" if halted is not None and run_id == halted.run_id else "rollout"
        typer.echo(f"sent: {verb} {policy.name} to {workload.name} {version} (run {run_id})")


def main() -> None:
    app()
