"""Telegram updates (raw Bot API JSON) turned into our `Inbound`, without any I/O.

`parse_update` also names what the adapter still has to do around the dispatcher: files to
fetch through getFile, the callback query to answer, the keyboard message to clear, and
whether the chat is private at all. `to_inbound` is the pure mapping alone.

The JSON is taken as it comes, not as the Bot API documents it: any field may hold any
JSON value (1e400 parses to infinity, a 400-digit id is a Python int). Each field is read
through a typed accessor, so a wrong optional field counts as absent, and a wrong field
we cannot do without (the chat id) raises `MalformedUpdate`, never anything else on
purpose. Text is cleaned of lone surrogates here (bot/text.py), before the core sees it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.domain import AttachmentKind, Channel, Inbound, Location
from bot.text import clean_optional

# Update kinds we ask Telegram for; anything else is ignored (and logged) if it arrives.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "channel_post")
_MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")
_NOT_TEXT = frozenset({"sticker", "dice"})
# Bot API ids fit in 52 bits (chat ids) or 64; anything beyond is not an id.
_ID_LIMIT = 2**63
_EMPTY: Mapping[str, Any] = {}


class MalformedUpdate(ValueError):
    """An update we cannot act on. str(err) names the field, never its value: the value may
    be what the citizen wrote."""


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file the citizen sent, still on Telegram's side."""

    file_id: str
    kind: AttachmentKind
    size: int | None
    mime_type: str | None
    file_name: str | None


@dataclass(frozen=True, slots=True)
class Incoming:
    """One update, parsed: the inbound plus the Telegram-side work around it."""

    inbound: Inbound
    chat_id: int
    update_id: int | None = None
    files: tuple[FileRef, ...] = ()
    callback_id: str | None = None
    pressed_message_id: int | None = None
    private: bool = True


def to_inbound(update: object) -> Inbound | None:
    """The channel-neutral message an update carries, or None for updates we do not handle."""
    incoming = parse_update(update)
    return incoming.inbound if incoming is not None else None


def parse_update(update: object) -> Incoming | None:
    """None for update kinds we do not handle (inline queries, chat member changes...);
    MalformedUpdate for an update without a usable update_id or chat."""
    if not isinstance(update, Mapping):
        raise MalformedUpdate("update is not an object")
    update_id = _int(update.get("update_id"))
    if update_id is None:
        raise MalformedUpdate("update_id is not an integer")
    external_id = str(update_id)
    query = update.get("callback_query")
    if isinstance(query, Mapping):
        return _callback(query, update_id, external_id)
    for key in _MESSAGE_KEYS:
        message = update.get(key)
        if isinstance(message, Mapping):
            return _message(message, update_id, external_id, edited=key.startswith("edited_"))
    return None


def _callback(query: Mapping[str, Any], update_id: int, external_id: str) -> Incoming:
    user = _map(query.get("from"))
    message = _map(query.get("message"))
    chat = message.get("chat")
    if isinstance(chat, Mapping):
        chat_id, private = _int(chat.get("id")), chat.get("type") == "private"
    else:
        chat_id, private = _int(user.get("id")), True
    if chat_id is None:
        raise MalformedUpdate("callback_query chat.id is not an integer")
    query_id = query.get("id")
    if not isinstance(query_id, str) or not query_id:
        raise MalformedUpdate("callback_query.id is not a string")
    data = clean_optional(query.get("data"))
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_key=str(chat_id),
        payload=data or None,
        locale_hint=clean_optional(user.get("language_code")),
        external_id=external_id,
        profile_name=clean_optional(user.get("first_name")),
        # A press without data (a game button, say) cannot be anything we offered.
        unsupported=None if data else "input.stale_button",
    )
    # An "inaccessible message" (too old for the bot to see) comes with date 0.
    pressed = _int(message.get("message_id")) if _int(message.get("date")) else None
    return Incoming(
        inbound,
        chat_id=chat_id,
        update_id=update_id,
        callback_id=query_id,
        pressed_message_id=pressed,
        private=private,
    )


