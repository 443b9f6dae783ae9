"""The corruption-tip store: tips are sealed with DATA_KEY, and an anonymous one has no sender.

`add_anonymous` takes no citizen, channel or chat key at all, so no caller can store one by
mistake. A confidential tip carries an encrypted `identity` for investigators and an
`owner_hash` (keyed hash of the chat) that lets the same chat open it by its reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from bot.storage.records import AttachmentRef, ThreadMessage, Ticket

ANONYMOUS = "anonymous"
CONFIDENTIAL = "confidential"


def day_of(now: datetime) -> datetime:
    """Midnight UTC of `now`'s UTC day: the only time kept for an anonymous tipster's acts."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class TipDraft:
    """What the tipster said; everything in `contents` is stored only in sealed form."""

    locale: str
    contents: dict[str, Any]
    attachments: tuple[AttachmentRef, ...] = ()
    due_on: date | None = None


class TipStore(Protocol):
    async def add_anonymous(
        self, draft: TipDraft, *, reference: str, receipt_hash: str, now: datetime
    ) -> Ticket:
        """Store with no sender; every time on it is cut to the day (midnight UTC)."""
        ...

    async def add_confidential(
        self,
        draft: TipDraft,
        *,
        identity: str,
        owner_hash: str,
        reference: str,
        receipt_hash: str | None,
        now: datetime,
    ) -> Ticket: ...

    async def by_receipt(self, hashes: Sequence[str]) -> Ticket | None:
        """The tip whose receipt hashes to any of `hashes` (one per key version)."""
        ...

    async def by_owner(self, reference: str, owner_hashes: Sequence[str]) -> Ticket | None:
        """A confidential tip by reference, only if it was filed from the hashed chat."""
        ...

    async def contents(self, ticket: Ticket) -> dict[str, Any]:
        """The decrypted contents, for investigators."""
        ...

    async def identity(self, ticket: Ticket, *, actor: str, now: datetime) -> str | None:
        """The decrypted identity of a confidential tip; every reveal is a ticket event."""
        ...

    async def add_message(
        self,
        ticket: Ticket,
        *,
        author: str,
        body: str,
        now: datetime,
        staff_id: int | None = None,
    ) -> ThreadMessage:
        """Append to the sealed thread; an anonymous tipster's message is dated to the day."""
        ...

    async def messages(self, ticket: Ticket) -> list[ThreadMessage]:
        """The thread the tipster may read (no internal notes), decrypted."""
        ...
