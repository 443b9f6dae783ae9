"""The storage protocols the core and the flows program against."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.staff.throttle import Count
from bot.storage.records import (
    AttachmentRef,
    Citizen,
    OutboxRow,
    RatingRecord,
    ReplyTemplate,
    Satisfaction,
    SatisfactionStat,
    SessionRecord,
    SessionReply,
    ThreadMessage,
    Ticket,
    TicketDraft,
)
from bot.storage.rotation import RotationStore
from bot.storage.tips import TipStore

if TYPE_CHECKING:  # the staff protocols build on these: a cycle only for the checker
    from bot.storage.staff import StaffTx


class CitizenStore(Protocol):
    async def get_or_create(
        self, channel: str, chat_key: str, *, now: datetime
    ) -> tuple[Citizen, bool]: ...
    async def get(self, citizen_id: int) -> Citizen | None: ...
    async def find(self, channel: str, chat_key: str) -> Citizen | None: ...
    async def save(self, citizen: Citizen) -> None: ...
    async def mark_blocked(self, citizen_id: int) -> None:
        """Unreachable and unsubscribed: the platform said the citizen blocked the bot."""
        ...

    async def hold(self, citizen_id: int) -> None:
        """Until the unit ends, the citizen's steps wait (and it waits for a step under
        way): for a unit that changes their session or outbox from outside a step."""
        ...

    async def get_or_create_with_session(
        self, channel: str, chat_key: str, *, now: datetime, linked: Sequence[str] = ()
    ) -> tuple[Citizen, bool, SessionRecord | None]:
        """`get_or_create` and the citizen's session (None if there is none), in one read.
        `linked`: other keys of the same chat, linked to the citizen (several citizens
        found by them are merged into one)."""
        ...


class SessionStore(Protocol):
    async def load(self, citizen_id: int) -> SessionRecord | None: ...
    async def save(
        self, record: SessionRecord, *, now: datetime, reply: SessionReply | None = None
    ) -> None: ...
    async def reply(self, citizen_id: int) -> SessionReply | None: ...
    async def replies_after(
        self, seq: int, *, by: str | None = None
    ) -> list[tuple[int, SessionReply]]: ...
    async def drop_replies(self, citizen_ids: list[int], *, by: str | None = None) -> None: ...
    async def last_reply_seq(self) -> int: ...
    async def reply_watermark(self, *, by: str | None = None) -> int | None: ...
    async def set_reply_watermark(
        self, seq: int, *, by: str | None = None, keep: bool = False
    ) -> None: ...
    async def reply_holders(self) -> set[str]: ...
    async def take_reply_holder(self, by: str) -> int | None: ...
    async def delete(self, citizen_id: int) -> None: ...
    async def count_since(self, since: datetime) -> int: ...
    async def purge_before(
        self, before: datetime, *, flows: tuple[str, ...] = (), keep: tuple[str, ...] = ()
    ) -> int: ...


class ProcessedStore(Protocol):
    async def seen(self, key: str) -> bool: ...
    async def claim(self, key: str, *, now: datetime) -> bool: ...
    async def mark(self, key: str, *, now: datetime) -> None: ...
    async def purge_before(self, before: datetime) -> int: ...


class TicketStore(Protocol):
    async def add(self, draft: TicketDraft, *, reference: str, now: datetime) -> Ticket: ...
    async def get(self, ticket_id: int) -> Ticket | None: ...
    async def by_reference(self, reference: str) -> Ticket | None: ...
    async def for_citizen(self, citizen_id: int, *, limit: int = 10) -> list[Ticket]: ...
    async def awaiting_answer(self, citizen_id: int) -> list[Ticket]: ...
    async def for_sent_message(self, citizen_id: int, external_id: str) -> Ticket | None: ...
    async def reference_exists(self, reference: str) -> bool: ...
    async def set_status(self, ticket_id: int, status: str, *, now: datetime) -> None: ...
    async def add_message(
        self,
        ticket_id: int,
        *,
        author: str,
        body: str,
        now: datetime,
        staff_id: int | None = None,
        internal: bool = False,
    ) -> ThreadMessage: ...
    async def messages(self, ticket_id: int, *, include_internal: bool) -> list[ThreadMessage]: ...
    async def add_event(
        self, ticket_id: int, *, actor: str, action: str, now: datetime, **detail: Any
    ) -> None: ...
    async def attachments(self, ticket_id: int) -> list[AttachmentRef]: ...
    async def add_attachments(
        self, ticket_id: int, refs: tuple[AttachmentRef, ...], *, message_id: int | None = None
    ) -> None: ...
    async def add_rating(self, rating: RatingRecord, *, now: datetime) -> None: ...


class LookupGuard(Protocol):
    """Counts wrong references/receipts per chat so that receipts cannot be guessed."""

    async def locked_until(self, key: str, *, now: datetime) -> datetime | None: ...
    async def failure(self, key: str, *, now: datetime) -> int: ...
    async def success(self, key: str) -> None: ...
    async def purge_before(self, when: datetime) -> int: ...


class OutboxStore(Protocol):
    async def enqueue(
        self,
        citizen_id: int,
        channel: str,
        purpose: str,
        payload: dict[str, Any],
        *,
        now: datetime,
        inbound_key: str | None = None,
        sending: bool = False,
    ) -> int: ...
    async def delete_sent(self, outbox_ids: list[int]) -> None: ...
    async def take_answered(self, inbound_key: str, *, now: datetime) -> list[OutboxRow]: ...
    async def purge_replies(self, *, purposes: tuple[str, ...], before: datetime) -> int: ...
    async def drop_superseded(self, *, purposes: tuple[str, ...]) -> int: ...
    async def claim_due(
        self, channels: list[str], *, now: datetime, limit: int = 50
    ) -> list[OutboxRow]: ...
    async def mark(
        self,
        outbox_id: int,
        status: str,
        *,
        now: datetime,
        external_id: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        payload: dict[str, Any] | None = None,
        refund_attempt: bool = False,
    ) -> None: ...
    async def mark_by_external_id(
        self, external_id: str, status: str, *, error: str | None, now: datetime
    ) -> bool: ...
    async def release_held(self, citizen_id: int, *, now: datetime) -> int: ...
    async def recover_stuck(
        self, *, now: datetime, alive: Collection[str] | None = None
    ) -> int: ...
    async def get(self, outbox_id: int) -> OutboxRow | None: ...


@dataclass(frozen=True, slots=True)
class InboxRow:
    """A raw update left in the inbox. `payload` is None when the row can no longer be
    read (a key removed from DATA_KEY, a damaged row); `unreadable` then says why."""

    id: int
    channel: str
    payload: bytes | None
    unreadable: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An inbound update that could not be taken (its sealed payload stays in storage)."""

    id: int
    channel: str
    reason: str
    received_at: datetime
    failed_at: datetime


