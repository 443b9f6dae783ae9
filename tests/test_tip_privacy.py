"""What an anonymous tip leaves behind, read straight from the SQLite file and the
attachment folder, and the tip inbox: receipts from any chat, guessing slowed and refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import sealed_tips
from bot.domain import Attachment, AttachmentKind, Channel, Inbound
from bot.runtime import Runtime
from bot.sealed_tips import receipt_locator
from bot.storage.sql.tickets import TIP_IDS
from tests import sealed
from tests.chat import Chat
from tests.conftest import Clock, start_in
from tests.test_tip import RECEIPT, REFERENCE, handoff_chats

PHONE = "+77015550199"  # the tipster's WhatsApp number: the chat key
PROFILE = "Profile-Name-Marker-Gulnara"
WHAT = "ZEBRA-ORCHID-7731: начальник ОРХИДЕЯ-ЗЕБРА потребовал откат за тендер"
WHO = "WHO-MARK-QUOKKA, Қуокка Б."
WHEN = "WHEN-MARK-NARWHAL last week"
CONTACT = "CONTACT-MARK-AXOLOTL Айгерим +7 777 000 1122"
PDF = b"%PDF-1.4\n" + b"PDF-BODY-MARK-\x01\x02\x03-" * 200
FILE_NAME = "FILENAME-MARK-Ivanov-bribe.pdf"


@pytest.fixture
def handoff_chat(runtime: Runtime, clock: Clock) -> Callable[..., Chat]:
    return handoff_chats(runtime, clock)


def database_files(runtime: Runtime) -> list[Path]:
    db = runtime.settings.database_path
    found = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
    assert db in found
    return found


def raw(paths: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in paths)


def attachment_files(runtime: Runtime) -> list[Path]:
    return [p for p in runtime.settings.attachments_dir.rglob("*") if p.is_file()]


async def every_value(runtime: Runtime) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every cell of every table in the database."""
    cells = []
    async with runtime.storage.read() as tx:
        tables_sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            if tx.dialect.postgres
            else "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
        async with tx.conn.execute(tables_sql) as cur:
            tables = [row[0] for row in await cur.fetchall()]
        for table in tables:
            async with tx.conn.execute(f'SELECT * FROM "{table}"') as cur:
                names = [d[0] for d in cur.description or ()]
                for row in await cur.fetchall():
                    cells += [(table, name, value) for name, value in zip(names, row, strict=True)]
    return cells


def contains(value: Any, needle: str) -> bool:
    if isinstance(value, str):
        return needle in value
    if isinstance(value, bytes):
        return needle.encode() in value
    return str(value) == needle


async def file_tip(chat: Chat, runtime: Runtime, lang: str, *, confidential: bool) -> str:
    """Send a tip full of markers; returns the last reply's text."""
    await start_in(chat, lang)
    await chat.press_payload("flow:tip")
    await chat.press_payload("tip:conf" if confidential else "tip:anon")
    await chat.send(WHAT)
    await chat.press_payload("more:next")
    await chat.send(WHO)
    await chat.press_payload("reg:abai")
    await chat.send(WHEN)
    await chat.send("777 000 тг")
    stored = runtime.attachments.put(PDF, declared_type="application/pdf", file_name=FILE_NAME)
    await chat.send(
        attachments=[
            Attachment(
                AttachmentKind.DOCUMENT, stored.content_type, stored.size, stored.blob_id, FILE_NAME
            )
        ]
    )
    await chat.press_payload("ev:done")
    if confidential:
        await chat.send(CONTACT)
    # The last step as the platform delivers it: with the account's display name.
    replies = await chat.dispatcher.handle(
        Inbound(
            chat.channel,
            chat.chat_key,
            payload="tip:ok",
            profile_name=PROFILE,
            locale_hint=lang,
            external_id=f"wamid.confirm-{chat.chat_key}",
        )
    )
    chat.replies = replies
    return chat.text


