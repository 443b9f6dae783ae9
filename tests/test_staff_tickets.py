# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""Ticket work in the console: filters, status with a reason the citizen is told in their
language, deadline extension, notes, conflicts between two staff members, tips, export."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import struct
import zlib
from datetime import date

import pytest

from tests import sealed
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.staff import console, csrf_of, post_form


async def delivered(c, n: int = 1) -> list:
    for _ in range(300):
        if len(c.sender.sent) >= n:
            return c.sender.sent
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {n} deliveries, got {c.sender.sent}")


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


async def ticket(c, reference: str):
    async with c.runtime.storage.read() as tx:
        return await tx.tickets.by_reference(reference)


async def test_inbox_filters_search_sort_and_counts(settings, clock):
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await c.complaint("AB-3001", category="health", region="almaty_city", summary="Очередь")
        await c.complaint(
            "AB-3002", category="education", summary="Кабинет закрыт", due_on=date(2026, 3, 1)
        )
        await c.complaint("AB-3003", kind="feedback", summary="Low score", chat_key="c2")
        web = await c.login("rita")
        async with c.runtime.storage.transaction() as tx:
            await tx.conn.execute(
                "UPDATE tickets SET assignee_id = ?, status = 'in_review' WHERE reference = ?",
                (rita, "AB-3001"),
            )

        async def refs(query: str, sort: str = "created") -> list[str]:
            page = await web.get(f"/staff/inbox?sort={sort}&" + query.lstrip("?"))
            assert page.status_code == 200
            return re.findall(r">(AB-\d+)</a>", page.text)

        assert await refs("", sort="queue") == ["AB-3002", "AB-3003", "AB-3001"]  # overdue first
        assert await refs("") == ["AB-3003", "AB-3002", "AB-3001"]
        assert await refs("?dir=asc") == ["AB-3001", "AB-3002", "AB-3003"]
        assert await refs("?kind=feedback") == ["AB-3003"]
        assert await refs("?status=in_review") == ["AB-3001"]
        assert await refs("?category=education") == ["AB-3002"]
        assert await refs("?region=almaty_city") == ["AB-3001"]
        assert await refs("?assignee=me") == ["AB-3001"]
        assert await refs("?assignee=none") == ["AB-3003", "AB-3002"]
        assert await refs("?overdue=1") == ["AB-3002"]
        assert await refs("?q=Кабинет") == ["AB-3002"]
        assert await refs("?q=AB-3003") == ["AB-3003"]
        assert await refs("?from=2026-03-16&to=2026-03-16") == ["AB-3003", "AB-3002", "AB-3001"]
        assert await refs("?from=2026-03-17") == []
        page = await web.get("/staff/inbox?kind=complaint")
        assert re.search(r"New <b>1</b>", page.text)
        assert re.search(r"In review <b>1</b>", page.text)


async def test_pagination(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        for i in range(30):
            await c.complaint(f"AB-4{i:03d}", chat_key=f"c{i}")
        web = await c.login("rita")
        first = await web.get("/staff/inbox")
        assert "Page 1 of 2" in first.text and first.text.count("/staff/tickets/AB-4") == 25
        second = await web.get("/staff/inbox?page=2")
        assert second.text.count("/staff/tickets/AB-4") == 5


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("kk", "Сіздің AB-5001 өтінішіңіз қанағаттандырылмады.\nСебебі: Құжат жоқ"),
        ("ru", "По вашему обращению AB-5001 отказано в удовлетворении.\nПричина: Құжат жоқ"),
        ("en", "Your request AB-5001 has not been upheld.\nReason: Құжат жоқ"),
    ],
)
async def test_status_change_tells_the_citizen_in_their_language(settings, clock, locale, expected):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-5001", locale=locale)
        web = await c.login("rita")
        url = "/staff/tickets/AB-5001"
        done = await post_form(
            web, url, url + "/status", {"status": "rejected", "reason": "Құжат жоқ"}
        )
        assert done.status_code == 303
        ((_chat, outgoing),) = await delivered(c)
        assert outgoing.replies[0].text == expected
        assert (await ticket(c, "AB-5001")).status == "rejected"
        page = await web.get(url)
        assert "Rejected" in page.text and "sent" in page.text  # delivery state shown
        assert ("rita", "ticket.status", "AB-5001") in await c.audit_actions()


