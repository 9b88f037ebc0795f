"""The governance report (`avdimage report`): what a reviewer of the image estate would flag.

Pure over the catalog and the workloads' records (plus, when a caller has one, a listing of the
image definitions in the gallery); `report_for(deps)` only gathers those and calls
`governance_report`. Checks:

- image sprawl: a workload whose versions live in more than one image definition (one
  source-of-truth image per workload), and definitions in the gallery the catalog does not know;
- workloads without a real owner;
- production (and dr) versions without a recorded approval for that stage;
- display names that do not follow `OS | Workload | vMajor.Minor.Patch | YYYY-MM`;
- the "minimal image" check: apps whose version changed in most of the last N builds
  ("if it changes weekly, it probably does not belong in the image").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from itertools import pairwise

from pydantic import BaseModel, ConfigDict

from shared.domain import naming
from shared.domain.catalog import Catalog, Workload
from shared.domain.health import WorkloadHealth
from shared.domain.model import ImageVersion, Stage, Status
from shared.domain.records import WorkloadRecords
from shared.steps.deps import Deps

DEFAULT_LAST_BUILDS = 6
PLACEHOLDER_OWNERS = frozenset({"tbd", "todo", "unknown", "none", "n/a", "na", "nobody", "owner", "changeme"})
DISPLAY_NAME = re.compile(r"^(?P<os>[^|]+?) \| (?P<workload>[^|]+?) \| v(?P<version>\d+\.\d+\.\d+) \| \d{4}-\d{2}$")
_GALLERY_VERSION_ID = re.compile(r"/galleries/(?P<gallery>[^/]+)/images/(?P<definition>[^/]+)/versions/", re.IGNORECASE)


class Check(StrEnum):
    SPRAWL = "image-sprawl"
    UNKNOWN_DEFINITION = "unknown-definition"
    NO_OWNER = "no-owner"
    UNAPPROVED = "unapproved-production"
    NAMING = "naming"
    VOLATILE = "volatile-component"
    RECONCILE = "records-vs-gallery"
    CATALOG_FILE = "catalog-file"


DESCRIPTIONS: dict[Check, str] = {
    Check.SPRAWL: "one image definition per workload",
    Check.UNKNOWN_DEFINITION: "every image definition in the gallery belongs to a catalog workload",
    Check.NO_OWNER: "every workload has an owner",
    Check.UNAPPROVED: "versions serving production or dr have a recorded approval for that stage",
    Check.NAMING: "display names follow 'OS | Workload | vMajor.Minor.Patch | YYYY-MM'",
    Check.VOLATILE: "minimal image: no app changes version in most builds",
    Check.RECONCILE: "the gallery agrees with the records (what reconcile could not repair safely)",
    Check.CATALOG_FILE: "every catalog file is valid (an invalid one disables its workload)",
}


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    check: Check
    workload: str
    subject: str  # the version, definition or app concerned
    detail: str


class GovernanceReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    workloads: list[str]
    last_builds: int
    findings: list[Finding]
    skipped: dict[Check, str]  # checks that could not run, with why

    def of(self, check: Check) -> list[Finding]:
        return [f for f in self.findings if f.check is check]

    @property
    def clean(self) -> bool:
        return not self.findings


def governance_report(
    catalog: Catalog,
    records: Mapping[str, WorkloadRecords],
    *,
    gallery_definitions: Iterable[str] | None = None,
    last_builds: int = DEFAULT_LAST_BUILDS,
    health: Mapping[str, WorkloadHealth] | None = None,
) -> GovernanceReport:
    """Every finding over the catalog and records; `gallery_definitions` are 'gallery/definition' names;
    `health` is each workload's last reconcile pass."""
    findings: list[Finding] = _healing(catalog, health or {})
    for workload in catalog.workloads:
        found = records.get(workload.name)
        versions = [v for v in found.versions if v.status is not Status.DELETED] if found else []
        findings += _sprawl(workload, versions)
        findings += _owner(workload)
        if found is not None:
            findings += _unapproved(workload, found)
        findings += _naming(workload, versions)
        findings += _volatile(workload, found.versions if found else [], last_builds)
    skipped: dict[Check, str] = {}
    if gallery_definitions is None:
        skipped[Check.UNKNOWN_DEFINITION] = "no gallery listing given"
    else:
        known = {f"{w.gallery.name}/{w.gallery.definition}".lower() for w in catalog.workloads}
        findings += [
            Finding(
                check=Check.UNKNOWN_DEFINITION,
                workload="",
                subject=name,
                detail=f"image definition {name} is in the gallery but no catalog workload uses it",
            )
            for name in sorted(set(gallery_definitions))
            if name.lower() not in known
        ]
    return GovernanceReport(workloads=catalog.names, last_builds=last_builds, findings=findings, skipped=skipped)


def report_for(deps: Deps, *, last_builds: int = DEFAULT_LAST_BUILDS) -> GovernanceReport:
    """Gather one partition query per workload, then report."""
    records = {w.name: deps.records.load_workload(w.name) for w in deps.catalog.workloads}
    galleries = sorted({w.gallery.name for w in deps.catalog.workloads})
    definitions = [f"{g}/{name}" for g in galleries for name in deps.compute.list_image_definitions(g)]
    health = {w.name: h for w in deps.catalog.workloads if (h := deps.records.get_health(w.name)) is not None}
    return governance_report(
        deps.catalog, records, gallery_definitions=definitions, last_builds=last_builds, health=health
    )


def _healing(catalog: Catalog, health: Mapping[str, WorkloadHealth]) -> list[Finding]:
    """Invalid catalog files, and what the last reconcile pass flagged or could not place."""
    findings = [
        Finding(check=Check.CATALOG_FILE, workload=d.name, subject=d.file, detail=d.reason) for d in catalog.disabled
    ]
    for name, found in sorted(health.items()):
        findings += [Finding(check=Check.RECONCILE, workload=name, subject="pointers", detail=f) for f in found.flags]
        findings += [
            Finding(
                check=Check.RECONCILE,
                workload=name,
                subject=v,
                detail=f"gallery version {v} is in {name}'s definition but no record owns it",
            )
            for v in found.unknown_versions
        ]
    return findings


def _definition_of(version: ImageVersion) -> str | None:
    match = _GALLERY_VERSION_ID.search(version.gallery_version_id)
    return f"{match['gallery']}/{match['definition']}".lower() if match else None


def _sprawl(workload: Workload, versions: list[ImageVersion]) -> list[Finding]:
    expected = f"{workload.gallery.name}/{workload.gallery.definition}".lower()
    used: dict[str, list[str]] = {}
    for version in versions:
        definition = _definition_of(version)
        if definition is not None:
            used.setdefault(definition, []).append(str(version.version))
    others = {d: v for d, v in used.items() if d != expected}
    if not others:
        return []
    listed = "; ".join(f"{d} ({', '.join(v)})" for d, v in sorted(others.items()))
    return [
        Finding(
            check=Check.SPRAWL,
            workload=workload.name,
            subject=", ".join(sorted(others)),
            detail=f"versions live outside the catalog's definition {expected}: {listed}",
        )
    ]


def _owner(workload: Workload) -> list[Finding]:
    owner = workload.owner.strip()
    if owner and owner.lower() not in PLACEHOLDER_OWNERS:
        return []
    return [
        Finding(
            check=Check.NO_OWNER,
            workload=workload.name,
            subject="owner",
            detail=f"owner is {owner!r}: name the team or mailbox that answers for this image",
        )
    ]


def _unapproved(workload: Workload, found: WorkloadRecords) -> list[Finding]:
    by_number = {v.version: v for v in found.versions}
    findings = []
    for stage in (Stage.PRODUCTION, Stage.DR):
        number = found.pointers.serving(stage)
        version = by_number.get(number) if number is not None else None
        if version is not None and version.approved_for(stage) is None:
            findings.append(
                Finding(
                    check=Check.UNAPPROVED,
                    workload=workload.name,
                    subject=str(version.version),
                    detail=f"{version.display_name} serves {stage.value} without a recorded {stage.value} approval",
                )
            )
    return findings


def _naming(workload: Workload, versions: list[ImageVersion]) -> list[Finding]:
    findings = []
    for version in versions:
        expected = naming.display_name(
            workload.os_label, workload.workload_label, version.version, version.created_at.date()
        )
        match = DISPLAY_NAME.fullmatch(version.display_name)
        problems = []
        if match is None:
            problems.append("does not have the form 'OS | Workload | vMajor.Minor.Patch | YYYY-MM'")
        else:
            if match["os"] != workload.os_label:
                problems.append(f"OS label {match['os']!r} is not the catalog's {workload.os_label!r}")
            if match["workload"] != workload.workload_label:
                problems.append(
                    f"workload label {match['workload']!r} is not the catalog's {workload.workload_label!r}"
                )
            if match["version"] != str(version.version):
                problems.append(f"v{match['version']} does not name version {version.version}")
        if problems:
            findings.append(
                Finding(
                    check=Check.NAMING,
                    workload=workload.name,
                    subject=str(version.version),
                    detail=f"{version.display_name!r} {'; '.join(problems)} (expected {expected!r})",
                )
            )
    return findings


def _volatile(workload: Workload, versions: list[ImageVersion], last_builds: int) -> list[Finding]:
    built = [v for v in versions if v.manifest.apps or v.manifest.os_build]
    recent = sorted(built, key=lambda v: (v.created_at, v.version))[-last_builds:]
    transitions = len(recent) - 1
    if transitions < 2:  # two builds cannot show a habit
        return []
    apps = [{a.name: a.version for a in v.manifest.apps} for v in recent]
    names = sorted({name for manifest in apps for name in manifest})
    findings = []
    for name in names:
        values = [manifest.get(name, "(absent)") for manifest in apps]
        changes = sum(1 for a, b in pairwise(values) if a != b)
        if changes * 2 > transitions:
            findings.append(
                Finding(
                    check=Check.VOLATILE,
                    workload=workload.name,
                    subject=name,
                    detail=(
                        f"{name} changed in {changes} of the last {transitions} builds "
                        f"({recent[0].version} -> {recent[-1].version}: {' -> '.join(values)}); "
                        "if it changes this often it probably does not belong in the image "
                        "(deliver it with MSIX app attach, Intune or on the host)"
                    ),
                )
            )
    return findings


def needs_attention(deps: Deps) -> list[str]:
    """One line per thing a person must look at: disabled workloads, what reconcile could not repair."""
    lines = [d.reason for d in deps.catalog.disabled]
    for workload in deps.catalog.workloads:
        found = deps.records.get_health(workload.name)
        if found is not None:
            lines += [f"{workload.name}: {flag}" for flag in found.flags]
            lines += [
                f"{workload.name}: unknown gallery version {v} (no record owns it)" for v in found.unknown_versions
            ]
    return lines
