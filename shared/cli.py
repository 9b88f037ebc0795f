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
import importlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console

from shared import bootstrap, render
from shared.cli_read import reading
from shared.cli_support import (
    ENVIRONMENT,
    OK,
    REFUSED,
    USAGE,
    ConfigurationMissing,
    JsonFlag,
    Session,
    WorkloadArg,
    examples,
    fail,
    outcome,
    print_json,
    quiet_logs,
    read_deps,
    say,
    show_version,
    wiring,
)
from shared.cli_support import console as _console
from shared.domain.commands import Envelope, Prune, StartBuild, StartRollout
from shared.domain.model import BuildReason, RunState, Stage, VersionNumber
from shared.entrypoints import Entrypoints
from shared.steps.deps import Deps

__all__ = ["ENVIRONMENT", "OK", "REFUSED", "USAGE", "ConfigurationMissing", "app", "main", "wait_for_run"]
_outcome, _print_json = outcome, print_json

app = typer.Typer(
    name="avdimage",
    help="Build, version, promote and roll back AVD golden images in Azure Compute Gallery.",
    epilog=examples(
        ("Which image to use, on what `make demo` left", "avdimage --demo catalog"),
        ("One workload with its versions and approvals", "avdimage status office"),
        ("Help on one command", "avdimage promote -h"),
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: wraps at words, no `<bool>` on flags
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the service layer's log lines")] = False,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Work on the state `make demo` left in .demo/ (local Azurite and simulator)"),
    ] = False,
    _version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    quiet_logs(verbose)
    if demo:
        _use_demo(ctx)


def _use_demo(ctx: typer.Context) -> None:
    """Wire the demo's runtime in; on exit it delivers what the command sent and saves the simulator.

    localrun (the simulator's wiring) is loaded by name: it ships with the package for the demo,
    and the product in shared/ does not depend on it.
    """
    state: Any = importlib.import_module("localrun.state")
    try:
        runtime = ctx.with_resource(state.demo_runtime())
    except state.DemoStateMissing as error:
        fail(str(error), ENVIRONMENT)
    except RuntimeError as error:  # Azurite missing or not starting
        fail(f"the demo's Azurite: {error}", ENVIRONMENT)
    bootstrap.use(runtime.entrypoints)
    Session.deliver = runtime.run

    def restore() -> None:
        bootstrap.use(None)
        Session.deliver = None

    ctx.call_on_close(restore)


def _requester() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return f"{user}@cli" if user else "avdimage-cli"


def wait_for_run(
    deps: Deps,
    workload: str,
    run_id: str,
    console: Console,
    *,
    poll: Callable[[], None],
    timeout: timedelta,
    quiet: bool = False,
) -> RunState:
    """Show the run's step until it ends; `poll` waits (or, in-process, delivers messages)."""
    deadline = time.monotonic() + timeout.total_seconds()
    with console.status(f"{workload} {run_id}: queued") as shown:
        while True:
            run = deps.records.find_run(workload, run_id)
            if run is not None:
                shown.update(f"{workload} {run_id}: {run.step} (attempt {run.attempt})")
                if run.state is not RunState.RUNNING:
                    if not quiet:
                        ended = f"{workload} {run_id}: {run.state.value} at step {run.step}"
                        console.print(f"{ended} {run.failure_reason}".rstrip(), markup=False)
                    return run.state
            if time.monotonic() > deadline:
                fail(f"{workload} {run_id} still running after {timeout}; follow it with `avdimage status {workload}`")
            poll()


@app.command(
    epilog=examples(
        ("Rebuild with this month's patches (patch bump)", "avdimage build office"),
        ("After a catalog change (minor bump), following it", "avdimage build office --reason catalog-change --wait"),
        ("Only prepare the source VM to work on it", "avdimage build office --prepare-only"),
    )
)
def build(
    workload: WorkloadArg,
    prepare_only: Annotated[bool, typer.Option("--prepare-only", help="Prepare the source VM only")] = False,
    reason: Annotated[
        BuildReason | None,
        typer.Option(
            help="Decides the version bump: patch (default), catalog-change (minor), new-os-base (major); "
            "a new workload's first build is always 1.0.0",
            show_default=False,
        ),
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Default manual-YYYYMMDD-HHMM")] = None,
    requested_by: Annotated[str | None, typer.Option(help="Recorded as the requester; default user@cli")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends")] = False,
    timeout_minutes: Annotated[int, typer.Option(min=1, help="How long --wait follows the run")] = 240,
    as_json: JsonFlag = False,
) -> None:
    """Start a pipeline run (a message on the step queue; the functions do the work)."""
    from shared.identity.operator import signed_requester

    with outcome():
        entrypoints = wiring()
        deps = entrypoints.deps
        name = deps.workload(workload).name
        records = deps.records.load_workload(name)
        if records.pointers.active_run:
            fail(f"{name} already has an active run {records.pointers.active_run}; one run per workload at a time")
        chosen = BuildReason.FIRST if not records.versions else (reason or BuildReason.PATCH)
        command = StartBuild(
            workload=name,
            run_id=run_id or f"manual-{deps.clock.now():%Y%m%d-%H%M}",
            reason=chosen,
            requested_by=signed_requester(entrypoints.sign_in, deps.verify) or requested_by or _requester(),
            prepare_only=prepare_only,
        )
        entrypoints.bus.send([Envelope.wrap(command)])
        result: dict[str, Any] = {
            "action": "build",
            "workload": name,
            "run_id": command.run_id,
            "reason": chosen.value,
            "prepare_only": prepare_only,
            "state": "sent",
        }
        console = _console()
        if not as_json:
            say(f"sent: build {name} run {command.run_id} ({chosen.value}{', prepare only' if prepare_only else ''})")
        if wait:
            state = wait_for_run(
                deps,
                name,
                command.run_id,
                console,
                poll=Session.deliver or (lambda: time.sleep(15)),
                timeout=timedelta(minutes=timeout_minutes),
                quiet=as_json,
            )
            result["state"] = state.value
            run = deps.records.find_run(name, command.run_id)
            result["version"] = str(run.version) if run and run.version else None
        if as_json:
            print_json(result)
        if result["state"] == RunState.FAILED.value:
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
        typer.echo("checked and sent to the image-approvals queue; the approvals function applies it", err=True)
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


def _gallery_version_id(deps: Deps, workload: str, version: VersionNumber | str | None) -> str | None:
    if version is None:
        return None
    found = deps.records.find_version(workload, VersionNumber.parse(str(version)))
    return found.gallery_version_id if found else None


@app.command(
    epilog=examples(
        ("Into validation, signed in as yourself", "avdimage promote office 1.0.2 --to validation"),
        (
            "Into production, with the change ticket",
            "avdimage promote office 1.0.2 --to production --ticket CHG0031337",
        ),
        (
            "On the demo's estate, as one of its people",
            "avdimage --demo promote office 1.0.2 --to dr --as cab-chair@contoso.com",
        ),
    )
)
def promote(
    workload: WorkloadArg,
    version: Annotated[str, typer.Argument(help="Major.Minor.Patch, e.g. 1.0.2", show_default=False)],
    to: Annotated[Stage, typer.Option("--to", help="The next stage", show_default=False)],
    signer: SignInAs = None,
    ticket: Ticket = "",
    reason: Reason = "",
    as_json: JsonFlag = False,
) -> None:
    """Approve a version for the next stage, signed with your identity (the approval contract)."""
    with outcome():
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
        if as_json:
            name = entrypoints.deps.workload(workload).name
            print_json(
                {
                    "action": "promote",
                    "workload": name,
                    "version": str(VersionNumber.parse(version)),
                    "stage": to.value,
                    "decision": note,
                    "gallery_version_id": _gallery_version_id(entrypoints.deps, name, version),
                }
            )
        else:
            say(f"{note} (follow with `avdimage status {workload}`)")


@app.command(
    epilog=examples(
        ("Withdraw what serves production now", "avdimage rollback office --ticket INC-20261118"),
        (
            "Withdraw 1.0.1 only if it still serves, saying why",
            "avdimage rollback office --version 1.0.1 \\\n      --ticket INC-20261118 --reason 'Outlook crashes'",
        ),
    )
)
def rollback(
    workload: WorkloadArg,
    version: Annotated[
        str | None, typer.Option(help="The production version to withdraw; default: the one serving now")
    ] = None,
    signer: SignInAs = None,
    ticket: Ticket = "",
    reason: Reason = "",
    as_json: JsonFlag = False,
) -> None:
    """Withdraw the production version; the rollback target serves again (a pointer move)."""
    with outcome():
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
        if as_json:
            print_json(
                {
                    "action": "rollback",
                    "workload": name,
                    "withdrawn": str(pointers.production) if pointers.production else None,
                    "production": str(pointers.rollback),
                    "decision": note,
                    "gallery_version_id": _gallery_version_id(deps, name, pointers.rollback),
                }
            )
        else:
            say(note)


@app.command(
    epilog=examples(
        ("What retention would do, changing nothing", "avdimage prune --dry-run"),
        ("Apply it to one workload", "avdimage prune office --yes"),
    )
)
def prune(
    workload: Annotated[str | None, typer.Argument(help="One workload; default every workload")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the decisions; change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply the decisions (required unless --dry-run)")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Apply the retention policy (deprecate, then delete) or, with --dry-run, show what it would do."""
    from shared.steps.versions import plan_prune

    if not dry_run and not yes:
        fail("prune deprecates and deletes image versions: add --yes to apply, or --dry-run to see the plan", USAGE)
    with outcome():
        entrypoints = None if dry_run else wiring()
        deps = entrypoints.deps if entrypoints else read_deps()
        names = [deps.workload(workload).name] if workload else deps.catalog.names
        console = _console()
        plans = []
        for name in names:
            decisions = plan_prune(name, deps)
            ids = {str(v.version): v.gallery_version_id for v in deps.records.list_versions(name)}
            plans.append(
                {
                    "workload": name,
                    "decisions": [
                        {
                            "version": str(d.version),
                            "display_name": d.display_name,
                            "action": d.action.value,
                            "reason": d.reason,
                            "end_of_life": d.end_of_life.isoformat() if d.end_of_life else None,
                            "gallery_version_id": ids.get(str(d.version)),
                        }
                        for d in decisions
                    ],
                }
            )
            if not as_json:
                render.render_decisions(name, decisions, console, dry_run=dry_run)
        if entrypoints is not None:
            now = deps.clock.now()
            entrypoints.bus.send([Envelope.wrap(Prune(workload=n, requested_at=now)) for n in names])
            if not as_json:
                say(f"sent: prune {', '.join(names)}")
        if as_json:
            print_json({"action": "prune", "dry_run": dry_run, "sent": not dry_run, "workloads": plans})


@app.command(
    epilog=examples(
        ("Roll a manual pool onto production", "avdimage rollout hp-office-manual"),
        ("Go back to an earlier version", "avdimage rollout hp-office-manual --to 1.0.0"),
    )
)
def rollout(
    pool: Annotated[str, typer.Argument(help="Host pool name (or resource id) as in the catalog")],
    to: Annotated[str | None, typer.Option("--to", help="Version; default: the workload's production")] = None,
    requested_by: Annotated[str | None, typer.Option(help="Recorded as the requester; default user@cli")] = None,
) -> None:
    """Roll a host pool onto a version in batches (or resume its halted rollout)."""
    from shared.domain.hostpools import RolloutState
    from shared.domain.naming import version_slug
    from shared.steps.rollout import policy_of

    with outcome():
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
        say(f"sent: {verb} {policy.name} to {workload.name} {version} (run {run_id})")


app.add_typer(reading)  # catalog, status, history, diff, rejected, report, validate-catalog, schema


def main() -> None:
    app()
