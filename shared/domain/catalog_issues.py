"""How the catalog reports its problems: the issue, the error, and checks across files.

Apart from the models (catalog.py) so that the models' module stays small and the isolated
loader (catalog_isolation.py) can share the cross-file checks without private imports.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict

from shared.domain.errors import InvalidInput

MISSING_APPROVER = "missing_approver"


class CatalogIssue(BaseModel):
    model_config = ConfigDict(frozen=True)
    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class CatalogError(InvalidInput):
    """Every problem in the catalog at once, each with file, field and reason."""

    def __init__(self, issues: list[CatalogIssue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"the workload catalog has {len(issues)} error(s):\n{lines}")


def field_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(file)"


def model_at(root: type[BaseModel], loc: Iterable[int | str]) -> type[BaseModel] | None:
    """The model under ``root`` that holds the field at `loc` (for the keys it knows), or None."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field_info = model.model_fields.get(part)
        if field_info is None:
            return None
        model = next(
            (t for t in types_in(field_info.annotation) if isinstance(t, type) and issubclass(t, BaseModel)), None
        )
    return model


def types_in(annotation: Any) -> list[Any]:
    found = [annotation]
    for arg in get_args(annotation):
        found += types_in(arg)
    return found


def issue(file: str, error: Any, root: type[BaseModel]) -> CatalogIssue:
    """One pydantic error of a file validated as ``root``, as file, field path and reason."""
    loc = tuple(error["loc"])
    reason = error["msg"].removeprefix("Value error, ")
    if error["type"] == MISSING_APPROVER:
        loc = (*loc, "approvers")
    elif error["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
        known = model_at(root, loc[:-1])
        nearest = difflib.get_close_matches(loc[-1], list(known.model_fields) if known else [], n=1)
        reason = f"unknown key {loc[-1]!r}" + (f"; did you mean {nearest[0]!r}?" if nearest else "")
    return CatalogIssue(file=file, field=field_path(loc), reason=reason)


def cross_file_issues(files: list[tuple[str, dict[str, Any]]]) -> list[CatalogIssue]:
    """Unique names, and one image definition per workload (the image sprawl guard).

    Read from each file's raw table, so a mistake elsewhere in a file hides none of these.
    """
    issues: list[CatalogIssue] = []
    by_name: dict[str, str] = {}
    by_definition: dict[tuple[str, ...], str] = {}
    for file, data in files:
        name = data.get("name")
        gallery = data.get("gallery")
        gallery = gallery if isinstance(gallery, dict) else {}
        key = tuple(str(gallery.get(k, "")).lower() for k in ("resource_group", "name", "definition"))
        if isinstance(name, str) and name in by_name:
            issues.append(
                CatalogIssue(file=file, field="name", reason=f"workload {name!r} is also defined in {by_name[name]}")
            )
        if isinstance(name, str):
            by_name.setdefault(name, file)
        if not all(key):
            continue
        other = by_definition.get(key)
        if other is not None:
            issues.append(
                CatalogIssue(
                    file=file,
                    field="gallery.definition",
                    reason=f"image definition {gallery['definition']!r} is already the image of {other}; "
                    "one source-of-truth image per workload (image sprawl guard)",
                )
            )
        by_definition.setdefault(key, f"workload {name!r} ({file})")
    return issues
