"""to_inbound / parse_update on real Bot API update JSON (shapes as Telegram sends them)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from bot.channels.telegram.inbound import Incoming, MalformedUpdate, parse_update, to_inbound
from bot.domain import AttachmentKind, Channel, Location

USER = {"id": 42, "is_bot": False, "first_name": "Айгүл", "language_code": "kk"}
PRIVATE = {"id": 42, "first_name": "Айгүл", "type": "private"}


def message(**content: Any) -> dict[str, Any]:
    return {
        "update_id": 100,
        "message": {"message_id": 7, "from": USER, "chat": PRIVATE, "date": 1, **content},
    }


def test_text() -> None:
    inbound = to_inbound(message(text="Сәлем <b>*"))
    assert inbound is not None
    assert inbound.channel is Channel.TELEGRAM
    assert (inbound.chat_key, inbound.text, inbound.external_id) == ("42", "Сәлем <b>*", "100")
    assert (inbound.locale_hint, inbound.profile_name) == ("kk", "Айгүл")


def test_command_with_bot_name() -> None:
    entities = [{"offset": 0, "length": 14, "type": "bot_command"}]
    inbound = to_inbound(message(text="/menu@govbot_bot now", entities=entities))
    assert inbound is not None and inbound.text == "/menu now"


def test_callback_query() -> None:
    update = {
        "update_id": 101,
        "callback_query": {
            "id": "4382",
            "from": USER,
            "chat_instance": "-1",
            "data": "lang:kk",
            "message": {
                "message_id": 9,
                "date": 1,
                "chat": PRIVATE,
                "from": {"id": 1, "is_bot": True, "first_name": "Govbot"},
                "text": "Тілді таңдаңыз",
                "reply_markup": {
                    "inline_keyboard": [[{"text": "Қазақша", "callback_data": "lang:kk"}]]
                },
            },
        },
    }
    incoming = parse_update(update)
    assert incoming is not None
    assert incoming.inbound.payload == "lang:kk"
    assert (incoming.callback_id, incoming.pressed_message_id, incoming.chat_id) == ("4382", 9, 42)


def test_callback_on_an_inaccessible_message() -> None:
    update = {
        "update_id": 102,
        "callback_query": {
            "id": "1",
            "from": USER,
            "chat_instance": "-1",
            "data": "g:menu",
            "message": {"message_id": 3, "date": 0, "chat": PRIVATE},
        },
    }
    incoming = parse_update(update)
    assert incoming is not None and incoming.pressed_message_id is None
    assert incoming.inbound.payload == "g:menu"


def test_photo_takes_the_largest_size_and_the_caption() -> None:
    sizes = [
        {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 60, "file_size": 900},
        {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 853, "file_size": 99000},
    ]
    incoming = parse_update(message(photo=sizes, caption="Кезек"))
    assert incoming is not None
    [ref] = incoming.files
    assert (ref.file_id, ref.kind, ref.size, ref.mime_type) == (
        "big",
        AttachmentKind.PHOTO,
        99000,
        "image/jpeg",
    )
    assert incoming.inbound.text == "Кезек"


def test_document_voice_and_video() -> None:
    doc = {
        "file_id": "d",
        "file_unique_id": "d",
        "file_name": "акт.pdf",
        "mime_type": "application/pdf",
        "file_size": 10,
    }
    [ref] = parse_update(message(document=doc)).files  # type: ignore[union-attr]
    assert (ref.kind, ref.file_name, ref.mime_type) == (
        AttachmentKind.DOCUMENT,
        "акт.pdf",
        "application/pdf",
    )
    voice = {"file_id": "v", "file_unique_id": "v", "duration": 3}
    [ref] = parse_update(message(voice=voice)).files  # type: ignore[union-attr]
    assert (ref.kind, ref.mime_type) == (AttachmentKind.VOICE, "audio/ogg")
    video = {"file_id": "m", "file_unique_id": "m", "duration": 3, "width": 1, "height": 1}
    [ref] = parse_update(message(video=video)).files  # type: ignore[union-attr]
    assert ref.kind is AttachmentKind.VIDEO


def test_location_and_venue() -> None:
    inbound = to_inbound(message(location={"latitude": 51.1, "longitude": 71.4}))
    assert inbound is not None and inbound.location == Location(51.1, 71.4)
    venue = {
        "location": {"latitude": 43.2, "longitude": 76.9},
        "title": "ХҚКО",
        "address": "Абай 1",
    }
    inbound = to_inbound(message(venue=venue, location=venue["location"]))
    assert inbound is not None and inbound.location == Location(43.2, 76.9, "Абай 1")


def test_edited_message_is_a_polite_note() -> None:
    update = message(text="жаңа мәтін", edit_date=2)
    update["edited_message"] = update.pop("message")
    inbound = to_inbound(update)
    assert inbound is not None
    assert (inbound.unsupported, inbound.text) == ("input.edited", "")


def test_sticker_and_contact_are_unsupported() -> None:
    sticker = {
        "file_id": "s",
        "file_unique_id": "s",
        "type": "regular",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
    }
    inbound = to_inbound(message(sticker=sticker))
    assert inbound is not None and inbound.unsupported == "input.sticker"
    contact = {"phone_number": "+77010000000", "first_name": "A"}
    inbound = to_inbound(message(contact=contact))
    assert inbound is not None and inbound.unsupported == "input.use_text"


def test_group_and_channel_posts_are_not_private() -> None:
    group = {"id": -100, "type": "supergroup", "title": "Чат"}
    update = message(text="/start")
    update["message"]["chat"] = group
    incoming = parse_update(update)
    assert incoming is not None and not incoming.private and incoming.chat_id == -100
    post = {
        "update_id": 5,
        "channel_post": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": -200, "type": "channel", "title": "C"},
            "text": "news",
        },
    }
    incoming = parse_update(post)
    assert incoming is not None and not incoming.private


def test_other_update_kinds_are_ignored() -> None:
    assert (
        to_inbound(
            {"update_id": 1, "inline_query": {"id": "1", "from": USER, "query": "", "offset": ""}}
        )
        is None
    )
    assert to_inbound({"update_id": 2, "my_chat_member": {}}) is None


# Every JSON type a field could hold, including what 1e400 and 400-digit numbers parse to.
HOSTILE: list[Any] = [
    math.inf,
    -math.inf,
    math.nan,
    10**400,
    -(10**30),
    1.5,
    "x",
    "",
    "\ud800",
    [],
    [1, {"a": 1}],
    {},
    {"id": 1},
    None,
    True,
]
FULL_MESSAGE = message(
    text="/menu@govbot_bot",
    caption="c",
    photo=[{"file_id": "p", "file_size": 10}],
    document={"file_id": "d", "file_size": 1, "mime_type": "a/b", "file_name": "n"},
    venue={"location": {"latitude": 1.0, "longitude": 2.0}, "address": "Абай 1"},
    location={"latitude": 1.0, "longitude": 2.0},
)
FULL_CALLBACK = {
    "update_id": 1,
    "callback_query": {
        "id": "q",
        "from": USER,
        "data": "lang:kk",
        "message": {"message_id": 9, "date": 1, "chat": PRIVATE},
    },
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _replaced(update: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(update)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def _well_typed(incoming: Incoming) -> None:
    inbound = incoming.inbound
    assert type(incoming.chat_id) is int and inbound.chat_key == str(incoming.chat_id)
    assert isinstance(inbound.text, str)
    for optional in (inbound.payload, inbound.locale_hint, inbound.profile_name):
        assert optional is None or isinstance(optional, str)
    for text in (inbound.text, inbound.payload or "", inbound.profile_name or ""):
        text.encode("utf-8")  # no lone surrogate left
    for ref in incoming.files:
        assert isinstance(ref.file_id, str) and ref.file_id
        assert ref.size is None or type(ref.size) is int
        assert ref.mime_type is None or isinstance(ref.mime_type, str)
        assert ref.file_name is None or isinstance(ref.file_name, str)
    if inbound.location is not None:
        assert math.isfinite(inbound.location.latitude)
        assert math.isfinite(inbound.location.longitude)
    assert incoming.callback_id is None or isinstance(incoming.callback_id, str)
    assert incoming.pressed_message_id is None or type(incoming.pressed_message_id) is int


@pytest.mark.parametrize("update", [FULL_MESSAGE, FULL_CALLBACK], ids=["message", "callback"])
def test_any_json_in_any_field_parses_or_is_malformed(update: dict[str, Any]) -> None:
    """Issue: chat id 1e400 raised OverflowError, language_code 5 AttributeError later on.
    Whatever a field holds, the parser returns well-typed values or says MalformedUpdate."""
    for path in _paths(update):
        for value in HOSTILE:
            try:
                incoming = parse_update(_replaced(update, path, value))
            except MalformedUpdate as err:
                assert repr(value) not in str(err) or value in ("", None)
                continue
            if incoming is not None:
                _well_typed(incoming)


@pytest.mark.parametrize("update", [None, 5, "update", [FULL_MESSAGE], {"message": {}}])
def test_what_is_not_an_update_at_all_is_malformed(update: Any) -> None:
    with pytest.raises(MalformedUpdate):
        parse_update(update)


def test_a_non_string_language_code_is_no_hint() -> None:
    for code in (5, [], {}, math.inf, True):
        update = message(text="hi", **{})
        update["message"]["from"] = {**USER, "language_code": code}
        inbound = to_inbound(update)
        assert inbound is not None and inbound.locale_hint is None


def test_a_lone_surrogate_in_text_becomes_a_replacement_character() -> None:
    inbound = to_inbound(message(text="a\ud800b"))
    assert inbound is not None and inbound.text == "a\ufffdb"
