"""Fuzz: hostile Twilio WhatsApp forms, signed as Twilio signs them, POSTed to the real
webhook (the whole app in-process, the twilio library against the fake Twilio REST API),
so they reach the handler and the dispatcher. No 500, a 200 is TwiML, nothing logged at
ERROR, no traceback; then a fresh number's first message is still answered.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from bot.app import create_app
from bot.channels.whatsapp.signature import SIGNATURE_HEADER
from bot.channels.whatsapp.twilio_http import TwilioHttp
from bot.config import Settings
from tests.conftest import Clock
from tests.fakes.twilio_api import FakeTwilioApi, inbound_params
from tests.fuzzing import TIMEOUT, Loop, fuzz_settings, numbers, texts, watched_logs, weighted
from tests.whatsapp_chat import BOT_NUMBER, PUBLIC, SID, TEMPLATE_TEXT, TEMPLATES, TOKEN, bodies

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TIMEOUT)]

EXAMPLES = 700
WEBHOOK = "/webhooks/twilio"
REGULARS = ["+77011230001", "+77011230002", "+77011230003"]
# Users who hide their number (issue 16): From or ExternalUserId, so that rows get linked
# to the regulars and merged, in any order.
BSUIDS = ["KZ.1502576394655843", "KZ.2602576394655843"]

# Lone surrogates cannot be UTF-8: a form with one is refused whole (400), so they are rare.
values = weighted(
    (8, texts(surrogates=False, max_size=30)),
    (1, texts(max_size=30)),
    (2, numbers.map(lambda n: getattr(n, "text", str(n)))),
)
numbers_e164 = st.integers(10**6, 10**15 - 1).map(lambda n: f"+{n}")
senders = weighted(
    (3, st.builds(lambda n: f"whatsapp:+7701{n:07d}", st.integers(0, 9_999_999))),
    (2, st.sampled_from(REGULARS).map(lambda n: "whatsapp:" + n)),
    (1, numbers_e164.map(lambda n: "whatsapp:" + n)),
    (1, st.sampled_from(BSUIDS).map(lambda n: "whatsapp:" + n)),
    (1, values),
)
FIELDS = [
    "Body",
    "From",
    "MessageSid",
    "SmsMessageSid",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "MediaUrl1",
    "MediaUrl99",
    "Latitude",
    "Longitude",
    "Address",
    "ButtonPayload",
    "ButtonText",
    "ListId",
    "ListTitle",
    "ProfileName",
    "MessageType",
    "WaId",
    "ExternalUserId",
    "ExternalUserIdentifier",
    "To",
    "AccountSid",
]
ANSWERS = ["1", "2", "3", "menu", "Русский", "English", "Қазақша", "STOP", "START", "/start"]


@st.composite
def forms(draw: st.DrawFn, api: FakeTwilioApi, sids: Any) -> list[tuple[str, str]]:
    """Twilio's form for a message, then broken: fields set to hostile values, dropped,
    repeated, or added."""
    media: list[tuple[str, str]] = []
    if draw(st.integers(0, 5)) == 0:
        url = draw(
            st.one_of(
                st.just(api.host_media(b"\xff\xd8\xff\xe0 not quite a jpeg", "image/jpeg")),
                st.just(api.url + "/2010-04-01/Accounts/" + SID + "/Messages/MM1/Media/ME1"),
                st.sampled_from(["http://127.0.0.1:9/x", "file:///etc/passwd", "javascript:1"]),
                values,
            )
        )
        media.append((url, draw(st.one_of(st.just("image/jpeg"), values))))
    location = None
    if draw(st.integers(0, 5)) == 0:
        location = (draw(st.floats()), draw(st.floats()), draw(st.one_of(st.none(), values)))
    form = inbound_params(
        account_sid=SID,
        from_=draw(senders),
        to=BOT_NUMBER,
        body=draw(weighted((2, values), (1, st.sampled_from(ANSWERS)))),
        message_sid=draw(weighted((6, st.just(f"SM{next(sids):032x}")), (1, values))),
        profile_name=draw(values),
        media=media,
        location=location,
        external_user_id=draw(weighted((4, st.none()), (2, st.sampled_from(BSUIDS)), (1, values))),
    )
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 5]))):
        action = draw(st.sampled_from(["set", "set", "drop", "add"]))
        name = draw(st.one_of(st.sampled_from(FIELDS), texts(surrogates=False, max_size=12)))
        if action == "set" or action == "add":
            form[name] = draw(values)
        else:
            form.pop(name, None)
    pairs = list(form.items())
    if draw(st.integers(0, 9)) == 0:  # a field twice
        pairs.append((draw(st.sampled_from(FIELDS)), draw(values)))
    return pairs


class Harness:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.stack = AsyncExitStack()

    async def open(self) -> None:
        self.api = await self.stack.enter_async_context(FakeTwilioApi(SID, TOKEN))
        for lang, content_sid in TEMPLATES.items():
            self.api.define_template(content_sid, TEMPLATE_TEXT[lang])
        configured = self.settings.with_overrides(
            twilio_account_sid=SID,
            twilio_auth_token=TOKEN,
            twilio_whatsapp_from=BOT_NUMBER,
            twilio_api_url=self.api.url,
            twilio_content_url=None,  # the answers are read from the TwiML: numbered text
            public_url=PUBLIC,
            twilio_update_templates=TEMPLATES,
            whatsapp_rate=0.0,
        )
        http = await self.stack.enter_async_context(TwilioHttp(self.api.url))
        app = create_app(configured, twilio_http=http, clock=self.clock, announce=lambda _: None)
        await self.stack.enter_async_context(app.router.lifespan_context(app))
        self.web = await self.stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC)
        )

    async def post(self, pairs: list[tuple[str, str]]) -> tuple[int, str]:
        safe = [(k, v.encode("utf-8", "replace").decode()) for k, v in pairs]
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + WEBHOOK, _signed(safe))
        # As it would travel: a lone surrogate becomes bytes that are not UTF-8.
        body = urlencode(
            [
                (k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                for k, v in pairs
            ]
        )
        response = await self.web.post(
            WEBHOOK,
            content=body,
            headers={
                SIGNATURE_HEADER: signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        return response.status_code, response.text


class _Grouped(dict[str, list[str]]):
    """Every value of every key, the way twilio's validator asks for them."""

    def getall(self, key: str) -> list[str]:
        return self[key]


