"""Every rule by which the dispatcher tells a command from a button, text or a refusal,
one row each: the message, where the conversation stands, what is on offer, the verdict."""

from __future__ import annotations

import pytest

from bot.classify import Command, Link, Outcome, Page, Position, Press, Refusal, Text, classify
from bot.commands import Command as Word
from bot.domain import Attachment, AttachmentKind, Button, Channel, Inbound, Location
from bot.flow import BUTTONS, BUTTONS_ONLY, FILES, FREE_TEXT, LOCATION, TEXT, TEXT_OR_BUTTONS

TYPED = Position(TEXT_OR_BUTTONS)
MENU_ONLY = Position(BUTTONS_ONLY)
FREE = Position(TEXT_OR_BUTTONS | {FREE_TEXT})
EVIDENCE = Position(frozenset({FILES, LOCATION, BUTTONS}))
TEXT_ONLY = Position(frozenset({TEXT}))
NEW = Position(BUTTONS_ONLY, language_known=False)
PICKING = Position(BUTTONS_ONLY, language_known=False, picking_language=True)
EXPIRED = Position(BUTTONS_ONLY, expired=True)

# The main menu as WhatsApp numbers it: 1) Complaint 2) Tip 3) Back 4) Main menu.
OFFERED = (
    Button("flow:complaint", "Complaint", ("Шағым", "Жалоба")),
    Button("flow:tip", "Report corruption"),
    Button("g:back", "Back", ("Артқа", "Назад")),
    Button("g:menu", "Main menu", ("Басты мәзір", "Главное меню")),
)
# A staff message's "Answer" as the outbox numbers it after them (bot/link_options.py).
ANSWER = Button("link:status:reply:7", "✍️ Reply", ("✍️ Жауап беру", "✍️ Ответить"))
WITH_ANSWER = (*OFFERED, ANSWER)
FILE = Attachment(AttachmentKind.PHOTO, "image/jpeg", 1000, "blob1")
PLACE = Location(43.2, 76.9)


def typed(text: str) -> Inbound:
    return Inbound(Channel.WHATSAPP, "c1", text=text)


def pressed(payload: str) -> Inbound:
    return Inbound(Channel.TELEGRAM, "c1", payload=payload)


