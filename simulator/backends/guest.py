"""The simulated Windows guest that lives on an OS disk, driven by Run Command scripts.

State advances lazily with the virtual clock: transitions (decryption, device
encryption, sysprep) record their start and end, and ``refresh(now)`` settles them.
The compute backend schedules a clock timer at every deadline so ``clock.next_due()``
knows about them and events happen on time.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.backends import catalog

IMAGE_STATE_COMPLETE = "IMAGE_STATE_COMPLETE"
IMAGE_STATE_UNDEPLOYABLE = "IMAGE_STATE_UNDEPLOYABLE"
IMAGE_STATE_RESEAL = "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"
PREVENT_DEVICE_ENCRYPTION = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\BitLocker\\PreventDeviceEncryption"
_RUNCOMMAND_SCRIPT = "C:\\Packages\\Plugins\\Microsoft.CPlat.Core.RunCommandWindows\\1.1.18\\Downloads\\script0.ps1"

BITLOCKER_SYSPREP_ERRORS = (
    "Error                 SYSPRP BitLocker-Sysprep: BitLocker is on for the OS volume. "
    "Turn BitLocker off to run Sysprep. (0x80310039)",
    "Error      [0x0f0082] SYSPRP ActionPlatform::LaunchModule: Failure occurred while executing "
    "'ValidateBitLockerState' from C:\\Windows\\System32\\BdeSysprep.dll; dwRet = 0x80310039",
    "Error                 SYSPRP SysprepSession::Validate: Error in validating actions from "
    "C:\\Windows\\System32\\Sysprep\\ActionFiles\\Cleanup.xml; dwRet = 0x80310039",
    "Error                 SYSPRP RunPlatformActions:Failed while validating Sysprep session actions; "
    "dwRet = 0x80310039",
    "Error      [0x0f0070] SYSPRP RunExternalDlls:An error occurred while running registry sysprep DLLs, "
    "halting sysprep execution. dwRet = 0x80310039",
)


def _appx_errors(package_full_name: str) -> tuple[str, ...]:
    return (
        f"Error                 SYSPRP Package {package_full_name} was installed for a user, but not "
        "provisioned for all users. This package will not function properly in the sysprep image.",
        "Error                 SYSPRP Failed to remove apps for the current user: 0x80073cf2.",
        "Error                 SYSPRP Exit code of RemoveAllApps thread was 0x3cf2.",
        "Error      [0x0f0082] SYSPRP ActionPlatform::LaunchModule: Failure occurred while executing "
        "'SysprepGeneralizeValidate' from C:\\Windows\\System32\\AppxSysprep.dll; dwRet = 0x80073cf2",
        "Error                 SYSPRP SysprepSession::Validate: Error in validating actions from "
        "C:\\Windows\\System32\\Sysprep\\ActionFiles\\Generalize.xml; dwRet = 0x80073cf2",
    )


@dataclass
class App:
    name: str
    version: str
    scope: str  # machine | user

    def package_full_name(self) -> str:
        return f"{self.name}_{self.version}.0_x64__8wekyb3d8bbwe"


@dataclass
class Transition:
    """A linear change of BitLocker percentage between two instants."""

    kind: str  # "decrypt" | "encrypt"
    start: datetime
    end: datetime
    from_pct: float
    to_pct: float


@dataclass
class SysprepRun:
    start: datetime
    end: datetime
    succeeds: bool
    errors: tuple[str, ...]
    shutdown: bool


@dataclass
class ScriptResult:
    stdout: str
    stderr: str
    sysprep_end: datetime | None = None


@dataclass
class GuestState:
    product_name: str
    build: int
    ubr: int
    display_version: str
    offering_sku: str
    disk_size_gb: int = 128
    hotfixes: list[str] = field(default_factory=list)
    apps: list[App] = field(default_factory=list)
    registry: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower key -> (key, value)
    volume_status: str = "FullyDecrypted"
    encryption_percentage: float = 0.0
    protection_status: str = "Off"
    key_protectors: list[str] = field(default_factory=list)
    transition: Transition | None = None
    image_state: str = IMAGE_STATE_COMPLETE
    setuperr: list[str] = field(default_factory=list)
    sysprep: SysprepRun | None = None
    sysprepped: bool = False
    hyper_v_generation: str = "V2"

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_marketplace(cls, image: catalog.MarketplaceImage, *, trusted_launch: bool) -> GuestState:
        offering = image.offering
        guest = cls(
            product_name=offering.product_name,
            build=offering.build,
            ubr=image.update.ubr,
            display_version=offering.display_version,
            offering_sku=offering.sku,
            disk_size_gb=127 if offering.build < 26000 else 128,
            hotfixes=[image.update.kb],
            apps=[App("Microsoft Edge", f"{130 + image.update.ubr % 17}.0.2849.56", "machine")],
            hyper_v_generation=offering.hyper_v_generation,
        )
        if trusted_launch or offering.default_encrypted:
            guest.set_encrypted()
        return guest

    def set_encrypted(self) -> None:
        self.volume_status = "FullyEncrypted"
        self.encryption_percentage = 100.0
        self.protection_status = "On"
        self.key_protectors = ["Tpm"]
        self.transition = None

    def copy(self, now: datetime) -> GuestState:
        """A copy of the disk contents as they are at ``now`` (in-flight changes continue)."""
        self.refresh(now)
        return copy.deepcopy(self)

    # -- time --------------------------------------------------------------------------------
    def deadlines(self) -> list[datetime]:
        result = []
        if self.transition:
            result.append(self.transition.end)
        if self.sysprep:
            result.append(self.sysprep.end)
        return result

    def refresh(self, now: datetime) -> None:
        t = self.transition
        if t:
            if now >= t.end:
                self.transition = None
                if t.kind == "decrypt":
                    self.volume_status = "FullyDecrypted"
                    self.encryption_percentage = 0.0
                    self.protection_status = "Off"
                    self.key_protectors = []
                else:
                    self.set_encrypted()
            else:
                span = (t.end - t.start).total_seconds() or 1.0
                done = max(0.0, (now - t.start).total_seconds()) / span
                self.encryption_percentage = t.from_pct + (t.to_pct - t.from_pct) * done
        s = self.sysprep
        if s:
            if now >= s.end:
                self.sysprep = None
                if s.succeeds:
                    self.image_state = IMAGE_STATE_RESEAL
                    self.sysprepped = True
                else:
                    self.image_state = IMAGE_STATE_COMPLETE
                    stamp = s.end.strftime("%Y-%m-%d %H:%M:%S")
                    self.setuperr.extend(f"{stamp}, {line}" for line in s.errors)
            elif s.succeeds and now >= s.start + timedelta(seconds=5):
                self.image_state = IMAGE_STATE_UNDEPLOYABLE

    # -- boot ----------------------------------------------------------------------------------
    def first_boot_from_image(self, now: datetime, durations: dict[str, float]) -> None:
        """OOBE of a VM deployed from a generalized image: device encryption unless prevented."""
        self.image_state = IMAGE_STATE_COMPLETE
        self.sysprepped = False
        self.setuperr = []
        if self.registry_value(PREVENT_DEVICE_ENCRYPTION) == "1":
            return
        if self.volume_status == "FullyDecrypted":
            self.volume_status = "EncryptionInProgress"
            self.protection_status = "Off"
            self.transition = Transition(
                "encrypt", now, now + timedelta(seconds=durations["device_encryption"]), 0.0, 100.0
            )

    # -- registry ----------------------------------------------------------------------------
    def registry_value(self, key: str) -> str | None:
        entry = self.registry.get(_canonical_key(key).lower())
        return entry[1] if entry else None

    def set_registry(self, key: str, value: str) -> None:
        canonical = _canonical_key(key)
        self.registry[canonical.lower()] = (canonical, value)

    # -- scripts ---------------------------------------------------------------------------------
    def run_script(
        self,
        lines: list[str],
        now: datetime,
        durations: dict[str, float],
        sysprep_fault: str | None = None,
    ) -> ScriptResult:
        """Execute a RunPowerShellScript body and return its stdout/stderr."""
        self.refresh(now)
        script = "\n".join(lines)
        out: list[str] = []
        sysprep_end: datetime | None = None
        flat = _logical_lines(script)
        for lineno, line in flat:
            stripped = line.strip()
            low = stripped.lower()
            if not stripped or stripped.startswith("#"):
                continue
            m = re.match(r"throw\s+(.*)$", stripped, re.IGNORECASE)
            if m:
                msg = _unquote(m.group(1).strip())
                return ScriptResult("\n".join(out), _throw_text(msg, lineno, stripped), sysprep_end)
            m = re.match(r"exit\s+(-?\d+)", stripped, re.IGNORECASE)
            if m:
                code = int(m.group(1))
                err = "" if code == 0 else f"Script exited with code {code}."
                return ScriptResult("\n".join(out), err, sysprep_end)
            if low.startswith("winget ") and " install" in f" {low}":
                out.append(self._winget(stripped))
            elif low.startswith("install-windowsupdate"):
                out.append(self._windows_update(now))
            elif low.startswith("set-itemproperty") or low.startswith("new-itemproperty"):
                self._set_item_property(stripped)
            elif low.startswith("reg add") or low.startswith("reg.exe add"):
                self._reg_add(stripped)
            elif "disable-bitlocker" in low:
                self._disable_bitlocker(now, durations)
            elif "sysprep.exe" in low:
                sysprep_end = self._start_sysprep(stripped, now, durations, sysprep_fault)
            elif m := re.match(r"(?:write-output|write-host|echo)\s+(.*)$", stripped, re.IGNORECASE):
                out.append(_unquote(m.group(1).strip()))
        out.extend(self._query_output(script, now))
        return ScriptResult("\n".join(o for o in out if o), "", sysprep_end)

    def _query_output(self, script: str, now: datetime) -> list[str]:
        low = script.lower()
        if "convertto-json" in low:
            if "get-hotfix" in low:
                document = self.inventory(script)
                if "get-bitlockervolume" in low:
                    status = self.bitlocker_status()
                    document["bitlocker"] = {
                        "volumeStatus": status["volumeStatus"],
                        "encryptionPercentage": status["encryptionPercentage"],
                    }
                return [_json(document)]
            if "setup\\state" in low:
                return [_json(self.sysprep_status())]
            if "disable-bitlocker" in low:
                status = self.bitlocker_status()
                return [
                    _json(
                        {
                            "started": True,
                            "volumeStatus": status["volumeStatus"],
                            "encryptionPercentage": status["encryptionPercentage"],
                        }
                    )
                ]
            if "sysprep.exe" in low or "started = $true" in low:
                return [_json({"started": True})]
            if "get-bitlockervolume" in low:
                return [_json(self.bitlocker_status())]
        if "manage-bde" in low and "-status" in low:
            return [self.manage_bde()]
        return []

    def inventory(self, script: str = "") -> dict[str, Any]:
        wanted = re.findall(r"'(HKLM:\\[^']+)'\s*=\s*\$null", script, re.IGNORECASE)
        registry = {}
        for key in wanted:
            value = self.registry_value(key)
            if value is not None:
                registry[key] = value
        apps = sorted(
            ({"name": a.name, "version": a.version} for a in self.apps if a.scope == "machine"),
            key=lambda a: a["name"],
        )
        return {
            "osBuild": f"{self.build}.{self.ubr}",
            "osDisplayVersion": self.display_version,
            "hotfixes": sorted(self.hotfixes),
            "apps": apps,
            "registry": registry,
        }

    def bitlocker_status(self) -> dict[str, Any]:
        return {
            "mountPoint": "C:",
            "volumeStatus": self.volume_status,
            "encryptionPercentage": round(self.encryption_percentage),
            "protectionStatus": self.protection_status,
            "keyProtectors": list(self.key_protectors),
        }

    def sysprep_status(self) -> dict[str, Any]:
        return {
            "imageState": self.image_state,
            "sysprepRunning": self.sysprep is not None,
            "errors": [line for line in self.setuperr if "Error" in line],
        }

    def manage_bde(self) -> str:
        conversion = {
            "FullyDecrypted": "Fully Decrypted",
            "FullyEncrypted": "Fully Encrypted",
            "EncryptionInProgress": "Encryption in Progress",
            "DecryptionInProgress": "Decryption in Progress",
        }[self.volume_status]
        method = "None" if self.volume_status == "FullyDecrypted" else "XTS-AES 128"
        protectors = (
            "    Key Protectors:\n" + "\n".join(f"        {p.upper()}" for p in self.key_protectors)
            if self.key_protectors
            else "    Key Protectors:       None Found"
        )
        return (
            f"BitLocker Drive Encryption: Configuration Tool version 10.0.{self.build}\n"
            "Copyright (C) 2013 Microsoft Corporation. All rights reserved.\n\n"
            "Volume C: [Windows]\n[OS Volume]\n\n"
            f"    Size:                 {self.disk_size_gb - 1.55:.2f} GB\n"
            "    BitLocker Version:    2.0\n"
            f"    Conversion Status:    {conversion}\n"
            f"    Percentage Encrypted: {self.encryption_percentage:.1f}%\n"
            f"    Encryption Method:    {method}\n"
            f"    Protection Status:    Protection {self.protection_status}\n"
            "    Lock Status:          Unlocked\n"
            "    Identification Field: Unknown\n"
            f"{protectors}\n"
        )

    # -- effects -------------------------------------------------------------------------------
    def _winget(self, line: str) -> str:
        args = _split(line)
        opts = _options(args)
        app_id = opts.get("id") or (args[2] if len(args) > 2 and not args[2].startswith("-") else "unknown")
        version = opts.get("version", "1.0.0")
        scope = opts.get("scope", "machine").lower()
        if scope not in ("machine", "user"):
            scope = "machine"
        self.apps = [a for a in self.apps if a.name.lower() != app_id.lower()]
        self.apps.append(App(app_id, version, scope))
        return f"Found {app_id} [{app_id}] Version {version}\nSuccessfully installed"

    def _windows_update(self, now: datetime) -> str:
        offering = next(o for o in catalog.OFFERINGS if o.sku == self.offering_sku)
        cu = catalog.current_update(offering, now)
        if cu.ubr <= self.ubr:
            return "No updates found."
        self.ubr = cu.ubr
        if cu.kb not in self.hotfixes:
            self.hotfixes.append(cu.kb)
        return f"Installed {cu.kb} {cu.title(offering)}"

    def _set_item_property(self, line: str) -> None:
        opts = _options(_split(line))
        path, name, value = opts.get("path"), opts.get("name"), opts.get("value")
        if path and name and value is not None:
            self.set_registry(f"{path}\\{name}", value)

    def _reg_add(self, line: str) -> None:
        args = _split(line)
        if len(args) < 3:
            return
        key = args[2]
        name = value = None
        for i, a in enumerate(args):
            if a.lower() == "/v" and i + 1 < len(args):
                name = args[i + 1]
            if a.lower() == "/d" and i + 1 < len(args):
                value = args[i + 1]
        if name and value is not None:
            self.set_registry(f"{key}\\{name}", value)

    def _disable_bitlocker(self, now: datetime, durations: dict[str, float]) -> None:
        if self.volume_status in ("FullyDecrypted", "DecryptionInProgress"):
            return
        pct = self.encryption_percentage
        seconds = durations["bitlocker_decrypt_128gb"] * (self.disk_size_gb / 128) * (pct / 100)
        self.volume_status = "DecryptionInProgress"
        self.protection_status = "Off"
        self.transition = Transition("decrypt", now, now + timedelta(seconds=seconds), pct, 0.0)

    def _start_sysprep(
        self, line: str, now: datetime, durations: dict[str, float], fault: str | None
    ) -> datetime | None:
        if self.sysprep is not None:
            return None
        low = line.lower()
        generalize = "/generalize" in low
        errors: tuple[str, ...] = ()
        if fault is not None:
            errors = (f"Error                 SYSPRP {fault}",)
        elif self.volume_status != "FullyDecrypted":
            errors = BITLOCKER_SYSPREP_ERRORS
        elif generalize:
            user_apps = [a for a in self.apps if a.scope == "user"]
            if user_apps:
                errors = _appx_errors(user_apps[0].package_full_name())
        succeeds = not errors
        seconds = durations["sysprep"] if succeeds else durations["sysprep_failure"]
        self.setuperr = []
        self.sysprep = SysprepRun(
            now, now + timedelta(seconds=seconds), succeeds, errors, "/shutdown" in low and succeeds
        )
        return self.sysprep.end


# -- parsing helpers --------------------------------------------------------------------------


def _json(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))


def _logical_lines(script: str) -> list[tuple[int, str]]:
    """Split a script into statements (newlines and ``;`` outside quotes), with line numbers."""
    result: list[tuple[int, str]] = []
    for lineno, raw in enumerate(script.splitlines(), start=1):
        parts: list[str] = []
        buf: list[str] = []
        quote: str | None = None
        for ch in raw:
            if quote:
                buf.append(ch)
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
                buf.append(ch)
            elif ch == ";":
                parts.append("".join(buf))
                buf = []
            else:
                buf.append(ch)
        parts.append("".join(buf))
        result.extend((lineno, p) for p in parts if p.strip())
    return result


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError:
        return line.split()


def _options(args: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1:
            key = a.lstrip("-").lower()
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                opts[key] = args[i + 1]
                i += 2
                continue
            opts[key] = "true"
        i += 1
    return opts


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _canonical_key(key: str) -> str:
    k = key.strip().strip("'\"")
    for prefix in ("Registry::HKEY_LOCAL_MACHINE\\", "HKEY_LOCAL_MACHINE\\", "HKLM\\", "HKLM:\\"):
        if k.upper().startswith(prefix.upper()):
            return "HKLM:\\" + k[len(prefix) :]
    return k


def _throw_text(msg: str, lineno: int, line: str) -> str:
    return (
        f"{msg}\nAt {_RUNCOMMAND_SCRIPT}:{lineno} char:1\n+ {line}\n+ {'~' * min(len(line), 60)}\n"
        f"    + CategoryInfo          : OperationStopped: ({msg}:String) [], RuntimeException\n"
        f"    + FullyQualifiedErrorId : {msg}"
    )
