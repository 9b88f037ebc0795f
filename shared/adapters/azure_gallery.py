"""Compute Gallery operations of the compute adapter: image definitions and image versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure_arm import ArmClients, as_json, azure_errors, compute_models, provisioning
from shared.domain.compute import (
    GalleryVersionState,
    ImageDefinitionSpec,
    RegionReplication,
    TargetRegion,
    VersionSpec,
)


def version_state(found: dict[str, Any], version: str) -> GalleryVersionState:
    """A gallery image version as the product sees it (replication status only when expanded)."""
    props = found.get("properties", {})
    publishing = props.get("publishingProfile", {})
    status = props.get("replicationStatus", {})
    end_of_life = publishing.get("endOfLifeDate")
    return GalleryVersionState(
        id=str(found.get("id", "")),
        name=str(found.get("name", version)),
        provisioning=provisioning(props.get("provisioningState")),
        aggregated=str(status.get("aggregatedState", "")),
        regions=tuple(
            RegionReplication(
                region=str(r.get("region", "")),
                state=str(r.get("state", "Unknown")),
                progress=int(r.get("progress", 0) or 0),
                details=str(r.get("details", "") or ""),
            )
            for r in status.get("summary", [])
        ),
        target_regions=tuple(str(t.get("name", "")) for t in publishing.get("targetRegions", [])),
        targets=tuple(
            TargetRegion(
                str(t.get("name", "")),
                int(t.get("regionalReplicaCount") or publishing.get("replicaCount") or 1),
                str(t.get("storageAccountType") or publishing.get("storageAccountType") or "Standard_LRS"),
                t.get("excludeFromLatest"),  # the region's own flag (TargetRegion; null when never set)
            )
            for t in publishing.get("targetRegions", [])
        ),
        exclude_from_latest=bool(publishing.get("excludeFromLatest", False)),
        end_of_life=datetime.fromisoformat(end_of_life.replace("Z", "+00:00")) if end_of_life else None,
        tags=dict(found.get("tags") or {}),
    )


class GalleryOperations(ArmClients):
    def ensure_image_definition(self, spec: ImageDefinitionSpec) -> str:
        images = self.compute.gallery_images
        with azure_errors(f"ensure image definition {spec.name}"):
            try:
                return str(images.get(spec.resource_group, spec.gallery, spec.name).id)
            except ResourceNotFoundError:
                pass
            body = {
                "location": spec.location,
                "tags": spec.tags,
                "properties": {
                    "osType": "Windows",
                    "osState": "Generalized",
                    "hyperVGeneration": "V2",
                    "identifier": {"publisher": spec.publisher, "offer": spec.offer, "sku": spec.sku},
                    "features": [{"name": "SecurityType", "value": spec.security_type}],
                },
            }
            # Definitions provision in seconds; a version PUT that comes too early gets 409 and is retried.
            images.begin_create_or_update(
                spec.resource_group, spec.gallery, spec.name, compute_models().GalleryImage(body), **self.started()
            )
        group = f"/subscriptions/{self.subscription_id}/resourceGroups/{spec.resource_group}"
        return f"{group}/providers/Microsoft.Compute/galleries/{spec.gallery}/images/{spec.name}"

    def list_image_definitions(self, gallery: str) -> list[str]:
        with azure_errors(f"list image definitions of {gallery}"):
            return sorted(
                str(image.name) for image in self.compute.gallery_images.list_by_gallery(self.resource_group, gallery)
            )

    def start_create_version(self, spec: VersionSpec) -> str:
        body = {
            "location": spec.location,
            "tags": spec.tags,
            "properties": {
                "publishingProfile": {
                    "targetRegions": [_region(t) for t in spec.target_regions],
                    "excludeFromLatest": spec.exclude_from_latest,
                    "replicationMode": "Full",
                },
                "storageProfile": {"source": {"virtualMachineId": spec.source_vm_id}},
                "safetyProfile": {"allowDeletionOfReplicatedLocations": True},
            },
        }
        versions = self.compute.gallery_image_versions
        with azure_errors(f"create gallery version {spec.definition}/{spec.version}"):
            versions.begin_create_or_update(
                spec.resource_group,
                spec.gallery,
                spec.definition,
                spec.version,
                compute_models().GalleryImageVersion(body),
                **self.started(),
            )
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{spec.resource_group}/providers/Microsoft.Compute"
            f"/galleries/{spec.gallery}/images/{spec.definition}/versions/{spec.version}"
        )

    def get_gallery_version(self, gallery: str, definition: str, version: str) -> GalleryVersionState | None:
        with azure_errors(f"read gallery version {definition}/{version}"):
            try:
                found = as_json(
                    self.compute.gallery_image_versions.get(
                        self.resource_group, gallery, definition, version, expand="ReplicationStatus"
                    )
                )
            except ResourceNotFoundError:
                return None
        return version_state(found, version)

    def list_gallery_versions(self, gallery: str, definition: str) -> list[GalleryVersionState]:
        """Every version of a definition as Azure has it (one request; no replication status)."""
        with azure_errors(f"list gallery versions of {definition}"):
            try:
                listed = self.compute.gallery_image_versions.list_by_gallery_image(
                    self.resource_group, gallery, definition
                )
                return [version_state(as_json(item), "") for item in listed]
            except ResourceNotFoundError:
                return []  # no definition yet: nothing was ever captured

    def update_gallery_version(
        self,
        gallery: str,
        definition: str,
        version: str,
        *,
        target_regions: tuple[TargetRegion, ...] | None = None,
        exclude_from_latest: bool | None = None,
        end_of_life: datetime | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """PATCH only what Azure lets change after creation."""
        publishing: dict[str, Any] = {}
        if target_regions is not None:
            publishing["targetRegions"] = [_region(t) for t in target_regions]
        if exclude_from_latest is not None:
            publishing["excludeFromLatest"] = exclude_from_latest
        if end_of_life is not None:
            publishing["endOfLifeDate"] = end_of_life.isoformat()
        # storageProfile is required in the body; empty keeps the source
        # (spec example GalleryImageVersion_Update_WithoutSourceId.json).
        body: dict[str, Any] = {"properties": {"publishingProfile": publishing, "storageProfile": {}}}
        if tags is not None:
            body["tags"] = tags
        with azure_errors(f"update gallery version {definition}/{version}"):
            self.compute.gallery_image_versions.begin_update(
                self.resource_group,
                gallery,
                definition,
                version,
                compute_models().GalleryImageVersionUpdate(body),
                **self.started(),
            )

    def start_delete_gallery_version(self, gallery: str, definition: str, version: str) -> None:
        with azure_errors(f"delete gallery version {definition}/{version}"):
            try:
                self.compute.gallery_image_versions.begin_delete(
                    self.resource_group, gallery, definition, version, **self.started()
                )
            except ResourceNotFoundError:
                return


def _region(target: TargetRegion) -> dict[str, Any]:
    region: dict[str, Any] = {
        "name": target.name,
        "regionalReplicaCount": target.replica_count,
        "storageAccountType": target.storage_account_type,
    }
    if target.exclude_from_latest is not None:  # not sent: Azure keeps the region's flag
        region["excludeFromLatest"] = target.exclude_from_latest
    return region
