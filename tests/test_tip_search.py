# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""Issue 14, "search that finds": tips are never indexed (their content is sealed), so the
investigators' list searched nothing of them. An investigator signed in with a key now
searches their words, fields and thread, opened in memory for the request only: "цон"
finds "ЦОН", Kazakh letters in any case, with the other filters and pages. Without a key
(and for other roles) the search finds nothing and its count tells nothing; nothing
opened is written to the database or its log."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import sealed_tips
from bot.staff import tip_search
from bot.storage.records import Ticket
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.staff import Console, console
from tests.test_api import bearer, token_for
from tests.test_tip_privacy import every_value
from tests.test_tip_traces import in_the_log, readable

SECRET_WORD = "ЖАСЫРЫНСӨЗ"


async def _tip(c: Console, reference: str, **contents: Any) -> Ticket:
    async with c.runtime.storage.transaction() as tx:
        sealed = await sealed_tips.seal_tip(
            reference=reference,
            contents={"what": "Взятка", **contents},
            identity=None,
            files=(),
            recipients=await tx.tips.recipients(),
            receipt=None,
        )
        return await tx.tips.add(
            sealed,
            privacy="anonymous",
            locale="ru",
            due_on=date(2026, 4, 6),
            reference=reference,
            now=c.clock(),
        )


async def _say(c: Console, ticket: Ticket, body: str, *, internal: bool = False) -> None:
    async with c.runtime.storage.transaction() as tx:
        author = "staff" if internal else "citizen"
        await sealed_tips.add_message(
            tx.tips, ticket, author=author, body=body, now=c.clock(), internal=internal
        )


async def _found(web: httpx.AsyncClient, text: str, **filters: str) -> set[str]:
    page = await web.get("/staff/inbox", params={"q": text, **filters})
    assert page.status_code == 200
    return set(re.findall(r">(TP-\d+)</a>", page.text))


async def _tips(c: Console) -> None:
    await _tip(c, "TP-2001", what="В ЦОН требуют деньги за талон", region="almaty_city")
    await _tip(c, "TP-2002", what="ӘКІМДІК ҚЫЗМЕТКЕРІ ӨТІНІШТІ ҮШ АЙ ҰСТАДЫ", region="astana")
    await _tip(c, "TP-2003", what="Акимдик берёт взятки", body="gov4c")  # а is not ә
    fourth = await _tip(c, "TP-2004", what="Взятка в полиции")
    await _say(c, fourth, "Кассир цона снова взяла деньги")
    fifth = await _tip(c, "TP-2005", what="Деньги", who="Серік Әлиев", amount=150000)
    await _say(c, fifth, "Тексеру керек: " + SECRET_WORD, internal=True)


