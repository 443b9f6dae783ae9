"""The corruption-tip conversation: both kinds end to end in kk, ru and en, data carried in
from another flow, editing from the summary, and every kind of bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from bot.amount import parse_amount
from bot.dispatcher import Dispatcher
from bot.domain import Attachment, AttachmentKind, Inbound, Location, Reply
from bot.flow import Context, Flow, Go
from bot.runtime import Runtime
from bot.sealed_tips import receipt_locator
from tests import sealed
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.chat import Chat
from tests.conftest import Clock, start_in

LANGS = ("kk", "ru", "en")
WHAT = {
    "kk": "Кеше ХҚКО қызметкері анықтаманы тез беру үшін 50 000 теңге сұрады.",
    "ru": "Вчера сотрудник ЦОНа попросил 50 000 тенге за быструю выдачу справки.",
    "en": "Yesterday a public service centre clerk asked 50,000 tenge to issue a certificate.",
}
# What the citizen reads, per language: enough to show the right catalog was used.
SAYS = {
    "kk": {
        "notice": "мессенджер компаниясының өзі",
        "summary": "Хабарламаңызды тексеріңіз",
        "lost": "қалпына келтіру мүмкін емес",
        "confidential": "нөмірімен тіркелді",
        "when": "кеше",
        "amount": "150 000 ₸",
    },
    "ru": {
        "notice": "сама компания-мессенджер",
        "summary": "Проверьте ваше сообщение",
        "lost": "восстановить её невозможно",
        "confidential": "зарегистрировано под номером",
        "when": "вчера",
        "amount": "150 000 ₸",
    },
    "en": {
        "notice": "the messenger company itself",
        "summary": "Please check your report",
        "lost": "cannot be recovered",
        "confidential": "registered under reference",
        "when": "yesterday",
        "amount": "150,000 ₸",
    },
}
RECEIPT = re.compile(r"\b(\d{4} \d{4} \d{4} \d{4})\b")
REFERENCE = re.compile(r"\b([2-9A-Z]{3}-[2-9A-Z]{4})\b")


# A tiny flow that hands over to the tip flows the way feedback and status do.
HANDOFF = Flow("handoff", entry="give", menu_title="tip.menu", menu_order=99)


@HANDOFF.prompt("give")
async def _ask_give(ctx: Context) -> Reply:
    return Reply("handoff: send JSON prefill, a receipt, or 'inbox'")


@HANDOFF.on("give")
async def _on_give(msg: Inbound, ctx: Context) -> Go:
    if msg.text.startswith("{"):
        return Go(flow="tip", data={"prefill": json.loads(msg.text)})
    if msg.text == "inbox":
        return Go(flow="tip_inbox")
    return Go(flow="tip_inbox", data={"receipt": msg.text})


def handoff_chats(runtime: Runtime, clock: Clock) -> Callable[..., Chat]:
    """Chats on a dispatcher that also knows the HANDOFF flow."""
    dispatcher = Dispatcher(
        storage=runtime.storage,
        catalogs=runtime.catalogs,
        flows={**runtime.flows, HANDOFF.name: HANDOFF},
        settings=runtime.settings,
        refdata=runtime.refdata,
        cipher=runtime.cipher,
        clock=clock,
    )

    def make(chat_key: str = "chat-1", lang: str | None = None) -> Chat:
        return Chat(dispatcher, chat_key=chat_key, lang=lang)

    return make


@pytest.fixture
def handoff_chat(runtime: Runtime, clock: Clock) -> Callable[..., Chat]:
    return handoff_chats(runtime, clock)


async def attach(runtime: Runtime, data: bytes, name: str = "evidence.txt") -> Attachment:
    stored = runtime.attachments.put(data, declared_type=None, file_name=name)
    return Attachment(
        AttachmentKind.DOCUMENT, stored.content_type, stored.size, stored.blob_id, name
    )


async def to_notice(chat: Chat, lang: str) -> None:
    await start_in(chat, lang)
    await chat.press_payload("flow:tip")


async def fill_tip(chat: Chat, runtime: Runtime, lang: str, *, what: str | None = None) -> None:
    """From the notice's choice to the summary, answering every step."""
    await chat.send(what or WHAT[lang])
    await chat.press_payload("more:next")
    await chat.send("Иванов А., бас маман / head of unit")
    await chat.press_payload("reg:karaganda")
    await chat.send(SAYS[lang]["when"])
    await chat.send("150 000 тг")
    await chat.send(attachments=[await attach(runtime, b"scan of a receipt\n")])
    await chat.press_payload("ev:done")


