"""The dispatcher: the one place a citizen's message turns into replies.

It owns dedupe of external ids, per-chat ordering (one chat at a time, chats in
parallel), global commands, session load/save, flood control, the transaction that makes
a step's effects atomic, and the single error boundary. Channel adapters call `handle`
and send what it returns; flows only compute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.attachments import AttachmentStore
from bot.classify import Command, Link, Position, Press, Refusal, Text, classify
from bot.commands import Command as Word
from bot.config import Settings
from bot.crypto import DataCipher
from bot.domain import Button, Channel, Inbound, Reply
from bot.errors import UserInputError
from bot.flood import FloodGate
from bot.flow import HOME, PICK_LANGUAGE, Context, Flow, Go, State, parse_link
from bot.i18n import Catalogs, Translator, pick_language
from bot.metrics import Metrics
from bot.recent import RecentKeys
from bot.refdata import RefData
from bot.replies import ReplyQueue
from bot.storage import Storage, Tx
from bot.storage.records import Citizen, SessionRecord, SessionReply

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
) -> SessionRecord:
    """A session as the dispatcher keeps it; also how the bot opens a conversation itself
    (the question after a closing), so that the buttons it sent are the ones on offer."""
    # A tuple of strings: the store encodes each distinct list of buttons once.
    buttons = tuple((b.payload, b.label, b.aliases) for b in offered)
    return SessionRecord(
        citizen_id, flow, state, {"d": data, "h": list(history[-20:]), "o": buttons}
    )


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
                msg.channel, msg.chat_key, now=now
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
        flow = self.flows.get(record.flow) if record is not None else None
        if record is None or flow is None or record.state not in flow.states:
            # No session, or one left by a flow or step that is gone: the main menu.
            return _Turn(citizen, *self.home, {}, [], [])
        stored = record.data
        turn = _Turn(
            citizen,
            record.flow,
            record.state,
            dict(stored.get("d", {})),
            list(stored.get("h", [])),
            [Button(p, label, tuple(aliases)) for p, label, aliases in stored.get("o", [])],
        )
        expired = record.updated_at is not None and now - record.updated_at > self.idle
        if expired and record.flow != self.home[0] and not flow.lasting:
            t = self._translator(citizen, None)
            minutes = self.settings.session_idle_minutes
            turn.replies.append(Reply(t.ngettext("session.expired", "session.expired", minutes)))
            turn.flow, turn.state = self.home
            turn.data, turn.history, turn.offered = {}, [], []
            turn.expired = True
        return turn

    async def _save(
        self, tx: Tx, turn: _Turn, now: datetime, reply: SessionReply | None = None
    ) -> None:
        if turn.forget:
            await tx.sessions.delete(turn.citizen.id)
            return
        record = session_record(
            turn.citizen.id, turn.flow, turn.state, turn.data, turn.history, turn.offered
        )
        await tx.sessions.save(record, now=now, reply=reply)

    async def _step(self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime) -> None:
        if not turn.offered and (turn.flow, turn.state) == self.home:
            # No saved session (forgotten after an anonymous tip, or purged): the citizen
            # last saw the main menu, so its buttons are the ones on offer.
            said = len(turn.replies)
            await self._ask(tx, turn, msg, now)
            del turn.replies[said:]
        state = self.flows[turn.flow].states[turn.state]
        at = Position(
            state.accepts,
            language_known=turn.citizen.locale is not None,
            picking_language=(turn.flow, turn.state) == self.language,
            expired=turn.expired,
        )
        match classify(msg, at, turn.offered):
            case Command(name):
                await self._command(tx, turn, msg, now, name)
            case Refusal(msgid):
                await self._refuse(tx, turn, msg, now, msgid)
            case Press(payload):
                await self._run(tx, turn, replace(msg, payload=payload), now, state)
            case Link(payload):
                await self._link(tx, turn, msg, now, payload)
            case Text():
                await self._run(tx, turn, msg, now, state)

    async def _run(self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, state: State) -> None:
        """Hand the message to the step and apply its verdict; a `UserInputError` is said
        in the citizen's language and the step asks again."""
        assert state.handler is not None
        ctx = self._context(tx, turn, msg, now)
        try:
            go = await state.handler(msg, ctx)
        except UserInputError as err:
            t = self._translator(turn.citizen, msg)
            turn.replies.append(Reply(t.gettext(err.msgid, **err.params)))
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
                target.entry,
                dict(go.data or {}),
                reset=True,
                ask=go.ask,
            )
        elif go.state is None:
            await self._enter(tx, turn, msg, now, *self.home, {}, reset=True, ask=go.ask)
        else:
            if go.state != turn.state:
                turn.history.append(turn.state)
            turn.state = go.state
            if go.ask:
                await self._ask(tx, turn, msg, now)

    async def _command(
        self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, command: Word
    ) -> None:
        t = self._translator(turn.citizen, msg)
        citizen = turn.citizen
        in_flow = turn.flow != self.home[0]
        if command is Word.START:
            await self._enter(tx, turn, msg, now, *self.home, {"welcome": True}, reset=True)
        elif command in (Word.MENU, Word.CANCEL):
            if in_flow:
                turn.replies.append(Reply(t("nav.cancelled")))
            await self._enter(tx, turn, msg, now, *self.home, {}, reset=True)
        elif command is Word.BACK:
            if turn.history:
                turn.state = turn.history.pop()
                await self._ask(tx, turn, msg, now)
            else:
                await self._enter(tx, turn, msg, now, *self.home, {}, reset=True)
        elif command is Word.LANGUAGE:
            # Say so: the draft is not carried across the language choice (on first
            # contact there is no draft, nor a language to say it in).
            if in_flow and citizen.locale is not None:
                turn.replies.append(Reply(t("nav.cancelled")))
            await self._enter(tx, turn, msg, now, *self.language, {}, reset=True)
        elif command is Word.HELP:
            turn.replies.append(Reply(t("help.text")))
            await self._ask(tx, turn, msg, now)
        else:
            citizen.subscribed = command is Word.SUBSCRIBE
            note = "subscription.on" if citizen.subscribed else "subscription.off"
            turn.replies.append(Reply(t(note)))
            await self._ask(tx, turn, msg, now)

    async def _link(self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime, payload: str) -> None:
        """Open the step a link names, if it declares that a link may (`opens`)."""
        link = parse_link(payload)
        target = self.flows.get(link[0]) if link is not None else None
        state = target.states.get(link[1]) if target is not None and link is not None else None
        if link is None or state is None or state.opens is None:
            await self._refuse(tx, turn, msg, now, "input.stale_button")
            return
        if turn.flow != self.home[0] and (turn.flow, turn.state) != (link[0], link[1]):
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
        if reset:
            turn.history = []
        if ask:
            await self._ask(tx, turn, msg, now)

    async def _ask(self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime) -> None:
        """Append the current state's question; its buttons become the offered ones."""
        state = self.flows[turn.flow].states[turn.state]
        assert state.prompt is not None
        ctx = self._context(tx, turn, msg, now)
        asked = await state.prompt(ctx)
        turn.data = ctx.data
        replies = [asked] if isinstance(asked, Reply) else list(asked)
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

    def _context(self, tx: Tx, turn: _Turn, msg: Inbound, now: datetime) -> Context:
        return Context(
            t=self._translator(turn.citizen, msg),
            catalogs=self.catalogs,
            citizen=turn.citizen,
            data=turn.data,
            tx=tx,
            now=now,
            settings=self.settings,
            refdata=self.refdata,
            cipher=self.cipher,
            flows=self.flows,
            flow=turn.flow,
            state=turn.state,
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
    )


def _step_with(flows: Mapping[str, Flow], role: str) -> tuple[str, str]:
    """The one (flow, state) declaring `role`; start-up fails unless there is exactly one."""
    found = [
        (f.name, st.name) for f in flows.values() for st in f.states.values() if st.role == role
    ]
    if len(found) != 1:
        raise ValueError(f"exactly one step must have the role {role!r}; found {found}")
    return found[0]
