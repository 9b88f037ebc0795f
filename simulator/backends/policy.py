"""Platform rules Azure applies before it accepts a VM: security type defaults and vCPU quota.

Kept apart from the backends so each rule and its source sit together (docs/simulator.md,
"Conformance: refusals and timing").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from simulator.errors import ArmError

TRUSTED_LAUNCH = "TrustedLaunch"
STANDARD = "Standard"

_SIZE = re.compile(r"^(?:Standard|Basic)_(?P<family>[A-Za-z]+?)(?P<cpus>\d+)(?P<suffix>[a-z]*)(?:_(?P<ver>v\d+))?$")


def security_type(security_profile: dict[str, Any] | None, *, gen2: bool = True) -> str:
    """The VM's effective security type.

    Trusted Launch is the default for new Gen2 VMs when ``securityProfile.securityType`` is
    omitted (Microsoft Learn, "Trusted launch for Azure virtual machines"; the Trusted Launch
    as default announcement). Every image the simulator offers is Gen2.
    """
    given = str((security_profile or {}).get("securityType") or "")
    if given:
        return TRUSTED_LAUNCH if given.lower() == "trustedlaunch" else given
    return TRUSTED_LAUNCH if gen2 else STANDARD


def effective_profile(security_profile: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    """The securityProfile Azure stores: the default filled in, UEFI settings on for Trusted Launch."""
    profile = dict(security_profile or {})
    profile["securityType"] = kind
    if kind == TRUSTED_LAUNCH:
        uefi = dict(profile.get("uefiSettings") or {})
        uefi.setdefault("secureBootEnabled", True)
        uefi.setdefault("vTpmEnabled", True)
        profile["uefiSettings"] = uefi
    return profile


def attached_security(disk_profile: dict[str, Any] | None, disk_name: str, given: str | None) -> str:
    """An attached OS disk keeps the security type it was made with; the VM cannot change it.

    (MicrosoftDocs/azure-docs#112364: Trusted Launch cannot be turned on or off when creating a
    VM from a snapshot of another VM's OS disk; the 400 and its words are an assumption.)
    """
    own = str((disk_profile or {}).get("securityType") or STANDARD)
    own = TRUSTED_LAUNCH if own.lower() == "trustedlaunch" else own
    if given is not None and given.lower() != own.lower():
        raise ArmError(
            "BadRequest",
            f"Security type '{given}' of the virtual machine does not match security type '{own}' "
            f"of the OS disk {disk_name}. The security type of an existing OS disk cannot be changed.",
            400,
        )
    return own


def vcpus(size: str) -> tuple[int, str]:
    """(vCPUs, quota family name) of a VM size, e.g. Standard_D4s_v5 -> (4, standardDSv5Family)."""
    m = _SIZE.match(size)
    if not m:
        return 2, "standardFamily"
    family = m["family"].upper() + ("S" if "s" in m["suffix"] else "")
    version = m["ver"] or ""
    return int(m["cpus"]), f"standard{family}{version}Family"


class Quotas:
    """Per-region vCPU limits: total regional cores and per VM family.

    Usage counts every VM in the region, deallocated ones too (Microsoft Learn, "Check vCPU
    quotas": cores of allocated and deallocated VMs count). A create over a limit is refused
    synchronously with 409 ``OperationNotAllowed`` and Azure's message (public threads:
    Azure/karpenter-provider-azure#192, nforgeio/neonKUBE#1671).
    """

    def __init__(self) -> None:
        self.limits: dict[tuple[str, str], int] = {}  # (region, family or "total") -> vCPUs

    def set(self, location: str, limit: int, family: str | None = None) -> None:
        """Limit the vCPUs of ``location`` (all families, or one such as ``standardDSv5Family``)."""
        self.limits[(_region(location), family.lower() if family else "total")] = int(limit)

    def clear(self) -> None:
        self.limits.clear()

    def check(self, location: str, size: str, existing: Iterable[tuple[str, str]]) -> None:
        """Refuse a new VM of ``size`` in ``location`` if it exceeds a limit; ``existing`` = (location, size)."""
        if not self.limits:
            return
        region = _region(location)
        need, family = vcpus(size)
        in_region = [vcpus(s) for loc, s in existing if _region(loc) == region]
        checks = [("total", "Total Regional", sum(n for n, _ in in_region))]
        checks.append((family.lower(), family, sum(n for n, f in in_region if f.lower() == family.lower())))
        for key, label, usage in checks:
            limit = self.limits.get((region, key))
            if limit is not None and usage + need > limit:
                raise ArmError(
                    "OperationNotAllowed",
                    f"Operation could not be completed as it results in exceeding approved {label} Cores quota. "
                    f"Additional details - Deployment Model: Resource Manager, Location: {region}, "
                    f"Current Limit: {limit}, Current Usage: {usage}, Additional Required: {need}, "
                    f"(Minimum) New Limit Required: {usage + need}. Submit a request for Quota increase at "
                    "https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView "
                    "by specifying parameters listed in the 'Details' section for deployment to succeed.",
                    409,
                )


def require_storage_profile(props: dict[str, Any]) -> None:
    """``storageProfile`` is required in GalleryImageVersionProperties, for PUT and PATCH alike.

    (specification/compute/.../GalleryRP/stable/2024-03-03/GalleryRP.json; azure-mgmt-compute
    docstring "storage_profile ... Required."; both update examples send it, empty at least.)
    """
    if not isinstance(props.get("storageProfile"), dict):
        raise ArmError(
            "InvalidParameter",
            "Required parameter 'storageProfile' is missing (null).",
            target="galleryImageVersion.properties.storageProfile",
        )


def refuse_security_data(source_id: str, source_security: str, definition_security: str) -> None:
    """A Trusted Launch source carries its VM guest state (VMGS); a TrustedLaunchSupported image has none.

    (Azure/azure-cli#26632: "TrustedLaunchSupported is a generic Gen2 image that does not contain
    the VMGS blob"; the message is the one public runbooks quote, see docs/simulator.md.)
    """
    if source_security == "trustedlaunch" and definition_security in (
        "trustedlaunchsupported",
        "trustedlaunchandconfidentialvmsupported",
    ):
        kind = (
            "TrustedLaunchSupported"
            if definition_security == "trustedlaunchsupported"
            else ("TrustedLaunchAndConfidentialVmSupported")
        )
        raise ArmError(
            "Conflict",
            f"The source '{source_id}' contains TrustedLaunch or ConfidentialVM security data that cannot be "
            f"used in image with '{kind}' security type.",
            409,
        )


def keep_storage_types(existing: dict[str, tuple[str, str]], targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A region keeps the storage type it was replicated with: omitted means unchanged, a change is refused.

    (azure-mgmt-compute TargetRegion: storage_account_type "This property is not updatable.";
    GalleryImageVersion_Update_WithoutSourceId.json omits it for an existing region.)
    """
    kept = []
    for target in targets:
        old = existing.get(_region(str(target.get("name") or "")))
        given = target.get("storageAccountType")
        if old is not None and given and str(given).lower() != old[1].lower():
            raise ArmError(
                "PropertyChangeNotAllowed",
                f"Changing property 'targetRegions.storageAccountType' of region '{old[0]}' from "
                f"'{old[1]}' to '{given}' is not allowed.",
                409,
                target="galleryImageVersion.properties.publishingProfile.targetRegions.storageAccountType",
            )
        kept.append({**target, "storageAccountType": given or old[1]} if old else dict(target))
    return kept


def _region(name: str) -> str:
    return name.replace(" ", "").lower()
