"""Tips sealed for their readers: the bot seals, investigators, the recovery key and the
tipster's receipt open (bot/sealing.py has the primitives, docs/THREAT_MODEL.md the why).

A tip has two key pairs. The *tip key* opens what the tipster may read again (the report,
the files, the thread); the *staff key* opens what only investigators read (a confidential
tipster's contact, internal notes). Investigators and the recovery key get both private
halves; the receipt gets the tip key only. Every sealed part is bound to the reference and
its part name, so a sealed blob cannot be moved to another tip or read as another part.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import sealing
from bot.attachments import AttachmentStore
from bot.storage.records import Ticket
from bot.storage.tips import (
    RECEIPT,
    SealedBundle,
    SealedFile,
    SealedTip,
    TipStore,
)

KEY_BYTES = 32
# 10^4 buckets: a few tips each even at national scale, so a receipt costs a few Argon2id
# runs online, and 10^12 of them offline.
LOCATOR_DIGITS = 4
OLD_LOCATOR_DIGITS = 6


class NoKey(Exception):
    """This reader holds no key that opens the tip."""


@dataclass(frozen=True, slots=True)
class TipKeys:
    """The opened private halves of one tip's keys (the staff one only for staff)."""

    reference: str
    tip: bytes
    staff: bytes | None = None

    def open(self, blob: bytes, part: str) -> bytes:
        private = self.staff if part in _STAFF_PARTS else self.tip
        if private is None:
            raise NoKey(part)
        return sealing.open_sealed(private, blob, context=_context(self.reference, part))


@dataclass(frozen=True, slots=True)
class Message:
    author: str
    body: str
    created_at: datetime
    staff_id: int | None
    internal: bool
    id: int


_STAFF_PARTS = frozenset({"identity", "note"})


def _context(reference: str, part: str) -> bytes:
    return f"tip:{reference}:{part}".encode()


def _key_context(reference: str) -> bytes:
    return f"tip-key:{reference}".encode()


def receipt_locator(receipt: str, digits: int = LOCATOR_DIGITS) -> str:
    """Finds the few tips a receipt may open, without a key: an attacker learns four
    digits of sixteen from it, and each guess at the other twelve costs an Argon2id."""
    return hashlib.sha256(f"receipt:{receipt[:digits]}".encode()).hexdigest()[:20]


def receipt_locators(receipt: str) -> tuple[str, ...]:
    """Where to look for a receipt's tip: tips sealed before the locator was shortened
    (after an outside review) carry one of six digits."""
    return receipt_locator(receipt), receipt_locator(receipt, OLD_LOCATOR_DIGITS)


def seal_part(public: bytes, reference: str, part: str, plain: bytes) -> bytes:
    """Seal to the tip (`public` is its stored pair of public keys)."""
    key = public[KEY_BYTES:] if part in _STAFF_PARTS else public[:KEY_BYTES]
    return sealing.seal(key, plain, context=_context(reference, part))


async def seal_tip(
    *,
    reference: str,
    contents: dict[str, Any],
    identity: dict[str, Any] | None,
    files: Iterable[tuple[str, str, bytes]],
    recipients: list[tuple[str, bytes]],
    receipt: str | None,
) -> SealedTip:
    """Everything about a new tip, sealed; `files` are (kind, content type, bytes)."""
    tip_private, tip_public = sealing.new_key_pair()
    staff_private, staff_public = sealing.new_key_pair()
    public = tip_public + staff_public
    both = tip_private + staff_private
    keys = {
        holder: sealing.seal(key, both, context=_key_context(reference))
        for holder, key in recipients
    }
    if receipt is not None:
        # Argon2id: slow on purpose, so off the event loop.
        keys[RECEIPT] = await asyncio.to_thread(
            sealing.wrap_with_secret, receipt, tip_private, context=_key_context(reference)
        )
    return SealedTip(
        public=public,
        contents=seal_part(public, reference, "contents", _json(contents)),
        identity=None
        if identity is None
        else seal_part(public, reference, "identity", _json(identity)),
        files=tuple(
            SealedFile(kind, content_type, len(data), seal_part(public, reference, "file", data))
            for kind, content_type, data in files
        ),
        keys=keys,
        receipt_locator=receipt_locator(receipt) if receipt is not None else None,
    )


async def ensure_recovery_key(tips: TipStore) -> str | None:
    """Create the recovery key pair if there is none; returns the private half's text to
    show once (None if one existed). Only the public half is stored."""
    if await tips.recovery_public() is not None:
        return None
    private, public = sealing.new_key_pair()
    await tips.set_recovery_public(public)
    return sealing.recovery_text(private)


async def seal_legacy(tips: TipStore, files: AttachmentStore) -> list[str]:
    """Seal the tips stored before sealing existed (under DATA_KEY) in place of the old
    rows: after it, DATA_KEY opens no tip. Returns the attachment files to delete once
    this commits. Their receipts were never stored, so such a tipster's receipt still finds
    the tip's status (by its keyed hash) but cannot open its thread."""
    legacy = await tips.legacy()
    done: list[str] = []
    recipients = await tips.recipients()
    for old in legacy:
        ref = old.ticket.reference
        data = [
            (kind, content_type, await files.aget(blob_id))
            for blob_id, kind, content_type in old.files
            if files.exists(blob_id)
        ]
        sealed = await seal_tip(
            reference=ref,
            contents=old.contents,
            identity=old.identity,
            files=data,
            recipients=recipients,
            receipt=None,
        )
        messages = [
            (m, seal_part(sealed.public, ref, "note" if m.internal else "message",
                          _json({"n": n, "body": m.body})))
            for n, m in enumerate(old.messages, 1)
        ]  # fmt: skip
        await tips.replace_legacy(old, sealed, messages)
        done += [blob_id for blob_id, *_ in old.files]
    return done


