"""Malformed and hostile Telegram input, end to end (the hardening issue): the real app and
python-telegram-bot against the fake Bot API. Each test repeats what the attacker or the
broken update did; none of them may stop the bot, now or at its next start.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.app import channel_services
from bot.channels.telegram.adapter import WEBHOOK_PATH, TelegramChannel
from bot.channels.telegram.request import AiohttpRequest
from bot.config import Settings
from bot.errors import ConfigError
from bot.runtime import open_runtime
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_chat import SECRET, TOKEN, TgCitizen, running_bot, runtime_of, settle

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
# Valid JSON: 1e400 parses to float("inf"), which no chat id can be.
INFINITE_CHAT = (
    b'{"update_id": 5, "message": {"message_id":1, "date":0,'
    b' "chat":{"id":1e400, "type":"private"}, "text":"hi"}}'
)
APOLOGY = "Sorry, something went wrong"


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


def text_update(update_id: int, chat_id: int, text: str, **sender: Any) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "A", "language_code": "en", **sender}
    message = {"message_id": update_id, "date": 1, "from": user, "text": text}
    message["chat"] = {"id": chat_id, "type": "private"}
    return {"update_id": update_id, "message": message}


async def dead_letters(app: Any) -> list[tuple[str, str]]:
    async with runtime_of(app).storage.read() as tx:
        cursor = await tx.conn.execute("SELECT channel, reason FROM dead_letters ORDER BY id")
        return [(row[0], row[1]) for row in await cursor.fetchall()]


async def post(url: str, body: bytes) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=HEADERS) as r:
        return r.status


async def test_an_update_that_cannot_be_parsed_is_a_dead_letter_not_a_dead_bot(
    settings: Settings, api: FakeTelegramApi
) -> None:
    """Issue: one update with chat id 1e400 gave a 500, stayed in the inbox, and every
    restart died with OverflowError."""
    async with running_bot(settings, api, "webhook") as app:
        url = api.webhook["url"]
        assert await post(url, INFINITE_CHAT) == 200
        async with runtime_of(app).storage.read() as tx:
            assert await tx.inbox.pending("telegram") == []
        [(channel, reason)] = await dead_letters(app)
        assert channel == "telegram" and "chat.id" in reason and "hi" not in reason
        async with (
            aiohttp.ClientSession() as http,
            http.get(url.removesuffix(WEBHOOK_PATH) + "/metrics") as r,
        ):
            metrics = await r.text()
        assert 'govbot_dead_letters_total{channel="telegram",reason="MalformedUpdate"} 1.0' in (
            metrics
        )
    # The next start is an ordinary one.
    async with running_bot(settings, api, "webhook"):
        assert await TgCitizen(api, 601, "en").send("/start")


async def test_poison_rows_in_the_inbox_do_not_stop_start_up(
    settings: Settings, api: FakeTelegramApi
) -> None:
    runtime = await open_runtime(settings)
    now = runtime.dispatcher.clock()
    async with runtime.storage.transaction() as tx:
        await tx.conn.execute(
            "INSERT INTO inbox (channel, payload, received_at) VALUES ('telegram', ?, ?)",
            (b"\x01not a sealed blob at all, just bytes", now.isoformat()),
        )
        poison = [
            INFINITE_CHAT,
            b"{not json",
            b"[1, 2]",  # read as a polled batch: two updates that are not objects
            b"[" * 5000 + b"]" * 5000,
            json.dumps({"update_id": 8, "message": {"chat": {"id": "x"}, "from": []}}).encode(),
            json.dumps(
                {"update_id": 9, "callback_query": {"id": 1, "from": {"id": 1e30}}}
            ).encode(),
        ]
        for payload in poison:
            await tx.inbox.add("telegram", payload, now=now)
        good = text_update(10, 602, "/start")
        # As the webhook stores it: with its chat, which chat turns find it by.
        await tx.inbox.add("telegram", json.dumps(good).encode(), now=now, chat_key="602")
    await runtime.close()

    async with running_bot(settings, api, "webhook") as app:
        [question] = await api.wait_for_sent(602, 1)
        assert "choose your language" in question["text"]
        await settle(api)
        await runtime_of(app).outbox.run_once()  # handled rows go in the worker round
        async with runtime_of(app).storage.read() as tx:
            assert await tx.inbox.pending("telegram") == []
        letters = await dead_letters(app)
        assert len(letters) == 1 + len(poison) + 1
        assert letters[0] == ("telegram", "DecryptionError")
        # Still serving.
        assert await TgCitizen(api, 603, "en").send("/start")
    async with running_bot(settings, api, "webhook") as app:
        assert len(await dead_letters(app)) == 1 + len(poison) + 1  # never replayed


async def test_polling_survives_an_update_it_cannot_parse(
    settings: Settings, api: FakeTelegramApi
) -> None:
    async with running_bot(settings, api, "polling") as app:
        poison = text_update(20, 604, "hi")
        poison["message"]["chat"]["id"] = float("inf")
        api.push_raw(poison)
        api.push_raw(text_update(21, 605, "/start"))
        [question] = await api.wait_for_sent(605, 1)
        assert "choose your language" in question["text"]
        [(channel, reason)] = await dead_letters(app)
        assert channel == "telegram" and reason.startswith("MalformedUpdate")
        assert await TgCitizen(api, 605, "en").send("/start")


@pytest.mark.parametrize("depth", [1000, 100_000])
async def test_deeply_nested_json_is_a_400(
    settings: Settings, api: FakeTelegramApi, depth: int
) -> None:
    async with running_bot(settings, api, "webhook"):
        nested = b'{"update_id": 30, "message": ' + b"[" * depth + b"]" * depth + b"}"
        assert await post(api.webhook["url"], nested) == 400
        assert await TgCitizen(api, 606, "en").send("/start")


@pytest.mark.parametrize("code", [5, [], {}, 1e400, None, True])
async def test_a_language_code_that_is_not_a_string_gets_a_normal_reply(
    settings: Settings, api: FakeTelegramApi, code: Any
) -> None:
    async with running_bot(settings, api, "polling"):
        api.push_raw(text_update(40, 607, "/start", language_code=code))
        [question] = await api.wait_for_sent(607, 1)
        assert "Тілді таңдаңыз" in question["text"]  # the default language, kk


async def test_a_lone_surrogate_is_replaced_and_the_chat_goes_on(
    settings: Settings, api: FakeTelegramApi
) -> None:
    """Issue: "\\ud800" in a text could not be encoded into the session, so every later
    message of the chat got the apology."""
    async with running_bot(settings, api, "webhook") as app:
        citizen = TgCitizen(api, 608, "en")
        await citizen.start()
        for prefix in ("flow:complaint", "cat:", "body:", "reg:"):
            await citizen.press(prefix)
        body = json.dumps(
            text_update(50, 608, "The clerk \ud800 asked for money to stamp my certificate.")
        ).encode()
        assert b"\\ud800" in body  # what arrives on the wire
        before = len(citizen.messages)
        assert await post(api.webhook["url"], body) == 200
        await api.wait_for_sent(608, before + 1)
        await settle(api)
        assert APOLOGY not in citizen.text
        after = await citizen.send("menu")
        assert all(APOLOGY not in m["text"] for m in after)
        await runtime_of(app).outbox.run_once()  # handled rows go in the worker round
        async with runtime_of(app).storage.read() as tx:
            assert await tx.inbox.pending("telegram") == []


def test_a_webhook_at_an_http_url_is_refused(settings: Settings) -> None:
    webhook = settings.with_overrides(
        telegram_bot_token=TOKEN,
        telegram_mode="webhook",
        telegram_webhook_secret=SECRET,
        public_url="http://bot.example.kz",
    )
    with pytest.raises(ConfigError, match=r"^PUBLIC_URL: .*https"):
        TelegramChannel(webhook)
    # https is fine; so is a self-hosted Bot API server (--local accepts http webhooks).
    TelegramChannel(webhook.with_overrides(public_url="https://bot.example.kz"))
    TelegramChannel(webhook.with_overrides(telegram_api_url="http://127.0.0.1:8081"))


class VirtualTime:
    """Time that moves only when the poller sleeps, so the test never waits on the wall
    clock; once `limit` virtual seconds have passed, the poller is parked."""

    def __init__(self, limit: float) -> None:
        self.now = 0.0
        self.limit = limit
        self.naps: list[float] = []
        self.reached = asyncio.Event()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.naps.append(delay)
        self.now += delay
        if self.now >= self.limit:
            self.reached.set()
            await asyncio.Event().wait()  # until the channel stops
        await asyncio.sleep(0)


async def test_empty_polls_answered_at_once_are_spaced_out(
    settings: Settings, api: FakeTelegramApi
) -> None:
    """Issue: against a server that does not hold the long poll, 30,000 polls a minute."""
    api.hold_polls = False
    polling = settings.with_overrides(
        telegram_bot_token=TOKEN,
        telegram_api_url=api.url,
        telegram_mode="polling",
        telegram_rate_global=0.0,
        telegram_rate_per_chat=0.0,
    )
    time = VirtualTime(limit=60.0)
    channel = TelegramChannel(
        polling, request=AiohttpRequest(), sleep=time.sleep, monotonic=time.monotonic
    )
    runtime = await open_runtime(polling)
    await channel.start(channel_services(runtime))
    try:
        flood = asyncio.create_task(
            api.wait_for(lambda: len(api.calls_to("getUpdates")) > 500, timeout=10)
        )
        minute = asyncio.create_task(time.reached.wait())
        await asyncio.wait({flood, minute}, return_when=asyncio.FIRST_COMPLETED)
        flood.cancel()
        minute.cancel()
    finally:
        await channel.stop()
        await runtime.close()
    polls = len(api.calls_to("getUpdates"))
    assert time.reached.is_set(), f"{polls} polls before one virtual minute passed"
    assert 10 <= polls <= 40
    assert max(time.naps) <= 5.0


async def test_a_flood_of_files_is_dropped_before_any_is_downloaded(
    settings: Settings, api: FakeTelegramApi, tmp_path: Any
) -> None:
    # Review: 30 PDFs from one chat with a burst of 3 were all fetched, downloaded and
    # written to attachments/ before flood control dropped 28 of them.
    flooding = settings.with_overrides(flood_burst=3, flood_per_second=0.1)
    async with running_bot(flooding, api, "polling") as app:
        for _ in range(30):
            api.push_document(604, b"%PDF-1.4\n" + b"x" * 2000, "a.pdf", "application/pdf")
        await api.wait_for_sent(604, 1)
        await settle(api)
        assert len(api.calls_to("getFile")) <= 3
        stored = list(runtime_of(app).settings.attachments_dir.rglob("*"))
        assert len([p for p in stored if p.is_file()]) <= 3
