"""The governance report's checks, pure over hand-made records and the repository catalog."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from shared.domain.catalog import Catalog, load_catalog
from shared.domain.compute import ImageDefinitionSpec
from shared.domain.model import App, Approval, ImageVersion, Manifest, Pointers, Stage, Status, VersionNumber
from shared.domain.records import WorkloadRecords
from shared.report import Check, governance_report, report_for
from tests.cli.conftest import Cli
from tests.conftest import T0, make_version

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
GALLERY_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-avd-images/providers/Microsoft.Compute/galleries/gal_avd_images/images/{definition}/versions/{version}"


def office(text: str, *, month: int = 0, apps: dict[str, str] | None = None, **changes: object) -> ImageVersion:
    """An office version named by the standard, built `month` months after T0, with these apps."""
    number = VersionNumber.parse(text)
    short = f"v{number}"
    created = T0 + timedelta(days=31 * month)
    fields: dict[str, object] = {
        "display_name": f"Win11 | Office | {short} | {created:%Y-%m}",
        "created_at": created,
        "gallery_version_id": GALLERY_ID.format(definition="win11-24h2-office", version=text),
        "manifest": Manifest(os_build="26100.1", apps=tuple(App(name=n, version=v) for n, v in (apps or {}).items())),
        "status": Status.READY,
    }
    return make_version(text, **(fields | changes))


def records(*versions: ImageVersion, **pointers: VersionNumber) -> dict[str, WorkloadRecords]:
    return {
        "office": WorkloadRecords(pointers=Pointers(workload="office", **pointers), runs=[], versions=list(versions))
    }  # type: ignore[arg-type]


def test_an_app_that_changes_in_most_builds_is_flagged_and_a_stable_one_is_not() -> None:
    """Teams changing in every build is flagged as not belonging in a minimal image; FSLogix, stable, is not."""
    builds = [
        office(f"1.{i}.0", month=i, apps={"Teams": f"25.{i}", "FSLogix": "2.9", "Chrome": "120" if i < 3 else "121"})
        for i in range(4)
    ]
    report = governance_report(CATALOG, records(*builds))
    flagged = report.of(Check.VOLATILE)
    assert [f.subject for f in flagged] == ["Teams"]
    assert "changed in 3 of the last 3 builds" in flagged[0].detail
    assert "25.0 -> 25.1 -> 25.2 -> 25.3" in flagged[0].detail


def test_the_volatility_window_is_the_last_n_builds() -> None:
    """An app that churned long ago but is stable in the last N builds is not flagged."""
    churn = [office(f"1.{i}.0", month=i, apps={"Teams": f"25.{i}"}) for i in range(4)]
    stable = [office(f"1.{i}.0", month=i, apps={"Teams": "25.3"}) for i in range(4, 8)]
    assert governance_report(CATALOG, records(*churn, *stable), last_builds=4).of(Check.VOLATILE) == []
    assert governance_report(CATALOG, records(*churn, *stable), last_builds=8).of(Check.VOLATILE) == []
    assert [
        f.subject for f in governance_report(CATALOG, records(*churn, *stable[:1]), last_builds=5).of(Check.VOLATILE)
    ] == ["Teams"]


def test_production_without_an_approval_is_flagged() -> None:
    """A version serving production with no production approval recorded is a finding; an approved one is not."""
    approved = office(
        "1.0.0", approvals=(Approval(stage=Stage.PRODUCTION, approver="change-board@contoso.com", at=T0),)
    )
    bare = office("1.1.0", month=1)
    assert governance_report(CATALOG, records(approved, bare, production=approved.version)).of(Check.UNAPPROVED) == []
    found = governance_report(CATALOG, records(approved, bare, production=bare.version)).of(Check.UNAPPROVED)
    assert [(f.workload, f.subject) for f in found] == [("office", "1.1.0")]
    assert "without a recorded production approval" in found[0].detail


def test_display_names_off_the_standard_are_flagged_with_the_expected_name() -> None:
    """Wrong label, wrong version and free-form names are naming violations that show the standard name."""
    versions = [
        office("1.0.0"),
        office("1.1.0", display_name="Win11 | Office | v1.2.0 | 2026-11"),
        office("1.2.0", display_name="office-golden-final-v2"),
        office("1.3.0", display_name="Win10 | Office | v1.3.0 | 2026-11"),
    ]
    found = {f.subject: f.detail for f in governance_report(CATALOG, records(*versions)).of(Check.NAMING)}
    assert set(found) == {"1.1.0", "1.2.0", "1.3.0"}
    assert "v1.2.0 does not name version 1.1.0" in found["1.1.0"]
    assert "expected 'Win11 | Office | v1.2.0 | 2026-11'" in found["1.2.0"]
    assert "OS label 'Win10' is not the catalog's 'Win11'" in found["1.3.0"]


def test_versions_in_another_definition_are_image_sprawl() -> None:
    """A workload whose versions live in a second image definition is flagged as sprawl."""
    stray = office("1.1.0", gallery_version_id=GALLERY_ID.format(definition="office-copy", version="1.1.0"))
    found = governance_report(CATALOG, records(office("1.0.0"), stray)).of(Check.SPRAWL)
    assert [f.subject for f in found] == ["gal_avd_images/office-copy"]
    assert "(1.1.0)" in found[0].detail


def test_gallery_definitions_unknown_to_the_catalog_are_flagged_when_a_listing_is_given() -> None:
    """With a gallery listing, definitions no workload owns are findings; without one the check is skipped."""
    listing = ["gal_avd_images/win11-24h2-office", "gal_avd_images/Win10-legacy"]
    report = governance_report(CATALOG, {}, gallery_definitions=listing)
    assert [f.subject for f in report.of(Check.UNKNOWN_DEFINITION)] == ["gal_avd_images/Win10-legacy"]
    assert Check.UNKNOWN_DEFINITION in governance_report(CATALOG, {}).skipped


def test_placeholder_owner_is_flagged() -> None:
    """An owner such as 'TBD' is no owner."""
    workloads = tuple(w.model_copy(update={"owner": "TBD"}) if w.name == "office" else w for w in CATALOG.workloads)
    found = governance_report(Catalog(workloads=workloads), {}).of(Check.NO_OWNER)
    assert [(f.workload, f.detail) for f in found] == [
        ("office", "owner is 'TBD': name the team or mailbox that answers for this image")
    ]


def test_definitions_in_the_gallery_but_not_in_the_catalog_are_sprawl(fresh: Cli) -> None:
    """A definition someone created by hand in the gallery is reported by the live listing."""
    compute = fresh.runtime.compute
    compute.ensure_image_definition(
        ImageDefinitionSpec(
            resource_group="rg-avd-images",
            gallery="gal_avd_images",
            name="win11-golden-final-v2",
            location="westeurope",
            security_type="TrustedLaunchSupported",
            publisher="contoso",
            offer="windows-11",
            sku="golden",
            tags={},
        )
    )
    findings = report_for(fresh.runtime.deps).findings
    assert [(f.check.value, f.subject) for f in findings] == [
        ("unknown-definition", "gal_avd_images/win11-golden-final-v2")
    ]
