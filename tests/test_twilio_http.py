"""The real twilio library on our HTTP client, against the fake REST server; signatures."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from starlette.datastructures import FormData
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels.whatsapp.signature import public_url, validate_request
from bot.channels.whatsapp.twilio_http import TwilioHttp, quiet_twilio_logging, redact

try:
    from tests.fakes.twilio_api import FakeTwilioApi, inbound_params
except ModuleNotFoundError:  # bare `pytest`: tests/ is on sys.path, the project root is not
    from fakes.twilio_api import FakeTwilioApi, inbound_params  # type: ignore[no-redef]

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "test-auth-token"
FROM = "whatsapp:+77010000000"
CITIZEN = "whatsapp:+77011234567"
TEMPLATE = "HX" + "ab" * 16


@pytest.fixture
async def api() -> AsyncIterator[FakeTwilioApi]:
    async with FakeTwilioApi(SID, TOKEN) as fake:
        yield fake


@pytest.fixture
async def client(api: FakeTwilioApi) -> AsyncIterator[Client]:
    async with TwilioHttp(api.url) as http:
        yield Client(SID, TOKEN, http_client=http)


async def test_plain_message(api: FakeTwilioApi, client: Client) -> None:
    message = await client.messages.create_async(
        to=CITIZEN,
        from_=FROM,
        body="Сәлем! Ваша жалоба принята.",
        status_callback="https://govbot.example.kz/webhooks/twilio/status",
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert message.to == CITIZEN
    [sent] = await api.wait_for_sent(CITIZEN)
    assert sent["Body"] == "Сәлем! Ваша жалоба принята."
    assert sent["From"] == FROM
    assert sent["StatusCallback"] == "https://govbot.example.kz/webhooks/twilio/status"


async def test_template_message_with_content_variables(api: FakeTwilioApi, client: Client) -> None:
    api.define_template(TEMPLATE, "There is an update on your ticket {{1}}. Reply to read it.")
    message = await client.messages.create_async(
        to=CITIZEN,
        from_=FROM,
        content_sid=TEMPLATE,
        content_variables=json.dumps({"1": "KZ-2025-000042"}),
    )
    assert message.body == "There is an update on your ticket KZ-2025-000042. Reply to read it."
    [sent] = api.sent_to(CITIZEN)
    assert sent["ContentSid"] == TEMPLATE
    assert json.loads(sent["ContentVariables"]) == {"1": "KZ-2025-000042"}


async def test_media_urls_repeat_the_key(api: FakeTwilioApi, client: Client) -> None:
    urls = ["https://govbot.example.kz/m/1.jpg", "https://govbot.example.kz/m/2.pdf"]
    await client.messages.create_async(to=CITIZEN, from_=FROM, media_url=urls)
    assert api.sent_to(CITIZEN)[0]["MediaUrl"] == urls


async def test_wrong_credentials_are_refused(api: FakeTwilioApi) -> None:
    async with TwilioHttp(api.url) as http:
        client = Client(SID, "not-the-token", http_client=http)
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=CITIZEN, from_=FROM, body="hi")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert api.sent == [] and api.unauthorized == 1


async def test_429_surfaces_status_code_and_retry_after(api: FakeTwilioApi, client: Client) -> None:
    api.fail_next(429, retry_after=2)
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=CITIZEN, from_=FROM, body="hi")
    assert (caught.value.status, caught.value.code) == (429, 20429)
    # The fault is used up: the retry goes through.
    await client.messages.create_async(to=CITIZEN, from_=FROM, body="hi")
    assert len(api.sent_to(CITIZEN)) == 1


async def test_400_with_twilio_code(api: FakeTwilioApi, client: Client) -> None:
    api.fail_next(400, 63016, times=2)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=CITIZEN, from_=FROM, body="hi")
        assert (caught.value.status, caught.value.code) == (400, 63016)
    assert api.sent == []


async def test_validation_error_from_the_fake(client: Client) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=CITIZEN, from_=FROM, body="x" * 1601)
    assert (caught.value.status, caught.value.code) == (400, 21617)


async def test_500_surfaces(api: FakeTwilioApi, client: Client) -> None:
    api.fail_next(500)
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=CITIZEN, from_=FROM, body="hi")
    assert caught.value.status == 500


async def test_no_phone_number_or_body_in_logs(
    api: FakeTwilioApi, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    quiet_twilio_logging()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("twilio.async_http_client").setLevel(logging.DEBUG)  # a careless config
    await client.messages.create_async(to=CITIZEN, from_=FROM, body="secret complaint text")
    assert "7011234567" not in caplog.text
    assert "secret complaint text" not in caplog.text
    assert any(r.name == "bot.channels.whatsapp.twilio_http" for r in caplog.records)


async def test_media_needs_basic_auth(api: FakeTwilioApi) -> None:
    url = api.host_media(b"\xff\xd8\xff photo", "image/jpeg")
    async with TwilioHttp(api.url) as http:
        media = await http.download(url, auth=(SID, TOKEN), max_bytes=1024)
        assert (media.status, media.content_type, media.content) == (
            200,
            "image/jpeg",
            b"\xff\xd8\xff photo",
        )
        assert (await http.download(url, auth=(SID, "wrong"), max_bytes=1024)).status == 401
        assert (await http.download(url, auth=(SID, TOKEN), max_bytes=4)).too_large


def test_rewrite_moves_every_twilio_host_onto_the_root() -> None:
    http = TwilioHttp("http://127.0.0.1:9999/fake")
    assert (
        http.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1")
        == "http://127.0.0.1:9999/fake/2010-04-01/Accounts/AC1/Messages.json?x=1"
    )
    assert http.rewrite("https://content.dublin.ie1.twilio.com/v1/Content") == (
        "http://127.0.0.1:9999/fake/v1/Content"
    )
    assert http.rewrite("https://example.org/a") == "https://example.org/a"
    assert TwilioHttp().rewrite("https://api.twilio.com/x") == "https://api.twilio.com/x"


# -- signatures ------------------------------------------------------------------------

PUBLIC = "https://govbot.example.kz"
URL = public_url(PUBLIC, "/webhooks/twilio")
FORM = inbound_params(account_sid=SID, from_=CITIZEN, to=FROM, body="1")


def sign(url: str, params: object) -> str:
    return str(RequestValidator(TOKEN).compute_signature(url, params))


def test_numbers_and_bsuids_are_redacted_from_logged_paths() -> None:
    path = "/v2/PhoneNumbers/+77011234567/x/KZ.1502576394655843/US.ABC123XYZ/Messages.json"
    assert redact(path) == "/v2/PhoneNumbers/<redacted>/x/<redacted>/<redacted>/Messages.json"


def test_public_url_joins_exactly() -> None:
    assert public_url("https://govbot.example.kz/", "/webhooks/twilio") == URL
    assert public_url("https://x.kz/bot", "webhooks/twilio", "a=1") == (
        "https://x.kz/bot/webhooks/twilio?a=1"
    )


def test_signed_for_this_url_passes() -> None:
    assert validate_request(TOKEN, URL, FORM, sign(URL, FORM))
    assert validate_request(TOKEN, URL, FormData(list(FORM.items())), sign(URL, FORM))


def test_signed_for_another_url_fails() -> None:
    other = public_url(PUBLIC, "/webhooks/twilio/status")
    assert not validate_request(TOKEN, URL, FORM, sign(other, FORM))
    assert not validate_request(
        TOKEN, URL, FORM, sign("http://127.0.0.1:8080/webhooks/twilio", FORM)
    )


def test_missing_or_garbled_signature_fails() -> None:
    assert not validate_request(TOKEN, URL, FORM, None)
    assert not validate_request(TOKEN, URL, FORM, "")
    assert not validate_request(TOKEN, URL, FORM, "ünïcode")
    assert not validate_request("", URL, FORM, sign(URL, FORM))


def test_changed_parameter_fails() -> None:
    signature = sign(URL, FORM)
    assert not validate_request(TOKEN, URL, {**FORM, "Body": "2"}, signature)
    assert not validate_request(TOKEN, URL, {**FORM, "Extra": ""}, signature)


def test_repeated_keys_are_all_signed() -> None:
    pairs = [
        *FORM.items(),
        ("MediaUrl", "https://a.example/1"),
        ("MediaUrl", "https://a.example/2"),
    ]
    multi = FormData(pairs)
    signature = sign(URL, multi)
    assert validate_request(TOKEN, URL, multi, signature)
    assert validate_request(TOKEN, URL, pairs, signature)
    dropped = FormData(pairs[:-1])
    assert not validate_request(TOKEN, URL, dropped, signature)


def test_default_port_variants_pass() -> None:
    assert validate_request(
        TOKEN, URL, FORM, sign("https://govbot.example.kz:443/webhooks/twilio", FORM)
    )


async def test_fake_delivers_signed_status_callbacks(api: FakeTwilioApi, client: Client) -> None:
    """The fake's own signing agrees with our validator, end to end over HTTP."""
    seen: list[bool] = []

    async def status(request: web.Request) -> web.Response:
        form = await request.post()
        signed = public_url(PUBLIC, request.path)
        ok = validate_request(TOKEN, signed, form, request.headers.get("X-Twilio-Signature"))
        seen.append(ok and form["MessageStatus"] == "failed" and form["ErrorCode"] == "63016")
        return web.Response(status=204 if ok else 403)

    app = web.Application()
    app.router.add_post("/webhooks/twilio/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        api.callback_base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        api.fail_next(code=63016, deferred=True)
        message = await client.messages.create_async(
            to=CITIZEN, from_=FROM, body="late", status_callback=URL + "/status"
        )
        assert message.status == "queued"
        for _ in range(100):
            if api.callbacks:
                break
            await asyncio.sleep(0.01)
        assert seen == [True]
        assert api.sent_to(CITIZEN)[0]["Status"] == "failed"
    finally:
        await runner.cleanup()
