"""Issue 14, "search that finds": the inbox search ignores case in Cyrillic and Kazakh
(SQLite's LIKE folded ASCII only: "цон" found nothing while "ЦОН" found six), covers the
applicant's name, IIN, state body and the citizen's messages, never tips, and a database
from before migration 017 is indexed when it runs."""

from __future__ import annotations

import re
import sqlite3

import pytest

from bot.storage.records import TicketDraft
from tests.staff import Console, console


async def _complaint(c: Console, reference: str, summary: str, **details: str) -> int:
    citizen = await c.citizen("citizen-" + reference, "kk")
    async with c.runtime.storage.transaction() as tx:
        ticket = await tx.tickets.add(
            TicketDraft(
                kind="complaint",
                locale="kk",
                citizen_id=citizen,
                channel="console",
                category="public_service",
                subject=details.pop("subject", None),
                summary=summary,
                details=details,
            ),
            reference=reference,
            now=c.clock(),
        )
    return ticket.id


async def _found(web, text: str) -> set[str]:
    page = await web.get("/staff/inbox", params={"q": text})
    assert page.status_code == 200
    return set(re.findall(r">(AB-\d+)</a>", page.text))


async def test_cyrillic_and_kazakh_words_are_found_in_any_case(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await _complaint(c, "AB-1001", "В ЦОН очередь с утра")
        await _complaint(c, "AB-1002", "Сотрудник цон нагрубил")
        await _complaint(c, "AB-1003", "В Цоне нет талонов")
        await _complaint(c, "AB-1004", "ӘКІМДІК ӨТІНІШТІ ҮШ АЙ ҚАРАМАДЫ")
        await _complaint(c, "AB-1005", "Акимдик не отвечает")  # а is not ә
        web = await c.login("rita")
        want = {"AB-1001", "AB-1002", "AB-1003"}
        assert await _found(web, "цон") == want
        assert await _found(web, "ЦОН") == want
        assert await _found(web, "Цон") == want
        for word in ("әкімдік", "Әкімдік", "ӘКІМДІК"):
            assert await _found(web, word) == {"AB-1004"}
        assert await _found(web, "өтінішті үш") == {"AB-1004"}
        assert await _found(web, "Үш ай") == {"AB-1004"}
        assert await _found(web, "1002") == {"AB-1002"}
        assert await _found(web, '"-*') == set()  # FTS5 syntax is never read from the box


async def test_name_iin_body_and_the_citizens_messages_are_searched(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        first = await _complaint(
            c,
            "AB-2001",
            "Кезек",
            applicant_name="Әсел Нұрланқызы",
            iin="900101400123",
            subject="Халыққа қызмет көрсету орталығы",
        )
        await _complaint(c, "AB-2002", "Кезек")
        async with c.runtime.storage.transaction() as tx:
            await tx.tickets.add_message(first, author="citizen", body="Талон ЖОҒАЛДЫ", now=clock())
            await tx.tickets.add_message(
                first, author="staff", body="Тексереміз", staff_id=1, now=clock()
            )
        await c.tip("AB-2003")
        web = await c.login("rita")
        assert await _found(web, "әсел нұрланқызы") == {"AB-2001"}
        assert await _found(web, "900101400123") == {"AB-2001"}
        assert await _found(web, "ОРТАЛЫҒЫ") == {"AB-2001"}
        assert await _found(web, "жоғалды") == {"AB-2001"}
        assert await _found(web, "тексереміз") == set()  # staff words are not the citizen's
        assert await _found(web, "кезек") == {"AB-2001", "AB-2002"}
        ivan = await c.add_user("ivan", "investigator")
        assert ivan
        investigator = await c.login("ivan")
        assert await _found(investigator, "Взятка") == set()  # tips are never indexed


@pytest.mark.sqlite_only("rewinds SQLite's own search migration (FTS5 triggers)")
async def test_the_migration_indexes_tickets_filed_before_it(settings, clock, catalogs):
    async with console(settings, clock) as c:
        await _complaint(c, "AB-3001", "ЦОН закрыт", applicant_name="Ерлан Қасымов")
        ticket = await _complaint(c, "AB-3002", "Кезек")
        async with c.runtime.storage.transaction() as tx:
            await tx.tickets.add_message(ticket, author="citizen", body="ҮЙДЕН", now=clock())
    with sqlite3.connect(settings.database_path) as conn:  # the database as 016 left it
        conn.execute("DELETE FROM schema_migrations WHERE version = 17")
        conn.execute("DROP TABLE ticket_search")
        for change in ("add", "edit", "drop", "message"):
            conn.execute(f"DROP TRIGGER ticket_search_{change}")
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        web = await c.login("rita")
        assert await _found(web, "цон") == {"AB-3001"}
        assert await _found(web, "қасымов") == {"AB-3001"}
        assert await _found(web, "үйден") == {"AB-3002"}
