"""Tap-to-answer WhatsApp replies through Twilio's Content API.

A turn whose last reply offers options that fit WhatsApp's limits goes as one interactive
message: a quick reply (up to 3 buttons, titles of at most 20 characters) or a list picker
(up to 10 items of at most 24). Anything else stays numbered text (bot.channels.whatsapp.render).
The body, titles and ids are variables, so one resource per (language, kind, count) serves
every message; each is created on first use and kept in the database under the hash of its
definition, so a restart or another instance sends the same one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList

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
MAX_ID = 200


class ContentUnavailable(Exception):
    """The Content API refused a definition (4xx) or did not answer; str() is the reason
    ("refused" or "unavailable"), never a message's text."""


@dataclass(frozen=True, slots=True)
class Interactive:
    """One interactive message: the resource's definition (the same for every message of
    its shape), its hash, and this message's variables."""

    definition: dict[str, Any]
    key: str
    variables: dict[str, str]


def interactive(replies: Sequence[Reply], t: Translator, lang: str) -> Interactive | None:
    """The turn as one interactive message, or None where it must stay numbered text: the
    options are not on the last reply alone, too many, too long or not distinct, or the
    text is longer than a body may be."""
    if not replies or not replies[-1].buttons or any(r.buttons for r in replies[:-1]):
        return None
    buttons = replies[-1].buttons
    body = "\n\n".join(reply.text for reply in replies if reply.text.strip())
    labels = [button.label for button in buttons]
    if not body.strip() or len(body) > MAX_BODY or len(set(labels)) < len(labels):
        return None
    if any(not button.payload or len(button.payload) > MAX_ID for button in buttons):
        return None
    longest = max(len(label) for label in labels)
    if len(buttons) <= MAX_QUICK_REPLIES and longest <= MAX_TITLE:
        kind = QUICK_REPLY
    elif len(buttons) <= MAX_ITEMS and longest <= MAX_ITEM:
        kind = LIST_PICKER
    else:
        return None
    definition = _definition(kind, lang, len(buttons), t("whatsapp.list_button"))
    return Interactive(definition, _hash(definition), _variables(body, buttons))


def _definition(kind: str, lang: str, count: int, list_button: str) -> dict[str, Any]:
    # Variable 1 is the body; 2n and 2n+1 the n-th option's title and id.
    options = [(f"{{{{{2 * n}}}}}", f"{{{{{2 * n + 1}}}}}") for n in range(1, count + 1)]
    content: dict[str, Any]
    if kind == QUICK_REPLY:
        content = {"body": "{{1}}", "actions": [{"title": t, "id": i} for t, i in options]}
        name = "quick"
    else:
        items = [{"item": t, "id": i} for t, i in options]
        content = {"body": "{{1}}", "button": list_button, "items": items}
        name = "list"
    samples = {"1": "…"}
    for n in range(1, count + 1):
        samples[str(2 * n)], samples[str(2 * n + 1)] = str(n), f"option_{n}"
    return {
        "friendly_name": f"govbot_{name}_{lang}_{count}",
        "language": lang,
        "variables": samples,
        "types": {kind: content},
    }


def _variables(body: str, buttons: Sequence[Button]) -> dict[str, str]:
    variables = {"1": body}
    for n, button in enumerate(buttons, start=1):
        variables[str(2 * n)], variables[str(2 * n + 1)] = button.label, button.payload
    return variables


def _hash(definition: dict[str, Any]) -> str:
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ContentResources:
    """ContentSids by definition hash: in memory, then the database, then created.

    One creation per definition in this process (a lock per hash); two instances starting
    at once may both create one, and the database keeps the first: the other is unused.
    """

    def __init__(self, client: Client, storage: Storage, clock: Callable[[], datetime]) -> None:
        self.client = client
        self.storage = storage
        self.clock = clock
        self._known: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

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
                created = await self._create(wanted.definition)
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