def _signed(pairs: list[tuple[str, str]]) -> _Grouped:
    grouped = _Grouped()
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def test_hostile_twilio_forms(settings: Settings, clock: Clock) -> None:
    loop = Loop()
    harness = Harness(settings, clock)
    statuses: dict[int, int] = {}
    with watched_logs() as errors:
        try:
            loop.run(harness.open())

            @fuzz_settings(EXAMPLES)
            @given(data=st.data())
            def post_one(data: st.DataObject) -> None:
                errors.take()
                pairs = data.draw(forms(harness.api, SIDS))
                status, text = loop.run(harness.post(pairs))
                statuses[status] = statuses.get(status, 0) + 1
                assert status in (200, 400, 403, 413), (status, text)
                if status == 200:
                    ET.fromstring(text)  # TwiML, whatever went in
                assert errors.take() == []

            post_one()
            pairs = list(
                inbound_params(
                    account_sid=SID, from_="whatsapp:+77019990001", to=BOT_NUMBER, body="Hello"
                ).items()
            )
            status, answer = loop.run(harness.post(pairs))
            assert status == 200 and "1. Қазақша" in "\n".join(bodies(answer)), answer
            assert errors.take() == []
        finally:
            loop.run(harness.stack.aclose())
            loop.close()
    assert statuses.get(200, 0) > sum(statuses.values()) // 2, statuses


SIDS = itertools.count(1)
