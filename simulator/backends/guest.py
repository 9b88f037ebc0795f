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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.backends import catalog, guest_bitlocker
from simulator.backends.guest_registry import Registry

IMAGE_STATE_COMPLETE = "IMAGE_STATE_COMPLETE"
IMAGE_STATE_UNDEPLOYABLE = "IMAGE_STATE_UNDEPLOYABLE"
IMAGE_STATE_RESEAL = "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"
PREVENT_DEVICE_ENCRYPTION = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\BitLocker\\PreventDeviceEncryption"

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
# Sysprep refuses to run while installed updates wait for a restart.
PENDING_REBOOT_SYSPREP_ERRORS = (
    "Error                 SYSPRP Sysprep_Clean_Validate_Opk: There are one or more Windows updates that "
    "require a reboot. To run Sysprep, reboot the computer and restart Sysprep.[gle=0x000036b7]",
    "Error      [0x0f0082] SYSPRP ActionPlatform::LaunchModule: Failure occurred while executing "
    "'Sysprep_Clean_Validate_Opk' from C:\\Windows\\System32\\spopk.dll; dwRet = 0x36b7",
)
MSRT_TITLE = "Windows Malicious Software Removal Tool x64 - v5.{n} (KB890830)"


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
class PendingUpdate:
    """An installed update that takes effect at the next boot."""

    kb: str
    ubr: int


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
    reg: Registry = field(default_factory=Registry.stock)
    volume_status: str = "FullyDecrypted"
    encryption_percentage: float = 0.0
    protection_status: str = "Off"
    key_protectors: list[str] = field(default_factory=list)
    transition: Transition | None = None
    image_state: str = IMAGE_STATE_COMPLETE
    setuperr: list[str] = field(default_factory=list)
    sysprep: SysprepRun | None = None
    sysprepped: bool = False
    pending_reboot: list[PendingUpdate] = field(default_factory=list)
    msrt_month: str = ""  # the month whose Malicious Software Removal Tool ran
    boots: int = 0
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
    def boot(self, now: datetime) -> None:
        """A (re)start: updates installed before it take effect."""
        self.refresh(now)
        self.boots += 1
        for update in self.pending_reboot:
            self.ubr = max(self.ubr, update.ubr)
            if update.kb not in self.hotfixes:
                self.hotfixes.append(update.kb)
        self.pending_reboot = []

    @property
    def reboot_required(self) -> bool:
        return bool(self.pending_reboot)

    def first_boot_from_image(self, now: datetime, durations: dict[str, float]) -> None:
        """OOBE of a VM deployed from a generalized image: device encryption unless prevented."""
        self.boot(now)
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
        return self.reg.value(key)

    def set_registry(self, key: str, value: str) -> None:
        parent, _, name = key.rpartition("\\")
        self.reg.set_value(parent, name, value, create_key=True)

    # -- scripts ---------------------------------------------------------------------------------
    def query_output(self, script: str) -> list[str]:
        """The product's JSON reports and admins' BitLocker checks, recognised by their cmdlets."""
        low = script.lower()
        product = "[pscustomobject]" in low
        if "convertto-json" in low and product:
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
        if "get-hotfix" in low and "convertto-json" in low:
            return [_json(self.inventory(script))]
        if "get-bitlockervolume" in low:
            if "convertto-json" in low:
                return [guest_bitlocker.raw_json(self)]
            if "format-list" in low or re.search(r"\|\s*fl\b", low):
                return [guest_bitlocker.list_form(self)]
            return [guest_bitlocker.table(self)]
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
        return guest_bitlocker.manage_bde(self)

    # -- effects -------------------------------------------------------------------------------
    def install_app(self, app_id: str, version: str, scope: str) -> None:
        self.apps = [a for a in self.apps if a.name.lower() != app_id.lower()]
        self.apps.append(App(app_id, version, scope if scope in ("machine", "user") else "machine"))

    def windows_update_pass(self, now: datetime, durations: dict[str, float]) -> tuple[dict[str, Any], float]:
        """One search-download-install pass of the Windows Update Agent (Microsoft.Update.Session).

        The month's cumulative update needs a restart and takes effect at the next boot; the
        Malicious Software Removal Tool is offered once that update is in place. While a restart
        is pending nothing more is installed.
        """
        offering = next(o for o in catalog.OFFERINGS if o.sku == self.offering_sku)
        cu = catalog.current_update(offering, now)
        month = f"{cu.year}-{cu.month:02d}"
        found: list[tuple[str, str]] = []
        if cu.ubr > self.ubr and all(p.kb != cu.kb for p in self.pending_reboot):
            found.append((cu.kb, cu.title(offering)))
        elif cu.ubr <= self.ubr and self.msrt_month != month:
            found.append(("KB890830", MSRT_TITLE.format(n=100 + cu.month)))
        seconds = durations["windows_update_scan"]
        if self.reboot_required:
            report = {"found": len(found), "installed": [], "rebootRequired": True, "resultCode": 0}
            return report, seconds
        installed = []
        for kb, title in found:
            if kb == cu.kb:
                self.pending_reboot.append(PendingUpdate(kb, cu.ubr))
                seconds += durations["windows_update_install"]
            else:
                self.msrt_month = month
                seconds += durations["windows_update_install"] / 20
            installed.append({"kb": kb, "title": title})
        report = {
            "found": len(found),
            "installed": installed,
            "rebootRequired": self.reboot_required,
            "resultCode": 2 if installed else 0,
        }
        return report, seconds

    def disable_bitlocker(self, now: datetime, durations: dict[str, float]) -> None:
        if self.volume_status in ("FullyDecrypted", "DecryptionInProgress"):
            return
        pct = self.encryption_percentage
        seconds = durations["bitlocker_decrypt_128gb"] * (self.disk_size_gb / 128) * (pct / 100)
        self.volume_status = "DecryptionInProgress"
        self.protection_status = "Off"
        self.transition = Transition("decrypt", now, now + timedelta(seconds=seconds), pct, 0.0)

    def start_sysprep(
        self, line: str, now: datetime, durations: dict[str, float], fault: str | None
    ) -> datetime | None:
        if self.sysprep is not None:
            return None
        low = line.lower()
        generalize = "/generalize" in low
        errors: tuple[str, ...] = ()
        if fault is not None:
            errors = (f"Error                 SYSPRP {fault}",)
        elif self.reboot_required:
            errors = PENDING_REBOOT_SYSPREP_ERRORS
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


def _json(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))
