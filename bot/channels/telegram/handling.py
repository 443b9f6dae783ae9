"""Handling one Telegram update: through the dispatcher, and its replies sent back.

A button press is also answered (Telegram shows a spinner until then) and its keyboard
taken off; files are fetched only once the dispatcher has screened the message, so a
flood of files is dropped before any is downloaded. Group chats get a note, at most once
every `GROUP_NOTE_EVERY` seconds, that the bot talks in private chats only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import replace
from typing import Any

from bot.attachments import AttachmentStore, kind_for
from bot.dispatcher import Answer, Dispatcher
from bot.domain import Attachment, Inbound, Reply
from bot.errors import DeliveryError, UserInputError
from bot.i18n import Catalogs, pick_language
from bot.replies import ReplyQueue

from .inbound import FileRef, Incoming
from .sender import TelegramSender

log = logging.getLogger(__name__)

GROUP_NOTE_EVERY = 600.0  # seconds between "private chats only" notes in one group
DOWNLOAD_TIMEOUT = 60.0


class UpdateHandler:
    def __init__(
        self,
        dispatcher: Dispatcher,
        replies: ReplyQueue,
        attachments: AttachmentStore,
        catalogs: Catalogs,
        sender: TelegramSender,
        *,
        default_language: str,
    ) -> None:
        self.dispatcher = dispatcher
        self.replies = replies
        self.attachments = attachments
        self.catalogs = catalogs
        self.sender = sender
        self.default_language = default_language
        self._group_notes: dict[int, float] = {}

    async def __call__(self, incoming: Incoming) -> None:
        side: list[Any] = []
        if incoming.callback_id is not None:
            side.append(self._settle_callback(incoming))
        if not incoming.private:
            await asyncio.gather(*side, self._private_only(incoming))
            return
        if side:
            # The press's housekeeping must not keep an answer already written from being
            # sent (nor from being counted: it would hold the reply watermark back).
            answer, *chores = await asyncio.gather(
                self._answer(incoming), *side, return_exceptions=True
            )
            if isinstance(answer, BaseException):
                raise answer
            for failed in chores:
                if isinstance(failed, BaseException):
                    log.warning("telegram: callback housekeeping failed: %r", failed)
        else:
            answer = await self._answer(incoming)
        if not answer.replies:
            return
        try:
            await self.replies.deliver(
                answer.reply_seq,
                answer.replies,
                functools.partial(self.sender.send_replies, incoming.chat_id, urgent=True),
            )
        except DeliveryError as err:
            if not err.blocked:
                log.warning("telegram: reply to update %s not sent: %s", incoming.update_id, err)

    async def _answer(self, incoming: Incoming) -> Answer:
        if not incoming.files:
            return await self.dispatcher.answer(incoming.inbound)
        # Only a message the dispatcher will take costs a download: a flood of files is
        # dropped before any of them is fetched or stored.
        early = await self.dispatcher.screen(incoming.inbound)
        if early is not None:
            return early
        return await self.dispatcher.answer(await self._with_files(incoming), screened=True)

    async def _settle_callback(self, incoming: Incoming) -> None:
        """Answer the press and take the keyboard off the pressed message, so the same
        buttons cannot be pressed again."""
        calls = [
            self.sender.call(
                "answerCallbackQuery", {"callback_query_id": incoming.callback_id}, paced=False
            )
        ]
        if incoming.pressed_message_id is not None:
            params = {"chat_id": incoming.chat_id, "message_id": incoming.pressed_message_id}
            calls.append(self.sender.call("editMessageReplyMarkup", params, paced=False))
        for result in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(result, DeliveryError):
                log.debug("telegram: callback housekeeping failed: %s", result)
            elif isinstance(result, BaseException):
                raise result

    async def _private_only(self, incoming: Incoming) -> None:
        now = time.monotonic()
        last = self._group_notes.get(incoming.chat_id)
        if last is not None and now - last < GROUP_NOTE_EVERY:
            return
        self._group_notes[incoming.chat_id] = now
        lang = pick_language(incoming.inbound.locale_hint, self.default_language)
        note = Reply(self.catalogs[lang]("input.private_only"))
        with contextlib.suppress(DeliveryError):
            await self.sender.send_replies(incoming.chat_id, [note])

    async def _with_files(self, incoming: Incoming) -> Inbound:
        attachments = []
        try:
            for ref in incoming.files:
                attachments.append(await self._fetch(ref))
        except UserInputError as err:
            for stored in attachments:
                await self.attachments.adelete(stored.blob_id)
            return replace(incoming.inbound, unsupported=err.msgid)
        return replace(incoming.inbound, attachments=tuple(attachments))

    async def _fetch(self, ref: FileRef) -> Attachment:
        """getFile and download, then the attachment store's checks; UserInputError if not."""
        limit = self.attachments.max_bytes
        if ref.size is not None and ref.size > limit:
            raise UserInputError("attachment.too_large")
        try:
            file = await self.sender.call("getFile", {"file_id": ref.file_id}, paced=False)
            if not isinstance(file, dict):
                raise UserInputError("attachment.download_failed")
            size, path = file.get("file_size"), file.get("file_path")
            if isinstance(size, int) and size > limit:
                raise UserInputError("attachment.too_large")
            if not isinstance(path, str) or not path:
                raise UserInputError("attachment.download_failed")
            data = await self.sender.download(path, read_timeout=DOWNLOAD_TIMEOUT)
        except DeliveryError as err:
            too_big = err.code == "400" and "too big" in str(err).lower()
            if not too_big:
                log.warning("telegram: file download failed: %s", err)
            raise UserInputError(
                "attachment.too_large" if too_big else "attachment.download_failed"
            ) from None
        stored = await self.attachments.aput(
            data, declared_type=ref.mime_type, file_name=ref.file_name
        )
        return Attachment(
            kind=kind_for(stored.content_type),
            content_type=stored.content_type,
            size=stored.size,
            blob_id=stored.blob_id,
            file_name=ref.file_name,
        )
