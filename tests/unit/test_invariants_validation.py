"""Validation passes a deployed host only when BitLocker stayed off and PreventDeviceEncryption is 1."""

from __future__ import annotations

import json

from shared.domain.compute import ScriptResult
from shared.domain.model import Manifest
from shared.steps.guest import PREVENT_DEVICE_ENCRYPTION
from shared.steps.versions import _validation_checks
from tests.conftest import make_version

MANIFEST = Manifest(os_build="26100.7171", os_display_version="24H2", hotfixes=("KB5070773",), apps=(), registry={})


def inventory(volume: str, registry: dict[str, str]) -> ScriptResult:
    body = {
        "osBuild": MANIFEST.os_build,
        "osDisplayVersion": MANIFEST.os_display_version,
        "hotfixes": list(MANIFEST.hotfixes),
        "apps": [],
        "registry": registry,
        "bitlocker": {"volumeStatus": volume, "encryptionPercentage": 0 if volume == "FullyDecrypted" else 100},
    }
    return ScriptResult(stdout=json.dumps(body), stderr="")


def test_a_host_with_prevent_device_encryption_and_bitlocker_off_passes() -> None:
    """FullyDecrypted after first boot, the registry value 1 and the same manifest: every check is ok."""
    version = make_version(manifest=MANIFEST.model_copy(update={"registry": {PREVENT_DEVICE_ENCRYPTION: "1"}}))
    checks = _validation_checks(version, inventory("FullyDecrypted", {PREVENT_DEVICE_ENCRYPTION: "1"}), "vm")
    assert checks == {
        "bitlocker": "ok: FullyDecrypted after first boot",
        "PreventDeviceEncryption": "ok: 1",
        "manifest": "ok: matches the recorded manifest",
    }


def test_a_host_without_prevent_device_encryption_fails_validation() -> None:
    """A missing PreventDeviceEncryption means hosts would re-encrypt: that check is not ok."""
    version = make_version(manifest=MANIFEST)
    checks = _validation_checks(version, inventory("FullyDecrypted", {}), "vm")
    assert checks["PreventDeviceEncryption"] == "missing (value None)"
    assert not all(value.startswith("ok") for value in checks.values())


def test_a_host_that_re_encrypted_fails_validation() -> None:
    """BitLocker back on after first boot fails the bitlocker check even with the registry value set."""
    version = make_version(manifest=MANIFEST.model_copy(update={"registry": {PREVENT_DEVICE_ENCRYPTION: "1"}}))
    checks = _validation_checks(version, inventory("FullyEncrypted", {PREVENT_DEVICE_ENCRYPTION: "1"}), "vm")
    assert not checks["bitlocker"].startswith("ok")
    assert checks["PreventDeviceEncryption"] == "ok: 1"
