"""Host pool policy rules pinned literally: ids, time zones, batch sizes, window edges, inventory counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from shared.domain.hostpools import (
    HostPoolPolicy,
    MaintenanceWindow,
    PoolInventory,
    PoolRecord,
    Rollout,
    SessionHostState,
    versions_in_use,
)

SUB = "00000000-0000-0000-0000-000000000000"
POOL = f"/subscriptions/{SUB}/resourceGroups/rg-avd-hosts/providers/Microsoft.DesktopVirtualization/hostPools/hp-office"


def window(**changes: object) -> MaintenanceWindow:
    fields: dict[str, object] = {"days": ("sat",), "start": "22:00", "duration_minutes": 60, "time_zone": "UTC"}
    return MaintenanceWindow.model_validate(fields | changes)


def test_a_bad_pool_id_is_refused_with_the_expected_shape() -> None:
    """Anything but a full host pool resource id is refused, showing the shape an id must have."""
    with pytest.raises(ValueError, match="must be a host pool resource id") as caught:
        HostPoolPolicy.model_validate({"id": f"/subscriptions/{SUB}/hostPools/hp"})
    assert (
        "must be a host pool resource id: /subscriptions/<guid>/resourceGroups/<group>"
        "/providers/Microsoft.DesktopVirtualization/hostPools/<name>"
    ) in str(caught.value)


def test_pool_name_group_and_key_come_from_the_id() -> None:
    """The pool's name and group are read from its id; the key is the lower-case name plus a digest."""
    policy = HostPoolPolicy(id=POOL.replace("hp-office", "HP-Office"))
    assert (policy.name, policy.resource_group) == ("HP-Office", "rg-avd-hosts")
    assert policy.key.startswith("hp-office-")
    assert len(policy.key) == len("hp-office-") + 8
    assert policy.key == HostPoolPolicy(id=POOL).key  # the id is compared without case


def test_an_unknown_time_zone_is_refused_without_a_guess_when_nothing_is_close() -> None:
    """A zone with no near name gets the rule alone."""
    with pytest.raises(ValueError, match="unknown time zone") as caught:
        window(time_zone="Mars/Olympus")
    assert caught.value.errors()[0]["msg"] == (  # type: ignore[attr-defined]
        "Value error, unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Amsterdam"
    )


def test_an_unknown_time_zone_suggests_at_most_three_zones_ending_alike() -> None:
    """A city without its region is answered with the zones that end with it, three at most."""
    with pytest.raises(ValueError, match="did you mean") as caught:
        window(time_zone="Amsterdam")
    assert "unknown time zone 'Amsterdam': use an IANA name such as Europe/Amsterdam (did you mean " in str(
        caught.value
    )
    assert "Europe/Amsterdam?)" in str(caught.value)
    with pytest.raises(ValueError, match="did you mean") as many:
        window(time_zone="Nowhere/a")
    assert many.value.errors()[0]["msg"].endswith(  # type: ignore[attr-defined]
        "(did you mean Africa/Accra, Africa/Addis_Ababa, Africa/Asmara?)"
    )


@pytest.mark.parametrize(
    ("settings", "hosts", "batch"),
    [
        ({}, 40, 1),
        ({"batch_size": 3}, 40, 3),
        ({"max_unavailable_percent": 25}, 8, 2),
        ({"max_unavailable_percent": 25}, 7, 1),
        ({"max_unavailable_percent": 50}, 1, 1),
        ({"max_unavailable_percent": 100}, 5, 5),
    ],
)
def test_batch_sizes(settings: dict[str, int], hosts: int, batch: int) -> None:
    """One host by default, the fixed size when set, else the floor of the percentage and never zero."""
    assert HostPoolPolicy.model_validate({"id": POOL} | settings).batch(hosts) == batch


def test_a_window_is_open_from_its_start_up_to_but_not_at_its_end() -> None:
    """Saturday 22:00 for 60 minutes: 22:00 is inside, 22:59 inside, 23:00 and 21:59 outside."""
    w = window()
    assert w.contains(datetime(2026, 11, 7, 22, 0, tzinfo=UTC))  # a Saturday
    assert w.contains(datetime(2026, 11, 7, 22, 59, tzinfo=UTC))
    assert not w.contains(datetime(2026, 11, 7, 23, 0, tzinfo=UTC))
    assert not w.contains(datetime(2026, 11, 7, 21, 59, tzinfo=UTC))
    assert not w.contains(datetime(2026, 11, 8, 22, 30, tzinfo=UTC))  # Sunday: not a window day


def test_a_window_that_began_yesterday_is_still_open_until_its_end() -> None:
    """A 24-hour window from Saturday 22:00 covers Sunday 21:59 but not Sunday 22:00."""
    w = window(duration_minutes=24 * 60)
    assert w.contains(datetime(2026, 11, 8, 21, 59, tzinfo=UTC))
    assert not w.contains(datetime(2026, 11, 8, 22, 0, tzinfo=UTC))


