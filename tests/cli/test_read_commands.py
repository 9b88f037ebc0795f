"""What an admin reads: catalog, status, history, diff, report, schema, after the demo scenario."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.domain.model import VersionNumber
from tests.cli.conftest import Cli

PRODUCTION = "Win11 | DataAnalyst | v1.0.2 | 2027-01"
ROLLBACK = "Win11 | DataAnalyst | v1.0.0 | 2026-11"
DEPRECATED = "Win11 | DataAnalyst | v1.0.1 | 2026-12"
CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts"


def test_catalog_table_names_production_rollback_target_and_deprecated_with_end_of_life(demo: Cli) -> None:
    """The catalog table shows which version to use, which to fall back to, and which is going away and when."""
    result = demo("catalog")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"{PRODUCTION} (1.0.2)" in out
    assert f"{ROLLBACK} (1.0.0)" in out
    assert f"{DEPRECATED} (1.0.1, EOL 2027-02-02)" in out
    assert "data-platform@contoso.com" in out
    assert "euc-team@contoso.com" in out
    assert "Win11 | Office | v1.0.0 | 2027-01 (1.0.0, test)" in out
    assert "rollback target" in out
    assert "deprecated" in out


def test_catalog_json_gives_scripts_the_same_answer(demo: Cli) -> None:
    """`catalog --json` parses and names production, rollback target, deprecated (with EOL) and VM counts."""
    result = demo("catalog", "--json")
    assert result.exit_code == 0, result.stderr
    summaries = {s["name"]: s for s in json.loads(result.stdout)}
    analyst = summaries["data-analyst"]
    assert analyst["production"]["display_name"] == PRODUCTION
    assert analyst["rollback_target"]["version"] == "1.0.0"
    assert [(d["version"], d["end_of_life"][:10]) for d in analyst["deprecated"]] == [("1.0.1", "2027-02-02")]
    assert {v["version"]: v["vms"] for v in analyst["versions"]} == {"1.0.2": 0, "1.0.1": 0, "1.0.0": 0}
    assert analyst["owner"] == "data-platform@contoso.com"
    assert [v["version"] for v in summaries["office"]["in_test"]] == ["1.0.0"]
    assert summaries["office"]["production"] is None


def test_status_shows_roles_and_approvals_of_every_version(demo: Cli) -> None:
    """`status` names the rollback target and who approved each stage with which ticket."""
    result = demo("status", "data-analyst")
    assert result.exit_code == 0, result.stderr
    assert re.search(rf"rollback target: +{re.escape(ROLLBACK)} \(1\.0\.0\)", result.stdout)
    assert "4: validation, production, dr" in result.stdout  # approvals summarised at any width
    assert "end of life 2027-02-02" in result.stdout
    wide = demo("status", "data-analyst", "--wide")
    assert "production: cab-chair@contoso.com CHG-1.0.2-production" in wide.stdout
    assert "/images/win11-25h2-data-analyst/versions/1.0.2" in wide.stdout


def test_history_is_a_timeline_of_who_did_what_and_why(demo: Cli) -> None:
    """`history` lists the rollback with its approver and reason and the retention deprecation, in time order."""
    result = demo("history", "data-analyst", "--limit", "0")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "rolled-back" in out
    assert "withdrawn from production: Teams crashes at sign-in on 1.0.1 (INC-4711)" in out
    assert "cab-chair@contoso.com (5d9c3f16-7e8b-4ca3-9f50-1b6e3c4d5f15)" in out
    assert "deprecated" in out
    assert "retention" in out
    events = json.loads(demo("history", "data-analyst", "--json", "--limit", "0").stdout)
    times = [e["at"] for e in events]
    assert times == sorted(times)
    kinds = [(e["version"], e["kind"]) for e in events]  # versions as "1.0.1", as in every command
    assert kinds.index(("1.0.1", "rolled-back")) < kinds.index(("1.0.1", "deprecated"))


def test_diff_lists_the_patch_builds_hotfix_and_os_build_from_the_manifests(demo: Cli) -> None:
    """`diff data-analyst 1.0.0 1.0.1` shows the KB and OS build the patch build brought, as recorded."""
    records = demo.runtime.records
    old = records.get_version("data-analyst", VersionNumber.parse("1.0.0")).manifest
    new = records.get_version("data-analyst", VersionNumber.parse("1.0.1")).manifest
    added = sorted(set(new.hotfixes) - set(old.hotfixes))
    assert added == ["KB5120861"]  # what the simulator's December patch applied
    result = demo("diff", "data-analyst", "1.0.0", "1.0.1")
    assert result.exit_code == 0, result.stderr
    assert f"{old.os_build} -> {new.os_build}" in result.stdout
    assert "26200.9921 -> 26200.10421" in result.stdout
    assert "hotfix added │ KB5120861" in result.stdout
    reversed_order = json.loads(demo("diff", "data-analyst", "1.0.1", "1.0.0", "--json").stdout)
    assert reversed_order["older"] == "1.0.0"
    assert reversed_order["hotfixes_added"] == ["KB5120861"]
    assert reversed_order["os_build"] == ["26200.9921", "26200.10421"]


def test_diff_of_a_version_that_does_not_exist_exits_1(demo: Cli) -> None:
    """An unknown version is a refusal (exit 1) naming the version, not a traceback."""
    result = demo("diff", "data-analyst", "1.0.0", "9.9.9")
    assert result.exit_code == 1
    assert "data-analyst has no version 9.9.9" in result.stderr


def test_report_on_the_demo_is_clean(demo: Cli) -> None:
    """The governance report checks the gallery's definitions too and finds nothing wrong in the demo."""
    result = demo("report")
    assert result.exit_code == 0, result.stderr
    assert "no findings" in result.stdout
    assert "unknown-definition" in result.stdout
    payload = json.loads(demo("report", "--json").stdout)
    assert payload["findings"] == []
    assert payload["workloads"] == ["data-analyst", "office"]
    assert payload["skipped"] == {}


