# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""The staff console in-process: sign in, inbox filters, a ticket's actions and their
effects on the citizen (texts in the citizen's language through the outbox)."""

from __future__ import annotations

import asyncio

from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.staff import console, post_form


async def _delivered(c, n: int = 1) -> None:
    for _ in range(200):
        if len(c.sender.sent) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {n} deliveries, got {c.sender.sent}")


async def test_reviewer_answers_a_kazakh_complaint(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        ticket = await c.complaint("AB-1001", locale="kk")
        web = await c.login("rita")
        inbox = await web.get("/staff/inbox")
        assert inbox.status_code == 200
        assert "AB-1001" in inbox.text
        page = await web.get("/staff/tickets/AB-1001")
        assert "кезек өте ұзақ" in page.text
        done = await post_form(
            web,
            "/staff/tickets/AB-1001",
            "/staff/tickets/AB-1001/reply",
            {"text": "Сіздің өтінішіңіз тексерілді."},
        )
        assert done.status_code == 303
        await _delivered(c)
        chat, outgoing = c.sender.sent[0]
        assert chat == "citizen-1"
        assert outgoing.replies[0].text.startswith("Сіздің AB-1001 өтінішіңізге жауап")
        assert ticket.reference == outgoing.reference
