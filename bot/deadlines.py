"""The deadlines of Administrative Procedural Code art. 76, computed from dates alone.

An appeal is answered within APPEAL_WORKING_DAYS working days; a reasoned extension may
take it to at most two months past the original deadline; an appeal outside the body's
competence is forwarded within three working days of filing. Nothing here is stored:
"due soon", "overdue" and "redirect late" are read off the dates whenever they are shown.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from bot.i18n import TIMEZONE
from bot.workdays import add_working_days

EXTENSION_MONTHS = 2
REDIRECT_WORKING_DAYS = 3
OPEN_STATUSES = ("new", "in_review", "waiting")


def extension_limit(original: date) -> date:
    """The latest deadline an extension may set: two calendar months after `original`
    (31 December → 28 or 29 February)."""
    month = original.month + EXTENSION_MONTHS
    year, month = original.year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, min(original.day, calendar.monthrange(year, month)[1]))


def soon_until(today: date, reminder_days: int, days_off: frozenset[date]) -> date:
    """The last deadline that counts as "due soon" today: `reminder_days` working days on."""
    return add_working_days(today, reminder_days, days_off)


def is_overdue(due_on: date | None, status: str, today: date) -> bool:
    return due_on is not None and due_on < today and status in OPEN_STATUSES


def is_due_soon(due_on: date | None, status: str, until: date) -> bool:
    """Open and due by `until`; an overdue ticket is due soon too (the queue puts both first)."""
    return due_on is not None and due_on <= until and status in OPEN_STATUSES


def redirect_deadline(filed: date, days_off: frozenset[date]) -> date:
    return add_working_days(filed, REDIRECT_WORKING_DAYS, days_off)


def forwarding_late(filed: date, today: date, days_off: frozenset[date]) -> bool:
    """Forwarding to another body today would be late, whatever the ticket's status."""
    return today > redirect_deadline(filed, days_off)


def redirect_late(filed: date, status: str, today: date, days_off: frozenset[date]) -> bool:
    """A ticket nobody has triaged ("new") once the days to forward it elsewhere are gone:
    the queue's warning (every older ticket in review would be noise there)."""
    return status == "new" and forwarding_late(filed, today, days_off)


@dataclass(frozen=True, slots=True)
class DeadlineView:
    """Today's marks for a list of tickets: one reminder horizon, one calendar of days off."""

    today: date
    reminder_days: int
    days_off: frozenset[date]

    @property
    def soon_until(self) -> date:
        return soon_until(self.today, self.reminder_days, self.days_off)

    def overdue(self, due_on: date | None, status: str) -> bool:
        return is_overdue(due_on, status, self.today)

    def due_soon(self, due_on: date | None, status: str) -> bool:
        return is_due_soon(due_on, status, self.soon_until)

    def redirect_late(self, created_at: datetime, status: str) -> bool:
        return redirect_late(filed_on(created_at), status, self.today, self.days_off)

    def forwarding_late(self, created_at: datetime) -> bool:
        return forwarding_late(filed_on(created_at), self.today, self.days_off)


def filed_on(created_at: datetime) -> date:
    """The filing day the working days count from, in Kazakhstan's time."""
    return created_at.astimezone(TIMEZONE).date()