@pytest.mark.sqlite_only("searches the SQLite file and its WAL byte by byte")
async def test_anonymous_tip_leaves_no_trace_of_the_sender(new_chat, runtime, clock) -> None:
    chat: Chat = new_chat(chat_key=PHONE, lang="kk", channel=Channel.WHATSAPP)
    done = await file_tip(chat, runtime, "kk", confidential=False)
    receipt = RECEIPT.search(done)
    assert receipt is not None

    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find("whatsapp", PHONE)
        assert citizen is not None
        assert await tx.sessions.load(citizen.id) is None  # the conversation is gone
        assert await tx.tickets.for_citizen(citizen.id) == []
    cells = await every_value(runtime)
    sender = (PHONE, PHONE.lstrip("+"), PROFILE, f"whatsapp:{PHONE}")
    for needle in sender:
        assert [c for c in cells if contains(c[2], needle)] == []
    for needle in sender:
        assert needle.encode() not in raw(database_files(runtime))

    # Nothing in the tip's rows points back at the citizen or the chat.
    tip_tables = ("tickets", "ticket_events", "tip_files", "tip_keys", "ticket_messages")
    chat_hashes = {
        runtime.cipher.keyed_hash(f"whatsapp:{PHONE}", purpose=p)
        for p in ("citizen", "lookup", "tip-owner")
    }
    for table, column, value in cells:
        if table in tip_tables:
            assert value not in chat_hashes, (table, column)
    [tip] = await _rows(runtime, "tickets")
    assert tip["citizen_id"] is None and tip["channel"] is None
    assert tip["summary"] is None and tip["details"] == "{}"
    assert tip["subject"] is None and tip["region"] is None and tip["category"] is None
    assert tip["identity"] is None and tip["owner_hash"] is None
    # Dated to the day only, so it cannot be lined up with the chat's activity.
    midnight = datetime(2026, 3, 16, tzinfo=UTC).isoformat()
    assert clock().hour != 0
    assert (tip["created_at"], tip["updated_at"]) == (midnight, midnight)
    assert tip["id"] >= TIP_IDS  # a random id, not the next in the tickets' sequence
    assert await _rows(runtime, "ticket_events") == []  # no "created" event to line up
    [file_row] = await _rows(runtime, "tip_files")  # sealed in the database, no name
    assert set(file_row) == {"id", "ticket_id", "kind", "content_type", "size", "sealed"}
    assert await _rows(runtime, "ticket_attachments") == []
    assert attachment_files(runtime) == []  # the draft's file left the disk


async def _rows(runtime: Runtime, table: str) -> list[dict[str, Any]]:
    async with (
        runtime.storage.read() as tx,
        tx.conn.execute(f"SELECT * FROM {table} ORDER BY id") as cur,
    ):
        return [dict(row) for row in await cur.fetchall()]


@pytest.mark.sqlite_only("dumps the SQLite file")
async def test_a_dump_shows_no_tip_text_identity_or_file(new_chat, runtime) -> None:
    anonymous: Chat = new_chat(chat_key=PHONE, lang="ru", channel=Channel.WHATSAPP)
    done = await file_tip(anonymous, runtime, "ru", confidential=False)
    receipt = RECEIPT.search(done)
    confidential: Chat = new_chat(chat_key="+77015550288", lang="en", channel=Channel.WHATSAPP)
    await file_tip(confidential, runtime, "en", confidential=True)
    assert receipt is not None
    assert len(await _rows(runtime, "tickets")) == 2

    secrets = [
        WHAT.encode(),
        b"ZEBRA-ORCHID-7731",
        "ОРХИДЕЯ-ЗЕБРА".encode(),
        b"WHO-MARK-QUOKKA",
        b"WHEN-MARK-NARWHAL",
        b"CONTACT-MARK-AXOLOTL",
        "Айгерим".encode(),
        b"+7 777 000 1122",
        b"PDF-BODY-MARK-\x01\x02\x03-PDF-BODY-MARK",
        b"FILENAME-MARK",
        b"+77015550288",
        receipt.group(1).encode(),
        receipt.group(1).replace(" ", "").encode(),
    ]

    def leaks() -> list[tuple[str, bytes]]:
        places = [*database_files(runtime), *attachment_files(runtime)]
        return [(p.name, s) for p in places for s in secrets if s in p.read_bytes()]

    assert attachment_files(runtime) == []  # sealed inside the database, no file on disk
    assert leaks() == []
    # Also once the write-ahead log is folded into the main file.
    await runtime.storage.close()
    assert leaks() == []
    # The markers really are in there, sealed: the key opens them.
    await runtime.storage.open()
    async with runtime.storage.read() as tx:
        [ticket] = await tx.tips.by_locator(receipt_locator(receipt.group(1).replace(" ", "")))
        [meta] = await tx.tips.files(ticket.id)
    assert (await sealed.contents(runtime, ticket))["what"] == WHAT
    keys = await sealed.tip_keys(runtime, ticket)
    async with runtime.storage.read() as tx:
        assert await sealed_tips.file(tx.tips, ticket, keys, meta.id) == ("application/pdf", PDF)


