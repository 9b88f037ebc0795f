"""Catalog issues name the exact field and give pydantic's reason without its prefix, typos with a guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.domain.catalog import CatalogError, CatalogIssue, load_catalog

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "catalog" / "office.toml").read_text(encoding="utf-8")
POOL = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-avd-hosts/providers/Microsoft.DesktopVirtualization/hostPools/hp-office"


def issues_of(tmp_path: Path, text: str) -> list[CatalogIssue]:
    (tmp_path / "office.toml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    return caught.value.issues


def test_a_whole_file_rule_is_reported_with_field_file(tmp_path: Path) -> None:
    """A rule over the whole workload (unique customization names) is reported with field "(file)"."""
    found = issues_of(tmp_path, GOOD.replace('name = "fslogix"', 'name = "m365-apps"'))
    assert found == [
        CatalogIssue(
            file="office.toml", field="(file)", reason="customization names must be unique; repeated: m365-apps"
        )
    ]


def test_a_value_error_reason_is_shown_without_pydantics_prefix(tmp_path: Path) -> None:
    """The admin reads our sentence, not "Value error, ..."."""
    text = GOOD + f'\n[[host_pools]]\nid = "{POOL}"\nbatch_size = 1\nmax_unavailable_percent = 5\n'
    assert issues_of(tmp_path, text) == [
        CatalogIssue(
            file="office.toml", field="host_pools[0]", reason="set batch_size or max_unavailable_percent, not both"
        )
    ]


def test_a_typo_deep_in_a_list_of_tables_is_matched_against_that_table(tmp_path: Path) -> None:
    """A typo under host_pools[0].maintenance_window is matched against the window's keys."""
    text = GOOD + (
        f'\n[[host_pools]]\nid = "{POOL}"\n[host_pools.maintenance_window]\n'
        'dayz = ["sat"]\nstart = "22:00"\nduration_minutes = 60\n'
    )
    assert CatalogIssue(
        file="office.toml",
        field="host_pools[0].maintenance_window.dayz",
        reason="unknown key 'dayz'; did you mean 'days'?",
    ) in issues_of(tmp_path, text)


def test_a_typo_in_an_approver_is_matched_against_the_approver_keys(tmp_path: Path) -> None:
    """A typo inside stages.test.approvers[0] suggests the approver's own key."""
    text = GOOD.replace('[{ group = "3f9a1c52', '[{ grop = "3f9a1c52', 1)
    assert issues_of(tmp_path, text) == [
        CatalogIssue(
            file="office.toml",
            field="stages.test.approvers[0].grop",
            reason="unknown key 'grop'; did you mean 'group'?",
        )
    ]


def test_a_stage_without_approvers_is_reported_on_its_approvers(tmp_path: Path) -> None:
    """A validation stage with no approvers points at `stages.validation.approvers`, the field to fix."""
    text = GOOD.replace(
        """approvers = [
  { group = "3f9a1c52-7d2e-4b8a-9c41-5e0d2a6b7f10", label = "EUC team" },
  { principal = "1c5e9b72-3a4d-4e6f-b8c1-7d2a9e0f1b11", label = "QA lead" },
]""",
        "approvers = []",
    )
    assert issues_of(tmp_path, text) == [
        CatalogIssue(
            file="office.toml",
            field="stages.validation.approvers",
            reason="validation needs at least one approver: promotion into it is approved by one of them",
        )
    ]


def test_the_catalog_error_lists_every_issue_on_its_own_line() -> None:
    """The error text counts the issues and lists each as `  - file: field: reason`."""
    error = CatalogError(
        [
            CatalogIssue(file="a.toml", field="name", reason="bad"),
            CatalogIssue(file="b.toml", field="(file)", reason="x"),
        ]
    )
    assert str(error) == "the workload catalog has 2 error(s):\n  - a.toml: name: bad\n  - b.toml: (file): x"


def test_free_text_approvers_are_refused_showing_sixty_characters(tmp_path: Path) -> None:
    """An approver written as free text is refused with its first 60 characters and the form to use."""
    text = GOOD.replace(
        '[{ group = "3f9a1c52-7d2e-4b8a-9c41-5e0d2a6b7f10", label = "EUC team" }]', f'["{"q" * 70}"]', 1
    )
    assert issues_of(tmp_path, text) == [
        CatalogIssue(
            file="office.toml",
            field="stages.test.approvers",
            reason=f"approver 1 ({'q' * 60!r}) is free text, not an Entra principal: write "
            '{ group = "<object id>", label = "..." } or { principal = "<object id>", label = "..." }',
        )
    ]


def test_a_stated_gallery_other_than_the_deployed_one_is_refused_with_the_setting(tmp_path: Path) -> None:
    """A `[gallery] name` that is not the deployed gallery names the app setting to look at."""
    text = GOOD.replace("[gallery]", '[gallery]\nname = "gal_other"', 1)
    assert issues_of(tmp_path, text) == [
        CatalogIssue(
            file="office.toml",
            field="gallery.name",
            reason="'gal_other' is not the deployed gallery's name 'gal_avd_images' (AVD_GALLERY_NAME); "
            "leave it out: the app's settings name the gallery",
        )
    ]