async def test_status_needs_a_reason_and_a_valid_transition(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-5002")
        web = await c.login("rita")
        url = "/staff/tickets/AB-5002"
        empty = await post_form(web, url, url + "/status", {"status": "resolved", "reason": " "})
        assert empty.status_code == 400 and "Write the reason" in empty.text
        bad = await post_form(web, url, url + "/status", {"status": "new", "reason": "x"})
        assert bad.status_code == 400
        assert (await ticket(c, "AB-5002")).status == "new"
        assert c.sender.sent == []


async def test_two_staff_acting_at_once_get_a_conflict_not_an_overwrite(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.add_user("rustem", "reviewer")
        await c.complaint("AB-5003")
        rita, rustem = await c.login("rita"), await c.login("rustem")
        url = "/staff/tickets/AB-5003"
        page_a = (await rita.get(url)).text
        page_b = (await rustem.get(url)).text
        version = re.search(r'name="version" value="(\d+)"', page_a).group(1)
        first = await rita.post(
            url + "/status",
            data={
                "csrf_token": csrf_of(page_a),
                "version": version,
                "status": "in_review",
                "reason": "Қаралуда",
            },
        )
        assert first.status_code == 303
        second = await rustem.post(
            url + "/status",
            data={
                "csrf_token": csrf_of(page_b),
                "version": version,
                "status": "rejected",
                "reason": "Spam",
            },
        )
        assert second.status_code == 409
        assert "Someone else changed this ticket" in second.text
        assert (await ticket(c, "AB-5003")).status == "in_review"
        stale_assign = await rustem.post(
            url + "/assign",
            data={"csrf_token": csrf_of(page_b), "version": version, "assignee": "me"},
        )
        assert stale_assign.status_code == 409
        assert (await ticket(c, "AB-5003")).assignee_id is None


async def test_assign_note_and_deadline_extension(settings, clock):
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await c.complaint("AB-5004", locale="kk")
        web = await c.login("rita")
        url = "/staff/tickets/AB-5004"
        assert (await post_form(web, url, url + "/assign", {"assignee": "me"})).status_code == 303
        assert (await ticket(c, "AB-5004")).assignee_id == rita
        note = await post_form(web, url, url + "/note", {"text": "Call the centre first"})
        assert note.status_code == 303
        early = await post_form(
            web, url, url + "/deadline", {"due_on": "2026-04-01", "reason": "x"}
        )
        assert early.status_code == 400
        done = await post_form(
            web, url, url + "/deadline", {"due_on": "2026-04-20", "reason": "Сараптама қажет"}
        )
        assert done.status_code == 303
        ((_chat, outgoing),) = await delivered(c)  # the note was never sent
        when = c.runtime.catalogs["kk"].date(date(2026, 4, 20))
        assert outgoing.replies[0].text == (
            f"Сіздің AB-5004 өтінішіңізді қарау мерзімі ұзартылды. Жаңа мерзім: {when}.\n"
            "Себебі: Сараптама қажет"
        )
        assert (await ticket(c, "AB-5004")).due_on == date(2026, 4, 20)
        page = await web.get(url)
        assert "Call the centre first" in page.text and "Internal note by rita" in page.text
        async with c.runtime.storage.read() as tx:
            public = await tx.tickets.messages(
                (await ticket(c, "AB-5004")).id, include_internal=False
            )
        assert all("Call the centre" not in m.body for m in public)


async def test_attachments_are_served_only_to_staff_who_may_see_the_ticket(settings, clock):
    from bot.storage.records import AttachmentRef

    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.add_user("olga", "operator")
        t = await c.complaint("AB-5005")
        png = tiny_png()
        stored = c.runtime.attachments.put(png, declared_type="image/png", file_name="q.png")
        pdf = c.runtime.attachments.put(
            b"%PDF-1.4\n%%EOF\n", declared_type="application/pdf", file_name="act.pdf"
        )
        async with c.runtime.storage.transaction() as tx:
            await tx.tickets.add_attachments(
                t.id,
                (
                    AttachmentRef(
                        stored.blob_id, "photo", stored.content_type, stored.size, "q.png"
                    ),
                    AttachmentRef(pdf.blob_id, "document", pdf.content_type, pdf.size, "act.pdf"),
                ),
            )
        web = await c.login("rita")
        page = await web.get("/staff/tickets/AB-5005")
        assert f'<img src="/staff/tickets/AB-5005/files/{stored.blob_id}"' in page.text
        image = await web.get(f"/staff/tickets/AB-5005/files/{stored.blob_id}")
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        doc = await web.get(f"/staff/tickets/AB-5005/files/{pdf.blob_id}")
        assert doc.headers["content-disposition"].startswith("attachment")
        assert (
            await c.client().get(f"/staff/tickets/AB-5005/files/{pdf.blob_id}")
        ).status_code == 303
        olga = await c.login("olga")
        assert (await olga.get(f"/staff/tickets/AB-5005/files/{pdf.blob_id}")).status_code == 403
        assert (await web.get("/staff/tickets/AB-5005/files/nope")).status_code == 404


async def test_anonymous_tip_question_is_kept_for_the_receipt_not_sent(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        t = await c.tip("TP-5001")
        web = await c.login("ivan")
        url = "/staff/tickets/TP-5001"
        done = await post_form(web, url, url + "/reply", {"text": "Which office was it?"})
        assert done.status_code == 303
        await asyncio.sleep(0.05)
        assert c.sender.sent == []
        thread = await sealed.thread(c.runtime, t)
        async with c.runtime.storage.read() as tx:
            raw = await tx.conn.execute_fetchall(
                "SELECT body, sealed FROM ticket_messages WHERE ticket_id = ?", (t.id,)
            )
        assert [m.body for m in thread] == ["Which office was it?"]
        assert raw[0][0] is None and raw[0][1] is not None  # stored sealed


async def test_confidential_tip_reply_reaches_the_tipster_chat(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        await c.tip("TP-5002", confidential=True, chat_key="whistle")
        web = await c.login("ivan")
        url = "/staff/tickets/TP-5002"
        await post_form(web, url, url + "/reply", {"text": "Можем ли мы позвонить вам?"})
        ((chat, outgoing),) = await delivered(c)
        assert chat == "whistle"
        assert (
            outgoing.replies[0].text
            == "Ответ на ваше обращение TP-5002:\n\nМожем ли мы позвонить вам?"
        )


async def test_export_csv_and_json_of_the_filtered_list_is_audited(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.add_user("ivan", "investigator")
        await c.complaint("AB-6001", category="health")
        await c.complaint("AB-6002", category="education", chat_key="c2")
        await c.tip("TP-6001")
        web = await c.login("rita")
        response = await web.get("/staff/export.csv?category=health")
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert [r["reference"] for r in rows] == ["AB-6001"]
        data = (await web.get("/staff/export.json")).json()
        assert {d["reference"] for d in data} == {"AB-6001", "AB-6002"}
        ivan = await c.login("ivan")
        tips = (await ivan.get("/staff/export.json")).json()
        assert [d["reference"] for d in tips] == ["TP-6001"]
        assert tips[0]["contents"]["what"] == "Взятка за справку"
        actions = await c.audit_actions()
        assert actions.count(("rita", "export", None)) == 2
        assert ("ivan", "export", None) in actions


async def test_statistics_page_draws_charts_with_numbers(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("olga", "operator")
        await c.rating("health", 2, region="almaty_city")
        await c.rating("health", 4, region="almaty_city")
        await c.rating("education", 5)
        await c.complaint("AB-7001", category="health", due_on=date(2026, 3, 1))
        web = await c.login("olga")
        page = await web.get("/staff/stats")
        assert page.status_code == 200
        assert page.text.count("<svg") >= 5
        assert "<td>3.00</td>" in page.text  # health: (2 + 4) / 2
        assert "Overdue tickets by category" in page.text
        assert "AB-7001" not in page.text


async def test_export_csv_defuses_formulas_and_unknown_formats_are_404(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-6101", summary='=HYPERLINK("http://evil.example","click")')
        web = await c.login("rita")
        exported = (await web.get("/staff/export.csv")).content
        assert exported.startswith(b"\xef\xbb\xbf")  # a BOM: Excel then reads UTF-8
        [row] = list(csv.DictReader(io.StringIO(exported.decode("utf-8-sig"))))
        assert row["summary"].startswith("'=")
        assert (await web.get("/staff/export.xml")).status_code == 404
