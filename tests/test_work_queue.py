"""The staff inbox as a work queue (issue 14): tickets the citizen answered come first,
then those due within 3 working days (Kazakhstan's holidays skipped) or overdue, then the
rest by last activity; each row says which, in the page and in the JSON API."""

from __future__ import annotations

import re
from datetime import date

from tests.staff import console
from tests.test_api import bearer, token_for


async def say(c, reference: str, author: str, text: str) -> None:
    c.clock.advance(minutes=1)
    async with c.runtime.storage.transaction() as tx:
        ticket = await tx.tickets.by_reference(reference)
        await tx.tickets.add_message(ticket.id, author=author, body=text, now=c.clock())


async def queue_of(c) -> None:
    """Tickets filed a minute apart on Monday 16 March 2026; the test reads on Wednesday."""
    dues = {
        "AB-7000": date(2026, 3, 19),  # resolved below: never due soon
        "AB-7001": date(2026, 4, 30),
        "AB-7005": date(2026, 3, 27),  # 4 working days after Wednesday: Nauryz 23-25 March
        "AB-7004": date(2026, 3, 26),  # the 3rd working day after Wednesday
        "AB-7006": date(2026, 3, 10),  # overdue
        "AB-7002": date(2026, 4, 30),
        "AB-7003": date(2026, 4, 30),
    }
    for n, (reference, due) in enumerate(dues.items()):
        await c.complaint(reference, due_on=due, chat_key=f"c{n}")
        c.clock.advance(minutes=1)
    async with c.runtime.storage.transaction() as tx:
        await tx.conn.execute("UPDATE tickets SET status = 'resolved' WHERE reference = 'AB-7000'")
    await say(c, "AB-7003", "citizen", "Қосымша ақпарат")
    await say(c, "AB-7002", "staff", "Анықтама бар ма?")
    await say(c, "AB-7002", "citizen", "Иә, бар")  # answered after staff asked
    await say(c, "AB-7003", "staff", "Рақмет")  # staff acted last
    c.clock.advance(days=2)


EXPECTED = ["AB-7002", "AB-7006", "AB-7004", "AB-7003", "AB-7005", "AB-7001", "AB-7000"]


async def test_inbox_puts_answers_then_due_soon_first_and_marks_them(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await queue_of(c)
        web = await c.login("rita")
        page = (await web.get("/staff/inbox")).text
        rows = re.findall(r'<tr class="([^"]*)">\s*<td class="ref"><a[^>]*>(AB-\d+)</a>', page)
        assert [ref for _, ref in rows] == EXPECTED
        marks = {ref: cls.split() for cls, ref in rows}
        assert marks["AB-7002"] == ["answered"] and marks["AB-7003"] == []
        assert page.count("citizen answered</span>") == 1
        row = {ref: page.split(f">{ref}</a>")[1].split("</tr>")[0] for ref in EXPECTED}
        assert '<span class="answer">Иә, бар</span>' in row["AB-7002"]  # the answer shown
        assert "Рақмет" not in row["AB-7003"] and "Қосымша" not in row["AB-7003"]
        assert "due soon" in row["AB-7004"] and "overdue" in row["AB-7006"]
        assert "due soon" not in row["AB-7005"] and "due soon" not in row["AB-7000"]
        # Last activity is the last message, not the filing.
        assert "3/16/26, 10:11" in row["AB-7003"] and "3/16/26, 10:01" in row["AB-7001"]
        # The old orders are still there.
        created = re.findall(r">(AB-\d+)</a>", (await web.get("/staff/inbox?sort=created")).text)
        assert created == [
            "AB-7003",
            "AB-7002",
            "AB-7006",
            "AB-7004",
            "AB-7005",
            "AB-7001",
            "AB-7000",
        ]


async def test_api_lists_the_answer_flag_and_last_activity(settings, clock):
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await queue_of(c)
        token = await token_for(c, rita)
        async with c.client() as api:
            items = (await api.get("/api/v1/tickets", headers=bearer(token))).json()["items"]
            spec = (await api.get("/api/v1/openapi.json")).json()
            one = (await api.get("/api/v1/tickets/AB-7002", headers=bearer(token))).json()
            soon = (await api.get("/api/v1/tickets/AB-7004", headers=bearer(token))).json()
    assert [item["reference"] for item in items] == EXPECTED
    first = items[0]
    assert first["citizen_answered"] is True and first["due_soon"] is False
    assert first["last_activity"] == "2026-03-16T05:10:00+00:00"
    assert [i["reference"] for i in items if i["citizen_answered"]] == ["AB-7002"]
    assert [i["reference"] for i in items if i["due_soon"]] == ["AB-7006", "AB-7004"]
    listed = spec["components"]["schemas"]["ListedTicket"]
    assert one["citizen_answered"] is True and one["last_activity"] == first["last_activity"]
    assert soon["due_soon"] is True and soon["citizen_answered"] is False
    added = listed["allOf"][1]["properties"]
    assert added["citizen_answered"]["type"] == "boolean"
    assert added["last_activity"]["format"] == "date-time"


async def test_a_status_change_is_acting_on_the_answer_and_a_note_is_not(settings, clock):
    """ "Answered since staff last acted": a status change tells the citizen, so it deals
    with the answer and clears the mark; taking the ticket or an internal note does not
    (a note cleared it until an outside review found that)."""
    from tests.staff import post_form

    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-7401", due_on=date(2026, 4, 30))
        await say(c, "AB-7401", "staff", "Анықтама бар ма?")
        await say(c, "AB-7401", "citizen", "Иә, бар")
        web = await c.login("rita")
        url = "/staff/tickets/AB-7401"

        async def marked() -> bool:
            page = (await web.get("/staff/inbox")).text
            return "citizen answered</span>" in page

        assert await marked()
        clock.advance(minutes=1)
        taken = await post_form(web, url, url + "/assign", {"assignee": "me"})
        assert taken.status_code == 303 and await marked()
        clock.advance(minutes=1)
        clock.advance(minutes=1)
        noted = await post_form(web, url, url + "/note", {"text": "Әріптесіме: қарап жіберші"})
        assert noted.status_code == 303 and await marked()  # the citizen never sees a note
        moved = await post_form(
            web, url, url + "/status", {"status": "in_review", "reason": "Қаралуда"}
        )
        assert moved.status_code == 303 and not await marked()
