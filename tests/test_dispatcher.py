"""The dispatcher's promises, through the real dispatcher on a temporary SQLite file:
conversations in three languages, dedupe, chats in parallel, one chat in order, flood
control, the error boundary and the atomicity of a step.

A tiny test-only "probe" flow records what its handler sees, so ordering and "every
message took effect" can be checked from the outside.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace

import pytest

from bot.dispatcher import Dispatcher
from bot.domain import Channel, Inbound, Reply
from bot.flow import TEXT, Context, Flow, Go
from bot.i18n import LANGUAGES, Catalogs
from bot.runtime import Runtime
from bot.storage.records import RatingRecord
from handlers import load_flows
from tests.chat import Chat
from tests.conftest import start_in
from tests.db import sql

TITLES = {"kk": "Басты мәзір", "ru": "Главное меню", "en": "Main menu"}


@dataclass
class Probe:
    """A flow whose handler records (chat, text) in the order it sees them."""

    seen: list[tuple[str, str]] = field(default_factory=list)
    flow: Flow = field(init=False)

    def __post_init__(self) -> None:
        flow = Flow(
            "probe", entry="listen", menu_title="menu.help", menu_order=999, resume="draft.resume"
        )

        @flow.prompt("listen")
        async def ask(ctx: Context) -> Reply:
            return Reply(f"probe listening in {ctx.lang}")

        @flow.on("listen", accepts=frozenset({TEXT}))
        async def hear(msg: Inbound, ctx: Context) -> Go:
            self.seen.append((msg.chat_key, msg.text))
            ctx.data.setdefault("texts", []).append(msg.text)
            if msg.text.startswith("rate"):
                rating = RatingRecord(category="probe", rating=4, locale=ctx.lang)
                await ctx.tx.tickets.add_rating(rating, now=ctx.now)
            if msg.text.endswith("boom"):
                raise RuntimeError("the probe exploded")
            return Go(state="listen", say=(Reply(f"got {msg.text}"),), ask=False)

        self.flow = flow

    def texts(self, chat_key: str) -> list[str]:
        return [text for key, text in self.seen if key == chat_key]


def build(runtime: Runtime, probe: Probe, **overrides: object) -> Dispatcher:
    """A dispatcher over the runtime's storage with the probe flow added."""
    return Dispatcher(
        flows={**load_flows(), "probe": probe.flow},
        storage=runtime.storage,
        catalogs=runtime.catalogs,
        settings=runtime.settings.with_overrides(**overrides),
        refdata=runtime.refdata,
        cipher=runtime.cipher,
        clock=runtime.dispatcher.clock,
    )


async def enter_probe(chat: Chat, lang: str) -> None:
    await start_in(chat, lang)
    await chat.press_payload("flow:probe")
    assert chat.text == f"probe listening in {lang}"


def db_rows(runtime: Runtime, statement: str) -> list[tuple[object, ...]]:
    return sql(runtime.settings, statement)


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def dispatcher(runtime: Runtime, probe: Probe) -> Dispatcher:
    return build(runtime, probe)


