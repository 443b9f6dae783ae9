"""What a tip's conversation leaves behind once it is over, for someone who copies the
database, its write-ahead log and DATA_KEY: the tipster's answers (the thread, read
through the receipt) are not kept on the session, and the log that still holds the
draft's pages is emptied at the next checkpoint. Found by an outside review of issue 12."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest

from bot import sealed_tips
from bot.crypto import DataCipher
from bot.domain import Channel, Inbound, Reply
from bot.flow import sensitive_flows
from bot.maintenance import purge
from bot.outbound import OutboxWorker
from bot.runtime import Runtime
from bot.sealed_tips import receipt_locator
from bot.staff import keys as staff_keys
from bot.staff.accounts import add_account
from bot.staff.actions import Actor, reply
from bot.storage.sql.inbox import PAYLOAD_CONTEXT
from tests.chat import Chat
from tests.conftest import Clock, start_in
from tests.fakes.memory_sender import MemorySender
from tests.staff import PASSWORD
from tests.test_tip import RECEIPT, REFERENCE
from tests.test_tip_privacy import PHONE, WHAT, every_value, file_tip

QUESTION = "QUESTION-MARK-LYNX: which office, which day?"


class Delivering:
    """The dispatcher driven as the WhatsApp adapter drives it: every answer is sent, and
    the reply queue told so (its next round deletes what is not to be kept)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, msg: Inbound) -> list[Reply]:
        answer = await self.runtime.dispatcher.answer(msg)
        if answer.reply_seq is not None:
            self.runtime.replies.sent(answer.reply_seq)
        return answer.replies


def whatsapp_chat(runtime: Runtime, phone: str) -> Chat:
    return Chat(Delivering(runtime), chat_key=phone, lang="en", channel=Channel.WHATSAPP)  # type: ignore[arg-type]


def opened(runtime: Runtime, blob: bytes) -> bytes:
    """A blob opened with DATA_KEY under any context a session or outbox row uses."""
    cipher = DataCipher.from_setting(runtime.settings.data_key or "")
    for context in (b"session", b"session-reply", b"outbox", PAYLOAD_CONTEXT):
        try:
            return cipher.decrypt(blob, context=context)
        except Exception:
            continue
    return b""


async def readable(runtime: Runtime, marker: str) -> list[tuple[str, str]]:
    """Where the marker can be read with the database and DATA_KEY."""
    found = []
    for table, column, value in await every_value(runtime):
        text = value if isinstance(value, bytes) else str(value).encode()
        if marker.encode() in text or (
            isinstance(value, bytes) and marker.encode() in opened(runtime, value)
        ):
            found.append((table, column))
    return found