def _message(
    message: Mapping[str, Any], update_id: int, external_id: str, *, edited: bool
) -> Incoming:
    chat = message.get("chat")
    if not isinstance(chat, Mapping):
        raise MalformedUpdate("message.chat is not an object")
    chat_id = _int(chat.get("id"))
    if chat_id is None:
        raise MalformedUpdate("message.chat.id is not an integer")
    user = _map(message.get("from"))
    raw = clean_optional(message.get("text"))
    caption = clean_optional(message.get("caption"))
    text = raw if raw is not None else caption if caption is not None else ""
    if raw is not None and text.startswith("/"):
        # "/menu@govbot_bot" in a group → "/menu"
        command, sep, rest = text.partition(" ")
        text = command.split("@", 1)[0] + sep + rest
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_key=str(chat_id),
        text=text,
        locale_hint=clean_optional(user.get("language_code")),
        external_id=external_id,
        profile_name=clean_optional(user.get("first_name")),
        reply_to=_reply_to(message),
    )
    files = _files(message)
    location = _location(message)
    if location is not None:
        inbound = replace(inbound, location=location)
    if edited:
        inbound = replace(inbound, text="", unsupported="input.edited")
        files = ()
    elif _NOT_TEXT.intersection(message):
        inbound = replace(inbound, unsupported="input.sticker")
    elif not text and not files and location is None:
        # A contact, a poll, a service note...: nothing we can read as an answer.
        inbound = replace(inbound, unsupported="input.use_text")
    return Incoming(
        inbound,
        chat_id=chat_id,
        update_id=update_id,
        files=files,
        private=chat.get("type") == "private",
    )


def _reply_to(message: Mapping[str, Any]) -> str | None:
    """The id of the message this one replies to, as the sender stored it (str)."""
    replied = _int(_map(message.get("reply_to_message")).get("message_id"))
    return str(replied) if replied is not None else None


def _files(message: Mapping[str, Any]) -> tuple[FileRef, ...]:
    photos = message.get("photo")
    if isinstance(photos, list) and photos:
        # Telegram lists the sizes smallest first: the last one is the original.
        ref = _ref(photos[-1], AttachmentKind.PHOTO, "image/jpeg")
        return (ref,) if ref is not None else ()
    for key, kind, default_type in (
        ("document", AttachmentKind.DOCUMENT, None),
        ("voice", AttachmentKind.VOICE, "audio/ogg"),
        ("audio", AttachmentKind.AUDIO, None),
        ("video", AttachmentKind.VIDEO, "video/mp4"),
        ("video_note", AttachmentKind.VIDEO, "video/mp4"),
    ):
        ref = _ref(message.get(key), kind, default_type)
        if ref is not None:
            return (ref,)
    return ()


def _ref(item: object, kind: AttachmentKind, default_type: str | None) -> FileRef | None:
    if not isinstance(item, Mapping):
        return None
    file_id = item.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        return None
    size = _int(item.get("file_size"))
    return FileRef(
        file_id=file_id,
        kind=kind,
        size=size if size is not None and size >= 0 else None,
        mime_type=clean_optional(item.get("mime_type")) or default_type,
        file_name=clean_optional(item.get("file_name")),
    )


def _location(message: Mapping[str, Any]) -> Location | None:
    venue = message.get("venue")
    loc = venue.get("location") if isinstance(venue, Mapping) else message.get("location")
    if not isinstance(loc, Mapping):
        return None
    latitude, longitude = _coordinate(loc.get("latitude")), _coordinate(loc.get("longitude"))
    if latitude is None or longitude is None:
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    address = clean_optional(venue.get("address")) if isinstance(venue, Mapping) else None
    return Location(latitude, longitude, address)


def _int(value: object) -> int | None:
    """An id as the Bot API sends one; None for a bool, float, string or out-of-range int."""
    if type(value) is int and -_ID_LIMIT < value < _ID_LIMIT:
        return value
    return None


def _coordinate(value: object) -> float | None:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int and -1000 < value < 1000:  # float() of a huge int overflows
        return float(value)
    return None


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY
