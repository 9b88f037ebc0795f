"""Load the catalog so that one bad file disables that workload only.

`load_catalog` refuses the whole catalog on any mistake: right for `avdimage validate-catalog`
and the deploy hook (azure.yaml), wrong for the running app, where one bad file deployed would
stop every workload (each trigger, HTTP included, would fail at startup). Here each file with
issues (its own, or a cross-file clash such as a duplicate name) becomes a `DisabledWorkload`
with its reasons; the other workloads run. Nothing to run at all is still an error.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from shared.domain.catalog import (
    Catalog,
    CatalogError,
    CatalogIssue,
    DeployedGallery,
    DisabledWorkload,
    Workload,
    host_pool_issues,
    parse_workload,
)
from shared.domain.catalog_issues import cross_file_issues


def load_catalog_isolated(folder: Path, deployed: DeployedGallery | None = None) -> Catalog:
    """Every valid workload, plus the invalid ones as disabled (with file and reasons)."""
    if not folder.is_dir():
        raise CatalogError([CatalogIssue(file=str(folder), field="(folder)", reason="catalog folder not found")])
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise CatalogError([CatalogIssue(file=str(folder), field="(folder)", reason="no *.toml workload files")])
    good: list[tuple[str, Workload]] = []
    bad: dict[str, tuple[str, list[CatalogIssue]]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        workload, issues = parse_workload(text, path.name, deployed)
        if workload is None or issues:
            bad[path.name] = (_declared_name(text, path), issues)
        else:
            good.append((path.name, workload))
    tables = [
        (file, {"name": w.name, "gallery": w.gallery.model_dump(include={"resource_group", "name", "definition"})})
        for file, w in good
    ]
    clashes = cross_file_issues(tables) + host_pool_issues(good)
    for issue in clashes:  # the later file of a clash is the one named
        name = next(w.name for f, w in good if f == issue.file)
        bad.setdefault(issue.file, (name, []))[1].append(issue)
    disabled = tuple(
        DisabledWorkload(name=name, file=file, issues=tuple(f"{i.field}: {i.reason}" for i in issues))
        for file, (name, issues) in sorted(bad.items())
    )
    running = tuple(w for f, w in good if f not in bad)
    if not running:
        raise CatalogError([issue for _, issues in bad.values() for issue in issues])
    return Catalog(workloads=running, disabled=disabled)


def _declared_name(text: str, path: Path) -> str:
    try:
        name = tomllib.loads(text).get("name")
    except tomllib.TOMLDecodeError:
        name = None
    return name if isinstance(name, str) and 0 < len(name) <= 60 else path.stem[:60]
