"""The Telegram channel: our own getUpdates loop (polling.py) or the webhook feeds the
`Receiver`, which stores each update in the inbox and queues it by chat (`ChatQueues`);
the `UpdateHandler` runs it through the dispatcher and sends back what it returns.

Every Bot API call goes through `TelegramSender.call` on python-telegram-bot's request
and error classes (no `telegram.Bot`). Only this package imports telegram.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram.request import BaseRequest

from bot.channels.services import ChannelServices
from bot.chat_turns import ChatTurns
from bot.config import Settings
from bot.domain import Channel
from bot.errors import ConfigError, DeliveryError
from bot.i18n import LANGUAGES
from bot.storage.base import InboxRow
from bot.tasks import stop_task

from .chat_queues import ChatQueues
from .dead_letters import DeadLetters
from .handling import UpdateHandler
from .inbound import ALLOWED_UPDATES, Incoming
from .polling import Poller, Sleep
from .ptb_private import unchecked_version
from .receiver import Receiver
from .request import AiohttpRequest, install_token_redaction
from .sender import BotApi, TelegramSender

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
OFFICIAL_API_HOST = "api.telegram.org"
COMMANDS = ("start", "menu", "back", "cancel", "language", "help")
# Held by the one instance that long-polls the bot (bot/leases.py): Telegram gives
# getUpdates to one caller at a time, and a second poller would steal half the updates.
POLLING_LEASE = "telegram-polling"
# Several instances: how often each looks for updates an instance died with, and how old
# an update must be to count as left behind (its accepter is busy with it, or dead).
LEFT_BEHIND_SWEEP_SECONDS = 2.0
LEFT_BEHIND_AFTER = timedelta(seconds=5)


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
        self._services: ChannelServices | None = None
        self._api: BotApi | None = None
        self._receiver: Receiver | None = None
        self._queues: ChatQueues | None = None
        self._poller: asyncio.Task[None] | None = None
        self._handler: UpdateHandler | None = None

    # ---- ChannelService ------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        if not self.webhook:
            return []
        return [Route(WEBHOOK_PATH, self._webhook, methods=["POST"])]

    async def start(self, services: ChannelServices) -> None:
        install_token_redaction(self.token)
        if (problem := unchecked_version()) is not None:
            log.warning("telegram: %s", problem)
        # Opt in to PTB's timedelta durations now (RetryAfter.retry_after warns otherwise).
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self._services = services
        if not self.webhook:
            await self._hold_polling(services)
        url = self.settings.telegram_api_url
        request = self._request or AiohttpRequest()
        polling = self._get_updates_request or AiohttpRequest(connection_pool_size=1)
        self._api = BotApi(url, self.token, request, polling)
        await self._api.initialize()
        sender = TelegramSender(
            self._api, services.pacing.telegram, services.attachments, on_blocked=self._mark_blocked
        )
        handler = UpdateHandler(
            services.dispatcher,
            services.replies,
            services.attachments,
            services.catalogs,
            sender,
            default_language=self.settings.default_language,
        )
        # Chat turns share a chat's webhook updates among instances; a poller holds the
        # polling lease, so it is the only instance with Telegram updates (and its inbox
        # rows are batches of many chats, which turns could not take by chat).
        turns = services.turns if self.webhook else None
        self._queues = queues = ChatQueues(
            handler, wake=services.outbox.wake, turn=None if turns is None else self._take_turn
        )
        dead_letters = DeadLetters(services.storage, services.metrics, services.clock)
        self._receiver = receiver = Receiver(
            services.storage,
            services.clock,
            dead_letters,
            queues,
            webhook_secret=self.settings.telegram_webhook_secret,
        )
        self._handler = handler
        if turns is not None:
            services.jobs.every(
                LEFT_BEHIND_SWEEP_SECONDS,
                lambda: self._sweep(receiver, turns),
                name="telegram:left-behind",
            )
        services.outbox.add_sender(sender)
        services.outbox.add_settler(queues.settle)
        await services.outbox.catch_up()
        await self._set_commands(sender)
        # Both modes store an update before Telegram may consider it delivered.
        await self._receiver.resume()
        if self.webhook:
            await sender.setup(
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
            await sender.setup("deleteWebhook", {})
            poller = Poller(
                sender.call,
                self._receiver.take_polled,
                wait_for_room=queues.wait_for_room,
                sleep=self._sleep,
                monotonic=self._monotonic,
            )
            self._poller = asyncio.create_task(poller.run(), name="telegram-polling")
            log.info("telegram: polling")

    async def wait_until_idle(self) -> None:
        """Until every update taken so far is handled and answered (for tests)."""
        if self._queues is not None:
            await self._queues.wait_until_idle()

    async def stop(self) -> None:
        await stop_task(self._poller)
        self._poller = None
        if self._services is not None and not self.webhook:
            await self._services.leases.release(POLLING_LEASE)
        if self._queues is not None:
            await self._queues.stop()
        if self._api is not None:
            await self._api.shutdown()
            self._api = None

    async def _hold_polling(self, services: ChannelServices) -> None:
        """Long polling is for one instance: refuse to start while another polls."""
        if await services.leases.hold(POLLING_LEASE, on_lost=self._polling_lost) is None:
            raise ConfigError(
                "TELEGRAM_MODE=polling: another govbot instance is polling this bot already."
                " To run several instances, set TELEGRAM_MODE=webhook on every one of them"
                " behind a load balancer (docs/DEPLOY.md)"
            )

    async def _polling_lost(self) -> None:
        """Another instance took the polling lease (this one was paused past it): stop
        polling, so that one poller is left."""
        log.error("telegram: another instance polls this bot now; this one stops polling")
        await stop_task(self._poller)
        self._poller = None

    async def _take_turn(self, incoming: Incoming, inbox_id: int) -> None:
        """Several instances: the update is handled in its chat's turn, with the chat's
        other waiting updates, whichever instance accepted them (bot/chat_turns.py)."""
        assert self._services is not None and self._services.turns is not None
        await self._services.turns.handle(
            Channel.TELEGRAM.value, str(incoming.chat_id), inbox_id, self._handle_row
        )

    async def _handle_row(self, row: InboxRow) -> None:
        assert self._receiver is not None and self._handler is not None
        incoming = await self._receiver.incoming(row)
        if incoming is not None:
            await self._handler(incoming)

    async def _sweep(self, receiver: Receiver, turns: ChatTurns) -> None:
        taken = await receiver.take_left_behind(turns, older_than=LEFT_BEHIND_AFTER)
        if taken:
            log.info("telegram: took %d update(s) another instance left behind", taken)

    async def _webhook(self, request: Request) -> Response:
        if self._receiver is None:
            raise RuntimeError("the Telegram channel is not started")
        return await self._receiver.webhook(request)

    async def _mark_blocked(self, chat_key: str) -> None:
        assert self._services is not None
        async with self._services.storage.transaction() as tx:
            citizen = await tx.citizens.find(Channel.TELEGRAM, chat_key)
            if citizen is not None and not citizen.unreachable:
                await tx.citizens.mark_blocked(citizen.id)
                log.info("telegram: citizen %d blocked the bot; marked unreachable", citizen.id)

    async def _set_commands(self, sender: TelegramSender) -> None:
        """The command menu in kk, ru and en, and the default language for everyone else."""
        assert self._services is not None
        for code in ("", *LANGUAGES):
            t = self._services.catalogs[code or self.settings.default_language]
            commands = [{"command": c, "description": t(f"telegram.command.{c}")} for c in COMMANDS]
            params: dict[str, Any] = {"commands": commands}
            if code:
                params["language_code"] = code
            try:
                await sender.call("setMyCommands", params, paced=False)
            except DeliveryError as err:
                log.warning("telegram: setMyCommands(%s) failed: %s", code or "default", err)
