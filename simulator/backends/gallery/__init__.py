"""Azure Compute Gallery: galleries, image definitions, image versions and replication.

One backend made of parts by responsibility, as moto builds its EC2 backend from mixins:
``state`` (records and stores), ``definitions`` (galleries and image definitions),
``capture`` (a version's source), ``replication`` (regions) and ``versions``.
"""

from __future__ import annotations

from simulator.backends.gallery.state import Gallery, ImageDefinition, ImageVersion, RegionReplication
from simulator.backends.gallery.versions import VersionsBackend

__all__ = ["Gallery", "GalleryBackend", "ImageDefinition", "ImageVersion", "RegionReplication"]


class GalleryBackend(VersionsBackend):
    """Every gallery operation the simulator serves."""
