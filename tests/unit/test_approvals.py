"""Approvals prove who approved with a signed token; production needs two people; rollbacks are safe.

Every token here is RS256-signed by the local issuer and checked by the production verifier
(shared/identity/tokens.py) against the key set it serves on loopback HTTP.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from localrun.issuer import LocalIssuer, forged, token_at
from shared.config import Settings
from shared.domain.approvals import NothingToDo, TokenRefused
from shared.domain.catalog import load_catalog
from shared.domain.commands import Promote, Rollback
from shared.domain.errors import RequestRefused
from shared.domain.model import Stage, Status, ValidationEvidence, VersionNumber
from shared.domain.records import Changes
from shared.messagebus import MessageBus
from shared.steps.deps import Deps
from tests.conftest import T0, make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
V100, V101 = VersionNumber.parse("1.0.0"), VersionNumber.parse("1.0.1")
CHAIR, DEPUTY = "cab-chair@contoso.com", "cab-deputy@contoso.com"


class World:
    """Office 1.0.0 validated in validation (awaiting production), with fakes and a local issuer."""

    def __init__(self, requested_by: str = "scheduler", settings: Settings | None = None) -> None:
        self.clock = FakeClock()
        self.issuer = LocalIssuer(self.clock)
        self.compute = FakeCompute()
        self.deps: Deps = make_deps(CATALOG, compute=self.compute, clock=self.clock)
        self.deps.verifier = self.issuer.verifier(self.clock)
        if settings is not None:
            self.deps.settings = settings
        validated = tuple(
            ValidationEvidence(stage=s, passed=True, at=T0, region="westeurope") for s in (Stage.TEST, Stage.VALIDATION)
        )
        version = make_version(
            "1.0.0",
            status=Status.READY,
            stage=Stage.VALIDATION,
            validations=validated,
            gallery_version_id="/v/1.0.0",
            requested_by=requested_by,
        )
        self.deps.records.commit(Changes(workload="office", versions=[version]))
        self.bus = MessageBus(self.deps)

    def command(self, token: str, stage: Stage = Stage.PRODUCTION, ticket: str = "CHG-1", **extra: object) -> Promote:
        fields: dict[str, object] = {"requested_at": self.clock.now(), **extra}
        return Promote(
            workload="office", version="1.0.0", target_stage=stage, approver_token=token, ticket=ticket, **fields
        )

    def promote(self, token: str, stage: Stage = Stage.PRODUCTION, ticket: str = "CHG-1", **extra: object) -> None:
        self.bus.handle(self.command(token, stage, ticket, **extra))

    def version(self, text: str = "1.0.0") -> object:
        return self.deps.records.get_version("office", VersionNumber.parse(text))

    @property
    def status(self) -> tuple[Status, Stage | None, Stage | None]:
        v = self.deps.records.get_version("office", V100)
        return v.status, v.stage, v.target_stage


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("unsigned", "algorithm 'none' is refused"),
        ("hs256", "algorithm 'HS256' is refused"),
        ("unknown-key", "signed with key 'attacker-key', which the tenant does not publish"),
        ("wrong-issuer", "issuer 'https://login.microsoftonline.com/evil-tenant/v2.0' is not the configured tenant"),
        ("wrong-audience", "issued for audience '0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', not this app"),
        ("expired", "the token expired at"),
        ("tampered", "the signature does not verify"),
        ("non-approver", r"mallory@contoso.com \(7fb15138-.*\) is not an allowed approver for production"),
    ],
)
def test_forged_or_foreign_tokens_are_refused_and_change_nothing(kind: str, reason: str) -> None:
    """Unsigned, wrongly signed, foreign, expired or non-approver tokens are refused with the reason."""
    world = World()
    before = world.deps.records.get_version("office", V100)
    with pytest.raises(RequestRefused, match=reason):
        world.promote(forged(world.issuer, kind))
    after = world.deps.records.get_version("office", V100)
    assert (after.etag, after.approvals) == (before.etag, ())
    assert world.compute.calls == []


def test_production_needs_two_distinct_people_and_counts_them() -> None:
    """The first approval is recorded as "1 of 2" and changes no stage; the second promotes."""
    world = World()
    world.promote(world.issuer.token_for(CHAIR))
    assert world.status == (Status.READY, Stage.VALIDATION, None)
    events = world.deps.records.list_events("office", V100)
    assert [e.kind for e in events] == ["approval-recorded"]
    assert events[0].detail.startswith("1 of 2 approvals for production (as Change board)")
    assert events[0].actor == "cab-chair@contoso.com (5d9c3f16-7e8b-4ca3-9f50-1b6e3c4d5f15)"
    assert world.compute.calls == []
    world.promote(world.issuer.token_for(DEPUTY))
    assert world.status == (Status.REPLICATING, Stage.VALIDATION, Stage.PRODUCTION)
    kinds = [e.kind for e in world.deps.records.list_events("office", V100)]
    assert kinds == ["approval-recorded", "promotion-approved"]
    assert {a.principal for a in world.deps.records.get_version("office", V100).approvals} == {
        "5d9c3f16-7e8b-4ca3-9f50-1b6e3c4d5f15",
        "6ea04027-8f9c-4db4-a061-2c7f4d5e6a16",
    }


def test_two_approvals_by_the_same_principal_count_once() -> None:
    """A second approval (even with a new token and ticket) by the same person is refused."""
    world = World()
    world.promote(world.issuer.token_for(CHAIR), ticket="CHG-1")
    world.clock.advance(timedelta(minutes=5))
    with pytest.raises(RequestRefused, match=r"already approved this \(1 of 2 approvals for production\)"):
        world.promote(world.issuer.token_for(CHAIR), ticket="CHG-2")
    assert world.status == (Status.READY, Stage.VALIDATION, None)


def test_the_builds_requester_cannot_approve_it() -> None:
    """The person who requested the build is not one of the two production approvers."""
    world = World(requested_by="cab-chair@contoso.com|5d9c3f16-7e8b-4ca3-9f50-1b6e3c4d5f15")
    with pytest.raises(RequestRefused, match="requested the build of 1.0.0"):
        world.promote(world.issuer.token_for(CHAIR))
    world = World(requested_by="cab-chair@cli")  # the CLI's unsigned requester name counts too
    with pytest.raises(RequestRefused, match="requested the build"):
        world.promote(world.issuer.token_for(CHAIR))


def test_approvals_expire_after_the_configured_time() -> None:
    """A first approval older than AVD_APPROVAL_VALID_HOURS no longer counts toward two."""
    world = World(settings=Settings(approval_valid_hours=24))
    world.promote(world.issuer.token_for(CHAIR))
    world.clock.advance(timedelta(hours=25))
    world.promote(world.issuer.token_for(DEPUTY))
    assert world.status == (Status.READY, Stage.VALIDATION, None)  # 1 of 2 again: the first expired
    world.clock.advance(timedelta(hours=1))
    world.promote(world.issuer.token_for(CHAIR))
    assert world.status[0] is Status.REPLICATING


def test_group_membership_comes_from_the_groups_claim_and_overage_is_refused_with_a_reason() -> None:
    """A member of the change board group approves; a token with a group overage cannot prove it."""
    world = World()
    overage = world.issuer.token_for(
        CHAIR, groups=None, _claim_names={"groups": "src1"}, _claim_sources={"src1": {"endpoint": "https://graph"}}
    )
    with pytest.raises(RequestRefused, match="too many groups for the token to list them"):
        world.promote(overage)
    not_member = world.issuer.token_for(CHAIR, groups=["00000000-0000-4000-8000-000000000001"])
    with pytest.raises(RequestRefused, match="is not an allowed approver for production"):
        world.promote(not_member)


def test_promotion_to_a_stage_already_passed_is_nothing_to_do() -> None:
    """Asking for validation again answers "nothing to do" (not "approved") and records nothing."""
    world = World()
    with pytest.raises(NothingToDo, match="nothing to do: 1.0.0 already passed validation"):
        world.promote(world.issuer.token_for("qa-lead@contoso.com"), stage=Stage.VALIDATION)
    assert world.deps.records.list_events("office", V100) == []


@pytest.mark.parametrize("status", [Status.WITHDRAWN, Status.DEPRECATED])
def test_withdrawn_or_deprecated_versions_cannot_be_promoted(status: Status) -> None:
    """A version rolled back from or deprecated is never promoted again, with the reason."""
    world = World()
    version = world.deps.records.get_version("office", V100)
    world.deps.records.commit(Changes(workload="office", versions=[version.evolve(status=status, stage=Stage.TEST)]))
    with pytest.raises(RequestRefused, match=f"cannot promote 1.0.0 to production: it is {status.value}"):
        world.promote(world.issuer.token_for(CHAIR))


def test_a_request_dated_in_the_future_is_refused() -> None:
    """requested_at in year 9999 is not accepted."""
    world = World()
    with pytest.raises(RequestRefused, match="is in the future"):
        world.promote(world.issuer.token_for(CHAIR), requested_at=datetime(9999, 1, 1, tzinfo=T0.tzinfo))


def test_system_token_must_be_a_workload_identity_and_is_recorded() -> None:
    """Pattern 2: the approval system's app-only token is verified and recorded as `via`."""
    world = World()
    with pytest.raises(RequestRefused, match="system_token must be the approval system's own workload-identity"):
        world.promote(world.issuer.token_for(CHAIR), system_token=world.issuer.token_for(DEPUTY))
    with pytest.raises(TokenRefused, match="system_token: issued for audience"):
        world.promote(world.issuer.token_for(CHAIR), system_token=forged(world.issuer, "wrong-audience"))
    world.promote(world.issuer.token_for(CHAIR), system_token=world.issuer.system_token())
    (approval,) = world.deps.records.get_version("office", V100).approvals
    assert approval.via.startswith("ServiceNow approvals (")


