"""Loading the workload catalog: the sample loads; mistakes are all reported with file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.domain.catalog import CatalogError, SecurityType, load_catalog

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "catalog" / "office.toml").read_text(encoding="utf-8")


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_sample_catalog_loads() -> None:
    """The shipped catalog is valid and holds the two sample workloads."""
    catalog = load_catalog(ROOT / "catalog")
    assert catalog.names == ["data-analyst", "office"]
    office = catalog.get("office")
    assert office.security_type is SecurityType.TRUSTED_LAUNCH_SUPPORTED
    assert [c.name for c in office.customizations] == ["windows-updates", "m365-apps", "fslogix"]
    assert office.stages.production.regions == ("westeurope", "northeurope")


def test_three_mistakes_are_reported_at_once(tmp_path: Path) -> None:
    """A file with three mistakes yields three issues, each with the file and the field."""
    broken = GOOD.replace('name = "office"', 'name = "Office Desktop"', 1)
    broken = broken.replace("replica_count = 2", "replica_count = 0", 1)
    broken = broken.replace('definition = "win11-24h2-office"', 'definition = "win11/office"', 1)
    write(tmp_path, "office.toml", broken)
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    found = {(i.file, i.field) for i in caught.value.issues}
    assert found == {
        ("office.toml", "name"),
        ("office.toml", "stages.production.replica_count"),
        ("office.toml", "gallery.definition"),
    }
    assert "3 error(s)" in str(caught.value)


def test_errors_from_several_files_are_collected(tmp_path: Path) -> None:
    """A syntax error in one file does not hide a field error in another."""
    write(tmp_path, "a.toml", "name = [unclosed")
    write(tmp_path, "b.toml", GOOD.replace('owner = "euc-team@contoso.com"\n', ""))
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    assert [(i.file, i.field) for i in caught.value.issues] == [("a.toml", "(syntax)"), ("b.toml", "owner")]


def test_unknown_fields_are_typos(tmp_path: Path) -> None:
    """A misspelt key is an error, not silently ignored."""
    write(tmp_path, "office.toml", GOOD.replace("keep = 3", "keep = 3\nkeeep = 4"))
    with pytest.raises(CatalogError, match=r"retention\.keeep"):
        load_catalog(tmp_path)


def test_image_sprawl_guard(tmp_path: Path) -> None:
    """Two workloads mapped to the same image definition are refused."""
    write(tmp_path, "office.toml", GOOD)
    write(tmp_path, "office2.toml", GOOD.replace('name = "office"', 'name = "office-two"', 1))
    with pytest.raises(CatalogError, match="image sprawl guard") as caught:
        load_catalog(tmp_path)
    assert [(i.file, i.field) for i in caught.value.issues] == [("office2.toml", "gallery.definition")]


def test_base_image_needs_exactly_one_source(tmp_path: Path) -> None:
    """Marketplace and source VM together are ambiguous and refused."""
    both = GOOD.replace(
        'version = "latest"',
        'version = "latest"\n\n[base_image]\nsource_vm = "/subscriptions/00000000-0000-0000-0000-000000000000/'
        'resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/src"',
        1,
    )
    write(tmp_path, "office.toml", both)
    with pytest.raises(CatalogError):
        load_catalog(tmp_path)


def test_trusted_launch_explains_bitlocker(tmp_path: Path) -> None:
    """Full TrustedLaunch on the definition comes with the BitLocker/sysprep explanation."""
    write(
        tmp_path,
        "office.toml",
        GOOD.replace('security_type = "TrustedLaunchSupported"', 'security_type = "TrustedLaunch"'),
    )
    office = load_catalog(tmp_path).get("office")
    assert "0x80310039" in office.bitlocker_note
    assert load_catalog(ROOT / "catalog").get("office").bitlocker_note == ""


def test_pinned_versions_are_validated(tmp_path: Path) -> None:
    """Pinned versions must be real version numbers."""
    write(tmp_path, "office.toml", GOOD.replace("pinned = []", 'pinned = ["1.0"]'))
    with pytest.raises(CatalogError, match=r"retention\.pinned"):
        load_catalog(tmp_path)
