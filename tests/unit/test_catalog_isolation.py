"""Catalog isolation: one bad file disables its workload only, named by file, name and every reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.domain.catalog import CatalogError, CatalogIssue, DeployedGallery, DisabledWorkload
from shared.domain.catalog_isolation import load_catalog_isolated

ROOT = Path(__file__).resolve().parents[2]
OFFICE = (ROOT / "catalog" / "office.toml").read_text(encoding="utf-8")
ANALYST = (ROOT / "catalog" / "data-analyst.toml").read_text(encoding="utf-8")
POOL = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-hosts/providers/Microsoft.DesktopVirtualization/hostPools/hp-shared"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def with_pool(text: str) -> str:
    return text + f'\n[[host_pools]]\nid = "{POOL}"\n'


def test_a_missing_folder_is_refused_with_its_path(tmp_path: Path) -> None:
    """No catalog folder at all is an error naming the folder, not an empty catalog."""
    with pytest.raises(CatalogError) as caught:
        load_catalog_isolated(tmp_path / "nope")
    assert caught.value.issues == [
        CatalogIssue(file=str(tmp_path / "nope"), field="(folder)", reason="catalog folder not found")
    ]


def test_a_folder_without_workload_files_is_refused(tmp_path: Path) -> None:
    """A folder with no *.toml is an error (other files are not workloads)."""
    write(tmp_path, {"README.md": "not a workload"})
    with pytest.raises(CatalogError) as caught:
        load_catalog_isolated(tmp_path)
    assert caught.value.issues == [
        CatalogIssue(file=str(tmp_path), field="(folder)", reason="no *.toml workload files")
    ]


def test_each_bad_file_is_disabled_with_its_declared_name_and_reasons(tmp_path: Path) -> None:
    """A file with an unknown key is disabled under the name it declares; the valid file runs."""
    write(tmp_path, {"a.toml": OFFICE, "b.toml": ANALYST + '\ncolour = "blue"\n'})
    catalog = load_catalog_isolated(tmp_path)
    assert catalog.names == ["office"]
    assert catalog.disabled == (
        DisabledWorkload(name="data-analyst", file="b.toml", issues=("schedule.colour: unknown key 'colour'",)),
    )


def test_a_file_that_is_not_toml_is_disabled_under_its_file_stem(tmp_path: Path) -> None:
    """Without a readable name, the file's stem names the disabled workload."""
    write(tmp_path, {"a.toml": OFFICE, "broken-one.toml": "name = [unclosed"})
    (disabled,) = load_catalog_isolated(tmp_path).disabled
    assert (disabled.name, disabled.file) == ("broken-one", "broken-one.toml")
    assert disabled.issues == ("(syntax): Invalid value (at line 1, column 9)",)


@pytest.mark.parametrize(
    ("declared", "shown"),
    [("name = 7", "odd"), ('name = ""', "odd"), (f'name = "{"n" * 61}"', "odd"), (f'name = "{"n" * 60}"', "n" * 60)],
)
def test_a_declared_name_that_is_not_a_short_text_falls_back_to_the_stem(
    tmp_path: Path, declared: str, shown: str
) -> None:
    """Only a 1-60 character string is trusted as the disabled workload's name; else the file stem."""
    write(tmp_path, {"a.toml": OFFICE, "odd.toml": declared + "\n"})
    (disabled,) = load_catalog_isolated(tmp_path).disabled
    assert disabled.name == shown


def test_a_long_file_stem_is_cut_to_sixty_characters(tmp_path: Path) -> None:
    """A disabled workload's name never exceeds 60 characters, even from a long file name."""
    write(tmp_path, {"a.toml": OFFICE, f"{'s' * 70}.toml": "name = [unclosed"})
    (disabled,) = load_catalog_isolated(tmp_path).disabled
    assert disabled.name == "s" * 60


def test_a_duplicate_name_disables_the_later_file_only(tmp_path: Path) -> None:
    """Two valid files with one name: the later file is disabled, naming the first."""
    other = OFFICE.replace('definition = "win11-24h2-office"', 'definition = "other-definition"')
    write(tmp_path, {"a.toml": OFFICE, "b.toml": other})
    catalog = load_catalog_isolated(tmp_path)
    assert catalog.names == ["office"]
    assert catalog.disabled == (
        DisabledWorkload(name="office", file="b.toml", issues=("name: workload 'office' is also defined in a.toml",)),
    )


def test_a_shared_image_definition_disables_the_later_workload(tmp_path: Path) -> None:
    """The image sprawl guard holds under isolation: same group, gallery and definition is a clash."""
    twin = ANALYST.replace('definition = "win11-25h2-data-analyst"', 'definition = "win11-24h2-office"')
    assert twin != ANALYST
    write(tmp_path, {"a.toml": OFFICE, "b.toml": twin})
    catalog = load_catalog_isolated(tmp_path)
    assert catalog.names == ["office"]
    (disabled,) = catalog.disabled
    assert (disabled.name, disabled.file) == ("data-analyst", "b.toml")
    assert disabled.issues == (
        "gallery.definition: image definition 'win11-24h2-office' is already the image of workload 'office' "
        "(a.toml); one source-of-truth image per workload (image sprawl guard)",
    )


def test_a_host_pool_served_twice_disables_the_later_workload(tmp_path: Path) -> None:
    """A pool runs one image: the second workload naming it is disabled, the first keeps it."""
    write(tmp_path, {"a.toml": with_pool(OFFICE), "b.toml": with_pool(ANALYST)})
    catalog = load_catalog_isolated(tmp_path)
    assert catalog.names == ["office"]
    assert catalog.disabled == (
        DisabledWorkload(
            name="data-analyst",
            file="b.toml",
            issues=(
                "host_pools[0].id: host pool 'hp-shared' is already served by workload 'office' (a.toml); "
                "a pool runs one image",
            ),
        ),
    )


def test_the_deployed_gallery_is_the_one_checked(tmp_path: Path) -> None:
    """A file naming another gallery than the deployed one is disabled; the deployed one is filled in."""
    stray = ANALYST.replace("[gallery]", '[gallery]\nname = "gal_other"', 1)
    write(tmp_path, {"a.toml": OFFICE, "b.toml": stray})
    deployed = DeployedGallery(resource_group="rg-prod", name="gal_prod")
    catalog = load_catalog_isolated(tmp_path, deployed)
    assert catalog.get("office").gallery.name == "gal_prod"
    (disabled,) = catalog.disabled
    assert disabled.name == "data-analyst"
    assert disabled.issues[0].startswith("gallery.name: 'gal_other' is not the deployed gallery's name 'gal_prod'")


def test_nothing_valid_is_an_error_listing_every_issue(tmp_path: Path) -> None:
    """When no workload is valid, the catalog is refused with the issues of every file."""
    write(tmp_path, {"a.toml": "name = [unclosed", "b.toml": ANALYST + '\ncolour = "blue"\n'})
    with pytest.raises(CatalogError) as caught:
        load_catalog_isolated(tmp_path)
    assert [(i.file, i.field) for i in caught.value.issues] == [("a.toml", "(syntax)"), ("b.toml", "schedule.colour")]


def test_a_one_character_declared_name_is_kept(tmp_path: Path) -> None:
    """A declared name of one character is a name (the bound is 1-60), not replaced by the stem."""
    write(tmp_path, {"a.toml": OFFICE, "odd.toml": 'name = "x"\n'})
    (disabled,) = load_catalog_isolated(tmp_path).disabled
    assert disabled.name == "x"
