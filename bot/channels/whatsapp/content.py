"""Tap-to-answer WhatsApp replies through Twilio's Content API.

A turn whose last reply offers options that fit WhatsApp's limits goes as one interactive
message: a quick reply (up to 3 buttons, titles of at most 20 characters) or a list picker
(up to 10 items of at most 24; a longer list a page at a time, bot.channels.whatsapp.pages).
Anything else stays numbered text (bot.channels.whatsapp.render).
The body, titles and ids are variables, so one resource per (language, kind, count) serves
every message; each is created on first use and kept in the database under the hash of its
definition, so a restart or another instance sends the same one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList

from bot.channels.whatsapp.pages import Page, page
from bot.channels.whatsapp.render import question_text
from bot.domain import Button, Reply
from bot.i18n import Translator
from bot.storage import Storage

log = logging.getLogger(__name__)

QUICK_REPLY = "twilio/quick-reply"
LIST_PICKER = "twilio/list-picker"
MAX_BODY = 1024  # both kinds
MAX_QUICK_REPLIES = 3  # in a session message, without template approval
MAX_TITLE = 20
MAX_ITEMS = 10
MAX_ITEM = 24
MAX_DESCRIPTION = 72
MAX_ID = 200
# After the Content API failed to answer, replies go as numbered text this long without
# trying it again: a citizen does not wait for a timeout at every step.
PAUSE_AFTER_FAILURE = timedelta(minutes=1)


class ContentUnavailable(Exception):
    """The Content API refused a definition (4xx) or did not answer; str() is the reason
    ("refused" or "unavailable"), never a message's text."""


Option = tuple[str, str, str | None]  # title, id (the button's payload), description


@dataclass(frozen=True, slots=True)
class Interactive:
    """One interactive message: the resource's definition (the same for every message of
    its shape), its hash, and this message's variables."""

    definition: dict[str, Any]
    key: str
    variables: dict[str, str]


def interactive(replies: Sequence[Reply], t: Translator, lang: str) -> Interactive | None:
    """The turn as one interactive message, or None where it must stay numbered text: the
    options are not on the last reply alone, too many, too long (with no short label in
    the catalog) or not distinct, or the text is longer than a body may be. More than 10
    options go a page at a time: the page holding the option the last reply names."""
    if not replies or not replies[-1].buttons or any(r.buttons for r in replies[:-1]):
        return None
    buttons = replies[-1].buttons
    if any(not button.payload or len(button.payload) > MAX_ID for button in buttons):
        return None
    shown = page(buttons, replies[-1].page_of, MAX_ITEMS) if len(buttons) > MAX_ITEMS else None
    texts = [question_text(reply, t) for reply in replies if reply.text.strip()]
    if shown is not None:
        texts.append(t("whatsapp.page", page=shown.number, pages=shown.count))
    body = "\n\n".join(texts)
    if not body.strip() or len(body) > MAX_BODY:
        return None
    options = _options(buttons, t) if shown is None else _paged(shown, t)
    if options is None or len({title for title, _, _ in options}) < len(options):
        return None
    described = tuple(description is not None for _, _, description in options)
    quick = len(options) <= MAX_QUICK_REPLIES and not any(described)
    kind = QUICK_REPLY if quick and all(len(o[0]) <= MAX_TITLE for o in options) else LIST_PICKER
    definition, key = _resource(kind, lang, described, t("whatsapp.list_button"))
    values = [body]
    for title, payload, description in options:
        values += [title, payload] if description is None else [title, payload, description]
    variables = {str(n): value for n, value in enumerate(values, start=1)}
    return Interactive(definition, key, variables)


def _options(buttons: Sequence[Button], t: Translator) -> list[Option] | None:
    """Each button as it can be shown: its label if it fits, else its short label from the
    catalog ("whatsapp.short.<payload>") with the full label as the list item's
    description. None when there are too many or a label is too long and has none."""
    if len(buttons) <= MAX_QUICK_REPLIES and all(len(b.label) <= MAX_TITLE for b in buttons):
        return [(b.label, b.payload, None) for b in buttons]
    if len(buttons) > MAX_ITEMS:
        return None
    options = [list_item(button, t) for button in buttons]
    return None if None in options else [o for o in options if o is not None]


def _paged(shown: Page, t: Translator) -> list[Option] | None:
    """One page of a long list: each option with its number in the whole list under it
    (typed, it means the same on every page), "More…" and the navigation buttons."""
    options: list[Option] = []
    for number, button in shown.options:
        item = list_item(button, t)
        if item is None:
            return None
        title, payload, full = item
        numbered = t("whatsapp.item_number_label", number=number, label=full) if full else ""
        if not numbered or len(numbered) > MAX_DESCRIPTION:
            numbered = t("whatsapp.item_number", number=number)
        options.append((title, payload, numbered))
    turn = "whatsapp.more" if shown.turns_to > shown.number else "whatsapp.first_page"
    where = t("whatsapp.page", page=shown.turns_to, pages=shown.count)
    options.append((t(turn), shown.turn_payload, where))
    nav = [list_item(button, t) for button in shown.nav]
    return None if None in nav else options + [o for o in nav if o is not None]


