# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""`govbot keys rotate`: a database filled through the real flows under DATA_KEY v1 is
re-sealed under v2; restarted with v2 alone, every record still opens. A rotation stopped
midway picks up where it stopped; the command line prints progress and counts."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bot import sealed_tips
from bot.cli import main
from bot.config import Settings
from bot.domain import Channel
from bot.i18n import Catalogs
from bot.keys_cli import init_recovery_key
from bot.logs import LIBRARY_LOGGERS
from bot.outbound import OutboxWorker
from bot.rotation import Progress, rotate
from bot.runtime import Runtime, open_runtime
from bot.staff import keys as staff_keys
from bot.staff.accounts import add_account
from bot.staff.actions import Actor, reply
from bot.staff.records import StaffUser
from bot.storage.sql.tickets import TIP_IDS
from bot.storage.tips import RECOVERY
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.chat import Chat
from tests.conftest import Clock, start_in
from tests.db import database_url
from tests.fakes.memory_sender import MemorySender
from tests.sealed import recovery_private
from tests.staff import PASSWORD
from tests.test_complaint import PDF, attach, to_describe
from tests.test_status import file_complaint
from tests.test_tip import fill_tip, to_notice

REFERENCE = re.compile(r"\b([2-9A-Z]{3}-[2-9A-Z]{4})\b")
STORY = "On 10 March I queued for three hours at the centre and was then refused with no reason."
QUESTION = "Which office was it, and on what day?"
# Every column sealed with DATA_KEY, for the raw check that nothing is left under v1.
# Sealed tips (ids from TIP_IDS up) are sealed to their own keys, not DATA_KEY.
SEALED = {
    "citizens": ("address",),
    "citizen_keys": ("address",),
    "sessions": ("data", "reply"),
    "outbox": ("payload",),
    "inbox": ("payload",),
    "dead_letters": ("payload",),
    "tickets": ("sealed", "identity"),
    "ticket_messages": ("sealed",),
}
DATA_KEY_ROWS = {"tickets": f"id < {TIP_IDS}", "ticket_messages": f"ticket_id < {TIP_IDS}"}


def key(version: int) -> str:
    return f"v{version}:" + base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def keys() -> tuple[str, str]:
    return key(1), key(2)


async def opened(settings: Settings, data_key: str, clock: Clock, catalogs: Catalogs) -> Runtime:
    return await open_runtime(replace(settings, data_key=data_key), clock=clock, catalogs=catalogs)


def chat(runtime: Runtime, chat_key: str) -> Chat:
    return Chat(runtime.dispatcher, chat_key=chat_key, lang="en")


@dataclass
class World:
    """What was filed under v1, to be found again under v2 alone."""

    complaint: str  # reference
    confidential: str
    anonymous: str
    files: dict[str, bytes]  # blob id → plaintext, every file on disk
    recovery: bytes  # the recovery key's private half: opens the sealed tips


