"""Conversation replies are written down before they are sent.

The step's answer is kept with its session, written by the statement that saves the
step's state (a separate row per step cost a fifth of the bot's throughput), and numbered
in the order steps commit. The adapter sends it at once from memory and says so here.
In each round the outbox worker records the number up to which every answer was sent:
the watermark. A start after a crash hands every answer after the watermark to the
worker, so nothing is lost; an answer that was sent but not yet counted goes out a second
time (at least once). A step that deletes its session (a corruption report's receipt)
writes its answer as an outbox row of its own, deleted once sent. A send that fails
hands what is left to the worker, which owns every retry.

    step tx: state + answer (seq n) + ticket + dedupe mark
      → adapter sends from memory → sent(n) → watermark moves past n in the next round
      → adapter's send fails → failed(n): the rest becomes an outbox row ("pending")
      → crash → start: answers after the watermark become outbox rows → worker sends
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain import Channel, Reply
from bot.errors import DeliveryError
from bot.outbound import SENSITIVE_REPLY, Outgoing, decode, encode, from_payload, to_payload
from bot.storage import Storage, Tx
from bot.storage.records import Citizen, SessionReply

REPLY = "reply"
PURPOSES = (REPLY, SENSITIVE_REPLY)
# Replies answered again to a webhook's retry are kept this long (Twilio retries for minutes).
KEEP_ANSWERED = timedelta(hours=1)
# How many answers sent by API are remembered, so that a retry of their webhook is not
# answered with them again: far more than a few minutes of retries bring.
KEEP_BY_API = 4096
FIRST_RETRY_SECONDS = 1.0
# The worker is woken to count sent answers at least this often (as well as every round):
# what a crash makes it send a second time is about this many answers and those in flight.
SETTLE_BATCH = 32


@dataclass(slots=True)
class _Unsent:
    citizen_id: int
    channel: str
    purpose: str
    row_id: int | None  # an outbox row of its own (a step that deleted its session)


class ReplyQueue:
    def __init__(
        self,
        storage: Storage,
        clock: Callable[[], datetime],
        *,
        wake: Callable[[], None] = lambda: None,
        holder: str | None = None,
    ) -> None:
        self.storage = storage
        # Several instances: this one's id; it numbers its own answers and keeps its own
        # watermark, and the answers of one that died are handed on (`recover_dead`).
        self.holder = holder
        self.clock = clock
        # Wakes the outbox worker, whose round records what was sent.
        self.wake = wake
        self._seq = 0  # the last number given to an answer
        self._unsent: dict[int, _Unsent] = {}
        self._sent_rows: list[int] = []
        self._counted = 0  # sent since the last round
        self._watermark: int | None = None  # as last written
        # Answers the adapter sent by API, not in the webhook's own answer: a retry of
        # their webhook gets nothing again (kept for the minutes a platform retries).
        self._by_api: OrderedDict[int, None] = OrderedDict()

    # -- in the step's transaction -------------------------------------------------------

    async def record(
        self,
        tx: Tx,
        citizen: Citizen,
        replies: list[Reply],
        *,
        inbound_key: str | None,
        sensitive: bool,
        own_row: bool,
    ) -> tuple[int, SessionReply | None]:
        """Number the step's answer; returns the number and what the session keeps (None
        when the answer went to an outbox row of its own: `own_row`, the session is going).
        Called inside the step's transaction, so numbers follow the order of commits."""
        purpose = SENSITIVE_REPLY if sensitive else REPLY
        outgoing = Outgoing(tuple(replies), purpose)
        if self.holder is not None and self._watermark is None:
            # Several instances: its watermark row is how the others find this instance's
            # answers if it dies, written with the first before the worker's first round.
            await tx.sessions.set_reply_watermark(0, by=self.holder, keep=True)
        self._seq += 1
        row_id, kept = None, None
        if own_row:
            payload = to_payload(outgoing)
            row_id = await tx.outbox.enqueue(
                citizen.id, citizen.channel, purpose, payload, now=self.clock(), sending=True
            )
        else:
            kept = SessionReply(encode(outgoing), inbound_key, self._seq, self.holder)
        self._unsent[self._seq] = _Unsent(citizen.id, citizen.channel, purpose, row_id)
        return self._seq, kept

    def cancel(self, seq: int) -> None:
        """The step's transaction did not commit: there is no answer to send."""
        self._unsent.pop(seq, None)

    # -- after the step ------------------------------------------------------------------

    async def deliver(
        self, seq: int | None, replies: list[Reply], send: Callable[[list[Reply]], Awaitable[Any]]
    ) -> None:
        """Send a step's replies from memory with `send`, then record how it went; a
        failure (DeliveryError, re-raised) leaves the rest to the outbox worker."""
        try:
            await send(replies)
        except DeliveryError as err:
            if seq is not None:
                await self.failed(seq, replies, err)
            raise
        except Exception as exc:
            if seq is not None:
                unexpected = DeliveryError(type(exc).__name__, retryable=True, unknown=True)
                await self.failed(seq, replies, unexpected)
            raise
        if seq is not None:
            self._by_api[seq] = None
            while len(self._by_api) > KEEP_BY_API:
                self._by_api.popitem(last=False)
            self.sent(seq)

    def sent(self, seq: int) -> None:
        """The adapter delivered answer `seq` (by API, or in the webhook's own answer)."""
        unsent = self._unsent.pop(seq, None)
        if unsent is not None and unsent.row_id is not None:
            self._sent_rows.append(unsent.row_id)
        self._counted += 1
        if self._counted >= SETTLE_BATCH:
            self.wake()

    async def failed(self, seq: int, replies: list[Reply], err: DeliveryError) -> None:
        """The adapter's send failed: the replies not yet out go to the outbox worker."""
        unsent = self._unsent.get(seq)
        if unsent is None:
            return
        rest = replies[err.delivered :]
        now = self.clock()
        retry = (err.retryable or err.unknown) and not err.blocked and rest
        delay = err.retry_after if err.retry_after is not None else FIRST_RETRY_SECONDS
        due = now + timedelta(seconds=delay)
        payload = to_payload(Outgoing(tuple(rest), unsent.purpose))
        # Counted as handled only once the rest is written down: if that write fails (a
        # full disk), the watermark stays below this answer and a restart sends it.
        async with self.storage.transaction() as tx:
            if not retry:
                if unsent.row_id is not None:
                    # A row of its own that will never be sent is not kept either.
                    await tx.outbox.delete_sent([unsent.row_id])
            elif unsent.row_id is None:
                row_id = await tx.outbox.enqueue(
                    unsent.citizen_id, unsent.channel, unsent.purpose, payload, now=now
                )
                await tx.outbox.mark(row_id, "pending", now=now, next_attempt_at=due)
            else:
                await tx.outbox.mark(
                    unsent.row_id, "pending", now=now, next_attempt_at=due, payload=payload
                )
        del self._unsent[seq]

    # -- the outbox worker's rounds ------------------------------------------------------

    async def settle(self, tx: Tx, *, now: datetime) -> int:
        """Record what was sent since the last round: the watermark (every answer up to
        it was sent) and the own rows of sent answers. Returns how many answers."""
        rows, counted = self._sent_rows, self._counted
        self._sent_rows, self._counted = [], 0
        watermark = min(self._unsent, default=self._seq + 1) - 1
        try:
            if rows:
                await tx.outbox.delete_sent(rows)
                self.storage.scrub_soon()
            if watermark != self._watermark:
                await tx.sessions.set_reply_watermark(watermark, by=self.holder)
        except BaseException:
            self._sent_rows[:0] = rows
            self._counted += counted
            raise
        self._watermark = watermark
        return counted

    async def recover(self, tx: Tx, *, now: datetime) -> int:
        """On start, before any new step: every answer after the watermark goes to the
        worker (it may not have been sent), and numbering carries on after the last one.
        With several instances this one starts afresh: its numbers are its own, and its
        watermark row says it is alive to count on (`recover_dead` hands on the others')."""
        if self.holder is not None:
            await tx.sessions.set_reply_watermark(0, by=self.holder)
            self._watermark = 0
            return 0
        last = await tx.sessions.last_reply_seq()
        watermark = await tx.sessions.reply_watermark()
        handed = await self._hand_over(tx, -1 if watermark is None else watermark, None, now)
        # Own rows left "sending" whose chat took a later step were sent before it.
        await tx.outbox.drop_superseded(purposes=PURPOSES)
        self._seq = max(self._seq, last)
        self._watermark = self._seq
        await tx.sessions.set_reply_watermark(self._seq)
        return handed

    async def recover_dead(
        self, tx: Tx, *, alive: Callable[[], Awaitable[set[str] | None]], now: datetime
    ) -> int:
        """Several instances: the answers of instances that died (their lease expired)
        after their watermark go to this worker, as a lone instance's do on its start.
        The instances alive are asked after the holders are read: an instance takes its
        lease before it writes its watermark, so any holder read is seen alive if it is."""
        holders = await tx.sessions.reply_holders()
        live = await alive()
        if live is None:
            return 0
        handed = 0
        # Claimed first, so two instances recovering the same one hand its answers over
        # once; in one order everywhere, so that two claiming several never deadlock.
        for holder in sorted(holders - live):
            watermark = await tx.sessions.take_reply_holder(holder)
            if watermark is not None:
                handed += await self._hand_over(tx, watermark, holder, now)
        return handed

    async def _hand_over(self, tx: Tx, after: int, holder: str | None, now: datetime) -> int:
        """Answers numbered after `after` (by `holder`) become outbox rows."""
        found = await tx.sessions.replies_after(after, by=holder)
        for citizen_id, kept in found:
            citizen = await tx.citizens.get(citizen_id)
            if citizen is None:
                continue
            outgoing = decode(kept.payload)
            await tx.outbox.enqueue(
                citizen_id,
                citizen.channel,
                outgoing.purpose,
                to_payload(outgoing),
                now=now,
                inbound_key=kept.key,
            )
        await tx.sessions.drop_replies([citizen_id for citizen_id, _ in found], by=holder)
        return len(found)

    # -- a webhook's retry ---------------------------------------------------------------

    async def answered(
        self, channel: Channel, chat_key: str, inbound_key: str
    ) -> tuple[list[Reply], str | None]:
        """A platform retried a webhook whose answer it never got: the replies to give it
        again, and the language of their citizen. Outbox rows for that message are taken
        from the worker (they are in this answer now, not to go out again by API)."""
        async with self.storage.transaction() as tx:
            rows = await tx.outbox.take_answered(inbound_key, now=self.clock())
            citizen = await tx.citizens.find(channel, chat_key)
            kept = await tx.sessions.reply(citizen.id) if citizen is not None else None
        lang = citizen.locale if citizen is not None else None
        if kept is not None and kept.key == inbound_key:
            if kept.seq in self._by_api:
                return [], lang  # it went by API: the retry's own answer stays empty
            return list(decode(kept.payload).replies), lang
        return [reply for row in rows for reply in from_payload(row.payload).replies], lang
