"""Fuzz: hostile Telegram updates POSTed to the real webhook (secret header, the whole
Starlette app in-process, python-telegram-bot against the fake Bot API), through parsing
and the dispatcher. No 500, nothing logged at ERROR, no traceback; then a fresh chat's
/start is still answered. Strategies and settings: tests/fuzzing.py.
"""

from __future__ import annotations

import asyncio
import itertools
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import create_app
from bot.channels.telegram.adapter import WEBHOOK_PATH, TelegramChannel
from bot.channels.telegram.receiver import SECRET_HEADER
from bot.channels.telegram.request import AiohttpRequest
from bot.config import Settings
from bot.runtime import Runtime
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fuzzing import (
    TIMEOUT,
    Loop,
    Raw,
    big_ints,
    dump,
    fuzz_settings,
    json_values,
    nested,
    numbers,
    texts,
    watched_logs,
    weighted,
)
from tests.telegram_chat import SECRET, TOKEN

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TIMEOUT)]

EXAMPLES = 800
REGULARS = [501, 502, 503]
PAYLOADS = ["lang:ru", "lang:en", "flow:complaint", "flow:tip", "flow:feedback", "cat:", "menu"]
HEADERS = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}

# Mostly ids a chat could have, and now and then one no chat can.
ids = weighted(
    (6, st.integers(1, 10**12)), (1, numbers), (1, st.sampled_from([0, -1, 2**63, -(2**70)]))
)
langs = weighted(
    (3, st.sampled_from(["kk", "ru", "en", "de", "", "kk-KZ", "EN"])), (1, json_values)
)


@st.composite
def users(draw: st.DrawFn, user_id: Any) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": draw(st.sampled_from([False, True, "no", None])),
        "first_name": draw(texts(max_size=10)),
        "language_code": draw(langs),
    }


@st.composite
def messages(draw: st.DrawFn, chat_id: Any) -> dict[str, Any]:
    chat_type = draw(st.sampled_from(["private"] * 4 + ["group", "channel", "secret"]))
    message: dict[str, Any] = {
        "message_id": draw(ids),
        "date": draw(st.one_of(st.integers(0, 2**31), numbers)),
        "chat": {"id": chat_id, "type": chat_type},
        "from": draw(users(chat_id)),
    }
    content = draw(
        st.sampled_from(["text", "text", "photo", "document", "location", "sticker", "caption"])
    )
    if content == "text":
        message["text"] = draw(texts())
        if draw(st.booleans()):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": draw(ids)}]
    elif content == "photo":
        size = {"file_id": draw(texts(max_size=20)), "file_unique_id": "u", "width": 1}
        message["photo"] = [{**size, "height": 1, "file_size": draw(big_ints)}]
    elif content == "document":
        message["document"] = {
            "file_id": draw(texts(max_size=20)),
            "file_unique_id": "u",
            "file_name": draw(texts(max_size=30)),
            "mime_type": draw(st.one_of(texts(max_size=20), st.just("application/pdf"))),
            "file_size": draw(big_ints),
        }
    elif content == "location":
        message["location"] = {"latitude": draw(numbers), "longitude": draw(numbers)}
    elif content == "sticker":
        message["sticker"] = {"file_id": "s", "emoji": draw(texts(max_size=3))}
    else:
        message["caption"] = draw(texts())
    return message


@st.composite
def updates(draw: st.DrawFn, fresh: Any) -> Any:
    """A plausible update of a random kind, then broken: fields replaced with any JSON
    value, removed or added, at any depth."""
    # A new chat, one of a few that go on across examples (so flows get under way), or any.
    chat_id = draw(weighted((3, st.just(next(fresh))), (2, st.sampled_from(REGULARS)), (1, ids)))
    kind = draw(
        st.sampled_from(
            ["message", "message", "edited_message", "callback_query", "channel_post", "other"]
        )
    )
    update: dict[str, Any] = {"update_id": draw(weighted((3, st.just(next(fresh))), (1, ids)))}
    if kind == "callback_query":
        update[kind] = {
            "id": draw(st.one_of(texts(max_size=20), texts(max_size=20), ids)),
            "from": draw(users(chat_id)),
            "chat_instance": "1",
            "data": draw(st.one_of(texts(max_size=80), st.sampled_from(PAYLOADS))),
            "message": draw(messages(chat_id)),
        }
    elif kind == "other":
        name = draw(st.one_of(st.sampled_from(["inline_query", "poll", "my_chat_member"]), texts()))
        update[name] = draw(json_values)
    else:
        update[kind] = draw(messages(chat_id))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 4]))):
        _mutate(update, draw)
    return update


