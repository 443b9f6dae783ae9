"""Driving govbot on Telegram in tests: the real app (create_app, its lifespan, uvicorn on
127.0.0.1) with the real python-telegram-bot talking HTTP to FakeTelegramApi, and a citizen
who types, presses buttons and sends files through the fake.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from bot.app import create_app
from bot.channels.telegram.adapter import TelegramChannel
from bot.channels.telegram.request import AiohttpRequest
from bot.config import Settings
from bot.runtime import Runtime
from tests.fakes.telegram_api import FakeTelegramApi
from tests.serving import free_port, serving

TOKEN = "123456:AAF-test_token-0123456789abcdefghijkl"
SECRET = "webhook-secret_0123456789abcdef"
# The bot serving each fake right now, so that `settle` can wait for it to be idle.
_serving: weakref.WeakKeyDictionary[FakeTelegramApi, TelegramChannel] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def running_bot(
    settings: Settings, api: FakeTelegramApi, mode: str, **overrides: Any
) -> AsyncIterator[Starlette]:
    """govbot serving on 127.0.0.1 against the fake, until the block ends (lifespan included)."""
    port = free_port()
    settings = settings.with_overrides(
        telegram_bot_token=TOKEN,
        telegram_api_url=api.url,
        telegram_mode=mode,
        telegram_webhook_secret=SECRET,
        public_url=f"http://127.0.0.1:{port}",
        telegram_rate_global=0.0,
        telegram_rate_per_chat=0.0,
        host="127.0.0.1",
        port=port,
        **overrides,
    )
    app = create_app(settings, telegram_request=AiohttpRequest(connection_pool_size=16))
    async with serving(app, port):
        if mode == "polling":
            await api.wait_for_call("getUpdates")
        _serving[api] = app.state.channels["telegram"]
        try:
            yield app
        finally:
            _serving.pop(api, None)


def runtime_of(app: Starlette) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


class TgCitizen:
    """One private chat with the bot, seen through the fake Bot API."""

    def __init__(self, api: FakeTelegramApi, chat_id: int, lang: str = "kk") -> None:
        self.api = api
        self.chat_id = chat_id
        self.lang = lang

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.api.sent_to(self.chat_id)

    @property
    def last(self) -> dict[str, Any]:
        return self.messages[-1]

    @property
    def text(self) -> str:
        text: str = self.last.get("text", "")
        return text

    def keyboard(self) -> list[str]:
        """Callback data of the latest message that still has a keyboard."""
        for msg in reversed(self.messages):
            markup = msg.get("reply_markup")
            if markup:
                return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
        return []

    async def _answered(self, before: int) -> list[dict[str, Any]]:
        await self.api.wait_for_sent(self.chat_id, before + 1)
        await settle(self.api)
        return self.messages[before:]

    async def send(self, text: str) -> list[dict[str, Any]]:
        before = len(self.messages)
        self.api.push_text(self.chat_id, text, from_lang=self.lang)
        return await self._answered(before)

    async def press(self, prefix: str) -> list[dict[str, Any]]:
        """Press the first button on the latest keyboard whose data starts with `prefix`."""
        data = next(d for d in self.keyboard() if d.startswith(prefix))
        before = len(self.messages)
        self.api.push_callback(self.chat_id, data, from_lang=self.lang)
        return await self._answered(before)

    async def photo(self, jpeg: bytes) -> list[dict[str, Any]]:
        before = len(self.messages)
        self.api.push_photo(self.chat_id, jpeg, from_lang=self.lang)
        return await self._answered(before)

    async def document(self, data: bytes, name: str, mime: str) -> list[dict[str, Any]]:
        before = len(self.messages)
        self.api.push_document(self.chat_id, data, name, mime, from_lang=self.lang)
        return await self._answered(before)

    async def start(self) -> None:
        """/start and the language: leaves the chat at the main menu."""
        await self.send("/start")
        await self.press(f"lang:{self.lang}")


async def settle(api: FakeTelegramApi, timeout: float = 5.0) -> None:
    """Wait until the bot has taken every update pushed so far, handled it and sent what
    it answered (events, not a quiet period: a reply that comes late still counts)."""
    await api.wait_taken(timeout)
    channel = _serving.get(api)
    if channel is not None:
        async with asyncio.timeout(timeout):
            await channel.wait_until_idle()
