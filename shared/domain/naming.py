"""The naming standard: names that tell a new admin at once what an image is.

Everything that reaches a Table Storage key, an OData filter or an Azure resource id is
validated here first, so hostile strings never get further than this module.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from shared.domain.errors import InvalidInput

if TYPE_CHECKING:
    from shared.domain.model import VersionNumber

# No "--": it separates the workload from the run id in resource names.
WORKLOAD_NAME = re.compile(r"^(?!.*--)[a-z][a-z0-9-]{1,38}[a-z0-9]$")
# Compute Gallery image definition (and gallery resource) names: letters, digits, '-', '_', '.',
# 1-80 characters; we also require an alphanumeric first and last character.
DEFINITION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9])?$")
GALLERY_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._]{0,78}[A-Za-z0-9])?$")
RESOURCE_GROUP_NAME = re.compile(r"^[-\w._()]{0,89}[-\w_()]$")
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,23}$")
REGION = re.compile(r"^[a-z][a-z0-9]{2,39}$")
RUN_ID = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$")
MAX_SHOWN = 60


def _shown(value: str) -> str:
    """A bounded, printable rendering of untrusted input for error messages."""
    text = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + f"... ({len(value)} chars)"
    return repr(text)


def _check(pattern: re.Pattern[str], value: object, what: str, rule: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = _shown(value) if isinstance(value, str) else type(value).__name__
        raise InvalidInput(f"invalid {what} {shown}: {rule}")
    return value


def workload_name(value: object) -> str:
    """Workload names key the partition and every resource name, so they are slugs."""
    return _check(
        WORKLOAD_NAME,
        value,
        "workload name",
        "use 3-40 lowercase letters, digits and single '-', starting with a letter",
    )


def definition_name(value: object) -> str:
    return _check(
        DEFINITION_NAME,
        value,
        "image definition name",
        "use 1-80 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    )


def gallery_name(value: object) -> str:
    return _check(
        GALLERY_NAME,
        value,
        "gallery name",
        "use 1-80 letters, digits, '_' or '.', starting and ending with a letter or digit",
    )


def resource_group_name(value: object) -> str:
    return _check(
        RESOURCE_GROUP_NAME,
        value,
        "resource group name",
        "use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.'",
    )


def label(value: object, what: str) -> str:
    return _check(LABEL, value, what, "use 1-24 letters, digits, spaces, '.', '_', '+' or '-'")


def region(value: object) -> str:
    return _check(REGION, value, "region", "use an Azure region name such as 'westeurope'")


def run_id(value: object) -> str:
    return _check(RUN_ID, value, "run id", "use 3-32 lowercase letters, digits and single '-'")


def display_name(os_label: str, workload_label: str, version: VersionNumber, built: date) -> str:
    """`Win11 | Office | v1.4.0 | 2026-11`: OS | Workload | Image Version | Build Date.

    Always the three parts of the gallery version, so every version of a workload reads alike
    and the name says exactly which version to pick (`v1.4` next to `v1.4.1` did not).
    """
    return f"{os_label} | {workload_label} | v{version} | {built:%Y-%m}"


SEPARATOR = "--"


def temp_resource_name(workload: str, owner: str, kind: str) -> str:
    """Deterministic names let a retried step find what it made before.

    `owner` is a run id or a version slug; neither contains "--", so the name parses back.
    """
    return f"{workload}{SEPARATOR}{owner}{SEPARATOR}{kind}"


def parse_resource_name(name: str) -> tuple[str, str, str] | None:
    """(workload, owner, kind) for names made by temp_resource_name, else None."""
    parts = name.split(SEPARATOR)
    if len(parts) != 3 or not WORKLOAD_NAME.fullmatch(parts[0]):
        return None
    return parts[0], parts[1], parts[2]


def source_vm_name(workload: str) -> str:
    """One long-lived source VM per workload: the authoritative image content."""
    return temp_resource_name(workload, "image", "src")


def version_slug(version: VersionNumber) -> str:
    return f"v{version.major}-{version.minor}-{version.patch}"
