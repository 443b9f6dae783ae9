"""Issue 14, from a browser review of the console: every page, in kk, ru and en, shows
words and not the codes behind them (`official_conduct`, `citizen_replied`, `None`,
`True` were seen), and a `?done=` notice is only ever one of the page's own messages."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from bot.domain import Channel
from bot.storage.records import TicketDraft
from tests.campaign_support import add_subscribers
from tests.staff import PASSWORD, Console, console, post_form, sign_in
from tests.test_staff_campaigns import compose_form, created_id, post

SEEN_ATTRIBUTES = re.compile(r'(?:title|placeholder|aria-label|alt|data-confirm)="([^"]*)"')
CODE = re.compile(r"\b(?:None|True|False|[a-z]+(?:_[a-z0-9]+)+|[a-z]+(?:\.[a-z_]+){2,})\b")


def seen(page: str) -> str:
    """What a person reads: text between tags and the attributes a browser shows."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    shown = SEEN_ATTRIBUTES.findall(page)
    return html.unescape(" ".join([re.sub(r"<[^>]+>", " ", page), *shown]))


async def _seed(c: Console) -> int:
    """Tickets as the flows file them, worked on by staff; a tip; a campaign."""
    citizen = await c.citizen("citizen-1", "kk", Channel.TELEGRAM)
    async with c.runtime.storage.transaction() as tx:
        complaint = await tx.tickets.add(
            TicketDraft(
                kind="complaint",
                locale="kk",
                citizen_id=citizen,
                channel="telegram",
                category="official_conduct",
                subject="Госкорпорация «Правительство для граждан» (ЦОН)",
                region="almaty_city",
                summary="Маманнан пара сұрады",
                details={
                    "applicant_name": "Әсел Нұрланқызы",
                    "iin": "900101400123",
                    "location": {"latitude": 43.238, "longitude": 76.945},
                    "body": "gov4c",
                },
            ),
            reference="AB-1001",
            now=c.clock(),
        )
        await tx.tickets.add(
            TicketDraft(
                kind="feedback",
                locale="ru",
                citizen_id=citizen,
                channel="telegram",
                category="real_estate",
                region="astana",
                rating=2,
                summary="Долго",
                details={"reasons": ["wait", "rude"]},
            ),
            reference="AB-1002",
            now=c.clock(),
        )
        await tx.tickets.add_message(complaint.id, author="citizen", body="Иә", now=c.clock())
        await tx.tickets.add_event(
            complaint.id, actor="citizen", action="citizen_replied", now=c.clock()
        )
    await c.rating("real_estate", 2, region="astana", reasons=["wait"])
    await c.tip("TP-1001", confidential=True)
    return citizen


async def _work(c: Console) -> int:
    """What a reviewer and an operator do, so that events and audit entries exist."""
    rita = await c.login("rita")
    url = "/staff/tickets/AB-1001"
    for action, form in (
        ("assign", {"assignee": "me"}),
        ("status", {"status": "waiting", "reason": "Анықтама керек"}),
        ("note", {"text": "Тексеру"}),
        ("reply", {"text": "Құжатты жіберіңіз"}),
        ("deadline", {"due_on": "2026-04-20", "reason": "Сарапшы"}),
    ):
        done = await post_form(rita, url, f"{url}/{action}", form)
        assert done.status_code == 303, (action, done.text)
    olga = await c.login("olga")
    await add_subscribers(c.runtime, 3, region="almaty_city")
    later = compose_form(when="at", at="2026-03-17T10:00", op="create")
    return await created_id(await post(olga, "/staff/campaigns/new", later))


PAGES = {
    "rita": (
        "/staff/inbox",
        "/staff/tickets/AB-1001",
        "/staff/tickets/AB-1002",
        "/staff/tokens",
        "/staff/password",
    ),
    "ivan": ("/staff/inbox", "/staff/tickets/TP-1001", "/staff/keys"),
    "ada": ("/staff/inbox", "/staff/stats", "/staff/accounts", "/staff/audit"),
    "olga": ("/staff/campaigns", "/staff/campaigns/new", "/staff/campaigns/{campaign}"),
}


async def _as(c: Console, name: str, lang: str) -> httpx.AsyncClient:
    web = c.client(lang)
    assert (await sign_in(web, name, PASSWORD)).status_code == 303
    return web


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_no_page_shows_a_code(settings, clock, lang):
    async with console(settings, clock) as c:
        for name, role in (
            ("rita", "reviewer"),
            ("ivan", "investigator"),
            ("ada", "admin"),
            ("olga", "operator"),
        ):
            await c.add_user(name, role, locale=lang)
        await _seed(c)
        campaign = await _work(c)
        codes = {}
        login = await c.client(lang).get("/staff/login")
        codes["/staff/login"] = CODE.findall(seen(login.text))
        for name, pages in PAGES.items():
            web = await _as(c, name, lang)
            for url in pages:
                page = await web.get(url.format(campaign=campaign))
                assert page.status_code == 200, (name, url)
                codes[f"{name} {url}"] = CODE.findall(seen(page.text))
        assert {page: found for page, found in codes.items() if found} == {}
        rita = await _as(c, "rita", lang)
        # Codes of one word: a feedback's reasons, the state body the citizen chose.
        assert "wait, rude" not in seen((await rita.get("/staff/tickets/AB-1002")).text)
        assert "gov4c" not in seen((await rita.get("/staff/tickets/AB-1001")).text)


async def test_a_done_notice_is_only_a_known_message(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.add_user("ada", "admin")
        await c.add_user("olga", "operator")
        await c.complaint("AB-1001")
        campaign = await _work(c)
        pages = {
            "rita": ("/staff/tickets/AB-1001", "/staff/tokens", "/staff/password"),
            "ada": ("/staff/accounts",),
            "olga": (f"/staff/campaigns/{campaign}",),
        }
        for name, urls in pages.items():
            web = await c.login(name)
            for url in urls:
                for planted in ("Your account is blocked, call +7 700", "staff.inbox.title"):
                    page = await web.get(url, params={"done": planted})
                    assert page.status_code == 200
                    assert 'class="ok"' not in page.text, (url, planted)
                    assert planted not in seen(page.text)
