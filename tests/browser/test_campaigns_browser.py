"""Campaign pages in real headless Chromium: an operator composes a campaign for Almaty,
counts the audience, previews it, sends a test to their own Telegram chat, sends it, and
watches the progress box refresh itself until the final report. Telegram is the real
adapter against the fake Bot API. Screenshots go to test-artifacts/screenshots.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.staff.accounts import add_account
from tests.browser.test_console_browser import ARGS, CHROMIUM, PASSWORD, SHOTS, _sign_in
from tests.campaign_support import FOOTERS, TEXTS, add_subscribers
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_chat import running_bot, runtime_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


async def test_operator_sends_a_campaign_in_the_browser(settings):
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with FakeTelegramApi() as api, running_bot(settings, api, "polling") as app:
        runtime = runtime_of(app)
        base = runtime.settings.public_url
        now = runtime.dispatcher.clock()
        async with runtime.storage.transaction() as tx:
            await add_account(tx.for_staff, "olga", "operator", PASSWORD, locale="en", now=now)
        almaty = await add_subscribers(runtime, 15, channels=("telegram",), region="almaty_city")
        await add_subscribers(runtime, 15, channels=("telegram",), region="astana", start=100)

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            context = await browser.new_context(viewport={"width": 1366, "height": 768})
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))

            await _sign_in(page, base, "olga")
            await page.click("header nav >> text=Campaigns")
            await page.click("text=New campaign")
            await page.fill("input[name=title]", "Mobile reception bus, Almaty")
            for lang in ("kk", "ru", "en"):
                await page.fill(f"textarea[name=text_{lang}]", TEXTS[lang])
            await page.select_option("select[name=region]", "almaty_city")
            await page.check("input[name=channel][value=telegram]")
            await page.click("button[value=count]")
            await page.wait_for_selector("text=15 subscribers will receive it")

            await page.click("button[value=preview]")
            await page.wait_for_selector("article.preview[lang=kk] .bubble")
            assert FOOTERS["kk"] in await page.inner_text("article.preview[lang=kk]")

            await page.select_option("select[name=test_channel]", "telegram")
            await page.fill("input[name=test_chat]", "600100")
            await page.select_option("select[name=test_lang]", "ru")
            await page.click("button[value=test]")
            await page.wait_for_selector("text=The test message has been sent")
            [test] = await api.wait_for_sent(600100, 1)
            assert test["text"] == f"{TEXTS['ru']}\n\n{FOOTERS['ru']}"
            await page.screenshot(path=SHOTS / "campaign-compose.png", full_page=True)

            await page.click("button[value=create]")
            await page.wait_for_selector("text=Send this message now to 15 subscribers?")
            await page.click("#confirm button[value=create]")
            await page.wait_for_url("**/staff/campaigns/*?done=created")
            # The progress box refreshes itself (console.js) until the run is over.
            await page.wait_for_selector("text=Final report by channel and language", timeout=15000)
            for member in almaty:
                [got] = api.sent_to(int(member.chat_key))
                assert got["text"] == f"{TEXTS[member.lang]}\n\n{FOOTERS[member.lang]}"
            assert "15" in await page.inner_text("dl.stats .good dd")
            await page.screenshot(path=SHOTS / "campaign.png", full_page=True)

            await page.goto(f"{base}/staff/campaigns")
            assert "finished" in await page.inner_text("table.campaigns")
            await page.screenshot(path=SHOTS / "campaigns.png", full_page=True)

            # The same pages in Kazakh.
            await page.select_option("#lang-select", "kk")
            await page.wait_for_selector("text=Жаңа таратылым")
            await page.click("text=Жаңа таратылым")
            await page.fill("textarea[name=text_ru]", TEXTS["ru"])
            await page.select_option("select[name=fallback]", "ru")
            await page.click("button[value=preview]")
            await page.wait_for_selector("article.preview[lang=kk] .bubble")
            await page.screenshot(path=SHOTS / "campaign-compose-kk.png", full_page=True)
            assert errors == []  # no CSP violations or script errors
            await browser.close()
