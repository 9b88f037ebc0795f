"""The deployed gallery is the one the app's settings name, in the group where its role applies.

With the catalog no longer naming a gallery (tests/unit/test_deployed_gallery.py), the app
settings AVD_IMAGE_RESOURCE_GROUP / AVD_GALLERY_NAME are the only source: they must be the
gallery main.bicep creates and the resource group its custom role is assigned on.
"""

from __future__ import annotations

from typing import Any

from tests.infra.test_infra import parsed, tree

__all__ = ["parsed"]  # the pycep fixture, shared with test_infra.py


def accessor(*path: str) -> dict[str, Any]:
    """pycep's tree for a Bicep property chain such as `gallery.outputs.name`."""
    if len(path) == 2:
        return {"operator": {"type": "property_accessor", "operands": {"operand_1": path[0], "operand_2": path[1]}}}
    return {
        "operator": {"type": "property_accessor", "operands": {"operand_1": path[0], "operand_2": accessor(*path[1:])}}
    }


def test_app_settings_name_the_deployed_gallery(parsed: dict[str, dict[str, Any]]) -> None:
    """The Function App's gallery settings come from the gallery module, deployed in the image group the role covers."""
    main = tree(parsed, "main.bicep")
    modules = main["modules"]
    app = modules["functionApp"]["config"]["params"]
    assert app["imageResourceGroupName"] == accessor("imageResourceGroup", "name")
    assert app["galleryName"] == accessor("gallery", "outputs", "name")
    assert modules["gallery"]["config"]["scope"] == "imageResourceGroup"
    assert modules["imageAccess"]["config"]["scope"] == "imageResourceGroup"
    settings = tree(parsed, "modules/functionapp.bicep")["variables"]["appSettings"]["value"]
    assert settings["AVD_IMAGE_RESOURCE_GROUP"] == "imageResourceGroupName"
    assert settings["AVD_GALLERY_NAME"] == "galleryName"
    outputs = main["outputs"]
    assert outputs["AVD_GALLERY_NAME"]["value"] == accessor("gallery", "outputs", "name")
