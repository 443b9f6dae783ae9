"""Terminal chat: the bot in a terminal, through the same dispatcher and storage as the
messengers. Buttons are shown as numbered options; lines can be piped in for scripts:

    printf '/start\n1\n' | govbot shell --lang kk
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot.attachments import kind_for
from bot.channels.services import ChannelServices
from bot.config import Settings
from bot.domain import Attachment, Channel, Inbound, Location, Reply
from bot.errors import DeliveryError, UserInputError
from bot.i18n import pick_language
from bot.outbound import Delivery, Outgoing
from bot.storage.records import Citizen
from bot.text import clean_text


def render(replies: Sequence[Reply]) -> str:
    """Replies as terminal text: each message, then its buttons numbered."""
    blocks = []
    for reply in replies:
        lines = [reply.text]
        lines += [f"  {n}) {b.label}" for n, b in enumerate(reply.buttons, reply.first_number)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


class ConsoleChat:
    def __init__(
        self, services: ChannelServices, settings: Settings, *, chat_key: str, lang: str | None
    ) -> None:
        self.services = services
        self.settings = settings
        self.chat_key = chat_key
        self.lang = lang

    async def send_line(self, line: str) -> list[Reply]:
        """One typed line (or a /attach, /location command) through the dispatcher."""
        try:
            msg = await self._inbound(line)
        except UserInputError as err:
            t = self.services.catalogs[pick_language(self.lang, self.settings.default_language)]
            return [Reply(t(err.msgid, limit_mb=self.settings.max_attachment_mb))]
        return await self.services.dispatcher.handle(msg)

    async def _inbound(self, line: str) -> Inbound:
        # stdin hands a byte it cannot decode over as a lone surrogate (surrogateescape).
        line = clean_text(line)
        base = Inbound(channel=Channel.CONSOLE, chat_key=self.chat_key, locale_hint=self.lang)
        command, _, arg = line.strip().partition(" ")
        if command == "/attach":
            path = Path(arg.strip())
            try:
                data = await asyncio.to_thread(_read_file, path)
            except OSError:
                raise UserInputError("shell.file_missing") from None
            stored = await self.services.attachments.aput(
                data, declared_type=None, file_name=path.name
            )
            attachment = Attachment(
                kind=kind_for(stored.content_type),
                content_type=stored.content_type,
                size=stored.size,
                blob_id=stored.blob_id,
                file_name=path.name,
            )
            return replace(base, attachments=(attachment,))
        if command == "/location":
            try:
                lat, lon = (float(part) for part in arg.split(","))
            except ValueError:
                return replace(base, text=line)
            return replace(base, location=Location(lat, lon))
        return replace(base, text=line)


class ConsoleSender:
    """Staff answers to this terminal citizen, printed as they arrive."""

    channel = Channel.CONSOLE

    def __init__(self, chat_key: str, write: Callable[[str], object]) -> None:
        self.chat_key = chat_key
        self.write = write

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        if citizen.chat_key != self.chat_key:
            raise DeliveryError("another terminal citizen", retryable=True)
        self.write("\n" + render(outgoing.replies) + "\n\n")
        return Delivery()


def _read_file(path: Path) -> bytes:
    return path.expanduser().read_bytes()


async def run_shell(
    services: ChannelServices,
    settings: Settings,
    *,
    lang: str | None,
    chat_key: str = "local",
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    interactive: bool | None = None,
) -> None:
    chat = ConsoleChat(services, settings, chat_key=chat_key, lang=lang)
    # A piped script types faster than any citizen; flood control is for messengers.
    services.dispatcher.unthrottled.add(Channel.CONSOLE)
    interactive = stdin.isatty() if interactive is None else interactive
    t = services.catalogs[pick_language(lang, settings.default_language)]
    write: Callable[[str], object] = stdout.write
    services.outbox.add_sender(ConsoleSender(chat_key, write))
    # Beside running instances (PostgreSQL) the shell is one too: announced before it
    # sends, or the others would take what it sends for a dead instance's.
    await services.leases.join()
    await services.outbox.start()
    if interactive:
        write(t("shell.banner") + "\n\n")
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            write("> ")
            stdout.flush()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        line = line.rstrip("\n")
        if line.strip() in ("/quit", "/exit"):
            break
        if not interactive:
            write(f"> {line}\n")
        replies = await chat.send_line(line)
        if replies:
            write(render(replies) + "\n\n")
        stdout.flush()
