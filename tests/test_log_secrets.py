"""With LOG_LEVEL=DEBUG, nothing a person typed and no phone number reaches the logs.

aiosqlite logs each call with its SQL parameters at DEBUG: a password typed into the user
name field came out as `('Hunter2-MySecretPassword',)`. The setup in bot/cli.py keeps
library loggers at WARNING whatever LOG_LEVEL says.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from twilio.rest import Client

from bot.channels.whatsapp.twilio_http import TwilioHttp
from bot.logs import LIBRARY_LOGGERS, setup_logging
from tests.fakes.twilio_api import FakeTwilioApi
from tests.staff import console, sign_in

SECRET = "Hunter2-MySecretPassword"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "test-auth-token"
PHONE = "+77017654321"
TEXT = "Жалоба: в ЦОНе требовали взятку"


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """`setup_logging("DEBUG")` as `govbot run` does, caplog re-attached (basicConfig
    replaces the root's handlers), and everything put back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    libraries = {n: logging.getLogger(n) for n in LIBRARY_LOGGERS}
    saved = {n: (lg.level, lg.filters[:]) for n, lg in libraries.items()}
    setup_logging("DEBUG")
    root.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        for handler in root.handlers:
            if handler not in saved_handlers:
                root.removeHandler(handler)
        for handler in saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved_level)
        for name, (level, filters) in saved.items():
            libraries[name].setLevel(level)
            libraries[name].filters[:] = filters


def everything(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )


async def test_debug_logs_carry_no_typed_secret_phone_or_text(
    debug_logging: pytest.LogCaptureFixture, settings, clock
) -> None:
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        refused = await sign_in(c.client(), SECRET, "wrong password")
        assert refused.status_code in (400, 401, 403, 429)
    async with FakeTwilioApi(SID, TOKEN) as api, TwilioHttp(api.url) as http:
        client = Client(SID, TOKEN, http_client=http)
        await client.messages.create_async(
            to="whatsapp:" + PHONE, from_="whatsapp:+77010000000", body=TEXT
        )
        await api.wait_for_sent("whatsapp:" + PHONE)
    assert logging.getLogger().isEnabledFor(logging.DEBUG)
    assert debug_logging.records, "nothing was logged at all: the capture is not working"
    logged = everything(debug_logging)
    assert SECRET not in logged
    assert "7017654321" not in logged
    assert "взятку" not in logged
