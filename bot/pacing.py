"""Every rate budget in one place: what comes in (flood control) and what goes out.

A channel's `Budget` paces its sender: an overall rate (Telegram ~30 messages/s per bot,
Twilio's messages a second per sender), a rate per chat (Telegram ~1/s, WhatsApp's pair
limit of one message every 6 s), a hold after a 429, and conversation replies ahead of
everything else. The campaign engine asks the same budget how many broadcast sends may
start (none while a reply waits) and reserves them before it claims rows, so a claimed row
is on the wire at once and its sender does not take a second slot. A rate of 0 means
unlimited. Buckets of chats that have refilled completely are forgotten: they say nothing.

Several instances share one bot by a configured share (`share`): with INSTANCES=n each
paces at 1/n of the bot-wide rates, bursts included, so together they keep to them.
Per-chat rates stay whole: one chat's steps run on one instance at a time, and a
campaign sends to a recipient once.

Telegram's paid broadcasts (allow_paid_broadcast) are a lane of their own in the Telegram
budget: their own overall rate (1,000/s by default, billed in Stars, shared by instances
the same way), reserved by the engine the same way, outside the free 30/s that every other
send keeps; a chat's own rate and a 429's hold still apply to them.

Waiting sends cost nothing while they wait: each books its chat's next slot and sleeps
until it, and for the overall rate they stand in line (replies first) with only the first
asleep until the next token. Thousands of tap-to-answer replies waiting for WhatsApp's
rate once woke at every token to find it taken, and that cost the webhook half its speed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

from bot.config import Settings

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

TELEGRAM_CHAT_BURST = 3  # a step's answer (a note, then the next question) goes out at once
WHATSAPP_CHAT_BURST = 45  # Meta's pair limit: bursts of 45, then one every 6 s
MAX_CHATS = 10_000  # chats remembered before full buckets are forgotten


class Bucket:
    """A token bucket: `rate` tokens a second, at most `capacity`, starting full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def refill(self, now: float) -> float:
        """Tokens now. A hold puts the stamp in the future: nothing accrues before it."""
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens

    def wait_time(self, now: float) -> float:
        """Seconds until one whole token (0 when there is one)."""
        missing = 1.0 - self.refill(now)
        # A token short only by rounding is whole: a sleep that short would not move the
        # clock (a virtual one in tests) and its sleeper would wake to the same shortfall.
        return missing / self.rate + max(0.0, self.stamp - now) if missing > 1e-9 else 0.0

    def book(self, now: float) -> float:
        """Take the next token, now or ahead of time; returns seconds until it is due."""
        wait = self.wait_time(now)
        self.tokens -= 1
        return wait

    def full(self, now: float) -> bool:
        return self.tokens + max(0.0, now - self.stamp) * self.rate >= self.capacity


