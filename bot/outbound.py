"""Messages that leave outside a conversation turn: staff answers, status notes, deadline
extensions. They go through one path: a durable outbox row, then the channel's `Sender`.

    enqueue (inside the staff action's transaction) → worker claims due rows →
    [Offers: links numbered after the options on screen, chat held] →
    Sender.deliver → sent | held (WhatsApp outside 24 h) | retry | failed

The worker is the one owner of these messages' retries (a sender tries once): a 429 comes
back after its retry_after without spending an attempt; a send whose outcome is unknown
(a timeout: it may have arrived) and a plain failure come back with backoff, up to
MAX_ATTEMPTS, since for a staff answer a rare second copy is better than none; what
already went out of a message in several parts is not sent again. A citizen who blocked
the bot is marked unreachable and not tried again. The worker wakes
when something is queued, and also polls, so rows queued by another process go out too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.domain import Button, Channel, Media, Reply
from bot.errors import DeliveryError
from bot.jobs import Jobs
from bot.link_options import is_link
from bot.storage import Storage, Tx
from bot.storage.records import Citizen
from bot.tasks import stop_task

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A corruption report's answers (its receipt): deleted as soon as they are sent, never
# kept as a record that ties the chat to the tip.
SENSITIVE_REPLY = "reply-sensitive"
# An investigator's message to a confidential tipster: its text is sealed in the tip's
# thread; the outbox copy, readable with DATA_KEY, goes once it is sent.
TIP_MESSAGE = "tip-message"
EPHEMERAL = frozenset({SENSITIVE_REPLY, TIP_MESSAGE})


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What to send, channel-neutral. `reference` fills the WhatsApp update template.

    `template`: a ContentSid that carries this whole message outside WhatsApp's 24-hour
    window (campaigns); when set, a WhatsApp sender sends it there instead of holding,
    with `variables` as its ContentVariables (filled per recipient).

    `paid_broadcast`: a Telegram campaign message the operator chose to pay for
    (allow_paid_broadcast): sent in the budget's paid lane, billed in Stars."""

    replies: tuple[Reply, ...]
    purpose: str
    reference: str | None = None
    template: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    paid_broadcast: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """`held`: accepted but waiting for the citizen (WhatsApp's 24-hour window)."""

    external_id: str | None = None
    held: bool = False
    note: str | None = None


class Settles(Protocol):
    """Records, in the worker's round, what was sent outside it, and sorts out on start
    what a crash left unrecorded (`ReplyQueue`)."""

    async def settle(self, tx: Tx, *, now: datetime) -> int: ...

    async def recover(self, tx: Tx, *, now: datetime) -> int: ...

    async def recover_dead(
        self, tx: Tx, *, alive: Callable[[], Awaitable[set[str] | None]], now: datetime
    ) -> int: ...


class Offers(Protocol):
    """Numbers a message's links after the options on the citizen's screen, where options
    are numbered, and holds the chat until it is sent (`Dispatcher.offering`)."""

    def offering(
        self, citizen: Citizen, replies: tuple[Reply, ...]
    ) -> AbstractAsyncContextManager[tuple[Reply, ...]]: ...


class Sender(Protocol):
    channel: Channel

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        """Send now or say it is held; raise DeliveryError when it could not be sent."""
        ...


def to_payload(outgoing: Outgoing) -> dict[str, Any]:
    return {
        "purpose": outgoing.purpose,
        "reference": outgoing.reference,
        "replies": [_reply(r) for r in outgoing.replies],
    }


def _reply(reply: Reply) -> dict[str, Any]:
    fields: dict[str, Any] = {"text": reply.text, "buttons": [_button(b) for b in reply.buttons]}
    if reply.media:  # a staff member's files: the blob ids, never the bytes
        fields["media"] = [[m.blob_id, m.content_type, m.file_name] for m in reply.media]
    # Written only when set: most replies are on their first page and take no location.
    if reply.page_of != 1:
        fields["page_of"] = reply.page_of
    if reply.takes_location:
        fields["location"] = True
    return fields


def _button(button: Button) -> list[Any]:
    # A link's label is typed in any language where options are numbered (bot/link_options.py).
    if is_link(button.payload):
        return [button.payload, button.label, list(button.aliases)]
    return [button.payload, button.label]


def encode(outgoing: Outgoing) -> bytes:
    """`to_payload` as compact JSON bytes (kept with the session in every step)."""
    return json.dumps(to_payload(outgoing), ensure_ascii=False, separators=(",", ":")).encode()


def decode(raw: bytes) -> Outgoing:
    return from_payload(json.loads(raw))


