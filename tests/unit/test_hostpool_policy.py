"""Host pool rollout policies in the catalog: validation with clear errors, windows, batch sizes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.domain.catalog import CatalogError, load_catalog
from shared.domain.hostpools import HostPoolPolicy, MaintenanceWindow

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "catalog" / "office.toml").read_text(encoding="utf-8")
POOL = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-avd-hosts/providers/Microsoft.DesktopVirtualization/hostPools/hp-office"
AUTO_POOL = f'''
[[host_pools]]
id = "{POOL}"
rollout = "auto"
batch_size = 2
min_available = 2
drain_grace_minutes = 30
failure_threshold = 1
message = "Please save your work and sign out."

[host_pools.maintenance_window]
days = ["sat", "sun"]
start = "22:00"
duration_minutes = 360
time_zone = "Europe/Amsterdam"
'''


def load_with(tmp_path: Path, extra: str, name: str = "office.toml", base: str = GOOD) -> object:
    (tmp_path / name).write_text(base + extra, encoding="utf-8")
    return load_catalog(tmp_path)


def issues(tmp_path: Path, extra: str) -> set[tuple[str, str]]:
    with pytest.raises(CatalogError) as caught:
        load_with(tmp_path, extra)
    return {(i.field, i.reason) for i in caught.value.issues}


def test_pool_with_auto_policy_loads(tmp_path: Path) -> None:
    """A host pool with an automatic rollout policy and a maintenance window loads with its values."""
    catalog = load_with(tmp_path, AUTO_POOL)
    pool = catalog.get("office").host_pools[0]  # type: ignore[attr-defined]
    assert pool.name == "hp-office"
    assert pool.resource_group == "rg-avd-hosts"
    assert pool.maintenance_window.days == ("saturday", "sunday")
    assert pool.batch(10) == 2


def test_auto_without_window_is_refused_with_field(tmp_path: Path) -> None:
    """rollout = auto without a maintenance window is an error naming the field and the fix."""
    text = AUTO_POOL.split("[host_pools.maintenance_window]")[0]
    found = issues(tmp_path, text)
    assert any(field == "host_pools[0]" and "maintenance_window" in reason for field, reason in found)


def test_bad_values_are_all_reported(tmp_path: Path) -> None:
    """A bad id, both batch settings, an unknown zone, a bad start time and an unknown day: all reported."""
    text = (
        AUTO_POOL.replace(POOL, "/subscriptions/x/hostPools/hp")
        .replace("batch_size = 2", "batch_size = 2\nmax_unavailable_percent = 20")
        .replace("Europe/Amsterdam", "Mars/Olympus")
        .replace('"22:00"', '"25:00"')
        .replace('"sun"]', '"sunnday"]')
    )
    found = issues(tmp_path, text)
    fields = {f for f, _ in found}
    assert "host_pools[0].id" in fields
    assert "host_pools[0].maintenance_window.time_zone" in fields
    assert "host_pools[0].maintenance_window.start" in fields
    assert "host_pools[0].maintenance_window.days[1]" in fields
    reasons = " ".join(r for _, r in found)
    assert "HH:MM" in reasons
    assert "IANA" in reasons
    assert "monday..sunday" in reasons


def test_both_batch_settings_refused() -> None:
    """batch_size and max_unavailable_percent are alternatives, not both."""
    with pytest.raises(ValueError, match="not both"):
        HostPoolPolicy.model_validate({"id": POOL, "batch_size": 1, "max_unavailable_percent": 10})


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    """A typo in a host pool key is an error, never silently ignored."""
    found = issues(tmp_path, AUTO_POOL.replace("drain_grace_minutes", "drain_grace_minute"))
    assert (
        "host_pools[0].drain_grace_minute",
        "unknown key 'drain_grace_minute'; did you mean 'drain_grace_minutes'?",
    ) in found


def test_pool_served_by_two_workloads_is_refused(tmp_path: Path) -> None:
    """One host pool runs one image: a second workload naming it is refused with both files."""
    load_with(tmp_path, AUTO_POOL)
    other = (ROOT / "catalog" / "data-analyst.toml").read_text(encoding="utf-8")
    (tmp_path / "data-analyst.toml").write_text(other + AUTO_POOL, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    [issue] = caught.value.issues
    assert issue.field == "host_pools[0].id"
    assert "already served" in issue.reason


def test_max_unavailable_percent_sizes_batches() -> None:
    """max_unavailable_percent sizes the batch from the pool's host count, at least one host."""
    policy = HostPoolPolicy.model_validate({"id": POOL, "max_unavailable_percent": 25})
    assert (policy.batch(40), policy.batch(3)) == (10, 1)


def test_window_in_local_time_across_midnight() -> None:
    """A Saturday 22:00-04:00 Amsterdam window contains Sunday 01:30 local and opens next Saturday after it."""
    window = MaintenanceWindow(days=("sat",), start="22:00", duration_minutes=360, time_zone="Europe/Amsterdam")
    assert window.contains(datetime(2026, 11, 8, 0, 30, tzinfo=UTC))  # Sunday 01:30 in Amsterdam
    assert not window.contains(datetime(2026, 11, 8, 4, 0, tzinfo=UTC))  # Sunday 05:00 local
    nxt = window.next_opening(datetime(2026, 11, 8, 4, 0, tzinfo=UTC))
    assert nxt == datetime(2026, 11, 14, 21, 0, tzinfo=UTC)
