"""AiohttpRequest: the real python-telegram-bot Bot talking HTTP to the fake Bot API."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.channels.telegram.request import (
    AiohttpRequest,
    TokenRedactingFilter,
    install_token_redaction,
    redact_token,
)
from tests.fakes.telegram_api import FakeTelegramApi, Upload

TOKEN = "123456:TEST-secret-token_value"
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffc0000b080002000301011100ffd9")


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeTelegramApi) -> AsyncIterator[Bot]:
    tg = Bot(
        TOKEN,
        base_url=f"{api.url}/bot",
        base_file_url=f"{api.url}/file/bot",
        request=AiohttpRequest(connection_pool_size=8),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )
    async with tg:
        yield tg


async def test_get_me(bot: Bot, api: FakeTelegramApi) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert api.calls[0].token == TOKEN


async def test_send_message_with_keyboard(bot: Bot, api: FakeTelegramApi) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Шағым", callback_data="c")]])
    sent = await bot.send_message(42, "Сәлем <b>", reply_markup=keyboard)
    assert sent.text == "Сәлем <b>"
    assert sent.chat.id == 42
    assert sent.reply_markup == keyboard
    [stored] = api.sent_to(42)
    assert stored["reply_markup"] == {
        "inline_keyboard": [[{"text": "Шағым", "callback_data": "c"}]]
    }


async def test_updates_round_trip(bot: Bot, api: FakeTelegramApi) -> None:
    api.push_text(7, "/start", from_lang="ru")
    [update] = await bot.get_updates(timeout=1)
    assert update.message is not None
    assert update.message.text == "/start"
    assert update.message.from_user is not None
    assert update.message.from_user.language_code == "ru"
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()


async def test_send_photo_is_multipart(bot: Bot, api: FakeTelegramApi) -> None:
    sent = await bot.send_photo(42, io.BytesIO(JPEG), caption="evidence", filename="p.jpg")
    assert sent.caption == "evidence"
    assert (sent.photo[-1].width, sent.photo[-1].height) == (3, 2)
    [call] = api.calls_to("sendPhoto")
    upload = call.params["photo"]
    assert isinstance(upload, Upload)
    assert upload.data == JPEG
    assert call.params["chat_id"] == 42


async def test_get_file_and_download(bot: Bot, api: FakeTelegramApi) -> None:
    update = api.push_photo(9, JPEG)
    largest = update["message"]["photo"][-1]
    tg_file = await bot.get_file(largest["file_id"])
    assert tg_file.file_size == len(JPEG)
    assert bytes(await tg_file.download_as_bytearray()) == JPEG
    buffer = io.BytesIO()
    await tg_file.download_to_memory(buffer)
    assert buffer.getvalue() == JPEG


async def test_429_becomes_retry_after(
    bot: Bot, api: FakeTelegramApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # else reading retry_after warns (an error here)
    api.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(1, "hi")
    assert info.value.retry_after.total_seconds() == 3
    await bot.send_message(1, "hi")
    assert [c.status for c in api.calls_to("sendMessage")] == [429, 200]


async def test_blocked_chat_is_forbidden(bot: Bot, api: FakeTelegramApi) -> None:
    api.block_chat(5)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(5, "hi")


async def test_oversized_callback_data_is_refused(bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(1, "hi", reply_markup=keyboard)


async def test_connection_refused_is_network_error_without_token() -> None:
    async with FakeTelegramApi() as fake:
        url = fake.url  # the port is closed once the fake stops
    request = AiohttpRequest(connect_timeout=1)
    async with request:
        with pytest.raises(NetworkError) as info:
            await request.post(f"{url}/bot{TOKEN}/getMe")
    assert TOKEN not in str(info.value)


async def test_read_timeout_is_timed_out(api: FakeTelegramApi) -> None:
    async with AiohttpRequest() as request:
        with pytest.raises(TimedOut):
            await request.post(f"{api.url}/bot{TOKEN}/getUpdates?timeout=5", read_timeout=0.2)


async def test_uninitialized_request_refuses() -> None:
    with pytest.raises(NetworkError, match="not initialized"):
        await AiohttpRequest().post("http://127.0.0.1:9/bot1:x/getMe")


def test_redact_token_plain_and_quoted() -> None:
    text = f"POST http://h/bot{TOKEN}/getMe and /bot123456%3ATEST-secret-token_value/x"
    assert redact_token(text, TOKEN) == "POST http://h/bot<token>/getMe and /bot<token>/x"


def test_filter_hides_token_from_captured_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    token_filter = install_token_redaction(TOKEN)
    try:
        assert token_filter in caplog.handler.filters
        logging.getLogger("httpx").info(
            'HTTP Request: %s %s "%s"', "POST", f"http://h/bot{TOKEN}/getMe", "HTTP/1.1 200 OK"
        )
        try:
            raise ValueError(f"url=http://h/bot{TOKEN}/sendMessage")
        except ValueError:
            logging.getLogger("telegram.ext").exception("failed")
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(token_filter)
        if logging.lastResort is not None:
            logging.lastResort.removeFilter(token_filter)
    assert "bot<token>/getMe" in caplog.text
    assert TOKEN not in caplog.text
    assert all(TOKEN not in (r.exc_text or "") for r in caplog.records)


def test_filter_leaves_other_records_alone() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "n=%d", (5,), None)
    assert TokenRedactingFilter(TOKEN).filter(record)
    assert record.getMessage() == "n=5"
    assert record.args == (5,)


# ---- the fake itself: behaviours the adapter's tests will lean on ------------------------


async def test_fake_callback_edit_and_commands(bot: Bot, api: FakeTelegramApi) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Иә", callback_data="yes")]])
    sent = await bot.send_message(3, "Растайсыз ба?", reply_markup=keyboard)
    api.push_callback(3, "yes")
    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None and query.data == "yes"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert api.unanswered_callbacks() == [query.id]
    await bot.answer_callback_query(query.id)
    await bot.edit_message_reply_markup(3, sent.message_id, reply_markup=None)
    assert api.unanswered_callbacks() == []
    assert "reply_markup" not in api.sent_to(3)[0]
    await bot.set_my_commands([("start", "Бастау")], language_code="kk")
    assert api.commands_for("kk") == [{"command": "start", "description": "Бастау"}]


async def test_fake_delivers_to_a_webhook_with_the_secret(api: FakeTelegramApi) -> None:
    from aiohttp import web

    received: list[tuple[str | None, dict[str, object]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with Bot(TOKEN, base_url=f"{api.url}/bot", request=AiohttpRequest()) as tg:
            await tg.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
            api.push_text(11, "hello")
            await api.wait_for(lambda: bool(received), timeout=5)
            info = await tg.get_webhook_info()
            await tg.delete_webhook()
    finally:
        await runner.cleanup()
    [(secret, update)] = received
    assert secret == "s3cret"
    assert update["message"]["text"] == "hello"  # type: ignore[index]
    assert info.url.endswith("/hook")


async def test_fake_closed_loop_script(bot: Bot, api: FakeTelegramApi) -> None:
    steps = [{"text": f"m{k}.", "expect": f"m{k}."} for k in range(3)]
    api.start_script([{"chat_id": 5, "steps": steps}])
    offset = 0
    while api.script_results()["left"]:
        for update in await bot.get_updates(offset=offset, timeout=1):
            offset = update.update_id + 1
            assert update.message is not None and update.message.text is not None
            await bot.send_message(update.message.chat.id, update.message.text)
    [chat] = api.script_results()["chats"]
    assert len(chat["answered_at"]) == 3 and chat["mismatches"] == []
    assert [a.text for a in api.answers(5)] == ["m0.", "m1.", "m2."]


def test_server_json_nested_too_deep_is_an_invalid_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Deep JSON from the Bot API server (a proxy, a test double) was a RecursionError,
    which nothing around getUpdates expects: the polling task would end."""
    caplog.set_level(logging.DEBUG)
    deep = b'{"ok": true, "result": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for payload in (deep, b'{"ok": true, "result": ["secret words"', b"[1]"):
        with pytest.raises(TelegramError, match="Invalid server response"):
            AiohttpRequest.parse_json_payload(payload)
    assert "secret words" not in caplog.text
    assert AiohttpRequest.parse_json_payload(b'{"ok": true, "result": []}') == {
        "ok": True,
        "result": [],
    }
