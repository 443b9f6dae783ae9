"""A Twilio WhatsApp webhook form turned into an `Inbound`: pure, no I/O, no twilio import.

The chat key is what From names: the citizen's number in E.164 ("+77011234567") or, for one
who hides it behind a WhatsApp username, their BSUID ("KZ.1502576394655843",
bot/whatsapp_ids.py); the other of the two, when the form names it too, is a linked key.
The storage layer keeps keys only hashed and encrypted, and nothing here logs them. Media
URLs are returned separately: the adapter downloads them (with the account's credentials)
before the dispatcher runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain import Channel, Inbound, Location
from bot.text import clean_text
from bot.whatsapp_ids import PHONE, is_chat_key

PREFIX = "whatsapp:"
# Where a form names the sender besides From. Twilio's changelog (20 July 2026) calls the
# BSUID field of Programmable Messaging webhooks ExternalUserIdentifier; integrations
# built on it (nyaruka/courier, chatwoot) read ExternalUserId. No page we found shows a
# form, so both are taken, and WaId, the sender's WhatsApp id (the number's digits without
# "+", or the BSUID). Each is a claim about the same signed request, never a reason to
# refuse it: a value that is no WhatsApp user is left out.
_ALSO_NAMED_BY = ("ExternalUserId", "ExternalUserIdentifier", "WaId")
# Twilio's MessageType values that carry nothing we can take as text, file or location.
_UNSUPPORTED_TYPES = {"sticker": "input.sticker"}


class BadForm(ValueError):
    """The form is not a WhatsApp message we can take; str(err) names the field, never a value."""


@dataclass(frozen=True, slots=True)
class MediaRef:
    url: str
    content_type: str | None


def chat_key(address: str) -> str:
    """ "whatsapp:+77011234567" → "+77011234567", "whatsapp:KZ.150…" → "KZ.150…";
    BadForm for anything else."""
    if not address:
        raise BadForm("From is missing")
    if not address.startswith(PREFIX):
        raise BadForm("From is not a WhatsApp address")
    key = address[len(PREFIX) :].strip()
    if not is_chat_key(key):
        raise BadForm("From is neither an E.164 number nor a BSUID")
    return key


def linked_keys(form: Mapping[str, str], key: str) -> tuple[str, ...]:
    """The sender's other name in `form` (the BSUID beside a number, or the number beside
    a BSUID), if the form gives one: the same citizen as `key`."""
    found: list[str] = []
    for field in _ALSO_NAMED_BY:
        value = (form.get(field) or "").strip().removeprefix(PREFIX)
        if value.isdigit() and PHONE.fullmatch("+" + value):
            value = "+" + value  # WaId: a number's digits
        if is_chat_key(value) and value != key and value not in found:
            found.append(value)
    return tuple(found)


def address(key: str) -> str:
    """The Twilio address of a chat key: "+7701…" → "whatsapp:+7701…", "KZ.150…" →
    "whatsapp:KZ.150…"."""
    return PREFIX + key


def to_inbound(form: Mapping[str, str], *, received_at: datetime | None = None) -> Inbound:
    """The message in `form` (one value per key) as the dispatcher's `Inbound`."""
    key = chat_key(form.get("From", ""))
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or None
    # A tap on a quick reply or a list item (bot.channels.whatsapp.content) carries the
    # option's id, the payload Telegram's buttons carry too, as ButtonPayload (a list item
    # as ListId where Twilio sends that), and its title as Body, ButtonText or ListTitle.
    tapped = form.get("ButtonPayload") or form.get("ListId") or ""
    title = form.get("ButtonText") or form.get("ListTitle") or ""
    text = clean_text(form.get("Body", "") or title)
    message_type = form.get("MessageType", "").lower()
    return Inbound(
        channel=Channel.WHATSAPP,
        chat_key=key,
        linked_keys=linked_keys(form, key),
        text=text,
        payload=clean_text(tapped) or None,
        location=_location(form),
        external_id=sid,
        received_at=received_at or datetime.now(UTC),
        unsupported=_UNSUPPORTED_TYPES.get(message_type) if not text else None,
        profile_name=clean_text(form.get("ProfileName") or "") or None,
    )


def media_refs(form: Mapping[str, str], *, limit: int) -> list[MediaRef]:
    """MediaUrl0..N-1 (N = NumMedia), at most `limit` (WhatsApp sends one file a message)."""
    try:
        count = max(0, int(form.get("NumMedia", "0") or 0))
    except ValueError:
        count = 0
    refs = []
    for i in range(min(count, limit)):
        url = form.get(f"MediaUrl{i}")
        if url:
            refs.append(MediaRef(url, form.get(f"MediaContentType{i}") or None))
    return refs


def _location(form: Mapping[str, str]) -> Location | None:
    """A shared location: Latitude and Longitude (in range), Label and Address if given."""
    lat, lon = form.get("Latitude"), form.get("Longitude")
    if not lat or not lon:
        return None
    try:
        latitude, longitude = float(lat), float(lon)
    except ValueError:
        return None
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    # A place picked from WhatsApp's list comes with its name (Label) and its Address; a
    # pin dropped on the map with neither. Staff read them together, as one line.
    named = [clean_text(form.get(field) or "") for field in ("Label", "Address")]
    place = ", ".join(dict.fromkeys(part for part in named if part))
    return Location(latitude, longitude, place or None)