@pytest.mark.parametrize(("filed_in", "checked_in"), [("kk", "en"), ("en", "ru")])
async def test_receipt_works_from_another_chat(
    new_chat, handoff_chat, runtime, clock: Clock, filed_in: str, checked_in: str
) -> None:
    tipster: Chat = new_chat(chat_key=PHONE, lang=filed_in, channel=Channel.WHATSAPP)
    receipt = RECEIPT.search(await file_tip(tipster, runtime, filed_in, confidential=False))
    assert receipt is not None
    async with runtime.storage.transaction() as tx:
        [ticket] = await tx.tips.by_locator(receipt_locator(receipt.group(1).replace(" ", "")))
        await sealed_tips.add_message(
            tx.tips, ticket, author="staff", body="STAFF-QUESTION: which office?", now=clock(),
            staff_id=7,
        )  # fmt: skip
        await tx.tickets.set_status(ticket.id, "waiting", now=clock())

    other: Chat = handoff_chat(chat_key="another-phone", lang=checked_in)
    await start_in(other, checked_in)
    await other.press_payload("flow:handoff")
    await other.send(receipt.group(1))  # handed over like the status flow does
    t = runtime.catalogs[checked_in]
    assert t("tip_inbox.s_waiting") in other.text
    assert "STAFF-QUESTION: which office?" in other.text
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find("console", "another-phone")
        assert citizen is not None
        session = await tx.sessions.load(citizen.id)
    assert session is not None and session.data["d"] == {"ticket": ticket.id}
    assert receipt.group(1).replace(" ", "")[-8:] not in json.dumps(session.data)

    await other.press_payload("ti:answer")
    clock.advance(minutes=17)
    await other.send("ANSWER-MARK: the office on Abai street, room 12")
    assert t("tip_inbox.answer_sent") in other.text
    # The session keeps no key: the thread is shown again only for the receipt.
    assert t("tip_inbox.s_in_review") in other.text and "ANSWER-MARK" not in other.text
    assert t("tip_inbox.receipt_to_read") in other.text
    await other.send(receipt.group(1))
    assert "ANSWER-MARK" in other.text and "STAFF-QUESTION" in other.text
    [answer] = [m for m in await _rows(runtime, "ticket_messages") if m["author"] == "citizen"]
    assert (answer["author"], answer["body"]) == ("citizen", None)
    assert answer["sealed"] is not None and answer["staff_id"] is None
    assert answer["created_at"] == datetime(2026, 3, 16, tzinfo=UTC).isoformat()
    [tip] = await _rows(runtime, "tickets")
    assert tip["status"] == "in_review"
    assert tip["updated_at"] == answer["created_at"]

    await other.press_payload("ti:close")
    async with runtime.storage.read() as tx:
        assert await tx.sessions.load(citizen.id) is None
    assert other.button("🛡")


async def test_receipt_typed_in_the_inbox(new_chat, handoff_chat, runtime) -> None:
    tipster: Chat = new_chat(lang="ru")
    receipt = RECEIPT.search(await file_tip(tipster, runtime, "ru", confidential=True))
    assert receipt is not None
    other: Chat = handoff_chat(chat_key="chat-9", lang="kk")
    await start_in(other, "kk")
    await other.press_payload("flow:handoff")
    await other.send("inbox")
    assert "16 цифрлы түбіртекті" in other.text
    await other.send("not a receipt")
    assert "16 цифрдан тұрады" in other.text
    await other.send(receipt.group(1).replace(" ", "-"))
    assert "тексеруді күтуде" in other.text and "Тексерушілерден әзірге хабар жоқ" in other.text
    await other.send("сәлем")  # typed while a tip is open
    assert "Жауап беру немесе толықтыру" in other.text


async def test_wrong_receipts_are_slowed_then_refused(
    new_chat, handoff_chat, runtime, clock: Clock
) -> None:
    tipster: Chat = new_chat(lang="en")
    receipt = RECEIPT.search(await file_tip(tipster, runtime, "en", confidential=False))
    assert receipt is not None
    guesser: Chat = handoff_chat(chat_key="guesser", lang="en")
    await start_in(guesser, "en")
    await guesser.press_payload("flow:handoff")
    await guesser.send("inbox")
    for guess in range(4):
        await guesser.send(f"1234 5678 9012 000{guess}")
        assert "No report matches" in guesser.text
    await guesser.send("1234 5678 9012 0004")
    assert "Too many wrong attempts. Please try again in 1 minute." in guesser.text
    await guesser.send(receipt.group(1))  # even the right one waits out the lock
    assert "Too many wrong attempts" in guesser.text
    assert "Status:" not in guesser.text

    clock.advance(minutes=1, seconds=1)
    await guesser.send(receipt.group(1))
    assert "Status: received, waiting for review" in guesser.text
    # A hit does not reset the count (one real receipt must not buy fresh guesses).
    await guesser.press_payload("ti:other")
    await guesser.send("9999 9999 9999 9999")
    assert "try again in 2 minutes" in guesser.text


