"""Issue 14's Must-show, in real headless Chromium: a reviewer asks two citizens a question
("needs an answer"), one answers in plain text on Telegram (python-telegram-bot against
the fake Bot API) and one on WhatsApp (the twilio library against the fake Twilio API);
both tickets jump to the top of the inbox with the answer in the row; the reviewer
answers and resolves each in the ticket page's one form, and the citizens get the reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from bot.app import create_app
from bot.channels.telegram.request import AiohttpRequest
from bot.channels.whatsapp.twilio_http import TwilioHttp
from bot.config import Settings
from bot.domain import Channel
from bot.runtime import Runtime
from bot.staff.accounts import add_account
from bot.storage.records import Ticket, TicketDraft
from tests import telegram_chat as tg
from tests import whatsapp_chat as wa
from tests.browser.test_console_browser import ARGS, CHROMIUM, PASSWORD, SHOTS, _sign_in
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.twilio_api import FakeTwilioApi
from tests.serving import free_port, serving

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]

TG_CHAT = 7301
WA_NUMBER = "+77017301234"
FIRST_ROW = "table.queue tbody tr:first-child"


@dataclass
class Messengers:
    """govbot with both messengers on, the two fakes, and where the console listens."""

    base: str
    runtime: Runtime
    telegram: FakeTelegramApi
    whatsapp: wa.Bot


@asynccontextmanager
async def both_messengers(settings: Settings) -> AsyncIterator[Messengers]:
    """One app serving Telegram (polling the fake) and WhatsApp (webhooks signed for the
    public URL the WhatsApp helpers sign for) on 127.0.0.1, with the real clock."""
    async with (
        FakeTelegramApi() as telegram,
        FakeTwilioApi(wa.SID, wa.TOKEN) as twilio,
        TwilioHttp(twilio.url) as http,
        aiohttp.ClientSession() as session,
    ):
        port = free_port()
        twilio.callback_base = f"http://127.0.0.1:{port}"
        configured = settings.with_overrides(
            telegram_bot_token=tg.TOKEN,
            telegram_api_url=telegram.url,
            telegram_mode="polling",
            telegram_rate_global=0.0,
            telegram_rate_per_chat=0.0,
            twilio_account_sid=wa.SID,
            twilio_auth_token=wa.TOKEN,
            twilio_whatsapp_from=wa.BOT_NUMBER,
            twilio_api_url=twilio.url,
            twilio_content_url=None,  # WhatsApp answers read from the TwiML: numbered text
            twilio_update_templates=wa.TEMPLATES,
            whatsapp_rate=0.0,
            public_url=wa.PUBLIC,
            host="127.0.0.1",
            port=port,
        )
        app = create_app(
            configured,
            telegram_request=AiohttpRequest(connection_pool_size=16),
            twilio_http=http,
            announce=lambda line: None,
        )
        async with serving(app, port):
            await telegram.wait_for_call("getUpdates")
            runtime: Runtime = app.state.runtime
            url = f"http://127.0.0.1:{port}"
            bot = wa.Bot(twilio, url, runtime.settings, runtime, session)
            yield Messengers(url, runtime, telegram, bot)


async def _seed(runtime: Runtime) -> None:
    """The reviewer, a complaint for each messenger's citizen, and older work in the queue
    (one due today), so that "jumps to the top" has something to jump over."""
    now = runtime.dispatcher.clock()
    today = now.date()
    async with runtime.storage.transaction() as tx:
        await add_account(tx.for_staff, "rita", "reviewer", PASSWORD, locale="en", now=now)
        for i in range(6):
            citizen, _ = await tx.citizens.get_or_create("console", f"older-{i}", now=now)
            draft = TicketDraft(
                "complaint", "ru", citizen.id, "console", "healthcare", region="almaty_city",
                summary="Поликлиника не выдаёт направление",
                due_on=today + timedelta(days=0 if i == 0 else 20 + i),
            )  # fmt: skip
            await tx.tickets.add(draft, reference=f"OL-{i + 1:04d}", now=now)
        for reference, channel, chat_key, locale, summary in (
            ("TG-7301", Channel.TELEGRAM, str(TG_CHAT), "ru", "В ЦОНе не выдают справку"),
            ("WA-7301", Channel.WHATSAPP, WA_NUMBER, "kk", "ХҚКО-да анықтама бермейді"),
        ):
            citizen = await tx.citizens.find(channel, chat_key)
            assert citizen is not None
            draft = TicketDraft(
                "complaint", locale, citizen.id, channel.value, "healthcare", region="astana",
                summary=summary, due_on=today + timedelta(days=30),
            )  # fmt: skip
            await tx.tickets.add(draft, reference=reference, now=now)


async def _send_from_ticket_page(
    page, base: str, reference: str, text: str, *, ask: bool = False, status: str = ""
) -> None:
    """The ticket page's one form: text, "needs an answer", "Status after sending"."""
    await page.goto(f"{base}/staff/tickets/{reference}")
    form = page.locator("form[action$='/reply']")
    await form.locator("textarea[name=text]").fill(text)
    if ask:
        await form.locator("input[name=needs_answer]").check()
    if status:
        await form.locator("select[name=status]").select_option(status)
    await form.locator("button[type=submit]").click()
    await page.wait_for_url("**done=*")


