"""Replication of an image version: target regions, replica counts and each region's progress."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from simulator.backends.base import AsyncOperation, region_display, region_key
from simulator.backends.gallery.state import Gallery, GalleryState, ImageVersion, RegionReplication
from simulator.errors import ArmError

_REGION_EXTRAS = ("encryption", "excludeFromLatest")


class ReplicationBackend(GalleryState):
    """Validates target regions and runs the replication LRO, failing regions the faults pick."""

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


def region_extras(target: dict[str, Any]) -> dict[str, Any]:
    return {k: target[k] for k in _REGION_EXTRAS if k in target}
