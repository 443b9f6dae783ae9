"""govbot on Telegram end to end: the app's lifespan, the real python-telegram-bot, HTTP to
a fake Bot API on 127.0.0.1, in polling and in webhook mode."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.channels.telegram.adapter import WEBHOOK_PATH
from bot.config import Settings
from bot.domain import Channel
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_chat import SECRET, TOKEN, TgCitizen, running_bot, runtime_of, settle
from tests.test_attachments import photo_with_exif

MODES = ["polling", "webhook"]
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


@pytest.mark.parametrize("mode", MODES)
async def test_menu_commands_and_keyboards(
    settings: Settings, api: FakeTelegramApi, mode: str
) -> None:
    async with running_bot(settings, api, mode):
        for code in ("kk", "ru", "en"):
            names = [c["command"] for c in api.commands_for(code)]
            assert names[:3] == ["start", "menu", "back"]
        assert api.commands_for("ru")[1]["description"] == "Главное меню"
        assert api.commands_for("kk")[1]["description"] == "Басты мәзір"
        assert api.commands_for("")  # everyone else: the default language
        if mode == "webhook":
            assert api.webhook["url"].endswith(WEBHOOK_PATH)
            assert api.webhook["secret_token"] == SECRET

        citizen = TgCitizen(api, 501, "ru")
        [question] = await citizen.send("/start")
        assert "Выберите язык" in question["text"]
        assert citizen.keyboard()[0] == "lang:ru"
        [menu] = await citizen.press("lang:ru")
        assert "Главное меню" in menu["text"]  # the welcome note and the menu, one message
        # The pressed keyboard is gone, the callback answered: the same press cannot recur.
        assert "reply_markup" not in citizen.messages[0]
        assert api.unanswered_callbacks() == []
        assert "flow:feedback" in citizen.keyboard()


@pytest.mark.parametrize("mode", MODES)
async def test_complaint_in_kazakh_with_a_photo(
    settings: Settings, api: FakeTelegramApi, mode: str
) -> None:
    async with running_bot(settings, api, mode) as app:
        citizen = TgCitizen(api, 502, "kk")
        await citizen.start()
        await citizen.press("flow:complaint")
        await citizen.press("cat:")
        await citizen.press("body:")
        await citizen.press("reg:")
        await citizen.send(
            "ХҚКО-да үш апта бойы анықтама бермеді, әр келген сайын ертең келіңіз дейді."
        )
        await citizen.press("more:next")
        await citizen.photo(photo_with_exif())
        await citizen.press("ev:done")
        await citizen.send("Айгүл Сейітова")
        await citizen.press("iin:skip")
        [done] = await citizen.press("sum:ok")

        runtime = runtime_of(app)
        async with runtime.storage.read() as tx:
            found = await tx.citizens.find(Channel.TELEGRAM, "502")
            assert found is not None
            [ticket] = await tx.tickets.for_citizen(found.id)
            [attachment] = await tx.tickets.attachments(ticket.id)
        assert ticket.kind == "complaint"
        assert ticket.reference in done["text"]
        assert attachment.content_type == "image/jpeg"
        stored = await runtime.attachments.aget(attachment.blob_id)
        assert stored.startswith(b"\xff\xd8") and b"GPSLatitude" not in stored
        assert api.unanswered_callbacks() == []


@pytest.mark.parametrize("mode", MODES)
async def test_tip_with_a_document(settings: Settings, api: FakeTelegramApi, mode: str) -> None:
    async with running_bot(settings, api, mode) as app:
        citizen = TgCitizen(api, 503, "en")
        await citizen.start()
        await citizen.press("flow:tip")
        await citizen.press("tip:anon")
        await citizen.send("The head of the licensing department asks for cash to sign permits.")
        await citizen.press("more:next")
        await citizen.send("Department head, licensing office")
        await citizen.press("reg:")
        await citizen.press("tip:skip")
        await citizen.press("tip:skip")
        acknowledged = await citizen.document(PDF, "receipt.pdf", "application/pdf")
        assert acknowledged
        await citizen.press("ev:done")
        [done] = await citizen.press("tip:ok")
        assert any(ch.isdigit() for ch in done["text"])

        async with runtime_of(app).storage.read() as tx:
            cursor = await tx.conn.execute(
                "SELECT t.citizen_id, f.content_type FROM tickets t"
                " JOIN tip_files f ON f.ticket_id = t.id WHERE t.kind = 'tip'"
            )
            rows = [tuple(r) for r in await cursor.fetchall()]
        assert rows == [(None, "application/pdf")]


@pytest.mark.parametrize("mode", MODES)
async def test_429_is_waited_out_and_delivered_once(
    settings: Settings, api: FakeTelegramApi, mode: str
) -> None:
    async with running_bot(settings, api, mode) as app:
        # The outbox retries the refused reply; its round comes soon after the row is due,
        # not up to a second later.
        runtime_of(app).outbox.poll_every(0.05)
        api.fail_next("sendMessage", status=429, retry_after=1)
        citizen = TgCitizen(api, 504, "en")
        [question] = await citizen.send("/start")
        assert "choose your language" in question["text"]
        [refused, delivered] = api.calls_to("sendMessage")
        assert (refused.status, delivered.status) == (429, 200)
        # Measured where the calls arrived, so a slow machine cannot make it pass early.
        assert delivered.time - refused.time >= 0.9
        assert len(citizen.messages) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_blocked_citizen_is_marked_unreachable(
    settings: Settings, api: FakeTelegramApi, mode: str
) -> None:
    async with running_bot(settings, api, mode) as app:
        citizen = TgCitizen(api, 505, "ru")
        await citizen.start()
        api.block_chat(505)
        api.push_text(505, "меню")
        await api.wait_for(
            lambda: any(c.status == 403 for c in api.calls_to("sendMessage")), timeout=5
        )
        await settle(api)
        async with runtime_of(app).storage.read() as tx:
            found = await tx.citizens.find(Channel.TELEGRAM, "505")
        assert found is not None and found.unreachable and not found.subscribed


async def test_webhook_secret_is_required(settings: Settings, api: FakeTelegramApi) -> None:
    async with running_bot(settings, api, "webhook"), aiohttp.ClientSession() as http:
        url = api.webhook["url"]
        update = {
            "update_id": 9001,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 506, "type": "private"},
                "text": "/start",
            },
        }
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret-000000"}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 403
        await settle(api)
        assert api.sent_to(506) == []


async def test_webhook_malformed_and_unknown_updates(
    settings: Settings, api: FakeTelegramApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_bot(settings, api, "webhook") as app, aiohttp.ClientSession() as http:
        url = api.webhook["url"]
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(url, data=b"{not json", headers=headers) as response:
            assert response.status == 400
        async with http.post(url, json=[1, 2], headers=headers) as response:
            assert response.status == 400
        poll = {"update_id": 9002, "poll": {"id": "1", "question": "?", "options": []}}
        async with http.post(url, json=poll, headers=headers) as response:
            assert response.status == 200
        broken = {"update_id": 9003, "message": {"chat": "nonsense"}}
        async with http.post(url, json=broken, headers=headers) as response:
            assert response.status == 200
        await settle(api)  # (the app decides before it answers)
        assert "ignored update 9002 (poll)" in caplog.text
        assert "malformed update 9003" in caplog.text
        async with runtime_of(app).storage.read() as tx:
            assert await tx.inbox.pending("telegram") == []
        # Still serving.
        assert await TgCitizen(api, 507, "en").send("/start")


@pytest.mark.parametrize("mode", MODES)
async def test_same_update_twice_has_one_effect(
    settings: Settings, api: FakeTelegramApi, mode: str
) -> None:
    async with running_bot(settings, api, mode):
        citizen = TgCitizen(api, 508, "en")
        await citizen.start()
        update = api.push_text(508, "help")
        await api.wait_for_sent(508, 3)
        api.push_raw(json.loads(json.dumps(update)))
        await settle(api)
        assert len(citizen.messages) == 3


async def test_webhook_repeat_after_restart_has_one_effect(
    settings: Settings, api: FakeTelegramApi
) -> None:
    """A repeat the in-memory guard cannot see (a restart between) is caught by the
    dispatcher's durable dedupe."""
    update = {}
    async with running_bot(settings, api, "webhook"):
        citizen = TgCitizen(api, 509, "en")
        await citizen.start()
        update = api.push_text(509, "help")
        await api.wait_for_sent(509, 3)
        await settle(api)
    async with running_bot(settings, api, "webhook"):
        api.push_raw(json.loads(json.dumps(update)))
        await settle(api)
        assert len(api.sent_to(509)) == 3


