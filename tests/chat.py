"""A conversation driver for tests: send text, press buttons by label, read the replies.

chat = Chat(runtime.dispatcher, lang="ru")
await chat.send("/start")
await chat.press("Русский")
await chat.press("Подать жалобу")
assert "номер" in chat.text
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from bot.commands import normalize
from bot.dispatcher import Dispatcher
from bot.domain import Attachment, Button, Channel, Inbound, Location, Reply

_ids = itertools.count(1)


class Chat:
    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        chat_key: str = "chat-1",
        channel: Channel = Channel.CONSOLE,
        lang: str | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.chat_key = chat_key
        self.channel = channel
        self.lang = lang
        self.replies: list[Reply] = []
        self.history: list[Reply] = []

    async def send(
        self,
        text: str = "",
        *,
        payload: str | None = None,
        attachments: Sequence[Attachment] = (),
        location: Location | None = None,
        unsupported: str | None = None,
        external_id: str | None = None,
    ) -> list[Reply]:
        msg = Inbound(
            channel=self.channel,
            chat_key=self.chat_key,
            text=text,
            payload=payload,
            attachments=tuple(attachments),
            location=location,
            locale_hint=self.lang,
            unsupported=unsupported,
            external_id=external_id or f"test-{next(_ids)}",
        )
        self.replies = await self.dispatcher.handle(msg)
        self.history.extend(self.replies)
        return self.replies

    @property
    def buttons(self) -> list[Button]:
        return [b for r in self.replies for b in r.buttons]

    @property
    def text(self) -> str:
        """Every reply of the last turn, joined: what the citizen just read."""
        return "\n\n".join(r.text for r in self.replies)

    def button(self, label: str) -> Button:
        wanted = normalize(label)
        for b in self.buttons:
            if normalize(b.label) == wanted or wanted in normalize(b.label):
                return b
        raise AssertionError(f"no button {label!r} in {[b.label for b in self.buttons]}")

    async def press(self, label: str) -> list[Reply]:
        """Press the offered button whose label is (or contains) `label`."""
        return await self.send(payload=self.button(label).payload)

    async def press_payload(self, payload: str) -> list[Reply]:
        if payload not in {b.payload for b in self.buttons}:
            raise AssertionError(f"{payload!r} not offered: {[b.payload for b in self.buttons]}")
        return await self.send(payload=payload)
