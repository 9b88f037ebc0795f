"""A build lands in the deployed gallery (settings), whatever the local defaults are."""

from __future__ import annotations

from pathlib import Path

from localrun.runtime import LocalRuntime
from localrun.scenario import build
from shared.config import Settings
from shared.domain.model import BuildReason, Status, VersionNumber

ROOT = Path(__file__).resolve().parents[2]


def test_build_captures_into_the_gallery_from_settings() -> None:
    """With azd-style names in the settings, the definition and version are created in that gallery and group."""
    settings = Settings(image_resource_group="rg-avdimg-prod-images", gallery_name="gal_avdimg_prod_x7k2")
    runtime = LocalRuntime(ROOT / "catalog", settings=settings)
    build(runtime, "office", "first-build", BuildReason.FIRST)
    version = runtime.records.get_version("office", VersionNumber.parse("1.0.0"))
    assert version.status is Status.READY, version.failure_reason
    expected = (
        "/resourcegroups/rg-avdimg-prod-images/providers/microsoft.compute/galleries/gal_avdimg_prod_x7k2"
        "/images/win11-24h2-office/versions/1.0.0"
    )
    assert version.gallery_version_id.lower().endswith(expected)
    created = {r["id"].lower() for r in runtime.sim.live_resources()}
    assert not any("/resourcegroups/rg-avd-images/" in rid for rid in created)
