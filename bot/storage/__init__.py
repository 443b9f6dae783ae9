"""Storage: every SQL statement lives below this package.

`Storage` hands out units of work (`Tx`): everything one conversation step changes commits
together or not at all. The SQLite backend is the default; a PostgreSQL backend would
implement the same protocols in bot/storage/postgres/ without touching core or flows.
"""

from bot.storage.base import Storage, Tx

__all__ = ["Storage", "Tx"]
