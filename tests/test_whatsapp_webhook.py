"""POST /webhooks/twilio through the real app: signatures, numbered menus, dedupe, opt-out,
and refusals of forms that are not a WhatsApp message of ours."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from tests.conftest import Clock
from tests.fakes.twilio_api import inbound_params
from tests.whatsapp_chat import BOT_NUMBER, PUBLIC, SID, STATUS, WEBHOOK, Bot, running_bot

NUMBER = "+77011234567"


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[Bot]:
    async with running_bot(settings, clock) as running:
        yield running


def form(body: str = "1", **changes: str) -> dict[str, str]:
    params = inbound_params(account_sid=SID, from_="whatsapp:" + NUMBER, to=BOT_NUMBER, body=body)
    params.update(changes)
    return params


async def test_first_contact_offers_numbered_languages_and_a_number_answers(bot: Bot) -> None:
    chat = bot.chat(NUMBER)
    await chat.send("Сәлеметсіз бе")
    assert "1. Қазақша\n2. Русский\n3. English" in chat.text
    assert "нөмірін жіберіңіз" in chat.text
    await chat.send("2")
    assert "Главное меню" in chat.text
    assert "Ответьте цифрой выбранного варианта." in chat.text
    await chat.send("меню")
    assert "Главное меню" in chat.text


@pytest.mark.parametrize(
    ("label", "expected"),
    [("english", "Main menu"), ("РУССКИЙ!", "Главное меню"), ("қазақша", "Басты мәзір")],
)
async def test_an_answer_by_label_instead_of_number(bot: Bot, label: str, expected: str) -> None:
    chat = bot.chat(NUMBER)
    await chat.send("hi")
    await chat.send(label)
    assert expected in chat.text
    # The main menu's own labels work too, in another language than the chosen one.
    other = "Help and privacy" if expected != "Main menu" else "Помощь и конфиденциальность"
    await chat.send(other)
    assert "1424" in chat.text


async def test_same_message_sid_twice_has_one_effect(bot: Bot) -> None:
    chat = bot.chat(NUMBER)
    first = await chat.send("hi", sid="SM" + "1" * 32)
    assert first
    # Twilio posts a MessageSid again only when our answer did not reach it: the retry
    # gets the same answer, and the step does not run twice.
    assert await chat.send("hi", sid="SM" + "1" * 32) == first
    menu = await chat.send("3", sid="SM" + "2" * 32)
    assert "Main menu" in chat.text
    assert await chat.send("3", sid="SM" + "2" * 32) == menu
    assert bot.api.sent == []
    [(locale,)] = bot.rows("SELECT locale FROM citizens")
    assert locale == "en"


@pytest.mark.parametrize(
    ("lang", "subscribe", "started", "stopped", "menu"),
    [
        ("3", "Subscribe", "You are subscribed", "no longer be sent to you", "Main menu. What"),
        ("2", "подписаться", "Вы подписаны", "больше не будут приходить", "Главное меню. Что"),
        ("1", "Жазылу", "Сіз бүкіл Қазақстан", "енді келмейді", "Басты мәзір. Не"),
    ],
)
async def test_stop_in_capitals_is_the_opt_out_in_every_language(
    bot: Bot, lang: str, subscribe: str, started: str, stopped: str, menu: str
) -> None:
    """Twilio's own STOP handling (it blocks the number and answers for us) is SMS STOP
    filtering: WhatsApp senders get the word at the webhook like any other, and WhatsApp
    leaves honouring the opt-out to the business. So the bot itself acts on "STOP" alone
    in capitals, the opt-out keyword, in every language (issue 15)."""
    chat = bot.chat(NUMBER)
    await chat.send("hi")
    await chat.send(lang)
    await chat.send(subscribe)
    assert started in chat.text
    assert bot.rows("SELECT subscribed FROM citizens") == [(1,)]
    await chat.send("1")  # into the first flow of the main menu
    await chat.send("Stop")  # not the opt-out: cancels the request, the news stays
    assert menu in chat.text and stopped not in chat.text
    assert bot.rows("SELECT subscribed FROM citizens") == [(1,)]
    await chat.send("1")
    await chat.send("STOP")  # the opt-out: acts at once, and the request goes on
    assert stopped in chat.text and menu not in chat.text
    assert bot.rows("SELECT subscribed FROM citizens") == [(0,)]
    assert bot.api.sent == []  # answered in the webhook's own reply, nothing queued


async def test_bad_signatures_are_refused_and_nothing_is_stored(bot: Bot) -> None:
    params = form("hi")
    other_url = await bot.post(params, signed_for=PUBLIC + "/webhooks/other")
    status_url = await bot.post(params, signed_for=STATUS)
    local_url = await bot.post(params, signed_for=bot.url + "/webhooks/twilio")
    garbled = await bot.post(params, signature="bm90IGEgc2lnbmF0dXJl")
    missing = await bot.post(params, signature=None)
    tampered_sig = bot.api.sign(WEBHOOK, params)
    tampered = await bot.post({**params, "Body": "2"}, signature=tampered_sig)
    for status, _ in (other_url, status_url, local_url, garbled, missing, tampered):
        assert status == 403
    assert bot.rows("SELECT count(*) FROM citizens") == [(0,)]
    assert bot.rows("SELECT count(*) FROM processed_ids") == [(0,)]
    assert (await bot.post(params))[0] == 200  # the same form, signed right


async def test_forms_that_are_not_our_whatsapp_messages_get_4xx(bot: Bot) -> None:
    no_from = form("hi")
    del no_from["From"]
    sms = form("hi", From=NUMBER)
    not_a_number = form("hi", From="whatsapp:hello")
    other_account = form("hi", AccountSid="AC" + "f" * 32)
    assert (await bot.post(no_from))[0] == 400
    assert (await bot.post(sms))[0] == 400
    assert (await bot.post(not_a_number))[0] == 400
    assert (await bot.post(other_account))[0] == 403
    huge = form("x" * 70_000)
    assert (await bot.post(huge))[0] == 413
    assert (await bot.post({}, data=b"a=1", headers={"Content-Length": "99999999"}))[0] == 413
    assert bot.rows("SELECT count(*) FROM citizens") == [(0,)]
    # No crash: the next good message is answered.
    chat = bot.chat(NUMBER)
    await chat.send("hi")
    assert "1. Қазақша" in chat.text


async def test_no_phone_number_in_logs(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    chat = bot.chat(NUMBER)
    await chat.send("hi")
    await chat.send("3")
    await bot.post(form("hi", From=NUMBER))  # refused: logged, without the number
    await bot.post(form("hi"), signature="wrong")
    assert "refused" in caplog.text
    assert "7011234567" not in caplog.text


async def test_a_long_reply_is_split_within_1600_characters(bot: Bot) -> None:
    chat = bot.chat(NUMBER)
    await chat.send("hi")
    await chat.send("2")
    await chat.send("помощь")
    assert all(len(text) <= 1600 for text in chat.texts)
    assert "1424" in chat.text
