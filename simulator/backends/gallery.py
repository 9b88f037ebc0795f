"""Azure Compute Gallery: galleries, image definitions, image versions and replication."""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.backends import policy
from simulator.backends.base import AsyncOperation, Context, Resource, iso, parse_time, region_display, region_key
from simulator.backends.guest import GuestState
from simulator.errors import ArmError, not_found

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_INT32 = 2**31 - 1
_TRUSTED_LAUNCH_OK = {"trustedlaunch", "trustedlaunchsupported", "trustedlaunchandconfidentialvmsupported"}


@dataclass
class Gallery:
    res: Resource
    description: str | None


@dataclass
class ImageDefinition:
    res: Resource
    props: dict[str, Any]


@dataclass
class RegionReplication:
    name: str  # display name
    replica_count: int
    storage_account_type: str
    start: datetime
    end: datetime
    extras: dict[str, Any] = field(default_factory=dict)  # per-region encryption and excludeFromLatest
    failed: bool = False
    settled: bool = False  # end reached and failure decided

    def state(self, now: datetime) -> tuple[str, int]:
        if self.settled and self.failed:
            return "Failed", int(self._progress(now))
        if now >= self.end:
            return "Completed", 100
        return "Replicating", int(self._progress(now))

    def _progress(self, now: datetime) -> float:
        if now <= self.start:
            return 0.0
        span = (self.end - self.start).total_seconds() or 1.0
        return min(99.0, 100.0 * (now - self.start).total_seconds() / span)


@dataclass
class ImageVersion:
    res: Resource
    source: dict[str, Any]
    publishing: dict[str, Any]
    safety: dict[str, Any]
    regions: dict[str, RegionReplication]
    guest: GuestState | None
    generalized: bool
    disk_size_gb: int
    published: datetime
    operation: AsyncOperation | None = None
    key: tuple[int, int, int] = (0, 0, 0)
    storage: dict[str, Any] = field(default_factory=dict)  # the storageProfile as sent (echoed)
    os_caching: str = "ReadWrite"
    data_disks: list[dict[str, Any]] = field(default_factory=list)  # lun, sizeInGB, hostCaching


@dataclass
class Capture:
    """What a version takes from its source."""

    guest: GuestState | None
    generalized: bool
    size_gb: int
    os_caching: str = "ReadWrite"
    data_disks: list[dict[str, Any]] = field(default_factory=list)


