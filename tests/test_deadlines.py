"""Deadlines of Administrative Procedural Code art. 76 on a fake clock, with Kazakhstan's
days off (Nauryz 2026: 21–25 March): the "due soon" reminder, overdue escalation, the
two-month cap on extensions and the three-working-day redirect warning (issue 14)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date, timedelta

from bot.deadlines import extension_limit, redirect_late, soon_until
from bot.refdata import default_data_dir, load_refdata
from tests.staff import console, post_form

DAYS_OFF = load_refdata(default_data_dir()).days_off


async def delivered(c, n: int) -> list:
    for _ in range(300):
        if len(c.sender.sent) >= n:
            return c.sender.sent
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {n} deliveries, got {c.sender.sent}")


async def due_on(c, reference: str) -> date | None:
    async with c.runtime.storage.read() as tx:
        ticket = await tx.tickets.by_reference(reference)
    assert ticket is not None
    return ticket.due_on


def test_the_extension_limit_is_two_calendar_months_past_the_original_deadline():
    assert extension_limit(date(2026, 4, 6)) == date(2026, 6, 6)
    assert extension_limit(date(2026, 12, 31)) == date(2027, 2, 28)


def test_working_day_counts_skip_nauryz():
    # Thursday 19 March 2026: Friday 20th, then Nauryz and the weekend until Thursday 26th.
    assert soon_until(date(2026, 3, 19), 3, DAYS_OFF) == date(2026, 3, 27)
    assert not redirect_late(date(2026, 3, 19), "new", date(2026, 3, 27), DAYS_OFF)
    assert redirect_late(date(2026, 3, 19), "new", date(2026, 3, 30), DAYS_OFF)
    assert not redirect_late(date(2026, 3, 19), "in_review", date(2026, 3, 30), DAYS_OFF)


async def test_extensions_stop_two_months_past_the_original_deadline_and_on_closed_tickets(
    settings, clock
):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-7001", locale="ru", due_on=date(2026, 4, 6))
        web = await c.login("rita")
        url = "/staff/tickets/AB-7001"

        async def extend(day: str, reason: str = "Нужна экспертиза"):
            return await post_form(web, url, url + "/deadline", {"due_on": day, "reason": reason})

        assert (await extend("2026-05-04", reason="  ")).status_code == 400
        assert (await extend("2026-05-04")).status_code == 303
        # The cap counts from the deadline set at filing (6 April), not from 4 May.
        refused = await extend("2026-06-08")
        assert refused.status_code == 400
        assert "at most two months" in refused.text
        assert await due_on(c, "AB-7001") == date(2026, 5, 4)
        assert (await extend("2026-06-06")).status_code == 303
        (_, (_, second)) = await delivered(c, 2)
        when = c.runtime.catalogs["ru"].date(date(2026, 6, 6))
        assert second.replies[0].text == (
            f"Срок рассмотрения вашего обращения AB-7001 продлён до {when}.\n"
            "Причина: Нужна экспертиза"
        )
        resolved = await post_form(
            web, url, url + "/status", {"status": "resolved", "reason": "Вопрос решён"}
        )
        assert resolved.status_code == 303
        closed = await extend("2026-06-07")
        assert closed.status_code == 409
        assert "closed" in closed.text
        assert await due_on(c, "AB-7001") == date(2026, 6, 6)
        (*_, (_, last)) = await delivered(c, 3)
        assert last.replies[0].text.startswith("Ваше обращение AB-7001 рассмотрено и решено.")
        await asyncio.sleep(0.05)
        assert len(c.sender.sent) == 3  # no "deadline extended" after "resolved"


def sample(metrics: str, kind: str) -> float | None:
    found = re.search(rf'^govbot_tickets_overdue\{{kind="{kind}"\}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else None


async def test_due_soon_overdue_escalation_and_redirect_warning_on_a_fake_clock(settings, clock):
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await c.add_user("ada", "admin")
        clock.advance(days=3)  # Thursday 19 March 2026, the day before Nauryz
        await c.complaint("AB-7101", due_on=date(2026, 3, 27))
        await c.complaint("AB-7102", due_on=date(2026, 3, 30), chat_key="c2")
        await c.complaint("AB-7103", kind="feedback", due_on=date(2026, 3, 18), chat_key="c3")
        await c.tip("AB-7104")
        async with c.runtime.storage.transaction() as tx:
            await tx.conn.execute(
                "UPDATE tickets SET assignee_id = ? WHERE reference = 'AB-7101'", (rita,)
            )
            await tx.conn.execute(
                "UPDATE tickets SET due_on = '2026-03-18' WHERE reference = 'AB-7104'"
            )
        web = await c.login("rita")

        async def rows(query: str) -> list[str]:
            page = await web.get("/staff/inbox" + query)
            assert page.status_code == 200
            return re.findall(r">(AB-\d+)</a>", page.text)

        # Three working days on from Thursday reach past Nauryz to Friday the 27th, so the
        # reminder is on AB-7101 (due the 27th) and not on AB-7102 (due the 30th).
        assert await rows("?due=soon") == ["AB-7101"]
        assert await rows("?due=soon&assignee=me") == ["AB-7101"]
        inbox = (await web.get("/staff/inbox")).text
        assert inbox.count('class="badge soon"') == 1
        assert "Three working days have passed" not in inbox
        ticket = (await web.get("/staff/tickets/AB-7101")).text
        assert 'class="badge soon"' in ticket and 'id="redirect-late"' not in ticket

        # Friday 27th: the 3 working days to forward (20, 26, 27 March) are just used up.
        clock.advance(days=8)
        web = await c.login("rita")  # a console session does not outlive a day
        assert 'id="redirect-late"' not in (await web.get("/staff/tickets/AB-7102")).text
        metrics = (await web.get("/metrics")).text
        assert sample(metrics, "complaint") == 0
        assert sample(metrics, "feedback") == 1
        assert sample(metrics, "tip") is None  # tips stay out of /metrics

        # Monday 30th: AB-7101 is overdue and escalated; untriaged tickets warn.
        clock.advance(days=3)
        web = await c.login("rita")
        assert await rows("?due=soon") == ["AB-7102"]
        assert await rows("?overdue=1") == ["AB-7103", "AB-7101"]  # tips: investigators only
        metrics = (await web.get("/metrics")).text
        assert sample(metrics, "complaint") == 1
        assert sample(metrics, "feedback") == 1
        assert 'id="redirect-late"' in (await web.get("/staff/tickets/AB-7102")).text
        assert "forwarding late" in (await web.get("/staff/inbox")).text
        async with c.runtime.storage.transaction() as tx:
            await tx.conn.execute(
                "UPDATE tickets SET status = 'in_review' WHERE reference = 'AB-7102'"
            )
        assert 'id="redirect-late"' not in (await web.get("/staff/tickets/AB-7102")).text

        assert (await web.get("/staff/overdue")).status_code == 403  # admins' view
        admin = await c.login("ada")
        assert 'href="/staff/overdue"' in (await admin.get("/staff/inbox")).text
        escalated = await admin.get("/staff/overdue", follow_redirects=True)
        assert re.findall(r">(AB-\d+)</a>", escalated.text) == ["AB-7103", "AB-7101"]


async def test_redirect_to_the_competent_body_tells_the_citizen_and_closes_the_ticket(
    settings, clock
):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-7201", locale="kk")
        web = await c.login("rita")
        url = "/staff/tickets/AB-7201"
        page = (await web.get(url)).text
        # Filed Monday 16 March: forwarded by Thursday the 19th, 3 working days later.
        assert c.runtime.catalogs["en"].date(date(2026, 3, 19)) in page
        assert (await post_form(web, url, url + "/redirect", {"body": "  "})).status_code == 400
        body = "Алматы қаласының денсаулық сақтау басқармасы"
        done = await post_form(web, url, url + "/redirect", {"body": body})
        assert done.status_code == 303
        ((_, outgoing),) = await delivered(c, 1)
        assert outgoing.replies[0].text == (
            "Сіздің AB-7201 өтінішіңіз біздің құзыретімізге жатпайды және мына органға"
            f" жіберілді: {body}. Сол орган оны қарап, сізге жауап береді."
        )
        async with c.runtime.storage.read() as tx:
            ticket = await tx.tickets.by_reference("AB-7201")
        assert ticket is not None
        assert (ticket.status, ticket.redirected_to) == ("redirected", body)
        page = (await web.get(url)).text
        assert body in page and "Redirected" in page and 'action="' + url + '/redirect"' not in page
        late = await post_form(web, url, url + "/deadline", {"due_on": "2026-04-10", "reason": "x"})
        assert late.status_code == 409  # a redirected ticket is closed
        assert ("rita", "ticket.redirect", "AB-7201") in await c.audit_actions()


async def test_the_api_redirects_and_refuses_extensions_past_the_cap_or_when_closed(
    settings, clock
):
    from tests.test_api import bearer, token_for

    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await c.complaint("AB-7301", locale="en", due_on=date(2026, 4, 6))
        token = await token_for(c, rita)
        api = c.client()

        async def post(action: str, **body):
            return await api.post(
                f"/api/v1/tickets/AB-7301/{action}", json=body, headers=bearer(token)
            )

        far = await post("deadline", due_on="2026-06-08", reason="Expert opinion", version=1)
        assert far.status_code == 400 and far.json()["error"] == "ticket.deadline_too_far"
        ok = await post("deadline", due_on="2026-06-05", reason="Expert opinion", version=1)
        assert ok.status_code == 200 and ok.json()["due_on"] == "2026-06-05"
        moved = await post("redirect", body="Ministry of Health", version=2)
        assert moved.status_code == 200
        assert moved.json()["status"] == "redirected" and moved.json()["outbox_id"]
        assert moved.json()["redirected_to"] == "Ministry of Health"
        closed = await post("deadline", due_on="2026-06-06", reason="x", version=3)
        assert closed.status_code == 409 and closed.json()["error"] == "ticket.deadline_closed"
        again = await post("redirect", body="Akimat", version=3)
        assert again.status_code == 400 and again.json()["error"] == "ticket.bad_transition"
        listed = await api.get("/api/v1/tickets?due=soon", headers=bearer(token))
        assert listed.status_code == 200 and listed.json()["items"] == []


async def test_the_citizen_sees_a_redirected_ticket_in_words_not_a_code(new_chat, runtime, clock):
    from tests.test_status import file_complaint

    chat = new_chat(lang="kk")
    ticket = await file_complaint(chat, runtime, "kk")
    async with runtime.storage.transaction() as tx:
        await tx.tickets.set_status(ticket.id, "redirected", now=clock())
    await chat.press_payload("flow:status")
    await chat.send(ticket.reference)
    assert "құзыретті органға жіберілді, сізге сол орган жауап береді" in chat.text
    assert "redirected" not in chat.text and "Жауап беру мерзімі" not in chat.text


async def test_a_ticket_filed_without_a_deadline_is_capped_from_its_filing_day_and_no_past_date(
    settings, clock
):
    """Found by an outside review: with no deadline at filing the first extension stored
    'from: None', after which no cap applied; and a date already past was taken."""
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-7009", locale="ru", due_on=None)
        web = await c.login("rita")
        url = "/staff/tickets/AB-7009"

        async def extend(day: str):
            form = {"due_on": day, "reason": "Нужна экспертиза"}
            return await post_form(web, url, url + "/deadline", form)

        filed = clock().date()
        past = await extend((filed - timedelta(days=1)).isoformat())
        assert past.status_code == 400 and "after today" in past.text
        too_far = await extend((filed + timedelta(days=75)).isoformat())
        assert too_far.status_code == 400 and "at most two months" in too_far.text
        assert (await extend((filed + timedelta(days=30)).isoformat())).status_code == 303
        again = await extend((filed + timedelta(days=75)).isoformat())
        assert again.status_code == 400  # still capped after the first extension


async def test_forwarding_after_the_three_working_days_warns_whatever_the_status(settings, clock):
    """A ticket already in review is past the forwarding deadline too: the redirect form
    warns with the date, and a late forwarding is written down as late (event, audit)."""
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-7301", locale="ru")  # filed Monday 16 March 2026
        await c.complaint("AB-7302", locale="ru", chat_key="c2")
        async with c.runtime.storage.transaction() as tx:
            await tx.conn.execute("UPDATE tickets SET status = 'in_review'")
        web = await c.login("rita")
        url = "/staff/tickets/AB-7301"
        assert 'id="redirect-overdue"' not in (await web.get(url)).text
        early = await post_form(web, url, url + "/redirect", {"body": "Акимат"})
        assert early.status_code == 303

        clock.advance(days=4)  # Friday 20 March: the 3 working days ended on the 19th
        web = await c.login("rita")
        url = "/staff/tickets/AB-7302"
        page = (await web.get(url)).text
        assert 'id="redirect-overdue"' in page
        assert c.runtime.catalogs["en"].date(date(2026, 3, 19)) in page
        late = await post_form(web, url, url + "/redirect", {"body": "Акимат"})
        assert late.status_code == 303
        assert '<span class="badge late">late</span>' in (await web.get(url)).text
        async with c.runtime.storage.read() as tx:
            rows = await tx.conn.execute_fetchall(
                "SELECT target, detail FROM audit_log WHERE action = 'ticket.redirect' ORDER BY id"
            )
        lateness = {ref: json.loads(detail).get("late") for ref, detail in rows}
        assert lateness == {"AB-7301": False, "AB-7302": True}