class InboxStore(Protocol):
    """Raw webhook updates, written before the 200 and deleted once handled."""

    async def add(
        self, channel: str, payload: bytes, *, now: datetime, chat_key: str | None = None
    ) -> int: ...
    async def delete(self, inbox_id: int) -> None: ...
    async def delete_many(self, inbox_ids: list[int]) -> None: ...
    async def pending(
        self, channel: str, *, limit: int = 1000, before: datetime | None = None
    ) -> list[InboxRow]: ...
    def chat_tag(self, channel: str, chat_key: str) -> str:
        """The chat's name in the inbox and in its lease: a keyed hash."""
        ...

    async def waiting(self, inbox_id: int) -> bool: ...
    async def for_chat(self, channel: str, chat_key: str, *, limit: int = 50) -> list[InboxRow]:
        """The chat's waiting webhook updates, oldest first (bot/chat_turns.py)."""
        ...


class DeadLetterStore(Protocol):
    """Updates that could not be parsed or replayed: recorded once, never replayed."""

    async def add(
        self, channel: str, reason: str, payload: bytes | None, *, now: datetime
    ) -> int: ...
    async def adopt(self, inbox_id: int, reason: str, *, now: datetime) -> None:
        """Move an inbox row to the dead letters as it is stored."""
        ...

    async def recent(self, *, limit: int = 100) -> list[DeadLetter]: ...
    async def purge_before(self, before: datetime) -> int: ...


class LoginThrottle(Protocol):
    """Staff sign-in failure counts (bot/staff/throttle.py decides from them)."""

    async def get(self, key: str) -> Count | None: ...
    async def put(self, key: str, count: Count | None) -> None: ...
    async def purge_before(self, before: datetime) -> int:
        """Forget counts that no window or wait can still use."""
        ...


class StaffSessions(Protocol):
    """Staff console sessions, as the clean-up job sees them."""

    async def purge_sessions(self, *, seen_before: datetime, opened_before: datetime) -> int:
        """Delete sessions last used before `seen_before` or opened before `opened_before`
        (an investigator's holds the tip key, wrapped under the cookie's session id)."""
        ...


class BlobIndex(Protocol):
    """Which attachment blobs (bot/attachments.py) the stored records still refer to."""

    async def referenced(self, blob_ids: Collection[str]) -> set[str]:
        """Those of `blob_ids` that a draft, a ticket or a campaign refers to."""
        ...


