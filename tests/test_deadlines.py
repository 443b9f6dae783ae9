"""Deadlines of Administrative Procedural Code art. 76 on a fake clock, with Kazakhstan's
days off (Nauryz 2026: 21–25 March): the "due soon" reminder, overdue escalation, the
two-month cap on extensions and the three-working-day redirect warning (issue 14)."""

from __future__ import annotations

import asyncio
from datetime import date

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
