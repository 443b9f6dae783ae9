"""Sessions live in the database: a restart mid-conversation continues at the same step
with the same data, and a conversation left idle too long ends with a polite note."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from bot.config import Settings
from bot.dispatcher import Dispatcher
from bot.domain import Channel, Inbound, Reply
from bot.flow import TEXT, Context, Flow, Go
from bot.i18n import LANGUAGES, Catalogs
from bot.runtime import Runtime, open_runtime
from handlers import load_flows
from tests.chat import Chat
from tests.conftest import Clock, start_in

TITLES = {"kk": "Басты мәзір", "ru": "Главное меню", "en": "Main menu"}


def two_step_probe(seen: list[str]) -> Flow:
    """name → city → done; each answer is kept in ctx.data."""
    flow = Flow("probe", entry="name", menu_title="menu.help", menu_order=999)

    @flow.prompt("name")
    async def ask_name(ctx: Context) -> Reply:
        return Reply("probe: your name?")

    @flow.on("name", accepts=frozenset({TEXT}))
    async def on_name(msg: Inbound, ctx: Context) -> Go:
        seen.append(f"name={msg.text}")
        ctx.data["name"] = msg.text
        return Go(state="city")

    @flow.prompt("city")
    async def ask_city(ctx: Context) -> Reply:
        return Reply(f"probe: {ctx.data['name']}, your city?")

    @flow.on("city", accepts=frozenset({TEXT}))
    async def on_city(msg: Inbound, ctx: Context) -> Go:
        seen.append(f"city={msg.text}")
        ctx.data["city"] = msg.text
        return Go(state=None, say=(Reply(f"probe: {ctx.data['name']} from {msg.text}"),))

    return flow


@asynccontextmanager
async def running(
    settings: Settings, clock: Clock, catalogs: Catalogs, probe: Flow
) -> AsyncIterator[tuple[Runtime, Dispatcher]]:
    """One "process lifetime": a runtime on the file, plus a dispatcher with the probe."""
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        yield (
            runtime,
            Dispatcher(
                flows={**load_flows(), "probe": probe},
                storage=runtime.storage,
                catalogs=catalogs,
                settings=runtime.settings,
                refdata=runtime.refdata,
                cipher=runtime.cipher,
                clock=clock,
            ),
        )
    finally:
        await runtime.close()


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_restart_in_the_language_picker_continues_there(
    settings: Settings, clock: Clock, catalogs: Catalogs, lang: str
) -> None:
    async with running(settings, clock, catalogs, two_step_probe([])) as (runtime, _):
        chat = Chat(runtime.dispatcher, lang=lang)
        await chat.send("/start")
        offered = [b.payload for b in chat.buttons]
        assert offered[0] == f"lang:{lang}"
    async with running(settings, clock, catalogs, two_step_probe([])) as (runtime, _):
        chat = Chat(runtime.dispatcher, lang=lang)
        # The buttons offered before the restart still work: the step was kept.
        await chat.send(payload=offered[2])
        other = offered[2].removeprefix("lang:")
        assert TITLES[other] in chat.text
        assert catalogs[other]("menu.welcome", **runtime.refdata.agency.about(other)) in chat.text


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_restart_mid_flow_keeps_the_step_and_the_data(
    settings: Settings, clock: Clock, catalogs: Catalogs, lang: str
) -> None:
    seen: list[str] = []
    async with running(settings, clock, catalogs, two_step_probe(seen)) as (_, dispatcher):
        chat = Chat(dispatcher, lang=lang)
        await start_in(chat, lang)
        await chat.press_payload("flow:probe")
        await chat.send("Aigerim")
        assert chat.text == "probe: Aigerim, your city?"
    clock.advance(minutes=5)
    async with running(settings, clock, catalogs, two_step_probe(seen)) as (_, dispatcher):
        chat = Chat(dispatcher, lang=lang)
        await chat.send("Shymkent")
        assert "probe: Aigerim from Shymkent" in chat.text
        assert TITLES[lang] in chat.text  # in the language chosen before the restart
    assert seen == ["name=Aigerim", "city=Shymkent"]


async def test_restart_also_keeps_dedupe(
    settings: Settings, clock: Clock, catalogs: Catalogs
) -> None:
    seen: list[str] = []
    async with running(settings, clock, catalogs, two_step_probe(seen)) as (_, dispatcher):
        chat = Chat(dispatcher, lang="en")
        await start_in(chat, "en")
        await chat.press_payload("flow:probe")
        await chat.send("Dana", external_id="upd-7")
    async with running(settings, clock, catalogs, two_step_probe(seen)) as (_, dispatcher):
        chat = Chat(dispatcher, lang="en")
        assert await chat.send("Dana", external_id="upd-7") == []
        await chat.send("Almaty")
        assert "probe: Dana from Almaty" in chat.text
    assert seen == ["name=Dana", "city=Almaty"]


@pytest.fixture
def probe_chat(runtime: Runtime, clock: Clock) -> Callable[[str], Chat]:
    seen: list[str] = []
    dispatcher = Dispatcher(
        flows={**load_flows(), "probe": two_step_probe(seen)},
        storage=runtime.storage,
        catalogs=runtime.catalogs,
        settings=runtime.settings,
        refdata=runtime.refdata,
        cipher=runtime.cipher,
        clock=clock,
    )
    return lambda lang: Chat(dispatcher, lang=lang)


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_an_idle_session_expires_politely(
    runtime: Runtime, clock: Clock, catalogs: Catalogs, probe_chat: Callable[[str], Chat], lang: str
) -> None:
    t = catalogs[lang]
    idle = runtime.settings.session_idle_minutes
    chat = probe_chat(lang)
    await start_in(chat, lang)
    await chat.press_payload("flow:probe")
    await chat.send("Erlan")
    clock.advance(minutes=idle + 1)
    await chat.send("Taraz")
    note = t.ngettext("session.expired", "session.expired", idle)
    assert str(idle) in note
    # The note, then the main menu: the late answer is not taken as a menu choice.
    assert chat.text == "\n\n".join((note, t("menu.title")))
    assert [b.payload for b in chat.buttons][-2:] == ["m:lang", "m:help"]
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(Channel.CONSOLE, "chat-1")
        assert citizen is not None
        session = await tx.sessions.load(citizen.id)
    assert session is not None
    assert (session.flow, session.state, session.data["d"]) == ("menu", "main", {})


async def test_a_session_within_the_idle_time_continues(
    runtime: Runtime, clock: Clock, catalogs: Catalogs, probe_chat: Callable[[str], Chat]
) -> None:
    chat = probe_chat("ru")
    await start_in(chat, "ru")
    await chat.press_payload("flow:probe")
    await chat.send("Erlan")
    clock.advance(minutes=runtime.settings.session_idle_minutes - 1)
    await chat.send("Taraz")
    assert "probe: Erlan from Taraz" in chat.text
    assert "Разговор закрыт" not in chat.text


async def test_an_expired_session_still_obeys_a_global_command(
    runtime: Runtime, clock: Clock, catalogs: Catalogs, probe_chat: Callable[[str], Chat]
) -> None:
    chat = probe_chat("kk")
    await start_in(chat, "kk")
    await chat.press_payload("flow:probe")
    clock.advance(hours=3)
    await chat.send("тіл")
    t = catalogs["kk"]
    assert t.ngettext("session.expired", "session.expired", 30) in chat.text
    assert t("language.prompt") in chat.text


MENU_FLOWS = sorted(name for name, flow in load_flows().items() if flow.menu_title)


@pytest.mark.parametrize("name", MENU_FLOWS)
@pytest.mark.parametrize("lang", LANGUAGES)
async def test_restart_inside_every_flow_resumes_the_same_question(
    settings: Settings, clock: Clock, catalogs: Catalogs, name: str, lang: str
) -> None:
    """Walk into each registered flow (a complaint mid-way, a rating...), a step or two by
    its first offered option; after a restart the session and the question are the same."""

    async def session_of(runtime: Runtime) -> tuple[str, str, dict[str, object]]:
        async with runtime.storage.read() as tx:
            citizen = await tx.citizens.find(Channel.CONSOLE, "chat-1")
            assert citizen is not None
            record = await tx.sessions.load(citizen.id)
        assert record is not None
        return record.flow, record.state, record.data

    async with running(settings, clock, catalogs, two_step_probe([])) as (runtime, _):
        chat = Chat(runtime.dispatcher, lang=lang)
        await start_in(chat, lang)
        await chat.press_payload(f"flow:{name}")
        for _ in range(2):
            choices = [b for b in chat.buttons if not b.payload.startswith(("g:", "m:"))]
            if not choices:
                break
            await chat.press_payload(choices[0].payload)
        before = await session_of(runtime)
        question = chat.replies[-1]
        if name == "complaint":  # really mid-way: past the first step, with answers kept
            assert before[0] == "complaint" and before[1] != runtime.flows[name].entry
            assert before[2]["d"]
    clock.advance(minutes=1)
    async with running(settings, clock, catalogs, two_step_probe([])) as (runtime, _):
        assert await session_of(runtime) == before
        chat = Chat(runtime.dispatcher, lang=lang)
        # "help" answers and asks the current question again: the same one as before.
        await chat.send({"kk": "көмек", "ru": "помощь", "en": "help"}[lang])
        assert catalogs[lang]("help.text", **runtime.refdata.agency.about(lang)) in chat.text
        assert chat.replies[-1] == question
        after = await session_of(runtime)
        assert after[:2] == before[:2]
