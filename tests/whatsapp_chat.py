"""A WhatsApp citizen for tests: the real app under uvicorn on 127.0.0.1, the real twilio
library talking to the fake Twilio REST server, webhooks signed the way Twilio signs them.

    async with running_bot(settings, clock) as bot:
        chat = bot.chat("+77011234567")
        await chat.send("Hello")
        assert "1. Қазақша" in chat.text

`running_bot(..., interactive=True)` turns the Content API on (the fake's): replies with
options then come by REST as tap-to-answer messages, and `chat.tap("Русский")` answers one
the way WhatsApp does (ButtonPayload or ListId, never a typed number).
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from bot.app import create_app
from bot.channels.whatsapp.signature import SIGNATURE_HEADER
from bot.channels.whatsapp.twilio_http import TwilioHttp
from bot.config import Settings
from bot.runtime import Runtime
from tests.db import sql, tables
from tests.fakes.twilio_api import FakeTwilioApi, Tapped, inbound_params, new_sid
from tests.serving import free_port, serving

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "0123456789abcdef" * 2
BOT_NUMBER = "whatsapp:+77010000000"
PUBLIC = "https://govbot.example.kz"
WEBHOOK = PUBLIC + "/webhooks/twilio"
STATUS = PUBLIC + "/webhooks/twilio/status"
TEMPLATES = {
    "kk": "HX" + "a1" * 16,
    "ru": "HX" + "b2" * 16,
    "en": "HX" + "c3" * 16,
}
TEMPLATE_TEXT = {
    "kk": "{{1}} өтінішіңіз бойынша жаңалық бар. Оқу үшін жауап жазыңыз.",
    "ru": "По вашему обращению {{1}} есть новости. Ответьте, чтобы прочитать.",
    "en": "There is an update on your ticket {{1}}. Reply to read it.",
}


def bodies(twiml: str) -> list[str]:
    """The <Message> texts of a TwiML answer."""
    root = ET.fromstring(twiml)
    assert root.tag == "Response", twiml
    return [message.text or "" for message in root.iter("Message")]


@dataclass
class Bot:
    api: FakeTwilioApi
    url: str  # where the app listens, http://127.0.0.1:port
    settings: Settings
    runtime: Runtime
    session: aiohttp.ClientSession
    interactive: bool = False

    def chat(self, number: str, *, bsuid: str | None = None) -> WhatsAppChat:
        return WhatsAppChat(self, number, bsuid=bsuid)

    async def post(
        self,
        params: dict[str, str],
        *,
        path: str = "/webhooks/twilio",
        signed_for: str | None = None,
        signature: str | None = "sign",
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, str]:
        """POST a form to the app, signed for `signed_for` (default: PUBLIC + path)."""
        sent = dict(headers or {})
        if signature == "sign":
            sent[SIGNATURE_HEADER] = self.api.sign(signed_for or PUBLIC + path, params)
        elif signature is not None:
            sent[SIGNATURE_HEADER] = signature
        async with self.session.post(
            self.url + path, data=data if data is not None else params, headers=sent
        ) as response:
            return response.status, await response.text()

    def rows(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the database directly, as an auditor would."""
        return sql(self.settings, statement, *args)

    def database_text(self) -> str:
        """Every text and blob value in every table, decoded as far as it goes."""
        parts = []
        for table in tables(self.settings):
            for row in sql(self.settings, f"SELECT * FROM {table}"):
                for value in row:
                    if isinstance(value, bytes):
                        parts.append(value.decode("utf-8", "replace"))
                    elif value is not None:
                        parts.append(str(value))
        return "\n".join(parts)

    async def until(self, check: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until `check()` is truthy (the outbox works in the background)."""
        async with asyncio.timeout(timeout):
            while not (result := check()):
                await asyncio.sleep(0.02)
        return result


@dataclass
class WhatsAppChat:
    bot: Bot
    number: str  # E.164, or a BSUID for a citizen who hides their number
    bsuid: str | None = None  # sent as ExternalUserId beside the number
    texts: list[str] = field(default_factory=list)
    status: int = 0
    # The messages of the last answer that came by REST (tap-to-answer ones).
    messages: list[dict[str, Any]] = field(default_factory=list)
    forms: list[dict[str, str]] = field(default_factory=list)  # every webhook form sent

    @property
    def address(self) -> str:
        return "whatsapp:" + self.number

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)

    async def send(
        self,
        body: str = "",
        *,
        media: Sequence[tuple[str, str]] = (),
        location: tuple[float, float, str | None] | None = None,
        sid: str | None = None,
        profile_name: str = "Aigerim",
        tapped: Tapped | None = None,
    ) -> list[str]:
        """Send a message; the answer's texts as the citizen sees them. With the Content API
        on, an answer that is not in the webhook's TwiML is awaited from the REST side."""
        api = self.bot.api
        before = len(api.sent_to(self.address))
        params = inbound_params(
            account_sid=SID,
            from_=self.address,
            to=BOT_NUMBER,
            body=body,
            message_sid=sid or new_sid("MM" if media else "SM"),
            profile_name=profile_name,
            media=media,
            location=location,
            tapped=tapped,
            external_user_id=self.bsuid,
        )
        self.forms.append(params)
        self.status, answer = await api.deliver_inbound(
            self.bot.url + "/webhooks/twilio", params, signed_url=WEBHOOK
        )
        assert self.status == 200, (self.status, answer)
        self.texts = bodies(answer)
        self.messages = []
        if not self.texts and self.bot.interactive:
            self.messages = (await api.wait_for_sent(self.address, before + 1))[before:]
            self.texts = [api.seen(message) for message in self.messages]
        return self.texts

    @property
    def options(self) -> list[Tapped]:
        """The options of the last answer's tap-to-answer message (none: numbered text)."""
        return [option for m in self.messages for option in self.bot.api.options(m)]

    async def tap(self, option: str) -> list[str]:
        """Tap the option titled `option` (or whose id it is) in the last answer, as
        WhatsApp reports a tap."""
        found = [o for o in self.options if option in (o.title, o.id)]
        assert found, (option, self.texts)
        return await self.send(tapped=found[0])


@asynccontextmanager
async def running_bot(
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    interactive: bool = False,
    api: FakeTwilioApi | None = None,
    **overrides: Any,
) -> AsyncIterator[Bot]:
    """The app on 127.0.0.1 against a fresh fake Twilio (or `api`, started, to keep one
    across a restart). `interactive`: the Content API is the fake's (replies with options
    go by REST); otherwise it is off (numbered text)."""
    async with AsyncExitStack() as stack:
        if api is None:
            api = await stack.enter_async_context(FakeTwilioApi(SID, TOKEN))
        for lang, content_sid in TEMPLATES.items():
            api.define_template(content_sid, TEMPLATE_TEXT[lang])
        port = free_port()
        api.callback_base = f"http://127.0.0.1:{port}"
        wanted: dict[str, Any] = {
            "twilio_account_sid": SID,
            "twilio_auth_token": TOKEN,
            "twilio_whatsapp_from": BOT_NUMBER,
            "twilio_api_url": api.url,
            "public_url": PUBLIC,
            "twilio_update_templates": TEMPLATES,
            "twilio_content_url": api.url if interactive else None,
            "whatsapp_rate": 0.0,
        }
        configured = settings.with_overrides(**{**wanted, **overrides})
        async with TwilioHttp(api.url) as http, aiohttp.ClientSession() as session:
            app = create_app(configured, twilio_http=http, clock=clock, announce=lambda _: None)
            async with serving(app, port):
                runtime: Runtime = app.state.runtime
                url = f"http://127.0.0.1:{port}"
                yield Bot(api, url, runtime.settings, runtime, session, interactive)