# -- conversations in three languages ----------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_menu_conversation(runtime: Runtime, catalogs: Catalogs, lang: str) -> None:
    t = catalogs[lang]
    chat = Chat(runtime.dispatcher, lang=lang)
    await chat.send("hello")
    assert t("language.prompt") in chat.text
    assert chat.buttons[0].payload == f"lang:{lang}"  # the platform hint comes first
    await chat.press_payload(f"lang:{lang}")
    assert t("menu.welcome", **runtime.refdata.agency.about(lang)) in chat.text
    assert TITLES[lang] in chat.text
    # Help, by the word in this language, answers and shows the menu again.
    await chat.send({"kk": "көмек", "ru": "помощь", "en": "help"}[lang])
    assert "1424" in chat.text
    assert TITLES[lang] in chat.text
    # Free text where a button is expected: a polite refusal in the same language.
    await chat.send("something random")
    assert t("input.use_buttons") in chat.text
    assert TITLES[lang] in chat.text
    # A typed number picks the matching button: the last two are language and help.
    count = len(chat.buttons)
    await chat.send(str(count))
    assert t("help.text", **runtime.refdata.agency.about(lang)) in chat.text
    await chat.send(str(count - 1))
    assert t("language.prompt") in chat.text
    # Switch to another language and back, by typing the language's name.
    other = "ru" if lang != "ru" else "en"
    await chat.send({"ru": "Русский", "en": "English"}[other])
    assert TITLES[other] in chat.text
    assert catalogs[other]("language.set") in chat.text


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_every_menu_entry_opens_and_cancel_returns(
    runtime: Runtime, catalogs: Catalogs, lang: str
) -> None:
    """Each registered flow opens from the menu; "menu" brings the citizen back."""
    chat = Chat(runtime.dispatcher, lang=lang)
    await start_in(chat, lang)
    flows = [b.payload for b in chat.buttons if b.payload.startswith("flow:")]
    assert flows == sorted(flows, key=lambda p: runtime.flows[p[5:]].menu_order)
    for payload in flows:
        await chat.press_payload(payload)
        assert chat.replies, payload
        async with runtime.storage.read() as tx:
            citizen = await tx.citizens.find(Channel.CONSOLE, "chat-1")
            assert citizen is not None
            session = await tx.sessions.load(citizen.id)
        assert session is not None
        assert session.flow == payload.removeprefix("flow:")
        await chat.send({"kk": "мәзір", "ru": "меню", "en": "menu"}[lang])
        assert TITLES[lang] in chat.text, payload


# -- dedupe, concurrency, ordering -------------------------------------------------------


async def test_same_external_id_twice_has_one_effect(
    runtime: Runtime, dispatcher: Dispatcher, probe: Probe
) -> None:
    chat = Chat(dispatcher, chat_key="dup", lang="ru")
    await enter_probe(chat, "ru")
    first = await chat.send("one", external_id="ext-42")
    assert [r.text for r in first] == ["got one"]
    sessions = db_rows(runtime, "SELECT flow, state, data, updated_at FROM sessions")
    assert await chat.send("one", external_id="ext-42") == []
    assert probe.texts("dup") == ["one"]
    assert db_rows(runtime, "SELECT flow, state, data, updated_at FROM sessions") == sessions
    # Redelivered at once, concurrently: still one effect.
    both = await asyncio.gather(
        *(
            dispatcher.handle(
                Inbound(channel=Channel.CONSOLE, chat_key="dup", text="two", external_id="ext-43")
            )
            for _ in range(5)
        )
    )
    assert sorted(len(replies) for replies in both) == [0, 0, 0, 0, 1]
    assert probe.texts("dup") == ["one", "two"]
    # The same id on another channel is another message.
    other = Chat(dispatcher, chat_key="dup", lang="ru", channel=Channel.TELEGRAM)
    assert await other.send("/start", external_id="ext-42") != []


async def test_chats_at_once_never_see_each_others_state(
    dispatcher: Dispatcher, probe: Probe, catalogs: Catalogs
) -> None:
    async def talk(i: int) -> list[str]:
        lang = LANGUAGES[i % 3]
        chat = Chat(dispatcher, chat_key=f"chat-{i}", lang=lang)
        await enter_probe(chat, lang)
        answers = []
        for n in range(5):
            await chat.send(f"c{i}-m{n}")
            answers.append(chat.text)
        await chat.send({"kk": "мәзір", "ru": "меню", "en": "menu"}[lang])
        answers.append(chat.text)
        return answers

    results = await asyncio.gather(*(talk(i) for i in range(30)))
    for i, answers in enumerate(results):
        lang = LANGUAGES[i % 3]
        assert answers[:5] == [f"got c{i}-m{n}" for n in range(5)]
        assert catalogs[lang]("nav.cancelled") in answers[5]
        assert TITLES[lang] in answers[5]
        assert probe.texts(f"chat-{i}") == [f"c{i}-m{n}" for n in range(5)]


