"""Deadlines in working days, the way the law on appeals counts them.

An appeal must be answered within a number of working days (15 by default), so a deadline
skips Saturdays, Sundays and the days off listed in data/holidays.json.
"""

from __future__ import annotations

from datetime import date, timedelta


def add_working_days(start: date, days: int, days_off: frozenset[date]) -> date:
    """The date on which `days` working days after `start` have passed.

    The term begins on the day after the event (the day of receipt itself is not counted),
    and only working days count: an appeal received on a Friday before a three-day Nauryz
    break does not lose those days. days_off must include carried-over days off, which
    data/holidays.json lists explicitly. With days=0 the answer is `start` itself.
    """
    if days < 0:
        raise ValueError(f"days must not be negative, got {days}")
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in days_off:
            remaining -= 1
    return current
