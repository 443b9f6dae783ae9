"""After a full disk, govbot recovers as soon as space returns (issue 11).

In the fault-injection run, 278 citizens were told "Sorry" against 23 normal answers in
the 10 s after the disk was freed. Here the disk fills (tests/full_disk.py) while a
citizen types a long complaint: they get the polite error, nothing half-written is kept,
and the very next message after space returns is answered and saved.
"""

from __future__ import annotations

import sqlite3

import pytest

from bot.runtime import Runtime
from bot.storage.sqlite.writes import WriteState
from tests import full_disk
from tests.chat import Chat
from tests.conftest import start_in
from tests.test_complaint import BODY, REGION, by_reference

pytestmark = pytest.mark.sqlite_only("fills the SQLite file through its page limit")

SORRY = "Извините, у нас произошла ошибка"
# 4000 characters of Cyrillic: 8 KB in the session, more than a page, so it needs new pages.
LONG = ("В ЦОНе №3 мне трижды отказали в приёме документов без объяснения причин. " * 60)[:4000]


async def to_describe(chat: Chat) -> None:
    await start_in(chat, "ru")
    await chat.press_payload("flow:complaint")
    await chat.press_payload("cat:healthcare")
    await chat.send(BODY["ru"])
    await chat.send(REGION["ru"])


async def session_data(runtime: Runtime, chat: Chat) -> dict[str, object]:
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(chat.channel, chat.chat_key)
        assert citizen is not None
        session = await tx.sessions.load(citizen.id)
    assert session is not None
    return session.data


async def test_a_full_disk_says_sorry_and_the_next_message_after_space_returns_is_saved(
    runtime: Runtime, new_chat
) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_describe(chat)
    before = await session_data(runtime, chat)
    asked = chat.text

    assert await full_disk.fill(runtime.storage) > 0
    for _ in range(3):
        await chat.send(LONG)
        assert SORRY in chat.text
    assert await session_data(runtime, chat) == before  # nothing half-written

    full_disk.free(runtime.storage)
    await chat.send(LONG)
    assert SORRY not in chat.text and chat.text != asked
    assert "4000" in chat.text.replace("\xa0", "").replace("\u202f", "").replace(" ", "")
    assert runtime.storage.write_problem is None
    await chat.press_payload("more:next")
    await chat.press_payload("ev:skip")
    await chat.send("Иванова Анна-Мария")
    await chat.press_payload("iin:skip")
    await chat.press_payload("sum:ok")
    ticket = await by_reference(runtime, chat.text)
    assert ticket.summary == LONG.strip()


async def test_the_checkpoint_job_notices_space_came_back_without_any_message(
    runtime: Runtime,
) -> None:
    await full_disk.fill(runtime.storage)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        await full_disk.write_a_page(runtime.storage)
    assert runtime.storage.write_problem == "cannot-write"
    full_disk.free(runtime.storage)
    await runtime.storage.checkpoint()  # the job's run: a tiny write that leaves nothing
    assert runtime.storage.write_problem is None


def test_a_read_only_file_is_told_apart_from_a_full_disk(tmp_path) -> None:
    path = tmp_path / "ro.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    state = WriteState()
    try:
        conn.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as err:
        state.failed(err)
    finally:
        conn.close()
    assert (state.problem, state.error) == ("read-only", "SQLITE_READONLY")
    state.failed(sqlite3.IntegrityError("a bug, not the disk"))
    assert state.problem == "read-only"
    state.succeeded()
    assert state.problem is None