async def _status(runtime: Runtime, reference: str) -> Ticket:
    async with runtime.storage.read() as tx:
        ticket = await tx.tickets.by_reference(reference)
    assert ticket is not None
    return ticket


async def _take(page, base: str, reference: str) -> None:
    """The reviewer takes the ticket ("Take"), so that it has an assignee to go back to."""
    await page.goto(f"{base}/staff/tickets/{reference}")
    await page.click("form[action$='/assign']:has(input[value=me]) button")
    await page.wait_for_url("**done=*")


@asynccontextmanager
async def _asked_and_answered(settings: Settings) -> AsyncIterator[tuple[Messengers, Any]]:
    """Everything up to the queue: both citizens at the main menu, rita signed in, both
    tickets taken, asked, answered on the messengers, and first in the inbox. Yields the
    running messengers and rita's browser page."""
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with both_messengers(settings) as m:
        telegram = tg.TgCitizen(m.telegram, TG_CHAT, "ru")
        await telegram.start()
        whatsapp = m.whatsapp.chat(WA_NUMBER)
        await whatsapp.send("Сәлеметсіз бе")
        await whatsapp.send("1")  # Қазақша
        assert "Басты мәзір" in whatsapp.text
        await _seed(m.runtime)

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            context = await browser.new_context(viewport={"width": 1366, "height": 768})
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            await _sign_in(page, m.base, "rita")
            await page.goto(f"{m.base}/staff/inbox")
            assert "OL-0001" in await page.inner_text(FIRST_ROW)  # due today: first

            # The reviewer takes both complaints and asks each citizen a question.
            before_tg = len(telegram.messages)
            await _take(page, m.base, "TG-7301")
            await _send_from_ticket_page(
                page, m.base, "TG-7301", "Какой это был ЦОН и какое окно?", ask=True
            )
            await _take(page, m.base, "WA-7301")
            await _send_from_ticket_page(
                page, m.base, "WA-7301", "Қай ХҚКО-да болдыңыз, қай күні?", ask=True
            )
            assert (await _status(m.runtime, "TG-7301")).status == "waiting"
            [asked] = (await m.telegram.wait_for_sent(TG_CHAT, before_tg + 1))[before_tg:]
            assert "Какой это был ЦОН и какое окно?" in asked["text"]
            [wa_asked] = await m.whatsapp.api.wait_for_sent(whatsapp.address, 1)
            assert "Қай ХҚКО-да болдыңыз, қай күні?" in wa_asked["Body"]

            # The citizens answer in plain text, outside any flow.
            await telegram.send("ЦОН №3 на Абая, окно 5")
            assert "Добавлено к обращению TG-7301" in telegram.text
            assert (await _status(m.runtime, "TG-7301")).status == "in_review"
            await page.goto(f"{m.base}/staff/inbox")
            first = await page.inner_text(FIRST_ROW)
            assert "TG-7301" in first and "citizen answered" in first
            assert "ЦОН №3 на Абая, окно 5" in first

            await whatsapp.send("Абай даңғылындағы ХҚКО, 25 ақпан")
            assert "WA-7301 өтінішіне қосылды" in whatsapp.text
            await page.goto(f"{m.base}/staff/inbox")
            rows = page.locator("table.queue tbody tr")
            top = {await rows.nth(0).inner_text(), await rows.nth(1).inner_text()}
            assert any("TG-7301" in r and "ЦОН №3 на Абая" in r for r in top), top
            assert any("WA-7301" in r and "Абай даңғылындағы ХҚКО" in r for r in top), top
            assert all("citizen answered" in r for r in top)
            assert "OL-0001" in await rows.nth(2).inner_text()
            await page.screenshot(path=str(SHOTS / "queue-answered.png"), full_page=True)
            yield m, page
            assert errors == []  # no CSP violations or script errors
            await browser.close()


