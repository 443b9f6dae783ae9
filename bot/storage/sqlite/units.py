"""Units of work on the writer connection, committed in groups.

Every step, outbox round and staff action is a unit: `SqliteStorage.transaction()`. Units
run one at a time under a lock, but they do not each pay for a COMMIT. The first unit
opens a transaction (BEGIN IMMEDIATE) and, when it ends, queues a commit on the same lock;
the units that are already waiting, or that start before the commit's turn comes, join
the open transaction, each inside a SAVEPOINT of its own. When the commit's turn comes it
commits them all at once, and only then does each unit's `async with` return: a unit is
durable when its caller goes on, exactly as with a COMMIT of its own.

Why: COMMIT writes the changed pages to the WAL, and in a burst the same pages (a
session's B-tree leaf, the dedupe index) change in every step. One commit for the units
that ran in the same turn of the event loop writes them once; the steps of a polling
batch from many chats share a commit instead of paying one each.

    unit A: BEGIN IMMEDIATE … A's statements … (commit queued on the lock)
    unit B: SAVEPOINT unit … B's statements … RELEASE unit
    unit C: SAVEPOINT unit … fails → ROLLBACK TO unit (A and B are kept; C raises)
    commit: COMMIT → A and B return; a failed COMMIT raises in A and B alike

With no other unit waiting the group is one unit, and the cost is what it was: BEGIN,
the statements, COMMIT (the first unit needs no savepoint; a failure rolls back all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from bot.storage.sqlite.writer import LoopWriter
from bot.storage.sqlite.writes import WriteState

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Group:
    """One open transaction and the units that wrote in it."""

    __slots__ = ("outcome", "units")

    def __init__(self) -> None:
        self.outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.units = 0  # units that ended well and wait for the commit

    def settle(self, err: BaseException | None = None) -> None:
        if self.outcome.done():
            return
        if err is None:
            self.outcome.set_result(None)
        else:
            self.outcome.set_exception(err)
            # Retrieved even if no unit waits for it (all of them failed).
            self.outcome.exception()


class WriteUnits(Generic[T]):
    """The writer's lock, its open group and the commits queued for it."""

    BUSY_GIVE_UP_SECONDS = 30.0
    CLOSE_WAIT_SECONDS = 10.0

    def __init__(self, conn: Callable[[], LoopWriter], stores: Callable[[], T]) -> None:
        self._conn = conn
        self._stores = stores
        self.lock = asyncio.Lock()
        self.writes = WriteState()
        self.commits = 0  # COMMITs that succeeded: fewer than units in a burst
        self._group: _Group | None = None
        self._committing: set[asyncio.Task[None]] = set()

    def unit(self) -> _WriteUnit[T]:
        return _WriteUnit(self)

    async def run_when_not_busy(self, sql: str) -> None:
        """Run `sql`; while another process holds the lock, sleep (never block the loop)."""
        conn = self._conn()
        waited, delay = 0.0, 0.001
        while True:
            try:
                conn.run(sql)
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                if waited > self.BUSY_GIVE_UP_SECONDS:
                    raise
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.05)

    # -- called by _WriteUnit, with the lock held ----------------------------------------

    async def begin(self) -> bool:
        """Join the open group (True: in a savepoint) or open one (False)."""
        conn = self._conn()
        if self._group is not None:
            conn.run("SAVEPOINT unit")
            return True
        if conn.in_transaction:  # a ROLLBACK that failed last time
            _rollback(conn)
        # The lock is free nearly always; another process's BEGIN makes us sleep.
        try:
            conn.run("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            await self.run_when_not_busy("BEGIN IMMEDIATE")
        self._group = _Group()
        return False

    def keep(self, savepoint: bool) -> _Group:
        """The unit ended well: its statements stay in the group, committed with it."""
        group = self._group
        if group is None:  # failed meanwhile: the storage closed under the unit
            raise RuntimeError("storage closed")
        if savepoint:
            self._conn().run("RELEASE unit")
        if group.units == 0:
            self._queue_commit(group)
        group.units += 1
        return group

    def undo(self, savepoint: bool, err: BaseException) -> None:
        """The unit failed: take back its statements only, or everything if it was alone
        or SQLite already rolled the transaction back (a full disk, an I/O error)."""
        self.writes.failed(err)
        group = self._group
        try:
            conn = self._conn()
        except RuntimeError as closed:  # the storage closed while the unit ran
            if group is not None:
                self.abandon(group, closed)
            return
        if savepoint and conn.in_transaction:
            try:
                conn.run("ROLLBACK TO unit")
                conn.run("RELEASE unit")
                return
            except sqlite3.Error as undo_err:
                log.error("ROLLBACK TO failed (%s); the whole group is rolled back", undo_err)
                err = undo_err
        _rollback(conn)
        self._group = None
        if group is not None:
            group.settle(err)

    async def _commit(self, group: _Group) -> None:
        """Queued on the lock by a group's first unit: behind every unit already waiting.
        However it ends (cancelled too), the group is settled: no unit waits forever."""
        try:
            async with self.lock:
                await self.finish(group)
        finally:
            if not group.outcome.done() and self._group is group:
                # Cancelled before its turn (a shutdown cancels every task): a unit of
                # the group may be under way, so queue the COMMIT again rather than roll
                # back under it. close() fails whatever is still open at the end.
                self._queue_commit(group)

    def _queue_commit(self, group: _Group) -> None:
        task = asyncio.create_task(self._commit(group), name="sqlite-commit")
        self._committing.add(task)
        task.add_done_callback(self._committing.discard)

    async def finish(self, group: _Group) -> None:
        """COMMIT the open group (the lock is held), and tell its units how it went."""
        if self._group is not group:  # rolled back meanwhile; its units were told
            return
        self._group = None
        try:
            await self.run_when_not_busy("COMMIT")
        except BaseException as err:
            self.abandon(group, err)
            if not isinstance(err, Exception):
                raise
            return
        self.commits += 1
        self.writes.succeeded()
        group.settle()

    def abandon(self, group: _Group, err: BaseException) -> None:
        """Roll the group back (if it is still open) and fail its units with `err`."""
        if self._group is group:
            self._group = None
        self.writes.failed(err)
        with contextlib.suppress(Exception):  # the connection may be closed already
            _rollback(self._conn())
        group.settle(err)

    async def close(self) -> None:
        """Before the connection closes: queued commits run, an open group is failed."""
        while self._committing:
            # wait, not gather: cancelling close() must not cancel the commits.
            await asyncio.wait(set(self._committing))
        # A unit still under way gets a while to end; then its group is failed anyway.
        try:
            await asyncio.wait_for(self.lock.acquire(), self.CLOSE_WAIT_SECONDS)
        except TimeoutError:
            if self._group is not None:
                self.abandon(self._group, RuntimeError("storage closed"))
            return
        try:
            if self._group is not None:
                self.abandon(self._group, RuntimeError("storage closed"))
        finally:
            self.lock.release()


class _WriteUnit(contextlib.AbstractAsyncContextManager[T], Generic[T]):
    """`SqliteStorage.transaction()`: the lock, a place in the open group (BEGIN IMMEDIATE
    or a SAVEPOINT), then — the lock released — the group's COMMIT. A class rather than an
    @asynccontextmanager: it runs on every step.

    After a failure at any statement, COMMIT included, the connection is left outside a
    transaction or back at the unit's savepoint, so the next unit works as soon as space
    is back.
    """

    __slots__ = ("_savepoint", "_units")

    def __init__(self, units: WriteUnits[T]) -> None:
        self._units = units
        self._savepoint = False

    async def __aenter__(self) -> T:
        units = self._units
        await units.lock.acquire()
        try:
            self._savepoint = await units.begin()
        except BaseException as err:
            units.writes.failed(err)
            units.lock.release()
            raise
        return units._stores()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        units = self._units
        try:
            if exc is not None:
                units.undo(self._savepoint, exc)
                return
            try:
                group = units.keep(self._savepoint)
                if units.writes.problem is not None:
                    # While the disk is full, one failing unit would roll back everything
                    # grouped with it (SQLite undoes the whole transaction): commit alone.
                    await units.finish(group)
            except BaseException as err:
                units.undo(self._savepoint, err)
                raise
        finally:
            units.lock.release()
        await _outcome(group)


async def _outcome(group: _Group) -> None:
    """Wait for the group's COMMIT. Cancellations that arrive meanwhile wait for it too,
    and if the unit committed they are delivered at the caller's next await instead: the
    caller must not take a committed step (a numbered answer, a claimed row) for undone."""
    outcome = group.outcome
    cancels = 0
    while True:
        try:
            await asyncio.shield(outcome)
            break
        except BaseException as exc:
            if not outcome.done() or exc is not outcome.exception():
                cancels += 1  # this task was cancelled, not the group failed
            if outcome.done():
                break
    task = asyncio.current_task()
    assert task is not None
    failure = outcome.exception()
    if failure is not None:
        if cancels:
            raise asyncio.CancelledError()  # nothing committed: the cancellation stands
        raise failure
    for _ in range(cancels):
        task.uncancel()  # the same cancellations, delivered at the caller's next await
    for _ in range(cancels):
        task.cancel()


def _rollback(conn: LoopWriter) -> None:
    """Roll back if a transaction is open; a failure here must not hide the first one."""
    if conn.in_transaction:
        try:
            conn.run("ROLLBACK")
        except sqlite3.Error as err:
            log.error("ROLLBACK failed (%s); the next unit of work rolls back first", err)