async def test_one_chats_burst_is_handled_in_order(
    dispatcher: Dispatcher, probe: Probe, runtime: Runtime
) -> None:
    chat = Chat(dispatcher, chat_key="burst", lang="kk")
    await enter_probe(chat, "kk")
    base = Inbound(channel=Channel.CONSOLE, chat_key="burst", locale_hint="kk")
    tasks = [
        asyncio.create_task(dispatcher.handle(replace(base, text=f"m{n}", external_id=f"b{n}")))
        for n in range(50)
    ]
    results = await asyncio.gather(*tasks)
    assert probe.texts("burst") == [f"m{n}" for n in range(50)]
    assert [[r.text for r in replies] for replies in results] == [[f"got m{n}"] for n in range(50)]


# -- flood control -----------------------------------------------------------------------


@pytest.mark.parametrize("channel", list(Channel))
async def test_a_flood_is_dropped_before_any_work_with_one_note(
    runtime: Runtime, probe: Probe, catalogs: Catalogs, channel: Channel
) -> None:
    # The attack: 30 messages in 1.8 s were all processed and saved. Past the burst, the
    # extra messages are dropped before the step and before storage, with one note.
    chat = Chat(build(runtime, probe), chat_key="flood", lang="ru", channel=channel)
    await enter_probe(chat, "ru")
    strict = build(runtime, probe, flood_burst=3, flood_per_second=0.1)
    base = Inbound(channel=channel, chat_key="flood", locale_hint="ru")
    claimed = db_rows(runtime, "SELECT count(*) FROM processed_ids")[0][0]
    tasks = [
        asyncio.create_task(strict.handle(replace(base, text=f"f{n}", external_id=f"fl{n}")))
        for n in range(40)
    ]
    results = await asyncio.gather(*tasks)
    texts = [r.text for replies in results for r in replies]
    slow = catalogs["ru"]("flood.slow_down")
    assert texts == ["got f0", "got f1", "got f2", slow]
    assert probe.texts("flood") == ["f0", "f1", "f2"]
    assert db_rows(runtime, "SELECT count(*) FROM processed_ids") == [(claimed + 3,)]
    assert dropped(strict, channel.value) == 37
    # Another chat is not held back by this one's flood.
    calm = Chat(strict, chat_key="calm", lang="en", channel=channel)
    await calm.send("/start")
    assert calm.replies and slow not in calm.text


def dropped(dispatcher: Dispatcher, channel: str) -> float:
    sample = dispatcher.metrics.registry.get_sample_value(
        "govbot_flood_dropped_total", {"channel": channel}
    )
    return sample or 0.0


async def test_duplicates_do_not_spend_the_flood_budget(
    runtime: Runtime, probe: Probe, catalogs: Catalogs
) -> None:
    # Twilio retries 0.3 s apart drew "You are sending messages very quickly" and once the
    # real answer was withheld: a repeat is recognised before flood control counts it.
    strict = build(runtime, probe, flood_burst=3, flood_per_second=0.1)
    chat = Chat(strict, chat_key="retried", lang="en", channel=Channel.WHATSAPP)
    await start_in(chat, "en")  # two messages of the burst of three
    base = Inbound(channel=Channel.WHATSAPP, chat_key="retried", locale_hint="en")
    first = replace(base, payload="flow:probe", external_id="SM-retried")
    results = await asyncio.gather(*(strict.handle(first) for _ in range(6)))
    assert [r.text for r in results[0]] == ["probe listening in en"]
    assert all(replies == [] for replies in results[1:])
    assert dropped(strict, "whatsapp") == 0


async def test_the_shells_terminal_chat_can_be_exempt_from_flood_control(
    runtime: Runtime, probe: Probe
) -> None:
    chat = Chat(build(runtime, probe), chat_key="script", lang="en")
    await enter_probe(chat, "en")
    strict = build(runtime, probe, flood_burst=2, flood_per_second=0.1)
    strict.unthrottled.add(Channel.CONSOLE)
    chat.dispatcher = strict
    for n in range(10):
        await chat.send(f"s{n}")
        assert chat.text == f"got s{n}"


