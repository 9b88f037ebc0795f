"""Retention decisions over one literal estate: every action and the exact reason an admin reads."""

from __future__ import annotations

from datetime import timedelta

from shared.domain import retention
from shared.domain.catalog import Retention
from shared.domain.model import Pointers, Status, VersionNumber
from shared.domain.retention import Action, Decision, in_use_key
from tests.conftest import T0, make_version

DEFINITION = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/d"
V = VersionNumber.parse


def gid(number: str) -> str:
    return f"{DEFINITION}/versions/{number}"


def version(number: str, status: Status, *, captured: bool = True, days: int | None = None) -> object:
    return make_version(
        number,
        status=status,
        gallery_version_id=gid(number) if captured else "",
        end_of_life=None if days is None else T0 + timedelta(days=days),
    )


ESTATE = [
    version("2.0.0", Status.BUILDING, captured=False),
    version("1.9.0", Status.WITHDRAWN),
    version("1.8.0", Status.READY),
    version("1.7.0", Status.READY),
    version("1.6.0", Status.READY),
    version("1.5.0", Status.READY),
    version("1.4.0", Status.SUPERSEDED),
    version("1.3.0", Status.SUPERSEDED),
    version("1.2.0", Status.SUPERSEDED),
    version("1.1.0", Status.SUPERSEDED),
    version("1.0.5", Status.WITHDRAWN),
    version("1.0.4", Status.FAILED),
    version("1.0.3", Status.FAILED, captured=False),
    version("1.0.2", Status.DEPRECATED, days=-1),
    version("1.0.1", Status.DEPRECATED, days=3),
    version("1.0.0", Status.DELETED),
    version("0.9.0", Status.DEPRECATED),
    version("0.8.0", Status.DEPRECATED, days=0),
]
POINTERS = Pointers(
    workload="office", test=V("1.8.0"), validation=V("1.7.0"), production=V("1.5.0"), rollback=V("1.4.0")
)
POLICY = Retention(keep=4, pinned=("1.3.0",), grace_days=14)
IN_USE = {gid("1.2.0").lower(): 2}
GRACE = T0 + timedelta(days=14)


def test_every_live_version_gets_the_action_and_reason_an_admin_expects() -> None:
    """Newest first, deleted versions skipped, each kept one with its most important role."""
    decisions = retention.plan(ESTATE, POINTERS, POLICY, IN_USE, T0)  # type: ignore[arg-type]
    got = [(str(d.version), d.action, d.reason, d.end_of_life) for d in decisions]
    kept = "withdrawn by a rollback; kept for investigation until a newer version reaches production"
    assert got == [
        ("2.0.0", Action.KEEP, "building (in progress)", None),
        ("1.9.0", Action.KEEP, kept, None),
        ("1.8.0", Action.KEEP, "serves test", None),
        ("1.7.0", Action.KEEP, "serves validation", None),
        ("1.6.0", Action.KEEP, "one of the newest 4", None),
        ("1.5.0", Action.KEEP, "serves production", None),
        ("1.4.0", Action.KEEP, "production rollback target", None),
        ("1.3.0", Action.KEEP, "pinned in the catalog", None),
        ("1.2.0", Action.KEEP, "used by a VM or scale set", None),
        ("1.1.0", Action.DEPRECATE, "superseded, not among the newest 4 and not in use", GRACE),
        ("1.0.5", Action.DEPRECATE, "withdrawn and not in use; withdrawn versions do not count as newest", GRACE),
        ("1.0.4", Action.DEPRECATE, "failed and not in use; failed versions do not count as newest", GRACE),
        ("1.0.3", Action.DELETE, "failed before capture; nothing in Azure", None),
        ("1.0.2", Action.DELETE, "end of life 2026-10-31 passed", None),
        ("1.0.1", Action.KEEP, "deprecated until 2026-11-04", None),
        ("0.9.0", Action.DELETE, "end of life 2026-11-01 passed", None),
        ("0.8.0", Action.DELETE, "end of life 2026-11-01 passed", None),
    ]
    live = [v for v in ESTATE if v.status is not Status.DELETED]  # type: ignore[attr-defined]
    assert [d.display_name for d in decisions] == [v.display_name for v in live]  # type: ignore[attr-defined]
    assert decisions[0] == Decision(V("2.0.0"), ESTATE[0].display_name, Action.KEEP, "building (in progress)")  # type: ignore[attr-defined]