def test_a_rotated_signing_key_is_fetched_on_the_unknown_kid() -> None:
    """Entra rolls its keys: a token with a new kid makes the verifier refresh the cached key set once."""
    world = World()
    world.promote(world.issuer.token_for(CHAIR))  # the key set is now cached
    world.issuer.rotate()
    world.promote(world.issuer.token_for(DEPUTY))
    assert world.status[0] is Status.REPLICATING


def test_redelivered_approval_is_recognised_not_refused() -> None:
    """At-least-once delivery: the very same message again is "nothing to do", not a second approval."""
    world = World()
    command = Promote(
        workload="office",
        version="1.0.0",
        target_stage=Stage.PRODUCTION,
        approver_token=world.issuer.token_for(CHAIR),
        requested_at=world.clock.now(),
    )
    world.bus.handle(command)
    with pytest.raises(NothingToDo, match="recorded already"):
        world.bus.handle(command)


def test_message_ids_derive_from_the_content() -> None:
    """A corrected approval (another ticket) has another MessageId, so duplicate detection keeps it."""
    issuer = LocalIssuer(FakeClock())
    token = issuer.token_for(CHAIR)
    first = Promote(workload="office", version="1.0.0", target_stage=Stage.PRODUCTION, approver_token=token,
                    ticket="CHG-1", requested_at=T0)  # fmt: skip
    corrected = first.model_copy(update={"ticket": "CHG-2"})
    assert first.message_id != corrected.message_id
    assert first.message_id == first.model_copy().message_id  # an identical re-send is still a duplicate


