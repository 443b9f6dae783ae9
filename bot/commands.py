"""Words the bot understands anywhere, in Kazakh, Russian and English, and the matching of
typed answers to offered buttons (by number or by label in any language).

These are inputs, not texts the citizen reads, so they live here rather than in the
catalogs; the catalogs hold the help text that tells citizens about them.

Campaign news is stopped only by words that cannot mean anything else (issue 15):
«unsubscribe», «отписаться», «жазылымнан бас тарту», and STOP alone in capitals, the
opt-out keyword. Twilio answers STOP for us only on SMS ("SMS STOP filtering"); on
WhatsApp the word reaches the webhook like any other and honouring it is ours. Every other
stop word («stop», «стоп», «тоқтату») cancels the request being filled in, and «start»,
«старт», «бастау» mean /start: none of them touches the subscription.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from enum import StrEnum

from bot.domain import Button


class Command(StrEnum):
    START = "start"
    MENU = "menu"
    CANCEL = "cancel"
    BACK = "back"
    LANGUAGE = "language"
    HELP = "help"
    STOP = "stop"
    SUBSCRIBE = "subscribe"


_WORDS: dict[Command, tuple[str, ...]] = {
    Command.MENU: ("menu", "меню", "мәзір", "басты мәзір", "главное меню", "main menu", "0"),
    Command.CANCEL: (
        "cancel",
        "отмена",
        "отменить",
        "болдырмау",
        "бас тарту",
        "stop",
        "стоп",
        "тоқта",
        "тоқтату",
    ),
    Command.BACK: ("back", "назад", "артқа"),
    Command.LANGUAGE: ("language", "lang", "язык", "тіл"),
    Command.HELP: ("help", "помощь", "справка", "көмек", "анықтама"),
    Command.START: ("start", "старт", "бастау"),
    Command.STOP: (
        "unsubscribe",
        "отписаться",
        "отписаться от рассылки",
        "отписаться от новостей",
        "жазылымнан бас тарту",
        "жаңалықтардан бас тарту",
    ),
    Command.SUBSCRIBE: (
        "subscribe",
        "подписаться",
        "подписаться на рассылку",
        "подписаться на новости",
        "жазылу",
    ),
}
MAX_COMMAND = 30  # longer text is never a command: an answer that starts with one is text
OPT_OUT = "STOP"  # the opt-out keyword, matched as typed: "Stop" and "stop" cancel
_BY_WORD = {word: command for command, words in _WORDS.items() for word in words}
GLOBAL_PREFIX = "g:"  # a button payload that carries a global command, "g:menu"
_PAYLOADS = {f"{GLOBAL_PREFIX}{command.value}": command for command in Command}
_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)
# A choice typed by number: "2", "2.", "2)", and "-1" or "+5", which choose nothing. At
# most three digits: longer numbers are answers (an IIN, an amount), never a choice.
_CHOICE = re.compile(r"([-+−]?)(\d{1,3})[.)]?")


@functools.lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """Case-, accent-form- and punctuation-insensitive form of a typed answer.

    Cached: button labels come from a few hundred catalog strings and are compared on
    every typed answer."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _PUNCTUATION.sub(" ", folded).strip()


def global_command(text: str, payload: str | None) -> Command | None:
    if payload is not None:
        return _PAYLOADS.get(payload)
    stripped = text.strip()
    if stripped == OPT_OUT:
        return Command.STOP
    # "/start", "/start@govbot" and a deep link "/start campaign42".
    first = stripped.split(maxsplit=1)[0].lower() if stripped else ""
    if first.split("@")[0] == "/start":
        return Command.START
    word = normalize(stripped.removeprefix("/"))
    return _BY_WORD.get(word) if len(word) <= MAX_COMMAND else None


def command_payload(command: Command) -> str:
    """The button payload that runs `command`, as the flows' navigation buttons carry it."""
    return f"{GLOBAL_PREFIX}{command.value}"


def typed_choice(text: str) -> int | None:
    """The number of the option a typed "2" or "2." chooses; None if it is not a number.
    A signed "-1" is a number that chooses nothing (0), not option 1."""
    found = _CHOICE.fullmatch(text.strip())
    if found is None:
        return None
    # \d is any decimal digit ("٣"), all of which int() reads; not "፩", which it refuses.
    return 0 if found.group(1) else int(found.group(2))


def match_button(text: str, offered: Sequence[Button], *, by_number: bool = True) -> str | None:
    """The payload of the offered button the citizen meant: "2", "2." (where options are
    shown numbered), or a label."""
    number = typed_choice(text) if by_number else None
    if number is not None:
        return offered[number - 1].payload if 0 < number <= len(offered) else None
    wanted = normalize(text)
    if not wanted:
        return None
    for button in offered:
        if wanted in (normalize(label) for label in (button.label, *button.aliases)):
            return button.payload
    return None
