"""Issue 15 on the real channels: a draft resumed by number on WhatsApp after a silence,
and a language change mid-flow by button on Telegram, the draft kept through both."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from tests.conftest import Clock
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_chat import TgCitizen
from tests.telegram_chat import running_bot as telegram_bot
from tests.test_complaint import STORY
from tests.whatsapp_chat import Bot
from tests.whatsapp_chat import running_bot as whatsapp_bot


@pytest.fixture
async def whatsapp(settings: Settings, clock: Clock) -> AsyncIterator[Bot]:
    async with whatsapp_bot(settings, clock) as running:
        yield running


async def test_on_whatsapp_a_description_sent_after_a_silence_is_kept_by_continuing(
    whatsapp: Bot, clock: Clock
) -> None:
    chat = whatsapp.chat("+77015550199")
    await chat.send("Здравствуйте")
    await chat.send("2")  # Русский
    await chat.send("1")  # Подать жалобу
    await chat.send("1")  # category
    await chat.send("1")  # body
    await chat.send("1")  # region
    assert "Опишите, что произошло" in chat.text
    clock.advance(hours=3)
    await chat.send(STORY["ru"])
    assert "У вас есть незаконченная жалоба" in chat.text
    assert "Присланное после перерыва сохранено" in chat.text
    assert "1. ▶️ Продолжить" in chat.text and "2. 🗑 Начать заново" in chat.text
    await chat.send("1")
    assert f"{len(STORY['ru'])} символ" in chat.text  # the description, counted


async def test_on_whatsapp_a_language_change_mid_flow_keeps_the_step(whatsapp: Bot) -> None:
    chat = whatsapp.chat("+77015550198")
    await chat.send("Сәлем")
    await chat.send("1")  # Қазақша
    await chat.send("1")  # Шағым беру
    await chat.send("1")  # category
    await chat.send("тіл")
    assert "Тоқтатылды" not in chat.text
    await chat.send("English")
    assert "I will write to you in English" in chat.text
    assert "Which state body or service centre is it about?" in chat.text


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


async def test_on_telegram_a_language_change_and_start_mid_flow_keep_the_draft(
    settings: Settings, api: FakeTelegramApi
) -> None:
    async with telegram_bot(settings, api, "polling"):
        citizen = TgCitizen(api, 601, "en")
        await citizen.start()
        await citizen.press("flow:complaint")
        await citizen.press("cat:")
        await citizen.press("body:")
        await citizen.press("reg:")
        await citizen.send(STORY["en"])
        await citizen.send("/language")
        assert "Stopped" not in " ".join(m.get("text", "") for m in citizen.messages[-2:])
        replies = await citizen.press("lang:ru")
        said = "\n".join(m.get("text", "") for m in replies)
        assert "Готово: сообщения будут приходить на русском языке." in said
        assert "more:next" in citizen.keyboard()  # the same question, in Russian
        await citizen.send("/start")
        assert "У вас есть незаконченная жалоба" in citizen.text
        assert citizen.keyboard() == ["draft:continue", "draft:start_over"]
        await citizen.press("draft:continue")
        assert "more:next" in citizen.keyboard()


async def test_a_number_sent_after_a_silence_means_the_option_it_was_typed_under(
    settings, clock
) -> None:
    """Found by an outside review: "1" typed under «1. Продолжить» after a silence was kept,
    then replayed against the "continue / start over" question's buttons once the draft was
    resumed, so it was appended to the description as text."""
    from tests.test_complaint import STORY
    from tests.whatsapp_chat import running_bot as whatsapp_bot

    async with whatsapp_bot(settings, clock) as bot:
        chat = bot.chat("+77015550177")
        for typed in ("Здравствуйте", "2", "1", "1", "1", "1"):
            await chat.send(typed)
        await chat.send(STORY["ru"])
        assert "1. Продолжить" in chat.text
        clock.advance(hours=2)
        await chat.send("1")  # «1. Продолжить» under the description, after the silence
        await chat.send("1")  # «1. ▶️ Продолжить»: the draft is resumed
        assert "символ" not in chat.text  # not appended to the description
        assert "Есть ли доказательства?" in chat.text  # Continue: on to the evidence
