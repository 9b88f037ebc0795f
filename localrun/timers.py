"""Timer triggers on the virtual clock: the Functions host's NCRONTAB schedules, fired locally.

Supports the six-field form the app's settings use ("{second} {minute} {hour} {day} {month}
{day-of-week}") with numbers, lists, steps (*/n) or '*' in the first three fields and '*' in
the date fields; anything richer is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


def _field(text: str, limit: int, name: str) -> tuple[int, ...]:
    if text == "*":
        return tuple(range(limit))
    if text.startswith("*/") and text[2:].isdigit() and int(text[2:]) > 0:
        return tuple(range(0, limit, int(text[2:])))
    values = [int(v) for v in text.split(",") if v.isdigit()]
    if not values or len(values) != len(text.split(",")) or any(v >= limit for v in values):
        raise ValueError(f"unsupported {name} field {text!r} in the timer schedule")
    return tuple(sorted(values))


@dataclass(frozen=True)
class Schedule:
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        parts = expression.split()
        if len(parts) != 6 or parts[3:] != ["*", "*", "*"]:
            raise ValueError(f"unsupported timer schedule {expression!r}: use 'sec min hour * * *'")
        return cls(_field(parts[0], 60, "second"), _field(parts[1], 60, "minute"), _field(parts[2], 24, "hour"))

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment`."""
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        for offset in range(2):
            base = day + timedelta(days=offset)
            for hour in self.hours:
                for minute in self.minutes:
                    for second in self.seconds:
                        fire = base.replace(hour=hour, minute=minute, second=second)
                        if fire > moment:
                            return fire
        raise AssertionError("unreachable: every schedule fires within two days")


@dataclass
class Timer:
    name: str
    schedule: Schedule
    fire: Callable[[], None]
    next_at: datetime
