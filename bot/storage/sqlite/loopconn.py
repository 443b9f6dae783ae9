"""aiosqlite's API, executed on the event loop's own thread: the writer connection.

Why: a conversation step makes about ten short statements. Through aiosqlite's worker
thread each one is a hand-off there and back (two thread switches and a loop wake-up),
and with the single writer lock held that hand-off, not SQLite, capped the bot at a few
hundred steps a second. In WAL mode with synchronous=NORMAL the statements themselves take
microseconds and COMMIT does not fsync, so running them inline is cheaper than waiting for
a thread. The stores keep programming against aiosqlite's types; readers (the staff
console's larger queries) still use a regular aiosqlite connection on its own thread.

The loop must never wait for another process's lock: this connection has busy_timeout=0,
and SqliteStorage retries a busy BEGIN/COMMIT with asyncio.sleep. Checkpoints are run by
SqliteStorage off the loop thread (wal_autocheckpoint is off here).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite


class LoopConnection(aiosqlite.Connection):
    def __init__(self, path: Path) -> None:
        super().__init__(lambda: sqlite3.connect(path, isolation_level=None), iter_chunk_size=64)
        # No worker thread: connect here, on the loop thread that will use it.
        self._connection = self._connector()

    def run(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Execute now, without aiosqlite's wrappers: the hot path's few statements."""
        conn = self._connection
        if not self._running or conn is None:
            raise ValueError("Connection closed")
        return conn.execute(sql, parameters)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()
