"""Managed disks and snapshots: create (empty, copy, from an image), resize, delete, serialize."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from simulator.backends.base import AsyncOperation, Resource, iso
from simulator.backends.compute.marketplace import MarketplaceBackend
from simulator.backends.compute.state import Disk
from simulator.backends.guest import GuestState
from simulator.errors import ArmError, not_found

# Disk properties the backend computes; everything else in a PUT is echoed.
_DISK_COMPUTED = frozenset(
    {
        "osType",
        "hyperVGeneration",
        "creationData",
        "diskSizeGB",
        "diskSizeBytes",
        "uniqueId",
        "timeCreated",
        "provisioningState",
        "diskState",
        "incremental",
        "securityProfile",
        "incrementalSnapshotFamilyId",
        "LastOwnershipUpdateTime",
    }
)


class DisksBackend(MarketplaceBackend):
    """PUT / GET / list / DELETE of disks and snapshots (``snapshot`` picks the store)."""

    def find_disk_or_snapshot(self, resource_id: str) -> Disk | None:
        """A disk or snapshot by id; the spec's own examples write ids without the leading slash."""
        key = "/" + resource_id.strip().lstrip("/").lower()
        return self.disks.get(key) or self.snapshots.get(key)

    def _disk_source(
        self, creation: dict[str, Any], location: str, derived: dict[str, Any]
    ) -> tuple[GuestState | None, int | None, bool, str | None]:
        """Guest, size, generalized, OS type of a disk's source; ``derived`` gets what Azure derives from it."""
        option = (creation.get("createOption") or "").lower()
        if option == "empty":
            return None, None, False, None
        if option == "copy":
            src_id = creation.get("sourceResourceId") or ""
            src = self.find_disk_or_snapshot(src_id)
            if src is None:
                raise ArmError("NotFound", f"Resource {src_id} is not found.", 404)
            if src.res.provisioning_state != "Succeeded":
                raise ArmError("OperationNotAllowed", f"Source {src.res.name} is not ready.")
            guest = src.guest.copy(self.ctx.now()) if src.guest else None
            derived["sourceUniqueId"] = src.unique_id
            derived["hyperVGeneration"] = src.hyperv_generation
            if src.family_id:
                derived["family"] = src.family_id
            return guest, src.size_gb, src.source_generalized, src.os_type
        if option == "fromimage":
            ref = creation.get("galleryImageReference") or creation.get("imageReference") or {}
            guest, _, generalized, size = self._guest_from_image_ref(ref, location, trusted_launch=False)
            derived["hyperVGeneration"] = self._image_generation(ref, guest)
            derived["supportedCapabilities"] = self._image_capabilities(ref)
            return guest, size, generalized, self._image_os_type(ref)
        raise ArmError(
            "InvalidParameter",
            f"The value '{creation.get('createOption')}' of parameter 'creationData.createOption' is not supported.",
            target="createOption",
        )

    def put_disk(
        self, rg: str, name: str, body: dict[str, Any], *, snapshot: bool
    ) -> tuple[Disk, AsyncOperation, bool]:
        kind = "snapshots" if snapshot else "disks"
        store = self.snapshots if snapshot else self.disks
        rid = self.ctx.resource_id(rg, f"Microsoft.Compute/{kind}/{name}")
        existing = store.get(rid.lower())
        props = body.get("properties") or {}
        if existing:
            if "tags" in body:
                existing.res.tags = dict(body.get("tags") or {})
            new_size = props.get("diskSizeGB")
            if new_size and int(new_size) < existing.size_gb:
                raise ArmError(
                    "BadRequest", f"Disk size can only be increased. Current size {existing.size_gb} GB.", 400
                )
            if new_size:
                existing.size_gb = int(new_size)
            existing.extras.update({k: v for k, v in props.items() if k not in _DISK_COMPUTED})
            op = self.ctx.start_operation(
                f"Microsoft.Compute/{kind}/write", rid, existing.res.location, 1, kind="Write", http_method="PUT"
            )
            return existing, op, False
        location = body.get("location")
        if not location:
            raise ArmError("LocationRequired", "The location property is required for this definition.", 400)
        creation = dict(props.get("creationData") or {})
        if not creation.get("createOption"):
            raise ArmError(
                "InvalidParameter",
                "Required parameter 'creationData.createOption' is missing (null).",
                target="createOption",
            )
        if snapshot and creation["createOption"].lower() not in ("copy",):
            raise ArmError(
                "InvalidParameter",
                "Snapshots can only be created with createOption 'Copy' in this simulator.",
                target="createOption",
            )
        derived: dict[str, Any] = {}
        guest, size, generalized, os_type = self._disk_source(creation, location, derived)
        if "sourceUniqueId" in derived:
            creation["sourceUniqueId"] = derived["sourceUniqueId"]
        size_gb = int(props.get("diskSizeGB") or size or 0)
        if not size_gb:
            raise ArmError(
                "InvalidParameter", "Required parameter 'diskSizeGB' is missing (null).", target="diskSizeGB"
            )
        sku_name = (body.get("sku") or {}).get("name") or ("Standard_LRS" if snapshot else "Premium_LRS")
        disk = Disk(
            Resource(rid, name, f"Microsoft.Compute/{kind}", location, rg, created=self.ctx.now()),
            size_gb,
            sku_name,
            props.get("osType") or os_type,
            props.get("hyperVGeneration") or derived.get("hyperVGeneration") or "V2",
            creation,
            props.get("securityProfile") or self._copied_security(creation),
            guest,
            str(uuid.uuid4()),
            incremental=bool(props.get("incremental", False)),
            source_generalized=generalized,
            extras={k: v for k, v in props.items() if k not in _DISK_COMPUTED},
        )
        if "supportedCapabilities" in derived:
            disk.extras.setdefault("supportedCapabilities", derived["supportedCapabilities"])
        if snapshot and disk.incremental:
            # one family per source disk: every incremental snapshot of it shares the id
            disk.family_id = derived.get("family") or str(
                uuid.uuid5(uuid.NAMESPACE_OID, derived.get("sourceUniqueId", rid))
            )
        disk.res.tags = dict(body.get("tags") or {})
        disk.res.provisioning_state = "Creating" if snapshot else "Updating"
        store[rid.lower()] = disk

        def done() -> None:
            disk.res.provisioning_state = "Succeeded"

        def failed(_: ArmError) -> None:
            disk.res.provisioning_state = "Failed"

        op = self.ctx.start_operation(
            f"Microsoft.Compute/{kind}/write",
            rid,
            location,
            self.ctx.seconds("snapshot_create" if snapshot else "disk_create"),
            kind="Write",
            http_method="PUT",
            on_success=done,
            on_failure=failed,
        )
        return disk, op, True

    def _copied_security(self, creation: dict[str, Any]) -> dict[str, Any] | None:
        """A copy (snapshot of a disk, disk from a snapshot) carries its source's security type."""
        if (creation.get("createOption") or "").lower() != "copy":
            return None
        src_id = str(creation.get("sourceResourceId") or "").lower()
        src = self.disks.get(src_id) or self.snapshots.get(src_id)
        return dict(src.security_profile) if src is not None and src.security_profile else None

    def get_disk(self, rg: str, name: str, *, snapshot: bool) -> Disk:
        kind = "snapshots" if snapshot else "disks"
        store = self.snapshots if snapshot else self.disks
        disk = store.get(self.ctx.resource_id(rg, f"Microsoft.Compute/{kind}/{name}").lower())
        if disk is None:
            raise not_found(f"Microsoft.Compute/{kind}", name, rg)
        return disk

    def list_disks(self, rg: str | None, *, snapshot: bool) -> list[Disk]:
        store = self.snapshots if snapshot else self.disks
        return [d for d in store.values() if rg is None or d.res.resource_group.lower() == rg.lower()]

    def delete_disk(self, rg: str, name: str, *, snapshot: bool) -> AsyncOperation | None:
        kind = "snapshots" if snapshot else "disks"
        store = self.snapshots if snapshot else self.disks
        rid = self.ctx.resource_id(rg, f"Microsoft.Compute/{kind}/{name}")
        disk = store.get(rid.lower())
        if disk is None:
            return None
        if disk.managed_by:
            raise ArmError("OperationNotAllowed", f"Disk {name} is attached to VM {disk.managed_by}.")

        def done() -> None:
            store.pop(rid.lower(), None)

        disk.res.provisioning_state = "Deleting"
        return self.ctx.start_operation(
            f"Microsoft.Compute/{kind}/delete",
            rid,
            disk.res.location,
            self.ctx.seconds("snapshot_delete" if snapshot else "disk_delete"),
            kind="Delete",
            http_method="DELETE",
            on_success=done,
        )

    def disk_state(self, disk: Disk) -> str:
        if not disk.managed_by:
            return "Unattached"
        vm = self.vms.get(disk.managed_by.lower())
        if vm is not None and vm.power_state == "deallocated":
            return "Reserved"
        return "Attached"

    def disk_body(self, disk: Disk, *, snapshot: bool) -> dict[str, Any]:
        body = disk.res.envelope()
        if disk.managed_by:
            body["managedBy"] = disk.managed_by
        tier = disk.sku.split("_")[0]
        body["sku"] = {"name": disk.sku, "tier": tier}
        props: dict[str, Any] = {
            **disk.extras,
            "osType": disk.os_type,
            "hyperVGeneration": disk.hyperv_generation,
            "creationData": disk.creation_data,
            "diskSizeGB": disk.size_gb,
            "diskSizeBytes": disk.size_gb * 1024**3,
            "uniqueId": disk.unique_id,
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "networkAccessPolicy": "AllowAll",
            "publicNetworkAccess": "Enabled",
            "timeCreated": iso(disk.res.created or datetime.now()),
            "provisioningState": disk.res.provisioning_state,
            "diskState": self.disk_state(disk) if not snapshot else "Unattached",
        }
        if disk.security_profile:
            props["securityProfile"] = disk.security_profile
        if disk.ownership_changed is not None:
            props["LastOwnershipUpdateTime"] = iso(disk.ownership_changed)
        if disk.family_id:
            props["incrementalSnapshotFamilyId"] = disk.family_id
        if snapshot:
            props["incremental"] = disk.incremental
        else:
            props["diskIOPSReadWrite"] = 500
            props["diskMBpsReadWrite"] = 100
            props["tier"] = "P10"
        body["properties"] = {k: v for k, v in props.items() if v is not None}
        return body
