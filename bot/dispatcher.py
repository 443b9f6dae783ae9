"""The dispatcher: the one place a citizen's message turns into replies.

It owns dedupe of external ids, per-chat ordering (one chat at a time, chats in
parallel), global commands, session load/save, flood control, the transaction that makes
a step's effects atomic, and the single error boundary. Channel adapters call `handle`
and send what it returns; flows only compute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.attachments import AttachmentStore
from bot.classify import Command, Link, Page, Position, Press, Refusal, Text, classify
from bot.commands import Command as Word
from bot.config import Settings
from bot.crypto import DataCipher
from bot.detour import (
    CONTINUE,
    KEEPS,
    LANGUAGE,
    RESUME,
    START_OVER,
    Detour,
    has_draft,
    replay,
)
from bot.domain import Button, Channel, Inbound, Reply
from bot.errors import UserInputError
from bot.flood import FloodGate
from bot.flow import (
    BUTTONS_ONLY,
    FREE_TEXT,
    HOME,
    PICK_LANGUAGE,
    Context,
    Flow,
    Go,
    State,
    parse_link,
)
from bot.i18n import Catalogs, Translator, pick_language
from bot.link_options import NUMBERED, has_links, number_links, without_links
from bot.metrics import Metrics
from bot.paging import holding
from bot.recent import RecentKeys
from bot.refdata import RefData
from bot.replies import ReplyQueue
from bot.storage import Storage, Tx
from bot.storage.records import Citizen, SessionRecord, SessionReply
from bot.subscriptions import set_news

log = logging.getLogger(__name__)

# How fresh citizens.last_inbound_at is kept (WhatsApp's 24-hour window reads it): writing
# it on every message would be a statement per step for nothing.
INBOUND_TIME_GRANULARITY = timedelta(seconds=60)


def session_record(
    citizen_id: int,
    flow: str,
    state: str,
    data: dict[str, Any],
    history: Sequence[str],
    offered: Sequence[Button],
    detour: Detour | None = None,
) -> SessionRecord:
    """A session as the dispatcher keeps it; also how the bot opens a conversation itself
    (the question after a closing), so that the buttons it sent are the ones on offer."""
    # A tuple of strings: the store encodes each distinct list of buttons once.
    buttons = tuple((b.payload, b.label, b.aliases) for b in offered)
    kept: dict[str, Any] = {"d": data, "h": list(history[-20:]), "o": buttons}
    if detour is not None:
        kept["p"] = detour.dump()
    return SessionRecord(citizen_id, flow, state, kept)


@dataclass(slots=True)
class _Turn:
    """One step in progress: the session being edited and the replies gathered so far."""

    citizen: Citizen
    flow: str
    state: str
    data: dict[str, Any]
    history: list[str]
    offered: list[Button]
    replies: list[Reply] = field(default_factory=list)
    forget: bool = False
    created: list[str] = field(default_factory=list)
    discard: list[str] = field(default_factory=list)
    # The session had expired: the note and the main menu answer this message.
    expired: bool = False
    # The session went idle holding a draft: this message first asks to continue it.
    idle: bool = False
    # A question asked over the step, which waits with its draft (bot/detour.py).
    detour: Detour | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What `Dispatcher.answer` returns: the replies, and for the adapter sending them the
    language the citizen reads (their choice, else the platform's hint or the default),
    the citizen's id and the time of their message before this one (None for a first
    message, a duplicate, or a step that failed before the citizen was read).

    `reply_seq`: the number the replies were written down under (tell `ReplyQueue` how sending
    went); `duplicate`: the message was handled before (its `dedupe_key` finds the
    replies it got, for a webhook retried because its answer was lost)."""

    replies: list[Reply]
    lang: str
    citizen_id: int | None
    last_inbound_at: datetime | None
    reply_seq: int | None = None
    duplicate: bool = False
    dedupe_key: str | None = None


