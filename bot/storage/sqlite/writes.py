"""Whether the database can write, as the last write transaction found out.

/healthz is polled by load balancers, so it reads this instead of writing. A write that
failed because the disk is full, the file is read-only or I/O fails sets it; the next
write that commits clears it. While it is set, the checkpoint job makes a tiny write
every run, so that an idle bot notices too when space comes back.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

# Primary result codes (the low byte of an extended code) that mean "cannot write".
_PROBLEMS = {
    sqlite3.SQLITE_FULL: "cannot-write",
    sqlite3.SQLITE_IOERR: "cannot-write",
    sqlite3.SQLITE_CANTOPEN: "cannot-write",
    sqlite3.SQLITE_READONLY: "read-only",
}


class WriteState:
    __slots__ = ("error", "problem")

    def __init__(self) -> None:
        self.problem: str | None = None  # "cannot-write" or "read-only" while writes fail
        self.error: str | None = None  # SQLite's name for the last such failure

    def failed(self, err: BaseException) -> None:
        """A write unit ended with `err`; only errors of the disk or file count."""
        code = getattr(err, "sqlite_errorcode", None)
        if not isinstance(err, sqlite3.Error) or code is None:
            return
        problem = _PROBLEMS.get(code & 0xFF)
        if problem is None:
            return
        if self.problem is None:
            log.error("the database cannot write (%s); retrying", err.sqlite_errorname)
        self.problem, self.error = problem, err.sqlite_errorname

    def succeeded(self) -> None:
        if self.problem is not None:
            log.warning("the database writes again after %s", self.error)
            self.problem = self.error = None
