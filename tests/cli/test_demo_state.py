"""`make demo` leaves its estate in a folder; `avdimage --demo` and `make ui` work on it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import azure.functions as func
import pytest

from functions.status import status_page
from localrun import state
from localrun.state import demo_runtime as demo_state_runtime
from localrun.state import load_simulator, save_simulator
from shared import bootstrap
from tests.cli.scenario import demo_runtime

ROOT = Path(__file__).resolve().parents[2]
AVDIMAGE = Path(sys.executable).parent / "avdimage"


def test_the_simulator_is_saved_and_restored_with_its_resources_and_time(tmp_path: Path) -> None:
    """The pickled simulator comes back with every resource, gallery version and the virtual time."""
    runtime = demo_runtime()
    saved = tmp_path / "simulator.pickle"
    save_simulator(runtime.sim, saved)
    restored = load_simulator(saved)
    assert restored.clock.now() == runtime.sim.clock.now()
    assert restored.live_resources() == runtime.sim.live_resources()
    assert sorted(restored.gallery.versions) == sorted(runtime.sim.gallery.versions)
    assert restored.ctx is restored.gallery.ctx  # reattached to the new simulator, not a copy of the old one


def _run(args: list[str], state: Path, width: int = 80) -> str:
    env = dict(os.environ, COLUMNS=str(width), AVD_DEMO_DIR=str(state))
    env.pop("AVD_TABLES_CONNECTION_STRING", None)
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def test_after_the_demo_the_cli_reads_its_estate_at_80_columns(tmp_path: Path) -> None:
    """The demo at 80 columns: narration whole (ids included), the sweep says what it did; then --demo commands fit."""
    state = tmp_path / "demo"
    story = _run([sys.executable, "-m", "localrun.demo", "--state", str(state)], state)
    assert (state / "simulator.pickle").exists()
    assert (state / "azurite").is_dir()
    assert [line for line in story.splitlines() if len(line) > 80] == []
    flat = re.sub(r"\s+", "", story)  # wrapped and folded lines joined back (spaces dropped)
    assert re.search(r"galleryversion/subscriptions/\S+?/versions/1\.0\.0created", flat)  # the id is whole
    assert "sweeper" in story
    assert "retention plan" in story
    # self-healing: the production version an admin deleted in the portal is flagged by reconcile
    assert re.search(r"anadmindeletesdata-analyst1\.0\.\d+\(production\)intheportal", flat)
    assert re.search(r"reconcileflagsproductionversion1\.0\.\d+wasdeletedoutsidetheproduct", flat)
    for command in (["catalog"], ["status", "office"], ["history", "office"], ["report"], ["hostpools"]):
        out = _run([str(AVDIMAGE), "--demo", *command], state)
        assert out.strip(), command
        assert [line for line in out.splitlines() if len(line) > 80] == [], command
    assert "Win11 | Office | v1.0.2 | 2026-12 (1.0.2)" in _run([str(AVDIMAGE), "--demo", "catalog"], state, 1000)
    _the_demo_pools_are_in_its_estate(state)


def _the_demo_pools_are_in_its_estate(state: Path) -> None:
    """The pool chapter's two pools (one estate with the rest): `avdimage --demo hostpools` and the
    status page `make ui` serves both show them, with their hosts on the version rolled out."""
    pools = _run([str(AVDIMAGE), "--demo", "hostpools"], state)
    for name in ("hp-office-pooled", "hp-office-finance"):
        assert name in pools
    assert "8 hosts: 8 on 1.0.3" in pools
    assert "rollout manual-finance-1 to 1.0.3: succeeded" in pools
    request = func.HttpRequest(method="GET", url="http://127.0.0.1/api/status", body=b"")
    with demo_state_runtime(state, save=False) as runtime:
        bootstrap.use(runtime.entrypoints)
        try:
            page = status_page.build().get_user_function()(request).get_body().decode()
        finally:
            bootstrap.use(None)
    assert "hp-office-pooled" in page
    assert "hp-office-finance" in page


def test_without_demo_state_the_cli_says_to_run_make_demo(tmp_path: Path) -> None:
    """`avdimage --demo` on a folder without demo state exits 3 and names `make demo`."""
    env = dict(os.environ, AVD_DEMO_DIR=str(tmp_path / "none"), COLUMNS="80")
    done = subprocess.run(  # noqa: S603
        [str(AVDIMAGE), "--demo", "catalog"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3
    assert "run `make demo` first" in " ".join(done.stderr.split())  # wrapped at 80 columns


def test_a_simulator_saved_by_other_simulator_code_asks_for_a_new_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """State pickled by an older simulator (fields since changed) is refused with `make demo` as the fix."""
    saved = tmp_path / "simulator.pickle"
    save_simulator(demo_runtime().sim, saved)
    monkeypatch.setattr(state, "code_fingerprint", lambda: "changed-since")
    with pytest.raises(state.DemoStateMissing, match="another version of the simulator; run `make demo` again"):
        load_simulator(saved)
