"""The work queue in real headless Chromium: on a 1366×768 laptop screen at least 12
tickets show without scrolling, and on a 375 px phone the inbox and the ticket page fit
the width; every form control on both pages has a label (issue 14).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.app import create_app
from bot.staff.accounts import add_account
from bot.storage.records import TicketDraft
from tests.browser.test_console_browser import ARGS, CHROMIUM, PASSWORD, SHOTS, _sign_in
from tests.serving import free_port, serving

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]

TEXT = "Халыққа қызмет көрсету орталығында анықтама бір айдан бері берілмей жатыр, кезек өте ұзақ"

# Controls with neither a <label> nor an aria-label: what a screen reader cannot name.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.ariaLabel)
  .map(e => e.name || e.outerHTML)"""
VISIBLE_ROWS = """() => [...document.querySelectorAll('table.queue tbody tr')]
  .filter(r => r.getBoundingClientRect().bottom <= window.innerHeight).length"""
WIDTH = "() => document.documentElement.scrollWidth"


async def _seed(runtime, now) -> None:
    async with runtime.storage.transaction() as tx:
        await add_account(tx.for_staff, "rita", "reviewer", PASSWORD, locale="en", now=now)
        for i in range(30):
            citizen, _ = await tx.citizens.get_or_create("console", f"q-{i}", now=now)
            ticket = await tx.tickets.add(
                TicketDraft(
                    kind="complaint",
                    locale="kk",
                    citizen_id=citizen.id,
                    channel="console",
                    category="health",
                    region="almaty_city",
                    summary=TEXT,
                    due_on=date(2026, 3, 12) + timedelta(days=i),
                ),
                reference=f"QU-{i + 1:04d}",
                now=now,
            )
            if i % 5 == 0:
                await tx.tickets.add_message(ticket.id, author="citizen", body="Иә", now=now)


async def test_queue_fits_a_laptop_and_a_phone(settings, clock):
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(settings, clock=clock, announce=lambda line: None)
    async with serving(app, port):
        await _seed(app.state.runtime, clock())
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            laptop = await browser.new_context(viewport={"width": 1366, "height": 768})
            page = await laptop.new_page()
            await _sign_in(page, base, "rita")
            await page.goto(f"{base}/staff/inbox")
            await page.screenshot(path=str(SHOTS / "queue-1366.png"))
            assert await page.evaluate(VISIBLE_ROWS) >= 12
            first = await page.inner_text("table.queue tbody tr:first-child")
            assert "citizen answered" in first
            assert await page.evaluate(UNLABELLED) == []

            phone = await browser.new_context(viewport={"width": 375, "height": 740})
            page = await phone.new_page()
            await _sign_in(page, base, "rita")
            for path, shot in (
                ("/staff/inbox", "queue-375"),
                ("/staff/tickets/QU-0001", "ticket-375"),
            ):
                await page.goto(base + path)
                await page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
                assert await page.evaluate(WIDTH) <= 375, path
                assert await page.evaluate(UNLABELLED) == [], path
            await browser.close()
