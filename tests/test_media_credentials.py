"""Twilio credentials go only to Twilio: a MediaUrl (or a redirect) naming another host
gets no Basic auth, and the citizen is told the file could not be received.

The attacker is a second local server that records every Authorization header it sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bot.channels.whatsapp.twilio_http import MediaRefused, TwilioHttp
from bot.config import Settings
from tests.conftest import Clock
from tests.whatsapp_chat import SID, TOKEN, running_bot

NUMBER = "+77011234567"


@dataclass
class Snoop:
    """A local server that hands out a JPEG and remembers who sent what credentials."""

    url: str = ""
    seen: list[str | None] = field(default_factory=list)
    redirect_to: str = ""

    async def _any(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.headers.get("Authorization"))
        if request.path == "/hop" and self.redirect_to:
            raise web.HTTPFound(self.redirect_to)
        return web.Response(body=b"\xff\xd8\xff stolen", content_type="image/jpeg")


@pytest.fixture
async def snoop() -> AsyncIterator[Snoop]:
    found = Snoop()
    app = web.Application()
    app.router.add_get("/{tail:.*}", found._any)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield found
    await runner.cleanup()


async def test_a_media_url_on_another_host_gets_no_credentials(snoop: Snoop) -> None:
    async with TwilioHttp("http://127.0.0.1:1/fake-twilio") as http:
        with pytest.raises(MediaRefused):
            await http.download(
                snoop.url + "/2010-04-01/Accounts/AC1/Media/ME1?sig=x",
                auth=(SID, TOKEN),
                max_bytes=1024,
            )
    assert snoop.seen == []


async def test_a_redirect_from_twilio_carries_no_credentials_off_twilio(snoop: Snoop) -> None:
    # The "Twilio" side is the configured root; it redirects to a host that is not.
    twilio = Snoop()
    app = web.Application()
    app.router.add_get("/{tail:.*}", twilio._any)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    twilio.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        twilio.redirect_to = snoop.url + "/cdn/file"
        async with TwilioHttp(twilio.url) as http:
            # Plain http off the configured root: refused before any request goes there.
            with pytest.raises(MediaRefused):
                await http.download(twilio.url + "/hop", auth=(SID, TOKEN), max_bytes=1024)
        assert twilio.seen and twilio.seen[0] is not None and twilio.seen[0].startswith("Basic")
        assert snoop.seen == []
    finally:
        await runner.cleanup()


def test_which_hosts_get_credentials() -> None:
    http = TwilioHttp()  # the real api.twilio.com root
    media = "/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    assert http.may_authenticate("https://api.twilio.com" + media)
    assert http.may_authenticate("https://api.dublin.ie1.twilio.com" + media)
    assert http.may_authenticate("https://media.twiliocdn.com/AC1/abc")
    for url in [
        "http://api.twilio.com" + media,  # not https
        "https://api.twilio.com:8443" + media,
        "https://api.twilio.com.evil.example" + media,
        "https://evil-twilio.com" + media,
        "https://twiliocdn.com.evil.example/x",
        "https://user:pw@evil.example@api.twilio.com" + media,
        "http://127.0.0.1:8080" + media,
        "https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC1/abc",
    ]:
        assert not http.may_authenticate(url), url


async def test_the_citizen_is_told_and_the_attacker_sees_no_credentials(
    settings: Settings, clock: Clock, snoop: Snoop
) -> None:
    async with running_bot(settings, clock) as bot:
        chat = bot.chat(NUMBER)
        await chat.send("hi")
        await chat.send("3")  # English
        for step in ("1", "1", "1", "1", "A very long queue at the service centre, three hours"):
            await chat.send(step)
        await chat.send("1")
        assert "evidence" in chat.text.lower()
        await chat.send(media=[(snoop.url + "/Media/ME1?token=secret", "image/jpeg")])
        assert "could not receive this file" in chat.text
        assert snoop.seen == []


@pytest.mark.parametrize("url", ["https://[zz/x", "https://api.evil.com\uff0f.twilio.com/x"])
@pytest.mark.parametrize("api_root", ["https://api.twilio.com", "http://127.0.0.1:9"])
async def test_a_media_url_that_does_not_parse_is_refused_not_a_500(
    url: str, api_root: str
) -> None:
    # Review: urlsplit raised ValueError ("Invalid IPv6 URL", NFKC characters) from a
    # signed MediaUrl0, and the webhook answered 500.
    async with TwilioHttp(api_root) as http:
        with pytest.raises(MediaRefused):
            await http.download(url, auth=("AC1", "secret"), max_bytes=1000)
