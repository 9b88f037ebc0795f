"""The deployed gallery, apart from the catalog's models: Settings names it, and building
Settings must not load the catalog's schemas (cold-start time for an event the app ignores)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DeployedGallery(BaseModel):
    """The gallery the app was deployed with (AVD_IMAGE_RESOURCE_GROUP, AVD_GALLERY_NAME): the
    one source of truth for where image definitions live. The catalog names only definitions."""

    model_config = ConfigDict(frozen=True)
    resource_group: str = "rg-avd-images"  # the local defaults (Settings, the demo, tests)
    name: str = "gal_avd_images"
