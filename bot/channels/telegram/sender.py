"""Sending to Telegram, paced to its limits, with its errors translated once into ours.

The channel's `Budget` (bot/pacing.py) keeps to about 30 messages a second overall and
about 1 a second per chat; a conversation reply always goes before queued out-of-turn
traffic (staff answers, campaigns), so citizens never wait behind a broadcast. A 429 holds
every send, including those already waiting for a slot, for the retry_after it names.

Each send is one attempt, classified: sent, retry after N (429), blocked (403), failed
(nothing left, or Telegram refused it), or unknown (a read timeout, a dropped connection,
a 5xx: it may have arrived). The sender never repeats a send itself: whoever owns the
message (the outbox, the campaign engine) decides, so a slow Bot API cannot make it three
copies. `TelegramSender` is also the outbox's `Sender` for the Telegram channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from telegram import InputFile
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData

from bot.attachments import AttachmentStore
from bot.domain import Channel, Reply
from bot.errors import DeliveryError
from bot.outbound import Delivery, Outgoing
from bot.pacing import Budget
from bot.storage.records import Citizen

from .ptb_private import RequestParameter
from .render import OutMessage, merge_counted, render
from .request import NotSent

log = logging.getLogger(__name__)

SETUP_ATTEMPTS = 4  # idempotent set-up calls only (setWebhook, deleteWebhook)


def seconds(value: int | float | timedelta) -> float:
    """RetryAfter.retry_after is an int today and a timedelta with PTB_TIMEDELTA set."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class BotApi:
    """The Bot API over python-telegram-bot's transport and status mapping, with the raw
    JSON result: no Message objects are built for answers nobody reads. Only
    `TelegramSender` calls it; everything else goes through `TelegramSender.call`.
    """

    def __init__(self, api_url: str, token: str, request: BaseRequest, polling: BaseRequest):
        self._base = f"{api_url}/bot{token}/"
        self._files = f"{api_url}/file/bot{token}/"
        self._request = request
        self._polling = polling

    async def initialize(self) -> None:
        await asyncio.gather(self._request.initialize(), self._polling.initialize())

    async def shutdown(self) -> None:
        await asyncio.gather(self._request.shutdown(), self._polling.shutdown())

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

    async def download(self, file_path: str, *, read_timeout: float) -> bytes:
        """A file's bytes, from the `file_path` that getFile answered."""
        return await self._request.retrieve(self._files + file_path, read_timeout=read_timeout)


