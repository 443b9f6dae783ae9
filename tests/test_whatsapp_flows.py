"""Whole conversations on WhatsApp through the webhook: a complaint answered by numbers with
a photo fetched from Twilio with Basic auth, and an anonymous tip that keeps no number."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain import Channel
from tests.conftest import Clock
from tests.test_exif import tiny_jpeg
from tests.whatsapp_chat import Bot, running_bot

NUMBER = "+77015550123"
PROFILE = "Айгерим Нурлановна"
REFERENCE = re.compile(r"Номер: (\S+)")
RECEIPT = re.compile(r"\b\d{4} \d{4} \d{4} \d{4}\b")


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[Bot]:
    async with running_bot(settings, clock) as running:
        yield running


async def test_a_complaint_filed_by_numbers_in_russian_with_a_photo(bot: Bot) -> None:
    chat = bot.chat(NUMBER)
    photo = bot.api.host_media(tiny_jpeg(), "image/jpeg")
    await chat.send("Здравствуйте")
    await chat.send("2")  # Русский
    assert "1. 📝 Подать жалобу" in chat.text
    await chat.send("1")
    await chat.send("1")  # category
    await chat.send("1")  # body: ЦОН
    await chat.send("1")  # region: Астана
    assert "Опишите, что произошло" in chat.text
    await chat.send("Очень долгая очередь в ЦОНе, ждала три часа и не приняли документы")
    await chat.send("1")  # Продолжить
    await chat.send(media=[(photo, "image/jpeg")])
    assert "Приложено файлов: 1" in chat.text
    await chat.send("1")  # Готово
    await chat.send("Сапарова Айгерим Нурлановна")
    await chat.send("1")  # ИИН: Пропустить
    assert "Доказательства: 1 файл" in chat.text
    await chat.send("1")  # Подтвердить
    found = REFERENCE.search(chat.text)
    assert found, chat.text
    assert bot.api.unauthorized == 0  # the photo was fetched with the account's credentials

    async with bot.runtime.storage.read() as tx:
        ticket = await tx.tickets.by_reference(found.group(1))
        assert ticket is not None
        [attachment] = await tx.tickets.attachments(ticket.id)
    assert (ticket.kind, ticket.channel, ticket.locale) == ("complaint", "whatsapp", "ru")
    assert attachment.content_type == "image/jpeg"
    stored = await bot.runtime.attachments.aget(attachment.blob_id)
    assert stored.startswith(b"\xff\xd8") and b"Exif" not in stored


async def test_refused_media_is_explained_and_nothing_is_kept(bot: Bot) -> None:
    chat = bot.chat(NUMBER)
    await chat.send("hi")
    await chat.send("3")  # English
    for step in ("1", "1", "1", "1", "A very long queue at the service centre, three hours", "1"):
        await chat.send(step)
    assert "evidence" in chat.text.lower()
    unknown = bot.api.host_media(b"\x00\x01binary", "application/octet-stream")
    await chat.send(media=[(unknown, "application/octet-stream")])
    assert "file type" in chat.text.lower() or "cannot" in chat.text.lower(), chat.text
    missing = bot.api.url + "/2010-04-01/Accounts/ACnope/Messages/MM1/Media/ME1"
    await chat.send(media=[(missing, "image/jpeg")])
    assert "could not receive this file" in chat.text
    blobs = [p for p in Path(bot.settings.attachments_dir).rglob("*") if p.is_file()]
    assert blobs == []


async def test_an_anonymous_tip_leaves_no_phone_number_in_any_table(bot: Bot) -> None:
    chat = bot.chat(NUMBER)
    await chat.send("hi", profile_name=PROFILE)
    await chat.send("3", profile_name=PROFILE)  # English
    await chat.send("3", profile_name=PROFILE)  # Report corruption
    await chat.send("1", profile_name=PROFILE)  # Anonymous
    await chat.send(
        "An official at the land office demanded 200000 tenge to speed up my plot registration",
        profile_name=PROFILE,
    )
    # continue, body, region, skip when, skip amount, no files
    for step in ("1", "6", "2", "1", "1", "1"):
        await chat.send(step, profile_name=PROFILE)
    assert "Send the report?" in chat.text
    await chat.send("1", profile_name=PROFILE)
    assert RECEIPT.search(chat.text), chat.text

    dump = bot.database_text()
    raw = b"".join(
        p.read_bytes() for p in bot.settings.database_path.parent.glob("govbot.sqlite3*")
    )
    for needle in (NUMBER, NUMBER.lstrip("+"), "whatsapp:" + NUMBER, PROFILE):
        assert needle not in dump
        assert needle.encode() not in raw
    [tip] = bot.rows(
        "SELECT citizen_id, channel, identity, owner_hash FROM tickets WHERE kind = 'tip'"
    )
    assert tip == (None, None, None, None)
    async with bot.runtime.storage.read() as tx:
        citizen = await tx.citizens.find(Channel.WHATSAPP, NUMBER)
        assert citizen is not None
        assert await tx.sessions.load(citizen.id) is None


async def test_a_location_reaches_the_flow(bot: Bot) -> None:
    chat = bot.chat(NUMBER)
    await chat.send("hi")
    await chat.send("3")
    for step in ("1", "1", "1", "1", "A very long queue at the service centre, three hours", "1"):
        await chat.send(step)
    await chat.send(location=(51.128, 71.430, "Astana, Mangilik El 55"))
    assert "location" in chat.text.lower(), chat.text