def test_prune_dry_run_explains_every_decision_and_sends_nothing(demo: Cli) -> None:
    """`prune --dry-run` shows keep reasons (production, rollback target, deprecated until) and changes nothing."""
    before = demo.runtime.records.load_workload("data-analyst")
    result = demo("prune", "data-analyst", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "serves production" in result.stdout
    assert "production rollback target" in result.stdout
    assert "deprecated until 2027-02-02" in result.stdout
    assert "sent" not in result.stdout
    assert demo.runtime.records.load_workload("data-analyst") == before


def test_schema_prints_the_published_approval_contract(demo: Cli) -> None:
    """`schema` prints exactly docs/contracts/approval.schema.json, which a script can parse."""
    result = demo("schema")
    assert result.exit_code == 0
    assert result.stdout == (CONTRACTS / "approval.schema.json").read_text(encoding="utf-8")
    schema = json.loads(result.stdout)
    assert schema["title"] == "AVD image approval (contract version 2)"
    assert {"workload", "version", "approver_token", "requested_at"} <= set(schema["required"])


def test_schema_write_regenerates_every_contract_file(demo: Cli, tmp_path: Path) -> None:
    """`schema --write --out DIR` writes each published contract, byte for byte as in docs/contracts."""
    result = demo("schema", "--write", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["approval.schema.json", "step-message.schema.json"]
    for name in written:
        assert (tmp_path / name).read_text(encoding="utf-8") == (CONTRACTS / name).read_text(encoding="utf-8")


def test_history_filters_by_time_stage_event_and_count(demo: Cli) -> None:
    """--since, --stage, --event, --version and --limit narrow the history; by default the newest 20 show."""
    every = json.loads(demo("history", "data-analyst", "--json", "--limit", "0").stdout)
    assert len(json.loads(demo("history", "data-analyst", "--json").stdout)) == min(20, len(every))
    promoted = json.loads(demo("history", "data-analyst", "--json", "--limit", "0", "--event", "promoted").stdout)
    assert promoted
    assert {e["kind"] for e in promoted} == {"promoted"}
    into_production = json.loads(
        demo("history", "data-analyst", "--json", "--limit", "0", "--stage", "production", "--event", "promoted").stdout
    )
    assert [e["version"] for e in into_production] == ["1.0.0", "1.0.1", "1.0.2"]
    since = every[-5]["at"]
    recent = json.loads(demo("history", "data-analyst", "--json", "--limit", "0", "--since", since).stdout)
    assert recent
    assert all(e["at"] >= since for e in recent)
    one = json.loads(demo("history", "data-analyst", "--json", "--limit", "0", "--version", "1.0.1").stdout)
    assert one
    assert {e["version"] for e in one} == {"1.0.1"}
    bad = demo("history", "data-analyst", "--since", "last tuesday")
    assert bad.exit_code == 2
    assert "--since 'last tuesday' is not a date" in bad.stderr


def test_json_versions_are_strings_with_gallery_resource_ids(demo: Cli) -> None:
    """Every command's JSON names versions as "1.0.2" and carries the gallery version's resource id."""
    catalog = json.loads(demo("catalog", "--json").stdout)
    analyst = next(w for w in catalog if w["name"] == "data-analyst")
    assert analyst["production"]["version"] == "1.0.2"
    assert analyst["production"]["gallery_version_id"].endswith("/versions/1.0.2")
    plan = json.loads(demo("prune", "--dry-run", "--json").stdout)
    decisions = plan["workloads"][0]["decisions"]
    assert all(isinstance(d["version"], str) and d["gallery_version_id"] for d in decisions)
    assert plan["sent"] is False


def test_version_and_short_help() -> None:
    """`--version` prints the installed version and `-h` is help."""
    from typer.testing import CliRunner

    from shared.cli import app

    assert CliRunner().invoke(app, ["--version"]).stdout.startswith("avdimage 0.")
    assert "Usage: avdimage catalog" in CliRunner().invoke(app, ["catalog", "-h"]).stdout