# --- rollback ---------------------------------------------------------------------------------------


def rollback_world(window_minutes: int = 20) -> World:
    """Office 1.0.1 serves production, 1.0.0 is the rollback target."""
    world = World(settings=Settings(rollback_window_minutes=window_minutes))
    current = make_version("1.0.1", status=Status.READY, stage=Stage.PRODUCTION, gallery_version_id="/v/1.0.1")
    previous = world.deps.records.get_version("office", V100).evolve(status=Status.SUPERSEDED, stage=Stage.PRODUCTION)
    pointers = world.deps.records.get_pointers("office").evolve(production=V101, rollback=V100)
    world.deps.records.commit(Changes(workload="office", versions=[current, previous], pointers=pointers))
    return world


def rollback(world: World, token: str, version: str = "1.0.1", requested_at: datetime | None = None) -> None:
    command = Rollback(
        workload="office",
        version=version,
        approver_token=token,
        ticket="INC-1",
        requested_at=requested_at or world.clock.now(),
    )
    world.bus.handle(command)


def test_rollback_by_a_production_approver_withdraws_the_named_version() -> None:
    """A change board member rolls 1.0.1 back: 1.0.0 serves production, 1.0.1 is withdrawn."""
    world = rollback_world()
    rollback(world, world.issuer.token_for(CHAIR))
    pointers = world.deps.records.get_pointers("office")
    assert (pointers.production, pointers.rollback) == (V100, None)
    assert world.deps.records.get_version("office", V101).status is Status.WITHDRAWN


