"""Which attachment blobs the database still refers to: the clean-up job deletes the rest.

A blob is referenced by a ticket (`ticket_attachments`), a campaign's image, or a draft in
a conversation (sealed session data). Sessions are read before tickets: filing moves a
draft's files to its ticket in one transaction, so a file in flight is seen in one or the
other, never in neither.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from bot.crypto import DataCipher
from bot.storage.sql.database import Database

_BLOB_ID = re.compile(r"[0-9a-f]{32}")
_CHUNK = 500  # ids per IN (...) list, well under SQLite's parameter limit


class SqlBlobIndex:
    def __init__(self, conn: Database, cipher: DataCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    async def referenced(self, blob_ids: Collection[str]) -> set[str]:
        """Those of `blob_ids` that a draft, a ticket or a campaign refers to.

        Raises DecryptionError if a session does not open: it might hold any of them.
        """
        wanted = set(blob_ids)
        if not wanted:
            return set()
        found: set[str] = set()
        async with self._conn.execute("SELECT data FROM sessions") as cur:
            async for row in cur:
                # Format-blind: any id in the draft's JSON (complaint files are objects,
                # tip files lists) keeps its file.
                plain = self._cipher.decrypt(row[0], context=b"session").decode()
                found.update(wanted.intersection(_BLOB_ID.findall(plain)))
        ids = sorted(wanted - found)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            rows = await self._conn.execute_fetchall(
                f"SELECT DISTINCT blob_id FROM ticket_attachments WHERE blob_id IN ({marks})",
                chunk,
            )
            found.update(row[0] for row in rows)
        rows = await self._conn.execute_fetchall(
            "SELECT image FROM campaigns WHERE image IS NOT NULL"
        )
        for row in rows:
            image = json.loads(row[0])
            if isinstance(image, dict) and image.get("blob_id") in wanted:
                found.add(image["blob_id"])
        return found