async def test_inbox_leftovers_are_handled_on_start(
    settings: Settings, api: FakeTelegramApi
) -> None:
    from bot.runtime import open_runtime

    update = {
        "update_id": 777,
        "message": {
            "message_id": 1,
            "date": 1,
            "from": {"id": 510, "is_bot": False, "first_name": "A", "language_code": "ru"},
            "chat": {"id": 510, "type": "private"},
            "text": "/start",
        },
    }
    runtime = await open_runtime(settings)
    async with runtime.storage.transaction() as tx:
        # As the webhook stores it: with the chat, which chat turns find it by (PostgreSQL).
        await tx.inbox.add(
            "telegram",
            json.dumps(update).encode(),
            now=runtime.dispatcher.clock(),
            chat_key="510",
        )
    await runtime.close()
    async with running_bot(settings, api, "webhook") as app:
        [question] = await api.wait_for_sent(510, 1)
        assert "Выберите язык" in question["text"]
        await settle(api)
        await runtime_of(app).outbox.run_once()  # handled rows go in the worker's round
        async with runtime_of(app).storage.read() as tx:
            assert await tx.inbox.pending("telegram") == []


@pytest.mark.parametrize("mode", MODES)
async def test_group_message_gets_the_private_chat_answer(
    settings: Settings, api: FakeTelegramApi, mode: str
) -> None:
    async with running_bot(settings, api, mode) as app:
        api.push_group_message(-100500, "/start", from_lang="ru")
        [note] = await api.wait_for_sent(-100500, 1)
        assert note["text"] == "Бот работает только в личных сообщениях. Напишите боту напрямую."
        api.push_group_message(-100500, "ещё раз", from_lang="ru")
        await settle(api)
        assert len(api.sent_to(-100500)) == 1  # not once per message
        async with runtime_of(app).storage.read() as tx:
            assert await tx.citizens.find(Channel.TELEGRAM, "-100500") is None


