"""Every step that takes typed text obeys its own numbered options on WhatsApp (issue 15:
the number shown for «Артқа» was stored, «Қашан: 2», «Сома: 4 ₸»).

The steps are found from the flow definitions (every state whose `accepts` has TEXT), so
a new one is covered without touching this file: the walk reaches each through the real
twilio library and the webhook, from the main menu and from the question after a closing,
by sending every number on offer at every step it reaches (and a typed answer where only
text leads on). At a step that takes text, each number must do what its option says:
«Артқа» goes to the step before, «Басты мәзір» home, and no number becomes an answer.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.domain import Channel
from bot.flow import TEXT
from bot.staff.accounts import add_account
from bot.staff.actions import Actor, change_status
from bot.storage.records import SessionRecord
from handlers import load_flows
from tests.conftest import Clock
from tests.whatsapp_chat import Bot, WhatsAppChat, running_bot

NUMBER = "+77015550777"
RECEIPT = re.compile(r"\b\d{4} \d{4} \d{4} \d{4}\b")
LANGUAGE = {"kk": "Қазақша", "ru": "Русский"}
STORY = {
    "kk": "Маман құжатты тез беру үшін қолма-қол ақша талап етті, түбіртек берген жоқ.",
    "ru": "Специалист потребовал наличные за быструю выдачу документа, квитанции не дал.",
}
NAME = {"kk": "Сапарова Айгерим", "ru": "Сапарова Айгерим"}
REFUSED = {
    "kk": ("Тізімде мұндай нөмір жоқ", "нұсқалардың бірін таңдаңыз"),
    "ru": ("В списке нет такого номера", "Выберите один из вариантов"),
}
TEXT_STEPS = {
    (flow.name, state.name)
    for flow in load_flows().values()
    for state in flow.states.values()
    if TEXT in state.accepts
}


class Walk:
    """One WhatsApp chat, and the session behind it, read and put back between tries."""

    def __init__(self, bot: Bot, chat: WhatsAppChat, clock: Clock, lang: str) -> None:
        self.bot, self.chat, self.clock, self.lang = bot, chat, clock, lang
        self.home = ("menu", "main")
        self.seen: set[tuple[str, str]] = set()
        self.known: set[tuple[str, str, Any]] = set()  # shapes of drafts walked or queued
        self.samples: dict[str, str] = {}  # a typed answer that leads on, by state name

    async def citizen_id(self) -> int:
        async with self.bot.runtime.storage.read() as tx:
            citizen = await tx.citizens.find(Channel.WHATSAPP, NUMBER)
        assert citizen is not None
        return citizen.id

    async def session(self) -> SessionRecord | None:
        async with self.bot.runtime.storage.read() as tx:
            return await tx.sessions.load(await self.citizen_id())

    async def put_back(self, record: SessionRecord) -> None:
        """The session as it was, in the walk's language (the walk also chooses others)."""
        async with self.bot.runtime.storage.transaction() as tx:
            citizen = await tx.citizens.find(Channel.WHATSAPP, NUMBER)
            assert citizen is not None
            citizen.locale = self.lang
            await tx.citizens.save(citizen)
            reply = await tx.sessions.reply(record.citizen_id)
            await tx.sessions.save(record, now=self.clock(), reply=reply)

    def stored(self) -> tuple[Any, ...]:
        """What a step could have filed: tickets, their messages, answers to surveys."""
        tables = ("tickets", "ticket_messages", "ticket_satisfaction")
        return tuple(self.bot.rows(f"SELECT count(*) FROM {table}")[0][0] for table in tables)

    async def explore(self, start: SessionRecord) -> None:
        """Every step reachable from `start`, tried with every number on offer once per
        shape of the draft (which answers are there, yes/no answers as given): branches
        that hang on an earlier answer (solved or not) are walked both ways, while 20
        regions that lead to one question count once."""
        queue = [start]
        self.known.add(_shape(start))
        while queue:
            here = queue.pop(0)
            step = (here.flow, here.state)
            self.seen.add(step)
            offered = [payload for payload, _, _ in here.data.get("o", [])]
            tries = [str(n) for n in range(1, len(offered) + 1)]
            if here.state in self.samples and step in TEXT_STEPS:
                tries.append(self.samples[here.state])
            for typed in tries:
                await self.put_back(here)
                before = self.stored()
                await self.chat.send(typed)
                after = await self.session()
                if step in TEXT_STEPS and typed.isdigit():
                    self.check(here, offered[int(typed) - 1], typed, after, before)
                if after is not None and _shape(after) not in self.known:
                    self.known.add(_shape(after))
                    queue.append(after)

    def check(
        self,
        here: SessionRecord,
        payload: str,
        typed: str,
        after: SessionRecord | None,
        before: tuple[Any, ...],
    ) -> None:
        where = f"{typed} ({payload}) at {here.flow}/{here.state}: {self.chat.text!r}"
        assert not any(refusal in self.chat.text for refusal in REFUSED[self.lang]), where
        now = (after.flow, after.state) if after is not None else self.home
        history = here.data.get("h", [])
        if payload == "g:back":
            assert now == ((here.flow, history[-1]) if history else self.home), where
        if payload == "g:menu":
            assert now == self.home, where
        navigation = payload.startswith("g:")
        if navigation:
            assert self.stored() == before, where  # navigation files nothing
        # The number is no answer: not as text, nor (after Back or Main menu) as a sum.
        answers = (typed, int(typed)) if navigation else (typed,)
        old, new = here.data.get("d", {}), after.data.get("d", {}) if after else {}
        taken = [k for k, v in new.items() if v in answers and old.get(k) != v]
        assert taken == [], where


