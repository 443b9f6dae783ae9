"""Leases: work only one govbot instance may do at a time, and which instance does it.

Several `govbot run` processes may share one database (PostgreSQL, or one SQLite file).
A lease is a row (name, holder, expires_at) taken or renewed in one statement
(bot/storage/sql/leases.py); each process is a holder with a random id. `contend` takes
a lease whenever it is free and says when this instance gets or loses it; `lead` does so
for the "leader" lease, whose holder runs the leader-only jobs (bot/jobs.py); `hold` only
if it is free now (Telegram long polling: a second poller is refused). Renewals come every
`renew_seconds`; a holder that dies is replaced once its lease expires.

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
OnChange = Callable[[bool], Awaitable[None]]


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

    async def contend(self, name: str, *, on_change: OnChange) -> Lease:
        """Take `name` now if it is free and keep contending every `renew_seconds`:
        `on_change(True)` when this instance gets it, `on_change(False)` when a renewal
        fails or finds another holder (the work it guards stops; it resumes if the lease
        comes back, say after a moment the database could not answer)."""
        lease = self._lease(name)
        await self._keep(lease, on_change, holding=False)
        return lease

    async def hold(self, name: str, *, on_change: OnChange) -> Lease | None:
        """`contend` for `name` if it is free now; None, and no contending, when another
        instance holds it."""
        lease = self._lease(name)
        if not await lease.take():
            del self._mine[name]
            return None
        await self._keep(lease, on_change, holding=True)
        return lease

    async def lead(self) -> Lease:
        """Contend for the leader lease: the instance that holds it runs the leader-only
        jobs (bot/jobs.py), the others stand by."""

        async def changed(leading: bool) -> None:
            self.jobs.leadership_changed(leading)

        lease = self._lease(LEADER)
        self.jobs.led_by(lease)
        await self._keep(lease, changed, holding=False, renewed=self.jobs.leader_renewed)
        return lease

    async def join(self) -> None:
        """Several instances (the storage is shared): announce this one, for as long as it
        runs, with its "instance:" lease. A lease lost (this process was paused past it)
        is taken again; meanwhile others may have recovered what it was sending."""
        if not self.storage.shared:
            return

        async def changed(held: bool) -> None:
            if not held:  # renewing goes on: taken again at the next renewal
                log.error("instance lease lost (paused past %.0f s?)", self.seconds)

        if await self.hold(INSTANCE + self.holder, on_change=changed) is None:
            raise RuntimeError("this instance's id is taken")  # random: never in practice

    async def alive(self) -> set[str] | None:
        """The instances alive now (their "instance:" lease is live), this one included;
        None when this process is the only one (it recovers everything it left itself)."""
        if not self.storage.shared:
            return None
        async with self.storage.read() as tx:
            names = await tx.leases.live(INSTANCE)
        return {name[len(INSTANCE) :] for name in names} | {self.holder}

    async def _keep(
        self,
        lease: Lease,
        on_change: OnChange,
        *,
        holding: bool,
        renewed: Callable[[], None] = lambda: None,
    ) -> None:
        """Renew (or try to take) `lease` now unless `holding`, then every renew_seconds;
        `renewed` after every renewal that kept or took it."""

        async def renew() -> None:
            nonlocal holding
            now = await lease.take()
            if now:
                renewed()
            if now != holding:
                holding = now
                if now:
                    log.info("lease %s: taken", lease.name)
                else:
                    log.warning("lease %s: lost; this instance stops that work", lease.name)
                await on_change(now)

        if not holding:
            await renew()
        self.jobs.every(self.renew_seconds, renew, name=f"lease:{lease.name}")

    async def release(self, name: str) -> None:
        self.jobs.remove(f"lease:{name}")
        lease = self._mine.pop(name, None)
        if lease is not None:
            await lease.release()

    async def close(self) -> None:
        """Free every lease this instance holds, so another takes over without waiting."""
        for name in list(self._mine):
            await self.release(name)