def from_payload(payload: Mapping[str, Any]) -> Outgoing:
    replies = tuple(
        Reply(
            r["text"],
            tuple(_unpack(b) for b in r.get("buttons", [])),
            tuple(Media(*m) for m in r.get("media", [])),
            page_of=int(r.get("page_of", 1)),
            takes_location=bool(r.get("location", False)),
        )
        for r in payload["replies"]
    )
    return Outgoing(replies, payload["purpose"], payload.get("reference"))


def _unpack(button: list[Any]) -> Button:
    payload, label, *aliases = button
    return Button(payload, label, tuple(aliases[0]) if aliases else ())


async def enqueue(tx: Tx, citizen: Citizen, outgoing: Outgoing, *, now: datetime) -> int:
    """Queue a message for `citizen` in the caller's transaction; returns the outbox id."""
    return await tx.outbox.enqueue(
        citizen.id, citizen.channel, outgoing.purpose, to_payload(outgoing), now=now
    )


# At shutdown the round under way may finish its current send this long.
STOP_WAIT_SECONDS = 5.0


Alive = Callable[[], Awaitable[set[str] | None]]
RECOVER_SECONDS = 5.0  # several instances: how often rows of a dead one are looked for


async def only_one() -> set[str] | None:
    """The default `Alive`: this process is the only instance."""
    return None


