"""Channel-neutral message types: what every adapter turns platform events into and out of.

Flows and the dispatcher only ever see these; an adapter owns the mapping to
Telegram updates, Twilio form posts or terminal lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

# The languages citizens and staff are served in, Kazakh first (the state language).
LANGUAGES: tuple[str, ...] = ("kk", "ru", "en")


class Channel(StrEnum):
    CONSOLE = "console"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"


class AttachmentKind(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"
    VOICE = "voice"
    AUDIO = "audio"
    VIDEO = "video"
    STICKER = "sticker"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the citizen sent, already checked and stored (encrypted) in the attachment store."""

    kind: AttachmentKind
    content_type: str
    size: int
    blob_id: str
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a citizen did: typed, pressed a button, sent a file or a location."""

    channel: Channel
    chat_key: str
    text: str = ""
    payload: str | None = None
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    locale_hint: str | None = None
    external_id: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Something the adapter could not turn into text or a file (a sticker, an edited
    # message, a file that was refused). Its value is a catalog msgid explaining why.
    unsupported: str | None = None
    # A display name the platform gave (Telegram first name, WhatsApp ProfileName).
    # Never stored for an anonymous tip; flows may offer it as a default elsewhere.
    profile_name: str | None = None
    # The platform id of the bot's message this one answers (a Telegram reply): the
    # outbox keeps the id each staff message was sent under, so the answer finds its ticket.
    reply_to: str | None = None
    # Other keys the platform names for the same chat (a WhatsApp user's BSUID beside the
    # number): the citizen found by any of them is the one, and the keys are linked to it.
    linked_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Button:
    """An option offered to the citizen.

    `payload` is a short key (it must fit Telegram's 64-byte callback data); `label` is
    shown in the citizen's language; `aliases` hold the same label in the other languages
    so that a typed answer ("Шағым", "complaint") matches on any channel.
    """

    payload: str
    label: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Media:
    blob_id: str
    content_type: str
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """Something to say back: text, optional buttons (one per row), optional media."""

    text: str
    buttons: tuple[Button, ...] = ()
    media: tuple[Media, ...] = ()
    # Where buttons are numbered (WhatsApp, the terminal): the number of the first. A
    # message from outside the conversation continues the options on screen (bot/link_options.py).
    first_number: int = 1
    # Where a channel shows options a page at a time (a WhatsApp list holds 10): show the
    # page holding the option of this number (bot/paging.py).
    page_of: int = 1
    # The question asks for a shared location, among other things: WhatsApp says how to
    # share one (its attachment menu hides it).
    takes_location: bool = False