class GalleryBackend:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.galleries: dict[str, Gallery] = {}
        self.images: dict[str, ImageDefinition] = {}
        self.versions: dict[str, ImageVersion] = {}

    # -- galleries ------------------------------------------------------------------------------
    def _gallery_id(self, rg: str, g: str) -> str:
        return self.ctx.resource_id(rg, f"Microsoft.Compute/galleries/{g}")

    def put_gallery(self, rg: str, name: str, body: dict[str, Any]) -> tuple[Gallery, AsyncOperation, bool]:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._]{0,78}[A-Za-z0-9]$|^[A-Za-z0-9]$", name):
            raise ArmError(
                "InvalidParameter",
                f"The gallery name '{name}' is invalid. Allowed characters are English alphanumeric characters, "
                "with underscores and periods allowed in the middle, up to 80 characters total.",
                target="galleryName",
            )
        rid = self._gallery_id(rg, name)
        existing = self.galleries.get(rid.lower())
        location = body.get("location") or (existing.res.location if existing else "")
        if not location:
            raise ArmError("LocationRequired", "The location property is required for this definition.", 400)
        if existing and region_key(existing.res.location) != region_key(location):
            raise ArmError(
                "PropertyChangeNotAllowed", "Changing property 'location' is not allowed.", target="location"
            )
        gallery = existing or Gallery(
            Resource(rid, name, "Microsoft.Compute/galleries", location, rg, created=self.ctx.now()), None
        )
        gallery.description = (body.get("properties") or {}).get("description", gallery.description)
        gallery.res.tags = dict(body.get("tags") or {})
        gallery.res.provisioning_state = "Updating" if existing else "Creating"
        self.galleries[rid.lower()] = gallery

        def done() -> None:
            gallery.res.provisioning_state = "Succeeded"

        op = self.ctx.start_operation(
            "Microsoft.Compute/galleries/write",
            rid,
            location,
            self.ctx.seconds("gallery_create"),
            kind="Write",
            http_method="PUT",
            on_success=done,
        )
        return gallery, op, existing is None

    def get_gallery(self, rg: str, name: str) -> Gallery:
        gallery = self.galleries.get(self._gallery_id(rg, name).lower())
        if gallery is None:
            raise not_found("Microsoft.Compute/galleries", name, rg)
        return gallery

    def list_galleries(self, rg: str) -> list[Gallery]:
        return [g for g in self.galleries.values() if g.res.resource_group.lower() == rg.lower()]

    def delete_gallery(self, rg: str, name: str) -> AsyncOperation | None:
        rid = self._gallery_id(rg, name)
        gallery = self.galleries.get(rid.lower())
        if gallery is None:
            return None
        if any(k.startswith(rid.lower() + "/") for k in self.images):
            raise ArmError(
                "CannotDeleteResource",
                f"Can not delete resource before nested resources are deleted. Gallery '{name}' has image definitions.",
                409,
            )

        def done() -> None:
            self.galleries.pop(rid.lower(), None)

        return self.ctx.start_operation(
            "Microsoft.Compute/galleries/delete",
            rid,
            gallery.res.location,
            self.ctx.seconds("gallery_delete"),
            kind="Delete",
            http_method="DELETE",
            on_success=done,
        )

    def gallery_body(self, gallery: Gallery) -> dict[str, Any]:
        body = gallery.res.envelope()
        props: dict[str, Any] = {
            "identifier": {"uniqueName": f"{self.ctx.subscription_id}-{gallery.res.name.upper()}"},
            "provisioningState": gallery.res.provisioning_state,
        }
        if gallery.description is not None:
            props["description"] = gallery.description
        body["properties"] = props
        return body

    # -- image definitions --------------------------------------------------------------------------
    def _image_id(self, rg: str, g: str, image: str) -> str:
        return f"{self._gallery_id(rg, g)}/images/{image}"

    def put_image(
        self, rg: str, g: str, name: str, body: dict[str, Any]
    ) -> tuple[ImageDefinition, AsyncOperation, bool]:
        gallery = self.galleries.get(self._gallery_id(rg, g).lower())
        if gallery is None:
            raise ArmError(
                "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent resource '{g}' not found.",
                404,
            )
        rid = self._image_id(rg, g, name)
        props = dict(body.get("properties") or {})
        for required in ("osType", "osState", "identifier"):
            if not props.get(required):
                raise ArmError(
                    "InvalidParameter", f"Required parameter '{required}' is missing (null).", target=required
                )
        props.setdefault("hyperVGeneration", "V1")
        props.setdefault("architecture", "x64")
        existing = self.images.get(rid.lower())
        if existing:
            for immutable in ("osType", "osState", "hyperVGeneration", "identifier", "architecture", "features"):
                old, new = existing.props.get(immutable), props.get(immutable)
                if immutable == "features" and new is None:
                    continue
                if _norm(old) != _norm(new):
                    raise ArmError(
                        "PropertyChangeNotAllowed",
                        f"Changing property 'galleryImage.properties.{immutable}' is not allowed.",
                        target=f"galleryImage.properties.{immutable}",
                    )
            existing.props.update(props)
            image = existing
        else:
            image = ImageDefinition(
                Resource(
                    rid,
                    name,
                    "Microsoft.Compute/galleries/images",
                    body.get("location") or gallery.res.location,
                    rg,
                    created=self.ctx.now(),
                ),
                props,
            )
            self.images[rid.lower()] = image
        image.res.tags = dict(body.get("tags") or {})
        image.res.provisioning_state = "Updating" if existing else "Creating"

        def done() -> None:
            image.res.provisioning_state = "Succeeded"

        op = self.ctx.start_operation(
            "Microsoft.Compute/galleries/images/write",
            rid,
            image.res.location,
            self.ctx.seconds("gallery_image_create"),
            kind="Write",
            http_method="PUT",
            on_success=done,
        )
        return image, op, existing is None

    def get_image(self, rg: str, g: str, name: str) -> ImageDefinition:
        image = self.images.get(self._image_id(rg, g, name).lower())
        if image is None:
            raise not_found("Microsoft.Compute/galleries/images", f"{g}/{name}", rg)
        return image

    def list_images(self, rg: str, g: str) -> list[ImageDefinition]:
        prefix = self._gallery_id(rg, g).lower() + "/images/"
        self.get_gallery(rg, g)
        return [i for k, i in self.images.items() if k.startswith(prefix)]

    def delete_image(self, rg: str, g: str, name: str) -> AsyncOperation | None:
        rid = self._image_id(rg, g, name)
        image = self.images.get(rid.lower())
        if image is None:
            return None
        if any(k.startswith(rid.lower() + "/versions/") for k in self.versions):
            raise ArmError(
                "CannotDeleteResource",
                f"Can not delete resource before nested resources are deleted. Image '{name}' has versions.",
                409,
            )

        def done() -> None:
            self.images.pop(rid.lower(), None)

        return self.ctx.start_operation(
            "Microsoft.Compute/galleries/images/delete",
            rid,
            image.res.location,
            self.ctx.seconds("gallery_image_delete"),
            kind="Delete",
            http_method="DELETE",
            on_success=done,
        )

    def image_body(self, image: ImageDefinition) -> dict[str, Any]:
        body = image.res.envelope()
        body["properties"] = {**image.props, "provisioningState": image.res.provisioning_state}
        return body

    # -- image versions --------------------------------------------------------------------------------
    def _version_id(self, rg: str, g: str, image: str, version: str) -> str:
        return f"{self._image_id(rg, g, image)}/versions/{version}"

    def put_version(
        self, rg: str, g: str, image_name: str, name: str, body: dict[str, Any], *, patch: bool = False
    ) -> tuple[ImageVersion, AsyncOperation, bool]:
        key = _version_key(name)
        image = self.images.get(self._image_id(rg, g, image_name).lower())
        gallery = self.galleries.get(self._gallery_id(rg, g).lower())
        if image is None or gallery is None:
            raise ArmError(
                "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent resource '{g}/{image_name}' "
                "not found.",
                404,
            )
        rid = self._version_id(rg, g, image_name, name)
        existing = self.versions.get(rid.lower())
        if existing is not None:
            return self._update_version(existing, gallery, body, patch=patch)
        if patch:
            raise not_found("Microsoft.Compute/galleries/images/versions", f"{g}/{image_name}/{name}", rg)
        props = body.get("properties") or {}
        policy.require_storage_profile(props)
        location = body.get("location") or ""
        if region_key(location) != region_key(gallery.res.location):
            raise ArmError(
                "InvalidParameter",
                f"The gallery image version location '{location}' must match the gallery location "
                f"'{gallery.res.location}'.",
                target="location",
            )
        storage = props.get("storageProfile") or {}
        source = _source_of(storage)
        captured = self._capture(source, image)
        data_disks = self._data_disk_images(storage, captured)
        publishing = dict(props.get("publishingProfile") or {})
        safety = dict(props.get("safetyProfile") or {})
        safety.setdefault("allowDeletionOfReplicatedLocations", True)
        safety.setdefault("blockDeletionBeforeEndOfLife", False)
        safety.setdefault("reportedForPolicyViolation", False)
        if safety["blockDeletionBeforeEndOfLife"] and not publishing.get("endOfLifeDate"):
            raise ArmError(
                "InvalidParameter",
                "endOfLifeDate must be set when safetyProfile.blockDeletionBeforeEndOfLife is true.",
                target="endOfLifeDate",
            )
        targets = self._targets(publishing, gallery)
        now = self.ctx.now()
        create_end = now + timedelta(seconds=self.ctx.seconds("gallery_version_create"))
        per_region = timedelta(seconds=self.ctx.seconds("replication_per_region"))
        regions: dict[str, RegionReplication] = {}
        for t in targets:
            home = region_key(t["name"]) == region_key(gallery.res.location)
            regions[region_key(t["name"])] = RegionReplication(
                t["name"],
                t["regionalReplicaCount"],
                t["storageAccountType"],
                now if home else create_end,
                create_end if home else create_end + per_region,
                _region_extras(t),
            )
        version = ImageVersion(
            Resource(rid, name, "Microsoft.Compute/galleries/images/versions", gallery.res.location, rg, created=now),
            source,
            publishing,
            safety,
            regions,
            captured.guest,
            captured.generalized,
            captured.size_gb,
            now,
            key=key,
            storage=_echoed_storage(storage),
            os_caching=str((storage.get("osDiskImage") or {}).get("hostCaching") or captured.os_caching),
            data_disks=data_disks,
        )
        version.res.tags = dict(body.get("tags") or {})
        version.res.provisioning_state = "Creating"
        self.versions[rid.lower()] = version
        op = self._replicate(version, list(regions.values()), "Creating")
        return version, op, True

    def _capture(self, source: dict[str, Any], image: ImageDefinition) -> Capture:
        vm_id = source.get("virtualMachineId")
        src_id = source.get("id") or ""
        if not vm_id and "/virtualmachines/" in src_id.lower():
            vm_id = src_id
        security = ""
        for f in image.props.get("features") or []:
            if str(f.get("name", "")).lower() == "securitytype":
                security = str(f.get("value", "")).lower()
        want_generalized = str(image.props.get("osState", "")).lower() == "generalized"
        if vm_id:
            vm = self.ctx.compute.find_vm(vm_id)
            if vm is None:
                raise ArmError("NotFound", f"The source virtual machine '{vm_id}' was not found.", 404)
            vm_security = str((vm.body.get("securityProfile") or {}).get("securityType", "")).lower()
            policy.refuse_security_data(vm_id, vm_security, security)
            if vm_security == "trustedlaunch" and security not in _TRUSTED_LAUNCH_OK:
                raise ArmError(
                    "InvalidParameter",
                    f"The source virtual machine '{vm_id}' has security type TrustedLaunch, but the gallery image "
                    "definition does not support it. Create the image definition with the SecurityType feature "
                    "'TrustedLaunchSupported' or 'TrustedLaunch'.",
                    target="securityType",
                )
            if want_generalized and not vm.generalized:
                raise ArmError(
                    "InvalidParameter",
                    f"The source virtual machine '{vm_id}' must be generalized to create an image version of a "
                    "gallery image with osState 'Generalized'. Run Sysprep and generalize the VM first.",
                    target="virtualMachineId",
                )
            if vm.power_state not in ("stopped", "deallocated"):
                raise ArmError("OperationNotAllowed", f"The source virtual machine '{vm_id}' must be stopped.")
            guest = self.ctx.compute.guest_of(vm)
            return Capture(
                guest.copy(self.ctx.now()) if guest else None,
                vm.generalized,
                guest.disk_size_gb if guest else 128,
                str(vm.body["storageProfile"]["osDisk"].get("caching") or "ReadWrite"),
            )
        low = src_id.lower()
        if "/galleries/" in low and "/versions/" in low:
            other = self.versions.get(low.rstrip("/"))
            if other is None:
                raise ArmError("NotFound", f"The source gallery image version '{src_id}' was not found.", 404)
            guest = other.guest.copy(self.ctx.now()) if other.guest else None
            return Capture(guest, other.generalized, other.disk_size_gb, other.os_caching, list(other.data_disks))
        if "/providers/microsoft.compute/images/" in low:
            managed = self.ctx.images.find(src_id)
            if managed is None:
                raise ArmError("NotFound", f"The source image '{src_id}' was not found.", 404)
            guest = managed.guest.copy(self.ctx.now()) if managed.guest else None
            return Capture(guest, want_generalized, managed.os_size_gb, managed.os_caching, list(managed.data_disks))
        if src_id:
            compute = self.ctx.compute
            disk = compute.find_disk_or_snapshot(src_id)
            if disk is None:
                raise ArmError("NotFound", f"The source resource '{src_id}' was not found.", 404)
            if disk.res.provisioning_state != "Succeeded":
                raise ArmError("OperationNotAllowed", f"The source '{src_id}' is not ready.")
            policy.refuse_security_data(
                src_id, str((disk.security_profile or {}).get("securityType", "")).lower(), security
            )
            guest = disk.guest.copy(self.ctx.now()) if disk.guest else None
            return Capture(guest, want_generalized, disk.size_gb)
        raise ArmError(
            "InvalidParameter",
            "Required parameter 'storageProfile.source' is missing (null).",
            target="storageProfile.source",
        )

    def _data_disk_images(self, storage: dict[str, Any], captured: Capture) -> list[dict[str, Any]]:
        """The data disk images a version keeps: those sent (sized from their sources) or the source's."""
        sent = storage.get("dataDiskImages")
        if not sent:
            return list(captured.data_disks)
        compute = self.ctx.compute
        result = []
        for item in sent:
            src_id = str((item.get("source") or {}).get("id") or "")
            src = compute.find_disk_or_snapshot(src_id)
            if src is None:
                raise ArmError(
                    "NotFound",
                    f"The source resource '{src_id}' of data disk image lun {item.get('lun')} was not found.",
                    404,
                )
            result.append(
                {
                    "lun": int(item.get("lun", 0)),
                    "sizeInGB": src.size_gb,
                    "hostCaching": str(item.get("hostCaching") or "None"),
                }
            )
        return result

    def _targets(self, publishing: dict[str, Any], gallery: Gallery) -> list[dict[str, Any]]:
        default_count = int(publishing.get("replicaCount") or 1)
        default_sku = publishing.get("storageAccountType") or "Standard_LRS"
        raw = publishing.get("targetRegions") or [{"name": gallery.res.location}]
        targets: list[dict[str, Any]] = []
        seen: set[str] = set()
        for t in raw:
            name = t.get("name") or ""
            if region_key(name) in seen:
                raise ArmError(
                    "InvalidParameter", f"Region '{name}' is specified more than once.", target="targetRegions"
                )
            seen.add(region_key(name))
            count = int(t.get("regionalReplicaCount") or default_count)
            if not 1 <= count <= 100:
                raise ArmError(
                    "InvalidParameter", "regionalReplicaCount must be between 1 and 100.", target="regionalReplicaCount"
                )
            targets.append(
                {
                    "name": region_display(name),
                    "regionalReplicaCount": count,
                    "storageAccountType": t.get("storageAccountType") or default_sku,
                    **{k: t[k] for k in _REGION_EXTRAS if k in t},
                }
            )
        if region_key(gallery.res.location) not in seen:
            raise ArmError(
                "InvalidParameter",
                f"The target regions must include the source region '{region_display(gallery.res.location)}'.",
                target="targetRegions",
            )
        publishing["targetRegions"] = targets
        publishing.setdefault("replicaCount", default_count)
        publishing.setdefault("storageAccountType", default_sku)
        publishing.setdefault("excludeFromLatest", False)
        publishing.setdefault("replicationMode", "Full")
        return targets

    def _replicate(self, version: ImageVersion, regions: list[RegionReplication], state: str) -> AsyncOperation:
        version.res.provisioning_state = state
        now = self.ctx.now()
        for rep in regions:
            rep.failed = False
            rep.settled = False
            self.ctx.clock.schedule(rep.end, functools.partial(self._settle, rep))
        due = max([r.end for r in regions] + [now + timedelta(seconds=1)])

        def done() -> None:
            failed = [r.name for r in version.regions.values() if r.failed]
            if failed:
                raise ArmError(
                    "ReplicationJobsNotCompleted",
                    f"Replication job not completed at region: '{failed[0]}'. Please retry the operation.",
                )
            version.res.provisioning_state = "Succeeded"

        def fail(_: ArmError) -> None:
            version.res.provisioning_state = "Failed"

        op = self.ctx.start_operation(
            "Microsoft.Compute/galleries/images/versions/write",
            version.res.id,
            version.res.location,
            0,
            kind="Write",
            http_method="PUT",
            on_success=done,
            on_failure=fail,
            due=due,
        )
        version.operation = op
        return op

    def _settle(self, rep: RegionReplication) -> None:
        if not rep.settled:
            rep.failed = self.ctx.faults.take_replication_failure(rep.name)
            rep.settled = True

    def _update_version(
        self, version: ImageVersion, gallery: Gallery, body: dict[str, Any], *, patch: bool
    ) -> tuple[ImageVersion, AsyncOperation, bool]:
        if version.operation is not None and not version.operation.done:
            raise ArmError(
                "OperationNotAllowed",
                f"Operation on gallery image version '{version.res.name}' is not allowed while it is "
                f"{version.res.provisioning_state.lower()}. Retry after the current operation completes.",
            )
        if version.res.provisioning_state == "Deleting":
            raise ArmError("OperationNotAllowed", "The gallery image version is being deleted.")
        props = body.get("properties") or {}
        policy.require_storage_profile(props)
        storage = props.get("storageProfile")
        if storage is not None or not patch:
            # a source left out (GalleryImageVersion_Update_WithoutSourceId) is unchanged, not removed
            new_source = _source_of(storage or {})
            for k in new_source:
                if _norm(new_source.get(k)) != _norm(version.source.get(k)):
                    raise ArmError(
                        "PropertyChangeNotAllowed",
                        f"Changing property 'galleryImageVersion.properties.storageProfile.source.{k}' is not allowed.",
                        target=f"properties.storageProfile.source.{k}",
                    )
        safety = props.get("safetyProfile")
        if safety is not None:
            for k, v in safety.items():
                if k in version.safety and _norm(version.safety[k]) != _norm(v):
                    raise ArmError(
                        "PropertyChangeNotAllowed",
                        f"Changing property 'galleryImageVersion.properties.safetyProfile.{k}' is not allowed.",
                        target=f"properties.safetyProfile.{k}",
                    )
        location = body.get("location")
        if location and region_key(location) != region_key(version.res.location):
            raise ArmError(
                "PropertyChangeNotAllowed", "Changing property 'location' is not allowed.", target="location"
            )
        for k in props:
            if k not in (
                "publishingProfile",
                "storageProfile",
                "safetyProfile",
                "provisioningState",
                "replicationStatus",
            ):
                raise ArmError(
                    "PropertyChangeNotAllowed",
                    f"Changing property 'galleryImageVersion.properties.{k}' is not allowed.",
                    target=f"properties.{k}",
                )
        new_pub = dict(props.get("publishingProfile") or {})
        allowed = {
            "targetRegions",
            "replicaCount",
            "excludeFromLatest",
            "endOfLifeDate",
            "storageAccountType",
            "replicationMode",
            "publishedDate",
            "targetExtendedLocations",
        }
        for k, v in new_pub.items():
            if k not in allowed:
                raise ArmError(
                    "PropertyChangeNotAllowed",
                    f"Changing property 'galleryImageVersion.properties.publishingProfile.{k}' is not allowed.",
                    target=f"properties.publishingProfile.{k}",
                )
            if k in ("replicationMode", "storageAccountType") and _norm(v) != _norm(version.publishing.get(k)):
                raise ArmError(
                    "PropertyChangeNotAllowed",
                    f"Changing property 'galleryImageVersion.properties.publishingProfile.{k}' is not allowed.",
                    target=f"properties.publishingProfile.{k}",
                )
        if "tags" in body:
            version.res.tags = dict(body.get("tags") or {})
        if "excludeFromLatest" in new_pub:
            version.publishing["excludeFromLatest"] = bool(new_pub["excludeFromLatest"])
        if "endOfLifeDate" in new_pub:
            if new_pub["endOfLifeDate"]:
                parse_time(str(new_pub["endOfLifeDate"]))
                version.publishing["endOfLifeDate"] = new_pub["endOfLifeDate"]
            else:
                version.publishing.pop("endOfLifeDate", None)
        changed: list[RegionReplication] = []
        if new_pub.get("targetRegions"):
            existing = {k: (r.name, r.storage_account_type) for k, r in version.regions.items()}
            new_pub["targetRegions"] = policy.keep_storage_types(existing, new_pub["targetRegions"])
        if "targetRegions" in new_pub or "replicaCount" in new_pub:
            merged = dict(version.publishing)
            merged["targetRegions"] = new_pub.get("targetRegions") or version.publishing["targetRegions"]
            if "replicaCount" in new_pub:
                merged["replicaCount"] = new_pub["replicaCount"]
                if "targetRegions" not in new_pub:
                    merged["targetRegions"] = [
                        {**t, "regionalReplicaCount": None} for t in version.publishing["targetRegions"]
                    ]
            targets = self._targets(merged, gallery)
            wanted = {region_key(t["name"]): t for t in targets}
            removed = [r.name for k, r in version.regions.items() if k not in wanted]
            if removed and not version.safety.get("allowDeletionOfReplicatedLocations", True):
                raise ArmError(
                    "OperationNotAllowed",
                    f"Removing replicated region(s) {', '.join(removed)} is not allowed because "
                    "safetyProfile.allowDeletionOfReplicatedLocations is false.",
                )
            now = self.ctx.now()
            per_region = timedelta(seconds=self.ctx.seconds("replication_per_region"))
            regions: dict[str, RegionReplication] = {}
            for k, t in wanted.items():
                old = version.regions.get(k)
                # a region's encryption and excludeFromLatest stay as they were unless sent again
                extras = {**(old.extras if old else {}), **_region_extras(t)}
                t.update(extras)
                if old and not old.failed and old.replica_count == t["regionalReplicaCount"]:
                    old.extras = extras
                    regions[k] = old
                    continue
                rep = RegionReplication(
                    t["name"], t["regionalReplicaCount"], t["storageAccountType"], now, now + per_region, extras
                )
                regions[k] = rep
                changed.append(rep)
            version.regions = regions
            version.publishing["targetRegions"] = targets
            version.publishing["replicaCount"] = merged["replicaCount"]
        op = self._replicate(version, changed, "Updating")
        return version, op, False

    def get_version(self, rg: str, g: str, image: str, name: str) -> ImageVersion:
        version = self.versions.get(self._version_id(rg, g, image, name).lower())
        if version is None:
            raise not_found("Microsoft.Compute/galleries/images/versions", f"{g}/{image}/{name}", rg)
        return version

    def list_versions(self, rg: str, g: str, image: str) -> list[ImageVersion]:
        self.get_image(rg, g, image)
        prefix = self._image_id(rg, g, image).lower() + "/versions/"
        return sorted((v for k, v in self.versions.items() if k.startswith(prefix)), key=lambda v: v.key)

    def delete_version(self, rg: str, g: str, image: str, name: str) -> AsyncOperation | None:
        rid = self._version_id(rg, g, image, name)
        version = self.versions.get(rid.lower())
        if version is None:
            return None
        eol = version.publishing.get("endOfLifeDate")
        if version.safety.get("blockDeletionBeforeEndOfLife") and eol and parse_time(str(eol)) > self.ctx.now():
            raise ArmError(
                "OperationNotAllowed",
                f"Gallery image version '{name}' cannot be deleted before its end of life date ({eol}) because "
                "safetyProfile.blockDeletionBeforeEndOfLife is set to true.",
            )
        if version.operation is not None and not version.operation.done:
            version.operation.status = "Canceled"
            version.operation.end = self.ctx.now()
        version.res.provisioning_state = "Deleting"

        def done() -> None:
            self.versions.pop(rid.lower(), None)

        return self.ctx.start_operation(
            "Microsoft.Compute/galleries/images/versions/delete",
            rid,
            version.res.location,
            self.ctx.seconds("gallery_version_delete"),
            kind="Delete",
            http_method="DELETE",
            on_success=done,
        )

    def definition_for(self, ref_id: str) -> ImageDefinition | None:
        """The image definition of a definition or version id (None for other ids)."""
        low = ref_id.lower().rstrip("/")
        if "/galleries/" not in low:
            return None
        return self.images.get(low.split("/versions/")[0])

    def definition_security_type(self, ref_id: str) -> str:
        """The SecurityType feature (lower case, "" if none) of the definition behind an image id."""
        image = self.definition_for(ref_id)
        for f in (image.props.get("features") or []) if image else []:
            if str(f.get("name", "")).lower() == "securitytype":
                return str(f.get("value", "")).lower()
        return ""

    def resolve_for_deployment(self, ref_id: str, location: str) -> ImageVersion:
        """The version a VM/disk deploys from: a version id, or a definition id (latest)."""
        low = ref_id.lower().rstrip("/")
        now = self.ctx.now()

        def usable(v: ImageVersion) -> bool:
            rep = v.regions.get(region_key(location))
            return (
                v.res.provisioning_state in ("Succeeded", "Updating")
                and rep is not None
                and rep.state(now)[0] == "Completed"
            )

        if "/versions/" in low:
            version = self.versions.get(low)
            if version is None:
                raise ArmError("GalleryImageNotFound", f"The gallery image {ref_id} is not available.", 404)
            if not usable(version):
                raise ArmError(
                    "GalleryImageNotFound",
                    f"The gallery image {ref_id} is not available in {region_key(location)} region. Please "
                    "contact image owner to replicate to this region, or change your requested region.",
                    404,
                )
            return version
        candidates = [
            v
            for k, v in self.versions.items()
            if k.startswith(low + "/versions/")
            and not v.publishing.get("excludeFromLatest")
            and not _excluded_in(v, location)
            and usable(v)
        ]
        if not candidates:
            raise ArmError("GalleryImageNotFound", f"The gallery image {ref_id} has no version available.", 404)
        return max(candidates, key=lambda v: v.key)

    @staticmethod
    def _data_disk_body(version: ImageVersion) -> list[dict[str, Any]]:
        sent = {int(d.get("lun", 0)): d for d in version.storage.get("dataDiskImages") or []}
        return [{**sent.get(d["lun"], {}), **d} for d in version.data_disks]

    def version_body(self, version: ImageVersion, expand_replication: bool = False) -> dict[str, Any]:
        body = version.res.envelope()
        pub = {k: v for k, v in version.publishing.items() if v is not None}
        pub["targetRegions"] = [{"excludeFromLatest": False, **t} for t in pub.get("targetRegions") or []]
        pub["publishedDate"] = iso(version.published)
        storage: dict[str, Any] = {k: v for k, v in version.storage.items() if k == "source"}
        storage["osDiskImage"] = {
            **(version.storage.get("osDiskImage") or {}),
            "sizeInGB": version.disk_size_gb,
            "hostCaching": version.os_caching,
        }
        storage["dataDiskImages"] = self._data_disk_body(version)
        props: dict[str, Any] = {
            "publishingProfile": pub,
            "storageProfile": storage,
            "safetyProfile": dict(version.safety),
            "provisioningState": version.res.provisioning_state,
        }
        if expand_replication:
            now = self.ctx.now()
            summary = []
            for rep in version.regions.values():
                state, progress = rep.state(now)
                entry: dict[str, Any] = {"region": rep.name, "state": state, "details": "", "progress": progress}
                if state == "Failed":
                    entry["details"] = "Replication failed. Retry the operation or remove the region."
                summary.append(entry)
            states = {s["state"] for s in summary}
            if "Failed" in states:
                aggregated = "Failed"
            elif states == {"Completed"}:
                aggregated = "Completed"
            elif summary:
                aggregated = "InProgress"
            else:
                aggregated = "Unknown"
            props["replicationStatus"] = {"aggregatedState": aggregated, "summary": summary}
        body["properties"] = props
        return body


