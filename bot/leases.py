"""Leases: work only one govbot instance may do at a time, and which instance does it.

Several `govbot run` processes may share one database (PostgreSQL, or one SQLite file).
A lease is a row (name, holder, expires_at) taken or renewed in one statement
(bot/storage/sql/leases.py); each process is a holder with a random id. `hold` takes a
lease once (Telegram long polling: a second poller is refused) and `lead` keeps
contending for the "leader" lease, whose holder runs the leader-only jobs (bot/jobs.py).
Both renew every `renew_seconds`; a holder that dies is replaced once its lease expires.

Rows rather than a session advisory lock: they work on both backends and across
processes on one SQLite file, need no pinned connection, and can be read in the table.

Fencing by time: an instance counts its lease as held until `seconds` after it asked for
it (its monotonic clock), which is no later than the expiry the database wrote. So it
stops before another instance can take over, even when it was paused (a stopped process,
a VM migration) past the expiry, and a renewal that fails stops it at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from bot.jobs import Jobs
from bot.storage import Storage

log = logging.getLogger(__name__)

LEADER = "leader"
# Held by every instance sharing a database, for as long as it runs: rows it marked
# 'sending' are recovered by the others only once this lease has expired.
INSTANCE = "instance:"
Monotonic = Callable[[], float]


class Lease:
    """One named lease as this instance sees it."""

    def __init__(
        self,
        storage: Storage,
        name: str,
        holder: str,
        *,
        seconds: float,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.storage = storage
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self._monotonic = monotonic
        self._until = 0.0  # monotonic time at which this instance stops counting on it

    def remaining(self) -> float:
        """Seconds this instance surely holds the lease for; 0 when it does not."""
        return max(0.0, self._until - self._monotonic())

    @property
    def held(self) -> bool:
        return self.remaining() > 0

    async def take(self) -> bool:
        """Take or renew the lease; False (and not held from now on) when another holder
        has it or the database could not say in time."""
        asked = self._monotonic()
        try:
            async with asyncio.timeout(self.seconds):
                async with self.storage.transaction() as tx:
                    taken = await tx.leases.take(self.name, self.holder, seconds=self.seconds)
        except Exception as err:  # a database that cannot answer cannot vouch for it
            log.warning("lease %s: could not take or renew it (%s)", self.name, type(err).__name__)
            taken = False
        self._until = asked + self.seconds if taken else 0.0
        return taken

    async def release(self) -> None:
        """Stop counting on it and free it for another instance at once."""
        self._until = 0.0
        try:
            async with self.storage.transaction() as tx:
                await tx.leases.release(self.name, self.holder)
        except Exception as err:  # it expires by itself
            log.warning("lease %s: could not release it (%s)", self.name, type(err).__name__)


class Leases:
    """This instance's leases, renewed by jobs on the runtime's scheduler."""

    def __init__(
        self,
        storage: Storage,
        jobs: Jobs,
        *,
        seconds: float = 10.0,
        renew_seconds: float = 3.0,
        holder: str | None = None,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.storage = storage
        self.jobs = jobs
        self.seconds = seconds
        self.renew_seconds = renew_seconds
        self.holder = holder or secrets.token_hex(8)
        self._monotonic = monotonic
        self._mine: dict[str, Lease] = {}

    def _lease(self, name: str) -> Lease:
        lease = Lease(
            self.storage, name, self.holder, seconds=self.seconds, monotonic=self._monotonic
        )
        self._mine[name] = lease
        return lease

    async def hold(self, name: str, *, on_lost: Callable[[], Awaitable[None]]) -> Lease | None:
        """Take `name` now and keep renewing it; None when another instance holds it.
        `on_lost` runs once if a renewal fails or finds another holder (renewing stops)."""
        lease = self._lease(name)
        if not await lease.take():
            del self._mine[name]
            return None

        async def renew() -> None:
            if not await lease.take():
                self.jobs.remove(f"lease:{name}")
                self._mine.pop(name, None)
                log.error("lease %s: lost; this instance stops that work", name)
                await on_lost()

        self.jobs.every(self.renew_seconds, renew, name=f"lease:{name}")
        return lease

    async def lead(self) -> Lease:
        """Contend for the leader lease now and every `renew_seconds`: the instance that
        holds it runs the leader-only jobs (bot/jobs.py), the others stand by."""
        lease = self._lease(LEADER)
        self.jobs.led_by(lease)
        leading = False

        async def contend() -> None:
            nonlocal leading
            now = await lease.take()
            if now != leading:
                leading = now
                log.info("leader lease %s", "taken: this instance leads" if now else "lost")
                self.jobs.leadership_changed(now)

        await contend()
        self.jobs.every(self.renew_seconds, contend, name=f"lease:{LEADER}")
        return lease

    async def join(self) -> None:
        """Several instances (the storage is shared): announce this one, for as long as it
        runs, with its "instance:" lease. A lease lost (this process was paused past it)
        is taken again: meanwhile others may have recovered rows it was sending."""
        if not self.storage.shared:
            return
        name = INSTANCE + self.holder

        async def rejoin() -> None:
            log.error("instance lease lost (paused past %.0f s?); taking it again", self.seconds)
            await self.hold(name, on_lost=rejoin)

        if await self.hold(name, on_lost=rejoin) is None:
            raise RuntimeError("this instance's id is taken")  # random: never in practice

    async def alive(self) -> set[str] | None:
        """The instances alive now (their "instance:" lease is live), this one included;
        None when this process is the only one (it recovers everything it left itself)."""
        if not self.storage.shared:
            return None
        async with self.storage.read() as tx:
            names = await tx.leases.live(INSTANCE)
        return {name[len(INSTANCE) :] for name in names} | {self.holder}

    async def release(self, name: str) -> None:
        self.jobs.remove(f"lease:{name}")
        lease = self._mine.pop(name, None)
        if lease is not None:
            await lease.release()

    async def close(self) -> None:
        """Free every lease this instance holds, so another takes over without waiting."""
        for name in list(self._mine):
            await self.release(name)
