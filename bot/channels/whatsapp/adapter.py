"""The WhatsApp channel (Twilio): signed webhooks in, TwiML or the REST API out.

    POST /webhooks/twilio          a citizen's message → dispatcher → TwiML reply
    POST /webhooks/twilio/status   Twilio's delivery reports → the outbox row's status

Every request must carry Twilio's signature of PUBLIC_URL + path and every form field;
anything else gets a 4xx and touches nothing. The dispatcher commits the step (with the
MessageSid as processed) before we answer; a step that outlasts the budget is answered with
an empty <Response/> and its replies go out through the REST API instead. So do replies
with options that go as tap-to-answer messages: TwiML cannot carry a ContentSid.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from twilio.rest import Client

from bot.attachments import kind_for
from bot.channels.services import ChannelServices
from bot.channels.whatsapp.content import ContentResources, Interactive
from bot.channels.whatsapp.inbound import BadForm, MediaRef, media_refs, to_inbound
from bot.channels.whatsapp.render import EMPTY_TWIML, render, twiml
from bot.channels.whatsapp.sender import WhatsAppSender
from bot.channels.whatsapp.signature import SIGNATURE_HEADER, public_url, validate_request
from bot.channels.whatsapp.twilio_http import MediaRefused, TwilioHttp, quiet_twilio_logging
from bot.config import Settings
from bot.dispatcher import Answer
from bot.domain import Attachment, Inbound
from bot.errors import ConfigError, DeliveryError, UserInputError
from bot.reply_window import reopened

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/twilio"
STATUS_PATH = "/webhooks/twilio/status"
# Twilio's inbound form is a few kilobytes (Body is at most 1,600 characters).
MAX_FORM_BYTES = 64 * 1024
# Twilio gives up after 15 s; answer well before, and send late replies by REST.
ANSWER_BUDGET = 5.0
# Statuses before "sent": the outbox row already says "sent" once Twilio accepted it.
_EARLY_STATUSES = frozenset({"accepted", "queued", "scheduled", "sending"})
_FAILED_STATUSES = frozenset({"failed", "undelivered"})

# A failure report for a sid not yet recorded is tried this many times, this far apart.
STATUS_WAITS, STATUS_WAIT_SECONDS = 10, 0.1


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class WhatsAppChannel:
    name = "whatsapp"

    def __init__(
        self,
        settings: Settings,
        *,
        http: TwilioHttp | None = None,
        answer_budget: float = ANSWER_BUDGET,
    ) -> None:
        if not settings.public_url:
            raise ConfigError(
                "PUBLIC_URL: needed by the WhatsApp channel (Twilio signs the public URL)"
            )
        assert settings.twilio_account_sid and settings.twilio_auth_token
        self.settings = settings
        self.base_url = settings.public_url
        self.auth = (settings.twilio_account_sid, settings.twilio_auth_token)
        self.answer_budget = answer_budget
        self._http = http
        self._owns_http = http is None
        self._services: ChannelServices | None = None
        self._sender: WhatsAppSender | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- ChannelService ------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route(WEBHOOK_PATH, self.inbound, methods=["POST"]),
            Route(STATUS_PATH, self.status, methods=["POST"]),
        ]

    async def start(self, services: ChannelServices) -> None:
        quiet_twilio_logging()
        self._services = services
        if self._http is None:
            self._http = TwilioHttp(
                self.settings.twilio_api_url, content_root=self.settings.twilio_content_url
            )
        client = Client(*self.auth, http_client=self._http)
        content = None
        if self.settings.twilio_content_url is not None:
            content = ContentResources(client, services.storage, services.clock)
        self._sender = WhatsAppSender(
            self.settings,
            client,
            services.catalogs,
            status_callback=public_url(self.base_url, STATUS_PATH),
            budget=services.pacing.whatsapp,
            clock=services.clock,
            content=content,
            metrics=services.metrics,
            media_links=services.media_links,
        )
        services.outbox.add_sender(self._sender)
        await services.outbox.catch_up()

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.answer_budget)
        for task in self._tasks:
            task.cancel()
        if self._http is not None and self._owns_http:
            await self._http.close()

    @property
    def services(self) -> ChannelServices:
        if self._services is None:
            raise RuntimeError("the WhatsApp channel is not started")
        return self._services

    # -- POST /webhooks/twilio -----------------------------------------------------------

    async def inbound(self, request: Request) -> Response:
        try:
            form = await self._signed_form(request, WEBHOOK_PATH)
            msg = to_inbound(form, received_at=self.services.clock())
        except _Refused as refused:
            return _refusal(refused)
        except BadForm as err:
            return _refusal(_Refused(400, str(err)))
        refs = media_refs(form, limit=max(self.settings.max_attachments, 1))
        task = asyncio.create_task(self._process(msg, refs))
        # asyncio.wait, not wait_for(shield(...)): a slow step is left running, not cancelled.
        await asyncio.wait((task,), timeout=self.answer_budget)
        if not task.done():
            log.warning("whatsapp step took over %.0f s; replying by REST", self.answer_budget)
            self._track(self._send_late(task, msg.chat_key))
            return _xml(EMPTY_TWIML)
        answer = task.result()
        sender = self._sender
        if not answer.duplicate and sender is not None:
            wanted = sender.interactive(answer.replies, answer.lang)
            if wanted is not None:
                self._track(self._send_late(task, msg.chat_key, wanted))
                return _xml(EMPTY_TWIML)
        replies, lang = answer.replies, answer.lang
        if answer.duplicate and answer.dedupe_key is not None:
            # Twilio retries a webhook when our answer did not reach it: give it the same
            # replies again (those the worker has not sent yet are taken from it).
            replies, known = await self.services.replies.answered(
                msg.channel, msg.chat_key, answer.dedupe_key
            )
            lang = known or lang
        elif answer.reply_seq is not None:
            self.services.replies.sent(answer.reply_seq)
        return _xml(twiml(render(replies, self.services.catalogs[lang])))

    async def _process(self, msg: Inbound, refs: list[MediaRef]) -> Answer:
        services = self.services
        if refs:
            # Only a message the dispatcher will take costs a download (a retry or a
            # flood of files is answered before any is fetched or stored).
            early = await services.dispatcher.screen(msg)
            if early is not None:
                return early
            if not await services.dispatcher.processed(msg):
                msg = await self._with_media(msg, refs)
        answer = await services.dispatcher.answer(msg, screened=bool(refs))
        if answer.citizen_id is not None and reopened(answer.last_inbound_at, msg.received_at):
            try:
                async with services.storage.transaction() as tx:
                    held = await tx.outbox.release_held(answer.citizen_id, now=msg.received_at)
            except Exception:
                # The answer is written and must still go out; held messages wait for the
                # citizen's next message.
                log.exception("whatsapp: could not release held messages")
            else:
                if held:
                    services.outbox.wake()
        return answer

    async def _with_media(self, msg: Inbound, refs: list[MediaRef]) -> Inbound:
        """Download, check and store each file; any refusal becomes `unsupported`."""
        store = self.services.attachments
        assert self._http is not None
        stored: list[Attachment] = []
        refusal = None
        for ref in refs:
            try:
                media = await self._http.download(
                    ref.url, auth=self.auth, max_bytes=store.max_bytes
                )
            except MediaRefused as exc:
                log.warning("whatsapp media URL refused: %s", exc)
                refusal = "attachment.download_failed"
                break
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("whatsapp media download failed: %s", type(exc).__name__)
                refusal = "attachment.download_failed"
                break
            if media.too_large:
                refusal = "attachment.too_large"
                break
            if media.status != 200:
                log.warning("whatsapp media download answered HTTP %d", media.status)
                refusal = "attachment.download_failed"
                break
            try:
                kept = await store.aput(
                    media.content,
                    declared_type=ref.content_type or media.content_type,
                    file_name=None,
                )
            except UserInputError as err:
                refusal = err.msgid
                break
            stored.append(
                Attachment(kind_for(kept.content_type), kept.content_type, kept.size, kept.blob_id)
            )
        if refusal is not None:
            for attachment in stored:
                await store.adelete(attachment.blob_id)
            return replace(msg, unsupported=refusal)
        return replace(msg, attachments=tuple(stored))

    async def _send_late(
        self, task: asyncio.Task[Answer], chat_key: str, wanted: Interactive | None = None
    ) -> None:
        """Replies that go out by REST: a step that outlasted the webhook's budget, or a
        tap-to-answer message (`wanted`, as the webhook worked it out)."""
        try:
            answer = await task
            sender = self._sender
            if answer.replies and sender is not None:
                await self.services.replies.deliver(
                    answer.reply_seq,
                    answer.replies,
                    lambda replies: sender.send_replies(
                        chat_key, replies, answer.lang, wanted=wanted
                    ),
                )
        except DeliveryError as err:
            log.warning("late whatsapp reply not sent: %s", err)
        except Exception:
            log.exception("late whatsapp reply failed")

    def _track(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- POST /webhooks/twilio/status ----------------------------------------------------

    async def status(self, request: Request) -> Response:
        try:
            form = await self._signed_form(request, STATUS_PATH)
        except _Refused as refused:
            return _refusal(refused)
        sid = form.get("MessageSid") or form.get("SmsSid")
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        if not sid or not status:
            return _refusal(_Refused(400, "MessageSid or MessageStatus is missing"))
        code = form.get("ErrorCode") or None
        note: str | None
        if request.query_params.get("template") == "1":
            # The nudge for a held message: the message itself stays held, unless the
            # nudge failed, which staff should see.
            if status not in _FAILED_STATUSES:
                return Response(status_code=204)
            record, note = "held", f"template_{status}:{code or '-'}"
        elif status in _EARLY_STATUSES:
            return Response(status_code=204)
        elif status in _FAILED_STATUSES and code == "63016":
            # Outside the 24-hour window after all: wait for the citizen like any held one.
            record, note = "held", "63016"
        else:
            record, note = status, code
        # A failure report can overtake the send's own record of its sid (written as the
        # send returns, on whichever instance sent it): a moment's patience for those,
        # which decide what happens next; a delivered or read report is only information
        # (and most are of campaign messages, which the outbox never holds).
        waits = STATUS_WAITS if status in _FAILED_STATUSES else 1
        for attempt in range(waits):
            if attempt:
                await asyncio.sleep(STATUS_WAIT_SECONDS)
            async with self.services.storage.transaction() as tx:
                now = self.services.clock()
                if await tx.outbox.mark_by_external_id(sid, record, error=note, now=now):
                    break
        return Response(status_code=204)

    # -- shared --------------------------------------------------------------------------

    async def _signed_form(self, request: Request, path: str) -> dict[str, str]:
        """The form, if it is Twilio's, for our account, signed for PUBLIC_URL + `path`."""
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
            raise _Refused(413, "body too large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise _Refused(413, "body too large")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "form is not UTF-8 url-encoded") from None
        url = public_url(self.base_url, path, request.url.query)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not validate_request(self.auth[1], url, pairs, signature):
            raise _Refused(403, "signature missing or wrong")
        form: dict[str, str] = {}
        for key, value in pairs:
            form.setdefault(key, value)
        if form.get("AccountSid") != self.auth[0]:
            raise _Refused(403, "another AccountSid")
        return form


def _refusal(refused: _Refused) -> Response:
    # The reason names a field or a check, never a value: no numbers reach the log.
    log.warning("whatsapp webhook refused (%d): %s", refused.status, refused)
    return Response(str(refused), status_code=refused.status, media_type="text/plain")


def _xml(body: str) -> Response:
    return Response(body, media_type="application/xml")
