"""Image versions: create, update (publishing profile, regions), delete, deploy from, read."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from simulator.backends import policy
from simulator.backends.base import AsyncOperation, Resource, iso, parse_time, region_key
from simulator.backends.gallery.capture import CaptureBackend
from simulator.backends.gallery.definitions import GalleriesBackend
from simulator.backends.gallery.replication import ReplicationBackend, region_extras
from simulator.backends.gallery.state import Gallery, ImageVersion, RegionReplication, norm
from simulator.errors import ArmError, not_found

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

_INT32 = 2**31 - 1


class VersionsBackend(GalleriesBackend, CaptureBackend, ReplicationBackend):
    """The version's PUT / PATCH / GET / DELETE and which version a VM or disk deploys from."""

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
                region_extras(t),
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
                if norm(new_source.get(k)) != norm(version.source.get(k)):
                    raise ArmError(
                        "PropertyChangeNotAllowed",
                        f"Changing property 'galleryImageVersion.properties.storageProfile.source.{k}' is not allowed.",
                        target=f"properties.storageProfile.source.{k}",
                    )
        safety = props.get("safetyProfile")
        if safety is not None:
            for k, v in safety.items():
                if k in version.safety and norm(version.safety[k]) != norm(v):
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
            if k in ("replicationMode", "storageAccountType") and norm(v) != norm(version.publishing.get(k)):
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
                extras = {**(old.extras if old else {}), **region_extras(t)}
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


def _excluded_in(version: ImageVersion, location: str) -> bool:
    """A region's own excludeFromLatest hides the version from 'latest' there (TargetRegion docstring)."""
    rep = version.regions.get(region_key(location))
    return bool(rep and rep.extras.get("excludeFromLatest"))


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
