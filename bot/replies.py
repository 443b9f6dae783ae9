"""Conversation replies are written down before they are sent.

The dispatcher records a step's replies as an outbox row (purpose "reply", status
"sending") in the step's own transaction; the adapter then sends them at once from
memory and says so here. Settling is batched into the outbox worker's next round, so the
hot path pays one INSERT and no extra commit. If the process dies in between, the row is
still "sending" on the next start, goes back to "pending", and the outbox worker delivers
it: at least once, never lost. A send that fails hands what is left to the worker, which
owns every retry.

    step tx: session + ticket + dedupe mark + reply row ("sending")
      → adapter sends from memory → sent(): row deleted (or kept as answered in a
        webhook response, for the platform's retry of that webhook) in the next round
      → adapter's send fails → failed(): the rest of the replies become "pending"
      → crash → recover_stuck on start → "pending" → OutboxWorker delivers
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.domain import Channel, Reply
from bot.errors import DeliveryError
from bot.outbound import Outgoing, from_payload, to_payload
from bot.storage import Storage, Tx
from bot.storage.records import Citizen

REPLY = "reply"
# A corruption report's conversation: deleted once sent, never kept for webhook retries.
SENSITIVE_REPLY = "reply-sensitive"
PURPOSES = (REPLY, SENSITIVE_REPLY)
# Channels that answer in the webhook's own HTTP response (TwiML), so a retried webhook
# needs the same replies again: only their rows carry the key of the message answered.
ANSWERED_IN_RESPONSE = frozenset({Channel.WHATSAPP.value})
# Replies kept for a webhook's retries are deleted after this (Twilio retries for minutes).
KEEP_ANSWERED = timedelta(hours=1)
FIRST_RETRY_SECONDS = 1.0
# Settled at least this often (as well as every worker round): what a crash makes the
# worker send a second time is at most about this many replies.
SETTLE_BATCH = 32


class ReplyQueue:
    def __init__(
        self,
        storage: Storage,
        clock: Callable[[], datetime],
        *,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        # Wakes the outbox worker, whose round settles what was sent.
        self.wake = wake
        self._sent: list[int] = []
        self._answered: list[int] = []

    async def deliver(
        self,
        reply_id: int | None,
        replies: list[Reply],
        send: Callable[[list[Reply]], Awaitable[object]],
    ) -> None:
        """Send a step's replies from memory with `send`, then record how it went; a
        failure (DeliveryError, re-raised) leaves the rest to the outbox worker."""
        try:
            await send(replies)
        except DeliveryError as err:
            if reply_id is not None:
                await self.failed(reply_id, replies, err)
            raise
        except Exception as exc:
            if reply_id is not None:
                unexpected = DeliveryError(type(exc).__name__, retryable=True, unknown=True)
                await self.failed(reply_id, replies, unexpected)
            raise
        if reply_id is not None:
            self.sent(reply_id)

    async def record(
        self,
        tx: Tx,
        citizen: Citizen,
        replies: list[Reply],
        *,
        inbound_key: str | None,
        sensitive: bool,
        now: datetime,
    ) -> int:
        """In the step's transaction: the row that makes these replies survive a crash."""
        purpose = SENSITIVE_REPLY if sensitive else REPLY
        payload = to_payload(Outgoing(tuple(replies), purpose))
        return await tx.outbox.enqueue(
            citizen.id,
            citizen.channel,
            purpose,
            payload,
            now=now,
            inbound_key=inbound_key if citizen.channel in ANSWERED_IN_RESPONSE else None,
            sending=True,
        )

    def sent(self, reply_id: int, *, in_response: bool = False) -> None:
        """The adapter delivered the row's replies (`in_response`: in the webhook's own
        HTTP answer, which the platform may not have received: kept for its retry)."""
        (self._answered if in_response else self._sent).append(reply_id)
        if self.unsettled >= SETTLE_BATCH:
            self.wake()

    @property
    def unsettled(self) -> int:
        return len(self._sent) + len(self._answered)

    async def settle(self, tx: Tx, *, now: datetime) -> int:
        """Record what was sent since the last round; returns how many rows."""
        if not self._sent and not self._answered:
            return 0
        sent, answered = self._sent, self._answered
        self._sent, self._answered = [], []
        try:
            await tx.outbox.settle_sent(delete=sent, keep=answered, keep_purpose=REPLY, now=now)
        except BaseException:
            self._sent[:0], self._answered[:0] = sent, answered
            raise
        return len(sent) + len(answered)

    async def recover(self, tx: Tx, *, now: datetime) -> int:
        """On start, before rows left 'sending' go back to the worker: those already
        superseded by a later step of their chat were sent, and are not sent again."""
        return await tx.outbox.settle_superseded(purposes=PURPOSES, keep_purpose=REPLY, now=now)

    async def failed(self, reply_id: int, replies: list[Reply], err: DeliveryError) -> None:
        """The adapter's send failed: the replies not yet out go to the outbox worker."""
        rest = replies[err.delivered :]
        retry = err.retryable or err.unknown
        now = self.clock()
        async with self.storage.transaction() as tx:
            if err.blocked or not retry or not rest:
                await tx.outbox.mark(reply_id, "failed", now=now, error=err.code or str(err))
                return
            row = await tx.outbox.get(reply_id)
            purpose = row.purpose if row is not None else REPLY
            delay = err.retry_after if err.retry_after is not None else FIRST_RETRY_SECONDS
            await tx.outbox.mark(
                reply_id,
                "pending",
                now=now,
                error=err.code or str(err),
                next_attempt_at=now + timedelta(seconds=delay),
                payload=to_payload(Outgoing(tuple(rest), purpose)),
            )

    async def answered(self, inbound_key: str) -> tuple[list[Reply], str | None]:
        """A platform retried a webhook whose answer it never got: the replies to give it
        again (those still waiting for the worker are taken from it), and the language of
        the citizen they were for."""
        async with self.storage.transaction() as tx:
            # The first answer may have been given a moment ago: its row is settled first.
            await self.settle(tx, now=self.clock())
            rows = await tx.outbox.take_answered(inbound_key, now=self.clock())
            citizen = await tx.citizens.get(rows[0].citizen_id) if rows else None
        replies = [reply for row in rows for reply in from_payload(row.payload).replies]
        return replies, citizen.locale if citizen is not None else None
