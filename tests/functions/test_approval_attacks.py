"""The attacks of issue 12, sent to the image_approvals function as an attacker with "Send" could.

Each starts from data-analyst 1.0.0 validated in validation (one step from production) and
checks that production is untouched, or that the honest answer is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from localrun.runtime import LocalRuntime
from localrun.scenario import build, promote, to_production
from shared import bootstrap
from shared.domain.approvals import approval_message_id
from shared.domain.catalog import load_catalog
from shared.domain.model import BuildReason, Stage, Status, VersionNumber
from tests.functions.conftest import CURRENT, ROOT, approval, as_, bus_message, function, signed

V100, V101 = VersionNumber.parse("1.0.0"), VersionNumber.parse("1.0.1")


@pytest.fixture
def validated() -> Iterator[LocalRuntime]:
    """data-analyst 1.0.0 passed validation: one step from production."""
    runtime = LocalRuntime(load_catalog(ROOT / "catalog"))
    build(runtime, "data-analyst", "first-build", BuildReason.FIRST)
    promote(runtime, "data-analyst", "1.0.0", Stage.VALIDATION)
    bootstrap.use(runtime.entrypoints)
    CURRENT.append(runtime)
    yield runtime
    CURRENT.remove(runtime)
    bootstrap.use(None)


def send(runtime: LocalRuntime, body: str, message_id: str = "m-1") -> None:
    function("image_approvals")(bus_message(body, message_id))
    runtime.run()


def production(**fields: Any) -> str:
    return approval(target_stage="production", **fields)


def reasons(runtime: LocalRuntime) -> list[str]:
    return [r.reason for r in runtime.records.list_rejections()]


def test_a_body_field_naming_the_change_board_promotes_nothing(validated: LocalRuntime) -> None:
    """The old attack: "approver": "change-board@contoso.com" in the body proves nothing."""
    body = json.dumps({**json.loads(production()), "approver": "change-board@contoso.com"})
    body = json.dumps({k: v for k, v in json.loads(body).items() if k != "approver_token"})
    send(validated, body)
    assert validated.records.get_pointers("data-analyst").production is None
    assert "'approver' is no longer accepted" in reasons(validated)[0]


def test_one_message_is_not_enough_for_production(validated: LocalRuntime) -> None:
    """One change board member's signed approval is "1 of 2"; production waits for a second person."""
    send(validated, production(approver_token=as_("cab-chair@contoso.com")))
    version = validated.records.get_version("data-analyst", V100)
    assert (version.status, version.stage) == (Status.READY, Stage.VALIDATION)
    assert validated.records.get_pointers("data-analyst").production is None
    events = [e for e in validated.records.list_events("data-analyst", V100) if e.kind == "approval-recorded"]
    assert events[-1].detail.startswith("1 of 2 approvals for production")
    send(validated, production(approver_token=as_("cab-deputy@contoso.com")), "m-2")
    assert validated.records.get_pointers("data-analyst").production == V100


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("forged:unsigned", "algorithm 'none' is refused"),
        ("forged:unknown-key", "which the tenant does not publish"),
        ("forged:wrong-audience", "not this app"),
        ("forged:wrong-issuer", "is not the configured tenant"),
        ("forged:expired", "the token expired at"),
        ("forged:non-approver", "mallory@contoso.com (7fb15138-9a0d-4ec5-b172-3d805e6f7b17) is not an allowed"),
    ],
)
def test_forged_approvals_leave_production_untouched(validated: LocalRuntime, token: str, reason: str) -> None:
    """A forged or foreign token is refused with its reason; the version record is not rewritten."""
    before = validated.records.get_version("data-analyst", V100)
    send(validated, production(approver_token=token))
    after = validated.records.get_version("data-analyst", V100)
    assert after.model_dump() == before.model_dump()
    assert validated.records.get_pointers("data-analyst").production is None
    assert len(reasons(validated)) == 1
    assert reason in reasons(validated)[0]


def test_the_same_person_twice_is_not_two_people(validated: LocalRuntime) -> None:
    """A second message by the same principal (new token, new ticket) is refused."""
    send(validated, production(approver_token=as_("cab-chair@contoso.com")))
    validated.sim.clock.advance(180)
    send(validated, production(approver_token=as_("cab-chair@contoso.com"), ticket="CHG-2"), "m-2")
    assert validated.records.get_pointers("data-analyst").production is None
    assert "already approved this (1 of 2 approvals for production)" in reasons(validated)[0]


