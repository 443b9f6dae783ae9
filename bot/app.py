"""The composition root: one Starlette app with the webhooks, the staff console, the JSON
API, health and metrics, and a lifespan that opens storage and starts every configured
channel. Tests and production wire it the same way; tests pass fakes for the transports.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from bot.channels.services import ChannelServices
from bot.chat_turns import ChatTurns, chat_lease_seconds
from bot.config import Settings
from bot.errors import ConfigError
from bot.flow import lasting_flows, sensitive_flows
from bot.maintenance import Maintenance
from bot.runtime import Runtime, campaign_service, open_runtime
from bot.web import api, health, media, staff
from bot.web.limits import BodyLimit
from bot.web.staff import campaigns as campaign_pages

log = logging.getLogger(__name__)


class ChannelService(Protocol):
    """A messenger adapter as the app sees it: webhook routes plus a start and a stop."""

    name: str

    def routes(self) -> list[BaseRoute]: ...
    async def start(self, services: ChannelServices) -> None: ...
    async def stop(self) -> None: ...


def channel_services(runtime: Runtime) -> ChannelServices:
    """The parts of the running bot that the messenger adapters use."""
    return ChannelServices(
        dispatcher=runtime.dispatcher,
        storage=runtime.storage,
        outbox=runtime.outbox,
        replies=runtime.replies,
        catalogs=runtime.catalogs,
        attachments=runtime.attachments,
        metrics=runtime.metrics,
        pacing=runtime.pacing,
        media_links=runtime.media_links,
        leases=runtime.leases,
        jobs=runtime.jobs,
        turns=ChatTurns(
            runtime.storage,
            runtime.leases.holder,
            lease_seconds=chat_lease_seconds(runtime.settings.lease_seconds),
        )
        if runtime.storage.shared
        else None,
    )


def build_channels(
    settings: Settings, *, telegram_request: Any = None, twilio_http: Any = None
) -> tuple[list[ChannelService], list[str]]:
    """The channels whose settings are present, and one line for each saying on or off."""
    channels: list[ChannelService] = []
    lines: list[str] = []
    if settings.telegram_enabled:
        from bot.channels.telegram.adapter import TelegramChannel

        channels.append(TelegramChannel(settings, request=telegram_request))
        lines.append(f"telegram: on ({settings.telegram_mode})")
    else:
        lines.append("telegram: off (TELEGRAM_BOT_TOKEN is not set)")
    if settings.whatsapp_enabled:
        from bot.channels.whatsapp.adapter import WhatsAppChannel  # twilio only when enabled

        channels.append(WhatsAppChannel(settings, http=twilio_http))
        lines.append("whatsapp: on (Twilio)")
    else:
        lines.append(
            "whatsapp: off (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM"
            " are not all set)"
        )
    return channels, lines


def create_app(
    settings: Settings,
    *,
    telegram_request: Any = None,
    twilio_http: Any = None,
    clock: Callable[[], datetime] | None = None,
    announce: Callable[[str], None] = lambda line: log.info("%s", line),
) -> Starlette:
    channels, lines = build_channels(
        settings, telegram_request=telegram_request, twilio_http=twilio_http
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await open_runtime(settings, clock=clock or (lambda: datetime.now(UTC)))
        app.state.runtime = runtime
        for line in lines:
            announce(line)
        if not channels:
            announce(
                "No messenger is configured: chat with the bot in a terminal with"
                " `govbot shell` (or `govbot run --shell`)."
            )
        campaigns = app.state.campaigns = campaign_service(runtime)
        maintenance = Maintenance(
            runtime.storage,
            runtime.settings,
            sensitive=sensitive_flows(runtime.flows),
            lasting=lasting_flows(runtime.flows),
            attachments=runtime.attachments,
            clock=runtime.dispatcher.clock,
        )
        try:
            # Several instances: this one announces itself first, so that the others never
            # take the rows it is about to send for a dead instance's (bot/leases.py).
            await runtime.leases.join()
            # First: replies a crash left unsent go back to the worker before any channel
            # starts sending new ones (the worker sends for a channel once it is added).
            await runtime.outbox.start()
            # Before the leader-only parts start: the first instance leads from the outset.
            await runtime.leases.lead()
            services = channel_services(runtime)
            for channel in channels:
                await channel.start(services)
            await campaigns.start()
            maintenance.start(runtime.jobs)
            yield
        except ConfigError as err:
            # Refused at start (a second Telegram poller): `govbot run` says it in one line.
            app.state.refused = err
            raise
        finally:
            maintenance.stop()
            await campaigns.stop()
            for channel in reversed(channels):
                await channel.stop()
            await runtime.close()

    routes: list[BaseRoute] = [
        *health.ROUTES,
        *media.ROUTES,
        *staff.routes(extra=campaign_pages.routes()),
        *api.routes(),
    ]
    for channel in channels:
        routes += channel.routes()
    mb = 1024 * 1024
    body_limit = Middleware(
        BodyLimit,
        default=mb,
        limits=[
            ("/staff/login", 64 * 1024),
            ("/staff/language", 64 * 1024),
            # The console takes a campaign image; webhooks carry JSON or a form, never files.
            ("/staff", (settings.max_attachment_mb + 1) * mb),
        ],
    )
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[body_limit])
    app.state.channels = {channel.name: channel for channel in channels}
    return app