def test_the_most_important_role_names_the_reason() -> None:
    """A version that serves production and DR is kept as "serves production"; DR alone says dr."""
    both = [make_version("1.0.0", status=Status.READY, gallery_version_id=gid("1.0.0"))]
    pointers = Pointers(workload="office", production=V("1.0.0"), dr=V("1.0.0"), test=V("1.0.0"))
    [decision] = retention.plan(both, pointers, Retention(keep=1), {}, T0)
    assert decision.reason == "serves production"
    [dr_only] = retention.plan(both, Pointers(workload="office", dr=V("1.0.0")), Retention(keep=1), {}, T0)
    assert dr_only.reason == "serves dr"


def test_a_rollback_target_that_also_serves_dr_is_named_the_rollback_target() -> None:
    """The rollback role outranks dr, validation and test."""
    old = [make_version("1.0.0", status=Status.SUPERSEDED, gallery_version_id=gid("1.0.0"))]
    pointers = Pointers(workload="office", rollback=V("1.0.0"), dr=V("1.0.0"), validation=V("1.0.0"))
    [decision] = retention.plan(old, pointers, Retention(keep=1), {}, T0)
    assert decision.reason == "production rollback target"


def test_a_scale_set_on_latest_keeps_every_captured_version_of_its_definition() -> None:
    """A definition referenced without exactVersion might run any version: none is retired."""
    old = [
        make_version("1.0.1", status=Status.READY, gallery_version_id=gid("1.0.1")),
        make_version("1.0.0", status=Status.SUPERSEDED, gallery_version_id=gid("1.0.0").upper()),
    ]
    decisions = retention.plan(old, Pointers(workload="office"), Retention(keep=1), {DEFINITION.lower(): 1}, T0)
    assert [d.reason for d in decisions] == [
        "a scale set deploys its definition ('latest') without saying which version runs",
    ] * 2


def test_a_withdrawn_version_older_than_production_is_not_kept_for_investigation() -> None:
    """Once a newer version serves production, the withdrawn one is retired; with no production it stays."""
    withdrawn = [make_version("1.0.0", status=Status.WITHDRAWN, gallery_version_id=gid("1.0.0"))]
    [kept] = retention.plan(withdrawn, Pointers(workload="office"), Retention(keep=1), {}, T0)
    assert kept.action is Action.KEEP
    older = Pointers(workload="office", production=V("0.9.0"))
    [same] = retention.plan(withdrawn, older, Retention(keep=1), {}, T0)
    assert same.reason == "withdrawn by a rollback; kept for investigation until a newer version reaches production"


def test_deprecated_versions_never_take_one_of_the_newest_places() -> None:
    """keep = 1 with a deprecated newest version keeps the next usable one as "one of the newest 1"."""
    estate = [
        make_version(
            "1.0.2", status=Status.DEPRECATED, gallery_version_id=gid("1.0.2"), end_of_life=T0 + timedelta(days=1)
        ),
        make_version("1.0.1", status=Status.SUPERSEDED, gallery_version_id=gid("1.0.1")),
        make_version("1.0.0", status=Status.SUPERSEDED, gallery_version_id=gid("1.0.0")),
    ]
    got = [
        (str(d.version), d.action, d.reason)
        for d in retention.plan(estate, Pointers(workload="office"), Retention(keep=1), {}, T0)
    ]
    assert got == [
        ("1.0.2", Action.KEEP, "deprecated until 2026-11-02"),
        ("1.0.1", Action.KEEP, "one of the newest 1"),
        ("1.0.0", Action.DEPRECATE, "superseded, not among the newest 1 and not in use"),
    ]


def test_in_use_keys_are_lower_case_version_ids_or_the_definition() -> None:
    """exactVersion (trimmed) completes a definition reference; anything not a gallery image is None."""
    assert in_use_key(DEFINITION, " 1.0.1 ") == gid("1.0.1").lower()
    assert in_use_key(gid("1.0.0") + "/", "9.9.9") == gid("1.0.0").lower()
    assert in_use_key(DEFINITION + "/", "") == DEFINITION.lower()
    assert in_use_key(None, "1.0.0") is None
    assert in_use_key("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/managed", "1") is None
    assert retention.in_use_of(
        {gid("1.0.0").lower(): 1, DEFINITION.lower(): 2, DEFINITION.lower() + "x/versions/1": 3}, DEFINITION
    ) == {
        gid("1.0.0").lower(): 1,
        DEFINITION.lower(): 2,
    }