class ChatLocks:
    """One asyncio.Lock per chat, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, list[Any]] = {}  # chat -> [lock, holders and waiters]

    def hold(self, chat: str) -> _ChatHold:
        return _ChatHold(self._locks, chat)


class _ChatHold:
    """`async with locks.hold(chat)`; a class, not an @asynccontextmanager: every step."""

    __slots__ = ("_chat", "_entry", "_locks")

    def __init__(self, locks: dict[str, list[Any]], chat: str) -> None:
        self._locks = locks
        self._chat = chat

    async def __aenter__(self) -> None:
        entry = self._locks.get(self._chat)
        if entry is None:
            entry = self._locks[self._chat] = [asyncio.Lock(), 0]
        entry[1] += 1
        self._entry = entry
        try:
            await entry[0].acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._entry[0].release()
        self._leave()

    def _leave(self) -> None:
        entry = self._entry
        entry[1] -= 1
        if entry[1] == 0:
            del self._locks[self._chat]


class Dispatcher:
    def __init__(
        self,
        *,
        storage: Storage,
        catalogs: Catalogs,
        flows: Mapping[str, Flow],
        settings: Settings,
        refdata: RefData,
        cipher: DataCipher,
        metrics: Metrics | None = None,
        replies: ReplyQueue | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        files: AttachmentStore | None = None,
    ) -> None:
        for flow in flows.values():
            flow.check()
        # (flow, state) of the main menu and of the language choice, as the flows declare.
        self.home = _step_with(flows, HOME)
        self.language = _step_with(flows, PICK_LANGUAGE)
        self.storage = storage
        self.catalogs = catalogs
        self.flows = flows
        self.settings = settings
        self.refdata = refdata
        self.cipher = cipher
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.files = files
        self.flood = FloodGate(settings.flood_burst, settings.flood_per_second)
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        self.draft_keep = timedelta(days=settings.draft_keep_days)
        self._locks = ChatLocks()
        # Dedupe keys of messages this process finished, so a repeat is known before flood
        # control; the processed_ids claim in the step stays the rule across restarts.
        self._recent = RecentKeys(10_000)
        # Channels exempt from flood control: the terminal chat run by an operator or a script.
        self.unthrottled: set[Channel] = set()
        # Replies are written down before they are sent on the messengers; the terminal
        # prints them within the step, so it has nothing to lose.
        self.replies = replies
        self.durable: frozenset[Channel] = frozenset({Channel.TELEGRAM, Channel.WHATSAPP})

    async def handle(self, msg: Inbound) -> list[Reply]:
        """Handle one inbound message; returns what to send back to the same chat."""
        return (await self.answer(msg)).replies

    async def screen(self, msg: Inbound) -> Answer | None:
        """Before an adapter does work of its own for a message (downloading its files):
        the answer, if the message is a repeat or a flood drops it; None to go on, and
        then `answer(msg, screened=True)`."""
        async with self._locks.hold(f"{msg.channel}:{msg.chat_key}"):
            return await self._screen(msg, self.dedupe_key(msg))

    async def _screen(self, msg: Inbound, dedupe_key: str | None) -> Answer | None:
        self.metrics.inbound(msg.channel.value).inc()
        if dedupe_key is not None and dedupe_key in self._recent:
            # A repeat of a message this process has just handled (a webhook retry):
            # known before flood control, so it spends none of the citizen's budget.
            return self._repeat(dedupe_key)
        if msg.channel not in self.unthrottled:
            admitted, warn = self.flood.admit(f"{msg.channel}:{msg.chat_key}")
            if not admitted:
                # Past the burst: dropped before any work or storage, one note per
                # flood. The note says so; the citizen sends again once answered.
                self.metrics.flood_dropped.labels(msg.channel.value).inc()
                return await self._slow_down(msg) if warn else self._nothing()
        return None

    async def answer(self, msg: Inbound, *, screened: bool = False) -> Answer:
        """`handle`, with what an adapter needs to know about the citizen to send it."""
        chat = f"{msg.channel}:{msg.chat_key}"
        dedupe_key = self.dedupe_key(msg)
        async with self._locks.hold(chat):
            if not screened and (early := await self._screen(msg, dedupe_key)) is not None:
                return early
            citizen: Citizen | None = None
            last_inbound_at = reply_seq = None
            try:
                step = await self._handle_once(msg, dedupe_key)
            except Exception:
                log.exception("step failed on channel %s", msg.channel.value)
                self.metrics.errors.inc()
                replies, citizen = await self._apologise(msg, dedupe_key)
            else:
                if step is None:
                    self._recent.add(dedupe_key)
                    return self._repeat(dedupe_key)
                replies, citizen, last_inbound_at, reply_seq = step
            if dedupe_key is not None:
                self._recent.add(dedupe_key)
            self.metrics.outbound(msg.channel.value).inc(len(replies))
            return Answer(
                replies,
                self._translator(citizen, msg).lang,
                citizen.id if citizen is not None else None,
                last_inbound_at,
                reply_seq,
                dedupe_key=dedupe_key,
            )

    async def _handle_once(
        self, msg: Inbound, dedupe_key: str | None
    ) -> tuple[list[Reply], Citizen, datetime | None, int | None] | None:
        """The step in one transaction; None if the message was handled before."""
        now = self.clock()
        numbered: list[int] = []
        try:
            return await self._transact(msg, dedupe_key, now, numbered)
        except BaseException:
            # Rolled back: the answer that was numbered will never be sent.
            if self.replies is not None:
                for seq in numbered:
                    self.replies.cancel(seq)
            raise

    async def _transact(
        self, msg: Inbound, dedupe_key: str | None, now: datetime, numbered: list[int]
    ) -> tuple[list[Reply], Citizen, datetime | None, int | None] | None:
        async with self.storage.transaction() as tx:
            # Claimed inside the step's transaction: if the step fails, so does the claim.
            if dedupe_key and not await tx.processed.claim(dedupe_key, now=now):
                return None
            citizen, created, record = await tx.citizens.get_or_create_with_session(
                msg.channel, msg.chat_key, now=now, linked=msg.linked_keys
            )
            before = _snapshot(citizen)
            # Writing again means the citizen unblocked the bot: they are reachable.
            citizen.unreachable = False
            turn = self._load(citizen, record, now)
            sensitive = self.flows[turn.flow].sensitive
            await self._step(tx, turn, msg, now)
            sensitive = sensitive or turn.forget or self.flows[turn.flow].sensitive
            reply_seq, kept = None, None
            if turn.replies and self.replies is not None and msg.channel in self.durable:
                reply_seq, kept = await self.replies.record(
                    tx,
                    citizen,
                    turn.replies,
                    inbound_key=dedupe_key,
                    sensitive=sensitive,
                    # A tip's answers (its thread, read through the receipt) are never
                    # kept on the session: a row of their own, deleted once sent.
                    own_row=sensitive,
                )
                numbered.append(reply_seq)
            await self._save(tx, turn, now, kept)
            last = citizen.last_inbound_at
            if last is None or msg.received_at - last > INBOUND_TIME_GRANULARITY:
                citizen.last_inbound_at = msg.received_at
            if created or _snapshot(citizen) != before:
                await tx.citizens.save(citizen)
        # Committed: the answer is numbered for good (a cancellation that arrives from here
        # on must not take it back; the watermark then stays below it, at least once).
        numbered.clear()
        if sensitive:
            self.storage.scrub_soon()
        if self.files is not None:
            for blob_id in turn.discard:
                await self.files.adelete(blob_id)
        for kind in turn.created:
            self.metrics.tickets_created.labels(kind).inc()
        return turn.replies, citizen, last, reply_seq

    def dedupe_key(self, msg: Inbound) -> str | None:
        """The processed-ids key of a message with a platform id: keyed, so the table
        holds no platform ids that could be matched against a chat."""
        if msg.external_id is None:
            return None
        return self.cipher.keyed_hash(f"{msg.channel}:{msg.external_id}", purpose="dedupe")

    async def processed(self, msg: Inbound) -> bool:
        """Whether a committed step already handled this message (a retried webhook)."""
        key = self.dedupe_key(msg)
        if key is None:
            return False
        async with self.storage.read() as tx:
            return await tx.processed.seen(key)

    def _load(self, citizen: Citizen, record: SessionRecord | None, now: datetime) -> _Turn:
        turn = self._restore(citizen, record)
        saved_at = record.updated_at if record is not None else None
        if saved_at is None or now - saved_at <= self.idle:
            return turn
        flow = self.flows[turn.flow]
        if turn.flow == self.home[0] or flow.lasting:
            return turn
        # Kept for resuming, unless older than the clean-up lets a draft live; a corruption
        # report's draft is not kept past the silence (docs/THREAT_MODEL.md).
        if self._keeps_draft(turn) and not flow.sensitive and now - saved_at <= self.draft_keep:
            turn.idle = True
            return turn
        t = self._translator(citizen, None)
        minutes = self.settings.session_idle_minutes
        turn.replies.append(Reply(t.ngettext("session.expired", "session.expired", minutes)))
        turn.flow, turn.state = self.home
        # The options on the stale screen stay for `classify` alone: a link numbered after
        # them (a staff message's "Answer") still opens its step.
        turn.data, turn.history = {}, []
        turn.expired = True
        return turn

    def _restore(self, citizen: Citizen, record: SessionRecord | None) -> _Turn:
        """The session as it was saved, however long ago."""
        flow = self.flows.get(record.flow) if record is not None else None
        if record is None or flow is None or record.state not in flow.states:
            # No session, or one left by a flow or step that is gone: the main menu.
            return _Turn(citizen, *self.home, {}, [], [])
        stored = record.data
        return _Turn(
            citizen,
            record.flow,
            record.state,
            dict(stored.get("d", {})),
            list(stored.get("h", [])),
            [Button(p, label, tuple(aliases)) for p, label, aliases in stored.get("o", [])],
            detour=Detour.load(stored.get("p")),
        )

    @asynccontextmanager
    async def offering(
        self, citizen: Citizen, replies: tuple[Reply, ...]
    ) -> AsyncIterator[tuple[Reply, ...]]:
        """A message from outside the conversation, as it is to be sent to `citizen` while
        the chat is held: where options are numbered, its links numbered after the options
        on screen and added to them (bot/link_options.py). Held until it is sent, so that
        no step of the chat shows other options in between."""
        if citizen.channel not in NUMBERED or not has_links(replies):
            yield replies
            return
        async with self._locks.hold(f"{citizen.channel}:{citizen.chat_key}"):
            async with self.storage.transaction() as tx:
                numbered = await self._offer(tx, citizen, replies)
            yield numbered

    async def _offer(
        self, tx: Tx, citizen: Citizen, replies: tuple[Reply, ...]
    ) -> tuple[Reply, ...]:
        record = await tx.sessions.load(citizen.id)
        turn = self._restore(citizen, record)
        flow = self.flows[turn.flow]
        if FREE_TEXT in flow.states[turn.state].accepts or flow.sensitive:
            # A bare number is the answer there; a sensitive flow's session is left alone.
            return without_links(replies)
        now = self.clock()
        if not turn.offered and (turn.flow, turn.state) == self.home:
            await self._ask(tx, turn, None, now)  # the main menu, as `_step` assumes
        numbered, turn.offered = number_links(replies, turn.offered)
        saved = session_record(
            citizen.id, turn.flow, turn.state, turn.data, turn.history, turn.offered
        )
        # The idle time stays the citizen's, and so does the answer kept with the session.
        when = record.updated_at if record is not None and record.updated_at else now
        await tx.sessions.save(saved, now=when, reply=await tx.sessions.reply(citizen.id))
        return numbered

    async def _save(
        self, tx: Tx, turn: _Turn, now: datetime, reply: SessionReply | None = None
    ) -> None:
        if turn.forget:
            await tx.sessions.delete(turn.citizen.id)
            return
        record = session_record(
            turn.citizen.id,
            turn.flow,
            turn.state,
            turn.data,
            turn.history,
            turn.offered,
            turn.detour,
        )
        await tx.sessions.save(record, now=now, reply=reply)

    async def _step(self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime) -> None:
        if not turn.offered and (turn.flow, turn.state) == self.home:
            # No saved session (forgotten after an anonymous tip, or purged): the citizen
            # last saw the main menu, so its buttons are the ones on offer.
            said = len(turn.replies)
            await self._ask(tx, turn, msg, now)
            del turn.replies[said:]
        if turn.detour is not None:
            await self._in_detour(tx, turn, msg, now, turn.detour)
            return
        state = self.flows[turn.flow].states[turn.state]
        at = Position(
            state.accepts,
            language_known=turn.citizen.locale is not None,
            picking_language=(turn.flow, turn.state) == self.language,
            expired=turn.expired,
            numbered=msg.channel in NUMBERED,
        )
        outcome = classify(msg, at, turn.offered)
        if turn.idle and not isinstance(outcome, Command | Link):
            # Back after a silence: the draft is offered again, and this message waits.
            turn.detour = Detour(RESUME).keeping(msg)
            await self._ask(tx, turn, msg, now)
            return
        match outcome:
            case Command(name):
                await self._command(tx, turn, msg, now, name)
            case Refusal(msgid):
                await self._refuse(tx, turn, msg, now, msgid)
            case Press(payload):
                await self._run(tx, turn, replace(msg, payload=payload), now, state)
            case Link(payload):
                await self._link(tx, turn, msg, now, payload)
            case Page(number):
                await self._ask(tx, turn, msg, now, page_of=number)
            case Text():
                await self._run(tx, turn, msg, now, state)

    async def _in_detour(
        self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, detour: Detour
    ) -> None:
        """An answer to the detour's question: the step again (with the language chosen, or
        the message that waited), or the draft dropped on "start over"."""
        turn.idle = False  # a silence before this answer changes nothing: it answers the detour
        # While "continue or start over?" waits, more of what was being sent is kept too.
        accepts = BUTTONS_ONLY if detour.why == LANGUAGE else KEEPS
        at = Position(
            accepts, picking_language=detour.why == LANGUAGE, numbered=msg.channel in NUMBERED
        )
        match classify(msg, at, turn.offered):
            case Command(name):
                await self._command(tx, turn, msg, now, name)
            case Link(payload):
                await self._link(tx, turn, msg, now, payload)
            case Refusal(msgid):
                await self._refuse(tx, turn, msg, now, msgid)
            case Page():  # the detour's question is short: asked again, whole
                await self._ask(tx, turn, msg, now)
            case Press(payload) if detour.why == LANGUAGE:
                await self._pick_language(tx, turn, replace(msg, payload=payload), now, detour)
            case Press(payload) if payload == CONTINUE:
                await self._continue(tx, turn, msg, now, detour)
            case Text():
                turn.detour = detour.keeping(msg)
                await self._ask(tx, turn, msg, now)
            case _:  # START_OVER, the one other button on offer
                t = self._translator(turn.citizen, msg)
                turn.replies.append(Reply(t("draft.dropped")))
                await self._enter(tx, turn, msg, now, *self.home, {}, reset=True)

    async def _continue(
        self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, detour: Detour
    ) -> None:
        """Back to the step the detour was asked over: what waited answers it, in order."""
        turn.detour = None
        asked = len(turn.replies)
        await self._ask(tx, turn, msg, now)
        if detour.pending:
            # What waited was sent against this step's own options ("1" for its Continue),
            # not the detour's: they are on offer again, and the question is not repeated.
            del turn.replies[asked:]
        for kept in detour.pending:
            await self._step(tx, turn, replay(kept, msg), now)

    async def _pick_language(
        self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, detour: Detour
    ) -> None:
        """The language step's own handler, on data of its own: the flow's draft stays as it
        was, and its question is asked again in the language chosen."""
        state = self.flows[self.language[0]].states[self.language[1]]
        assert state.handler is not None
        ctx = self._context(tx, turn, msg, now, at=self.language, data={})
        try:
            go = await state.handler(msg, ctx)
        except UserInputError as err:
            turn.replies.append(Reply(err.say(ctx.t, count=len(turn.offered))))
        else:
            turn.replies.extend(go.say)
            turn.detour = Detour(RESUME, detour.pending) if detour.pending else None
        await self._ask(tx, turn, msg, now)

    async def _run(self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, state: State) -> None:
        """Hand the message to the step and apply its verdict; a `UserInputError` is said
        in the citizen's language and the step asks again."""
        assert state.handler is not None
        ctx = self._context(tx, turn, msg, now)
        try:
            go = await state.handler(msg, ctx)
        except UserInputError as err:
            t = self._translator(turn.citizen, msg)
            turn.replies.append(Reply(err.say(t, count=len(turn.offered))))
            await self._ask(tx, turn, msg, now)
            return
        turn.data = ctx.data
        turn.created += ctx.created
        turn.discard += ctx.discard
        await self._apply(tx, turn, msg, now, go)

    async def _apply(self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, go: Go) -> None:
        turn.replies.extend(go.say)
        turn.offered = [b for r in go.say for b in r.buttons]
        if go.forget:
            turn.forget = True
        if go.flow is not None:
            target = self.flows[go.flow]
            await self._enter(
                tx,
                turn,
                msg,
                now,
                go.flow,
                go.state or target.entry,
                dict(go.data or {}),
                reset=True,
                ask=go.ask,
            )
        elif go.state is None:
            await self._enter(tx, turn, msg, now, *self.home, {}, reset=True, ask=go.ask)
        else:
            again = go.state == turn.state
            if not again:
                turn.history.append(turn.state)
            turn.state = go.state
            if go.ask:
                await self._ask(tx, turn, msg, now)
                if again and turn.replies:
                    turn.replies[-1] = holding(turn.replies[-1], msg.payload)

    async def _command(
        self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, command: Word
    ) -> None:
        t = self._translator(turn.citizen, msg)
        citizen = turn.citizen
        in_flow = turn.flow != self.home[0]
        pending = turn.detour.pending if turn.detour is not None else ()
        if command is Word.START and self._keeps_draft(turn):
            # Not a silent loss: "continue or start over?" first.
            turn.detour = Detour(RESUME, pending)
            await self._ask(tx, turn, msg, now)
        elif command is Word.START:
            await self._enter(tx, turn, msg, now, *self.home, {"welcome": True}, reset=True)
        elif command in (Word.MENU, Word.CANCEL):
            if self._keeps_draft(turn):
                turn.replies.append(Reply(t("nav.cancelled")))
            elif command is Word.CANCEL:
                # «стоп» at the menu: say what it would do, and which word stops the news.
                turn.replies.append(Reply(t("nav.nothing_to_cancel")))
            await self._enter(tx, turn, msg, now, *self.home, {}, reset=True)
        elif command is Word.BACK and turn.detour is not None:
            await self._continue(tx, turn, msg, now, turn.detour)
        elif command is Word.BACK:
            if turn.history:
                turn.state = turn.history.pop()
                await self._ask(tx, turn, msg, now)
            else:
                await self._enter(tx, turn, msg, now, *self.home, {}, reset=True)
        elif command is Word.LANGUAGE and in_flow and citizen.locale is not None:
            # The language is chosen over the step: then the same question, in it.
            turn.detour = Detour(LANGUAGE, pending)
            await self._ask(tx, turn, msg, now)
        elif command is Word.LANGUAGE:
            await self._enter(tx, turn, msg, now, *self.language, {}, reset=True)
        elif command is Word.HELP:
            turn.replies.append(Reply(t("help.text", **self.refdata.agency.about(t.lang))))
            await self._ask(tx, turn, msg, now)
        else:
            on = command is Word.SUBSCRIBE
            turn.replies.append(Reply(set_news(citizen, on, t, self.refdata, now=now)))
            await self._ask(tx, turn, msg, now)

    async def _link(self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, payload: str) -> None:
        """Open the step a link names, if it declares that a link may (`opens`)."""
        link = parse_link(payload)
        target = self.flows.get(link[0]) if link is not None else None
        state = target.states.get(link[1]) if target is not None and link is not None else None
        if link is None or state is None or state.opens is None:
            await self._refuse(tx, turn, msg, now, "input.stale_button")
            return
        if self._keeps_draft(turn) and (turn.flow, turn.state) != (link[0], link[1]):
            turn.replies.append(Reply(self._translator(turn.citizen, msg)("nav.cancelled")))
        data = {state.opens: link[2]}
        await self._enter(tx, turn, msg, now, link[0], link[1], data, reset=True)

    async def _enter(
        self,
        tx: Tx,
        turn: _Turn,
        msg: Inbound,
        now: datetime,
        flow: str,
        state: str,
        data: dict[str, Any],
        *,
        reset: bool,
        ask: bool = True,
    ) -> None:
        turn.flow, turn.state, turn.data = flow, state, data
        turn.detour = None
        if reset:
            turn.history = []
        if ask:
            await self._ask(tx, turn, msg, now)

    async def _ask(
        self, tx: Tx, turn: _Turn, msg: Inbound | None, now: datetime, *, page_of: int = 1
    ) -> None:
        """Append the current state's question (or the detour's, asked over it); its
        buttons become the offered ones. `page_of`: the option whose page to show, where a
        channel shows options a page at a time (bot/paging.py)."""
        if turn.detour is not None and turn.detour.why == LANGUAGE:
            state = self.flows[self.language[0]].states[self.language[1]]
            assert state.prompt is not None
            asked = await state.prompt(self._context(tx, turn, msg, now, at=self.language, data={}))
        elif turn.detour is not None:
            asked = self._resume_question(self._context(tx, turn, msg, now), turn.detour)
        else:
            state = self.flows[turn.flow].states[turn.state]
            assert state.prompt is not None
            ctx = self._context(tx, turn, msg, now)
            asked = await state.prompt(ctx)
            turn.data = ctx.data
        replies = [asked] if isinstance(asked, Reply) else list(asked)
        if page_of != 1 and replies:
            replies[-1] = replace(replies[-1], page_of=page_of)
        turn.replies.extend(replies)
        turn.offered = [b for r in replies for b in r.buttons]

    async def _refuse(
        self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, msgid: str | None
    ) -> None:
        if msgid is not None:
            limits = {
                "limit_mb": self.settings.max_attachment_mb,
                "limit": self.settings.max_attachments,
                "count": len(turn.offered),
            }
            turn.replies.append(Reply(self._translator(turn.citizen, msg)(msgid, **limits)))
        await self._ask(tx, turn, msg, now)

    def _resume_question(self, ctx: Context, detour: Detour) -> Reply:
        """The one line "You have an unfinished complaint: continue / start over", and what
        becomes of the messages that wait, if any do."""
        lines = [ctx.t(self.flows[ctx.flow].resume or "draft.resume")]
        if detour.pending:
            lines.append(ctx.t("draft.pending"))
        buttons = (
            ctx.button("draft.continue", CONTINUE),
            ctx.button("draft.start_over", START_OVER),
        )
        return Reply("\n".join(lines), buttons)

    def _keeps_draft(self, turn: _Turn) -> bool:
        """Whether the conversation holds a draft the citizen would lose by leaving it."""
        flow = self.flows[turn.flow]
        return flow.resume is not None and has_draft(turn.data)

    def _context(
        self,
        tx: Tx,
        turn: _Turn,
        msg: Inbound | None,
        now: datetime,
        *,
        at: tuple[str, str] | None = None,
        data: dict[str, Any] | None = None,
    ) -> Context:
        """What a step is handed; `at` and `data` for a step run over another (a detour)."""
        flow, state = at or (turn.flow, turn.state)
        return Context(
            t=self._translator(turn.citizen, msg),
            catalogs=self.catalogs,
            citizen=turn.citizen,
            data=turn.data if data is None else data,
            tx=tx,
            now=now,
            settings=self.settings,
            refdata=self.refdata,
            cipher=self.cipher,
            flows=self.flows,
            flow=flow,
            state=state,
            history=turn.history,
            files=self.files,
        )

    def _translator(self, citizen: Citizen | None, msg: Inbound | None) -> Translator:
        if citizen is not None and citizen.locale:
            return self.catalogs[citizen.locale]
        hint = msg.locale_hint if msg else None
        return self.catalogs[pick_language(hint, self.settings.default_language)]

    async def _apologise(
        self, msg: Inbound, dedupe_key: str | None
    ) -> tuple[list[Reply], Citizen | None]:
        """After an unexpected failure: mark the message handled (no retry storm), say sorry."""
        citizen = None
        try:
            async with self.storage.transaction() as tx:
                citizen = await tx.citizens.find(msg.channel, msg.chat_key)
                if dedupe_key:
                    await tx.processed.mark(dedupe_key, now=self.clock())
        except Exception:
            log.exception("could not record a failed message")
        return [Reply(self._translator(citizen, msg)("error.sorry"))], citizen

    def _nothing(self) -> Answer:
        return Answer([], self.settings.default_language, None, None)

    def _repeat(self, dedupe_key: str | None) -> Answer:
        return Answer(
            [], self.settings.default_language, None, None, duplicate=True, dedupe_key=dedupe_key
        )

    async def _slow_down(self, msg: Inbound) -> Answer:
        async with self.storage.read() as tx:
            citizen = await tx.citizens.find(msg.channel, msg.chat_key)
        t = self._translator(citizen, msg)
        return Answer(
            [Reply(t("flood.slow_down"))],
            t.lang,
            citizen.id if citizen is not None else None,
            citizen.last_inbound_at if citizen is not None else None,
        )


def _snapshot(citizen: Citizen) -> tuple[object, ...]:
    """What a step may change on a citizen: saved only if it did (cheaper than a copy)."""
    return (
        citizen.locale,
        citizen.region,
        citizen.subscribed,
        citizen.sub_regions,
        citizen.unreachable,
        citizen.last_inbound_at,
        citizen.news_chosen_at,
    )


def _step_with(flows: Mapping[str, Flow], role: str) -> tuple[str, str]:
    """The one (flow, state) declaring `role`; start-up fails unless there is exactly one."""
    found = [
        (f.name, st.name) for f in flows.values() for st in f.states.values() if st.role == role
    ]
    if len(found) != 1:
        raise ValueError(f"exactly one step must have the role {role!r}; found {found}")
    return found[0]