def _shape(record: SessionRecord) -> tuple[str, str, Any]:
    draft = record.data.get("d", {})
    return record.flow, record.state, tuple(sorted((k, _kind(v)) for k, v in draft.items()))


def _kind(value: Any) -> Any:
    return value if isinstance(value, bool) or value is None else type(value).__name__


async def file_complaint(walk: Walk) -> int:
    """A complaint on record with a question from staff, so "Answer" is on offer."""
    chat, lang = walk.chat, walk.lang
    for typed in ("1", "1", "1", "1", STORY[lang] * 2, "1", "1", NAME[lang], "1", "1"):
        await chat.send(typed)
    [(ticket_id,)] = walk.bot.rows("SELECT id FROM tickets WHERE kind = 'complaint'")
    async with walk.bot.runtime.storage.transaction() as tx:
        await tx.tickets.add_message(ticket_id, author="staff", body="?", now=walk.clock())
    return int(ticket_id)


async def file_tip(walk: Walk) -> str:
    """An anonymous tip; its receipt opens the tip's inbox from the status step."""
    for typed in ("3", "1", STORY[walk.lang], "1", "1", "1", "1", "1", "1", "1"):
        await walk.chat.send(typed)
    found = RECEIPT.search(walk.chat.text)
    assert found, walk.chat.text
    return found.group(0)


async def close(walk: Walk, ticket_id: int) -> None:
    """Resolve the complaint: the bot asks whether the problem was solved."""
    runtime = walk.bot.runtime
    async with runtime.storage.transaction() as tx:
        ticket = await tx.tickets.get(ticket_id)
        assert ticket is not None
        db = tx.for_staff
        rita = await add_account(db, "rita", "reviewer", "x" * 16, locale="kk", now=walk.clock())
        await change_status(
            db, runtime.catalogs, Actor(rita, None, walk.clock()), ticket,
            version=ticket.version, status="resolved", reason="Анықтама берілді",
        )  # fmt: skip


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_numbers_at_every_free_text_step_are_its_options(
    settings, clock: Clock, lang: str
) -> None:
    fast = {"flood_burst": 1000, "flood_per_second": 1000.0}
    async with running_bot(settings, clock, **fast) as bot:
        chat = bot.chat(NUMBER)
        walk = Walk(bot, chat, clock, lang)
        await chat.send("Сәлем")
        await chat.send(LANGUAGE[lang])
        home = await walk.session()
        assert home is not None and (home.flow, home.state) == walk.home
        ticket_id = await file_complaint(walk)
        receipt = await file_tip(walk)
        walk.samples = {
            "describe": STORY[lang],
            "what": STORY[lang],
            "name": NAME[lang],
            "contact": "+77011234567",
            "pick": receipt,
            "inbox": receipt,
        }
        await walk.explore(home)

        await walk.put_back(home)
        await close(walk, ticket_id)
        asked = await walk.session()
        assert asked is not None and asked.flow == "satisfaction"
        await walk.explore(asked)

    assert TEXT_STEPS - walk.seen == set()