def test_promotion_to_a_stage_already_passed_answers_nothing_to_do(validated: LocalRuntime) -> None:
    """Re-approving validation says "nothing to do", not "approved", and is not a rejection."""
    body = signed(approval(target_stage="validation"))
    handled = validated.entrypoints.approval(approval_message_id(body), body)
    assert handled.nothing_to_do
    assert handled.note.startswith("nothing to do: 1.0.0 already passed validation")
    assert reasons(validated) == []


def test_a_request_dated_year_9999_is_refused(validated: LocalRuntime) -> None:
    """requested_at is checked: a date in the future is refused."""
    send(validated, production(approver_token=as_("cab-chair@contoso.com"), requested_at="9999-12-31T00:00:00Z"))
    assert "is in the future" in reasons(validated)[0]


def test_a_corrected_approval_is_not_dropped_as_a_duplicate(validated: LocalRuntime) -> None:
    """With the documented content-derived MessageId a corrected re-send is a new message."""
    wrong = signed(production(approver_token=as_("cab-chair@contoso.com"), ticket="CHG-typo"))
    corrected = signed(production(approver_token=as_("cab-chair@contoso.com"), ticket="CHG-1"))
    assert approval_message_id(wrong) != approval_message_id(corrected)
    assert approval_message_id(wrong) == approval_message_id(json.dumps(json.loads(wrong), indent=1))
    validated.approve(corrected)
    validated.approve(corrected)  # an identical re-send is still a duplicate
    validated.run()
    assert validated.bus.stats.duplicates_dropped >= 1
    (approval_,) = [
        a for a in validated.records.get_version("data-analyst", V100).approvals if a.stage is Stage.PRODUCTION
    ]
    assert approval_.ticket == "CHG-1"


def rolled_forward(runtime: LocalRuntime) -> None:
    """1.0.0 in production and dr, then the patch 1.0.1 in production (1.0.0 is the rollback target)."""
    to_production(runtime, "data-analyst", "1.0.0", dr=False)
    runtime.sim.clock.advance(10 * 86400)
    build(runtime, "data-analyst", "patch", BuildReason.PATCH)
    to_production(runtime, "data-analyst", "1.0.1", dr=False)
    assert runtime.records.get_pointers("data-analyst").production == V101


def rollback(**fields: Any) -> str:
    return approval(action="rollback", target_stage=..., version="1.0.1", **fields)


def test_rollback_by_someone_who_is_no_approver_is_refused(validated: LocalRuntime) -> None:
    """The QA lead (an approver of validation elsewhere) cannot withdraw production."""
    rolled_forward(validated)
    send(validated, rollback(approver_token=as_("qa-lead@contoso.com")))
    assert validated.records.get_pointers("data-analyst").production == V101
    assert "qa-lead@contoso.com (1c5e9b72" in reasons(validated)[0]


def test_a_replayed_rollback_cannot_withdraw_the_fixed_version(validated: LocalRuntime) -> None:
    """A rollback of 1.0.1, replayed after production moved on, is refused: it names 1.0.1."""
    rolled_forward(validated)
    send(validated, rollback(approver_token=as_("cab-chair@contoso.com")))
    assert validated.records.get_pointers("data-analyst").production == V100
    validated.sim.clock.advance(300)
    old = validated.records.list_rejections()
    send(validated, rollback(approver_token=as_("cab-deputy@contoso.com"), ticket="replay"), "m-2")
    assert validated.records.get_pointers("data-analyst").production == V100
    assert len(validated.records.list_rejections()) == len(old) + 1
    assert "production serves 1.0.0 now, not 1.0.1" in reasons(validated)[-1]


def test_a_rollback_replayed_outside_the_window_is_refused(validated: LocalRuntime) -> None:
    """A weeks-old rollback sent again with a fresh token is refused because requested_at is old."""
    rolled_forward(validated)
    decided = (validated.sim.clock.now() - timedelta(days=21)).isoformat()
    send(validated, rollback(approver_token=as_("cab-chair@contoso.com"), requested_at=decided))
    assert validated.records.get_pointers("data-analyst").production == V101
    assert "is older than 20 minutes" in reasons(validated)[0]
