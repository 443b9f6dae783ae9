# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""Canned replies: admins keep them in kk, ru and en on /staff/templates (audited); on the
ticket page staff pick one and the reply box holds it in the citizen's language, with
{reference}, {deadline} and {name} filled in."""

from __future__ import annotations

import html
import re
from datetime import date

from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.staff import console, post_form

TEXTS = {
    "title": "Құжат сұрау",
    "kk": "Құрметті {name}! {reference} өтініші бойынша {deadline} дейін анықтама жіберіңіз.",
    "ru": "Уважаемый(ая) {name}! Срок ответа по обращению {reference}: {deadline}",
    "en": "Dear {name}, please send the certificate for {reference} by {deadline}.",
}


def box(page: str) -> str:
    found = re.search(r'<textarea name="text"[^>]*>([^<]*)</textarea>', page)
    assert found, "no reply box"
    return html.unescape(found.group(1))


async def test_admin_keeps_templates_and_staff_fill_them_in_the_citizens_language(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        await c.add_user("rita", "reviewer")
        ticket = await c.complaint("AB-8001", locale="ru", due_on=date(2026, 4, 6))
        async with c.runtime.storage.transaction() as tx:
            await tx.conn.execute(
                "UPDATE tickets SET details = ? WHERE id = ?",
                ('{"applicant_name": "Айгерим"}', ticket.id),
            )
        admin = await c.login("ada")
        added = await post_form(admin, "/staff/templates", "/staff/templates", TEXTS)
        assert added.status_code == 303
        listing = await admin.get(added.headers["location"])
        assert "Құжат сұрау" in listing.text and "Template saved." in listing.text
        template_id = re.search(r'href="/staff/templates/(\d+)"', listing.text).group(1)

        rita = await c.login("rita")
        assert (await rita.get("/staff/templates")).status_code == 403
        page = await post_form(
            rita,
            "/staff/tickets/AB-8001",
            "/staff/tickets/AB-8001/reply",
            {"template": template_id, "insert": "1", "text": "", "status": "resolved"},
        )
        assert page.status_code == 200
        assert box(page.text) == (
            "Уважаемый(ая) Айгерим! Срок ответа по обращению AB-8001: 6 апреля 2026\u202fг."
        )
        assert '<option value="resolved" selected>' in page.text  # the form is as it was
        assert box((await rita.get("/staff/tickets/AB-8001")).text) == ""
        async with c.runtime.storage.read() as tx:
            unchanged = await tx.tickets.by_reference("AB-8001")
            assert unchanged is not None and unchanged.status == "new"  # nothing was sent
            assert await tx.tickets.messages(unchanged.id, include_internal=True) == []

        url = f"/staff/templates/{template_id}"
        edited = await post_form(admin, url, url, {**TEXTS, "en": "Hello {name}: {reference}."})
        assert edited.status_code == 303
        deleted = await post_form(admin, url, url, {"op": "delete"})
        assert deleted.status_code == 303
        assert "Құжат сұрау" not in (await admin.get("/staff/templates")).text
        actions = [a for _, a, _ in await c.audit_actions()]
        assert [a for a in actions if a.startswith("template.")] == [
            "template.add",
            "template.edit",
            "template.delete",
        ]


async def test_a_template_needs_every_language_and_only_known_placeholders(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        admin = await c.login("ada")
        missing = await post_form(
            admin, "/staff/templates", "/staff/templates", {**TEXTS, "en": " "}
        )
        assert missing.status_code == 400 and "all three languages" in missing.text
        assert "Құжат сұрау" in missing.text  # what was typed is kept
        bad = await post_form(
            admin, "/staff/templates", "/staff/templates", {**TEXTS, "ru": "{name.__class__}"}
        )
        assert bad.status_code == 400 and "may appear in braces" in bad.text
        async with c.runtime.storage.read() as tx:
            assert await tx.reply_templates.all() == []


async def test_picking_a_template_keeps_what_was_already_typed(settings, clock):
    """The picker sits in the reply form: picking a template adds it under the text already
    typed (and keeps the status and the "needs an answer" tick) instead of loading a page
    that drops them."""
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-8002", locale="kk", due_on=date(2026, 4, 6))
        admin = await c.login("ada")
        await post_form(admin, "/staff/templates", "/staff/templates", TEXTS)
        async with c.runtime.storage.read() as tx:
            (template,) = await tx.reply_templates.all()
        rita = await c.login("rita")
        typed = "Сәлеметсіз бе!\nМекенжайды нақтылаңыз."
        page = await post_form(
            rita,
            "/staff/tickets/AB-8002",
            "/staff/tickets/AB-8002/reply",
            {"template": str(template.id), "insert": "1", "text": typed, "needs_answer": "1"},
        )
        assert page.status_code == 200
        filled = box(page.text)
        assert filled.startswith(typed + "\n\n") and "AB-8002" in filled
        assert 'name="needs_answer" value="1" checked' in page.text
        sent = await post_form(
            rita,
            "/staff/tickets/AB-8002",
            "/staff/tickets/AB-8002/reply",
            {"text": filled, "needs_answer": "1"},
        )
        assert sent.status_code == 303


async def test_picking_a_template_on_a_page_a_colleague_has_overtaken_is_a_conflict(
    settings, clock
):
    """Found by an outside review: the picker re-rendered the form with the ticket's current
    version, so a reply written before a colleague's resolve then went out unseen. Picking
    on an old page is the edit conflict (409), with the text and the template kept."""
    from tests.staff import csrf_of

    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        await c.add_user("rita", "reviewer")
        await c.add_user("rustem", "reviewer")
        await c.complaint("AB-8003", locale="kk")
        admin = await c.login("ada")
        await post_form(admin, "/staff/templates", "/staff/templates", TEXTS)
        async with c.runtime.storage.read() as tx:
            (template,) = await tx.reply_templates.all()
        rita, rustem = await c.login("rita"), await c.login("rustem")
        url = "/staff/tickets/AB-8003"
        page = (await rita.get(url)).text
        moved = await post_form(
            rustem, url, url + "/status", {"status": "resolved", "reason": "Иә"}
        )
        assert moved.status_code == 303
        picked = await rita.post(
            url + "/reply",
            data={
                "csrf_token": csrf_of(page),
                "version": "1",
                "text": "Сәлеметсіз бе!",
                "template": str(template.id),
                "insert": "1",
            },
        )
        assert picked.status_code == 409
        assert box(picked.text).startswith("Сәлеметсіз бе!\n\n") and "AB-8003" in box(picked.text)
