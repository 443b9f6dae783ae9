"""Receiving: Telegram updates from the webhook or from polling, parsed, written to the
durable inbox, then handed to the chat queues.

Both ways store an update before Telegram may consider it delivered (the webhook's 200,
the next getUpdates offset), so a crash repeats an update instead of losing it; a polled
batch is one inbox row. An update that cannot be parsed, or an inbox row that cannot be
read, becomes a dead letter (never replayed), so no single update fails a request or a
start. Update ids taken moments ago are skipped before any work: Telegram repeats a
webhook it thinks failed.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.chat_turns import ChatTurns
from bot.domain import Channel
from bot.recent import RecentKeys
from bot.safejson import loads as load_json
from bot.storage import Storage
from bot.storage.base import InboxRow

from .chat_queues import ChatQueues
from .dead_letters import DeadLetters, encoded, update_id_of
from .inbound import Incoming, parse_update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
_UNREADABLE = object()  # an inbox row set aside as a dead letter instead of opened
RECENT_UPDATES = 10_000  # update ids remembered to skip a repeat before any work


class Receiver:
    """Webhook requests, polled batches and inbox leftovers → `ChatQueues`."""

    def __init__(
        self,
        storage: Storage,
        clock: Callable[[], datetime],
        dead_letters: DeadLetters,
        queues: ChatQueues,
        *,
        webhook_secret: str | None = None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.dead_letters = dead_letters
        self.queues = queues
        self._secret = (webhook_secret or "").encode()
        self._recent = RecentKeys(RECENT_UPDATES)

    async def webhook(self, request: Request) -> Response:
        """POST /webhooks/telegram: 200 once the update is stored (or set aside)."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not self._secret or not hmac.compare_digest(given, self._secret):
            log.warning("telegram webhook: missing or wrong secret token")
            return Response(status_code=403)
        body = await request.body()
        try:
            update = load_json(body)
        except ValueError:
            return Response("malformed JSON", status_code=400)
        if not isinstance(update, dict):
            return Response("not a Telegram update", status_code=400)
        # Parsed before it is stored: what cannot be parsed is set aside now, so the inbox
        # only ever holds updates that a restart can replay.
        incoming = await self._parse(update, raw=body)
        if incoming is None or self._is_repeat(incoming):
            return Response(status_code=200)
        # Taken before the store awaits: a retry arriving meanwhile is a repeat. Given
        # back if the store fails, so Telegram's next retry is taken.
        if incoming.update_id is not None:
            self._recent.add(incoming.update_id)
        try:
            inbox_id = await self._store(body, chat_key=str(incoming.chat_id))
        except BaseException:
            if incoming.update_id is not None:
                self._recent.discard(incoming.update_id)
            raise
        self._hand_on([incoming], inbox_id)
        return Response(status_code=200)

    async def take_polled(self, updates: list[Any]) -> None:
        """A fetched batch is written to the inbox before the poller asks again: the next
        getUpdates offset confirms it to Telegram, and a crash must not lose it."""
        taken: list[tuple[Incoming, Any]] = []
        for update in updates:
            incoming = await self._parse(update)
            if incoming is not None and not self._is_repeat(incoming):
                taken.append((incoming, update))
        raw = encoded([update for _, update in taken]) if taken else None
        # Nothing to keep (or, for JSON that parsed, impossible to encode): no inbox row.
        inbox_id = None if raw is None else await self._store(raw)
        self._hand_on([incoming for incoming, _ in taken], inbox_id)

    async def resume(self) -> None:
        """Hand on what a crash left in the inbox; a row that cannot be read or parsed,
        for whatever reason, moves to the dead letters and start-up goes on."""
        async with self.storage.read() as tx:
            rows = await tx.inbox.pending(Channel.TELEGRAM.value)
        if rows:
            log.info("telegram: handling %d update(s) left in the inbox", len(rows))
        for row in rows:
            update = await self._opened(row)
            if update is _UNREADABLE:
                continue
            if isinstance(update, list):  # a polled batch: its updates one by one
                batch = [await self._parse(one) for one in update]
                self._hand_on(
                    [one for one in batch if one is not None and not self._is_repeat(one)], row.id
                )
                continue
            incoming = await self._parse(update, inbox_id=row.id)
            if incoming is not None:
                self._hand_on([] if self._is_repeat(incoming) else [incoming], row.id)

    async def _store(self, raw: bytes, *, chat_key: str | None = None) -> int:
        async with self.storage.transaction() as tx:
            return await tx.inbox.add(
                Channel.TELEGRAM.value, raw, now=self.clock(), chat_key=chat_key
            )

    async def take_left_behind(self, turns: ChatTurns, *, older_than: timedelta) -> int:
        """Several instances: queue the webhook updates another instance accepted and
        left (it died), unless this instance has them queued already; their chats'
        turns (bot/chat_turns.py) keep anything from running twice."""
        rows = await turns.left_behind(Channel.TELEGRAM.value, before=self.clock() - older_than)
        taken = 0
        for row in rows:
            if self.queues.has(row.id):
                continue
            incoming = await self.incoming(row)
            if incoming is not None:
                self.queues.put([incoming], row.id)
                taken += 1
        return taken

    async def incoming(self, row: InboxRow) -> Incoming | None:
        """A webhook update's inbox row parsed again (by the instance whose turn it is);
        None when it cannot be read or parsed: then it is a dead letter."""
        update = await self._opened(row)
        if update is _UNREADABLE:
            return None
        return await self._parse(update, inbox_id=row.id)

    async def _opened(self, row: InboxRow) -> object:
        """The row's JSON, or `_UNREADABLE` once a row that cannot be read (a key gone,
        damage) or is not JSON has moved to the dead letters: never a failed start."""
        if row.payload is None:
            await self.dead_letters.set_aside(row.unreadable or "unreadable", inbox_id=row.id)
            return _UNREADABLE
        try:
            return load_json(row.payload)
        except Exception as err:  # any row at all
            await self.dead_letters.set_aside(err, inbox_id=row.id)
            return _UNREADABLE

    async def _parse(
        self, update: object, *, raw: bytes | None = None, inbox_id: int | None = None
    ) -> Incoming | None:
        """The update parsed, or None: a kind we do not handle (its inbox row is deleted),
        or one we cannot read, set aside as a dead letter. The one place where whatever
        the parser raises is caught: a new way to trip it needs no new except clause."""
        known = update_id_of(update)
        try:
            incoming = parse_update(update)
        except Exception as err:
            if raw is None and inbox_id is None:
                raw = encoded(update)
            await self.dead_letters.set_aside(err, raw=raw, inbox_id=inbox_id, update_id=known)
            return None
        if incoming is None:
            kind = _kind(update) if isinstance(update, dict) else "empty"
            log.info("telegram: ignored update %s (%s)", known, kind)
            if inbox_id is not None:
                self.queues.done(inbox_id)
        return incoming

    def _is_repeat(self, incoming: Incoming) -> bool:
        """An update id taken moments ago (Telegram repeats a webhook it thinks failed)."""
        return incoming.update_id in self._recent

    def _hand_on(self, updates: list[Incoming], inbox_id: int | None) -> None:
        """Stored (or with nothing to store): remembered as taken, and queued."""
        for incoming in updates:
            if incoming.update_id is not None:
                self._recent.add(incoming.update_id)
        self.queues.put(updates, inbox_id)


def _kind(update: dict[str, Any]) -> str:
    return ",".join(str(k) for k in update if k != "update_id") or "empty"