async def test_a_lost_receipt_cannot_be_recovered(new_chat, handoff_chat, runtime) -> None:
    tipster: Chat = handoff_chat(chat_key=PHONE, lang="en")
    done = await file_tip(tipster, runtime, "en", confidential=False)
    assert "cannot be recovered" in done
    [tip] = await _rows(runtime, "tickets")
    # Not by its reference, not from the chat that sent it, not as "my tickets".
    await tipster.press_payload("flow:handoff")
    await tipster.send("inbox")
    await tipster.send(tip["reference"])  # looked up as a reference: no request of this chat
    assert "I found no request with this reference" in tipster.text
    assert "send its 16-digit receipt instead" in tipster.text
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find("console", PHONE)
        assert citizen is not None
        assert await tx.tickets.for_citizen(citizen.id) == []


async def test_a_confidential_tip_opens_by_its_receipt_not_its_reference(
    new_chat, handoff_chat, runtime
) -> None:
    """A tip keeps nothing of the chat that filed it (issue 12's review: a keyed hash of
    the chat named it to anyone holding DATA_KEY), so not even that chat opens it by the
    reference: the receipt does, and the status check says so."""
    tipster: Chat = handoff_chat(chat_key="conf-chat", lang="ru")
    done = await file_tip(tipster, runtime, "ru", confidential=True)
    reference, receipt = REFERENCE.search(done), RECEIPT.search(done)
    assert reference is not None and receipt is not None
    await tipster.press_payload("flow:handoff")
    await tipster.send("inbox")
    await tipster.send(reference.group(1).lower())  # a reference: no request of this chat
    assert "обращения с таким номером нет" in tipster.text
    await tipster.send(receipt.group(1))
    assert "ожидает проверки" in tipster.text
    async with runtime.storage.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT owner_hash FROM tickets")
    assert [row[0] for row in rows] == [None]

    checker: Chat = new_chat(chat_key="conf-chat", lang="ru")
    if "status" in runtime.flows:
        await checker.send("/start")
        await checker.press_payload("flow:status")
        await checker.send(reference.group(1))
        assert "16-значную квитанцию" in checker.text


async def test_status_flow_hands_receipts_over(new_chat, runtime) -> None:
    if "status" not in runtime.flows:
        pytest.skip("the status flow is not installed")
    tipster: Chat = new_chat(chat_key=PHONE, lang="kk")
    receipt = RECEIPT.search(await file_tip(tipster, runtime, "kk", confidential=False))
    assert receipt is not None
    other: Chat = new_chat(chat_key="status-user", lang="ru")
    await start_in(other, "ru")
    await other.press_payload("flow:status")
    await other.send(receipt.group(1))
    assert "Статус: получено, ожидает проверки" in other.text


async def test_a_receipt_locator_gives_away_four_digits_and_old_ones_still_open(
    new_chat, runtime
) -> None:
    """An outside review inverted the six-digit locator in a second, leaving ten digits to
    guess offline; it now keeps four. Tips sealed with the six-digit one still open."""
    tipster: Chat = new_chat(chat_key=PHONE, lang="en")
    receipt = RECEIPT.search(await file_tip(tipster, runtime, "en", confidential=False))
    assert receipt is not None
    digits = receipt.group(1).replace(" ", "")
    [tip] = await _rows(runtime, "tickets")
    assert tip["receipt_locator"] == receipt_locator(digits[:4] + "0" * 12)
    async with runtime.storage.transaction() as tx:
        await tx.conn.execute(
            "UPDATE tickets SET receipt_locator = ?", (receipt_locator(digits, 6),)
        )
    reader: Chat = new_chat(chat_key="another", lang="en")
    await start_in(reader, "en")
    await reader.press_payload("flow:status")
    await reader.send(receipt.group(1))
    assert "ti:answer" in [b.payload for b in reader.buttons]