def test_a_missing_folder_or_an_empty_one_is_one_issue_naming_it(tmp_path: Path) -> None:
    """The strict loader refuses a missing folder and a folder without workload files, naming the folder."""
    with pytest.raises(CatalogError) as missing:
        load_catalog(tmp_path / "nope")
    assert missing.value.issues == [
        CatalogIssue(file=str(tmp_path / "nope"), field="(folder)", reason="catalog folder not found")
    ]
    with pytest.raises(CatalogError) as empty:
        load_catalog(tmp_path)
    assert empty.value.issues == [CatalogIssue(file=str(tmp_path), field="(folder)", reason="no *.toml workload files")]


def test_membership_is_by_workload_name(tmp_path: Path) -> None:
    """`name in catalog` is true only for a workload the catalog holds."""
    catalog = load_catalog(ROOT / "catalog")
    assert "office" in catalog
    assert "nope" not in catalog


def test_files_without_a_full_gallery_key_never_clash_and_never_stop_the_check(tmp_path: Path) -> None:
    """Files missing a definition are not compared (no false sprawl clash) and later clashes are still found."""
    bare = GOOD.replace('definition = "win11-24h2-office"\n', "")
    (tmp_path / "a.toml").write_text(bare.replace('name = "office"', 'name = "one"', 1), encoding="utf-8")
    (tmp_path / "b.toml").write_text(bare.replace('name = "office"', 'name = "two"', 1), encoding="utf-8")
    (tmp_path / "c.toml").write_text(GOOD.replace('name = "office"', 'name = "three"', 1), encoding="utf-8")
    (tmp_path / "d.toml").write_text(GOOD.replace('name = "office"', 'name = "four"', 1), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    assert [(i.file, i.field) for i in caught.value.issues] == [
        ("a.toml", "gallery.definition"),
        ("b.toml", "gallery.definition"),
        ("d.toml", "gallery.definition"),
    ]
    assert "image sprawl guard" in caught.value.issues[2].reason
    assert "image sprawl guard" not in caught.value.issues[0].reason


def test_different_pools_of_different_workloads_do_not_clash(tmp_path: Path) -> None:
    """Only the same pool id (any case) served twice is a clash."""
    analyst = (ROOT / "catalog" / "data-analyst.toml").read_text(encoding="utf-8")
    (tmp_path / "a.toml").write_text(GOOD + f'\n[[host_pools]]\nid = "{POOL}"\n', encoding="utf-8")
    other = POOL.replace("hp-office", "hp-analyst")
    (tmp_path / "b.toml").write_text(analyst + f'\n[[host_pools]]\nid = "{other}"\n', encoding="utf-8")
    assert sorted(load_catalog(tmp_path).names) == ["data-analyst", "office"]


def test_an_unknown_key_with_no_near_name_gets_no_guess(tmp_path: Path) -> None:
    """A key like no known one is reported as unknown, with no made-up suggestion."""
    assert issues_of(tmp_path, "zzqqxx = 1\n" + GOOD) == [
        CatalogIssue(file="office.toml", field="zzqqxx", reason="unknown key 'zzqqxx'")
    ]


def test_strict_loading_names_the_duplicate_and_the_shared_definition_exactly(tmp_path: Path) -> None:
    """A second file reusing a name, then a third reusing a definition: each issue names the earlier file."""
    (tmp_path / "a.toml").write_text(GOOD, encoding="utf-8")
    renamed = GOOD.replace('definition = "win11-24h2-office"', 'definition = "other-definition"')
    (tmp_path / "b.toml").write_text(renamed, encoding="utf-8")
    (tmp_path / "c.toml").write_text(GOOD.replace('name = "office"', 'name = "office-two"', 1), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    assert caught.value.issues == [
        CatalogIssue(file="b.toml", field="name", reason="workload 'office' is also defined in a.toml"),
        CatalogIssue(
            file="c.toml",
            field="gallery.definition",
            reason="image definition 'win11-24h2-office' is already the image of workload 'office' (a.toml); "
            "one source-of-truth image per workload (image sprawl guard)",
        ),
    ]


def test_a_gallery_that_is_not_a_table_is_a_field_issue_not_a_crash(tmp_path: Path) -> None:
    """`gallery = "..."` instead of a [gallery] table is reported on `gallery`; the cross-file checks skip it."""
    text = GOOD.replace("[gallery]  # in the deployed gallery (AVD_IMAGE_RESOURCE_GROUP / AVD_GALLERY_NAME)\n", "")
    text = text.replace('definition = "win11-24h2-office"\n', "")
    text = 'gallery = "oops"\n' + text
    assert [i.field for i in issues_of(tmp_path, text)] == ["gallery"]


def test_strict_loading_names_the_pool_served_twice_exactly(tmp_path: Path) -> None:
    """The second workload serving a pool is refused on `host_pools[<i>].id`, naming the first."""
    analyst = (ROOT / "catalog" / "data-analyst.toml").read_text(encoding="utf-8")
    (tmp_path / "a.toml").write_text(GOOD + f'\n[[host_pools]]\nid = "{POOL}"\n', encoding="utf-8")
    other = POOL.replace("hp-office", "hp-other")
    pools = f'\n[[host_pools]]\nid = "{other}"\n\n[[host_pools]]\nid = "{POOL.upper()}"\n'
    (tmp_path / "b.toml").write_text(analyst + pools, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    assert caught.value.issues == [
        CatalogIssue(
            file="b.toml",
            field="host_pools[1].id",
            reason="host pool 'HP-OFFICE' is already served by workload 'office' (a.toml); a pool runs one image",
        )
    ]