# -- error boundary and atomicity --------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_failing_step_apologises_logs_once_and_keeps_what_was_saved(
    runtime: Runtime,
    dispatcher: Dispatcher,
    probe: Probe,
    catalogs: Catalogs,
    caplog: pytest.LogCaptureFixture,
    lang: str,
) -> None:
    chat = Chat(dispatcher, chat_key=f"err-{lang}", lang=lang)
    await enter_probe(chat, lang)
    await chat.send("a")
    await chat.send("b")
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        await chat.send("boom")
    assert chat.text == catalogs[lang]("error.sorry")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert "the probe exploded" in caplog.text
    assert "Traceback" in caplog.text
    # The next message works, in the same state, with what was saved before the failure.
    await chat.send("c")
    assert chat.text == "got c"
    await chat.send("d")
    assert probe.texts(f"err-{lang}") == ["a", "b", "boom", "c", "d"]
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(Channel.CONSOLE, f"err-{lang}")
        assert citizen is not None
        assert citizen.locale == lang
        session = await tx.sessions.load(citizen.id)
    assert session is not None
    assert (session.flow, session.state) == ("probe", "listen")
    assert session.data["d"]["texts"] == ["a", "b", "c", "d"]


async def test_a_step_that_fails_after_writing_commits_nothing_but_the_processed_mark(
    runtime: Runtime, dispatcher: Dispatcher, probe: Probe
) -> None:
    chat = Chat(dispatcher, chat_key="atomic", lang="en")
    await enter_probe(chat, "en")
    await chat.send("rate once")  # control: a step that succeeds commits its rating
    assert db_rows(runtime, "SELECT count(*) FROM ratings") == [(1,)]
    before = db_rows(runtime, "SELECT data, updated_at FROM sessions")

    await chat.send("rate then boom", external_id="atomic-1")
    assert chat.text == runtime.catalogs["en"]("error.sorry")
    assert db_rows(runtime, "SELECT count(*) FROM ratings") == [(1,)]
    assert db_rows(runtime, "SELECT data, updated_at FROM sessions") == before
    # The apology path marked the message handled: a redelivery does nothing at all.
    key = runtime.cipher.keyed_hash("console:atomic-1", purpose="dedupe")
    assert db_rows(runtime, f"SELECT count(*) FROM processed_ids WHERE key = '{key}'") == [(1,)]
    assert await chat.send("rate then boom", external_id="atomic-1") == []
    assert probe.texts("atomic") == ["rate once", "rate then boom"]
    assert db_rows(runtime, "SELECT count(*) FROM ratings") == [(1,)]


# -- where the dispatcher leads: steps the flows declare ---------------------------------


async def test_a_session_in_a_step_that_no_longer_exists_opens_the_main_menu(
    runtime: Runtime, dispatcher: Dispatcher
) -> None:
    # A deploy renamed the step a citizen was in: "help" used to fail with an apology.
    chat = Chat(dispatcher, chat_key="renamed")
    await enter_probe(chat, "en")
    sql(runtime.settings, "UPDATE sessions SET state = 'renamed_away'")
    await chat.send("help")
    assert "How to use this bot" in chat.replies[0].text
    assert TITLES["en"] in chat.text
    assert "flow:probe" in [b.payload for b in chat.buttons]


def test_the_home_and_language_steps_are_declared_once(runtime: Runtime) -> None:
    flows = {name: flow for name, flow in load_flows().items() if name != "menu"}
    with pytest.raises(ValueError, match="'home'"):
        Dispatcher(
            flows=flows,
            storage=runtime.storage,
            catalogs=runtime.catalogs,
            settings=runtime.settings,
            refdata=runtime.refdata,
            cipher=runtime.cipher,
        )