def in_the_log(runtime: Runtime, marker: str, tmp: Path) -> list[str]:
    """Where the marker opens with DATA_KEY in any frame of the -wal file, current or
    stale: each frame laid over a copy of the database, every blob tried (the attack of
    an outside review, which found copies the live rows no longer show)."""
    db = runtime.settings.database_path
    log = db.with_name(db.name + "-wal")
    wal = log.read_bytes() if log.exists() else b""
    if len(wal) < 32:
        return []
    page = struct.unpack(">I", wal[8:12])[0]
    found = []
    for n, start in enumerate(range(32, len(wal) - page - 23, page + 24)):
        number = struct.unpack(">I", wal[start : start + 4])[0]
        copy = tmp / f"frame-{n}.sqlite3"
        shutil.copy(db, copy)
        with open(copy, "r+b") as f:
            f.seek((number - 1) * page)
            f.write(wal[start + 24 : start + 24 + page])
        with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(copy)) as c:
            for (table,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                with contextlib.suppress(sqlite3.Error):
                    for row in c.execute(f'SELECT * FROM "{table}"'):
                        for value in row:
                            if isinstance(value, bytes) and marker.encode() in opened(
                                runtime, value
                            ):
                                found.append(f"frame {n}: {table}")
    return found


async def ask(runtime: Runtime, clock: Clock, receipt: str) -> None:
    async with runtime.storage.transaction() as tx:
        [ticket] = await tx.tips.by_locator(receipt_locator(receipt.replace(" ", "")))
        await sealed_tips.add_message(
            tx.tips, ticket, author="staff", body=QUESTION, now=clock(), staff_id=7
        )
        await tx.tickets.set_status(ticket.id, "waiting", now=clock())


@pytest.mark.sqlite_only("reads copies of the SQLite file and its WAL")
async def test_the_thread_read_through_a_receipt_is_not_kept_on_the_session(
    runtime: Runtime, clock: Clock
) -> None:
    tipster = whatsapp_chat(runtime, PHONE)
    receipt = RECEIPT.search(await file_tip(tipster, runtime, "en", confidential=False))
    assert receipt is not None
    await ask(runtime, clock, receipt.group(1))

    reader = whatsapp_chat(runtime, "+77015550100")
    await start_in(reader, "en")
    await reader.press_payload("flow:status")
    await reader.send(receipt.group(1))
    assert QUESTION in reader.text  # shown once, in the chat
    await runtime.outbox.run_once()  # the round that records what went out
    assert await readable(runtime, QUESTION) == []


@pytest.mark.sqlite_only("reads copies of the SQLite file and its WAL")
async def test_the_log_is_emptied_after_a_tips_conversation(runtime: Runtime) -> None:
    storage = runtime.storage
    storage.SCRUB_SECONDS = 0.0  # one truncating checkpoint per request, to see it end
    await storage.checkpoint()
    tipster = whatsapp_chat(runtime, PHONE)
    receipt = RECEIPT.search(await file_tip(tipster, runtime, "en", confidential=False))
    assert receipt is not None
    await runtime.outbox.run_once()
    assert storage.wal_bytes() > 0  # the draft's pages, with the session under DATA_KEY
    await storage.checkpoint()
    assert storage.wal_bytes() == 0
    assert await readable(runtime, WHAT) == []

    # An ordinary conversation does not make every checkpoint a truncating one.
    other = whatsapp_chat(runtime, "+77015550101")
    await start_in(other, "en")
    await runtime.outbox.run_once()
    await storage.checkpoint()
    assert storage.wal_bytes() > 0


@pytest.mark.sqlite_only("reads copies of the SQLite file and its WAL")
async def test_an_investigators_message_to_a_confidential_tipster_goes_once_sent(
    runtime: Runtime, clock: Clock
) -> None:
    """It leaves through the outbox like any staff message; the outbox copy (readable with
    DATA_KEY, and naming the chat and the minute) is deleted once sent, and the sealed
    thread row does not point at it."""
    async with runtime.storage.transaction() as tx:
        db = tx.for_staff
        ivan = await add_account(
            db, "ivan", "investigator", PASSWORD, locale="en", now=clock(), endorsed=True
        )
        pair = await staff_keys.open_pair(db, ivan, PASSWORD)
    assert pair is not None
    tipster = whatsapp_chat(runtime, PHONE)
    done = await file_tip(tipster, runtime, "en", confidential=True)
    reference = REFERENCE.search(done)
    assert reference is not None
    actor = Actor(ivan, None, clock(), tip_private=pair.private)
    async with runtime.storage.transaction() as tx:
        tip = await tx.tickets.by_reference(reference.group(1))
        assert tip is not None
        assert await reply(tx.for_staff, runtime.catalogs, actor, tip, text=QUESTION) is not None
    sender = MemorySender(Channel.WHATSAPP)
    worker = OutboxWorker(runtime.storage, {"whatsapp": sender}, runtime.jobs, clock=clock)
    await worker.run_once()
    assert [chat for chat, _ in sender.sent] == [PHONE]
    assert QUESTION in sender.sent[0][1].replies[0].text
    assert await readable(runtime, QUESTION) == []
    async with runtime.storage.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT outbox_id FROM ticket_messages")
    assert [row[0] for row in rows] == [None]


@pytest.mark.sqlite_only("reads copies of the SQLite file and its WAL")
async def test_a_draft_deleted_as_idle_leaves_no_copy_in_the_log(
    runtime: Runtime, clock: Clock, tmp_path: Path
) -> None:
    """The clean-up job deletes an abandoned tip's draft: the pages that other chats'
    writes copied into the log with the draft still on them go with the next checkpoint."""
    storage = runtime.storage
    storage.SCRUB_SECONDS = 0.0  # the tip's own request is spent at the first checkpoint
    tipster = whatsapp_chat(runtime, PHONE)
    await start_in(tipster, "en")
    await tipster.press_payload("flow:tip")
    await tipster.press_payload("tip:anon")
    await tipster.send(WHAT)
    await runtime.outbox.run_once()
    await storage.checkpoint()
    for n in range(7):  # ordinary traffic rewrites the draft's page into the log
        await start_in(whatsapp_chat(runtime, f"+7701555020{n}"), "en")
    await storage.checkpoint()
    clock.advance(minutes=runtime.settings.session_idle_minutes + 1)
    flows = sensitive_flows(runtime.flows)
    assert (await purge(storage, runtime.settings, clock(), sensitive=flows))["tip_sessions"]
    await storage.checkpoint()
    assert in_the_log(runtime, WHAT[:20], tmp_path) == []


@pytest.mark.sqlite_only("reads copies of the SQLite file and its WAL")
async def test_a_raw_update_deleted_after_the_tip_step_leaves_no_copy(
    runtime: Runtime, clock: Clock, tmp_path: Path
) -> None:
    """A batch of raw updates leaves the inbox once every chat in it is done, often after
    the tip's step asked for its scrub and a checkpoint ran: later ones still truncate."""
    storage = runtime.storage
    async with storage.transaction() as tx:
        row = await tx.inbox.add("telegram", f'{{"text": "{WHAT}"}}'.encode(), now=clock())
    storage.scrub_soon()  # the tip's step
    await storage.checkpoint()
    async with storage.transaction() as tx:  # the next batch lands on the same page
        await tx.inbox.add("telegram", b'{"text": "hello"}', now=clock())
    async with storage.transaction() as tx:  # the tip's batch, done at last
        await tx.inbox.delete_many([row])
    await storage.checkpoint()
    assert in_the_log(runtime, WHAT[:20], tmp_path) == []