class OutboxWorker:
    def __init__(
        self,
        storage: Storage,
        senders: Mapping[str, Sender],
        jobs: Jobs,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_seconds: float = 1.0,
        replies: Settles | None = None,
        offers: Offers | None = None,
        alive: Alive = only_one,
    ) -> None:
        self.storage = storage
        self.offers = offers
        # The instances alive (None: this process is the only one): bot/leases.py.
        self.alive = alive
        # Conversation replies sent from memory are recorded as sent in each round.
        self.replies = replies
        # Other writes batched into each round (a channel's handled inbox rows).
        self._settlers: list[Callable[[Tx], Awaitable[int]]] = []
        self.senders = dict(senders)
        self.jobs = jobs
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def add_settler(self, settle: Callable[[Tx], Awaitable[int]]) -> None:
        self._settlers.append(settle)

    def add_sender(self, sender: Sender) -> None:
        self.senders[sender.channel.value] = sender
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        """Recover what a crash left, once per process, then run the worker."""
        if self._task is not None:
            return
        alive = await self.alive()
        async with self.storage.transaction() as tx:
            if self.replies is not None:
                await self.replies.recover(tx, now=self.clock())
            await tx.outbox.recover_stuck(now=self.clock(), alive=alive)
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox")
        self.poll_every(self.poll_seconds)
        if alive is not None:
            # At once too, for the instances already dead; a failure (two instances
            # starting together) is tried again by the job, never a failed start.
            try:
                await self._recover_the_dead()
            except Exception as err:
                log.warning("outbox: recovering dead instances failed (%s)", type(err).__name__)
            self.jobs.every(RECOVER_SECONDS, self._recover_the_dead, name="outbox:recover")

    async def _recover_the_dead(self) -> None:
        """Several instances: rows an instance that died left 'sending' go out again."""
        async with self.storage.transaction() as tx:
            back = 0
            if self.replies is not None:
                back += await self.replies.recover_dead(tx, alive=self.alive, now=self.clock())
            alive = await self.alive()
            if alive is None:
                return
            back += await tx.outbox.recover_stuck(now=self.clock(), alive=alive)
        if back:
            log.warning("outbox: %d message(s) a dead instance was sending go out again", back)
            self.wake()

    def poll_every(self, seconds: float) -> None:
        """Rows come due without a wake-up too (backoff, retry_after): look this often
        (a test waiting for a retry shortens it while the worker runs)."""
        self.poll_seconds = seconds
        if self._task is not None:
            self.jobs.every(seconds, self._poll, name="outbox:poll")

    async def stop(self, *, wait: float = STOP_WAIT_SECONDS) -> None:
        """Let the round under way end (claimed rows not yet tried go back to pending),
        then stop; a round still sending after `wait` seconds is cancelled."""
        self.jobs.remove("outbox:poll")
        self.jobs.remove("outbox:recover")
        task = self._task
        if task is not None and not task.done():
            self._stopping = True
            self.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), wait)
        await stop_task(task)
        self._task = None
        self._stopping = False
        try:
            async with self.storage.transaction() as tx:
                await self._settle(tx)
        except Exception as exc:
            # Left as they were: sent again or replayed after the restart (at least once).
            log.warning("could not record what was sent at shutdown: %r", exc)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("outbox round failed")
                sent = 0
            if sent == 0:
                await self._wake.wait()
                self._wake.clear()

    async def _poll(self) -> None:
        self.wake()

    async def catch_up(self, *, seconds: float = 5.0) -> int:
        """Deliver what is due now, before a channel takes new messages: on a start after
        a crash, the replies it left unsent go out before the answers to newer messages,
        not after them. Bounded, so that a long backlog does not hold up the start."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        handled = 0
        while loop.time() < deadline and (done := await self.run_once()):
            handled += done
        return handled

    async def _settle(self, tx: Tx) -> None:
        if self.replies is not None:
            await self.replies.settle(tx, now=self.clock())
        for settle in self._settlers:
            await settle(tx)

    async def run_once(self) -> int:
        """Deliver every due row once; returns how many rows were handled."""
        async with self.storage.transaction() as tx:
            await self._settle(tx)
            rows = await tx.outbox.claim_due(list(self.senders), now=self.clock())
        for done, row in enumerate(rows):
            if self._stopping:
                await self._unclaim([later.id for later in rows[done:]])
                return done
            await self._deliver(row.id, row.citizen_id, row.channel, row.payload, row.attempts)
        return len(rows)

    async def _unclaim(self, outbox_ids: list[int]) -> None:
        """Claimed but not tried (the worker is stopping): pending again, attempt refunded."""
        async with self.storage.transaction() as tx:
            for outbox_id in outbox_ids:
                await tx.outbox.mark(outbox_id, "pending", now=self.clock(), refund_attempt=True)

    async def _deliver(
        self,
        outbox_id: int,
        citizen_id: int,
        channel: str,
        payload: Mapping[str, Any],
        attempts: int,
    ) -> None:
        async with self.storage.read() as tx:
            citizen = await tx.citizens.get(citizen_id)
        if citizen is None or citizen.unreachable:
            await self._mark(outbox_id, "failed", error="unreachable")
            return
        try:
            result = await self._send(citizen, channel, from_payload(payload))
        except DeliveryError as err:
            await self._failed(outbox_id, citizen, err, attempts, payload)
            return
        except Exception:
            log.exception("sender %s raised unexpectedly", channel)
            unexpected = DeliveryError("unexpected", retryable=False, unknown=True)
            await self._failed(outbox_id, citizen, unexpected, attempts, payload)
            return
        status = "held" if result.held else "sent"
        if status == "sent" and payload.get("purpose") in EPHEMERAL:
            async with self.storage.transaction() as tx:
                await tx.outbox.delete_sent([outbox_id])
            self.storage.scrub_soon()
            return
        await self._mark(outbox_id, status, external_id=result.external_id, error=result.note)

    async def _send(self, citizen: Citizen, channel: str, outgoing: Outgoing) -> Delivery:
        if self.offers is None:
            return await self.senders[channel].deliver(citizen, outgoing)
        async with self.offers.offering(citizen, outgoing.replies) as replies:
            return await self.senders[channel].deliver(citizen, replace(outgoing, replies=replies))

    async def _failed(
        self,
        outbox_id: int,
        citizen: Citizen,
        err: DeliveryError,
        attempts: int,
        payload: Mapping[str, Any],
    ) -> None:
        if err.blocked:
            async with self.storage.transaction() as tx:
                await tx.citizens.mark_blocked(citizen.id)
                await tx.outbox.mark(outbox_id, "failed", now=self.clock(), error="blocked")
            return
        # The parts that went out in full are not sent again.
        rest = None
        if err.delivered:
            rest = {**payload, "replies": payload["replies"][err.delivered :]}
        if err.retry_after is not None:
            # Throttling, not a failure: due again when the platform said, attempt refunded.
            await self._mark(
                outbox_id,
                "pending",
                error=err.code or str(err),
                next_attempt_at=self.clock() + timedelta(seconds=err.retry_after),
                payload=rest,
                refund_attempt=True,
            )
            return
        if (err.retryable or err.unknown) and attempts < MAX_ATTEMPTS:
            await self._mark(
                outbox_id,
                "pending",
                error=err.code or str(err),
                next_attempt_at=self.clock() + timedelta(seconds=2.0**attempts),
                payload=rest,
            )
            return
        await self._mark(outbox_id, "failed", error=err.code or str(err), payload=rest)

    async def _mark(self, outbox_id: int, status: str, **fields: Any) -> None:
        async with self.storage.transaction() as tx:
            await tx.outbox.mark(outbox_id, status, now=self.clock(), **fields)
