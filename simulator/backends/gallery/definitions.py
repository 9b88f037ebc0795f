"""Galleries and image definitions: create, update (immutable properties refused), delete, read."""

from __future__ import annotations

import re
from typing import Any

from simulator.backends.base import AsyncOperation, Resource, region_key
from simulator.backends.gallery.state import Gallery, GalleryState, ImageDefinition, norm
from simulator.errors import ArmError, not_found


class GalleriesBackend(GalleryState):
    """The two outer levels of a gallery: the gallery and its image definitions."""

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
                if norm(old) != norm(new):
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
