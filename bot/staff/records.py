"""Records of the staff side that cross the storage boundary; plain dataclasses only."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from bot.deadlines import OPEN_STATUSES as OPEN_STATUSES  # re-exported beside STATUSES
from bot.deadlines import DeadlineView
from bot.storage.records import Ticket

ROLES = ("admin", "reviewer", "investigator", "operator")
STATUSES = ("new", "in_review", "waiting", "resolved", "rejected", "redirected")
KINDS = ("complaint", "feedback", "tip")
# A console session ends after this long unused, and STAFF_SESSION_HOURS after sign-in.
SESSION_IDLE = timedelta(minutes=30)


@dataclass(slots=True)
class StaffUser:
    id: int
    username: str
    role: str
    locale: str
    disabled: bool
    created_at: datetime
    password_hash: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class WaitingKey:
    """An investigator's key that no one trusted with tips has endorsed yet."""

    staff_id: int
    username: str
    made_on: date | None  # None: made before this was recorded
    made_by: str | None  # 'account', 'reset' or 'sign-in' (bot/staff/keys.py)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token's row; the token itself is never stored, only its hash."""

    id: int
    staff_id: int
    label: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked: bool

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def live(self, now: datetime) -> bool:
        return not self.revoked and not self.expired(now)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    target: str | None
    detail: dict[str, Any]
    ip: str | None
    prev_hash: str
    hash: str


# Inbox orders; `queue` puts what needs staff first (bot/storage/sqlite/console.py).
SORT_KEYS = ("queue", "activity", "created", "updated", "due", "status", "reference")


@dataclass(slots=True)
class InboxQuery:
    """Filters of the inbox, the export and the API list. `kinds` is what the role may see."""

    kinds: tuple[str, ...]
    kind: str | None = None
    status: str | None = None
    category: str | None = None
    region: str | None = None
    assignee: int | None = None
    unassigned: bool = False
    overdue: bool = False
    # Open and due on or before this date (today + DEADLINE_REMINDER_DAYS working days).
    due_by: date | None = None
    created_from: datetime | None = None  # UTC, inclusive
    created_before: datetime | None = None  # UTC, exclusive
    text: str | None = None
    ids: tuple[int, ...] | None = None  # only these: the tips a search opened and matched
    sort: str = "queue"
    descending: bool = True
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True, slots=True)
class InboxRow:
    """A ticket as the work queue lists it. `answered`: the citizen wrote after the last
    staff message; `due_soon`: open and due within a few working days (or overdue)."""

    ticket: Ticket
    assignee_name: str | None
    overdue: bool
    answered: bool = False
    due_soon: bool = False
    last_activity: datetime | None = None  # the later of the ticket's update and its last message
    answer: str | None = None  # the citizen's answer when `answered`; a tip's stays sealed
    redirect_late: bool = False  # still "new" after the 3 working days to forward it
    reopened: bool = False  # the citizen said "not solved" since staff last acted on it


@dataclass(frozen=True, slots=True)
class InboxPage:
    rows: list[InboxRow]
    total: int
    status_counts: dict[str, int]
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def row_of(ticket: Ticket, assignee_name: str | None, marks: DeadlineView) -> InboxRow:
    """A ticket as a list shows it, with today's deadline marks."""
    return InboxRow(
        ticket,
        assignee_name,
        marks.overdue(ticket.due_on, ticket.status),
        due_soon=marks.due_soon(ticket.due_on, ticket.status),
        redirect_late=marks.redirect_late(ticket.created_at, ticket.status),
    )


def marked(page: InboxPage, marks: DeadlineView) -> InboxPage:
    """The page with the redirect warning on its rows (still "new" 3 working days on)."""
    rows = [
        replace(r, redirect_late=marks.redirect_late(r.ticket.created_at, r.ticket.status))
        for r in page.rows
    ]
    return replace(page, rows=rows)


@dataclass(frozen=True, slots=True)
class TicketEvent:
    actor: str
    action: str
    detail: dict[str, Any]
    created_at: datetime
