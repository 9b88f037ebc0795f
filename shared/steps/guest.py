"""Parse what the product's guest scripts print.

Robust to what Windows PowerShell 5.1 really prints: the JSON may be indented over many lines,
and enums may come as their numbers (Get-BitLockerVolume's VolumeStatus / ProtectionStatus, the
Win32_EncryptableVolume values); anything unreadable is named in the error.
"""

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
    """The JSON object a script prints last (one line or indented); anything before it is progress."""
    text = stdout.strip()
    decoder = json.JSONDecoder()
    starts = [i for i, ch in enumerate(text) if ch == "{" and (i == 0 or text[i - 1] == "\n")]
    for start in reversed(starts):
        try:
            parsed, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if not text[end:].strip() and isinstance(parsed, dict):
            return parsed
    raise AzureOperationError(
        what, "GuestScriptOutput", f"expected a JSON object last on stdout, got {stdout[-200:]!r}"
    ) from None


VOLUME_STATUS = (
    "FullyDecrypted",
    "FullyEncrypted",
    "EncryptionInProgress",
    "DecryptionInProgress",
    "EncryptionSuspended",
    "DecryptionSuspended",
)
PROTECTION_STATUS = ("Off", "On", "Unknown")


def enum_name(value: Any, names: tuple[str, ...], field: str, what: str) -> str:
    """An enum printed by name or by number (PowerShell 5.1 ConvertTo-Json); else a clear error."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if 0 <= number < len(names):
            return names[number]
    elif isinstance(value, str):
        for name in names:
            if value.strip().lower() == name.lower():
                return name
    raise AzureOperationError(
        what,
        "GuestScriptOutput",
        f"unreadable {field} {value!r}: expected one of {', '.join(names)} or 0-{len(names) - 1}",
    )


def percentage(value: Any, field: str, what: str) -> int:
    try:
        number = float(str(value).strip().rstrip("%"))
    except ValueError:
        raise AzureOperationError(what, "GuestScriptOutput", f"unreadable {field} {value!r}: expected 0-100") from None
    if not 0 <= number <= 100:
        raise AzureOperationError(what, "GuestScriptOutput", f"unreadable {field} {value!r}: expected 0-100")
    return round(number)


@dataclass(frozen=True)
class Inventory:
    manifest: Manifest
    volume_status: str
    encryption_percentage: int

    @property
    def bitlocker(self) -> str:
        return f"{self.volume_status} ({self.encryption_percentage}% encrypted)"


def parse_inventory(stdout: str, what: str) -> Inventory:
    return inventory_from(last_json_line(stdout, what), what)


def inventory_from(data: dict[str, Any], what: str = "inventory") -> Inventory:
    bitlocker = data.get("bitlocker")
    if not isinstance(bitlocker, dict):
        raise AzureOperationError(what, "GuestScriptOutput", "the inventory has no bitlocker object")
    status, percent = volume(bitlocker, what)
    return Inventory(manifest=_manifest(data), volume_status=status, encryption_percentage=percent)


def _manifest(data: dict[str, Any]) -> Manifest:
    apps = tuple(App(name=str(a["name"]), version=str(a.get("version", ""))) for a in data.get("apps") or [])
    return Manifest(
        os_build=str(data.get("osBuild", "")),
        os_display_version=str(data.get("osDisplayVersion", "")),
        hotfixes=tuple(sorted(str(h) for h in data.get("hotfixes") or [])),
        apps=tuple(sorted(apps, key=lambda a: a.name.casefold())),
        registry={str(k): str(v) for k, v in (data.get("registry") or {}).items()},
    )


def volume(data: dict[str, Any], what: str = "BitLocker status") -> tuple[str, int]:
    """(volumeStatus, encryptionPercentage) from BITLOCKER_STATUS, BITLOCKER_OFF or the inventory.

    Accepts the product's camelCase names and Get-BitLockerVolume's own property names.
    """
    status = data.get("volumeStatus", data.get("VolumeStatus"))
    percent = data.get("encryptionPercentage", data.get("EncryptionPercentage"))
    if status is None or percent is None:
        missing = "volumeStatus" if status is None else "encryptionPercentage"
        raise AzureOperationError(what, "GuestScriptOutput", f"no {missing} in {sorted(data)}")
    return enum_name(status, VOLUME_STATUS, "volumeStatus", what), percentage(percent, "encryptionPercentage", what)


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
