# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""Files staff send with an answer (issue 16, "Outbound media"): on WhatsApp Twilio fetches
them from a single-use signed `/media/<token>` under PUBLIC_URL; on Telegram they go by the
Bot API. The link serves the right file once, then 404, as it does for an expired or
altered token, and never a tip's file or a citizen's own."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.attachments import kind_for
from bot.campaigns.model import Image
from bot.config import Settings
from bot.crypto import DataCipher, generate_key_setting
from bot.domain import Channel, Media, Reply
from bot.media_links import MediaLinks
from bot.outbound import Outgoing, from_payload, to_payload
from bot.runtime import Runtime
from bot.staff import actions
from bot.staff.accounts import add_account
from bot.storage.records import AttachmentRef, Ticket, TicketDraft
from bot.storage.sql.campaigns import SqlCampaignStore
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.campaign_support import draft
from tests.conftest import Clock
from tests.fakes.telegram_api import FakeTelegramApi, Upload
from tests.staff import console, csrf_of
from tests.telegram_chat import TgCitizen, runtime_of
from tests.telegram_chat import running_bot as telegram_bot
from tests.test_staff_tickets import tiny_png
from tests.whatsapp_chat import PUBLIC
from tests.whatsapp_chat import running_bot as whatsapp_bot

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PHONE = "+77011234567"


async def stored(runtime: Runtime, data: bytes, name: str) -> AttachmentRef:
    """A file as the console's reply form stores it."""
    found = await runtime.attachments.aput(data, declared_type=None, file_name=name)
    kind = kind_for(found.content_type)
    return AttachmentRef(found.blob_id, kind, found.content_type, found.size, name)


async def complaint_of(runtime: Runtime, channel: Channel, chat_key: str) -> Ticket:
    async with runtime.storage.transaction() as tx:
        citizen = await tx.citizens.find(channel, chat_key)
        assert citizen is not None
        draft = TicketDraft("complaint", "ru", citizen.id, channel.value, "healthcare")
        return await tx.tickets.add(draft, reference="AB-7001", now=runtime.dispatcher.clock())


async def answer(runtime: Runtime, ticket: Ticket, text: str, *files: AttachmentRef) -> None:
    """What the console's reply form does, as a reviewer."""
    now = runtime.dispatcher.clock()
    async with runtime.storage.transaction() as tx:
        db = tx.for_staff
        user = await db.staff.by_username("rita")
        if user is None:
            user = await add_account(db, "rita", "reviewer", "pw-" + "x" * 20, locale="en", now=now)
        actor = actions.Actor(user, None, now)
        await actions.reply(db, runtime.catalogs, actor, ticket, text=text, files=files)
    runtime.outbox.wake()


def token_of(url: str) -> str:
    assert url.startswith(PUBLIC + "/media/"), url
    return url.rsplit("/", 1)[1]


