"""The Telegram channel: python-telegram-bot's `Bot` in polling or webhook mode, feeding
every update through `parse_update` to the dispatcher and sending back what it returns.

Updates of one chat run strictly one after another (replies included), chats run
concurrently. A webhook update is written to the inbox table before the 200 and deleted
once handled; rows left by a crash are handled on the next start (the dispatcher's dedupe
makes a repeat harmless). Only this package imports telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import time
from collections import deque
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram import Bot
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.request import BaseRequest

from bot.attachments import kind_for
from bot.config import Settings
from bot.domain import Attachment, Channel, Reply
from bot.errors import ConfigError, DeliveryError, UserInputError
from bot.i18n import LANGUAGES, pick_language
from bot.outbound import hand_over
from bot.runtime import Runtime
from bot.tasks import stop_task

from .inbound import ALLOWED_UPDATES, FileRef, Incoming, parse_update
from .request import AiohttpRequest, install_token_redaction
from .sender import BotApi, Pacer, TelegramSender, seconds

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
POLL_TIMEOUT = 25
MAX_IN_FLIGHT = 2000  # updates taken but not yet handled, before polling pauses
RECENT_UPDATES = 10_000  # update ids remembered to skip a repeat before any work
GROUP_NOTE_EVERY = 600.0  # seconds between "private chats only" notes in one group
COMMANDS = ("start", "menu", "back", "cancel", "language", "help")


class TelegramChannel:
    name = "telegram"

    def __init__(
        self,
        settings: Settings,
        *,
        request: BaseRequest | None = None,
        get_updates_request: BaseRequest | None = None,
    ) -> None:
        if settings.telegram_bot_token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN: required for the Telegram channel")
        if settings.telegram_mode == "webhook":
            if not settings.public_url:
                raise ConfigError("PUBLIC_URL: required when TELEGRAM_MODE=webhook")
            if not settings.telegram_webhook_secret:
                raise ConfigError("TELEGRAM_WEBHOOK_SECRET: required when TELEGRAM_MODE=webhook")
        self.settings = settings
        self.token = settings.telegram_bot_token
        self.webhook = settings.telegram_mode == "webhook"
        self._request = request
        self._get_updates_request = get_updates_request
        self._runtime: Runtime | None = None
        self._bot: Bot | None = None
        self._api: BotApi | None = None
        self._sender: TelegramSender | None = None
        self._poller: asyncio.Task[None] | None = None
        self._queues: dict[int, deque[tuple[Incoming, int | None]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._room = asyncio.Event()
        self._recent: set[int] = set()
        self._recent_order: deque[int] = deque()
        self._group_notes: dict[int, float] = {}

    # ---- ChannelService ------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        if not self.webhook:
            return []
        return [Route(WEBHOOK_PATH, self._webhook, methods=["POST"])]

    async def start(self, runtime: Runtime) -> None:
        install_token_redaction(self.token)
        # Opt in to PTB's timedelta durations now (RetryAfter.retry_after warns otherwise).
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self._runtime = runtime
        url = self.settings.telegram_api_url
        request = self._request or AiohttpRequest()
        polling = self._get_updates_request or AiohttpRequest(connection_pool_size=1)
        self._bot = Bot(
            self.token,
            base_url=f"{url}/bot",
            base_file_url=f"{url}/file/bot",
            request=request,
            get_updates_request=polling,
        )
        await self._bot.initialize()
        self._api = BotApi(url, self.token, request, polling)
        pacer = Pacer(self.settings.telegram_rate_global, self.settings.telegram_rate_per_chat)
        self._sender = TelegramSender(
            self._api, pacer, runtime.attachments, on_blocked=self._mark_blocked
        )
        runtime.outbox.add_sender(self._sender)
        await self._set_commands()
        if self.webhook:
            await self._resume_inbox()
            await self._sender.setup(
                "setWebhook",
                {
                    "url": f"{self.settings.public_url}{WEBHOOK_PATH}",
                    "secret_token": self.settings.telegram_webhook_secret,
                    "allowed_updates": list(ALLOWED_UPDATES),
                    "max_connections": 40,
                },
            )
            log.info("telegram: webhook registered at %s%s", self.settings.public_url, WEBHOOK_PATH)
        else:
            await self._sender.setup("deleteWebhook", {})
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
            log.info("telegram: polling")

    async def stop(self) -> None:
        await stop_task(self._poller)
        self._poller = None
        if self._workers:
            # Let the chats in progress finish; webhook leftovers stay in the inbox.
            _, late = await asyncio.wait(set(self._workers), timeout=5)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._bot is not None:
            await self._bot.shutdown()
            self._bot = None

    # ---- receiving -----------------------------------------------------------------------

    async def _poll(self) -> None:
        api = self._api
        assert api is not None
        offset = 0
        failures = 0
        params: dict[str, Any] = {"timeout": POLL_TIMEOUT, "allowed_updates": list(ALLOWED_UPDATES)}
        while True:
            while self._in_flight >= MAX_IN_FLIGHT:
                self._room.clear()
                await self._room.wait()
            try:
                updates = await api(
                    "getUpdates", {**params, "offset": offset}, read_timeout=POLL_TIMEOUT + 10
                )
            except RetryAfter as err:
                await asyncio.sleep(seconds(err.retry_after))
                continue
            except TelegramError as err:
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("telegram getUpdates failed (%s); retrying in %.1f s", err, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            for update in updates:
                update_id = update.get("update_id")
                if isinstance(update_id, int):
                    offset = max(offset, update_id + 1)
                self._accept(update, None)

    async def _webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        expected = (self.settings.telegram_webhook_secret or "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            log.warning("telegram webhook: missing or wrong secret token")
            return Response(status_code=403)
        body = await request.body()
        try:
            update = json.loads(body)
        except ValueError:
            return Response("malformed JSON", status_code=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return Response("not a Telegram update", status_code=400)
        runtime = self._require_runtime()
        async with runtime.storage.transaction() as tx:
            inbox_id = await tx.inbox.add(
                Channel.TELEGRAM.value, body, now=runtime.dispatcher.clock()
            )
        self._accept(update, inbox_id)
        return Response(status_code=200)

    async def _resume_inbox(self) -> None:
        runtime = self._require_runtime()
        async with runtime.storage.read() as tx:
            rows = await tx.inbox.pending(Channel.TELEGRAM.value)
        if rows:
            log.info("telegram: handling %d update(s) left in the inbox", len(rows))
        for row in rows:
            try:
                update = json.loads(row.payload)
            except ValueError:
                update = None
            self._accept(update if isinstance(update, dict) else {}, row.id)

    def _accept(self, update: dict[str, Any], inbox_id: int | None) -> None:
        """Queue an update behind earlier ones of its chat; unknown kinds are ignored."""
        try:
            incoming = parse_update(update)
        except (KeyError, TypeError, ValueError, AttributeError):
            incoming = None
            log.warning("telegram: ignored a malformed update %s", update.get("update_id"))
        else:
            if incoming is None:
                log.info("telegram: ignored update %s (%s)", update.get("update_id"), _kind(update))
        update_id = incoming.update_id if incoming is not None else None
        if update_id is not None:
            if update_id in self._recent:
                incoming = None  # a repeat we have already taken
            else:
                self._remember(update_id)
        if incoming is None:
            if inbox_id is not None:
                self._spawn(self._forget_inbox(inbox_id))
            return
        self._in_flight += 1
        queue = self._queues.get(incoming.chat_id)
        if queue is None:
            queue = self._queues[incoming.chat_id] = deque()
            self._spawn(self._drain(incoming.chat_id, queue))
        queue.append((incoming, inbox_id))

    def _remember(self, update_id: int) -> None:
        self._recent.add(update_id)
        self._recent_order.append(update_id)
        if len(self._recent_order) > RECENT_UPDATES:
            self._recent.discard(self._recent_order.popleft())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _drain(self, chat_id: int, queue: deque[tuple[Incoming, int | None]]) -> None:
        try:
            while queue:
                incoming, inbox_id = queue[0]
                try:
                    await self._handle(incoming)
                except Exception:
                    log.exception("telegram: update %s failed", incoming.update_id)
                if inbox_id is not None:
                    await self._forget_inbox(inbox_id)
                queue.popleft()
                self._in_flight -= 1
                if self._in_flight < MAX_IN_FLIGHT // 2:
                    self._room.set()
        finally:
            del self._queues[chat_id]
            self._in_flight -= len(queue)

    async def _forget_inbox(self, inbox_id: int) -> None:
        runtime = self._require_runtime()
        async with runtime.storage.transaction() as tx:
            await tx.inbox.delete(inbox_id)

    # ---- one update ----------------------------------------------------------------------

    async def _handle(self, incoming: Incoming) -> None:
        runtime = self._require_runtime()
        sender = self._require_sender()
        chat_id = incoming.chat_id
        side: list[Any] = []
        if incoming.callback_id is not None:
            side.append(self._settle_callback(incoming))
        if not incoming.private:
            await asyncio.gather(*side, self._private_only(incoming))
            return
        inbound = incoming.inbound
        if incoming.files:
            inbound = await self._with_files(incoming)
        if side:
            replies, *_ = await asyncio.gather(runtime.dispatcher.handle(inbound), *side)
        else:
            replies = await runtime.dispatcher.handle(inbound)
        if not replies:
            return
        try:
            await sender.send_replies(chat_id, replies, urgent=True)
        except DeliveryError as err:
            if not err.blocked:
                log.warning("telegram: reply to update %s not sent: %s", incoming.update_id, err)
            if err.retryable or err.unknown:  # the sender tried once; the outbox owns retries
                rest, now = replies[err.delivered :], runtime.dispatcher.clock()
                await hand_over(
                    runtime.storage, runtime.outbox, "telegram", str(chat_id), rest, now=now
                )

    async def _settle_callback(self, incoming: Incoming) -> None:
        """Answer the press (Telegram shows a spinner until then) and take the keyboard
        off the pressed message, so the same buttons cannot be pressed again."""
        sender = self._require_sender()
        calls = [
            sender.call(
                "answerCallbackQuery", {"callback_query_id": incoming.callback_id}, paced=False
            )
        ]
        if incoming.pressed_message_id is not None:
            params = {"chat_id": incoming.chat_id, "message_id": incoming.pressed_message_id}
            calls.append(sender.call("editMessageReplyMarkup", params, paced=False))
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
        runtime = self._require_runtime()
        lang = pick_language(incoming.inbound.locale_hint, self.settings.default_language)
        note = Reply(runtime.catalogs[lang]("input.private_only"))
        with contextlib.suppress(DeliveryError):
            await self._require_sender().send_replies(incoming.chat_id, [note])

    async def _with_files(self, incoming: Incoming) -> Any:
        attachments = []
        try:
            for ref in incoming.files:
                attachments.append(await self._fetch(ref))
        except UserInputError as err:
            for stored in attachments:
                await self._require_runtime().attachments.adelete(stored.blob_id)
            return replace(incoming.inbound, unsupported=err.msgid)
        return replace(incoming.inbound, attachments=tuple(attachments))

    async def _fetch(self, ref: FileRef) -> Attachment:
        """getFile and download, then the attachment store's checks; UserInputError if not."""
        runtime = self._require_runtime()
        limit = runtime.attachments.max_bytes
        if ref.size is not None and ref.size > limit:
            raise UserInputError("attachment.too_large")
        bot = self._require_bot()
        try:
            file = await bot.get_file(ref.file_id)
            if file.file_size is not None and file.file_size > limit:
                raise UserInputError("attachment.too_large")
            data = bytes(await file.download_as_bytearray(read_timeout=60))
        except BadRequest as err:
            too_big = "too big" in err.message.lower()
            raise UserInputError(
                "attachment.too_large" if too_big else "attachment.download_failed"
            ) from None
        except TelegramError as err:
            log.warning("telegram: file download failed: %s", err)
            raise UserInputError("attachment.download_failed") from None
        stored = await runtime.attachments.aput(
            data, declared_type=ref.mime_type, file_name=ref.file_name
        )
        return Attachment(
            kind=kind_for(stored.content_type),
            content_type=stored.content_type,
            size=stored.size,
            blob_id=stored.blob_id,
            file_name=ref.file_name,
        )

    async def _mark_blocked(self, chat_key: str) -> None:
        runtime = self._require_runtime()
        async with runtime.storage.transaction() as tx:
            citizen = await tx.citizens.find(Channel.TELEGRAM, chat_key)
            if citizen is not None and not citizen.unreachable:
                citizen.unreachable = True
                citizen.subscribed = False
                await tx.citizens.save(citizen)
                log.info("telegram: citizen %d blocked the bot; marked unreachable", citizen.id)

    async def _set_commands(self) -> None:
        """The command menu in kk, ru and en, and the default language for everyone else."""
        runtime = self._require_runtime()
        sender = self._require_sender()
        for code in ("", *LANGUAGES):
            t = runtime.catalogs[code or self.settings.default_language]
            commands = [{"command": c, "description": t(f"telegram.command.{c}")} for c in COMMANDS]
            params: dict[str, Any] = {"commands": commands}
            if code:
                params["language_code"] = code
            try:
                await sender.call("setMyCommands", params, paced=False)
            except DeliveryError as err:
                log.warning("telegram: setMyCommands(%s) failed: %s", code or "default", err)

    # ---- plumbing ------------------------------------------------------------------------

    def _require_runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the Telegram channel is not started")
        return self._runtime

    def _require_bot(self) -> Bot:
        if self._bot is None:
            raise RuntimeError("the Telegram channel is not started")
        return self._bot

    def _require_sender(self) -> TelegramSender:
        if self._sender is None:
            raise RuntimeError("the Telegram channel is not started")
        return self._sender


def _kind(update: dict[str, Any]) -> str:
    return ",".join(k for k in update if k != "update_id") or "empty"
