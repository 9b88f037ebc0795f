"""What an admin does: rollback, promote, build, prune, and the exit codes scripts rely on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from shared import bootstrap
from shared.cli import app, wait_for_run
from shared.domain.commands import Envelope
from shared.domain.model import RunState, VersionNumber
from shared.entrypoints import Entrypoints
from tests.cli.conftest import WIDE, Cli


def test_rollback_is_one_command_and_shows_in_the_catalog(fresh: Cli) -> None:
    """`rollback` makes the rollback target production again and the catalog says so at once."""
    result = fresh(
        "rollback",
        "data-analyst",
        "--as",
        "cab-chair@contoso.com",
        "--ticket",
        "INC-9",
        "--reason",
        "VPN client breaks",
    )
    assert result.exit_code == 0, result.stderr
    assert "data-analyst production 1.0.2 -> 1.0.0" in result.stdout
    fresh.runtime.run()
    analyst = next(s for s in json.loads(fresh("catalog", "--json").stdout) if s["name"] == "data-analyst")
    assert analyst["production"]["version"] == "1.0.0"
    assert analyst["rollback_target"] is None
    assert "withdrawn" in next(v for v in analyst["versions"] if v["version"] == "1.0.2")["badges"]
    assert "VPN client breaks (INC-9)" in fresh("history", "data-analyst").stdout


def test_rollback_without_a_rollback_target_exits_1(fresh: Cli) -> None:
    """A workload with nothing to roll back to is refused with the reason, and nothing changes."""
    result = fresh("rollback", "office", "--as", "cab-chair@contoso.com")
    assert result.exit_code == 1
    assert "office has no rollback target" in result.stderr


def test_unauthorized_approver_is_refused_with_exit_1_and_kept_as_rejected(fresh: Cli) -> None:
    """A promotion by someone not allowed exits 1 with the reason on stderr and is listed by `rejected`."""
    before = fresh.runtime.records.get_version("office", VersionNumber.parse("1.0.0"))
    result = fresh(
        "promote", "office", "1.0.0", "--to", "validation", "--as", "intruder@contoso.com", "--ticket", "CHG-7"
    )
    assert result.exit_code == 1
    assert "intruder@contoso.com (" in result.stderr
    assert "is not an allowed approver for validation" in result.stderr
    assert result.stdout == ""
    after = fresh.runtime.records.get_version("office", VersionNumber.parse("1.0.0"))
    assert (after.status, after.stage, after.approvals) == (before.status, before.stage, before.approvals)
    listed = fresh("rejected")
    assert "is not an allowed approver" in listed.stdout
    assert json.loads(fresh("rejected", "--json").stdout)[0]["source"] == "image-approvals"


def test_allowed_promotion_moves_the_version_one_stage(fresh: Cli) -> None:
    """`promote --to validation` by an allowed approver is accepted and the version serves validation."""
    result = fresh(
        "promote", "office", "1.0.0", "--to", "validation", "--as", "euc-admin@contoso.com", "--ticket", "CHG-8"
    )
    assert result.exit_code == 0, result.stderr
    assert "approved: office 1.0.0 -> validation; replicating" in result.stdout
    fresh.runtime.run()
    office = json.loads(fresh("status", "office", "--json").stdout)
    assert [v["version"] for v in office["in_validation"]] == ["1.0.0"]


def test_unknown_workload_exits_1_for_every_command(demo: Cli) -> None:
    """An unknown workload is a refusal with the reason, whichever command names it."""
    for args in (
        ("status", "nope"),
        ("history", "nope"),
        ("diff", "nope", "1.0.0", "1.0.1"),
        ("prune", "nope", "--dry-run"),
        ("build", "nope"),
    ):
        result = demo(*args)
        assert result.exit_code == 1, args
        assert "unknown workload 'nope'" in result.stderr, args


def test_invalid_workload_name_exits_1(demo: Cli) -> None:
    """A name that cannot be a workload is refused before it reaches a query."""
    result = demo("history", "Bad'Name")
    assert result.exit_code == 1
    assert "Bad'Name" in result.stderr


def test_missing_option_is_a_usage_error(demo: Cli) -> None:
    """A promotion without --to is typer's usage error (exit 2)."""
    result = demo("promote", "office", "1.0.0", "--as", "euc-admin@contoso.com")
    assert result.exit_code == 2