def open_for(private: bytes, wrapped: bytes, reference: str) -> TipKeys:
    """A holder's private key (an investigator's, the recovery key) opens the tip's keys."""
    both = sealing.open_sealed(private, wrapped, context=_key_context(reference))
    return TipKeys(reference, both[:KEY_BYTES], both[KEY_BYTES:])


async def open_with_receipt(receipt: str, wrapped: bytes, reference: str) -> TipKeys:
    """The tipster's receipt opens the tip key (not the staff key). Raises SealError."""
    tip = await asyncio.to_thread(
        sealing.unwrap_with_secret, receipt, wrapped, context=_key_context(reference)
    )
    return TipKeys(reference, tip)


def open_bundle(private: bytes, bundle: SealedBundle) -> tuple[dict[str, Any], list[str]]:
    """A tip's contents and every message of its thread (notes too), opened with a
    holder's `private` key; plain CPU work, for a worker thread. NoKey if it cannot."""
    try:
        keys = open_for(private, bundle.wrapped, bundle.reference)
        opened = {} if bundle.contents is None else _loads(keys.open(bundle.contents, "contents"))
        thread = [
            str(_loads(keys.open(m.sealed, "note" if m.internal else "message"))["body"])
            for m in bundle.messages
        ]
    except sealing.SealError:
        raise NoKey(bundle.reference) from None
    return opened, thread


async def keys_for(tips: TipStore, ticket: Ticket, holder: str, private: bytes | None) -> TipKeys:
    """The tip's keys as `holder` (with its `private` key) opens them; NoKey if it cannot."""
    wrapped = await tips.wrapped(ticket.id, holder) if private is not None else None
    if private is None or wrapped is None:
        raise NoKey(ticket.reference)
    try:
        return open_for(private, wrapped, ticket.reference)
    except sealing.SealError:
        raise NoKey(ticket.reference) from None


async def grant(
    tips: TipStore, opener: str, private: bytes, holder: str, public: bytes
) -> tuple[int, int]:
    """Wrap every tip `opener` can open for `holder` too; returns (granted, not openable)."""
    granted = missing = 0
    for ticket_id, reference in await tips.ids():
        wrapped = await tips.wrapped(ticket_id, opener)
        if wrapped is None:
            missing += 1
            continue
        try:
            keys = open_for(private, wrapped, reference)
        except sealing.SealError:
            missing += 1
            continue
        assert keys.staff is not None
        both = keys.tip + keys.staff
        await tips.put_key(
            ticket_id, holder, sealing.seal(public, both, context=_key_context(reference))
        )
        granted += 1
    return granted, missing


async def contents(tips: TipStore, ticket: Ticket, keys: TipKeys) -> dict[str, Any]:
    blob = await tips.contents(ticket.id)
    return {} if blob is None else _loads(keys.open(blob, "contents"))


async def identity(tips: TipStore, ticket: Ticket, keys: TipKeys) -> dict[str, Any] | None:
    blob = await tips.identity(ticket.id)
    return None if blob is None else _loads(keys.open(blob, "identity"))


async def add_message(
    tips: TipStore,
    ticket: Ticket,
    *,
    author: str,
    body: str,
    now: datetime,
    staff_id: int | None = None,
    internal: bool = False,
) -> int:
    """Seal a message into the thread; anyone may write, only key holders read. The
    message's place in the thread is sealed with it (its id is random, its date a day)."""
    public = await tips.public(ticket.id)
    if public is None:
        raise NoKey(ticket.reference)
    place = len(await tips.messages(ticket.id)) + 1
    part = "note" if internal else "message"
    plain = _json({"n": place, "body": body})
    sealed = seal_part(public, ticket.reference, part, plain)
    return await tips.add_message(
        ticket, author=author, sealed=sealed, now=now, staff_id=staff_id, internal=internal
    )


async def messages(
    tips: TipStore, ticket: Ticket, keys: TipKeys, *, include_internal: bool = False
) -> list[Message]:
    opened: list[tuple[int, Message]] = []
    for sealed in await tips.messages(ticket.id):
        if sealed.internal and not include_internal:
            continue
        data = _loads(keys.open(sealed.sealed, "note" if sealed.internal else "message"))
        message = Message(
            sealed.author, data["body"], sealed.created_at, sealed.staff_id, sealed.internal,
            sealed.id,
        )  # fmt: skip
        opened.append((int(data["n"]), message))
    return [message for _, message in sorted(opened, key=lambda pair: pair[0])]


async def file(
    tips: TipStore, ticket: Ticket, keys: TipKeys, file_id: int
) -> tuple[str, bytes] | None:
    found = await tips.file(ticket.id, file_id)
    if found is None:
        return None
    meta, sealed = found
    return meta.content_type, keys.open(sealed, "file")


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _loads(raw: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(raw)
    return loaded