@pytest.mark.parametrize("mode", MODES)
async def test_edited_message_sticker_location_and_voice(
    settings: Settings, api: FakeTelegramApi, mode: str
) -> None:
    async with running_bot(settings, api, mode):
        citizen = TgCitizen(api, 511, "en")
        await citizen.start()
        before = len(citizen.messages)
        api.push_edited_text(511, 1, "changed")
        await api.wait_for_sent(511, before + 1)
        assert "edited" in citizen.text
        assert "Main menu" in citizen.text  # and the question again
        api.push_location(511, 51.17, 71.43)
        await api.wait_for_sent(511, before + 2)
        assert "location" in citizen.text
        api.push_voice(511, b"OggS" + b"\x00" * 60)
        await api.wait_for_sent(511, before + 3)
        assert "files" in citizen.text
        api.push_raw(
            {
                "message": {
                    "message_id": 99,
                    "date": 1,
                    "chat": {"id": 511, "type": "private"},
                    "from": {"id": 511, "is_bot": False, "first_name": "A"},
                    "sticker": {"file_id": "x", "emoji": "👍"},
                }
            }
        )
        await api.wait_for_sent(511, before + 4)
        assert "Stickers" in citizen.text


async def test_no_log_line_contains_the_token(
    settings: Settings, api: FakeTelegramApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_bot(settings, api, "polling") as app:
        runtime_of(app).outbox.poll_every(0.05)  # retries soon after they are due
        citizen = TgCitizen(api, 512, "kk")
        api.fail_next("sendMessage", status=429, retry_after=1)
        await citizen.start()
        api.fail_next("sendMessage", status=502, retry_after=None)
        await citizen.press("m:help")
        api.fail_next("getFile", status=400, retry_after=None)
        await citizen.photo(photo_with_exif())
        api.block_chat(512)
        api.push_text(512, "мәзір")
        await settle(api)
    assert any("flood control" in r.getMessage() for r in caplog.records)
    assert caplog.records
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN.split(":")[1] not in (record.exc_text or "")
    assert TOKEN.split(":")[1] not in caplog.text
