"""getUpdates in a loop (TELEGRAM_MODE=polling), spaced out when nothing holds the poll.

Telegram holds an empty getUpdates open for its timeout; a proxy or a misbehaving server
may answer [] at once, and a loop that asks again at once then makes hundreds of requests
a second. An empty answer that came much sooner than the timeout is followed by a short
wait that doubles up to a few seconds; the first update resets it. Sleep and clock are
injected so that tests count polls in virtual time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.errors import DeliveryError

from .inbound import ALLOWED_UPDATES

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25
Sleep = Callable[[float], Awaitable[None]]
Call = Callable[..., Awaitable[Any]]  # TelegramSender.call: errors come as DeliveryError


class EmptyPollBackoff:
    """How long to wait before the next poll, from how the last one went."""

    def __init__(self, timeout: float, *, first: float = 0.25, cap: float = 5.0) -> None:
        self.timeout = timeout
        self.first = first
        self.cap = cap
        self._next = first

    def after(self, *, elapsed: float, updates: int) -> float:
        """Seconds to wait: 0 after updates or a poll the server held; else the next step."""
        if updates or elapsed >= self.timeout / 2:
            self._next = self.first
            return 0.0
        delay = self._next
        self._next = min(self.cap, delay * 2)
        return delay


class Poller:
    """Calls getUpdates (through `TelegramSender.call`) until cancelled and hands each
    batch to `take`. A 429 is waited out; like any 429 it also holds the bot's sends."""

    def __init__(
        self,
        call: Call,
        take: Callable[[list[Any]], Awaitable[None]],
        *,
        wait_for_room: Callable[[], Awaitable[None]],
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._call = call
        self._take = take
        self._wait_for_room = wait_for_room
        self._sleep = sleep
        self._monotonic = monotonic

    async def run(self) -> None:
        offset = 0
        failures = 0
        backoff = EmptyPollBackoff(POLL_TIMEOUT)
        params: dict[str, Any] = {"timeout": POLL_TIMEOUT, "allowed_updates": list(ALLOWED_UPDATES)}
        while True:
            await self._wait_for_room()
            started = self._monotonic()
            try:
                result = await self._call(
                    "getUpdates", {**params, "offset": offset}, read_timeout=POLL_TIMEOUT + 10
                )
            except Exception as err:  # DeliveryError, or a bug: never a silently dead poller
                if isinstance(err, DeliveryError) and err.retry_after is not None:
                    await self._sleep(err.retry_after)
                    continue
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                if isinstance(err, DeliveryError):
                    log.warning("telegram getUpdates failed (%s); retrying in %.1f s", err, delay)
                else:
                    log.exception("telegram getUpdates failed; retrying in %.1f s", delay)
                await self._sleep(delay)
                continue
            elapsed = self._monotonic() - started
            updates = result if isinstance(result, list) else []
            try:
                await self._take(updates)
            except Exception:
                # Not stored (a full disk, say): the offset stays, so that Telegram keeps
                # the batch and the next poll fetches it again.
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.exception("telegram: could not take polled updates; retrying in %.1f s", delay)
                await self._sleep(delay)
                continue
            failures = 0
            for update in updates:
                update_id = update.get("update_id") if isinstance(update, dict) else None
                if type(update_id) is int:
                    offset = max(offset, update_id + 1)
            delay = backoff.after(elapsed=elapsed, updates=len(updates))
            if delay:
                await self._sleep(delay)
