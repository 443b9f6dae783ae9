"""What a conversation is made of: states with a prompt and a handler, and the context
a step is handed.

A flow declares, per state, the question it asks (`@flow.prompt`) and how it takes the
answer (`@flow.on`). Handlers return `Go`, never send anything themselves: the dispatcher
does the I/O, re-asks after a refusal and keeps the session. Everything a step needs
comes through `Context`, so a flow is tested without any network or messenger library.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.commands import Command, command_payload
from bot.domain import Button, Inbound, Reply

if TYPE_CHECKING:
    from bot.attachments import AttachmentStore
    from bot.config import Settings
    from bot.crypto import DataCipher
    from bot.i18n import Catalogs, Translator
    from bot.refdata import Named, RefData
    from bot.storage import Tx
    from bot.storage.records import Citizen

TEXT = "text"
BUTTONS = "buttons"
FILES = "files"
LOCATION = "location"
# The answer is free text in which a number off the list is content ("0" or "7" as an
# answer to staff, "500" as a sum): it is not refused, and "0" is not the main menu. A
# number on the list is still its option ("2. Back"), as at every step (bot/classify.py).
FREE_TEXT = "free_text"
# The step may take an answer to staff (the main menu): a number off the list is handed to
# it, to join the waiting ticket or be refused there; on the list it is still the option.
ANSWERS = "answers"
TEXT_OR_BUTTONS = frozenset({TEXT, BUTTONS})
BUTTONS_ONLY = frozenset({BUTTONS})

# The two steps the dispatcher itself leads citizens to, each declared by the one flow
# that has it (`@flow.on(name, role=...)`), so the dispatcher names no flow or state.
HOME = "home"  # the main menu: where a flow ends and where "menu" and "cancel" lead
PICK_LANGUAGE = "pick_language"  # the language choice: first contact and "language"

# The data key a flow sets once what the citizen gave has been filed: what is left of the
# conversation (an offer after a rating) holds no draft to keep or to lose (bot/detour.py).
SUBMITTED = "submitted"

# A button on a message sent outside the conversation (a staff message's "Answer") opens
# a step directly: "link:<flow>:<state>:<number>". Only a step that declares `opens` (the
# data key the number goes into) can be opened so, and it checks the number itself.
LINK_PREFIX = "link:"


def link_payload(flow: str, state: str, number: int) -> str:
    return f"{LINK_PREFIX}{flow}:{state}:{number}"


def parse_link(payload: str) -> tuple[str, str, int] | None:
    """(flow, state, number) of a link payload; None if it is not a well-formed one."""
    parts = payload.removeprefix(LINK_PREFIX).split(":")
    if not payload.startswith(LINK_PREFIX) or len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


@dataclass(frozen=True, slots=True)
class Go:
    """A handler's verdict.

    state: the next state of this flow; None ends the flow and shows the main menu.
    say: replies to send before the next state's question.
    flow: start another flow at its entry (or at `state`, if given), handing it `data`.
    forget: delete the conversation's session (an anonymous tip, once submitted).
    ask: whether to append the next state's question (False when `say` already asks).
    """

    state: str | None = None
    say: tuple[Reply, ...] = ()
    flow: str | None = None
    data: Mapping[str, Any] | None = None
    forget: bool = False
    ask: bool = True


PromptFn = Callable[["Context"], Awaitable[Reply | Sequence[Reply]]]
HandlerFn = Callable[[Inbound, "Context"], Awaitable[Go]]


@dataclass(slots=True)
class State:
    name: str
    prompt: PromptFn | None = None
    handler: HandlerFn | None = None
    accepts: frozenset[str] = TEXT_OR_BUTTONS
    role: str | None = None  # HOME or PICK_LANGUAGE
    opens: str | None = None  # a link may open this step, its number under data[opens]


class Flow:
    """A named conversation. `menu_title` (a msgid) puts it on the main menu.

    `sensitive`: the conversation of a corruption report. Nothing of it is kept longer
    than its use (its replies are deleted once sent), since it could tie a chat to a tip.
    `lasting`: a question the bot asked on its own (after a closing), which the citizen
    may answer hours later: the session is not closed when it goes idle.
    `resume`: the flow holds a draft, and this msgid says so ("You have an unfinished
    complaint"): after a silence, or on /start, the citizen is asked to continue it or
    start over (bot/detour.py) instead of losing it.
    """

    def __init__(
        self,
        name: str,
        *,
        entry: str,
        menu_title: str | None = None,
        menu_order: int = 100,
        sensitive: bool = False,
        lasting: bool = False,
        resume: str | None = None,
    ) -> None:
        self.name = name
        self.entry = entry
        self.menu_title = menu_title
        self.menu_order = menu_order
        self.sensitive = sensitive
        self.lasting = lasting
        self.resume = resume
        self.states: dict[str, State] = {}

    def _state(self, name: str) -> State:
        return self.states.setdefault(name, State(name))

    def prompt(self, name: str) -> Callable[[PromptFn], PromptFn]:
        def register(fn: PromptFn) -> PromptFn:
            self._state(name).prompt = fn
            return fn

        return register

    def on(
        self,
        name: str,
        *,
        accepts: frozenset[str] = TEXT_OR_BUTTONS,
        role: str | None = None,
        opens: str | None = None,
    ) -> Callable[[HandlerFn], HandlerFn]:
        def register(fn: HandlerFn) -> HandlerFn:
            state = self._state(name)
            state.handler = fn
            state.accepts = accepts
            state.role = role
            state.opens = opens
            return fn

        return register

    def check(self) -> None:
        """Fail at start-up, not mid-conversation, if a state lacks its prompt or handler."""
        if self.entry not in self.states:
            raise ValueError(f"flow {self.name}: entry state {self.entry!r} is not defined")
        for state in self.states.values():
            if state.prompt is None or state.handler is None:
                raise ValueError(f"flow {self.name}: state {state.name!r} lacks prompt or handler")


@dataclass(slots=True)
class Context:
    """What a step may use. `data` is the flow's own dict, saved with the session."""

    t: Translator
    catalogs: Catalogs
    citizen: Citizen
    data: dict[str, Any]
    tx: Tx
    now: datetime
    settings: Settings
    refdata: RefData
    cipher: DataCipher
    flows: Mapping[str, Flow]
    flow: str
    state: str
    history: list[str] = field(default_factory=list)
    # Ticket kinds created in this step; counted in metrics once the step commits.
    created: list[str] = field(default_factory=list)
    # The attachment store, for a step that reads files back (a tip seals them).
    files: AttachmentStore | None = None
    # Attachment files deleted once the step commits (a tip's, now sealed in the database).
    discard: list[str] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return self.t.lang

    def button(self, msgid: str, payload: str, **params: Any) -> Button:
        """A button labelled by a catalog message, matchable by its text in any language."""
        if params:
            aliases = tuple(t.gettext(msgid, **params) for t in self.catalogs.all())
        else:
            aliases = self.catalogs.every_language(msgid)
        return Button(payload=payload, label=self.t.gettext(msgid, **params), aliases=aliases)

    def named_button(self, item: Named, payload: str) -> Button:
        """A button for reference data (a region, a category) named in all three languages."""
        aliases = tuple(item.names.values())
        return Button(payload=payload, label=item.name(self.lang), aliases=aliases)

    def reply(self, msgid: str, *buttons: Button, **params: Any) -> Reply:
        return Reply(text=self.t.gettext(msgid, **params), buttons=buttons)

    def back_button(self) -> Button:
        return self.button("nav.back", command_payload(Command.BACK))

    def nav(self, *, back: bool = True) -> tuple[Button, ...]:
        """The Back / Main menu buttons most questions end with."""
        items = [self.back_button()] if back else []
        return (*items, self.button("nav.menu", command_payload(Command.MENU)))


def lasting_flows(flows: Mapping[str, Flow]) -> tuple[str, ...]:
    """The flows whose conversations wait for the citizen for days, not one."""
    return tuple(name for name, flow in flows.items() if flow.lasting)


def sensitive_flows(flows: Mapping[str, Flow]) -> tuple[str, ...]:
    """The flows whose conversations are deleted as soon as they are idle."""
    return tuple(name for name, flow in flows.items() if flow.sensitive)
