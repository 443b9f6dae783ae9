"""Sending to Telegram, paced to its limits, with its errors translated once into ours.

`Pacer` keeps to about 30 messages a second overall and about 1 a second per chat (both
configurable, 0 = unlimited); a conversation reply always goes before queued out-of-turn
traffic (staff answers, campaigns), so citizens never wait behind a broadcast. A 429 holds
all sending for the retry_after it names and the same call is then made again, so nothing
is dropped; a 403 means the citizen blocked the bot; network errors are retried with
backoff. `TelegramSender` is also the outbox's `Sender` for the Telegram channel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from telegram import InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import BaseRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.attachments import AttachmentStore
from bot.domain import Channel, Reply
from bot.errors import DeliveryError
from bot.outbound import Delivery, Outgoing
from bot.storage.records import Citizen

from .render import OutMessage, merge, render

log = logging.getLogger(__name__)

NETWORK_ATTEMPTS = 4
MAX_FLOOD_WAITS = 20
CHAT_BURST = 3  # a step's answer (a note, then the next question) goes out at once


class Pacer:
    """Token buckets: one for the bot, one per chat. Urgent callers go first."""

    def __init__(
        self,
        per_second: float,
        per_chat: float,
        *,
        chat_burst: int = CHAT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.per_chat = per_chat
        self.burst = max(1.0, per_second)
        self.chat_burst = float(chat_burst)
        self.clock = clock
        self._tokens = self.burst
        self._stamp = clock()
        self._chats: dict[int, tuple[float, float]] = {}  # chat -> (tokens, stamp)
        self._held_until = 0.0
        self._urgent_waiting = 0

    def hold(self, seconds: float) -> None:
        """Nobody sends for `seconds` (Telegram answered 429)."""
        self._held_until = max(self._held_until, self.clock() + seconds)

    async def wait(self, chat_id: int, *, urgent: bool) -> None:
        if self._held_until:
            delay = self._held_until - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
        if self.per_chat > 0:
            await self._chat_slot(chat_id)
        if self.per_second > 0:
            await self._global_slot(urgent)

    async def _chat_slot(self, chat_id: int) -> None:
        while True:
            now = self.clock()
            tokens, stamp = self._chats.get(chat_id, (self.chat_burst, now))
            tokens = min(self.chat_burst, tokens + (now - stamp) * self.per_chat)
            if tokens >= 1:
                self._chats[chat_id] = (tokens - 1, now)
                if len(self._chats) > 10_000:
                    self._forget_idle(now)
                return
            self._chats[chat_id] = (tokens, now)
            await asyncio.sleep((1 - tokens) / self.per_chat)

    def _forget_idle(self, now: float) -> None:
        full = self.chat_burst / self.per_chat
        self._chats = {c: v for c, v in self._chats.items() if now - v[1] < full}

    async def _global_slot(self, urgent: bool) -> None:
        if urgent:
            self._urgent_waiting += 1
        try:
            while True:
                now = self.clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.per_second)
                self._stamp = now
                if self._tokens >= 1 and (urgent or not self._urgent_waiting):
                    self._tokens -= 1
                    return
                wait = max((1 - self._tokens) / self.per_second, 0.001)
                await asyncio.sleep(wait if urgent else wait * 2)
        finally:
            if urgent:
                self._urgent_waiting -= 1


def seconds(value: int | float | timedelta) -> float:
    """RetryAfter.retry_after is an int today and a timedelta with PTB_TIMEDELTA set."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class BotApi:
    """Bot API calls through python-telegram-bot's transport and error mapping, with the
    raw JSON result: no Message objects are built for answers nobody reads. (`Bot`'s own
    `do_api_request` warns for methods it wraps, and the typed methods parse every result.)
    """

    def __init__(self, api_url: str, token: str, request: BaseRequest, polling: BaseRequest):
        self._base = f"{api_url}/bot{token}/"
        self._request = request
        self._polling = polling

    async def __call__(
        self, method: str, params: dict[str, Any], *, read_timeout: float | None = None
    ) -> Any:
        data = RequestData(
            [RequestParameter.from_input(k, v) for k, v in params.items() if v is not None]
        )
        request = self._polling if method == "getUpdates" else self._request
        if read_timeout is None:
            return await request.post(self._base + method, request_data=data)
        return await request.post(self._base + method, request_data=data, read_timeout=read_timeout)


