"""The pure parts of the WhatsApp channel: form → Inbound, replies → bodies and TwiML,
Twilio errors → DeliveryError."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException

from bot.channels.whatsapp.inbound import BadForm, MediaRef, media_refs, to_inbound
from bot.channels.whatsapp.render import EMPTY_TWIML, MAX_BODY, render, split, twiml
from bot.channels.whatsapp.sender import delivery_error
from bot.domain import Button, Channel, Location, Reply
from bot.i18n import Catalogs
from tests.fakes.twilio_api import inbound_params

SID = "AC" + "0" * 32


def form(**changes: str) -> dict[str, str]:
    params = inbound_params(
        account_sid=SID, from_="whatsapp:+77011234567", to="whatsapp:+77010000000", body="1"
    )
    params.update(changes)
    return params


def test_to_inbound_keys_the_chat_by_the_e164_number() -> None:
    msg = to_inbound(form(Body="Сәлем", MessageSid="SM" + "a" * 32))
    assert (msg.channel, msg.chat_key, msg.text) == (Channel.WHATSAPP, "+77011234567", "Сәлем")
    assert msg.external_id == "SM" + "a" * 32
    assert msg.location is None and msg.unsupported is None


@pytest.mark.parametrize(
    "sender",
    [
        "",
        "+77011234567",
        "whatsapp:77011234567",
        "whatsapp:abc",
        "KZ.1502576394655843",  # a BSUID is a WhatsApp address only after "whatsapp:"
        "whatsapp:kz.1502576394655843",
        "whatsapp:KZ.ENT.1502576394655843",  # a parent BSUID names no chat
        "whatsapp:KZ." + "1" * 129,
    ],
)
def test_to_inbound_refuses_what_is_not_a_whatsapp_number(sender: str) -> None:
    with pytest.raises(BadForm) as caught:
        to_inbound(form(From=sender))
    assert "7011234567" not in str(caught.value)


def test_a_user_who_hides_their_number_is_keyed_by_the_bsuid() -> None:
    msg = to_inbound(form(From="whatsapp:KZ.1502576394655843", WaId="KZ.1502576394655843"))
    assert (msg.chat_key, msg.linked_keys) == ("KZ.1502576394655843", ())


@pytest.mark.parametrize(
    ("fields", "linked"),
    [
        ({"ExternalUserId": "KZ.1502576394655843"}, ("KZ.1502576394655843",)),
        ({"ExternalUserIdentifier": "whatsapp:KZ.150257"}, ("KZ.150257",)),
        ({"ExternalUserId": "KZ.150257", "ExternalUserIdentifier": "KZ.150257"}, ("KZ.150257",)),
        ({"ExternalUserId": "not a user"}, ()),  # left out, the message still taken
        ({"ExternalUserId": "KZ.ENT.150257"}, ()),
        ({"WaId": "77011234567"}, ()),  # the number From already names
    ],
)
def test_the_bsuid_beside_a_number_is_a_linked_key(
    fields: dict[str, str], linked: tuple[str, ...]
) -> None:
    msg = to_inbound(form(**fields))
    assert (msg.chat_key, msg.linked_keys) == ("+77011234567", linked)


def test_the_number_beside_a_bsuid_is_a_linked_key() -> None:
    msg = to_inbound(form(From="whatsapp:KZ.1502576394655843", WaId="77011234567"))
    assert (msg.chat_key, msg.linked_keys) == ("KZ.1502576394655843", ("+77011234567",))


def test_location_and_media() -> None:
    located = to_inbound(
        form(Body="", Latitude="43.238", Longitude="76.945", Address="Алматы, Абая 10")
    )
    assert located.location == Location(43.238, 76.945, "Алматы, Абая 10")
    assert to_inbound(form(Latitude="nan", Longitude="1")).location is None
    assert to_inbound(form(Latitude="91", Longitude="1")).location is None
    media = form(NumMedia="2", MediaUrl0="https://a/0", MediaContentType0="image/jpeg")
    media.update(MediaUrl1="https://a/1", MediaContentType1="application/pdf")
    assert media_refs(media, limit=5) == [
        MediaRef("https://a/0", "image/jpeg"),
        MediaRef("https://a/1", "application/pdf"),
    ]
    assert media_refs(media, limit=1) == [MediaRef("https://a/0", "image/jpeg")]
    assert media_refs(form(NumMedia="x"), limit=5) == []


def test_a_sticker_is_unsupported() -> None:
    assert to_inbound(form(Body="", MessageType="sticker")).unsupported == "input.sticker"


def test_buttons_are_numbered_with_a_hint(catalogs: Catalogs) -> None:
    reply = Reply("Выберите категорию", (Button("cat:a", "Налоги"), Button("g:menu", "Меню")))
    [body] = render([reply], catalogs["ru"])
    assert body == (
        "Выберите категорию\n\n1. Налоги\n2. Меню\n\nОтветьте цифрой выбранного варианта."
    )
    [question] = render([Reply("Опишите", (Button("g:back", "Назад"),))], catalogs["kk"])
    assert question == "Опишите\n\n1. Назад"
    [no_menu] = render([Reply("Confirm?", (Button("ok", "Yes"),))], catalogs["en"])
    assert no_menu.endswith("or 0 for the main menu.")


def test_long_bodies_are_split_at_breaks_within_the_limit(catalogs: Catalogs) -> None:
    paragraph = "Сөйлем. " * 60  # 480 characters
    text = "\n\n".join([paragraph.strip()] * 8)
    pieces = split(text)
    assert len(pieces) >= 3 and all(len(p) <= MAX_BODY for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    assert all(p.endswith(".") for p in pieces)  # cut between paragraphs, not inside words
    assert split("x" * 3500) == ["x" * 1600, "x" * 1600, "x" * 300]
    assert render([], catalogs["en"]) == []


def test_twiml_escapes_and_drops_characters_xml_cannot_carry() -> None:
    answer = twiml(["<b>Tom & Jerry</b>\x07", "второе"])
    root = ET.fromstring(answer)
    assert [m.text for m in root.iter("Message")] == ["<b>Tom & Jerry</b>", "второе"]
    assert twiml([]) == EMPTY_TWIML


@pytest.mark.parametrize(
    ("status", "code", "retryable", "blocked", "unknown"),
    [
        (429, 20429, True, False, False),
        (500, 20500, False, False, True),  # Twilio may have created the message
        (503, 20503, True, False, False),  # refused at the door
        (400, 63024, False, True, False),
        (400, 21610, False, True, False),
        (400, 21211, False, False, False),
        (401, 20003, False, False, False),
    ],
)
def test_twilio_errors_are_translated_once(
    status: int, code: int, retryable: bool, blocked: bool, unknown: bool
) -> None:
    err = delivery_error(TwilioRestException(status, "https://api.twilio.com/x", "no", code))
    assert (err.retryable, err.blocked, err.unknown, err.code) == (
        retryable,
        blocked,
        unknown,
        str(code),
    )
    assert (err.retry_after is not None) == (status == 429)


def test_a_timeout_is_unknown_and_no_connection_is_a_plain_failure() -> None:
    timed_out = delivery_error(TimeoutError())
    assert (timed_out.unknown, timed_out.retryable, timed_out.code) == (True, False, "timeout")
    dropped = delivery_error(aiohttp.ServerDisconnectedError())
    assert (dropped.unknown, dropped.retryable) == (True, False)
    key = SimpleNamespace(host="api.twilio.com", port=443, ssl=True)
    refused = delivery_error(aiohttp.ClientConnectorError(key, OSError(111, "refused")))
    assert (refused.unknown, refused.retryable) == (False, True)
    assert delivery_error(aiohttp.ConnectionTimeoutError()).retryable