def list_item(button: Button, t: Translator) -> Option | None:
    """The button as a list item: its label if it fits, else its short label from the
    catalog (after the label's mark, a ticked option's ✅) with the full label (if that
    fits, unmarked) as the description; None if it has none that fits."""
    if len(button.label) <= MAX_ITEM:
        return (button.label, button.payload, None)
    short = f"whatsapp.short.{button.payload}"
    mark = _mark(button)
    title = mark + t(short) if t.has(short) else ""
    if not title or len(title) > MAX_ITEM:
        return None
    full = button.label[len(mark) :]
    return (title, button.payload, full if len(full) <= MAX_DESCRIPTION else None)


def _mark(button: Button) -> str:
    """What a flow put before the button's own label ("✅ " on a ticked option): the label
    is one of its aliases with something before it."""
    for alias in button.aliases:
        if alias and len(button.label) > len(alias) and button.label.endswith(alias):
            return button.label[: -len(alias)]
    return ""


@functools.cache
def _resource(
    kind: str, lang: str, described: tuple[bool, ...], list_button: str
) -> tuple[dict[str, Any], str]:
    """The definition of the resource for this shape (kind, language, which options have a
    description) and its hash; variable 1 is the body, then each option's title, id and
    description in order. Cached: a few shapes serve every message (never mutate it)."""
    numbers = itertools.count(2)

    def variable() -> str:
        return f"{{{{{next(numbers)}}}}}"

    content: dict[str, Any] = {"body": "{{1}}"}
    if kind == QUICK_REPLY:
        content["actions"] = [{"title": variable(), "id": variable()} for _ in described]
        name = f"quick_{lang}_{len(described)}"
    else:
        items = []
        for has_description in described:
            item = {"item": variable(), "id": variable()}
            if has_description:
                item["description"] = variable()
            items.append(item)
        content.update(button=list_button, items=items)
        name = f"list_{lang}_" + "".join("d" if d else "i" for d in described)
    count = next(numbers) - 1
    definition = {
        "friendly_name": f"govbot_{name}",
        "language": lang,
        "variables": {str(n): f"sample {n}" for n in range(1, count + 1)},
        "types": {kind: content},
    }
    return definition, _hash(definition)


def _hash(definition: dict[str, Any]) -> str:
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ContentResources:
    """ContentSids by definition hash: in memory, then the database, then created.

    One creation per definition in this process (a lock per hash); two instances starting
    at once may both create one, and the database keeps the first: the other is unused.
    A definition the Content API refused is not offered again until a restart; after it
    failed to answer, nothing is tried for PAUSE_AFTER_FAILURE.
    """

    def __init__(self, client: Client, storage: Storage, clock: Callable[[], datetime]) -> None:
        self.client = client
        self.storage = storage
        self.clock = clock
        self._known: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refused: set[str] = set()
        self._paused_until: datetime | None = None

    async def sid(self, wanted: Interactive) -> str:
        """The ContentSid for `wanted`'s definition; ContentUnavailable if it cannot be made."""
        known = self._known.get(wanted.key)
        if known is not None:
            return known
        async with self._locks.setdefault(wanted.key, asyncio.Lock()):
            known = self._known.get(wanted.key)
            if known is None:
                async with self.storage.read() as tx:
                    known = await tx.content_sids.get(wanted.key)
            if known is None:
                if wanted.key in self._refused:
                    raise ContentUnavailable("refused")
                if self._paused_until is not None and self.clock() < self._paused_until:
                    raise ContentUnavailable("unavailable")
                try:
                    created = await self._create(wanted.definition)
                except ContentUnavailable as exc:
                    if str(exc) == "refused":
                        self._refused.add(wanted.key)
                    else:
                        self._paused_until = self.clock() + PAUSE_AFTER_FAILURE
                    raise
                async with self.storage.transaction() as tx:
                    known = await tx.content_sids.add(wanted.key, created, now=self.clock())
            self._known[wanted.key] = known
            return known

    async def _create(self, definition: dict[str, Any]) -> str:
        request = ContentList.ContentCreateRequest(definition)
        try:
            created = await self.client.content.v1.contents.create_async(request)
        except TwilioException as exc:
            status = int(getattr(exc, "status", 0) or 0)
            reason = "refused" if 400 <= status < 500 else "unavailable"
            log.warning("twilio content create failed: %s (HTTP %d)", reason, status)
            raise ContentUnavailable(reason) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("twilio content create failed: %s", type(exc).__name__)
            raise ContentUnavailable("unavailable") from None
        return str(created.sid)