async def tickets(runtime: Runtime) -> list[dict[str, object]]:
    async with (
        runtime.storage.read() as tx,
        tx.conn.execute("SELECT * FROM tickets ORDER BY id") as cur,
    ):
        return [dict(row) for row in await cur.fetchall()]


@pytest.mark.parametrize("lang", LANGS)
async def test_anonymous_tip_end_to_end(new_chat, runtime: Runtime, lang: str) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_notice(chat, lang)
    assert SAYS[lang]["notice"] in chat.text
    assert "1424" in chat.text and "Telegram" in chat.text and "Meta" in chat.text
    await chat.press_payload("tip:anon")
    await fill_tip(chat, runtime, lang)
    assert SAYS[lang]["summary"] in chat.text
    for shown in (WHAT[lang], "Иванов А.", SAYS[lang]["when"], SAYS[lang]["amount"]):
        assert shown in chat.text.replace("\xa0", " ").replace("\u202f", " ")
    assert runtime.refdata.region("karaganda").name(lang) in chat.text  # type: ignore[union-attr]

    await chat.press_payload("tip:ok")
    receipt = RECEIPT.search(chat.text)
    assert receipt is not None
    assert SAYS[lang]["lost"] in chat.text
    assert REFERENCE.search(chat.text) is None  # the staff reference is not the tipster's key
    assert chat.button("🛡")  # back at the main menu

    [row] = await tickets(runtime)
    assert (row["kind"], row["privacy"], row["citizen_id"], row["channel"]) == (
        "tip",
        "anonymous",
        None,
        None,
    )
    assert row["receipt_hash"] is None  # the receipt is not stored, even hashed
    assert row["receipt_locator"] == receipt_locator(receipt.group(1).replace(" ", ""))
    assert row["sealed"] is not None and WHAT[lang].encode() not in row["sealed"]
    async with runtime.storage.read() as tx:
        ticket = await tx.tickets.get(int(str(row["id"])))
        assert ticket is not None
        assert len(await tx.tips.files(ticket.id)) == 1
        assert await tx.tickets.attachments(ticket.id) == []
    contents = await sealed.contents(runtime, ticket)
    assert contents["what"] == WHAT[lang]
    assert (contents["region"], contents["amount"]) == ("karaganda", 150000)
    assert contents["when"] == SAYS[lang]["when"]


@pytest.mark.parametrize("lang", LANGS)
async def test_confidential_tip_end_to_end(new_chat, runtime: Runtime, clock, lang: str) -> None:
    chat: Chat = new_chat(chat_key="tg-4242", lang=lang)
    await to_notice(chat, lang)
    await chat.press_payload("tip:conf")
    await fill_tip(chat, runtime, lang)
    # Confidential: one more step, how to reach the tipster.
    assert chat.button("💬")
    await chat.send("Айгерим, +7 701 234 5678")
    assert "+7 701 234 5678" in chat.text
    await chat.press_payload("tip:ok")
    assert SAYS[lang]["confidential"] in chat.text
    reference = REFERENCE.search(chat.text)
    assert reference is not None and RECEIPT.search(chat.text) is not None

    [row] = await tickets(runtime)
    assert (row["privacy"], row["citizen_id"], row["summary"]) == ("confidential", None, None)
    assert row["reference"] == reference.group(1)
    async with runtime.storage.transaction() as tx:
        ticket = await tx.tickets.by_reference(reference.group(1))
        assert ticket is not None and ticket.due_on is not None
        events = [e["action"] for e in await _events(tx, ticket.id)]
    identity = await sealed.identity(runtime, ticket)
    assert runtime.catalogs[lang].date(ticket.due_on) in chat.text
    assert identity == {
        "channel": "console",
        "chat_key": "tg-4242",
        "contact": "Айгерим, +7 701 234 5678",
        "reach_in_chat": False,
    }
    assert events == []  # a tip's filing leaves no event: its neighbours would date it


async def _events(tx, ticket_id: int) -> list[dict[str, object]]:
    async with tx.conn.execute(
        "SELECT * FROM ticket_events WHERE ticket_id = ? ORDER BY id", (ticket_id,)
    ) as cur:
        return [dict(r) for r in await cur.fetchall()]


