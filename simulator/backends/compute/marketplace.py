"""Marketplace images, and what a disk or VM made from an image (marketplace or gallery) starts as."""

from __future__ import annotations

import re
from typing import Any

from simulator.backends import catalog
from simulator.backends.compute.state import ComputeState
from simulator.backends.guest import GuestState
from simulator.errors import ArmError

_MARKETPLACE_ID = re.compile(
    r"/Subscriptions/[^/]+/Providers/Microsoft\.Compute/Locations/(?P<loc>[^/]+)/Publishers/(?P<pub>[^/]+)"
    r"/ArtifactTypes/VMImage/Offers/(?P<offer>[^/]+)/Skus/(?P<sku>[^/]+)/Versions/(?P<ver>[^/]+)$",
    re.IGNORECASE,
)


class MarketplaceBackend(ComputeState):
    """Marketplace image versions, and the guest, size and generation an image reference gives."""

    def marketplace_versions(self, location: str, publisher: str, offer: str, sku: str) -> list[dict[str, Any]]:
        offering = catalog.find_offering(publisher, offer, sku)
        if offering is None:
            raise ArmError(
                "NotFound",
                f"Artifact: VMImage was not found. (publisher {publisher}, offer {offer}, sku {sku})",
            )
        return [self._marketplace_ref(location, img) for img in catalog.images(offering, self.ctx.now())]

    def marketplace_version(self, location: str, publisher: str, offer: str, sku: str, version: str) -> dict[str, Any]:
        offering = catalog.find_offering(publisher, offer, sku)
        image = catalog.resolve(offering, version, self.ctx.now()) if offering else None
        if image is None:
            raise ArmError("NotFound", "Artifact: VMImage was not found.")
        body = self._marketplace_ref(location, image)
        body["properties"] = {
            "hyperVGeneration": "V2",
            "architecture": "x64",
            "replicaType": "Unmanaged",
            "disallowed": {"vmDiskType": "Unmanaged"},
            "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False},
            "imageDeprecationStatus": {"imageState": "Active"},
            "features": [
                {"name": "SecurityType", "value": "TrustedLaunchSupported"},
                {"name": "IsAcceleratedNetworkSupported", "value": "True"},
                {"name": "DiskControllerTypes", "value": "SCSI, NVMe"},
                {"name": "IsHibernateSupported", "value": "True"},
            ],
            "osDiskImage": {"operatingSystem": "Windows", "sizeInGb": 127},
            "dataDiskImages": [],
        }
        return body

    def _marketplace_ref(self, location: str, image: catalog.MarketplaceImage) -> dict[str, Any]:
        o = image.offering
        return {
            "location": location,
            "name": image.version,
            "id": f"/Subscriptions/{self.ctx.subscription_id}/Providers/Microsoft.Compute/Locations/{location}"
            f"/Publishers/{o.publisher}/ArtifactTypes/VMImage/Offers/{o.offer}/Skus/{o.sku}/Versions/{image.version}",
        }

    def _marketplace_image(self, ref: dict[str, Any]) -> catalog.MarketplaceImage:
        offering = catalog.find_offering(ref.get("publisher", ""), ref.get("offer", ""), ref.get("sku", ""))
        image = catalog.resolve(offering, ref.get("version") or "latest", self.ctx.now()) if offering else None
        if image is None:
            raise ArmError(
                "PlatformImageNotFound",
                f"The platform image '{ref.get('publisher')}:{ref.get('offer')}:{ref.get('sku')}:"
                f"{ref.get('version')}' is not available. Verify that all fields in the storage profile are "
                "correct. For more details about storage profile information, please refer to "
                "https://aka.ms/storageprofile",
                404,
            )
        return image

    # ------------------------------------------------------------------------------------------
    # image sources -> guest state
    def _guest_from_image_ref(
        self, ref: dict[str, Any], location: str, trusted_launch: bool
    ) -> tuple[GuestState, dict[str, Any], bool, int]:
        """Guest, normalized imageReference, whether the source is generalized, disk size."""
        ref_id = ref.get("id")
        if ref_id:
            m = _MARKETPLACE_ID.search(ref_id)
            if m:
                ref = {"publisher": m["pub"], "offer": m["offer"], "sku": m["sku"], "version": m["ver"]}
            else:
                version = self.ctx.gallery.resolve_for_deployment(ref_id, location)
                if version.guest is None:
                    raise ArmError("InvalidParameter", f"Image '{ref_id}' has no OS disk.")
                guest = version.guest.copy(self.ctx.now())
                return guest, {"id": ref_id, "exactVersion": version.res.name}, version.generalized, guest.disk_size_gb
        image = self._marketplace_image(ref)
        guest = GuestState.from_marketplace(image, trusted_launch=trusted_launch)
        normalized = {
            "publisher": image.offering.publisher,
            "offer": image.offering.offer,
            "sku": image.offering.sku,
            "version": ref.get("version") or "latest",
            "exactVersion": image.version,
        }
        return guest, normalized, True, guest.disk_size_gb

    def _image_os_type(self, ref: dict[str, Any]) -> str:
        """A gallery image's definition says its OS type; the simulated marketplace is Windows."""
        definition = self.ctx.gallery.definition_for(ref.get("id") or "")
        return str(definition.props.get("osType", "Windows")) if definition else "Windows"

    def _image_capabilities(self, ref: dict[str, Any]) -> dict[str, Any]:
        """supportedCapabilities of a disk made from an image: from the image's features."""
        definition = self.ctx.gallery.definition_for(ref.get("id") or "")
        features = (
            {str(f.get("name", "")).lower(): str(f.get("value", "")) for f in definition.props.get("features") or []}
            if definition
            else {"isacceleratednetworksupported": "True", "securitytype": "TrustedLaunchSupported"}
        )
        caps: dict[str, Any] = {
            "acceleratedNetwork": features.get("isacceleratednetworksupported", "").lower() == "true",
            "architecture": str(definition.props.get("architecture", "x64")) if definition else "x64",
        }
        if features.get("securitytype"):
            caps["supportedSecurityOption"] = features["securitytype"]
        return caps

    def _image_generation(self, ref: dict[str, Any], guest: GuestState) -> str:
        definition = self.ctx.gallery.definition_for(ref.get("id") or "")
        return str(definition.props.get("hyperVGeneration", "V1")) if definition else guest.hyper_v_generation