async def fill(runtime: Runtime, clock: Clock) -> World:
    """Citizens, sessions, tickets, threads, files, tips, outbox, inbox, dead letters."""
    files: dict[str, bytes] = {}
    await init_recovery_key(runtime)
    async with runtime.storage.transaction() as tx:  # an investigator, keys and all
        db = tx.for_staff
        investigator = await add_account(
            db, "ivan", "investigator", PASSWORD, locale="en", now=clock(), endorsed=True
        )
        pair = await staff_keys.open_pair(db, investigator, PASSWORD)
        assert pair is not None
    complainant = chat(runtime, "complainant")
    complaint = await file_complaint(complainant, runtime, "en")

    drafting = chat(runtime, "drafting")  # mid-flow, with a file in the draft
    await to_describe(drafting, "en")
    await drafting.send(STORY)
    await drafting.press_payload("more:next")
    evidence = await attach(runtime)
    files[evidence.blob_id] = PDF
    await drafting.send(attachments=[evidence])
    assert "Attached: 1 file" in drafting.text

    tipster = chat(runtime, "tipster")
    await to_notice(tipster, "en")
    await tipster.press_payload("tip:conf")
    await fill_tip(tipster, runtime, "en")
    await tipster.send("Aigerim, +7 701 234 5678")
    await tipster.press_payload("tip:ok")
    confidential = REFERENCE.search(tipster.text)
    assert confidential

    anonymous = chat(runtime, "anonymous")
    await to_notice(anonymous, "en")
    await anonymous.press_payload("tip:anon")
    await fill_tip(anonymous, runtime, "en")
    await anonymous.press_payload("tip:ok")

    # A refused upload: on disk, referenced by nothing.
    refused = await runtime.attachments.aput(b"not evidence\n", declared_type=None, file_name=None)
    files[refused.blob_id] = b"not evidence\n"

    reviewer = StaffUser(2, "rita", "reviewer", "en", False, clock())
    ivan = Actor(investigator, None, clock(), tip_private=pair.private)
    async with runtime.storage.transaction() as tx:
        db = tx.for_staff
        tip = await tx.tickets.by_reference(confidential.group(1))
        assert tip is not None
        # An investigator's question: sealed in the tip's thread, and an outbox row.
        await reply(db, runtime.catalogs, ivan, tip, text=QUESTION)
        await reply(db, runtime.catalogs, Actor(reviewer, None, clock()), complaint, text=QUESTION)
        # A further key of the complainant's chat (a WhatsApp user's BSUID, say).
        await tx.citizens.get_or_create_with_session(
            "console", "complainant", now=clock(), linked=("complainant-2",)
        )
        await tx.inbox.add("telegram", b'{"update_id": 7}', now=clock())
        await tx.dead_letters.add("telegram", "MalformedUpdate", b'{"x": 1}', now=clock())
        rows = await tx.conn.execute_fetchall(
            "SELECT t.reference, a.blob_id FROM ticket_attachments a"
            " JOIN tickets t ON t.id = a.ticket_id"
        )
        anonymous_rows = await tx.conn.execute_fetchall(
            "SELECT reference FROM tickets WHERE privacy = 'anonymous'"
        )
        [anonymous_ref] = [row[0] for row in anonymous_rows]
    for _, blob_id in rows:
        files[blob_id] = await runtime.attachments.aget(blob_id)
    assert len(files) == 2  # the draft's, the refused one (tips' files are in the database)
    return World(
        complaint.reference,
        confidential.group(1),
        anonymous_ref,
        files,
        recovery_private(runtime),
    )


async def versions(runtime: Runtime) -> set[int]:
    """The key versions found in every sealed column and file."""
    found: set[int] = set()
    async with runtime.storage.read() as tx:
        for table, columns in SEALED.items():
            for column in columns:
                rows = await tx.conn.execute_fetchall(
                    f"SELECT DISTINCT substr({column}, 1, 1) FROM {table}"
                    f" WHERE {column} IS NOT NULL AND {DATA_KEY_ROWS.get(table, 'TRUE')}"
                )
                found.update(row[0][0] for row in rows)
    for path in runtime.settings.attachments_dir.rglob("*"):
        if path.is_file():
            found.add(path.read_bytes()[0])
    return found


async def check_everything_opens(runtime: Runtime, world: World) -> None:
    """With the runtime's key alone: every chat, draft, ticket, thread, tip, file, message."""
    complainant = chat(runtime, "complainant")
    await complainant.send("/start")  # known: straight to the menu, in English
    await complainant.press_payload("flow:status")
    await complainant.send(world.complaint)
    assert QUESTION in complainant.text  # citizen found by chat; thread readable

    drafting = chat(runtime, "drafting")
    await drafting.send(payload="ev:done")  # the draft goes on where it was
    assert "anonymous appeals are not formally considered" in drafting.text
    await drafting.send("Mary O'Brien")
    await drafting.press_payload("iin:skip")
    assert STORY in drafting.text
    await drafting.press_payload("sum:ok")
    filed = REFERENCE.search(drafting.text)
    assert filed and "registered" in drafting.text

    async with runtime.storage.read() as tx:
        for reference in (world.confidential, world.anonymous):
            tip = await tx.tickets.by_reference(reference)
            assert tip is not None
            keys = await sealed_tips.keys_for(tx.tips, tip, RECOVERY, world.recovery)
            assert (await sealed_tips.contents(tx.tips, tip, keys))["what"].startswith("Yesterday")
            [file] = await tx.tips.files(tip.id)
            opened = await sealed_tips.file(tx.tips, tip, keys, file.id)
            assert opened is not None and opened[1] == b"scan of a receipt\n"
        tip = await tx.tickets.by_reference(world.confidential)
        assert tip is not None
        keys = await sealed_tips.keys_for(tx.tips, tip, RECOVERY, world.recovery)
        [message] = await sealed_tips.messages(tx.tips, tip, keys)
        assert message.body == QUESTION
        identity = await sealed_tips.identity(tx.tips, tip, keys)
        assert identity is not None and identity["chat_key"] == "tipster"
        new = await tx.tickets.by_reference(filed.group(1))
        assert new is not None
        [evidence] = await tx.tickets.attachments(new.id)
        linked = await tx.citizens.find("console", "complainant-2")
        assert linked is not None and linked.chat_key == "complainant"
        [pending] = await tx.inbox.pending("telegram")
        assert pending.payload == b'{"update_id": 7}'
    for blob_id, plain in world.files.items():
        assert runtime.attachments.get(blob_id) == plain
    assert runtime.attachments.get(evidence.blob_id) == PDF

    sender = MemorySender(Channel.CONSOLE)  # the staff messages queued under v1 go out
    worker = OutboxWorker(
        runtime.storage, {"console": sender}, runtime.jobs, clock=runtime.dispatcher.clock
    )
    await worker.run_once()
    delivered = {chat_key: out.replies[0].text for chat_key, out in sender.sent}
    assert QUESTION in delivered["complainant"] and QUESTION in delivered["tipster"]