class SatisfactionStore(Protocol):
    """The questions asked after a complaint is closed, and the citizen's answers."""

    async def ask(self, ticket_id: int, *, outcome: str, closed_on: date, now: datetime) -> int: ...
    async def latest(self, ticket_id: int) -> Satisfaction | None: ...
    async def by(self, group: str, *, since: datetime) -> list[SatisfactionStat]: ...
    async def answer(
        self,
        survey_id: int,
        *,
        now: datetime,
        solved: bool | None = None,
        rating: int | None = None,
        reopened: bool = False,
    ) -> None: ...


class ReplyTemplateStore(Protocol):
    """Canned replies for staff, kept by admins."""

    async def all(self) -> list[ReplyTemplate]: ...
    async def get(self, template_id: int) -> ReplyTemplate | None: ...
    async def add(self, title: str, texts: dict[str, str], *, now: datetime) -> int: ...
    async def update(
        self, template_id: int, title: str, texts: dict[str, str], *, now: datetime
    ) -> bool: ...
    async def delete(self, template_id: int) -> bool: ...


class ContentSidStore(Protocol):
    """Twilio Content API resources (interactive WhatsApp replies), by definition hash."""

    async def get(self, definition_hash: str) -> str | None: ...
    async def add(self, definition_hash: str, content_sid: str, *, now: datetime) -> str:
        """Record the sid unless one is recorded already; returns the recorded sid."""
        ...


class MediaTokenStore(Protocol):
    """What a media link may serve, and which links were used (bot/media_links.py)."""

    async def servable(self, blob_id: str) -> tuple[str, str | None] | None:
        """(content type, file name) of a file staff sent on a ticket that is not a tip,
        or of a campaign's image; None for any other blob."""
        ...

    async def use(self, tag: str, *, expires_at: datetime) -> bool:
        """Record a link as used; False if it was already."""
        ...

    async def used(self, tag: str) -> bool: ...

    async def purge_before(self, when: datetime) -> int: ...


class LeaseStore(Protocol):
    """Named leases: which instance does what only one may do at a time (bot/leases.py)."""

    async def take(self, name: str, holder: str, *, seconds: float) -> bool:
        """Take or renew `name` for `seconds` unless another holder has it unexpired."""
        ...

    async def release(self, name: str, holder: str) -> bool: ...
    async def holder(self, name: str) -> str | None: ...
    async def live(self, prefix: str) -> set[str]:
        """The names starting with `prefix` that someone holds now."""
        ...


class Tx(Protocol):
    """The stores of one unit of work."""

    @property
    def citizens(self) -> CitizenStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def processed(self) -> ProcessedStore: ...
    @property
    def tickets(self) -> TicketStore: ...
    @property
    def lookups(self) -> LookupGuard: ...
    @property
    def tips(self) -> TipStore: ...
    @property
    def outbox(self) -> OutboxStore: ...
    @property
    def inbox(self) -> InboxStore: ...
    @property
    def dead_letters(self) -> DeadLetterStore: ...
    @property
    def login_throttle(self) -> LoginThrottle: ...
    @property
    def staff(self) -> StaffSessions: ...
    @property
    def rotation(self) -> RotationStore: ...
    @property
    def blobs(self) -> BlobIndex: ...
    @property
    def satisfaction(self) -> SatisfactionStore: ...
    @property
    def reply_templates(self) -> ReplyTemplateStore: ...
    @property
    def content_sids(self) -> ContentSidStore: ...
    @property
    def media_tokens(self) -> MediaTokenStore: ...
    @property
    def leases(self) -> LeaseStore: ...
    @property
    def for_staff(self) -> StaffTx:
        """The staff console's stores on this same unit of work."""
        ...


class Storage(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write unit of work: commits on normal exit, rolls back on an exception."""
        ...

    def read(self) -> AbstractAsyncContextManager[Tx]:
        """A read-only view that does not wait for writers."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other govbot instances may use this database at the same time
        (PostgreSQL): a chat's updates then take turns through it (bot/chat_turns.py)."""
        ...

    @property
    def instance(self) -> str | None:
        """This process's id among the instances sharing the database (None: it is the
        only one): on the rows it marks 'sending' and in its "instance:" lease."""
        ...

    def scrub_soon(self) -> None:
        """A sensitive record (a tip's conversation, its answers) was just deleted: its
        older copies in the write-ahead log go at the next checkpoint, not whenever the
        log happens to start over."""
        ...

    @property
    def write_problem(self) -> str | None:
        """Why writes fail for want of disk ("cannot-write", "read-only"), or None."""
        ...

    def wal_bytes(self) -> int:
        """The size of the write-ahead log, for /metrics (0 where the backend keeps none)."""
        ...

    async def close(self) -> None: ...
