"""Run the product's guest scripts and parse their one-line JSON answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.domain.compute import ScriptResult
from shared.domain.errors import AzureOperationError
from shared.domain.model import App, Manifest


def parse(result: ScriptResult, what: str) -> dict[str, Any]:
    """The one JSON object a product script prints last; stderr means the script failed."""
    if result.stderr.strip():
        raise AzureOperationError(what, "GuestScriptError", result.stderr.strip()[:2000])
    return last_json_line(result.stdout, what)


def last_json_line(stdout: str, what: str) -> dict[str, Any]:
    """The scripts print one JSON object last; anything before it is progress output."""
    try:
        parsed = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AzureOperationError(
            what, "GuestScriptOutput", f"expected a JSON line last, got {stdout[-200:]!r}"
        ) from None
    if not isinstance(parsed, dict):
        raise AzureOperationError(what, "GuestScriptOutput", "expected a JSON object")
    return parsed


@dataclass(frozen=True)
class Inventory:
    manifest: Manifest
    volume_status: str
    encryption_percentage: int

    @property
    def bitlocker(self) -> str:
        return f"{self.volume_status} ({self.encryption_percentage}% encrypted)"


def parse_inventory(stdout: str, what: str) -> Inventory:
    return inventory_from(last_json_line(stdout, what))


def inventory_from(data: dict[str, Any]) -> Inventory:
    bitlocker = data.get("bitlocker") or {}
    return Inventory(
        manifest=_manifest(data),
        volume_status=str(bitlocker.get("volumeStatus", "Unknown")),
        encryption_percentage=int(bitlocker.get("encryptionPercentage", 0) or 0),
    )


def _manifest(data: dict[str, Any]) -> Manifest:
    apps = tuple(App(name=str(a["name"]), version=str(a.get("version", ""))) for a in data.get("apps") or [])
    return Manifest(
        os_build=str(data.get("osBuild", "")),
        os_display_version=str(data.get("osDisplayVersion", "")),
        hotfixes=tuple(sorted(str(h) for h in data.get("hotfixes") or [])),
        apps=tuple(sorted(apps, key=lambda a: a.name.casefold())),
        registry={str(k): str(v) for k, v in (data.get("registry") or {}).items()},
    )


def volume(data: dict[str, Any]) -> tuple[str, int]:
    """(volumeStatus, encryptionPercentage) from BITLOCKER_STATUS or BITLOCKER_OFF output."""
    return str(data.get("volumeStatus", "Unknown")), int(data.get("encryptionPercentage", 0) or 0)


def sysprep_state(data: dict[str, Any]) -> tuple[str, bool, list[str]]:
    return str(data.get("imageState", "")), bool(data.get("sysprepRunning")), [str(e) for e in data.get("errors") or []]


PREVENT_DEVICE_ENCRYPTION = r"HKLM:\SYSTEM\CurrentControlSet\Control\BitLocker\PreventDeviceEncryption"


def manifest_drift(expected: Manifest, actual: Manifest) -> list[str]:
    """Human-readable differences between two manifests (empty when they match)."""
    drift: list[str] = []
    if expected.os_build != actual.os_build:
        drift.append(f"OS build {expected.os_build} -> {actual.os_build}")
    for missing in sorted(set(expected.hotfixes) - set(actual.hotfixes)):
        drift.append(f"hotfix {missing} missing")
    for extra in sorted(set(actual.hotfixes) - set(expected.hotfixes)):
        drift.append(f"hotfix {extra} added")
    want = {a.name: a.version for a in expected.apps}
    have = {a.name: a.version for a in actual.apps}
    for name in sorted(want.keys() | have.keys()):
        if want.get(name) != have.get(name):
            drift.append(f"app {name}: {want.get(name, 'absent')} -> {have.get(name, 'absent')}")
    return drift