async def test_the_media_url_serves_the_right_file_once_then_404(
    settings: Settings, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with whatsapp_bot(settings, clock) as bot:
        chat = bot.chat(PHONE)
        await chat.send("Сәлем")  # the 24-hour window is open
        ticket = await complaint_of(bot.runtime, Channel.WHATSAPP, PHONE)
        pdf = await stored(bot.runtime, PDF, "ответ-ЦОН.pdf")
        before = len(bot.api.sent_to(chat.address))
        await answer(bot.runtime, ticket, "Ответ ведомства во вложении.", pdf)

        media, text = (await bot.api.wait_for_sent(chat.address, before + 2))[before:]
        assert "Ответ ведомства во вложении." in text["Body"] and "AB-7001" in text["Body"]
        assert not media.get("Body") and len(media["MediaUrl"]) == 1
        [url] = media["MediaUrl"]
        [fetched] = await bot.api.wait_for_fetched(media)
        assert (fetched.status, fetched.body) == (200, PDF)
        assert fetched.content_type == "application/pdf"

        gone = await bot.api.fetch(url)  # the same link again
        assert (gone.status, gone.body) == (404, b"")

        token = token_of(url)
        flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
        spare_bits = token[:-1] + ("A" if token[-1] != "A" else "B")  # same bytes in base64?
        for bad in (flipped, spare_bits, token[:-1], token + "A", "x" * len(token), "..%2f"):
            assert (await bot.api.fetch(f"{PUBLIC}/media/{bad}")).status == 404, bad

        later = bot.runtime.media_links.token(pdf.blob_id)
        now = bot.runtime.media_links.token(pdf.blob_id)
        assert (await bot.api.fetch(f"{PUBLIC}/media/{now}")).body == PDF  # fresh: it works
        clock.advance(minutes=10, seconds=1)
        expired = await bot.api.fetch(f"{PUBLIC}/media/{later}")
        assert (expired.status, expired.body, expired.content_type) == (
            gone.status,
            gone.body,
            gone.content_type,
        )  # no oracle: the same answer for used, altered and expired links

    assert token not in caplog.text and "ответ-ЦОН" not in caplog.text


async def test_a_link_fetch_that_fails_fails_the_message_and_nothing_else(
    settings: Settings, clock: Clock
) -> None:
    """Twilio reports a MediaUrl it could not fetch as a failed message (11200)."""
    async with whatsapp_bot(settings, clock) as bot:
        chat = bot.chat(PHONE)
        await chat.send("Сәлем")
        ticket = await complaint_of(bot.runtime, Channel.WHATSAPP, PHONE)
        pdf = await stored(bot.runtime, PDF, "a.pdf")
        await bot.runtime.attachments.adelete(pdf.blob_id)  # the file is gone meanwhile
        before = len(bot.api.sent_to(chat.address))
        await answer(bot.runtime, ticket, "Во вложении.", pdf)
        media, _ = (await bot.api.wait_for_sent(chat.address, before + 2))[before:]
        [fetched] = await bot.api.wait_for_fetched(media)
        assert fetched.status == 404


async def test_a_campaign_image_reaches_a_whatsapp_citizen(
    settings: Settings, clock: Clock
) -> None:
    """The campaign engine sends through the same sender: its image goes by a link too."""
    async with whatsapp_bot(settings, clock) as bot:
        chat = bot.chat(PHONE)
        await chat.send("Сәлем")
        poster = await stored(bot.runtime, tiny_png(), "poster.png")
        image = Image(poster.blob_id, poster.content_type)
        async with bot.runtime.storage.transaction() as tx:
            campaigns = SqlCampaignStore(tx.conn, bot.runtime.cipher)
            await campaigns.create(draft(image=image), next_run_at=clock(), now=clock())
            citizen = await tx.citizens.find(Channel.WHATSAPP, PHONE)
        assert citizen is not None
        before = len(bot.api.sent_to(chat.address))
        reply = Reply("Мобильный приём в Косшы", media=(Media(image.blob_id, image.content_type),))
        await bot.runtime.outbox.senders["whatsapp"].deliver(
            citizen, Outgoing((reply,), "campaign")
        )
        media, text = bot.api.sent_to(chat.address)[before:]
        [fetched] = await bot.api.wait_for_fetched(media)
        assert (fetched.status, fetched.body, fetched.content_type) == (
            200,
            tiny_png(),
            "image/png",
        )
        assert text["Body"] == "Мобильный приём в Косшы"


async def direct(c: Any, runtime: Runtime, blob_id: str) -> httpx.Response:
    token = runtime.media_links.token(blob_id)
    response: httpx.Response = await c.client().get(f"/media/{token}")
    return response


async def test_no_tip_file_and_no_citizen_file_is_ever_served_by_a_link(
    settings: Settings, clock: Clock
) -> None:
    async with console(settings, clock) as c:
        runtime = c.runtime
        complaint = await c.complaint("AB-7002")
        tip = await c.tip(
            "AB-7003", confidential=True, files=(("document", "application/pdf", PDF),)
        )
        theirs = await stored(runtime, PDF, "citizen.pdf")
        ours = await stored(runtime, PDF, "staff.pdf")
        on_tip = await stored(runtime, PDF, "tip.pdf")
        async with runtime.storage.transaction() as tx:
            await tx.tickets.add_attachments(complaint.id, (theirs,))  # the citizen's own
            staff = await tx.tickets.add_message(
                complaint.id, author="staff", body="Ответ", now=clock(), staff_id=None
            )
            await tx.tickets.add_attachments(complaint.id, (ours,), message_id=staff.id)
            # As if a staff file had been put on the tip: the link refuses it all the same.
            await tx.tickets.add_attachments(tip.id, (on_tip,), message_id=staff.id)

        assert (await direct(c, runtime, ours.blob_id)).content == PDF
        photo = await stored(runtime, tiny_png(), "poster.png")
        async with runtime.storage.transaction() as tx:
            campaigns = SqlCampaignStore(tx.conn, runtime.cipher)
            image = Image(photo.blob_id, photo.content_type)
            await campaigns.create(draft(image=image), next_run_at=clock(), now=clock())
        poster = await direct(c, runtime, photo.blob_id)  # a campaign's image goes too
        assert (poster.content, poster.headers["content-type"]) == (tiny_png(), "image/png")
        for blob_id in (theirs.blob_id, on_tip.blob_id):
            response = await direct(c, runtime, blob_id)
            assert (response.status_code, response.content) == (404, b"")
        # A tip's own files are sealed in the database (tip_files): no blob a link could name.
        assert runtime.attachments.blob_ids() == sorted(
            b.blob_id for b in (theirs, ours, on_tip, photo)
        )

        # And staff cannot attach a file to an answer on a tip.
        await c.add_user("ivan", "investigator")
        async with runtime.storage.transaction() as tx:
            db = tx.for_staff
            user = await db.staff.by_username("ivan")
            assert user is not None
            with pytest.raises(actions.ActionError) as refused:
                await actions.reply(
                    db,
                    runtime.catalogs,
                    actions.Actor(user, None, clock()),
                    tip,
                    text="Уточните",
                    files=(ours,),
                )
        assert refused.value.msgid == "staff.ticket.no_files_for_tip"


async def test_a_head_request_does_not_use_the_link_up(settings: Settings, clock: Clock) -> None:
    async with console(settings, clock) as c:
        complaint = await c.complaint("AB-7004")
        ours = await stored(c.runtime, tiny_png(), "photo.png")
        async with c.runtime.storage.transaction() as tx:
            staff = await tx.tickets.add_message(
                complaint.id, author="staff", body="Фото", now=clock(), staff_id=None
            )
            await tx.tickets.add_attachments(complaint.id, (ours,), message_id=staff.id)
        token = c.runtime.media_links.token(ours.blob_id)
        web = c.client()
        head = await web.head(f"/media/{token}")
        assert head.status_code == 200 and head.headers["content-type"] == "image/png"
        got = await web.get(f"/media/{token}")
        assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
        assert (await web.head(f"/media/{token}")).status_code == 404


async def test_the_reply_form_sends_files_with_the_answer(settings: Settings, clock: Clock) -> None:
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        web = await c.login("rita")
        await c.complaint("AB-7005", locale="ru")
        url = "/staff/tickets/AB-7005"
        page = await web.get(url)
        assert 'enctype="multipart/form-data"' in page.text
        assert 'type="file" name="files"' in page.text

        async def post(*files: tuple[str, bytes, str]) -> httpx.Response:
            page = await web.get(url)
            version = re.search(r'name="version" value="(\d+)"', page.text)
            assert version
            form = {"csrf_token": csrf_of(page.text), "version": version.group(1)}
            return await web.post(
                url + "/reply",
                data={**form, "text": "Ответ во вложении"},
                files=[("files", f) for f in files],
            )

        refused = await post(("run.exe", b"MZ\x90\x00\x03\x00\x00\x00" * 8, "application/x-msdos"))
        assert refused.status_code == 400
        assert "cannot be sent" in refused.text
        assert c.runtime.attachments.blob_ids() == [] and c.sender.sent == []

        sent = await post(
            ("ответ.pdf", PDF, "application/pdf"), ("фото.png", tiny_png(), "image/png")
        )
        assert sent.status_code == 303
        for _ in range(300):
            if c.sender.sent:
                break
            await asyncio.sleep(0.01)
        [(_, outgoing)] = c.sender.sent
        [reply] = outgoing.replies
        assert [(m.content_type, m.file_name) for m in reply.media] == [
            ("application/pdf", "ответ.pdf"),
            ("image/png", "фото.png"),
        ]
        assert await c.runtime.attachments.aget(reply.media[0].blob_id) == PDF
        # The console serves it too, its Cyrillic name kept (it was a 500: not Latin-1).
        own = await web.get(f"{url}/files/{reply.media[0].blob_id}")
        assert own.content == PDF
        utf8 = "%D0%BE%D1%82%D0%B2%D0%B5%D1%82.pdf"
        expected = f"attachment; filename=\"_____.pdf\"; filename*=UTF-8''{utf8}"
        assert own.headers["content-disposition"] == expected
        for m in reply.media:  # what a link may serve
            assert (await direct(c, c.runtime, m.blob_id)).status_code == 200

        tip = await c.tip("AB-7006", confidential=True)
        await c.add_user("ivan", "investigator")
        page = await (await c.login("ivan")).get(f"/staff/tickets/{tip.reference}")
        assert page.status_code == 200 and 'name="files"' not in page.text


async def test_staff_files_reach_a_telegram_citizen_as_photo_and_document(
    settings: Settings,
) -> None:
    async with FakeTelegramApi() as api, telegram_bot(settings, api, "polling") as app:
        runtime = runtime_of(app)
        citizen = TgCitizen(api, 7001, "ru")
        await citizen.start()
        ticket = await complaint_of(runtime, Channel.TELEGRAM, "7001")
        png = await stored(runtime, tiny_png(), "схема.png")
        pdf = await stored(runtime, PDF, "ответ.pdf")
        before = len(citizen.messages)
        await answer(runtime, ticket, "Ответ ведомства во вложении.", png, pdf)
        sent = (await api.wait_for_sent(7001, before + 3))[before:]
        [photo] = api.calls_to("sendPhoto")
        [document] = api.calls_to("sendDocument")
        image, doc = uploaded(photo.params, "photo"), uploaded(document.params, "document")
        assert image.content_type == "image/png"
        assert (doc.data, doc.filename) == (PDF, "ответ.pdf")
        assert "Ответ ведомства во вложении." in sent[-1]["text"]  # the text, with its button


def uploaded(params: dict[str, Any], field: str) -> Upload:
    """The file a Bot API call sent as `field` (python-telegram-bot names it attach://…)."""
    found = params[params[field].removeprefix("attach://")]
    assert isinstance(found, Upload)
    return found


def test_the_outbox_keeps_a_replys_files() -> None:
    media = (Media("ab" * 16, "application/pdf", "ответ.pdf"),)
    outgoing = Outgoing((Reply("Ответ", media=media),), "staff.reply", "AB-7001")
    assert from_payload(to_payload(outgoing)) == outgoing
    assert "media" not in to_payload(Outgoing((Reply("Без файлов"),), "staff.reply"))["replies"][0]


def test_a_link_opens_under_a_rotated_key_and_not_under_another() -> None:
    now = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)
    old = generate_key_setting()
    links = MediaLinks(DataCipher.from_setting(old), clock=lambda: now)
    token = links.token("ab" * 16)
    opened = links.open(token)
    assert opened is not None and opened.blob_id == "ab" * 16
    assert opened.expires_at == now + timedelta(minutes=10)
    rotated = "v2:" + generate_key_setting().partition(":")[2] + "," + old
    assert MediaLinks(DataCipher.from_setting(rotated), clock=lambda: now).open(token) == opened
    other = MediaLinks(DataCipher.from_setting(generate_key_setting()), clock=lambda: now)
    assert other.open(token) is None
    assert links.token("ab" * 16) != token  # each link is its own
