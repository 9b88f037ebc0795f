"""Managed images (Microsoft.Compute/images): only as a source of gallery image versions.

The GalleryRP examples capture versions from a managed image; an image here holds a copy of
its OS disk's guest and the sizes of its data disks, taken from snapshots, disks or a
generalized VM (ComputeRP Image_Create* examples).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.backends.base import AsyncOperation, Context, Resource
from simulator.backends.guest import GuestState
from simulator.errors import ArmError, not_found


@dataclass
class ManagedImage:
    res: Resource
    props: dict[str, Any]  # as sent, echoed
    guest: GuestState | None
    os_size_gb: int
    os_caching: str
    data_disks: list[dict[str, Any]] = field(default_factory=list)  # lun, sizeInGB, hostCaching


class ImagesBackend:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.images: dict[str, ManagedImage] = {}

    def _id(self, rg: str, name: str) -> str:
        return self.ctx.resource_id(rg, f"Microsoft.Compute/images/{name}")

    def find(self, image_id: str) -> ManagedImage | None:
        return self.images.get(image_id.lower())

    def _source(self, ref: dict[str, Any] | None) -> Any:
        compute = self.ctx.compute
        rid = str((ref or {}).get("id") or "")
        found = compute.find_disk_or_snapshot(rid)
        if found is None:
            raise ArmError("NotFound", f"Resource {rid} is not found.", 404)
        return found

    def put(self, rg: str, name: str, body: dict[str, Any]) -> tuple[ManagedImage, AsyncOperation, bool]:
        rid = self._id(rg, name)
        existing = self.images.get(rid.lower())
        location = body.get("location") or (existing.res.location if existing else "")
        if not location:
            raise ArmError("LocationRequired", "The location property is required for this definition.", 400)
        props = dict(body.get("properties") or {})
        storage = props.get("storageProfile") or {}
        os_disk = storage.get("osDisk") or {}
        vm_ref = (props.get("sourceVirtualMachine") or {}).get("id")
        if vm_ref:
            vm = self.ctx.compute.find_vm(vm_ref)
            if vm is None:
                raise ArmError("NotFound", f"The source virtual machine '{vm_ref}' was not found.", 404)
            if not vm.generalized:
                raise ArmError(
                    "OperationNotAllowed",
                    f"The source virtual machine '{vm_ref}' must be generalized to create an image.",
                )
            guest = self.ctx.compute.guest_of(vm)
            os_size = guest.disk_size_gb if guest else 127
            caching = str((vm.body["storageProfile"]["osDisk"]).get("caching", "ReadWrite"))
            guest = guest.copy(self.ctx.now()) if guest else None
        elif os_disk:
            source = self._source(os_disk.get("snapshot") or os_disk.get("managedDisk"))
            guest = source.guest.copy(self.ctx.now()) if source.guest else None
            os_size, caching = source.size_gb, str(os_disk.get("caching", "ReadWrite"))
        else:
            raise ArmError(
                "InvalidParameter",
                "Required parameter 'storageProfile.osDisk' or 'sourceVirtualMachine' is missing (null).",
                target="storageProfile",
            )
        data = [
            {
                "lun": int(d.get("lun", 0)),
                "sizeInGB": self._source(d.get("snapshot") or d.get("managedDisk")).size_gb,
                "hostCaching": str(d.get("caching", "None")),
            }
            for d in storage.get("dataDisks") or []
        ]
        image = ManagedImage(
            Resource(rid, name, "Microsoft.Compute/images", location, rg, created=self.ctx.now()),
            props,
            guest,
            os_size,
            caching,
            data,
        )
        image.res.tags = dict(body.get("tags") or {})
        image.res.provisioning_state = "Creating"
        self.images[rid.lower()] = image

        op = self.ctx.put_operation(
            "Microsoft.Compute/images/write", rid, location, self.ctx.seconds("disk_create"), image.res
        )
        return image, op, existing is None

    def get(self, rg: str, name: str) -> ManagedImage:
        image = self.images.get(self._id(rg, name).lower())
        if image is None:
            raise not_found("Microsoft.Compute/images", name, rg)
        return image

    def delete(self, rg: str, name: str) -> AsyncOperation | None:
        rid = self._id(rg, name)
        image = self.images.get(rid.lower())
        if image is None:
            return None

        return self.ctx.delete_operation(
            "Microsoft.Compute/images/delete", rid, image.res.location, self.ctx.seconds("disk_delete"), self.images
        )

    def body(self, image: ManagedImage) -> dict[str, Any]:
        body = image.res.envelope()
        body["properties"] = {**image.props, "provisioningState": image.res.provisioning_state}
        return body