async def filled(settings: Settings, data_key: str, clock: Clock, catalogs: Catalogs) -> World:
    """A database filled under `data_key` alone, closed again."""
    runtime = await opened(settings, data_key, clock, catalogs)
    try:
        return await fill(runtime, clock)
    finally:
        await runtime.close()


async def opens_with(
    settings: Settings, data_key: str, clock: Clock, catalogs: Catalogs, world: World
) -> None:
    """Restarted with `data_key` alone, every record of `world` still opens."""
    runtime = await opened(settings, data_key, clock, catalogs)
    try:
        await check_everything_opens(runtime, world)
    finally:
        await runtime.close()


async def test_after_rotation_the_new_key_alone_opens_every_record(
    settings: Settings, clock: Clock, catalogs: Catalogs, keys: tuple[str, str]
) -> None:
    v1, v2 = keys
    runtime = await opened(settings, v1, clock, catalogs)
    try:
        world = await fill(runtime, clock)
        assert await versions(runtime) == {1}
    finally:
        await runtime.close()
    names = sorted(p.name for p in settings.attachments_dir.rglob("*") if p.is_file())

    # The new key first, the old one kept: `govbot run` restarted so, and still writing.
    runtime = await opened(settings, f"{v2},{v1}", clock, catalogs)
    try:
        await start_in(chat(runtime, "newcomer"), "en")
        assert await versions(runtime) == {1, 2}
        shown = io.StringIO()
        report = await rotate(
            runtime.storage, runtime.attachments, batch_size=2, progress=Progress(shown)
        )
        assert await versions(runtime) == {2}
    finally:
        await runtime.close()
    assert report.finished and report.failed == 0 and report.left == 0
    counts = {c.name: c for c in report.counts}
    assert counts["citizens"].rotated == 4 and counts["citizens"].total == 5  # not newcomer
    assert counts["attachments"].rotated == 2
    # Complaints hold nothing sealed, and sealed tips nothing under DATA_KEY.
    assert counts["tickets"].total == 1 and counts["tickets"].rotated == 0
    assert counts["outbox"].rotated == 2 and counts["inbox"].rotated == 1
    assert "sessions" in shown.getvalue() and "attachments    " in shown.getvalue()
    # Files keep their names and stay private.
    after = sorted(p for p in settings.attachments_dir.rglob("*") if p.is_file())
    assert sorted(p.name for p in after) == names
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in after)

    await opens_with(settings, v2, clock, catalogs, world)