CASES: list[tuple[str, Inbound, Position, tuple[Button, ...], Outcome]] = [
    # Global commands, typed or pressed, in any language, anywhere.
    ("slash start", typed("/start"), TYPED, OFFERED, Command(Word.START)),
    ("deep link", typed("/start campaign42"), TYPED, OFFERED, Command(Word.START)),
    ("menu in Kazakh", typed("Мәзір"), TYPED, OFFERED, Command(Word.MENU)),
    ("zero is the menu", typed("0"), TYPED, OFFERED, Command(Word.MENU)),
    ("cancel in Russian", typed("отмена"), TYPED, (), Command(Word.CANCEL)),
    ("help", typed("help"), MENU_ONLY, (), Command(Word.HELP)),
    # Issue 15: only unambiguous words act on campaign news; stop words cancel the request.
    ("STOP alone in capitals unsubscribes", typed(" STOP "), MENU_ONLY, (), Command(Word.STOP)),
    ("unsubscribe, Russian", typed("Отписаться"), MENU_ONLY, (), Command(Word.STOP)),
    ("unsubscribe, Kazakh", typed("жазылымнан бас тарту"), TYPED, (), Command(Word.STOP)),
    ("stop in lowercase cancels", typed("stop"), MENU_ONLY, (), Command(Word.CANCEL)),
    ("Stop capitalised cancels", typed("Stop"), MENU_ONLY, (), Command(Word.CANCEL)),
    ("стоп cancels", typed("СТОП"), TYPED, (), Command(Word.CANCEL)),
    ("тоқтату cancels", typed("тоқтату"), TYPED, (), Command(Word.CANCEL)),
    ("subscribe, Kazakh", typed("жазылу"), MENU_ONLY, (), Command(Word.SUBSCRIBE)),
    ("старт starts, not subscribes", typed("старт"), MENU_ONLY, (), Command(Word.START)),
    ("бастау starts", typed("Бастау"), MENU_ONLY, (), Command(Word.START)),
    ("START starts", typed("START"), MENU_ONLY, (), Command(Word.START)),
    ("back button", pressed("g:back"), TYPED, OFFERED, Command(Word.BACK)),
    ("global payload not on offer", pressed("g:menu"), TYPED, (), Command(Word.MENU)),
    # "0" and numbers not on the list are content where the step takes free text; a
    # number on the list is its option there too (issue 15: "2" stored as «Қашан»).
    ("zero as an amount", typed("0"), FREE, OFFERED, Text()),
    ("number past the list in free text", typed("99"), FREE, OFFERED, Text()),
    ("menu word in free text", typed("menu"), FREE, OFFERED, Command(Word.MENU)),
    ("number of Back typed in free text", typed("3"), FREE, OFFERED, Command(Word.BACK)),
    ("number of Main menu in free text", typed("4"), FREE, OFFERED, Command(Word.MENU)),
    ("number of a flow button in free text", typed("1"), FREE, OFFERED, Press("flow:complaint")),
    # Typed numbers and labels choose offered buttons; a global one is its command.
    ("number of a button", typed("2"), TYPED, OFFERED, Press("flow:tip")),
    ("number with a dot", typed("1."), TYPED, OFFERED, Press("flow:complaint")),
    ("label in another language", typed("жалоба"), MENU_ONLY, OFFERED, Press("flow:complaint")),
    ("number of Back", typed("3"), TYPED, OFFERED, Command(Word.BACK)),
    ("label of Main menu", typed("Главное меню"), MENU_ONLY, OFFERED, Command(Word.MENU)),
    # A number not on the list chooses nothing, even where text is taken (issue 15).
    ("number past the list", typed("9"), TYPED, OFFERED, Refusal("input.not_on_list")),
    ("negative number", typed("-1"), TYPED, OFFERED, Refusal("input.not_on_list")),
    ("negative, buttons only", typed("-1"), MENU_ONLY, OFFERED, Refusal("input.not_on_list")),
    ("a long number is an answer", typed("1424"), TYPED, OFFERED, Text()),
    (
        "number past the list, buttons only",
        typed("9"),
        MENU_ONLY,
        OFFERED,
        Refusal("input.not_on_list"),
    ),
    ("unmatched text", typed("hello"), TYPED, OFFERED, Text()),
    (
        "unmatched text, buttons only",
        typed("hello"),
        MENU_ONLY,
        OFFERED,
        Refusal("input.use_buttons"),
    ),
    ("text with nothing on offer", typed("2"), TYPED, (), Text()),
    # Pressed buttons.
    ("offered button", pressed("flow:tip"), MENU_ONLY, OFFERED, Press("flow:tip")),
    ("stale button", pressed("flow:status"), MENU_ONLY, OFFERED, Refusal("input.stale_button")),
    # "More…" under a list shown a page at a time (bot/paging.py): the question again.
    ("more, a page", pressed("page:2"), MENU_ONLY, OFFERED, Page(2)),
    ("more, nothing on offer", pressed("page:2"), TYPED, (), Refusal("input.stale_button")),
    ("more, malformed", pressed("page:x"), MENU_ONLY, OFFERED, Refusal("input.stale_button")),
    ("more, page 0", pressed("page:0"), MENU_ONLY, OFFERED, Refusal("input.stale_button")),
    ("more, after expiry", pressed("page:2"), EXPIRED, OFFERED, Refusal(None)),
    # A staff message's "Answer": a link, taken in any state though never on offer.
    ("link", pressed("link:status:reply:7"), TEXT_ONLY, OFFERED, Link("link:status:reply:7")),
    ("link late", pressed("link:status:reply:7"), EXPIRED, (), Link("link:status:reply:7")),
    # Where options are numbered it is on offer after the menu, typed by number or label.
    ("link by number", typed("5"), MENU_ONLY, WITH_ANSWER, Link(ANSWER.payload)),
    ("link by label", typed("Жауап беру"), TEXT_ONLY, WITH_ANSWER, Link(ANSWER.payload)),
    ("menu number beside a link", typed("2"), MENU_ONLY, WITH_ANSWER, Press("flow:tip")),
    ("link by number late", typed("5"), EXPIRED, WITH_ANSWER, Link(ANSWER.payload)),
    ("menu number late", typed("2"), EXPIRED, WITH_ANSWER, Refusal(None)),
    # A number on the list is that option at every step, as the citizen sees it (the
    # outbox offers no link where the answer is free text: tests/test_answer_option.py).
    ("link number in free text", typed("5"), FREE, WITH_ANSWER, Link(ANSWER.payload)),
    (
        "button where text is wanted",
        pressed("flow:tip"),
        TEXT_ONLY,
        OFFERED,
        Refusal("input.use_text"),
    ),
    # Files, places, empty and unsupported input.
    (
        "file where files are taken",
        Inbound(Channel.TELEGRAM, "c1", attachments=(FILE,)),
        EVIDENCE,
        (),
        Text(),
    ),
    (
        "file elsewhere",
        Inbound(Channel.TELEGRAM, "c1", attachments=(FILE,)),
        TYPED,
        (),
        Refusal("input.no_files_here"),
    ),
    ("location where taken", Inbound(Channel.TELEGRAM, "c1", location=PLACE), EVIDENCE, (), Text()),
    (
        "location elsewhere",
        Inbound(Channel.TELEGRAM, "c1", location=PLACE),
        TYPED,
        (),
        Refusal("input.no_location_here"),
    ),
    (
        "sticker",
        Inbound(Channel.TELEGRAM, "c1", unsupported="input.sticker"),
        TYPED,
        (),
        Refusal("input.sticker"),
    ),
    ("nothing at all", typed("  "), TYPED, OFFERED, Refusal("input.empty")),
    (
        "text where only files are taken",
        typed("here it is"),
        EVIDENCE,
        (),
        Refusal("input.use_buttons"),
    ),
    # First contact: a language first, whatever was sent.
    ("first contact, text", typed("hello"), NEW, (), Command(Word.LANGUAGE)),
    ("first contact, a command", typed("/start"), NEW, (), Command(Word.LANGUAGE)),
    (
        "first contact, a file",
        Inbound(Channel.TELEGRAM, "c1", attachments=(FILE,)),
        NEW,
        (),
        Command(Word.LANGUAGE),
    ),
    (
        "choosing the language",
        pressed("lang:kk"),
        PICKING,
        (Button("lang:kk", "Қазақша"),),
        Press("lang:kk"),
    ),
    (
        "typing the language",
        typed("русский"),
        PICKING,
        (Button("lang:ru", "Русский"),),
        Press("lang:ru"),
    ),
    ("help while choosing", typed("help"), PICKING, (), Command(Word.HELP)),
    # An expired session: commands still work; anything else only brings the menu back.
    ("late answer", typed("1"), EXPIRED, OFFERED, Refusal(None)),
    ("late button", pressed("flow:tip"), EXPIRED, OFFERED, Refusal(None)),
    ("command after expiry", typed("help"), EXPIRED, OFFERED, Command(Word.HELP)),
]


@pytest.mark.parametrize(
    ("msg", "at", "offered", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_classify(
    msg: Inbound, at: Position, offered: tuple[Button, ...], expected: Outcome
) -> None:
    assert classify(msg, at, offered) == expected
