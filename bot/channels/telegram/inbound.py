"""Telegram updates (raw Bot API JSON) turned into our `Inbound`, without any I/O.

`parse_update` also names what the adapter still has to do around the dispatcher: files to
fetch through getFile, the callback query to answer, the keyboard message to clear, and
whether the chat is private at all. `to_inbound` is the pure mapping alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.domain import AttachmentKind, Channel, Inbound, Location

# Update kinds we ask Telegram for; anything else is ignored (and logged) if it arrives.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "channel_post")
_MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")
_NOT_TEXT = frozenset({"sticker", "dice"})


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


def to_inbound(update: Mapping[str, Any]) -> Inbound | None:
    """The channel-neutral message an update carries, or None for updates we do not handle."""
    incoming = parse_update(update)
    return incoming.inbound if incoming is not None else None


def parse_update(update: Mapping[str, Any]) -> Incoming | None:
    """None for update kinds we do not handle (inline queries, chat member changes...)."""
    update_id = update.get("update_id")
    update_id = update_id if isinstance(update_id, int) else None
    external_id = str(update_id) if update_id is not None else None
    query = update.get("callback_query")
    if isinstance(query, Mapping):
        return _callback(query, update_id, external_id)
    for key in _MESSAGE_KEYS:
        message = update.get(key)
        if isinstance(message, Mapping):
            return _message(message, update_id, external_id, edited=key.startswith("edited_"))
    return None


def _callback(query: Mapping[str, Any], update_id: int | None, external_id: str | None) -> Incoming:
    user = query.get("from") or {}
    message = query.get("message") or {}
    chat = message.get("chat") or {"id": user["id"], "type": "private"}
    data = query.get("data")
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_key=str(chat["id"]),
        payload=data if isinstance(data, str) and data else None,
        locale_hint=user.get("language_code"),
        external_id=external_id,
        profile_name=user.get("first_name"),
        # A press without data (a game button, say) cannot be anything we offered.
        unsupported=None if data else "input.stale_button",
    )
    # An "inaccessible message" (too old for the bot to see) comes with date 0.
    pressed = message.get("message_id") if message.get("date") else None
    return Incoming(
        inbound,
        chat_id=int(chat["id"]),
        update_id=update_id,
        callback_id=str(query["id"]),
        pressed_message_id=pressed,
        private=chat.get("type") == "private",
    )


def _message(
    message: Mapping[str, Any], update_id: int | None, external_id: str | None, *, edited: bool
) -> Incoming:
    chat = message["chat"]
    user = message.get("from") or {}
    raw = message.get("text")
    caption = message.get("caption")
    text: str = raw if isinstance(raw, str) else caption if isinstance(caption, str) else ""
    if isinstance(raw, str) and text.startswith("/"):
        # "/menu@govbot_bot" in a group → "/menu"
        command, sep, rest = text.partition(" ")
        text = command.split("@", 1)[0] + sep + rest
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_key=str(chat["id"]),
        text=text,
        locale_hint=user.get("language_code"),
        external_id=external_id,
        profile_name=user.get("first_name"),
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
        chat_id=int(chat["id"]),
        update_id=update_id,
        files=files,
        private=chat.get("type") == "private",
    )


def _files(message: Mapping[str, Any]) -> tuple[FileRef, ...]:
    photos = message.get("photo")
    if isinstance(photos, list) and photos:
        # Telegram lists the sizes smallest first: the last one is the original.
        return (_ref(photos[-1], AttachmentKind.PHOTO, "image/jpeg"),)
    for key, kind, default_type in (
        ("document", AttachmentKind.DOCUMENT, None),
        ("voice", AttachmentKind.VOICE, "audio/ogg"),
        ("audio", AttachmentKind.AUDIO, None),
        ("video", AttachmentKind.VIDEO, "video/mp4"),
        ("video_note", AttachmentKind.VIDEO, "video/mp4"),
    ):
        item = message.get(key)
        if isinstance(item, Mapping) and item.get("file_id"):
            return (_ref(item, kind, default_type),)
    return ()


def _ref(item: Mapping[str, Any], kind: AttachmentKind, default_type: str | None) -> FileRef:
    size = item.get("file_size")
    return FileRef(
        file_id=str(item["file_id"]),
        kind=kind,
        size=size if isinstance(size, int) else None,
        mime_type=item.get("mime_type") or default_type,
        file_name=item.get("file_name"),
    )


def _location(message: Mapping[str, Any]) -> Location | None:
    venue = message.get("venue")
    loc = venue.get("location") if isinstance(venue, Mapping) else message.get("location")
    if not isinstance(loc, Mapping):
        return None
    address = venue.get("address") if isinstance(venue, Mapping) else None
    return Location(float(loc["latitude"]), float(loc["longitude"]), address)
