"""Messages that leave through Twilio's REST API: the outbox's WhatsApp `Sender`.

Inside the 24-hour window (the citizen wrote within the last day) the message goes as
free-form text, or as a tap-to-answer Content API message when it offers options that fit
(bot.channels.whatsapp.content); if that is refused or the Content API is down, the same
reply goes as numbered text and the fallback is counted in /metrics. Outside it only an
approved template may go: the per-language "there is an update on your ticket {{1}}"
ContentSid; the real message is held and released when the citizen answers.
Files staff send go first, one message each, with a MediaUrl Twilio fetches once from
`/media/<token>` (bot/media_links.py); the token is made at sending, so a held message's
link is fresh when it is released.
Twilio's errors become `DeliveryError`s here, once.

Each message is one request, never repeated here. A timeout, a dropped connection or a
5xx may mean Twilio accepted it, so such a send is "unknown", not failed: the owner of
the message (the outbox, the campaign engine) decides whether another copy is worth it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from bot.channels.whatsapp.content import (
    ContentResources,
    ContentUnavailable,
    Interactive,
    interactive,
)
from bot.channels.whatsapp.inbound import address
from bot.channels.whatsapp.render import render_counted
from bot.channels.whatsapp.signature import public_url
from bot.channels.whatsapp.templates import declared
from bot.config import Settings
from bot.domain import Channel, Reply
from bot.errors import DeliveryError
from bot.i18n import Catalogs
from bot.media_links import PATH as MEDIA_PATH
from bot.media_links import MediaLinks
from bot.metrics import Metrics
from bot.outbound import Delivery, Outgoing
from bot.pacing import Budget
from bot.reply_window import in_window
from bot.storage.records import Citizen

log = logging.getLogger(__name__)

OUTSIDE_WINDOW = 63016  # free-form outside the 24-hour window
# The recipient cannot get WhatsApp messages from us: blocked, opted out, not on WhatsApp.
BLOCKED_CODES = frozenset({21610, 63024, 63032, 21614})
# Account or sender configuration: retrying does not help until an operator acts.
CONFIG_CODES = frozenset({20003, 20404, 21606, 21608, 21655, 21656, 63007, 63112})
DEFAULT_RETRY_AFTER = 5.0


def delivery_error(exc: BaseException) -> DeliveryError:
    """A twilio or transport error as our own DeliveryError (never with numbers in it)."""
    if isinstance(exc, TwilioException):
        status = int(getattr(exc, "status", 0) or 0)
        code = getattr(exc, "code", None)
        label = f"twilio {code or status}"
        if status == 429 or code == 20429:
            return DeliveryError(
                label, retryable=True, retry_after=DEFAULT_RETRY_AFTER, code=str(code or 429)
            )
        if code in BLOCKED_CODES:
            return DeliveryError(label, retryable=False, blocked=True, code=str(code))
        if status == 503:  # refused at the door: nothing was accepted
            return DeliveryError(label, retryable=True, code=str(code or status))
        if status >= 500:  # the message may have been created before the error
            return DeliveryError(label, retryable=False, unknown=True, code=str(code or status))
        if status == 0:
            return DeliveryError(label, retryable=True, code=str(code or status))
        return DeliveryError(label, retryable=False, code=str(code or status))
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        # No connection was made: the request never left.
        return DeliveryError(f"not sent: {type(exc).__name__}", retryable=True, code="network")
    if isinstance(exc, TimeoutError):
        return DeliveryError("no answer in time", retryable=False, unknown=True, code="timeout")
    if isinstance(exc, aiohttp.ClientError | OSError):
        # Dropped after the request was (perhaps) written.
        return DeliveryError(
            f"network: {type(exc).__name__}", retryable=False, unknown=True, code="network"
        )
    return DeliveryError(
        f"unexpected: {type(exc).__name__}", retryable=False, unknown=True, code="unexpected"
    )


class WhatsAppSender:
    channel = Channel.WHATSAPP

    def __init__(
        self,
        settings: Settings,
        client: Client,
        catalogs: Catalogs,
        *,
        status_callback: str | None,
        budget: Budget,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        content: ContentResources | None = None,
        metrics: Metrics | None = None,
        media_links: MediaLinks | None = None,
    ) -> None:
        assert settings.twilio_whatsapp_from is not None
        self.settings = settings
        self.client = client
        self.catalogs = catalogs
        self.status_callback = status_callback
        self.clock = clock
        self.budget = budget  # shared with the campaign engine (Runtime.pacing)
        self.content = content  # None: options always go as numbered text
        self.metrics = metrics
        self.media_links = media_links  # None: files are left out (the text still goes)
        # Citizen id → the last-inbound time a template was sent for: one nudge per silence,
        # however many messages wait. In memory: a restart may send one nudge more.
        self._nudged: dict[int, datetime | None] = {}

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        if in_window(citizen.last_inbound_at, self.clock()):
            try:
                sid = await self.send_replies(
                    citizen.chat_key, outgoing.replies, citizen.locale, urgent=False
                )
            except DeliveryError as err:
                if err.code != str(OUTSIDE_WINDOW):
                    raise
                # Twilio saw the window differently (clock skew): treat as outside.
            else:
                return Delivery(external_id=sid)
        return await self._hold(citizen, outgoing)

    async def send_replies(
        self,
        chat_key: str,
        replies: Sequence[Reply],
        locale: str | None,
        *,
        urgent: bool = True,
        wanted: Interactive | None = None,
    ) -> str | None:
        """Send replies as free-form messages; returns the last message's sid. Conversation
        replies are `urgent`; the outbox's and campaigns' messages yield to them. `wanted`:
        the replies as one tap-to-answer message, when the caller has worked it out already
        (`interactive`), so it is not worked out twice.

        Stops at the first body that does not go and raises its DeliveryError, with
        `delivered` set to how many of `replies` went out in full before it."""
        lang = locale or self.settings.default_language
        t = self.catalogs[lang]
        await self._send_media(chat_key, replies, urgent)
        wanted = wanted or self.interactive(replies, lang)
        if wanted is not None:
            try:
                return await self._send_interactive(chat_key, wanted, urgent)
            except ContentUnavailable as exc:
                if self.metrics is not None:
                    self.metrics.whatsapp_content_fallbacks.labels(str(exc)).inc()
        sid = None
        delivered = 0
        for body, complete in render_counted(replies, t):
            try:
                sid = await self._create(chat_key, urgent, body=body)
            except DeliveryError as err:
                err.delivered = delivered
                raise
            delivered = complete
        return sid

    async def _send_media(self, chat_key: str, replies: Sequence[Reply], urgent: bool) -> None:
        """Each file as a message of its own (WhatsApp carries one per message), before the
        text, so the text and its options come last. A failure raises with nothing counted
        as delivered (`delivered` stays 0): the message is tried again whole, fresh links."""
        if self.media_links is None or self.settings.public_url is None:
            return
        for media in (m for reply in replies for m in reply.media):
            token = self.media_links.token(media.blob_id)
            url = public_url(self.settings.public_url, MEDIA_PATH + token)
            await self._create(chat_key, urgent, media_url=[url])

    def interactive(self, replies: Sequence[Reply], locale: str | None) -> Interactive | None:
        """The replies as one tap-to-answer message, if the Content API is on and they fit."""
        if self.content is None:
            return None
        lang = locale or self.settings.default_language
        return interactive(replies, self.catalogs[lang], lang)

    async def _send_interactive(self, chat_key: str, wanted: Interactive, urgent: bool) -> str:
        """One Content API message; ContentUnavailable where numbered text should go instead:
        no resource, or Twilio refused the message outright (nothing was sent)."""
        assert self.content is not None
        sid = await self.content.sid(wanted)
        variables = json.dumps(wanted.variables, ensure_ascii=False)
        try:
            return await self._create(
                chat_key, urgent, content_sid=sid, content_variables=variables
            )
        except DeliveryError as err:
            if err.retryable or err.unknown or err.blocked or err.code == str(OUTSIDE_WINDOW):
                raise  # the owner of the message decides, as for text
            raise ContentUnavailable("refused") from None

    async def template_variables(self, sid: str) -> frozenset[str] | None:
        """The placeholders an approved template declares (bot/channels/whatsapp/templates.py);
        None when it cannot be asked: the Content API is off, refused or down."""
        return None if self.content is None else await declared(self.client, sid)

    async def _hold(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        if outgoing.template:
            # A message approved as a template of its own (a campaign): it goes as it is.
            fields: dict[str, Any] = {"content_sid": outgoing.template}
            if outgoing.variables:
                fields["content_variables"] = json.dumps(outgoing.variables, ensure_ascii=False)
            return Delivery(external_id=await self._create(citizen.chat_key, False, **fields))
        lang = citizen.locale or self.settings.default_language
        template = self.settings.twilio_update_templates.get(lang)
        if template is None:
            return Delivery(held=True, note="no_template")
        if citizen.id in self._nudged and self._nudged[citizen.id] == citizen.last_inbound_at:
            return Delivery(held=True, note="template_already_sent")
        variables = json.dumps({"1": outgoing.reference or "-"}, ensure_ascii=False)
        sid = await self._create(
            citizen.chat_key,
            False,
            content_sid=template,
            content_variables=variables,
            template=True,
        )
        self._nudged[citizen.id] = citizen.last_inbound_at
        return Delivery(held=True, external_id=sid, note="template_sent")

    async def _create(
        self, chat_key: str, urgent: bool, *, template: bool = False, **fields: Any
    ) -> str:
        await self.budget.wait(chat_key, urgent=urgent)
        if self.status_callback:
            callback = self.status_callback + ("?template=1" if template else "")
            fields["status_callback"] = callback
        try:
            message = await self.client.messages.create_async(
                to=address(chat_key), from_=self.settings.twilio_whatsapp_from, **fields
            )
        except (TwilioException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            err = delivery_error(exc)
            config = err.code is not None and err.code.isdigit() and int(err.code) in CONFIG_CODES
            log.log(logging.ERROR if config else logging.WARNING, "twilio send failed: %s", err)
            raise err from None
        return str(message.sid)