async def test_confidential_contact_can_be_this_chat(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await to_notice(chat, "en")
    await chat.press_payload("tip:conf")
    await fill_tip(chat, runtime, "en")
    await chat.press_payload("tip:chat")
    assert "How to reach you: in this chat" in chat.text
    await chat.press_payload("tip:ok")
    async with runtime.storage.transaction() as tx:
        [row] = await tickets(runtime)
        ticket = await tx.tickets.get(int(str(row["id"])))
        assert ticket is not None
    identity = await sealed.identity(runtime, ticket)
    assert (
        identity is not None and identity["reach_in_chat"] is True and identity["contact"] is None
    )


@pytest.mark.parametrize("lang", LANGS)
async def test_data_from_another_flow_is_carried_over(handoff_chat, runtime, lang) -> None:
    chat: Chat = handoff_chat(lang=lang)
    await start_in(chat, lang)
    await chat.press_payload("flow:handoff")
    prefill = {
        "region": "shymkent",
        "subject": "ЦОН №3 / PSC 3",
        "category": "identity",
        "what": "asked for an informal payment",
    }
    await chat.send(json.dumps(prefill, ensure_ascii=False))
    carried = chat.replies[0].text
    assert runtime.catalogs[lang]("tip.carried") in carried
    for shown in ("ЦОН №3 / PSC 3", "asked for an informal payment"):
        assert shown in carried
    assert runtime.refdata.region("shymkent").name(lang) in carried
    assert runtime.refdata.category("identity").name(lang) in carried
    await chat.press_payload("tip:anon")
    # "What" offers to keep the carried text; "who" and "where" are skipped.
    assert "asked for an informal payment" in chat.text
    await chat.press_payload("more:keep")
    assert chat.button("⏭")  # straight to "when"
    await chat.press_payload("tip:skip")
    await chat.press_payload("tip:skip")
    await chat.press_payload("ev:skip")
    assert runtime.refdata.region("shymkent").name(lang) in chat.text
    await chat.press_payload("tip:ok")
    async with runtime.storage.read() as tx:
        [row] = await tickets(runtime)
        ticket = await tx.tickets.get(int(str(row["id"])))
        assert ticket is not None
    contents = await sealed.contents(runtime, ticket)
    assert contents["region"] == "shymkent" and contents["who"] == "ЦОН №3 / PSC 3"
    assert contents["category"] == "identity"
    assert contents["what"] == "asked for an informal payment"
    assert contents["when"] is None and contents["amount"] is None


async def test_nonsense_prefill_is_dropped(handoff_chat) -> None:
    chat: Chat = handoff_chat(lang="en")
    await start_in(chat, "en")
    await chat.press_payload("flow:handoff")
    await chat.send(json.dumps({"region": "atlantis", "subject": None, "category": 7}))
    assert "carried over" not in chat.text
    await chat.press_payload("tip:anon")
    assert "Describe it in your own words" in chat.text


async def test_edit_from_the_summary_returns_to_it(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_notice(chat, "ru")
    await chat.press_payload("tip:anon")
    await fill_tip(chat, runtime, "ru")
    await chat.press_payload("tip:edit")
    await chat.press_payload("ed:where")
    await chat.press_payload("reg:pavlodar")
    assert "Проверьте ваше сообщение" in chat.text and "Павлодарская область" in chat.text
    await chat.press_payload("tip:edit")
    await chat.press_payload("ed:amount")
    await chat.send("2,5 млн тенге")
    assert "2 500 000 ₸" in chat.text.replace("\xa0", " ")
    # Anonymous → confidential asks how to reach the tipster, then comes back.
    await chat.press_payload("tip:edit")
    await chat.press_payload("ed:privacy")
    await chat.press_payload("tip:conf")
    assert chat.button("💬")
    await chat.press_payload("tip:chat")
    assert "Как связаться: в этом чате" in chat.text
    # ...and back to anonymous drops the contact again.
    await chat.press_payload("tip:edit")
    await chat.press_payload("ed:privacy")
    await chat.press_payload("tip:anon")
    assert "Как связаться" not in chat.text and "анонимное" in chat.text
    # Files can be removed and the step left without any.
    await chat.press_payload("tip:edit")
    await chat.press_payload("ed:evidence")
    await chat.press_payload("ev:clear")
    await chat.press_payload("ev:skip")
    assert "Файлы: приложено 0" in chat.text
    await chat.press_payload("tip:ok")
    [row] = await tickets(runtime)
    assert row["privacy"] == "anonymous"
    async with runtime.storage.read() as tx:
        ticket = await tx.tickets.get(int(str(row["id"])))
        assert ticket is not None
        assert await tx.tips.files(ticket.id) == []
    contents = await sealed.contents(runtime, ticket)
    assert contents["region"] == "pavlodar" and contents["amount"] == 2_500_000
    assert contents["what"] == WHAT["ru"]  # untouched fields survive every edit


async def test_choice_and_back(new_chat) -> None:
    chat: Chat = new_chat(lang="kk")
    await to_notice(chat, "kk")
    await chat.send("Жасырын")  # the label typed instead of pressed
    assert "Не болды?" in chat.text
    await chat.send("артқа")
    assert "мессенджер компаниясының өзі" in chat.text
    await chat.press_payload("tip:conf")
    assert "Не болды?" in chat.text


async def test_cancel_stores_nothing_and_forgets_the_draft(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await to_notice(chat, "en")
    await chat.press_payload("tip:anon")
    await fill_tip(chat, runtime, "en")
    await chat.press_payload("tip:cancel")
    await chat.press_payload("tip:drop")
    assert "Nothing was sent" in chat.text
    assert await tickets(runtime) == []
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find("console", "chat-1")
        assert citizen is not None
        assert await tx.sessions.load(citizen.id) is None
    # The main menu just shown still works although the session was deleted.
    await chat.press_payload("flow:tip")
    assert "the messenger company itself" in chat.text


async def test_bad_inputs_keep_the_state_and_what_was_entered(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await to_notice(chat, "en")
    await chat.send("maybe")  # text where a button is expected
    assert "choose one of the options" in chat.text
    await chat.press_payload("tip:anon")
    await chat.send("   ")
    assert "empty" in chat.text.lower() or "type" in chat.text.lower()
    await chat.send("bribe")
    assert "at least 20 characters" in chat.text
    await chat.send("x" * 4001)
    assert "at the end that did not fit: 1" in chat.text  # the beginning is kept
    await chat.press_payload("more:clear")  # the text stays until a new one replaces it
    await chat.send(unsupported="input.sticker")
    assert "it will replace the one you wrote (4,000 characters)" in chat.text
    await chat.send(attachments=[await attach(runtime, b"early file\n")])
    assert "it will replace the one you wrote" in chat.text
    await chat.send(location=Location(43.2, 76.9))
    assert "it will replace the one you wrote" in chat.text
    await chat.send(payload="reg:astana")  # a stale button from elsewhere
    assert "earlier message" in chat.text
    mixed = ("Пара слов қазақша, English and emoji 🙈💸 " * 120)[:4000]
    await chat.send(mixed)
    await chat.press_payload("more:next")
    await chat.send("<b>Head</b>'; DROP TABLE tickets; --")
    await chat.send("Karaganda please")  # where: typed text that is no region
    assert "could not tell which region" in chat.text
    await chat.press_payload("reg:astana")
    await chat.send("x" * 201)
    assert "under 200 characters" in chat.text
    await chat.send("{{date}} last spring")
    await chat.send("about a lot")
    assert "could not read that as an amount" in chat.text
    await chat.press_payload("tip:skip")
    await chat.send("here is my proof")  # text where files are expected
    assert "please send a file" in chat.text
    limit = runtime.settings.max_attachments
    files = [await attach(runtime, f"file {i}\n".encode()) for i in range(limit + 1)]
    await chat.send(attachments=files)
    assert f"Received {limit} files" in chat.text
    assert f"maximum of {limit} files" in chat.text  # the one too many is refused, and said so
    await chat.press_payload("ev:clear")
    await chat.send(attachments=files[:2])
    assert "Received 2 files" in chat.text
    await chat.press_payload("ev:done")
    assert "<b>Head</b>'; DROP TABLE tickets; --" in chat.text  # shown back verbatim
    assert "{{date}} last spring" in chat.text
    assert "Files: 2 attached" in chat.text
    await chat.press_payload("tip:ok")
    [row] = await tickets(runtime)
    async with runtime.storage.read() as tx:
        ticket = await tx.tickets.get(int(str(row["id"])))
        assert ticket is not None
    contents = await sealed.contents(runtime, ticket)
    assert contents["what"] == mixed.strip()  # 4,000 characters of mixed scripts, intact
    assert contents["who"] == "<b>Head</b>'; DROP TABLE tickets; --"
    assert contents["when"] == "{{date}} last spring"


@pytest.mark.parametrize(
    ("typed", "tenge"),
    [
        ("150 000 тг", 150_000),
        ("150,000₸", 150_000),
        ("50000 tenge", 50_000),
        ("1 500 000 тенге", 1_500_000),
        ("5 000тг", 5_000),
        ("300 000 теңге", 300_000),
        ("2,5 млн", 2_500_000),
        ("500 мың", 500_000),
        ("1.500.000 т.", 1_500_000),
        ("150000 KZT", 150_000),
    ],
)
def test_amounts_people_type(typed: str, tenge: int) -> None:
    assert parse_amount(typed) == tenge


@pytest.mark.parametrize("typed", ["", "a lot", "0", "-5", "около 500", "12 abc", "1" * 20])
def test_amounts_refused(typed: str) -> None:
    assert parse_amount(typed) is None
