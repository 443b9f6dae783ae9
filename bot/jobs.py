"""Every periodic job of a running bot, on one APScheduler: one place says what runs when.

The runtime starts the scheduler when it opens and stops it first when it closes; parts
add their jobs by reference as they start and remove them as they stop (the list, with
the intervals, is in docs/ARCHITECTURE.md, "Periodic work"). A job that is still running
when its next time comes is skipped, not run twice; stopping lets the runs under way end.
Loops that are not periodic stay tasks of their own: long polling, the terminal chat, and
the workers woken by an event (the outbox, the campaign senders), whose periodic wake-up
is a job here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]
STOP_WAIT_SECONDS = 5.0


class Jobs:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._stopping = False

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
            await asyncio.wait(list(self._running.values()), timeout=wait)
        late = list(self._running.values())
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        self._scheduler.shutdown(wait=False)

    def every(self, seconds: float, job: Job, *, name: str, now: bool = False) -> None:
        """Run `job` every `seconds` (first at once when `now`), until `remove(name)`."""
        first = {"next_run_time": datetime.now(UTC)} if now else {}
        self._add(name, job, IntervalTrigger(seconds=seconds), **first)

    def at(self, when: datetime, job: Job, *, name: str) -> None:
        """Run `job` once at `when` (at once if that has passed); replaces `name`'s time."""
        self._add(name, job, DateTrigger(run_date=when))

    def remove(self, name: str) -> None:
        if self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    def table(self) -> list[tuple[str, str]]:
        """(name, when) of every job: what runs when, for a reader or a test."""
        return [(job.id, str(job.trigger)) for job in self._scheduler.get_jobs()]

    def _add(self, name: str, job: Job, trigger: Any, **options: Any) -> None:
        self._scheduler.add_job(
            self._run,
            trigger,
            args=(name, job),
            id=name,
            replace_existing=True,
            coalesce=True,
            max_instances=3,  # _run skips a run while one is under way, and says nothing
            misfire_grace_time=None,  # late on a busy loop is still worth running
            **options,
        )

    async def _run(self, name: str, job: Job) -> None:
        if name in self._running:
            return
        task = asyncio.current_task()
        assert task is not None
        self._running[name] = task
        try:
            await job()
        except Exception:
            log.exception("job %s failed; it runs again at its next time", name)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            log.warning("job %s was still running at shutdown; stopped", name)
        finally:
            del self._running[name]
