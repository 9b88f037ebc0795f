"""The status page in headless Chromium after the demo scenario, and the page's HTML contract."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.request import urlopen

import azure.functions as func
import pytest
from typer.testing import CliRunner

from localrun.runtime import LocalRuntime
from shared import bootstrap
from shared.cli import app
from tests.browser.cdp import Browser
from tests.browser.conftest import STATUS
from tests.cli.scenario import demo_runtime

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browse(chromium: str, tmp_path: Path, *args: str) -> str:
    """Run headless Chromium once with its own profile; its stdout (e.g. --dump-dom)."""
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    done = subprocess.run(  # noqa: S603 - a fixed browser binary with our own arguments
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


class _Cells(HTMLParser):
    """Text of each catalog cell by (workload, data-role)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self._workload = ""
        self._role = ""
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-workload"):
            self._workload = found["data-workload"] or ""
        if tag == "td" and found.get("data-role"):
            self._role = found["data-role"] or ""
            self.cells[(self._workload, self._role)] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._role = ""

    def handle_data(self, data: str) -> None:
        if self._role:
            key = (self._workload, self._role)
            self.cells[key] = " ".join((self.cells[key] + " " + data).split())


def cells(html: str) -> dict[tuple[str, str], str]:
    parser = _Cells()
    parser.feed(html)
    return parser.cells


def test_chromium_shows_production_rollback_target_and_deprecated_version(
    chromium: str, status_url: str, output: Path, tmp_path: Path
) -> None:
    """Headless Chromium renders the page: production, rollback target and a deprecated version with EOL; screenshot saved."""
    dom = browse(chromium, tmp_path, "--dump-dom", status_url)
    shown = cells(dom)
    assert shown[("data-analyst", "production")] == "active Win11 | DataAnalyst | v1.0.2 | 2027-01 (1.0.2)"
    assert shown[("data-analyst", "rollback-target")] == "rollback Win11 | DataAnalyst | v1.0.0 | 2026-11 (1.0.0)"
    assert shown[("data-analyst", "deprecated")] == (
        "deprecated Win11 | DataAnalyst | v1.0.1 | 2026-12 (1.0.1), end of life 2027-02-02"
    )
    assert shown[("office", "coming")] == "test Win11 | Office | v1.0.0 | 2027-01 (1.0.0)"
    assert '<svg class="timeline"' in dom
    analyst = dom.split('id="wl-data-analyst"')[1].split('id="wl-office"')[0]
    assert re.findall(r'<g class="lane" data-version="([\d.]+)"', analyst) == ["1.0.2", "1.0.1", "1.0.0"]
    assert 'class="phase-deprecated"' in analyst
    assert 'class="phase-rollback-target"' in analyst
    assert "<script" not in dom


# Measured in the page: how wide the document is, and what sticks out of the viewport on the right.
OVERFLOW = """(() => {
  const width = window.innerWidth;
  const out = [...document.querySelectorAll('table, svg.timeline, section, p, h1, h2, dl')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className : ''));
  return {scroll: document.documentElement.scrollWidth, width, out};
})()"""

# The timeline's last tick label and the "now" line: inside the drawing, not clipped at its edge.
TIMELINE = """[...document.querySelectorAll('svg.timeline')].map(svg => {
  const box = svg.viewBox.baseVal;
  const labels = [...svg.querySelectorAll(':scope > text')].map(t => t.getBBox());
  const lanes = [...svg.querySelectorAll('g.lane')].map(g => ({
    version: g.dataset.version,
    bars: [...g.querySelectorAll('rect:not(.mark)')].map(r => ({cls: r.getAttribute('class'), w: r.width.baseVal.value}))
  }));
  return {right: Math.max(...labels.map(b => b.x + b.width)), width: box.width, lanes};
})"""


@pytest.mark.parametrize("width", [1400, 800])
def test_page_fits_the_window_at_1400_and_800_px(
    chromium: str, status_url: str, output: Path, tmp_path: Path, width: int
) -> None:
    """At 1400 and 800 px nothing runs off the page; timelines keep their last date and show production as a bar."""
    browser = Browser(chromium, tmp_path / "profile")
    try:
        browser.open(status_url, width, 1000)
        measured = browser.evaluate(OVERFLOW)
        timelines = browser.evaluate(TIMELINE)
        screenshot = output / f"status-{width}.png"
        screenshot.unlink(missing_ok=True)
        browser.screenshot(screenshot)
    finally:
        browser.close()
    assert measured["out"] == [], f"sticks out at {width} px: {measured['out']}"
    assert measured["scroll"] <= measured["width"]
    for timeline in timelines:
        assert timeline["right"] <= timeline["width"]  # no tick label clipped at the right edge
    analyst = next(t for t in timelines if any(lane["version"] == "1.0.2" for lane in t["lanes"]))
    current = next(lane for lane in analyst["lanes"] if lane["version"] == "1.0.2")
    production = [bar["w"] for bar in current["bars"] if bar["cls"] == "phase-production"]
    assert production[-1] >= 0.1 * analyst["width"] * 0.5  # the current production is a bar one can see
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank image


def test_rollback_through_the_cli_shows_on_the_page(runtime: LocalRuntime, status_url: str) -> None:
    """One `avdimage rollback` and the page serves 1.0.0 as production, 1.0.2 withdrawn, no rollback target."""
    rolled = demo_runtime()  # its own state, so the other tests see the demo scenario in any order
    bootstrap.use(rolled.entrypoints)
    try:
        result = CliRunner().invoke(
            app, ["rollback", "data-analyst", "--as", "cab-chair@contoso.com", "--ticket", "INC-77"]
        )
        assert result.exit_code == 0, result.stderr
        rolled.run()
        with urlopen(status_url, timeout=30) as response:  # noqa: S310 - loopback URL of the test's own server
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            html = response.read().decode()
        catalog = json.loads(CliRunner().invoke(app, ["catalog", "--json"]).stdout)
    finally:
        bootstrap.use(runtime.entrypoints)
    shown = cells(html)
    assert shown[("data-analyst", "production")] == "active Win11 | DataAnalyst | v1.0.0 | 2026-11 (1.0.0)"
    assert shown[("data-analyst", "rollback-target")] == "none"
    assert 'class="badge badge-withdrawn">withdrawn' in html
    assert catalog[0]["production"]["version"] == "1.0.0"


def test_page_escapes_what_it_shows(runtime: LocalRuntime) -> None:
    """Catalog and record text is HTML-escaped (autoescape), and the page refuses scripts by CSP."""
    response = STATUS(func.HttpRequest(method="GET", url="http://127.0.0.1/api/status", body=b"", params={}))
    html = response.get_body().decode()
    assert response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "<script" not in html
    from shared.render import status_html
    from shared.views import catalog_view

    summary = catalog_view(runtime.deps)[1]
    hostile = summary.model_copy(update={"purpose": "<script>alert(1)</script> & more"})
    page = status_html([hostile], {}, runtime.sim.clock.now())
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "<script>" not in page