async def test_citizens_answer_on_telegram_and_whatsapp_and_the_reviewer_resolves(settings):
    async with _asked_and_answered(settings) as (m, page):
        # The reviewer answers and resolves in one step; the citizen gets the answer.
        before = len(m.telegram.sent_to(TG_CHAT))
        reply = "Руководителю ЦОН №3 дано поручение, справка готова."
        await _send_from_ticket_page(page, m.base, "TG-7301", reply, status="resolved")
        # The answer comes first, "Was your problem solved?" after it (a closing carries
        # no Answer button, so the two go as one message).
        got = (await m.telegram.wait_for_sent(TG_CHAT, before + 1))[before]
        assert got["text"].startswith(f"Ваше обращение TG-7301 рассмотрено и решено.\n{reply}")
        assert (await _status(m.runtime, "TG-7301")).status == "resolved"

        address = "whatsapp:" + WA_NUMBER
        reply = "ХҚКО басшысына тапсырма берілді, анықтама дайын."
        await _send_from_ticket_page(page, m.base, "WA-7301", reply, status="resolved")
        sent = await m.whatsapp.api.wait_for_sent(address, 2)
        assert f"Сіздің WA-7301 өтінішіңіз қаралып, шешілді.\n{reply}" in sent[-1]["Body"]
        assert (await _status(m.runtime, "WA-7301")).status == "resolved"

        await page.goto(f"{m.base}/staff/inbox")
        assert "citizen answered" not in await page.inner_text("table.queue")
        await page.screenshot(path=str(SHOTS / "queue-resolved.png"), full_page=True)


async def test_not_solved_on_whatsapp_reopens_the_ticket_for_the_same_reviewer(settings):
    """After the resolve above, h14-csat asks "Was your problem solved?" with the answer;
    "No", a rating and a comment reopen the ticket, assigned to rita as before. Steps and
    texts as tests/test_satisfaction_whatsapp.py on h14-csat has them."""
    async with _asked_and_answered(settings) as (m, page):
        rita = (await _status(m.runtime, "WA-7301")).assignee_id
        assert rita is not None
        chat = m.whatsapp.chat(WA_NUMBER)
        reply = "ХҚКО басшысына тапсырма берілді, анықтама дайын."
        await _send_from_ticket_page(page, m.base, "WA-7301", reply, status="resolved")
        sent = await m.whatsapp.api.wait_for_sent(chat.address, 2)
        assert "WA-7301 өтінішіңіз қаралып, шешілді" in sent[-1]["Body"]
        assert "Мәселеңіз шешілді ме? (WA-7301 өтініші)" in sent[-1]["Body"]
        assert "2. ❌ Жоқ, шешілмеді" in sent[-1]["Body"]
        await chat.send("2")  # No, not solved
        assert "1-ден (өте нашар) 5-ке" in chat.text
        await chat.send("2")  # the answer rated 2 of 5
        await chat.send("Анықтама әлі берілген жоқ")
        assert "қайта ашылып" in chat.text
        reopened = await _status(m.runtime, "WA-7301")
        assert reopened.status == "in_review"
        assert reopened.assignee_id == rita

        await page.goto(f"{m.base}/staff/tickets/WA-7301")
        shown = await page.inner_text("main")
        assert "Reopened by the citizen" in shown and "Анықтама әлі берілген жоқ" in shown
        await page.goto(f"{m.base}/staff/inbox")
        first = await page.inner_text(FIRST_ROW)
        assert "WA-7301" in first and "citizen answered" in first