class TelegramSender:
    """Calls the Bot API with pacing, waits and retries; Telegram's errors become ours."""

    channel = Channel.TELEGRAM

    def __init__(
        self,
        api: BotApi,
        pacer: Pacer,
        attachments: AttachmentStore,
        *,
        on_blocked: Callable[[str], Awaitable[None]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.pacer = pacer
        self.attachments = attachments
        self.on_blocked = on_blocked
        self.sleep = sleep

    async def send_replies(
        self, chat_id: int, replies: Sequence[Reply], *, urgent: bool = True
    ) -> list[int]:
        """Send replies in order; message ids of what was sent. Raises DeliveryError."""
        sent: list[int] = []
        for reply in merge(replies):
            for out in render(reply):
                result = await self._send_one(chat_id, out, urgent=urgent)
                if isinstance(result, dict) and "message_id" in result:
                    sent.append(int(result["message_id"]))
        return sent

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        """The outbox's path: out-of-turn, so it yields to conversation replies."""
        ids = await self.send_replies(int(citizen.chat_key), outgoing.replies, urgent=False)
        return Delivery(external_id=str(ids[-1]) if ids else None)

    async def _send_one(self, chat_id: int, out: OutMessage, *, urgent: bool) -> Any:
        if out.media is None:
            params: dict[str, Any] = {"chat_id": chat_id, "text": out.text}
            if out.markup is not None:
                params["reply_markup"] = out.markup
            return await self.call("sendMessage", params, chat_id=chat_id, urgent=urgent)
        data = await self.attachments.aget(out.media.blob_id)
        is_photo = out.media.content_type.startswith("image/")
        method, field = ("sendPhoto", "photo") if is_photo else ("sendDocument", "document")
        upload = InputFile(data, filename=out.media.file_name or "file", attach=True)
        return await self.call(
            method, {"chat_id": chat_id, field: upload}, chat_id=chat_id, urgent=urgent
        )

    async def call(
        self,
        method: str,
        params: dict[str, Any],
        *,
        chat_id: int | None = None,
        urgent: bool = True,
        paced: bool = True,
    ) -> Any:
        """One Bot API call: paced, 429 waited out, network errors retried, errors ours."""
        failures = floods = 0
        while True:
            if paced and chat_id is not None:
                await self.pacer.wait(chat_id, urgent=urgent)
            try:
                return await self.api(method, params)
            except RetryAfter as err:
                floods += 1
                wait = seconds(err.retry_after)
                if floods > MAX_FLOOD_WAITS:
                    raise DeliveryError(
                        "flood control", retryable=True, retry_after=wait, code="429"
                    ) from None
                log.warning("telegram %s: flood control, waiting %.0f s", method, wait)
                self.pacer.hold(wait)
                await self.sleep(wait)
            except Forbidden as err:
                if chat_id is not None and self.on_blocked is not None:
                    await self.on_blocked(str(chat_id))
                raise DeliveryError(
                    "blocked by the user", retryable=False, blocked=True, code="403"
                ) from err
            except BadRequest as err:
                # Not retryable: the same call would fail the same way.
                raise DeliveryError(
                    f"bad request: {err.message[:120]}", retryable=False, code="400"
                ) from err
            except NetworkError as err:  # TimedOut too; also 5xx answers
                failures += 1
                if failures >= NETWORK_ATTEMPTS:
                    raise DeliveryError(
                        f"network: {err.message[:120]}", retryable=True, code="network"
                    ) from err
                delay = 0.5 * 2 ** (failures - 1)
                log.warning("telegram %s: %s; retry %d in %.1f s", method, err, failures, delay)
                await self.sleep(delay)
            except TelegramError as err:  # Conflict, InvalidToken, ChatMigrated...
                raise DeliveryError(
                    f"telegram: {err.message[:120]}", retryable=False, code="telegram"
                ) from err
