"""A region's own excludeFromLatest, changed by an update (PATCH) through the real SDK."""

from __future__ import annotations

from typing import Any

from tests.simulator.conftest import LOC, RG, Env
from tests.simulator.test_conformance_fixes import DEF_ID, _version
from tests.simulator.test_pipeline import DEF, GALLERY, _gallery, _prepared_vm


def _patch(env: Env, name: str, publishing: dict[str, Any]) -> None:
    body = {"properties": {"publishingProfile": publishing, "storageProfile": {}}}
    env.compute.gallery_image_versions.begin_update(RG, GALLERY, DEF, name, body).result()


def _flags(env: Env, name: str) -> dict[str, bool | None]:
    stored = env.compute.gallery_image_versions.get(RG, GALLERY, DEF, name)
    return {t.name: t.exclude_from_latest for t in stored.publishing_profile.target_regions}


def test_a_region_flag_set_by_an_update_hides_the_version_there_until_cleared(env: Env) -> None:
    """An update sets one region's excludeFromLatest; a later update without it keeps it; sending false clears it."""
    _gallery(env)
    _prepared_vm(env)
    regions = [{"name": LOC, "regionalReplicaCount": 1}, {"name": "northeurope", "regionalReplicaCount": 1}]
    _version(env, "1.0.0", regions)
    _version(env, "1.0.1", regions)
    _patch(env, "1.0.1", {"targetRegions": [{**regions[0], "excludeFromLatest": True}, regions[1]]})
    assert _flags(env, "1.0.1") == {"West Europe": True, "North Europe": False}
    assert env.sim.gallery.resolve_for_deployment(DEF_ID, LOC).res.name == "1.0.0"
    assert env.sim.gallery.resolve_for_deployment(DEF_ID, "northeurope").res.name == "1.0.1"
    _patch(env, "1.0.1", {"targetRegions": regions})  # the flag not sent: Azure keeps it
    assert _flags(env, "1.0.1") == {"West Europe": True, "North Europe": False}
    _patch(env, "1.0.1", {"targetRegions": [{**regions[0], "excludeFromLatest": False}, regions[1]]})
    assert _flags(env, "1.0.1") == {"West Europe": False, "North Europe": False}
    assert env.sim.gallery.resolve_for_deployment(DEF_ID, LOC).res.name == "1.0.1"
