"""The gallery backend's records (galleries, definitions, versions, replicas) and their stores.

Its own module so that each part of the backend can name these types without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.backends.base import AsyncOperation, Context, Resource
from simulator.backends.guest import GuestState


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


class GalleryState:
    """The stores of galleries, image definitions and versions, keyed by lower-case id."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.galleries: dict[str, Gallery] = {}
        self.images: dict[str, ImageDefinition] = {}
        self.versions: dict[str, ImageVersion] = {}

    def _gallery_id(self, rg: str, g: str) -> str:
        return self.ctx.resource_id(rg, f"Microsoft.Compute/galleries/{g}")

    def _image_id(self, rg: str, g: str, image: str) -> str:
        return f"{self._gallery_id(rg, g)}/images/{image}"

    def _version_id(self, rg: str, g: str, image: str, version: str) -> str:
        return f"{self._image_id(rg, g, image)}/versions/{version}"


def norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [norm(v) for v in value]
    return value
