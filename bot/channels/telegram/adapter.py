"""The Telegram channel: python-telegram-bot's `Bot` in polling or webhook mode, feeding
every update through `parse_update` to the dispatcher and sending back what it returns.

Updates of one chat run strictly one after another (replies included), chats run
concurrently. A webhook update is parsed first, then written to the inbox table before
the 200 and deleted once handled; rows left by a crash are handled on the next start (the
dispatcher's dedupe makes a repeat harmless). An update that cannot be parsed, or an inbox
row that cannot be read, becomes a dead letter (answered 200, never replayed), so no
single update can fail a request or a start. Only this package imports telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram import Bot
from telegram.error import BadRequest, TelegramError
from telegram.request import BaseRequest

from bot.attachments import kind_for
from bot.config import Settings
from bot.dispatcher import Answer
from bot.domain import Attachment, Channel, Reply
from bot.errors import ConfigError, DeliveryError, UserInputError
from bot.i18n import LANGUAGES, pick_language
from bot.recent import RecentKeys
from bot.replies import SETTLE_BATCH
from bot.runtime import Runtime
from bot.safejson import loads as load_json
from bot.storage import Tx
from bot.tasks import stop_task

from .dead_letters import encoded, set_aside, update_id_of
from .inbound import ALLOWED_UPDATES, FileRef, Incoming, parse_update
from .polling import Poller, Sleep
from .request import AiohttpRequest, install_token_redaction
from .sender import BotApi, TelegramSender

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
OFFICIAL_API_HOST = "api.telegram.org"
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
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.telegram_bot_token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN: required for the Telegram channel")
        if settings.telegram_mode == "webhook":
            if not settings.public_url:
                raise ConfigError("PUBLIC_URL: required when TELEGRAM_MODE=webhook")
            # Telegram delivers webhooks over https only; a self-hosted Bot API server
            # (TELEGRAM_API_URL, started with --local) also accepts http.
            official = urlsplit(settings.telegram_api_url).hostname == OFFICIAL_API_HOST
            if official and not settings.public_url.lower().startswith("https://"):
                raise ConfigError(
                    "PUBLIC_URL: must be an https:// URL when TELEGRAM_MODE=webhook"
                    " (Telegram sends webhooks over https only)"
                )
            if not settings.telegram_webhook_secret:
                raise ConfigError("TELEGRAM_WEBHOOK_SECRET: required when TELEGRAM_MODE=webhook")
        self.settings = settings
        self.token = settings.telegram_bot_token
        self.webhook = settings.telegram_mode == "webhook"
        self._request = request
        self._get_updates_request = get_updates_request
        self._sleep = sleep
        self._monotonic = monotonic
        self._runtime: Runtime | None = None
        self._bot: Bot | None = None
        self._api: BotApi | None = None
        self._sender: TelegramSender | None = None
        self._poller: asyncio.Task[None] | None = None
        self._queues: dict[int, deque[tuple[Incoming, int | None]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._room = asyncio.Event()
        self._recent = RecentKeys(RECENT_UPDATES)
        self._group_notes: dict[int, float] = {}
        self._handled: list[int] = []  # inbox rows to delete in the outbox worker's round
        self._batch_left: dict[int, int] = {}  # a polled batch's row: updates not yet handled

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
        self._sender = TelegramSender(
            self._api, runtime.pacing.telegram, runtime.attachments, on_blocked=self._mark_blocked
        )
        runtime.outbox.add_sender(self._sender)
        runtime.outbox.add_settler(self._settle_inbox)
        await runtime.outbox.catch_up()
        await self._set_commands()
        # Both modes store an update before Telegram may consider it delivered.
        await self._resume_inbox()
        if self.webhook:
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
            poller = Poller(
                self._api,
                self._take_polled,
                wait_for_room=self._wait_for_room,
                sleep=self._sleep,
                monotonic=self._monotonic,
            )
            self._poller = asyncio.create_task(poller.run(), name="telegram-polling")
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

    async def _wait_for_room(self) -> None:
        while self._in_flight >= MAX_IN_FLIGHT:
            self._room.clear()
            await self._room.wait()

    async def _take_polled(self, updates: list[Any]) -> None:
        """A fetched batch is written to the inbox before the poller asks again: the next
        getUpdates offset confirms it to Telegram, and a crash must not lose it. One row
        holds the batch (a JSON list); it goes once all of its updates are handled."""
        taken: list[tuple[Incoming, Any]] = []
        for update in updates:
            incoming = await self._parse(update)
            if incoming is not None and not self._is_repeat(incoming):
                taken.append((incoming, update))
        raw = encoded([update for _, update in taken]) if taken else None
        if raw is None:  # nothing to keep (or, for JSON that parsed, impossible to encode)
            for incoming, _ in taken:
                self._queue(incoming, None)
            return
        runtime = self._require_runtime()
        async with runtime.storage.transaction() as tx:
            inbox_id = await tx.inbox.add(
                Channel.TELEGRAM.value, raw, now=runtime.dispatcher.clock()
            )
        self._queue_batch([incoming for incoming, _ in taken], inbox_id)

    async def _webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        expected = (self.settings.telegram_webhook_secret or "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            log.warning("telegram webhook: missing or wrong secret token")
            return Response(status_code=403)
        body = await request.body()
        try:
            update = load_json(body)
        except ValueError:
            return Response("malformed JSON", status_code=400)
        if not isinstance(update, dict):
            return Response("not a Telegram update", status_code=400)
        # Parsed before it is stored: what cannot be parsed is set aside now, so the inbox
        # only ever holds updates that a restart can replay.
        incoming = await self._parse(update, raw=body)
        if incoming is None or self._is_repeat(incoming):
            return Response(status_code=200)
        runtime = self._require_runtime()
        async with runtime.storage.transaction() as tx:
            inbox_id = await tx.inbox.add(
                Channel.TELEGRAM.value, body, now=runtime.dispatcher.clock()
            )
        self._queue(incoming, inbox_id)
        return Response(status_code=200)

    async def _resume_inbox(self) -> None:
        """Handle what a crash left in the inbox; a row that cannot be read or parsed, for
        whatever reason, moves to the dead letters and start-up goes on."""
        runtime = self._require_runtime()
        async with runtime.storage.read() as tx:
            rows = await tx.inbox.pending(Channel.TELEGRAM.value)
        if rows:
            log.info("telegram: handling %d update(s) left in the inbox", len(rows))
        for row in rows:
            if row.payload is None:
                await set_aside(
                    self._require_runtime(), row.unreadable or "unreadable", inbox_id=row.id
                )
                continue
            try:
                update = load_json(row.payload)
            except Exception as err:  # any row at all: never a failed start
                await set_aside(self._require_runtime(), err, inbox_id=row.id)
                continue
            if isinstance(update, list):  # a polled batch: its updates one by one
                batch = [await self._parse(one) for one in update]
                self._queue_batch(
                    [one for one in batch if one is not None and not self._is_repeat(one)],
                    row.id,
                )
                continue
            incoming = await self._parse(update, inbox_id=row.id)
            if incoming is None:
                continue
            if self._is_repeat(incoming):
                await self._forget_inbox(row.id)
            else:
                self._queue(incoming, row.id)

    async def _parse(
        self, update: object, *, raw: bytes | None = None, inbox_id: int | None = None
    ) -> Incoming | None:
        """The update parsed, or None: a kind we do not handle (its inbox row is deleted),
        or one we cannot read, set aside as a dead letter. The one place where whatever
        the parser raises is caught: a new way to trip it needs no new except clause."""
        known = update_id_of(update)
        try:
            incoming = parse_update(update)
        except Exception as err:
            if raw is None and inbox_id is None:
                raw = encoded(update)
            await set_aside(
                self._require_runtime(), err, raw=raw, inbox_id=inbox_id, update_id=known
            )
            return None
        if incoming is None:
            kind = _kind(update) if isinstance(update, dict) else "empty"
            log.info("telegram: ignored update %s (%s)", known, kind)
            if inbox_id is not None:
                await self._forget_inbox(inbox_id)
        return incoming

    def _is_repeat(self, incoming: Incoming) -> bool:
        """An update id taken moments ago (Telegram repeats a webhook it thinks failed)."""
        return incoming.update_id in self._recent

    def _queue_batch(self, batch: list[Incoming], inbox_id: int) -> None:
        """Queue updates that share one inbox row; the row goes after the last of them."""
        if not batch:
            self._handled.append(inbox_id)
            return
        self._batch_left[inbox_id] = len(batch)
        for incoming in batch:
            self._queue(incoming, inbox_id)

    def _queue(self, incoming: Incoming, inbox_id: int | None) -> None:
        """Queue an update behind earlier ones of its chat."""
        if incoming.update_id is not None:
            self._recent.add(incoming.update_id)
        self._in_flight += 1
        queue = self._queues.get(incoming.chat_id)
        if queue is None:
            queue = self._queues[incoming.chat_id] = deque()
            self._spawn(self._drain(incoming.chat_id, queue))
        queue.append((incoming, inbox_id))

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
        """A handled update's inbox row goes in the outbox worker's next round, with
        others (a crash before then replays it, and dedupe makes that a no-op); a polled
        batch's row once every update in it was handled."""
        left = self._batch_left.pop(inbox_id, 1) - 1
        if left > 0:
            self._batch_left[inbox_id] = left
            return
        self._handled.append(inbox_id)
        if len(self._handled) >= SETTLE_BATCH:
            self._require_runtime().outbox.wake()

    async def _settle_inbox(self, tx: Tx) -> int:
        handled, self._handled = self._handled, []
        try:
            await tx.inbox.delete_many(handled)
        except BaseException:
            self._handled[:0] = handled
            raise
        return len(handled)

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
            await runtime.replies.deliver(
                answer.reply_seq,
                answer.replies,
                functools.partial(sender.send_replies, chat_id, urgent=True),
            )
        except DeliveryError as err:
            if not err.blocked:
                log.warning("telegram: reply to update %s not sent: %s", incoming.update_id, err)

    async def _answer(self, incoming: Incoming) -> Answer:
        dispatcher = self._require_runtime().dispatcher
        if not incoming.files:
            return await dispatcher.answer(incoming.inbound)
        # Only a message the dispatcher will take costs a download: a flood of files is
        # dropped before any of them is fetched or stored.
        early = await dispatcher.screen(incoming.inbound)
        if early is not None:
            return early
        return await dispatcher.answer(await self._with_files(incoming), screened=True)

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
    return ",".join(str(k) for k in update if k != "update_id") or "empty"
