"""What an accepted approval did, in the words the sender reads (shared.steps.promotion.progress_note).

The note counts only standing approvals of distinct principals for the command's own stage and
action: an expired approval, a second one by the same person, or one for another stage never
makes the tally look closer to done than it is.
"""

from __future__ import annotations

from datetime import timedelta

from shared.domain.catalog import Catalog
from shared.domain.commands import Promote, Rollback
from shared.domain.model import Stage
from shared.domain.records import Changes
from shared.steps.promotion import progress_note
from tests.unit.test_approvals import CHAIR, DEPUTY, V100, V101, World, rollback, rollback_world


def promote_command(world: World, stage: Stage = Stage.PRODUCTION) -> Promote:
    return Promote(
        workload="office",
        version="1.0.0",
        target_stage=stage,
        approver_token=world.issuer.token_for(CHAIR),
        requested_at=world.clock.now(),
    )


def rollback_command(world: World, version: str = "1.0.1") -> Rollback:
    return Rollback(
        workload="office", version=version, approver_token=world.issuer.token_for(CHAIR), requested_at=world.clock.now()
    )


def test_one_production_approval_of_two_says_who_is_still_needed() -> None:
    """After the first of two approvals the note reads "1 of 2" and waits for another approver."""
    world = World()
    world.promote(world.issuer.token_for(CHAIR))
    assert progress_note(promote_command(world), world.deps) == (
        "1 of 2 approvals for production (office 1.0.0); waiting for another approver"
    )


def test_the_second_approval_reports_the_promotion() -> None:
    """Once promoted the note says it is replicating to the approved stage."""
    world = World()
    world.promote(world.issuer.token_for(CHAIR))
    world.promote(world.issuer.token_for(DEPUTY))
    assert progress_note(promote_command(world), world.deps) == "approved: office 1.0.0 -> production; replicating"


def test_an_expired_approval_is_not_counted() -> None:
    """An approval older than approval_valid_hours (72 h) no longer stands: the tally is 0 of 2."""
    world = World()
    world.promote(world.issuer.token_for(CHAIR))
    world.clock.advance(timedelta(hours=71))
    assert progress_note(promote_command(world), world.deps).startswith("1 of 2 approvals for production")
    world.clock.advance(timedelta(hours=2))
    assert progress_note(promote_command(world), world.deps).startswith("0 of 2 approvals for production")


def test_one_person_approving_twice_counts_once() -> None:
    """Two recorded approvals by the same principal are one approver in the tally."""
    world = World()
    world.promote(world.issuer.token_for(CHAIR))
    version = world.deps.records.get_version("office", V100)
    twice = version.evolve(approvals=(*version.approvals, version.approvals[0]))
    world.deps.records.commit(Changes(workload="office", versions=[twice]))
    assert progress_note(promote_command(world), world.deps).startswith("1 of 2 approvals for production")


def test_an_approval_for_another_stage_does_not_count_for_this_one() -> None:
    """The production approval on record says nothing about the DR tally (one approval needed there)."""
    world = World()
    world.promote(world.issuer.token_for(CHAIR))
    assert progress_note(promote_command(world, Stage.DR), world.deps) == (
        "0 of 1 approval for dr (office 1.0.0); waiting for another approver"
    )


def test_a_stage_the_workload_lacks_needs_one_approval_in_the_note() -> None:
    """A workload without a DR stage: the note still reads as one approval needed, not a crash."""
    world = World()
    office = world.deps.catalog.get("office")
    no_dr = office.model_copy(update={"stages": office.stages.model_copy(update={"dr": None})})
    world.deps.catalog = Catalog(workloads=(no_dr,))
    assert progress_note(promote_command(world, Stage.DR), world.deps) == (
        "0 of 1 approval for dr (office 1.0.0); waiting for another approver"
    )


def test_a_completed_rollback_names_what_serves_production_now() -> None:
    """After the rollback production serves 1.0.0: the note says so."""
    world = rollback_world()
    rollback(world, world.issuer.token_for(CHAIR))
    assert progress_note(rollback_command(world), world.deps) == "rolled back: office production 1.0.1 -> 1.0.0"


def test_a_rollback_waiting_for_a_second_approver_says_so() -> None:
    """With two rollback approvals required, the first leaves a "1 of 2 ... to roll back" note."""
    world = rollback_world()
    office = world.deps.catalog.get("office")
    production = office.stages.production.model_copy(update={"rollback_approvals_required": 2})
    stages = office.stages.model_copy(update={"production": production})
    world.deps.catalog = Catalog(workloads=(office.model_copy(update={"stages": stages}),))
    rollback(world, world.issuer.token_for(CHAIR))
    assert world.deps.records.get_pointers("office").production == V101
    assert progress_note(rollback_command(world), world.deps) == (
        "1 of 2 approvals to roll back production 1.0.1; waiting for another approver"
    )
    world.clock.advance(timedelta(minutes=21))  # the rollback window is 20 minutes
    assert progress_note(rollback_command(world), world.deps).startswith("0 of 2 approvals to roll back production")


def test_a_rollback_tally_ignores_promotion_approvals() -> None:
    """Approvals to promote 1.0.1 into production are not approvals to roll it back."""
    world = rollback_world()
    office = world.deps.catalog.get("office")
    production = office.stages.production.model_copy(update={"rollback_approvals_required": 2})
    stages = office.stages.model_copy(update={"production": production})
    world.deps.catalog = Catalog(workloads=(office.model_copy(update={"stages": stages}),))
    rollback(world, world.issuer.token_for(CHAIR))
    current = world.deps.records.get_version("office", V101)
    [approval] = current.approvals
    promoted = approval.model_copy(update={"action": "promote", "principal": "someone-else"})
    world.deps.records.commit(Changes(workload="office", versions=[current.evolve(approvals=(approval, promoted))]))
    assert progress_note(rollback_command(world), world.deps).startswith("1 of 2 approvals to roll back")
