"""Approval invariants that name their rule: approvers count for their own stage only, and a rollback
hands the rollback role to the newest version that served production before."""

from __future__ import annotations

import pytest

from shared.domain.errors import RequestRefused
from shared.domain.model import Stage, Status, VersionNumber
from shared.domain.records import Changes
from tests.conftest import make_version
from tests.unit.test_approvals import CHAIR, World, rollback, rollback_world


def test_an_approver_of_validation_is_not_an_approver_of_production() -> None:
    """The QA lead may approve validation; the same verified person approving production is refused."""
    world = World()
    before = world.deps.records.get_version("office", VersionNumber.parse("1.0.0"))
    with pytest.raises(RequestRefused, match=r"qa-lead@contoso.com .* is not an allowed approver for production"):
        world.promote(world.issuer.token_for("qa-lead@contoso.com"))
    after = world.deps.records.get_version("office", VersionNumber.parse("1.0.0"))
    assert (after.etag, after.approvals, after.status) == (before.etag, (), Status.READY)


def test_rollback_makes_the_newest_older_production_version_the_next_rollback_target() -> None:
    """1.0.3 withdrawn, 1.0.2 restored: the next rollback target is 1.0.1 (newest superseded), not 1.0.0."""
    world = rollback_world()
    was_production = world.deps.records.get_version("office", VersionNumber.parse("1.0.1"))
    superseded = [
        was_production.evolve(status=Status.SUPERSEDED),
        make_version("1.0.2", status=Status.SUPERSEDED, stage=Stage.PRODUCTION, gallery_version_id="/v/1.0.2"),
    ]
    current = make_version("1.0.3", status=Status.READY, stage=Stage.PRODUCTION, gallery_version_id="/v/1.0.3")
    pointers = world.deps.records.get_pointers("office").evolve(
        production=VersionNumber.parse("1.0.3"), rollback=VersionNumber.parse("1.0.2")
    )
    world.deps.records.commit(Changes(workload="office", versions=[*superseded, current], pointers=pointers))
    rollback(world, world.issuer.token_for(CHAIR), version="1.0.3")
    moved = world.deps.records.get_pointers("office")
    assert (str(moved.production), str(moved.rollback)) == ("1.0.2", "1.0.1")