def test_rollback_by_a_non_approver_is_refused() -> None:
    """The QA lead may approve validation, not withdraw production."""
    world = rollback_world()
    with pytest.raises(RequestRefused, match="qa-lead@contoso.com .* is not an allowed approver for production"):
        rollback(world, world.issuer.token_for("qa-lead@contoso.com"))
    assert world.deps.records.get_pointers("office").production == V101


def test_rollback_naming_a_version_no_longer_in_production_is_refused() -> None:
    """A rollback of 1.0.0 while 1.0.1 serves production changes nothing."""
    world = rollback_world()
    with pytest.raises(RequestRefused, match="production serves 1.0.1 now, not 1.0.0; nothing was changed"):
        rollback(world, world.issuer.token_for(CHAIR), version="1.0.0")
    assert world.deps.records.get_pointers("office").production == V101


def test_rollback_replayed_outside_the_window_is_refused() -> None:
    """A weeks-old rollback sent again (with a fresh token) is refused: requested_at is too old."""
    world = rollback_world(window_minutes=20)
    decided = world.clock.now()
    world.clock.advance(timedelta(minutes=21))
    with pytest.raises(RequestRefused, match="is older than 20 minutes"):
        rollback(world, world.issuer.token_for(CHAIR), requested_at=decided)
    with pytest.raises(RequestRefused, match="is in the future"):
        rollback(world, world.issuer.token_for(CHAIR), requested_at=datetime(9999, 1, 1, tzinfo=T0.tzinfo))
    assert world.deps.records.get_pointers("office").production == V101


def test_rollback_with_an_expired_token_is_refused() -> None:
    """A recent requested_at does not revive a token issued hours ago."""
    world = rollback_world()
    old = token_at(world.issuer, CHAIR, world.clock.now() - timedelta(hours=3))
    with pytest.raises(TokenRefused, match="the token expired"):
        rollback(world, old)


def test_rollback_two_person_when_configured() -> None:
    """rollback_approvals_required = 2: the first approval is "1 of 2", the second rolls back."""
    world = rollback_world()
    office = CATALOG.get("office")
    production = office.stages.production.model_copy(update={"rollback_approvals_required": 2})
    stages = office.stages.model_copy(update={"production": production})
    world.deps.catalog = CATALOG.model_copy(
        update={
            "workloads": tuple(
                w.model_copy(update={"stages": stages}) if w.name == "office" else w for w in CATALOG.workloads
            )
        }
    )
    rollback(world, world.issuer.token_for(CHAIR))
    assert world.deps.records.get_pointers("office").production == V101
    world.clock.advance(timedelta(minutes=1))
    with pytest.raises(RequestRefused, match="already approved this"):
        rollback(world, world.issuer.token_for(CHAIR))
    rollback(world, world.issuer.token_for(DEPUTY))
    assert world.deps.records.get_pointers("office").production == V100
