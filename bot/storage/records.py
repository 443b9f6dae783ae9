"""Plain records that cross the storage boundary; no SQL and no driver types in here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(slots=True)
class Citizen:
    id: int
    channel: str
    chat_key: str
    locale: str | None
    region: str | None = None
    subscribed: bool = False
    sub_regions: tuple[str, ...] = ()
    unreachable: bool = False
    last_inbound_at: datetime | None = None
    news_chosen_at: datetime | None = None  # the citizen's last yes or no to campaign news


@dataclass(slots=True)
class SessionRecord:
    """Where a citizen is in a conversation. `data` is the flow's own dict (JSON-safe)."""

    citizen_id: int
    flow: str
    state: str
    data: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SessionReply:
    """A step's answer kept with the session until it is known to be sent: `payload` as
    `bot.outbound.encode` writes it (JSON), `key` the dedupe key of the message it
    answers, `seq` its place in the order steps committed (on its instance)."""

    payload: bytes
    key: str | None
    seq: int
    by: str | None = None  # several instances: the one that numbered and sends it


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    blob_id: str
    kind: str
    content_type: str
    size: int
    file_name: str | None = None


@dataclass(slots=True)
class TicketDraft:
    """A complaint or a feedback follow-up, ready to be stored. Tips have their own draft."""

    kind: str
    locale: str
    citizen_id: int
    channel: str
    category: str | None = None
    subject: str | None = None
    region: str | None = None
    rating: int | None = None
    summary: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    due_on: date | None = None
    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(slots=True)
class Ticket:
    id: int
    reference: str
    kind: str
    status: str
    privacy: str
    citizen_id: int | None
    channel: str | None
    locale: str
    category: str | None
    subject: str | None
    region: str | None
    rating: int | None
    summary: str | None
    details: dict[str, Any]
    due_on: date | None
    created_at: datetime
    updated_at: datetime
    assignee_id: int | None
    version: int
    redirected_to: str | None = None  # the competent body it was forwarded to
    # When the citizen last wrote to it (None: never since filing); see migration 015.
    last_citizen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    id: int
    ticket_id: int
    author: str
    body: str
    created_at: datetime
    staff_id: int | None = None
    internal: bool = False


@dataclass(frozen=True, slots=True)
class RatingRecord:
    category: str
    rating: int
    locale: str
    centre: str | None = None
    region: str | None = None
    reasons: tuple[str, ...] = ()
    ticket_id: int | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    citizen_id: int
    channel: str
    purpose: str
    payload: dict[str, Any]
    status: str
    attempts: int
    error: str | None
    external_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Satisfaction:
    """What a citizen was asked after a closing, and what they answered (None: not yet)."""

    id: int
    ticket_id: int
    outcome: str
    closed_on: date
    solved: bool | None
    rating: int | None
    answered_at: datetime | None
    reopened: bool


@dataclass(frozen=True, slots=True)
class SatisfactionStat:
    """Closings asked about in one group (a category, a region, an assignee: `key`), and
    what came of them. Rates are None where nobody answered (no closings: no row)."""

    key: str
    asked: int
    answered: int
    solved: int
    rated: int
    rating_sum: int
    reopened: int

    @property
    def solved_share(self) -> float | None:
        return 100 * self.solved / self.answered if self.answered else None

    @property
    def mean_rating(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None

    @property
    def reopen_share(self) -> float:
        return 100 * self.reopened / self.asked


@dataclass(frozen=True, slots=True)
class ReplyTemplate:
    """A canned reply: `texts` by language (kk, ru, en), placeholders not yet filled."""

    id: int
    title: str
    texts: dict[str, str]


@dataclass(frozen=True, slots=True)
class Stat:
    """One figure of the console's statistics: a group, its count, its average rating."""

    key: str
    count: int
    average: float | None = None