async def test_an_investigator_with_a_key_finds_tips_by_their_words_in_any_case(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        await _tips(c)
        async with c.runtime.storage.transaction() as tx:
            fourth = await tx.tickets.by_reference("TP-2004")
            assert fourth is not None
            await tx.tickets.set_status(fourth.id, "resolved", now=clock())
        web = await c.login("ivan")
        ЦОН = {"TP-2001", "TP-2003", "TP-2004"}  # text, the state body's name, the thread
        assert await _found(web, "цон") == ЦОН
        assert await _found(web, "ЦОН") == ЦОН
        assert await _found(web, "Цон") == ЦОН
        for word in ("әкімдік", "Әкімдік", "ӘКІМДІК", "өтінішті үш", "Үш ай"):
            assert await _found(web, word) == {"TP-2002"}, word
        assert await _found(web, "серік әлиев") == {"TP-2005"}
        assert await _found(web, "150000") == {"TP-2005"}
        assert await _found(web, SECRET_WORD.lower()) == {"TP-2005"}  # an internal note
        assert await _found(web, "2003") == {"TP-2003"}  # the reference, as before
        assert await _found(web, "цон", region="almaty_city") == {"TP-2001"}
        assert await _found(web, "", region="astana") == {"TP-2002"}
        assert await _found(web, "цон", status="resolved") == {"TP-2004"}
        assert await _found(web, "цон полиции") == {"TP-2004"}  # every word, anywhere
        assert await _found(web, "цон әкімдік") == set()
        exported = (await web.get("/staff/export.json", params={"q": "цон"})).json()
        assert {row["reference"] for row in exported} == ЦОН  # the list's link: what it found
        page = (await web.get("/staff/inbox", params={"q": "цон"})).text
        assert "3 tickets found" in page
        assert 'name="q" value="цон"' in page and "disabled" not in _search_box(page)
        # What the search opened is listed, never shown: the text stays on the tip's page.
        assert "талон" not in page and '<option value="astana"' in page


def _search_box(page: str) -> str:
    found = re.search(r'<input type="search"[^>]*>', page)
    assert found
    return found.group(0)


async def test_results_are_paged_and_the_scan_limit_is_said(settings, clock, monkeypatch):
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        for n in range(30):
            await _tip(c, f"TP-{3000 + n}", what=f"ЦОН номер {n}")
            clock.advance(days=1)
        web = await c.login("ivan")
        first = await _found(web, "цон")
        second = await _found(web, "цон", page="2")
        assert len(first) == 25 and len(second) == 5 and not first & second
        page = (await web.get("/staff/inbox", params={"q": "цон"})).text
        assert "30 tickets found" in page and "newest" not in page

        monkeypatch.setattr(tip_search, "SCAN_LIMIT", 4)
        page = (await web.get("/staff/inbox", params={"q": "цон"})).text
        assert set(re.findall(r">(TP-\d+)</a>", page)) == {f"TP-{n}" for n in range(3026, 3030)}
        assert "Only the newest 4 reports were searched" in page


async def _listed(web: httpx.AsyncClient, text: str, **filters: str) -> tuple[set[str], str]:
    page = (await web.get("/staff/inbox", params={"q": text, **filters})).text
    count = re.search(r"\d+ tickets? found", page)
    return set(re.findall(r">(TP-\d+)</a>", page)), count.group(0) if count else ""


async def test_no_key_no_content_match_and_no_count_that_tells(settings, clock):
    async with console(settings, clock) as c:
        ivan_id = await c.add_user("ivan", "investigator")
        await c.add_user("anna", "admin")
        await _tips(c)
        await c.add_user("nina", "investigator")  # after the tips: none was sealed to her
        ivan, nina, anna = await c.login("ivan"), await c.login("nina"), await c.login("anna")
        async with c.runtime.storage.transaction() as tx:  # a session that holds no key
            await tx.conn.execute(
                "UPDATE staff_sessions SET tip_key = NULL WHERE staff_id = ?", (ivan_id,)
            )
        for web, kind in ((ivan, {}), (nina, {}), (anna, {"kind": "tip"})):
            assert await _listed(web, "цон", **kind) == await _listed(web, "ничего", **kind)
        assert (await _listed(nina, "цон"))[0] == set()
        assert (await _listed(nina, "tp-2003"))[0] == {"TP-2003"}  # the reference it lists
        assert (await _listed(anna, "цон", kind="tip"))[0] == set()
        page = (await ivan.get("/staff/inbox", params={"q": "цон"})).text
        assert "disabled" in _search_box(page)
        assert "Corruption reports are searched with your key" in page
        assert (await _listed(ivan, "цон"))[0] == {f"TP-200{n}" for n in range(1, 6)}
        admin_page = (await anna.get("/staff/inbox", params={"q": "цон"})).text
        assert "disabled" not in _search_box(admin_page)  # complaints are searched as before
        assert "Corruption reports are not searched here" in admin_page


@pytest.mark.sqlite_only("compares the SQLite file's bytes before and after")
async def test_a_search_writes_nothing_it_opened(settings, clock, tmp_path: Path):
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        await _tips(c)
        web = await c.login("ivan")
        await web.get("/staff/inbox")
        runtime = c.runtime
        before = set(await every_value(runtime))
        assert await _found(web, SECRET_WORD.lower()) == {"TP-2005"}
        assert await _found(web, "серік") == {"TP-2005"}
        new = set(await every_value(runtime)) - before
        # The audit entry, and where each backend keeps the highest audit id written.
        its_row = {"audit_log", "audit_head" if settings.database_url else "sqlite_sequence"}
        assert {table for table, _, _ in new} == its_row
        assert ("ivan", "tip.search", None) in await c.audit_actions()
        await c.add_user("anna", "admin")
        audit = (await (await c.login("anna")).get("/staff/audit")).text
        assert "searched the words of tips" in audit and "<code>tip.search" not in audit
        db = settings.database_path
        # The file's bytes on SQLite; on PostgreSQL every value read back (`readable`).
        on_disk = (
            b""
            if settings.database_url
            else db.read_bytes() + db.with_name(db.name + "-wal").read_bytes()
        )
        for marker in (SECRET_WORD, SECRET_WORD.lower(), "серік", "Серік Әлиев"):
            assert marker.encode() not in on_disk, marker
            assert await readable(runtime, marker) == []
            if not settings.database_url:
                assert in_the_log(runtime, marker, tmp_path) == []


@pytest.mark.parametrize(
    ("typed", "text", "found"),
    [
        ("цон", "В ЦОН", True),
        ("ӘКІМДІК", "әкімдік", True),
        ("ұстады", "ҰСТАДЫ", True),
        ("һ", "Һ", True),
        ("ғ қ ң", "Ң Қ Ғ", True),
        ("әкімдік", "акимдик", False),
        ("і", "и", False),
    ],
)
def test_words_match_in_any_case(typed: str, text: str, found: bool) -> None:
    assert tip_search.matches(tip_search.words(typed), tip_search.folded([text])) is found


async def test_the_api_finds_a_tip_by_its_reference_only(settings, clock):
    """An API token holds no key (bot/web/api.py says why): its `q` never opens a tip."""
    async with console(settings, clock) as c:
        ivan = await c.add_user("ivan", "investigator")
        await _tips(c)
        token = bearer(await token_for(c, ivan))

        async def listed(text: str) -> set[str]:
            found = await c.client().get("/api/v1/tickets", params={"q": text}, headers=token)
            assert found.status_code == 200
            return {item["reference"] for item in found.json()["items"]}

        assert await listed("цон") == set()
        assert await listed("2003") == {"TP-2003"}
        spec = (await c.client().get("/api/v1/openapi.json")).json()
        assert "reference only" in str(spec["paths"]["/tickets"])
