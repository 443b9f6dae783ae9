"""SQLite tip store (to be completed by the tip flow's work)."""

from __future__ import annotations

import aiosqlite

from bot.crypto import DataCipher


class SqliteTipStore:
    def __init__(self, conn: aiosqlite.Connection, cipher: DataCipher) -> None:
        self._conn = conn
        self._cipher = cipher
