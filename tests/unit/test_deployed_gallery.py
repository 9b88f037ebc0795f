"""One gallery source of truth: the deployed gallery from settings; the catalog names only definitions.

Before, each catalog file named a resource group and gallery of its own while the app worked in
AVD_IMAGE_RESOURCE_GROUP (infra's rg-<env>-images, where its role applies), and AVD_GALLERY_NAME
was read and never used: with azd's defaults, definitions went where the app had no role.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scripts.with_azurite import connection_string
from shared.bootstrap import build_deps
from shared.cli import app
from shared.config import Settings
from shared.domain.catalog import CatalogError, DeployedGallery, load_catalog

ROOT = Path(__file__).resolve().parents[2]
OFFICE = (ROOT / "catalog" / "office.toml").read_text(encoding="utf-8")
PROD = DeployedGallery(resource_group="rg-avdimg-prod-images", name="gal_avdimg_prod_x7k2")
AZURITE = connection_string(10002)  # build_deps only constructs the Table client; nothing connects


def catalog_with(tmp_path: Path, gallery_lines: str) -> Path:
    """A catalog folder with office.toml whose [gallery] section has these extra lines."""
    text = OFFICE.replace("[gallery]", f"[gallery]\n{gallery_lines}", 1) if gallery_lines else OFFICE
    (tmp_path / "office.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_catalog_names_only_the_definition() -> None:
    """The shipped files name no gallery; loading binds every workload to the deployed one."""
    assert "resource_group" not in OFFICE.split("[gallery]", 1)[1].split("[", 1)[0]
    catalog = load_catalog(ROOT / "catalog", PROD)
    for workload in catalog.workloads:
        assert (workload.gallery.resource_group, workload.gallery.name) == (PROD.resource_group, PROD.name)
    assert catalog.get("office").gallery.definition == "win11-24h2-office"


def test_a_stated_gallery_must_be_the_deployed_one(tmp_path: Path) -> None:
    """An older file may state the deployed gallery (any case); another one is refused, naming file and field."""
    same = catalog_with(tmp_path, f'resource_group = "{PROD.resource_group.upper()}"\nname = "{PROD.name}"')
    assert load_catalog(same, PROD).get("office").gallery.name == PROD.name

    other = catalog_with(tmp_path, 'resource_group = "rg-avd-images"\nname = "gal_avd_images"')
    with pytest.raises(CatalogError) as caught:
        load_catalog(other, PROD)
    issues = {(i.file, i.field): i.reason for i in caught.value.issues}
    assert set(issues) == {("office.toml", "gallery.resource_group"), ("office.toml", "gallery.name")}
    assert "AVD_IMAGE_RESOURCE_GROUP" in issues[("office.toml", "gallery.resource_group")]
    assert repr(PROD.name) in issues[("office.toml", "gallery.name")]


def test_startup_uses_the_gallery_from_settings(tmp_path: Path) -> None:
    """The production wiring binds the catalog to AVD_IMAGE_RESOURCE_GROUP/AVD_GALLERY_NAME, or refuses it."""
    settings = Settings(
        catalog_path=ROOT / "catalog",
        tables_connection_string=AZURITE,
        image_resource_group=PROD.resource_group,
        gallery_name=PROD.name,
    )
    deps = build_deps(settings)
    assert deps.catalog.get("office").gallery.resource_group == PROD.resource_group
    assert deps.catalog.get("data-analyst").gallery.name == PROD.name

    stale = catalog_with(tmp_path, 'name = "gal_avd_images"')
    with pytest.raises(CatalogError, match=r"office\.toml: gallery\.name"):
        build_deps(settings.model_copy(update={"catalog_path": stale}))


def test_validate_catalog_checks_against_the_settings(tmp_path: Path) -> None:
    """`avdimage validate-catalog` reads the deployed gallery from the environment and names file and field."""
    env = {"AVD_IMAGE_RESOURCE_GROUP": PROD.resource_group, "AVD_GALLERY_NAME": PROD.name, "COLUMNS": "200"}
    ok = CliRunner().invoke(app, ["validate-catalog", str(ROOT / "catalog")], env=env)
    assert ok.exit_code == 0, ok.stderr
    assert f"ok: office ({PROD.name}/win11-24h2-office)" in ok.stdout
    stale = catalog_with(tmp_path, 'resource_group = "rg-avd-images"')
    shutil.copy(ROOT / "catalog" / "data-analyst.toml", stale)
    refused = CliRunner().invoke(app, ["validate-catalog", str(stale)], env=env)
    assert refused.exit_code == 1
    assert "office.toml: gallery.resource_group: 'rg-avd-images' is not the deployed" in refused.stderr
