"""Tips stored before sealing (under DATA_KEY, in the tickets' sequence) are sealed at the
next start: new random id, day-only times, files moved into the database, the old rows and
files deleted. After it DATA_KEY opens no tip, and the recovery key opens all of it."""

from __future__ import annotations

import json
import sqlite3

import pytest

from bot import sealed_tips
from bot.keys_cli import init_recovery_key
from bot.runtime import open_runtime
from bot.storage.sql.tickets import TIP_IDS
from tests import sealed
from tests.test_tip_sealing import every_plaintext

TEXT = "LEGACY-TIP-MARK: a bribe at the licensing office"
NOTE = "LEGACY-NOTE-MARK"
SCAN = b"%PDF-1.4 LEGACY-FILE-MARK"


@pytest.mark.sqlite_only("rewrites rows as an old SQLite database held them")
async def test_tips_sealed_with_data_key_are_sealed_for_their_readers(settings, clock, catalogs):
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    recovery = await init_recovery_key(runtime)
    cipher = runtime.cipher
    stored = runtime.attachments.put(SCAN, declared_type="application/pdf", file_name="a.pdf")
    # A tip as the code before migration 011 wrote it.
    async with runtime.storage.transaction() as tx:
        cur = await tx.conn.execute(
            "INSERT INTO tickets (reference, kind, privacy, locale, details, sealed, identity,"
            " receipt_hash, created_at, updated_at) VALUES ('TP-0001', 'tip', 'confidential',"
            " 'ru', '{}', ?, ?, 'old-receipt-hash', '2026-03-10T09:14:00+00:00',"
            " '2026-03-10T09:14:00+00:00')",
            (
                cipher.encrypt_text(json.dumps({"what": TEXT}), context=b"tip:TP-0001"),
                cipher.encrypt_text(json.dumps({"contact": "+77019998877"}),
                                    context=b"tip-identity:TP-0001"),
            ),
        )  # fmt: skip
        old_id = cur.lastrowid
        await tx.conn.execute(
            "INSERT INTO ticket_messages (ticket_id, author, staff_id, internal, sealed,"
            " created_at) VALUES (?, 'staff', 1, 1, ?, '2026-03-11T10:00:00+00:00')",
            (old_id, cipher.encrypt_text(NOTE, context=f"ticket:{old_id}".encode())),
        )
        await tx.conn.execute(
            "INSERT INTO ticket_attachments (ticket_id, blob_id, kind, content_type, size)"
            " VALUES (?, ?, 'document', 'application/pdf', ?)",
            (old_id, stored.blob_id, len(SCAN)),
        )
    await runtime.close()

    restarted = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        assert restarted.new_recovery_key is None  # the same recovery key as before
        with sqlite3.connect(settings.database_path) as conn:
            [(tip_id, created, public)] = conn.execute(
                "SELECT id, created_at, tip_public FROM tickets WHERE reference = 'TP-0001'"
            ).fetchall()
        assert tip_id >= TIP_IDS and created == "2026-03-10T00:00:00+00:00" and public
        assert not runtime.attachments.exists(stored.blob_id)
        found = every_plaintext(settings)
        assert not any(mark in blob for blob in found for mark in (TEXT.encode(), NOTE.encode()))
        restarted.new_recovery_key = recovery  # the holder of the recovery key
        async with restarted.storage.read() as tx:
            ticket = await tx.tickets.get(tip_id)
            assert ticket is not None
            [meta] = await tx.tips.files(tip_id)
        assert (await sealed.contents(restarted, ticket))["what"] == TEXT
        assert (await sealed.identity(restarted, ticket)) == {"contact": "+77019998877"}
        assert [m.body for m in await sealed.thread(restarted, ticket)] == [NOTE]
        keys = await sealed.tip_keys(restarted, ticket)
        async with restarted.storage.read() as tx:
            assert await tx.tips.file(tip_id, meta.id) is not None
        async with restarted.storage.read() as tx:
            assert await sealed_tips.file(tx.tips, ticket, keys, meta.id) == (
                "application/pdf", SCAN,
            )  # fmt: skip
    finally:
        await restarted.close()