async def test_a_rotation_stopped_midway_resumes_and_finishes(
    settings: Settings, clock: Clock, catalogs: Catalogs, keys: tuple[str, str]
) -> None:
    v1, v2 = keys
    world = await filled(settings, v1, clock, catalogs)

    runtime = await opened(settings, f"{v2},{v1}", clock, catalogs)
    try:
        first = await rotate(runtime.storage, runtime.attachments, batch_size=1, max_batches=3)
        assert not first.finished
        assert await versions(runtime) == {1, 2}  # three citizens done, the rest not
        assert first.counts[0].rotated == 3
        second = await rotate(runtime.storage, runtime.attachments, batch_size=1)
        assert second.finished and second.left == 0 and second.failed == 0
        assert await versions(runtime) == {2}
    finally:
        await runtime.close()
    # The second run skipped what the first had done, and did the rest.
    assert second.counts[0].rotated == second.counts[0].total - 3
    third_runtime = await opened(settings, f"{v2},{v1}", clock, catalogs)
    try:
        third = await rotate(third_runtime.storage, third_runtime.attachments)
    finally:
        await third_runtime.close()
    assert sum(c.rotated for c in third.counts) == 0  # nothing left to do

    await opens_with(settings, v2, clock, catalogs, world)


async def test_rotation_runs_beside_a_working_bot(
    settings: Settings, clock: Clock, catalogs: Catalogs, keys: tuple[str, str]
) -> None:
    v1, v2 = keys
    world = await filled(settings, v1, clock, catalogs)
    # `govbot run` (restarted with v2 first) and `govbot keys rotate`: two writers, one file.
    bot = await opened(settings, f"{v2},{v1}", clock, catalogs)
    rotator = await opened(settings, f"{v2},{v1}", clock, catalogs)
    try:
        chats = [chat(bot, f"busy-{n}") for n in range(5)]

        async def keep_chatting() -> int:
            answered = 0
            for _ in range(4):
                for busy in chats:
                    await busy.send("/start")
                    answered += bool(busy.replies)
            return answered

        chatting = asyncio.create_task(keep_chatting())
        report = await rotate(rotator.storage, rotator.attachments, batch_size=1)
        assert await chatting == 20  # every step answered while batches committed
        assert report.finished and report.failed == 0 and report.left == 0
        assert await versions(bot) == {2}
    finally:
        await rotator.close()
        await bot.close()
    await opens_with(settings, v2, clock, catalogs, world)


@contextmanager
def logging_kept() -> Iterator[None]:
    """`main` configures logging for the process (root handlers, library loggers' levels
    and filters); give the test runner its own back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name) for name in LIBRARY_LOGGERS}
    saved = {name: (lg.level, lg.filters[:]) for name, lg in libraries.items()}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, (lib_level, filters) in saved.items():
            libraries[name].setLevel(lib_level)
            libraries[name].filters[:] = filters


async def test_the_command_line_rotates_prints_progress_and_counts(
    settings: Settings,
    clock: Clock,
    catalogs: Catalogs,
    keys: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    v1, v2 = keys
    world = await filled(settings, v1, clock, catalogs)
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", database_url(settings))
    monkeypatch.setenv("DATA_DIR", str(settings.var_dir))  # the attachments
    monkeypatch.setenv("DATA_KEY", f"{v2},{v1}")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    with logging_kept():
        status = await asyncio.to_thread(main, ["keys", "rotate", "--batch-size", "2"])
    out, err = capsys.readouterr()
    assert status == 0, err
    finals = re.findall(r"^(\w+) +\[#{20}\] (\d+)/(\d+)$", err, re.M)
    assert [name for name, _, _ in finals] == [
        "citizens",
        "citizen_keys",
        "sessions",
        "outbox",
        "inbox",
        "dead_letters",
        "tickets",
        "ticket_messages",
        "attachments",
    ]
    assert all(done == total for _, done, total in finals)
    assert ("attachments", "2", "2") in finals
    lines = out.splitlines()
    assert lines[0] == "re-encrypted under key v2"
    table = {line.split()[0]: line.split()[1:] for line in lines[2:11]}
    assert table["citizens"] == ["4", "4", "0", "0"]  # rows, rotated, failed, left
    assert table["citizen_keys"] == ["1", "1", "0", "0"]
    assert table["attachments"] == ["2", "2", "0", "0"]
    assert "the older keys may now leave DATA_KEY" in out
    assert "receipts" not in out  # only tips filed before sealing have DATA_KEY receipts

    await opens_with(settings, v2, clock, catalogs, world)


def test_a_batch_size_below_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["keys", "rotate", "--batch-size", "0"])
    assert stopped.value.code == 2
    assert "--batch-size" in capsys.readouterr().err
