"""The ticket page's one form (issue 14): a reply that also sets the status sends the
citizen one message and moves the ticket in one step; text typed before a validation
error or an edit conflict comes back in the form."""

from __future__ import annotations

import html
import re

from tests.staff import console, csrf_of, post_form
from tests.test_staff_tickets import delivered, ticket

ANSWER = "Кезек тәртібі қалпына келтірілді, рақмет"


async def stale_post(c, reference: str, moved_to: str, action: str, fields: dict[str, str]):
    """Rita opens the ticket, Rustem moves it to `moved_to`, then Rita posts `fields` to
    `action` with the version her page had: the answer to a write made on a stale page."""
    await c.add_user("rita", "reviewer")
    await c.add_user("rustem", "reviewer")
    await c.complaint(reference)
    rita, rustem = await c.login("rita"), await c.login("rustem")
    url = f"/staff/tickets/{reference}"
    page = (await rita.get(url)).text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    moved = await post_form(rustem, url, url + "/status", {"status": moved_to, "reason": "Иә"})
    assert moved.status_code == 303
    data = {"csrf_token": csrf_of(page), "version": version, **fields}
    return await rita.post(f"{url}/{action}", data=data)


async def test_one_form_replies_and_resolves(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-6101")
        web = await c.login("rita")
        url = "/staff/tickets/AB-6101"
        page = (await web.get(url)).text
        assert 'action="/staff/tickets/AB-6101/status"' not in page  # no second form
        done = await post_form(web, url, url + "/reply", {"text": ANSWER, "status": "resolved"})
        assert done.status_code == 303 and done.headers["location"].endswith("staff.done.status")
        assert (await ticket(c, "AB-6101")).status == "resolved"
        ((_chat, outgoing),) = await delivered(c)
        assert outgoing.replies[0].text == f"Сіздің AB-6101 өтінішіңіз қаралып, шешілді.\n{ANSWER}"
        async with c.runtime.storage.read() as tx:
            thread = await tx.tickets.messages(
                (await ticket(c, "AB-6101")).id, include_internal=True
            )
        assert [m.author for m in thread] == ["staff"]


async def test_one_form_without_a_status_only_replies(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-6102")
        web = await c.login("rita")
        url = "/staff/tickets/AB-6102"
        done = await post_form(web, url, url + "/reply", {"text": ANSWER, "status": ""})
        assert done.headers["location"].endswith("staff.done.reply")
        assert (await ticket(c, "AB-6102")).status == "new"


async def test_text_typed_before_a_conflict_is_kept(settings, clock):
    async with console(settings, clock) as c:
        fields = {"text": ANSWER, "status": "waiting", "needs_answer": "1"}
        stale = await stale_post(c, "AB-6103", "in_review", "reply", fields)
        assert stale.status_code == 409
        kept = html.unescape(stale.text)
        assert f">{ANSWER}</textarea>" in kept
        assert '<option value="waiting" selected>' in stale.text
        assert 'name="needs_answer" value="1" checked' in stale.text
        assert (await ticket(c, "AB-6103")).status == "in_review"


async def test_text_typed_before_a_validation_error_is_kept(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-6104")  # due 6 April 2026
        web = await c.login("rita")
        url = "/staff/tickets/AB-6104"
        reason = "Сараптама қажет"
        refused = await post_form(
            web, url, url + "/deadline", {"due_on": "2026-04-01", "reason": reason}
        )
        assert refused.status_code == 400
        page = html.unescape(refused.text)
        assert f">{reason}</textarea>" in page and 'value="2026-04-01"' in page
        assert f">{ANSWER}</textarea>" not in page  # the other forms stay empty
        empty = await post_form(web, url, url + "/note", {"text": "  "})
        assert empty.status_code == 400 and f">{reason}</textarea>" not in html.unescape(empty.text)


async def test_needs_an_answer_with_another_status_is_refused_and_the_text_kept(settings, clock):
    """Found by an outside review: "needs an answer" was ignored when a status was picked,
    so the ticket never waited and the citizen's answer got "choose an option"."""
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-6109")
        web = await c.login("rita")
        url = "/staff/tickets/AB-6109"
        form = {"text": ANSWER, "status": "in_review", "needs_answer": "1"}
        refused = await post_form(web, url, url + "/reply", form)
        assert refused.status_code == 400 and "Needs an answer" in html.unescape(refused.text)
        assert ANSWER in html.unescape(refused.text)  # kept in the form
        assert (await ticket(c, "AB-6109")).status == "new"
        form["status"] = "waiting"
        assert (await post_form(web, url, url + "/reply", form)).status_code == 303
        assert (await ticket(c, "AB-6109")).status == "waiting"


async def test_the_body_typed_for_a_redirect_is_kept_after_a_conflict(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-6110")
        web = await c.login("rita")
        url = "/staff/tickets/AB-6110"
        page = (await web.get(url)).text
        body = "Әділет министрлігі"
        stale = await web.post(
            url + "/redirect",
            data={"csrf_token": csrf_of(page), "version": "999", "body": body},
        )
        assert stale.status_code == 409
        assert f'name="body" required maxlength="200" value="{body}"' in html.unescape(stale.text)


async def test_a_reply_written_before_a_colleagues_resolve_is_a_conflict(settings, clock):
    """Found by an outside review: a plain reply took no version, so it went out after a
    colleague had resolved the ticket, unseen by its writer."""
    async with console(settings, clock) as c:
        fields = {"text": ANSWER, "status": ""}
        stale = await stale_post(c, "AB-6111", "resolved", "reply", fields)
        assert stale.status_code == 409 and ANSWER in html.unescape(stale.text)
        (_only,) = await delivered(c)  # the resolve's message, and no reply after it
