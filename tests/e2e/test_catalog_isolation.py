"""Isolation (issue 13): one bad catalog file disables that workload only; the others run, HTTP too."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from localrun.runtime import LocalRuntime
from shared import bootstrap
from shared.domain.catalog import CatalogError
from shared.domain.catalog_isolation import load_catalog_isolated
from shared.domain.commands import StartBuild
from shared.domain.model import BuildReason, RunState
from shared.report import Check, report_for
from tests.functions.conftest import function, http_get

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broken(tmp_path: Path) -> Iterator[LocalRuntime]:
    """The repository's catalog with office.toml broken (an unknown key), wired as the app."""
    shutil.copytree(ROOT / "catalog", tmp_path / "catalog")
    office = tmp_path / "catalog" / "office.toml"
    office.write_text(office.read_text(encoding="utf-8") + '\ncolour = "blue"\n', encoding="utf-8")
    runtime = LocalRuntime(tmp_path / "catalog")
    bootstrap.use(runtime.entrypoints)
    yield runtime
    bootstrap.use(None)


def test_a_bad_catalog_file_disables_only_its_workload(broken: LocalRuntime) -> None:
    """The other workload builds; the broken one's messages are refused with the file and field named."""
    assert broken.catalog.names == ["data-analyst"]
    assert [d.name for d in broken.catalog.disabled] == ["office"]
    broken.submit(
        StartBuild(workload="office", run_id="first-build", reason=BuildReason.FIRST, requested_by="a@b.c"),
        StartBuild(workload="data-analyst", run_id="first-build", reason=BuildReason.FIRST, requested_by="a@b.c"),
    )
    broken.run()
    assert broken.records.find_run("data-analyst", "first-build").state is RunState.SUCCEEDED  # type: ignore[union-attr]
    refused = [r.reason for r in broken.records.list_rejections()]
    assert any("office' is disabled: office.toml is invalid" in r and "colour" in r for r in refused), refused


def test_a_disabled_workload_is_reported_everywhere(broken: LocalRuntime) -> None:
    """HTTP still answers; the health API, the status page and the governance report name the broken file."""
    catalog = function("catalog")(http_get("/api/catalog"))
    assert catalog.status_code == 200
    health = function("health")(http_get("/api/health"))
    assert b"office.toml" in health.get_body()
    page = function("status_page")(http_get("/api/status"))
    assert b"Needs attention" in page.get_body()
    assert b"office.toml is invalid" in page.get_body()
    report = report_for(broken.deps)
    assert [f.subject for f in report.of(Check.CATALOG_FILE)] == ["office.toml"]


def test_a_catalog_with_nothing_valid_is_still_an_error(tmp_path: Path) -> None:
    """Isolation never hides a catalog where no workload is valid: that is refused with every issue."""
    (tmp_path / "broken.toml").write_text('name = "x"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="broken.toml"):
        load_catalog_isolated(tmp_path)
