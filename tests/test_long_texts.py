"""A long paste on Telegram (issue 15): a 5,000-character text arrives as 4,096 + 904
characters, and both the complaint and the tip join the parts through the one description
step (handlers/description.py): the beginning is kept, not the tail. The real
python-telegram-bot against the fake Bot API, in Kazakh and in Russian."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import Settings
from bot.domain import Channel
from bot.runtime import Runtime
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_chat import TgCitizen, running_bot, runtime_of

SENTENCE = {
    "kk": "Маман құжатты тез беру үшін қолма-қол ақша талап етті, түбіртек берген жоқ. ",
    "ru": "Специалист потребовал наличные за быструю выдачу документа, квитанции не дал. ",
}
TELEGRAM_LIMIT = 4096
# Where each flow keeps the story, and the steps before it.
FLOWS = {
    "complaint": ("description", ("flow:complaint", "cat:healthcare")),
    "tip": ("what", ("flow:tip", "tip:anon")),
}
CUT_NOTE = {"kk": "сыймады", "ru": "не поместилось"}


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


async def draft(runtime: Runtime, chat_id: int) -> dict[str, Any]:
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(Channel.TELEGRAM, str(chat_id))
        assert citizen is not None
        record = await tx.sessions.load(citizen.id)
    assert record is not None
    return dict(record.data["d"])


@pytest.mark.parametrize("lang", ["kk", "ru"])
@pytest.mark.parametrize("flow", ["complaint", "tip"])
async def test_a_paste_split_by_telegram_is_joined_from_its_beginning(
    settings: Settings, api: FakeTelegramApi, flow: str, lang: str
) -> None:
    paste = "".join(f"{n}) {SENTENCE[lang]}" for n in range(1, 80))[:5000]
    # Telegram's apps cut a long text into messages of at most 4,096 characters.
    first, tail = paste[:TELEGRAM_LIMIT], paste[TELEGRAM_LIMIT:]
    assert len(tail) == 904
    key, presses = FLOWS[flow]
    async with running_bot(settings, api, "polling") as app:
        citizen = TgCitizen(api, 700 + len(flow), lang)
        await citizen.start()
        for payload in presses:
            await citizen.press(payload)
        if flow == "complaint":
            await citizen.press("body:")
            await citizen.press("reg:")
        await citizen.send(first)
        await citizen.send(tail)
        text = (await draft(runtime_of(app), citizen.chat_id))[key]
        assert CUT_NOTE[lang] in " ".join(m.get("text", "") for m in citizen.messages[-3:])
        assert "more:next" in citizen.keyboard()  # the text step, ready to go on
    assert text.startswith(paste[:200])  # the beginning is kept, not the 904-character tail
    assert 3800 <= len(text) <= 4000
    assert tail[:100] not in text
