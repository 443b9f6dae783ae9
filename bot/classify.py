"""What a citizen's message is, decided before anything is done about it.

`classify` is pure: from the message, where the conversation stands and the buttons on
offer it says whether the message is a global command, a press of an offered button
(pressed, or typed by number or label), text for the step, or something the step cannot
take. The dispatcher only acts on the answer, so every rule is tested from a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot import commands
from bot.commands import global_command, match_button
from bot.domain import Button, Inbound
from bot.flow import ANSWERS, BUTTONS, FILES, FREE_TEXT, LINK_PREFIX, LOCATION, TEXT


@dataclass(frozen=True, slots=True)
class Position:
    """Where the conversation stands, as far as classifying a message goes.

    accepts: what the current step takes (bot.flow's TEXT, BUTTONS, FILES, ...).
    language_known: the citizen has chosen a language.
    picking_language: the current step is the language choice.
    expired: the session went idle and was closed before this message; of the options
        left on screen only a link is taken then.
    numbered: the channel shows options numbered (WhatsApp, the terminal), so a typed
        number chooses one; on Telegram the citizen sees buttons, and "2" is just text.
    """

    accepts: frozenset[str]
    language_known: bool = True
    picking_language: bool = False
    expired: bool = False
    numbered: bool = True


@dataclass(frozen=True, slots=True)
class Command:
    """A global command (menu, back, help, ...), typed, pressed or chosen by number."""

    name: commands.Command


@dataclass(frozen=True, slots=True)
class Press:
    """An offered button, pressed or typed; the step gets the message with this payload."""

    payload: str


@dataclass(frozen=True, slots=True)
class Link:
    """A button from a message sent outside the conversation, opening a step directly
    (bot.flow.link_payload); pressed in any state, it need not be on offer. Where options
    are numbered it is typed by number or label, and is on offer (bot/link_options.py)."""

    payload: str


@dataclass(frozen=True, slots=True)
class Text:
    """Text, files or a location for the step, as sent."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Not taken here: say `msgid` (None: nothing more to say) and ask again."""

    msgid: str | None


Outcome = Command | Press | Link | Text | Refusal


def classify(msg: Inbound, at: Position, offered: Sequence[Button]) -> Outcome:
    command = global_command(msg.text, msg.payload)
    # Where a step takes free text (an answer to staff, an amount), a number that is not
    # on the list is the answer: "0" is not the main menu there. Where options are shown
    # numbered, a number on the list is that option at every step, as the citizen sees it:
    # "2. Back" typed as 2 is Back. Where they are buttons (Telegram), a number is text.
    free_text = FREE_TEXT in at.accepts
    typed_number = commands.typed_choice(msg.text) if msg.payload is None else None
    number = typed_number if at.numbered else None
    if free_text and typed_number is not None and (number == 0 or not at.numbered):
        command = None
    if not at.language_known and not at.picking_language:
        # First contact: everything waits until a language is chosen.
        return Command(commands.Command.LANGUAGE)
    if command is not None:
        return Command(command)
    if msg.payload is not None and msg.payload.startswith(LINK_PREFIX):
        return Link(msg.payload)
    typed = None
    if msg.payload is None and offered:
        typed = match_button(msg.text, offered, by_number=at.numbered)
    if typed is not None and typed.startswith(LINK_PREFIX):
        # A link numbered after the options on screen (bot/link_options.py), even late.
        return Link(typed)
    if at.expired:
        # A late answer to a question that is gone: not a choice on the main menu.
        return Refusal(None)
    payload = msg.payload
    if payload is not None and payload not in {b.payload for b in offered}:
        return Refusal("input.stale_button")
    if payload is None and msg.text.strip() and offered:
        payload = typed
        # "7" typed on WhatsApp for "7) Main menu" is the command, not a flow's answer.
        matched = global_command("", payload) if payload else None
        if matched is not None:
            return Command(matched)
        if payload is None and number is not None and not free_text and ANSWERS not in at.accepts:
            # "99" or "-1" under a numbered list is a choice that is not there, not data.
            return Refusal("input.not_on_list")
    refusal = _refusal(msg, payload, at.accepts)
    if refusal is not None:
        return Refusal(refusal)
    return Text() if payload is None else Press(payload)


def _refusal(msg: Inbound, payload: str | None, accepts: frozenset[str]) -> str | None:
    """Why this kind of input cannot be taken here, as a msgid; None if it can."""
    if payload is not None:
        return None if BUTTONS in accepts else "input.use_text"
    if msg.unsupported:
        return msg.unsupported
    if msg.attachments:
        return None if FILES in accepts else "input.no_files_here"
    if msg.location is not None:
        return None if LOCATION in accepts else "input.no_location_here"
    if not msg.text.strip():
        return "input.empty"
    if TEXT not in accepts:
        return "input.use_buttons"
    return None
