"""The staff console in real headless Chromium against govbot served by uvicorn.

A Kazakh citizen files a complaint through Telegram (the real adapter talking to the fake
Bot API); a reviewer signs in, filters the inbox, opens the complaint and replies; the reply
reaches the fake Telegram server in Kazakh. An investigator opens a tip and reveals the
contact; the admin sees both in the audit log. The console is switched to Kazakh.
Screenshots of the inbox, the ticket and the statistics go to test-artifacts/screenshots.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from bot import sealed_tips
from bot.staff.accounts import add_account
from bot.storage.records import RatingRecord, TicketDraft
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_chat import TgCitizen, running_bot, runtime_of
from tests.test_attachments import photo_with_exif

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "browser-test-password"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


async def _seed(runtime, now) -> None:
    """Staff accounts, a few more tickets, ratings and a confidential tip."""
    async with runtime.storage.transaction() as tx:
        db = tx.for_staff
        for name, role in (("rita", "reviewer"), ("ivan", "investigator"), ("ada", "admin")):
            await add_account(db, name, role, PASSWORD, locale="en", now=now, endorsed=True)
        for i, (cat, region, text, due) in enumerate(
            [
                ("health", "almaty_city", "Поликлиника не выдаёт направление", date(2026, 3, 2)),
                ("education", "astana", "Детский сад: очередь не движется", date(2026, 4, 6)),
                ("social", "shymkent", "Пособие не начислено третий месяц", date(2026, 4, 8)),
            ]
        ):
            citizen, _ = await tx.citizens.get_or_create("console", f"seed-{i}", now=now)
            await tx.tickets.add(
                TicketDraft(
                    kind="complaint",
                    locale="ru",
                    citizen_id=citizen.id,
                    channel="console",
                    category=cat,
                    region=region,
                    summary=text,
                    due_on=due,
                ),
                reference=f"RU-{i + 1:04d}",
                now=now,
            )
        for cat, region, centre, score in [
            ("health", "almaty_city", "con_almaty_1", 2),
            ("health", "astana", None, 4),
            ("education", "astana", None, 5),
            ("social", "shymkent", None, 3),
            ("education", "almaty_city", "con_almaty_1", 4),
        ]:
            await tx.tickets.add_rating(
                RatingRecord(category=cat, rating=score, locale="kk", region=region, centre=centre),
                now=now,
            )
        sealed = await sealed_tips.seal_tip(
            reference="TP-9001",
            contents={"what": "Требуют 50 000 тенге за справку"},
            identity={"channel": "telegram", "chat_key": "777", "contact": "+77015550000"},
            files=(),
            recipients=await tx.tips.recipients(),
            receipt=None,
        )
        await tx.tips.add(
            sealed,
            privacy="confidential",
            locale="ru",
            due_on=date(2026, 4, 6),
            reference="TP-9001",
            now=now,
        )


async def _sign_in(page, base: str, name: str) -> None:
    await page.goto(f"{base}/staff/login")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit] >> text=/Sign in|Кіру|Войти/")
    await page.wait_for_url(f"{base}/staff/**")


async def _sign_out(page) -> None:
    await page.click("form[action='/staff/logout'] button")
    await page.wait_for_url("**/staff/login")


async def test_console_end_to_end(settings, tmp_path):
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SHOTS}")
    async with FakeTelegramApi() as api, running_bot(settings, api, "polling") as app:
        runtime = runtime_of(app)
        base = runtime.settings.public_url
        # A Kazakh citizen files a complaint through Telegram.
        citizen = TgCitizen(api, 602, "kk")
        await citizen.start()
        await citizen.press("flow:complaint")
        await citizen.press("cat:")
        await citizen.press("body:")
        await citizen.press("reg:")
        await citizen.send("ХҚКО-да үш апта бойы анықтама бермеді, ертең келіңіз дейді.")
        await citizen.press("more:next")
        await citizen.photo(photo_with_exif())
        await citizen.press("ev:done")
        await citizen.send("Айгүл Сейітова")
        await citizen.press("iin:skip")
        await citizen.press("sum:ok")
        async with runtime.storage.read() as tx:
            found = await tx.citizens.find("telegram", "602")
            [complaint] = await tx.tickets.for_citizen(found.id)
        assert complaint.locale == "kk"
        await _seed(runtime, runtime.dispatcher.clock())

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            context = await browser.new_context(viewport={"width": 1366, "height": 768})
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))

            # A reviewer signs in and filters the inbox.
            await _sign_in(page, base, "rita")
            await page.goto(f"{base}/staff/inbox")
            await page.select_option("select[name=status]", "new")
            await page.fill("input[name=q]", complaint.reference)
            await page.click("form.filters button[type=submit]")
            await page.wait_for_url("**/staff/inbox?*q=*")
            rows = page.locator("table.list tbody tr")
            assert await rows.count() == 1
            await page.goto(f"{base}/staff/inbox?kind=complaint")
            assert await page.locator("table.list tbody tr").count() == 4
            await page.screenshot(path=SHOTS / "inbox.png", full_page=True)

            # Opens the Kazakh citizen's complaint and replies.
            await page.click(f"text={complaint.reference}")
            await page.wait_for_url(f"**/staff/tickets/{complaint.reference}")
            assert "үш апта" in await page.inner_text("main")
            assert await page.locator("ul.files img").count() == 1
            before = len(api.sent_to(602))
            reply = "Сәлеметсіз бе! Өтінішіңіз бойынша ХҚКО басшысына тапсырма берілді."
            await page.fill("form[action$='/reply'] textarea", reply)
            await page.click("form[action$='/reply'] button")
            await page.wait_for_url("**done=staff.done.reply")
            [arrived] = (await api.wait_for_sent(602, before + 1))[before:]
            assert arrived["text"] == f"Сіздің {complaint.reference} өтінішіңізге жауап:\n\n{reply}"
            for _ in range(50):
                await page.reload()
                if await page.locator(".badge.dl-sent").count():
                    break
                await asyncio.sleep(0.1)
            assert await page.locator(".badge.dl-sent").count() == 1
            await page.screenshot(path=SHOTS / "ticket.png", full_page=True)

            await page.goto(f"{base}/staff/stats?days=365")
            assert await page.locator("svg.chart").count() >= 5
            await page.screenshot(path=SHOTS / "statistics.png", full_page=True)

            # Switch the console to Kazakh (the select submits itself).
            await page.select_option("#lang-select", "kk")
            await page.wait_for_load_state("load")
            await page.wait_for_selector("text=Өтініштер")
            assert await page.get_attribute("html", "lang") == "kk"
            await page.goto(f"{base}/staff/inbox")
            await page.screenshot(path=SHOTS / "inbox-kk.png", full_page=True)
            assert "Өтініштер" in await page.inner_text("h1")
            await _sign_out(page)

            # An investigator opens the tip and reveals the contact.
            await _sign_in(page, base, "ivan")
            await page.goto(f"{base}/staff/inbox")
            await page.click("text=TP-9001")
            assert "50 000 тенге" in await page.inner_text("main")
            await page.click("form[action$='/reveal'] button")
            await page.wait_for_selector("text=+77015550000")
            await page.screenshot(path=SHOTS / "tip.png", full_page=True)
            await _sign_out(page)

            # The admin sees both in the audit log.
            await _sign_in(page, base, "ada")
            await page.goto(f"{base}/staff/audit?target=TP-9001")
            log = await page.inner_text("table.audit")
            assert "opened a tip" in log and "decrypted the tipster" in log and "ivan" in log
            assert "127.0.0.1" in log
            await page.screenshot(path=SHOTS / "audit.png", full_page=True)
            assert errors == []  # no CSP violations or script errors
            await browser.close()
    for name in ("inbox.png", "ticket.png", "statistics.png"):
        assert (SHOTS / name).stat().st_size > 10_000
