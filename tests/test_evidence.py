"""The evidence step shared by complaints and tips (handlers/evidence.py): one shape for the
draft's files, the same checks in both flows, each in the flow's own words."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain import Attachment, AttachmentKind
from bot.runtime import Runtime
from bot.storage.records import AttachmentRef
from handlers import evidence
from tests.chat import Chat
from tests.conftest import start_in
from tests.test_complaint import PDF, reach

NAMED = "Ivanov_passport.pdf"


async def to_tip_evidence(chat: Chat) -> None:
    await start_in(chat, "en")
    await chat.press_payload("flow:tip")
    await chat.press_payload("tip:anon")
    await chat.send("A clerk at the licensing office asked for cash to sign the permit.")
    await chat.press_payload("more:next")
    await chat.send("Licensing office")
    await chat.press_payload("reg:pavlodar")
    await chat.press_payload("tip:skip")
    await chat.press_payload("tip:skip")
    assert "Do you have evidence?" in chat.text


async def draft(runtime: Runtime, chat: Chat) -> dict[str, Any]:
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(chat.channel, chat.chat_key)
        assert citizen is not None
        record = await tx.sessions.load(citizen.id)
    assert record is not None
    return dict(record.data["d"])


def pdf(runtime: Runtime) -> Attachment:
    stored = runtime.attachments.put(PDF, declared_type="application/pdf", file_name=NAMED)
    return Attachment(
        AttachmentKind.DOCUMENT, stored.content_type, stored.size, stored.blob_id, NAMED
    )


@pytest.mark.parametrize(("flow", "kept_name"), [("complaint", NAMED), ("tip", None)])
async def test_both_flows_keep_files_in_one_shape(
    new_chat, runtime: Runtime, flow: str, kept_name: str | None
) -> None:
    chat: Chat = new_chat(lang="ru" if flow == "complaint" else "en")
    if flow == "complaint":
        await reach(chat, "evidence")
    else:
        await to_tip_evidence(chat)
    sent = pdf(runtime)
    await chat.send(attachments=[sent])
    # A tip drops the file's name: it often names a person, a place or a phone.
    expected = AttachmentRef(sent.blob_id, "document", "application/pdf", sent.size, kept_name)
    assert evidence.files(await draft(runtime, chat)) == [expected]
    assert (await draft(runtime, chat))["files"] == [
        {
            "blob_id": sent.blob_id,
            "kind": "document",
            "content_type": "application/pdf",
            "size": sent.size,
            "file_name": kept_name,
        }
    ]


async def test_a_tip_refuses_a_file_it_cannot_take_and_says_why(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await to_tip_evidence(chat)
    sticker = Attachment(AttachmentKind.STICKER, "image/webp", 900, "b" * 32, "me.webp")
    await chat.send(attachments=[sticker, pdf(runtime)])
    assert "Not added (this file)" in chat.text  # the name is not repeated back
    assert "me.webp" not in chat.text
    assert "Received 1 file" in chat.text
    assert [f["kind"] for f in (await draft(runtime, chat))["files"]] == ["document"]


def test_a_tip_draft_saved_before_the_step_was_shared_still_reads() -> None:
    old = {"files": [["blob1", "photo", "image/jpeg", 1234]]}
    assert evidence.files(old) == [AttachmentRef("blob1", "photo", "image/jpeg", 1234)]
