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

from bot.storage.sqlite.loopconn import LoopConnection
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

    def __init__(self, conn: Callable[[], LoopConnection], stores: Callable[[], T]) -> None:
        self._conn = conn
        self._stores = stores
        self.lock = asyncio.Lock()
        self.writes = WriteState()
        self.commits = 0  # COMMITs that succeeded: fewer than units in a burst
        self._group: _Group | None = None
        self._committing: set[asyncio.Task[None]] = set()

    def unit(self) -> _WriteUnit[T]:
        return _WriteUnit(self)

    async def drain(self) -> None:
        """Wait for the commits already queued (before the connection closes)."""
        while self._committing:
            await asyncio.gather(*self._committing, return_exceptions=True)

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
        assert group is not None
        if savepoint:
            self._conn().run("RELEASE unit")
        if group.units == 0:
            task = asyncio.create_task(self._commit(group), name="sqlite-commit")
            self._committing.add(task)
            task.add_done_callback(self._committing.discard)
        group.units += 1
        return group

    def undo(self, savepoint: bool, err: BaseException) -> None:
        """The unit failed: take back its statements only, or everything if it was alone
        or SQLite already rolled the transaction back (a full disk, an I/O error)."""
        conn = self._conn()
        self.writes.failed(err)
        group = self._group
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
        """Queued on the lock by a group's first unit: behind every unit already waiting."""
        async with self.lock:
            if self._group is not group:  # rolled back meanwhile; its units were told
                return
            self._group = None
            try:
                await self.run_when_not_busy("COMMIT")
            except BaseException as err:
                _rollback(self._conn())
                self.writes.failed(err)
                group.settle(err)
                if not isinstance(err, Exception):
                    raise
                return
            self.commits += 1
            self.writes.succeeded()
            group.settle()


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
            except BaseException as err:
                units.undo(self._savepoint, err)
                raise
        finally:
            units.lock.release()
        await _outcome(group)


async def _outcome(group: _Group) -> None:
    """Wait for the group's COMMIT. A cancellation that arrives meanwhile waits for it too,
    and if the unit committed it is delivered at the caller's next await instead: the
    caller must not take a committed step (a numbered answer, a claimed row) for undone."""
    try:
        await asyncio.shield(group.outcome)
    except asyncio.CancelledError:
        await asyncio.wait([group.outcome])
        if group.outcome.exception() is not None:
            raise
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()  # the same cancellation, delivered later: counted once
        task.cancel()


def _rollback(conn: LoopConnection) -> None:
    """Roll back if a transaction is open; a failure here must not hide the first one."""
    if conn.in_transaction:
        try:
            conn.run("ROLLBACK")
        except sqlite3.Error as err:
            log.error("ROLLBACK failed (%s); the next unit of work rolls back first", err)