_REGION_EXTRAS = ("encryption", "excludeFromLatest")


def _excluded_in(version: ImageVersion, location: str) -> bool:
    """A region's own excludeFromLatest hides the version from 'latest' there (TargetRegion docstring)."""
    rep = version.regions.get(region_key(location))
    return bool(rep and rep.extras.get("excludeFromLatest"))


def _region_extras(target: dict[str, Any]) -> dict[str, Any]:
    return {k: target[k] for k in _REGION_EXTRAS if k in target}


def _source_of(storage: dict[str, Any]) -> dict[str, Any]:
    """The version's source: storageProfile.source, or the OS disk image's source (snapshots as source)."""
    return dict(storage.get("source") or (storage.get("osDiskImage") or {}).get("source") or {})


def _echoed_storage(storage: dict[str, Any]) -> dict[str, Any]:
    """The parts of a storageProfile Azure returns as sent: the source and the disk images' sources."""
    echoed: dict[str, Any] = {}
    if storage.get("source"):
        echoed["source"] = dict(storage["source"])
    if storage.get("osDiskImage"):
        echoed["osDiskImage"] = dict(storage["osDiskImage"])
    if storage.get("dataDiskImages"):
        echoed["dataDiskImages"] = [dict(d) for d in storage["dataDiskImages"]]
    return echoed


def _version_key(name: str) -> tuple[int, int, int]:
    m = _VERSION_RE.match(name)
    parts = tuple(int(p) for p in m.groups()) if m else ()
    if not m or any(p > _INT32 for p in parts):
        raise ArmError(
            "InvalidParameter",
            f"The gallery image version name '{name}' is invalid. It must follow the "
            "Major(int32).Minor(int32).Patch(int32) format.",
            target="galleryImageVersionName",
        )
    return parts[0], parts[1], parts[2]


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def new_uuid() -> str:
    return str(uuid.uuid4())
