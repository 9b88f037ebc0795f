"""The retention policy: keep the newest N plus everything in use or pinned; deprecate, then delete."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.catalog import Retention
from shared.domain.model import ImageVersion, Pointers, Status, VersionNumber

IN_FLIGHT = frozenset({Status.BUILDING, Status.CAPTURING, Status.REPLICATING})
_GALLERY_IMAGE = re.compile(
    r"^(?P<definition>/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute"
    r"/galleries/[^/]+/images/[^/]+)(?:/versions/(?P<version>[^/]+))?/?$",
    re.IGNORECASE,
)


def in_use_key(image_id: str | None, exact_version: str | None) -> str | None:
    """The lower-case gallery version id a VM or scale set runs, as `images_in_use` counts it.

    A host deployed from the definition ("latest") references the definition id, and ARM puts
    the version it got into `storageProfile.imageReference.exactVersion`. A definition without
    `exactVersion` (a scale set model) is counted as the definition id: some version of it runs.
    Anything that is not a gallery image (marketplace, managed image) is None.
    """
    match = _GALLERY_IMAGE.match(image_id) if image_id else None
    if match is None:
        return None
    definition = match["definition"]
    version = match["version"] or (exact_version or "").strip()
    return (f"{definition}/versions/{version}" if version else definition).lower()


class Action(StrEnum):
    KEEP = "keep"
    DEPRECATE = "deprecate"
    DELETE = "delete"


@dataclass(frozen=True)
class Decision:
    version: VersionNumber
    display_name: str
    action: Action
    reason: str
    end_of_life: datetime | None = None


def in_use_of(inventory: Mapping[str, int], definition_id: str) -> dict[str, int]:
    """The part of a compute inventory (`images_in_use`) about one image definition: its
    versions and the definition itself ("latest" without exactVersion)."""
    definition = definition_id.lower()
    return {k: n for k, n in inventory.items() if k == definition or k.startswith(definition + "/versions/")}


def plan(
    versions: Collection[ImageVersion],
    pointers: Pointers,
    policy: Retention,
    images_in_use: Mapping[str, int],
    now: datetime,
) -> list[Decision]:
    """One decision per live version, newest first, each with the reason an admin would ask for."""
    pinned = {VersionNumber.parse(p) for p in policy.pinned}
    live = sorted((v for v in versions if v.status is not Status.DELETED), key=lambda v: v.version, reverse=True)
    # Deprecated versions are on their way out: they never take one of the `keep` places.
    usable = (Status.FAILED, Status.WITHDRAWN, Status.DEPRECATED)
    newest = [v.version for v in live if v.status not in usable][: policy.keep]
    roles: dict[VersionNumber, str] = {}
    for pointed, role in (
        (pointers.production, "serves production"),
        (pointers.rollback, "production rollback target"),
        (pointers.dr, "serves dr"),
        (pointers.validation, "serves validation"),
        (pointers.test, "serves test"),
    ):
        if pointed is not None:
            roles.setdefault(pointed, role)  # the most important role names the reason
    decisions: list[Decision] = []
    for version in live:
        reason = _protection(version, roles, pointers.production, pinned, newest, images_in_use, policy.keep)
        if reason:
            decisions.append(Decision(version.version, version.display_name, Action.KEEP, reason))
        elif version.status is Status.DEPRECATED:
            end = version.end_of_life or now
            if end <= now:
                decisions.append(
                    Decision(version.version, version.display_name, Action.DELETE, f"end of life {end:%Y-%m-%d} passed")
                )
            else:
                decisions.append(
                    Decision(version.version, version.display_name, Action.KEEP, f"deprecated until {end:%Y-%m-%d}")
                )
        elif version.status is Status.FAILED and not version.gallery_version_id:
            decisions.append(
                Decision(
                    version.version, version.display_name, Action.DELETE, "failed before capture; nothing in Azure"
                )
            )
        else:
            end = now + timedelta(days=policy.grace_days)
            why = _retire_reason(version, newest)
            decisions.append(Decision(version.version, version.display_name, Action.DEPRECATE, why, end))
    return decisions


def _retire_reason(version: ImageVersion, newest: list[VersionNumber]) -> str:
    """Why a version goes, true however many versions there are (withdrawn ones never count as newest)."""
    if version.status in (Status.WITHDRAWN, Status.FAILED):
        return f"{version.status.value} and not in use; {version.status.value} versions do not count as newest"
    return f"{version.status.value}, not among the newest {len(newest)} and not in use"


def _protection(
    version: ImageVersion,
    roles: dict[VersionNumber, str],
    production: VersionNumber | None,
    pinned: set[VersionNumber],
    newest: list[VersionNumber],
    images_in_use: Mapping[str, int],
    keep: int,
) -> str:
    if version.version in roles:
        return roles[version.version]
    if version.version in pinned:
        return "pinned in the catalog"
    if version.gallery_version_id:
        key = version.gallery_version_id.lower()
        if key in images_in_use:
            return "used by a VM or scale set"
        if key.removesuffix(f"/versions/{version.version}") in images_in_use:  # its definition
            return "a scale set deploys its definition ('latest') without saying which version runs"
    if version.status in IN_FLIGHT:
        return f"{version.status.value} (in progress)"
    # kept until a newer version serves production: it is still the newer of the two
    if version.status is Status.WITHDRAWN and (
        production is None or max(production, version.version) == version.version
    ):
        return "withdrawn by a rollback; kept for investigation until a newer version reaches production"
    if version.status is not Status.DEPRECATED and version.version in newest:
        return f"one of the newest {keep}"
    return ""