def test_the_window_day_is_the_local_day_not_the_utc_day() -> None:
    """Monday 01:00 in Tokyo is Sunday 16:00 UTC: the window opens then, not on UTC Monday."""
    w = window(days=("mon",), start="01:00", time_zone="Asia/Tokyo")
    assert w.contains(datetime(2026, 11, 8, 16, 30, tzinfo=UTC))  # Monday 01:30 in Tokyo
    assert not w.contains(datetime(2026, 11, 9, 16, 30, tzinfo=UTC))  # Tuesday 01:30 in Tokyo
    assert w.next_opening(datetime(2026, 11, 8, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 8, 16, 0, tzinfo=UTC)


def test_the_next_opening_is_now_inside_a_window_else_the_next_start() -> None:
    """Inside a window the answer is `after` itself; before today's start it is today's start."""
    w = window(days=("sat", "sun"))
    inside = datetime(2026, 11, 7, 22, 30, tzinfo=UTC)
    assert w.next_opening(inside) == inside
    assert w.next_opening(datetime(2026, 11, 7, 10, 0, tzinfo=UTC)) == datetime(2026, 11, 7, 22, 0, tzinfo=UTC)
    assert w.next_opening(datetime(2026, 11, 7, 23, 0, tzinfo=UTC)) == datetime(2026, 11, 8, 22, 0, tzinfo=UTC)


def test_a_window_starts_at_its_minute() -> None:
    """A 22:30 start opens at 22:30, not on the hour."""
    w = window(start="22:30")
    assert not w.contains(datetime(2026, 11, 7, 22, 29, tzinfo=UTC))
    assert w.contains(datetime(2026, 11, 7, 22, 30, tzinfo=UTC))
    assert w.next_opening(datetime(2026, 11, 7, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 7, 22, 30, tzinfo=UTC)


def test_a_weekly_window_just_missed_opens_seven_days_later() -> None:
    """Just after a one-day-a-week window closes, the next opening is exactly a week after the last."""
    w = window()
    assert w.next_opening(datetime(2026, 11, 7, 23, 0, tzinfo=UTC)) == datetime(2026, 11, 14, 22, 0, tzinfo=UTC)


def host(
    name: str, version: str, *, status: str = "Available", drain: bool = False, sessions: int = 0
) -> SessionHostState:
    return SessionHostState(
        name=name,
        status=status,
        last_heartbeat=None,
        allow_new_session=not drain,
        sessions=sessions,
        vm_id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}/",
        exact_version=version,
    )


def test_inventory_counts_versions_drained_busy_and_available_hosts() -> None:
    """Hosts are counted per exact version ("unknown" when none), drained, with sessions, and available."""
    inv = PoolInventory(
        workload="office",
        pool=HostPoolPolicy(id=POOL),
        hosts=(
            host("h1", "1.0.0", sessions=2),
            host("h2", "1.0.0", drain=True),
            host("h3", "", status="Unavailable"),
            host("h4", "1.1.0"),
        ),
    )
    assert inv.by_version() == Counter({"1.0.0": 2, "unknown": 1, "1.1.0": 1})
    assert (inv.drained, inv.with_sessions, inv.available) == (1, 1, 2)
    assert inv.hosts[0].vm_name == "h1"


def test_versions_in_use_lists_each_pool_once_per_version() -> None:
    """Each version maps to the names of the pools whose hosts run it, in pool order."""
    other = POOL.replace("hp-office", "hp-other")
    office = PoolInventory("office", HostPoolPolicy(id=POOL), (host("a", "1.0.0"), host("b", "1.0.0")))
    second = PoolInventory("office", HostPoolPolicy(id=other), (host("c", "1.0.0"), host("d", "1.1.0")))
    assert versions_in_use([office, second]) == {"1.0.0": ["hp-office", "hp-other"], "1.1.0": ["hp-other"]}
    assert versions_in_use([]) == {}


def test_records_evolve_into_changed_copies() -> None:
    """evolve returns a copy with the change, leaving the original as it was."""
    record = PoolRecord(workload="office", pool_key="k", pool_id=POOL)
    assert record.evolve(active_run="r1").active_run == "r1"
    assert record.active_run is None
    run = Rollout(
        workload="office",
        pool_id=POOL,
        pool_key="k",
        run_id="r1",
        target_version="1.0.0",
        target_image_id="/x",
        requested_by="a@b.c",
        started_at=datetime(2026, 11, 7, tzinfo=UTC),
    )
    assert run.evolve(step="drain").step == "drain"
    assert run.step == "plan"