def _mutate(document: dict[str, Any], draw: st.DrawFn) -> None:
    """Replace, remove or add one field somewhere in `document`."""
    target = document
    while True:
        children = [k for k, v in target.items() if isinstance(v, dict)]
        if not children or draw(st.booleans()):
            break
        target = target[draw(st.sampled_from(children))]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "add" or not target:
        target[draw(texts(max_size=12))] = draw(json_values)
    elif action == "replace":
        target[draw(st.sampled_from(sorted(target)))] = draw(json_values)
    else:
        del target[draw(st.sampled_from(sorted(target)))]


bodies = weighted(
    (16, st.builds(dump, updates(itertools.count(10**9))).map(str.encode)),
    (1, json_values.map(dump).map(str.encode)),  # not an update at all
    (1, st.binary(max_size=200)),
    (1, texts(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass"))),
    (
        1,
        st.integers(1, 100_000).map(
            lambda n: b'{"update_id":1,"message":%s}' % dump(nested(n)).encode()
        ),
    ),
)


class Harness:
    """The app, its lifespan and the fake Bot API, open across all examples."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stack = AsyncExitStack()

    async def open(self) -> None:
        self.api = await self.stack.enter_async_context(FakeTelegramApi())
        configured = self.settings.with_overrides(
            telegram_bot_token=TOKEN,
            telegram_api_url=self.api.url,
            telegram_mode="webhook",
            telegram_webhook_secret=SECRET,
            public_url="https://govbot.example.kz",
            telegram_rate_global=0.0,
            telegram_rate_per_chat=0.0,
        )
        app = create_app(configured, telegram_request=AiohttpRequest(connection_pool_size=16))
        await self.stack.enter_async_context(app.router.lifespan_context(app))
        self.runtime: Runtime = app.state.runtime
        self.channel: TelegramChannel = app.state.channels["telegram"]
        transport = httpx.ASGITransport(app=app)
        self.web = await self.stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="https://govbot.example.kz")
        )

    async def post(self, body: bytes) -> int:
        response = await self.web.post(WEBHOOK_PATH, content=body, headers=HEADERS)
        await self.handled()
        return response.status_code

    async def handled(self) -> None:
        """Every update taken has been handled, and its inbox row is gone with it (in the
        outbox worker's round, run here rather than waited for)."""
        async with asyncio.timeout(10):
            await self.channel.wait_until_idle()
        await self.runtime.outbox.run_once()
        async with self.runtime.storage.read() as tx:
            assert await tx.inbox.pending("telegram") == []

    async def start_is_answered(self, chat_id: int) -> str:
        update = {
            "update_id": chat_id,
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "A", "language_code": "en"},
                "text": "/start",
            },
        }
        assert await self.post(dump(update).encode()) == 200
        [answer] = await self.api.wait_for_sent(chat_id, 1)
        text: str = answer["text"]
        return text


def test_hostile_telegram_updates(settings: Settings) -> None:
    loop = Loop()
    harness = Harness(settings)
    statuses: dict[int, int] = {}
    with watched_logs() as errors:
        try:
            loop.run(harness.open())

            @fuzz_settings(EXAMPLES)
            @given(body=bodies)
            def post_one(body: bytes) -> None:
                errors.take()
                status = loop.run(harness.post(body))
                statuses[status] = statuses.get(status, 0) + 1
                assert status in (200, 400), status
                assert errors.take() == []

            post_one()
            assert "choose your language" in loop.run(harness.start_is_answered(77_000_001))
            assert errors.take() == []
        finally:
            loop.run(harness.stack.aclose())
            loop.close()
    assert statuses.get(200, 0) > sum(statuses.values()) // 4, (
        statuses
    )  # most examples got past the parser


def test_raw_numbers_survive_the_dumper() -> None:
    assert dump({"a": [Raw("1e400"), 1, "\ud800"]}) == '{"a":[1e400,1,"\\ud800"]}'
