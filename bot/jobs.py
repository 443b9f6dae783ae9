"""Every periodic job of a running bot, on one APScheduler: one place says what runs when.

The runtime starts the scheduler when it opens and stops it first when it closes; parts
add their jobs by reference as they start and remove them as they stop (the list, with
the intervals, is in docs/ARCHITECTURE.md, "Periodic work"). A periodic job runs again a
fixed time after its run ends, as the loops it replaced did: a slow run (a flush on a busy
database) delays the next one and is never overlapped. Stopping lets the runs under way end.
Loops that are not periodic stay tasks of their own: long polling, the terminal chat, and
the workers woken by an event (the outbox, the campaign senders), whose periodic wake-up
is a job here.

Leader-only jobs (`leader=True`: the campaign scheduler, the clean-up) run only while
this instance holds the leader lease (bot/leases.py), each run cut off when the lease's
time is up; losing the lease stops the runs under way at once. Without a leader
(`led_by` never called: the terminal chat, the admin commands, tests) every job runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]
STOP_WAIT_SECONDS = 5.0


class Leadership(Protocol):
    def remaining(self) -> float:
        """Seconds this instance surely leads for; 0 when it does not."""
        ...


class Jobs:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: set[asyncio.Task[Any]] = set()
        self._every: dict[str, float] = {}  # periodic job -> seconds between runs
        self._leader_only: dict[str, Job] = {}  # leader-only job -> what it runs
        self._leader: Leadership | None = None
        self._cutoffs: set[asyncio.Timeout] = set()  # of the leader-only runs under way
        self._stopping = False
        self.runs: dict[str, int] = {}  # completed runs per job, for tests and readers

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self, *, wait: float = STOP_WAIT_SECONDS) -> None:
        """No new runs; the runs under way end (cancelled after `wait` seconds)."""
        if not self.running:
            return
        self._scheduler.pause()
        self._stopping = True
        if self._running:
            await asyncio.wait(self._running, timeout=wait)
        late = list(self._running)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        self._scheduler.shutdown(wait=False)

    def every(
        self, seconds: float, job: Job, *, name: str, now: bool = False, leader: bool = False
    ) -> None:
        """Run `job` `seconds` after each run ends (the first at once when `now`, else
        after `seconds`), until `remove(name)`. A `leader` job runs only while leading."""
        self._every[name] = seconds
        if leader:
            self._leader_only[name] = job
        self._plan(name, job, 0.0 if now else seconds)

    def at(self, when: datetime, job: Job, *, name: str, leader: bool = False) -> None:
        """Run `job` once at `when` (at once if that has passed); replaces `name`'s time."""
        if leader:
            self._leader_only[name] = job
        self._add(name, job, when)

    def remove(self, name: str) -> None:
        self._every.pop(name, None)
        self._leader_only.pop(name, None)
        if self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    def led_by(self, leader: Leadership) -> None:
        """From now on leader-only jobs run only while `leader` has time left."""
        self._leader = leader

    @property
    def leading(self) -> bool:
        return self._leader is None or self._leader.remaining() > 0

    def leadership_changed(self, leading: bool) -> None:
        """Lost: the leader-only runs under way stop now. Taken: the periodic leader-only
        jobs run now rather than at their next time."""
        if not leading:
            loop = asyncio.get_running_loop()
            for cutoff in self._cutoffs:
                if not cutoff.expired():
                    cutoff.reschedule(loop.time())
            return
        for name, job in self._leader_only.items():
            if name in self._every:
                self._plan(name, job, 0.0)

    def leader_renewed(self) -> None:
        """The lease was renewed: the leader-only runs under way may go on until its new
        end (a run longer than one lease, a million-recipient campaign's start, is not
        cut off while the lease is kept)."""
        if self._leader is None:
            return
        end = asyncio.get_running_loop().time() + self._leader.remaining()
        for cutoff in self._cutoffs:
            if not cutoff.expired():
                cutoff.reschedule(end)

    def table(self) -> list[tuple[str, str]]:
        """(name, when) of every job: what runs when, for a reader or a test."""
        once = [
            (job.id, str(job.trigger))
            for job in self._scheduler.get_jobs()
            if job.id not in self._every
        ]
        return [(name, f"every {seconds:g} s") for name, seconds in self._every.items()] + once

    def _plan(self, name: str, job: Job, seconds: float) -> None:
        self._add(name, job, datetime.now(UTC) + timedelta(seconds=seconds))

    def _add(self, name: str, job: Job, when: datetime) -> None:
        self._scheduler.add_job(
            self._run,
            DateTrigger(run_date=when),
            args=(name, job),
            id=name,
            replace_existing=True,
            misfire_grace_time=None,  # late on a busy loop is still worth running
            # The next run is planned from this run's `finally`, while APScheduler still
            # counts this one as running: with 1, a loop busy past the interval made it
            # skip that next run, and a one-off trigger left no job at all. Runs never
            # overlap anyway: only a finishing run plans the next.
            max_instances=2,
        )

    async def _run(self, name: str, job: Job) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            if name not in self._leader_only or self._leader is None:
                await job()
                self._count(name)
            elif (left := self._leader.remaining()) > 0 and await self._lead(name, job, left):
                self._count(name)
        except Exception:
            log.exception("job %s failed; it runs again at its next time", name)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            log.warning("job %s was still running at shutdown; stopped", name)
        finally:
            self._running.discard(task)
            if name in self._every and not self._stopping:
                self._plan(name, job, self._every[name])

    def _count(self, name: str) -> None:
        self.runs[name] = self.runs.get(name, 0) + 1

    async def _lead(self, name: str, job: Job, left: float) -> bool:
        """Run a leader-only job, cut off when the lease's time is up or it is lost;
        False when it was cut off."""
        cutoff = asyncio.timeout(left)
        self._cutoffs.add(cutoff)
        try:
            async with cutoff:
                await job()
            return True
        except TimeoutError:
            if not cutoff.expired():
                raise  # the job's own
            log.warning("job %s stopped: this instance no longer leads", name)
            return False
        finally:
            self._cutoffs.discard(cutoff)
