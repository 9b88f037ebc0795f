"""A promotion's first look at its replication follows how late the workload's events come.

The approval that completes a promotion starts the replication and schedules its first look.
While events come at once that look is the safety net (the replication's event continues it);
once the workload's runs measured events coming late, a look on the back-off is the faster news.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.config import Settings
from shared.domain.model import Stage, Status
from shared.domain.records import Changes
from shared.steps import waits
from tests.unit.test_approvals import CHAIR, DEPUTY, World


def approved(event_lag: float | None) -> list[timedelta]:
    """Two approvals for production with Event Grid on; the waits of the messages the second sends."""
    world = World(settings=Settings(event_grid=True))
    pointers = world.deps.records.get_pointers("office").evolve(event_lag=event_lag)
    world.deps.records.commit(Changes(workload="office", pointers=pointers))
    world.promote(world.issuer.token_for(CHAIR))
    messages = world.bus.handle(world.command(world.issuer.token_for(DEPUTY)))
    assert world.status == (Status.REPLICATING, Stage.VALIDATION, Stage.PRODUCTION)
    now = world.clock.now()
    return [m.scheduled_for - now for m in messages if m.scheduled_for is not None]


@pytest.mark.parametrize(
    ("event_lag", "first"),
    [
        (None, waits.EVENT_ALLOWANCE),  # nothing measured: the safety net behind the event
        (3.0, waits.EVENT_ALLOWANCE),  # events at once
        (90.0, waits.FINE),  # events 90 s late: a look on the back-off, from its finer floor
    ],
)
def test_the_first_look_at_a_promotions_replication(event_lag: float | None, first: timedelta) -> None:
    """Events measured 90 s late: the replication is first looked at after 6 s, not after 6 minutes."""
    assert approved(event_lag) == [first]
