"""The corruption-tip store: tips are sealed (bot/sealing.py), and an anonymous one has no
sender.

The store keeps what bot/sealed_tips.py sealed and never sees a key that opens it. A tip
row takes a random id (migration 011) and keeps no time finer than its day; its files are
sealed inside the database. `add` takes no citizen, channel or chat key at all, so no caller
can store one by mistake. A confidential tip carries its contact sealed to the staff-only
key and nothing else of its chat (not even a hash): the tipster finds it by the receipt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from bot.storage.records import Ticket

ANONYMOUS = "anonymous"
CONFIDENTIAL = "confidential"
RECOVERY = "recovery"
RECEIPT = "receipt"


def staff_holder(staff_id: int) -> str:
    return f"staff:{staff_id}"


def day_of(now: datetime) -> datetime:
    """Midnight UTC of `now`'s UTC day: the only time kept for anything about a tip."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class SealedFile:
    kind: str
    content_type: str
    size: int
    sealed: bytes


@dataclass(frozen=True, slots=True)
class SealedTip:
    """A tip as bot/sealed_tips.py sealed it: public keys, sealed parts, wrapped keys."""

    public: bytes  # the tip's public key, then its staff-only public key
    contents: bytes
    identity: bytes | None
    files: tuple[SealedFile, ...]
    keys: dict[str, bytes]  # holder -> the tip's private key(s), wrapped for that holder
    receipt_locator: str | None


@dataclass(frozen=True, slots=True)
class SealedMessage:
    id: int
    author: str
    staff_id: int | None
    internal: bool
    created_at: datetime  # the day
    sealed: bytes


@dataclass(frozen=True, slots=True)
class SealedBundle:
    """What one holder needs to read a tip's words: the tip's keys wrapped for them, its
    sealed contents and thread. A search opens many at once (bot/staff/tip_search.py)."""

    ticket_id: int
    reference: str
    wrapped: bytes
    contents: bytes | None
    messages: tuple[SealedMessage, ...]


@dataclass(frozen=True, slots=True)
class TipFile:
    id: int
    kind: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class LegacyMessage:
    author: str
    staff_id: int | None
    internal: bool
    body: str


@dataclass(frozen=True, slots=True)
class LegacyTip:
    """A tip stored before sealing (under DATA_KEY), opened to be sealed."""

    ticket: Ticket
    receipt_hash: str | None
    contents: dict[str, Any]
    identity: dict[str, Any] | None
    messages: list[LegacyMessage]
    files: list[tuple[str, str, str]]  # blob id, kind, content type


class TipStore(Protocol):
    async def recipients(self) -> list[tuple[str, bytes]]:
        """(holder, public key) of the recovery key and of every active investigator whose
        key is endorsed (bot/staff/keys.py)."""
        ...

    async def add(
        self,
        sealed: SealedTip,
        *,
        privacy: str,
        locale: str,
        due_on: date | None,
        reference: str,
        now: datetime,
    ) -> Ticket:
        """Store under a random id, dated to the day (midnight UTC)."""
        ...

    async def by_locator(self, locator: str) -> list[Ticket]:
        """The tips whose receipt begins like the one given (the receipt then opens one)."""
        ...

    async def by_receipt_hash(self, hashes: Sequence[str]) -> Ticket | None:
        """A tip from before sealing, by the keyed hash of its receipt (status only)."""
        ...

    async def public(self, ticket_id: int) -> bytes | None: ...

    async def wrapped(self, ticket_id: int, holder: str) -> bytes | None: ...

    async def put_key(self, ticket_id: int, holder: str, wrapped: bytes) -> None: ...

    async def drop_keys(self, holder: str) -> int:
        """Forget every tip key wrapped for `holder` (an investigator's key was replaced)."""
        ...

    async def count_for(self, holder: str) -> int:
        """How many tips `holder` can open."""
        ...

    async def ids(self) -> list[tuple[int, str]]:
        """(id, reference) of every sealed tip."""
        ...

    async def bundles(self, ids: Sequence[int], holder: str) -> list[SealedBundle]:
        """The tips among `ids` that `holder` has a key for, in the order of `ids`."""
        ...

    async def contents(self, ticket_id: int) -> bytes | None: ...

    async def identity(self, ticket_id: int) -> bytes | None: ...

    async def add_message(
        self,
        ticket: Ticket,
        *,
        author: str,
        sealed: bytes,
        now: datetime,
        staff_id: int | None = None,
        internal: bool = False,
    ) -> int:
        """Append to the thread under a random id, dated to the day; returns the id."""
        ...

    async def messages(self, ticket_id: int) -> list[SealedMessage]: ...

    async def files(self, ticket_id: int) -> list[TipFile]: ...

    async def file(self, ticket_id: int, file_id: int) -> tuple[TipFile, bytes] | None: ...

    async def legacy(self) -> list[LegacyTip]:
        """Tips stored before sealing, opened with DATA_KEY."""
        ...

    async def replace_legacy(
        self, legacy: LegacyTip, sealed: SealedTip, messages: list[tuple[LegacyMessage, bytes]]
    ) -> int:
        """Put the sealed tip in the old one's place; returns its new (random) id."""
        ...

    async def recovery_public(self) -> bytes | None: ...

    async def set_recovery_public(self, public: bytes) -> None: ...