class TelegramSender:
    """Calls the Bot API with pacing; one attempt per call; Telegram's errors become ours."""

    channel = Channel.TELEGRAM

    def __init__(
        self,
        api: BotApi,
        budget: Budget,
        attachments: AttachmentStore,
        *,
        on_blocked: Callable[[str], Awaitable[None]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.budget = budget
        self.attachments = attachments
        self.on_blocked = on_blocked
        self.sleep = sleep

    async def send_replies(
        self, chat_id: int, replies: Sequence[Reply], *, urgent: bool = True, paid: bool = False
    ) -> list[int]:
        """Send replies in order; message ids of what was sent.

        Stops at the first send that does not succeed and raises its DeliveryError, with
        `delivered` set to how many of `replies` went out in full before it."""
        sent: list[int] = []
        delivered = 0
        for reply, count in merge_counted(replies):
            for out in render(reply):
                try:
                    result = await self._send_one(chat_id, out, urgent=urgent, paid=paid)
                except DeliveryError as err:
                    err.delivered = delivered
                    raise
                if isinstance(result, dict) and "message_id" in result:
                    sent.append(int(result["message_id"]))
            delivered += count
        return sent

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        """The outbox's path: out-of-turn, so it yields to conversation replies; a paid
        broadcast goes with allow_paid_broadcast, in the budget's paid lane."""
        ids = await self.send_replies(
            int(citizen.chat_key), outgoing.replies, urgent=False, paid=outgoing.paid_broadcast
        )
        return Delivery(external_id=str(ids[-1]) if ids else None)

    async def _send_one(
        self, chat_id: int, out: OutMessage, *, urgent: bool, paid: bool = False
    ) -> Any:
        # Absent unless paid: Telegram bills every message that carries it past the free limit.
        extra: dict[str, Any] = {"allow_paid_broadcast": True} if paid else {}
        if out.media is None:
            params: dict[str, Any] = {"chat_id": chat_id, "text": out.text, **extra}
            if out.markup is not None:
                params["reply_markup"] = out.markup
            return await self.call("sendMessage", params, chat_id=chat_id, urgent=urgent, paid=paid)
        data = await self.attachments.aget(out.media.blob_id)
        is_photo = out.media.content_type.startswith("image/")
        method, field = ("sendPhoto", "photo") if is_photo else ("sendDocument", "document")
        upload = InputFile(data, filename=out.media.file_name or "file", attach=True)
        return await self.call(
            method,
            {"chat_id": chat_id, field: upload, **extra},
            chat_id=chat_id,
            urgent=urgent,
            paid=paid,
        )

    async def call(
        self,
        method: str,
        params: dict[str, Any],
        *,
        chat_id: int | None = None,
        urgent: bool = True,
        paced: bool = True,
        paid: bool = False,
        read_timeout: float | None = None,
    ) -> Any:
        """One Bot API call, paced (`paid`: in the paid broadcasts' lane); any outcome but
        success is raised as a DeliveryError.

        Never repeated here: a request that timed out may have been carried out."""
        if paced and chat_id is not None:
            await self.budget.wait(chat_id, urgent=urgent, paid=paid)
        try:
            return await self.api(method, params, read_timeout=read_timeout)
        except RetryAfter as err:
            wait = seconds(err.retry_after)
            log.warning("telegram %s: flood control, all sends hold for %.0f s", method, wait)
            self.budget.hold(wait)
            raise DeliveryError(
                "flood control", retryable=True, retry_after=wait, code="429"
            ) from None
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
        except NotSent as err:  # before NetworkError: nothing reached Telegram
            raise DeliveryError(
                f"not sent: {err.message[:120]}", retryable=True, code="network"
            ) from err
        except TimedOut as err:
            raise DeliveryError(
                "no answer in time", retryable=False, unknown=True, code="timeout"
            ) from err
        except NetworkError as err:  # a dropped connection, or a 5xx answer
            raise DeliveryError(
                f"network: {err.message[:120]}", retryable=False, unknown=True, code="network"
            ) from err
        except TelegramError as err:  # Conflict, InvalidToken, ChatMigrated...
            raise DeliveryError(
                f"telegram: {err.message[:120]}", retryable=False, code="telegram"
            ) from err

    async def download(self, file_path: str, *, read_timeout: float = 60.0) -> bytes:
        """A file a citizen sent, by the `file_path` getFile answered (through `call`)."""
        try:
            return await self.api.download(file_path, read_timeout=read_timeout)
        except TelegramError as err:
            raise DeliveryError(
                f"download: {err.message[:120]}", retryable=False, code="download"
            ) from err

    async def setup(self, method: str, params: dict[str, Any]) -> Any:
        """An idempotent set-up call (setWebhook, deleteWebhook), made at start-up.

        Repeating it is harmless, so start-up owns a short retry here: a 429 is waited
        out, other failures back off. Messages never come through this path."""
        for attempt in range(1, SETUP_ATTEMPTS + 1):
            try:
                return await self.call(method, params, paced=False)
            except DeliveryError as err:
                if err.blocked or not (err.retryable or err.unknown) or attempt == SETUP_ATTEMPTS:
                    raise
                delay = err.retry_after if err.retry_after is not None else 0.5 * 2 ** (attempt - 1)
                log.warning("telegram %s: %s; again in %.1f s", method, err, delay)
                await self.sleep(delay)
        raise AssertionError("unreachable")