def test_validate_catalog_lists_every_error_and_exits_1(tmp_path: Path) -> None:
    """Every problem of every file is listed with file and field, not just the first."""
    (tmp_path / "a.toml").write_text('name = "Bad Name"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text("name = [unclosed\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate-catalog", str(tmp_path)], env=WIDE)
    assert result.exit_code == 1
    err = result.stderr
    assert "a.toml: name: invalid workload name 'Bad Name'" in err
    assert "a.toml: owner:" in err
    assert "a.toml: gallery:" in err
    assert "b.toml: (syntax):" in err
    missing = CliRunner().invoke(app, ["validate-catalog", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1
    assert "catalog folder not found" in missing.stderr


def test_validate_catalog_accepts_the_repository_catalog() -> None:
    """The repository's own catalog validates, workload by workload."""
    result = CliRunner().invoke(app, ["validate-catalog", str(Path(__file__).resolve().parents[2] / "catalog")])
    assert result.exit_code == 0, result.stderr
    assert "ok: data-analyst (gal_avd_images/win11-25h2-data-analyst)" in result.stdout


def test_missing_configuration_exits_3_and_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a wiring and without settings, the CLI names the settings and `make demo` (exit 3)."""
    bootstrap.use(None)
    for name in (
        "ServiceBusConnection__fullyQualifiedNamespace",
        "AVD_TABLES_ENDPOINT",
        "AVD_TABLES_CONNECTION_STRING",
    ):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["catalog"], env=WIDE)
    assert result.exit_code == 3
    assert "configuration missing" in result.stderr
    assert "AVD_TABLES_ENDPOINT" in result.stderr
    assert "ServiceBusConnection" not in result.stderr  # reading needs no Service Bus
    assert "make demo" in result.stderr
    acting = CliRunner().invoke(app, ["build", "office"], env=WIDE)
    assert acting.exit_code == 3
    assert "ServiceBusConnection__fullyQualifiedNamespace" in acting.stderr


def test_prepare_only_build_is_passed_on(fresh: Cli) -> None:
    """`build --prepare-only` asks for the source VM only: the run is recorded as prepare-only."""
    result = fresh("build", "office", "--prepare-only", "--run-id", "prep-1")
    assert result.exit_code == 0, result.stderr
    assert "prepare only" in result.stdout
    fresh.runtime.run()
    run = fresh.runtime.records.find_run("office", "prep-1")
    assert run is not None
    assert run.prepare_only


def test_build_sends_a_start_message_the_functions_carry_out(fresh: Cli) -> None:
    """`build` sends one StartBuild with a manual run id; once delivered the new version is ready in test."""
    now = fresh.runtime.sim.clock.now()
    result = fresh("build", "office")
    assert result.exit_code == 0, result.stderr
    run_id = f"manual-{now:%Y%m%d-%H%M}"
    assert f"sent: build office run {run_id} (patch)" in result.stdout  # a manual rebuild is a patch bump
    records = fresh.runtime.records
    state = wait_for_run(
        fresh.runtime.deps,
        "office",
        run_id,
        Console(file=None, quiet=True),
        poll=fresh.runtime.run,
        timeout=timedelta(minutes=1),
    )
    assert state is RunState.SUCCEEDED
    built = records.get_version("office", VersionNumber.parse("1.0.1"))
    assert built.run_id == run_id
    assert built.requested_by.endswith("@cli")
    again = fresh("build", "office", "--run-id", run_id)
    assert again.exit_code == 0  # the same run id again is a duplicate, harmless


def test_build_while_a_run_is_active_is_refused(fresh: Cli) -> None:
    """A second build of a workload with a run in progress exits 1 naming the active run."""
    assert fresh("build", "office", "--reason", "patch", "--run-id", "patch-1").exit_code == 0
    fresh.runtime.run(until=fresh.runtime.sim.clock.now() + timedelta(minutes=2))  # started, far from done
    result = fresh("build", "office")
    assert result.exit_code == 1
    assert "office already has an active run patch-1" in result.stderr


def test_prune_sends_a_prune_per_workload(fresh: Cli) -> None:
    """`prune` without a workload shows every plan and sends one prune per workload."""
    result = fresh("prune", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "sent: prune data-analyst, office" in result.stdout
    fresh.runtime.run()
    assert any("office:prune:" in d for d in fresh.runtime.trace.deliveries)


class CapturingBus:
    """Stands in for the image-approvals queue: keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[Envelope] = []

    def send(self, envelopes: Iterable[Envelope]) -> None:
        self.sent.extend(envelopes)


def test_in_azure_operator_approvals_are_checked_then_queued(fresh: Cli) -> None:
    """With an approvals queue wired (Azure), the CLI checks read-only and queues; nothing changes locally."""
    queue = CapturingBus()
    azure = Entrypoints(fresh.runtime.deps, fresh.runtime.bus, approvals=queue)
    azure.sign_in = fresh.runtime.entrypoints.sign_in  # the operator's own token (here: the local issuer)
    bootstrap.use(azure)
    before = fresh.runtime.records.get_version("office", VersionNumber.parse("1.0.0"))
    refused = fresh("promote", "office", "1.0.0", "--to", "validation", "--as", "mallory@contoso.com")
    assert refused.exit_code == 1
    assert "is not an allowed approver for validation" in refused.stderr
    assert queue.sent == []
    accepted = fresh("promote", "office", "1.0.0", "--to", "validation", "--as", "qa-lead@contoso.com")
    assert accepted.exit_code == 0, accepted.stderr
    assert "sent to the image-approvals queue" in accepted.stderr
    assert [json.loads(e.body)["target_stage"] for e in queue.sent] == ["validation"]
    assert fresh.runtime.records.get_version("office", VersionNumber.parse("1.0.0")) == before
    assert fresh.runtime.records.list_rejections() == []


def test_prune_without_yes_or_dry_run_changes_nothing_and_exits_2(fresh: Cli) -> None:
    """`prune` deletes versions, so it asks for --yes (or --dry-run) and sends nothing without it."""
    sent = len(fresh.runtime.trace.deliveries)
    result = fresh("prune", "office")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert "--dry-run" in result.stderr
    fresh.runtime.run()
    assert not any(":prune:" in d for d in fresh.runtime.trace.deliveries[sent:])


def test_validate_catalog_reports_every_file_names_the_stage_and_suggests_keys(tmp_path: Path) -> None:
    """An error in one file hides no cross-file error; the stage's approvers field is named; typos get a suggestion."""
    repository = Path(__file__).resolve().parents[2] / "catalog"
    office = (repository / "office.toml").read_text(encoding="utf-8")
    office = office.replace('vm_size = "Standard_D4s_v5"', 'vm_sise = "Standard_D4s_v5"')
    start = office.index("approvers = [", office.index("[stages.validation]"))
    end = office.index("\n]", start) + 2  # the multi-line array of the sample catalog
    office = office[:start] + "approvers = []" + office[end:]
    assert "approvers = []" in office
    (tmp_path / "office.toml").write_text(office, encoding="utf-8")
    analyst = (repository / "data-analyst.toml").read_text(encoding="utf-8")
    analyst = re.sub(r'definition = "[^"]+"', 'definition = "win11-24h2-office"', analyst, count=1)
    (tmp_path / "data-analyst.toml").write_text(analyst, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate-catalog", str(tmp_path), "--json"], env=WIDE)
    assert result.exit_code == 1
    errors = {(e["file"], e["field"]): e["reason"] for e in json.loads(result.stdout)["errors"]}
    assert errors[("office.toml", "vm_sise")] == "unknown key 'vm_sise'; did you mean 'vm_size'?"
    assert "validation needs at least one approver" in errors[("office.toml", "stages.validation.approvers")]
    assert "image sprawl guard" in errors[("office.toml", "gallery.definition")]  # though office.toml is invalid
