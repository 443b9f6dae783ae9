"""Logging as govbot runs it: LOG_LEVEL for our own lines, and the libraries whose DEBUG or
INFO lines carry what people typed or who they are kept at WARNING, whatever it says.

Our own log lines carry event names and ids of our own, never message text, phone
numbers, chat ids or SQL parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

# Libraries whose DEBUG or INFO lines carry what people typed or who they are: aiosqlite
# logs every call with its SQL parameters (a user name that was really a password),
# twilio the form of each request (To, From, Body), httpx/aiohttp and telegram URLs with
# tokens and request bodies. They speak at WARNING and above only, whatever LOG_LEVEL says.
LIBRARY_LOGGERS = (
    "aiosqlite",
    "httpx",
    "httpcore",
    "hpack",
    "telegram",
    "twilio",
    "aiohttp",
    "apscheduler",
    "asyncio",
)


def _from_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in LIBRARY_LOGGERS)


class LibraryQuiet(logging.Filter):
    """Drops a library's records below WARNING: on its logger, and on our handlers too, in
    case a library (or a later config) gives a child logger a lower level of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not _from_library(record.name)


_QUIET = LibraryQuiet()


def setup_logging(level: str) -> None:
    """The one place LOG_LEVEL is applied."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QUIET)
    quiet(LIBRARY_LOGGERS)


def quiet(names: Iterable[str]) -> None:
    """These loggers speak at WARNING and above only, even if a later config lowers them.
    Idempotent: a channel calls it for its library's loggers as it starts."""
    for name in names:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
