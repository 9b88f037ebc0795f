"""`avdimage hostpools`, `avdimage rollout` and the host pool lines of `avdimage status`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from typer.testing import CliRunner, Result

from localrun.runtime import LocalRuntime
from shared import bootstrap
from shared.adapters.memory_records import MemoryRecordStore
from shared.cli import app
from tests.e2e.hostpool_scenario import (
    auto_policy,
    catalog_with_pools,
    manual_policy,
    patch_to_production,
    pools_on_production,
    versions,
)


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    """Two pools on 1.0.0, production at 1.0.1, the auto pool waiting for its window."""
    rt = LocalRuntime(catalog_with_pools(auto_policy(), manual_policy()), records=MemoryRecordStore())
    pools_on_production(rt, hosts=4)
    patch_to_production(rt)
    bootstrap.use(rt.entrypoints)
    yield rt
    bootstrap.use(None)


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})


def test_hostpools_lists_hosts_per_version_within_80_columns(runtime: LocalRuntime) -> None:
    """Each pool shows its hosts per version, drained and sessions, and its rollout; no line over 80."""
    result = cli("hostpools")
    assert result.exit_code == 0, result.output
    assert "hp-office-auto (office, auto, rg-avd-hosts)" in result.output
    assert "4 hosts: 4 on 1.0.0" in result.output
    assert "to 1.0.1: running (plan)" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_hostpools_json(runtime: LocalRuntime) -> None:
    """--json gives every host with its version, drain state, sessions and VM."""
    pools = json.loads(cli("hostpools", "--json").output)
    assert {p["pool"].rsplit("/", 1)[-1] for p in pools} == {"hp-office-auto", "hp-office-manual"}
    host = pools[0]["hosts"][0]
    assert host["version"] == "1.0.0"
    assert host["drained"] is False
    assert "/virtualMachines/" in host["vm"]


def test_status_names_the_pools_using_each_version(runtime: LocalRuntime) -> None:
    """`avdimage status office` says which host pools run which version."""
    result = cli("status", "office")
    assert result.exit_code == 0, result.output
    assert "1.0.0: hp-office-auto, hp-office-manual" in result.output
    payload = json.loads(cli("status", "office", "--json").output)
    assert payload["host_pools"] == {"1.0.0": ["hp-office-auto", "hp-office-manual"]}


def test_rollout_unknown_pool_is_refused(runtime: LocalRuntime) -> None:
    """A pool no workload serves is refused with exit code 1 and the reason."""
    result = CliRunner().invoke(app, ["rollout", "hp-nowhere"])
    assert result.exit_code == 1
    assert "no workload in the catalog serves a host pool 'hp-nowhere'" in result.output


def test_rollout_manual_pool_to_production(runtime: LocalRuntime) -> None:
    """`avdimage rollout hp-office-manual` moves the manual pool onto production (1.0.1)."""
    result = cli("rollout", "hp-office-manual")
    assert result.exit_code == 0, result.output
    assert "sent: rollout hp-office-manual to office 1.0.1" in result.output
    runtime.run_until(runtime.sim.clock.now() + timedelta(hours=2))
    assert versions(runtime, manual_policy()) == {"1.0.1": 4}


def test_status_page_has_a_bar_per_pool_coloured_by_version(runtime: LocalRuntime) -> None:
    """The status page's host pool section draws one bar per pool with a segment per version."""
    from shared.hostpools_view import estate
    from shared.render import status_html
    from shared.views import catalog_view

    deps = runtime.deps
    page = status_html(catalog_view(deps), {}, deps.clock.now(), estate(deps))
    assert 'id="hostpools"' in page
    assert page.count('class="poolbar"') == 2
    assert 'data-pool="hp-office-auto"' in page
    assert 'data-pool="hp-office-manual"' in page
    assert '<rect data-version="1.0.0" x="0.00" y="0" width="100.00"' in page
    without = status_html(catalog_view(deps), {}, deps.clock.now())
    assert 'id="hostpools"' not in without