class ChatBuckets:
    """One bucket per chat, created full; at most `max_chats` before full ones are dropped."""

    def __init__(
        self, rate: float, burst: float, clock: Clock, *, max_chats: int = MAX_CHATS
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_chats = max_chats
        self._buckets: dict[Hashable, Bucket] = {}

    def __contains__(self, chat: Hashable) -> bool:
        return chat in self._buckets

    def take(self, chat: Hashable) -> float:
        """0 when the chat had a token and it is taken; else seconds until it has one."""
        now = self.clock()
        bucket = self._bucket(chat)
        wait = bucket.wait_time(now)
        if wait == 0:
            bucket.tokens -= 1
        return wait

    def _bucket(self, chat: Hashable) -> Bucket:
        bucket = self._buckets.get(chat)
        if bucket is None:
            now = self.clock()
            if len(self._buckets) >= self.max_chats:
                self._buckets = {c: b for c, b in self._buckets.items() if not b.full(now)}
            bucket = self._buckets[chat] = Bucket(self.rate, self.burst, now)
        return bucket

    def book(self, chat: Hashable) -> float:
        """The chat's next slot, taken now; returns seconds until it comes. Slots are
        booked in the order asked, so one chat's sends keep their order."""
        return self._bucket(chat).book(self.clock())

    def give_back(self, chat: Hashable) -> None:
        """A booked slot whose send was cancelled before it came."""
        bucket = self._buckets.get(chat)
        if bucket is not None:
            bucket.tokens = min(bucket.capacity, bucket.tokens + 1)

    def tokens(self, chat: Hashable) -> float:
        bucket = self._buckets.get(chat)
        return bucket.refill(self.clock()) if bucket is not None else self.burst


class PaidLane:
    """Sends Telegram bills (allow_paid_broadcast): a rate of their own, taken in claims of
    at most 50 ms of sends; no line behind replies, which keep the free budget."""

    def __init__(self, per_second: float, now: float) -> None:
        self.per_second = per_second
        self.bucket = Bucket(per_second, max(1.0, per_second / 20), now)
        self.reserved = 0

    def drain(self, until: float) -> None:
        """A 429: nothing accrues before `until`, and what was reserved is gone."""
        self.bucket.tokens = min(self.bucket.tokens, 0.0)
        self.bucket.stamp = max(self.bucket.stamp, until)
        self.reserved = 0


class Budget:
    """One channel's sending budget: overall, per chat, held after a 429, replies first;
    for Telegram also the paid broadcasts' lane (`paid_per_second`)."""

    def __init__(
        self,
        per_second: float,
        per_chat: float,
        *,
        chat_burst: int,
        paid_per_second: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.per_second = per_second
        self.per_chat = per_chat
        self.clock = clock
        self.sleep = sleep
        self._overall = Bucket(per_second, max(1.0, per_second), clock())
        # Broadcasts alone keep to the rate without the overall second's burst: no burst
        # past the platform's limit as a campaign starts, one row claimed as it may go.
        self._broadcast = Bucket(per_second, 1.0, clock())
        self._chats = ChatBuckets(per_chat, float(chat_burst), clock)
        self._broadcasts = ChatBuckets(per_chat, 1.0, clock)  # keyed by citizen id
        self._held_until = 0.0
        # Sends waiting for an overall token, in the order they asked: replies, others.
        self._replies: deque[asyncio.Event] = deque()
        self._others: deque[asyncio.Event] = deque()
        self._reserved = 0
        self.paid = PaidLane(paid_per_second, clock()) if paid_per_second is not None else None

    def hold(self, seconds: float) -> None:
        """Nobody sends for `seconds` (a 429), not even a caller already waiting for a
        slot; the bucket then refills from empty, so the sends that waited do not all
        leave at once when the hold ends."""
        until = self.clock() + seconds
        if until > self._held_until:
            self._held_until = until
            self._overall.tokens = min(self._overall.tokens, 0.0)
            self._overall.stamp = max(self._overall.stamp, until)
            # Slots reserved before the 429 are gone too: spent at its end, they would
            # be a burst where the platform just asked for less.
            self._reserved = 0
            if self.paid is not None:
                self.paid.drain(until)

    async def wait(self, chat: Hashable, *, urgent: bool, paid: bool = False) -> None:
        """Until this send to `chat` may go: a conversation reply is `urgent`; anything
        else waits while a reply does, unless the campaign engine reserved its slot. A
        `paid` broadcast takes its overall slot in the paid lane instead."""
        await self._unheld()
        if self.per_chat > 0 and (wait := self._chats.book(chat)):
            try:
                await self.sleep(wait)
            except asyncio.CancelledError:
                self._chats.give_back(chat)  # the slot was booked for a send now gone
                raise
        if paid and self.paid is not None:
            await self._paid_slot(self.paid)
        elif self.per_second > 0:
            if not urgent and self._reserved:
                self._reserved -= 1
            else:
                await self._overall_slot(urgent)
        # A 429 may have arrived while this caller waited for its slots.
        await self._unheld()

    async def _unheld(self) -> None:
        while (delay := self._held_until - self.clock()) > 0:
            await self.sleep(delay)

    async def _overall_slot(self, urgent: bool) -> None:
        """The next overall token, in turn. Only the first in line sleeps, until the token
        is due (a hold may make it later); the others wait to be first. A reply that comes
        is first at once, ahead of the other sends, however long they have waited."""
        line = self._replies if urgent else self._others
        turn = asyncio.Event()
        line.append(turn)
        try:
            while True:
                if self._first() is not turn:
                    turn.clear()
                    await turn.wait()
                elif wait := self._overall.wait_time(self.clock()):
                    await self.sleep(wait)
                else:
                    self._overall.tokens -= 1
                    return
        finally:
            line.remove(turn)
            if (first := self._first()) is not None:
                first.set()

    async def _paid_slot(self, lane: PaidLane) -> None:
        if lane.reserved:
            lane.reserved -= 1
            return
        if lane.per_second > 0:
            while wait := lane.bucket.wait_time(self.clock()):
                await self.sleep(wait)
            lane.bucket.tokens -= 1

    def _first(self) -> asyncio.Event | None:
        line = self._replies or self._others
        return line[0] if line else None

    # ---- broadcasts: the campaign engine reserves before it claims ------------------

    async def broadcast_room(self, *, paid: bool = False) -> int:
        """How many broadcast sends may start now, waiting until at least one may:
        never while held or while a conversation reply waits for a slot (paid
        broadcasts, in their own lane, wait only for a hold and their own rate)."""
        if paid and self.paid is not None:
            return await self._paid_room(self.paid)
        if self.per_second <= 0:
            # Unlimited, but a 429's hold still holds: rows claimed now would sit in
            # 'sending' for all of it (and be reported unknown after a crash).
            await self._unheld()
            return 1 << 30
        while True:
            now = self.clock()
            wait = max(
                self._overall.wait_time(now),
                self._broadcast.wait_time(now),
                self._held_until - now,
            )
            if wait <= 0 and not self._replies:
                # At least one: a token short only by rounding counts as whole.
                return max(1, int(min(self._overall.tokens, self._broadcast.tokens)))
            await self.sleep(max(wait, 0.001) * (2 if self._replies else 1))

    async def _paid_room(self, lane: PaidLane) -> int:
        if lane.per_second <= 0:
            await self._unheld()
            return 1 << 30
        while True:
            now = self.clock()
            wait = max(lane.bucket.wait_time(now), self._held_until - now)
            if wait <= 0:
                return max(1, int(lane.bucket.tokens))
            await self.sleep(max(wait, 0.001))

    def reserve(self, sends: int, *, paid: bool = False) -> None:
        """Take slots now for sends about to start; their `wait` then takes no other."""
        if paid and self.paid is not None:
            lane = self.paid
            if lane.per_second > 0:
                lane.bucket.refill(self.clock())
                lane.bucket.tokens -= sends
                lane.reserved = min(lane.reserved + sends, int(lane.bucket.capacity))
            return
        if self.per_second > 0:
            for bucket in (self._overall, self._broadcast):
                bucket.refill(self.clock())
                bucket.tokens -= sends
            # Bounded: a reserved send that never came frees at most a second's burst.
            self._reserved = min(self._reserved + sends, int(self._overall.capacity))

    def release(self, sends: int = 1, *, paid: bool = False) -> None:
        """Give back reserved slots whose sends did not happen (a row was skipped)."""
        if paid and self.paid is not None:
            lane = self.paid
            back = min(sends, lane.reserved)
            lane.reserved -= back
            lane.bucket.tokens = min(lane.bucket.capacity, lane.bucket.tokens + back)
            return
        back = min(sends, self._reserved)
        self._reserved -= back
        for bucket in (self._overall, self._broadcast):
            bucket.tokens = min(bucket.capacity, bucket.tokens + back)

    def broadcast_delay(self, recipient: Hashable) -> float:
        """Seconds until `recipient` may get another broadcast message (0: now, and its
        slot is taken): one at a time at this channel's own per-chat rate, so a row due
        too soon is put back for later instead of holding a send slot."""
        return self._broadcasts.take(recipient) if self.per_chat > 0 else 0.0


def share(rate: float, instances: int) -> float:
    """This instance's part of a bot-wide rate when `instances` send for the same bot;
    0 (unlimited) stays 0."""
    return rate / instances


class Pacing:
    """Each channel's budget, built once from the settings, shared by its sender and the
    campaign engine."""

    def __init__(
        self, settings: Settings, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._budgets = {
            "telegram": Budget(
                share(settings.telegram_rate_global, settings.instances),
                settings.telegram_rate_per_chat,
                chat_burst=TELEGRAM_CHAT_BURST,
                paid_per_second=share(settings.telegram_paid_rate, settings.instances),
                clock=clock,
                sleep=sleep,
            ),
            "whatsapp": Budget(
                share(settings.whatsapp_rate, settings.instances),
                settings.whatsapp_rate_per_chat,
                chat_burst=WHATSAPP_CHAT_BURST,
                clock=clock,
                sleep=sleep,
            ),
        }
        self.telegram = self._budgets["telegram"]
        self.whatsapp = self._budgets["whatsapp"]

    def __getitem__(self, channel: str) -> Budget:
        return self._budgets[channel]
