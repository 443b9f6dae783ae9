"""The description step, written once for every flow that takes a story (a complaint, a tip).

Telegram cuts a long paste into messages of 4,096 characters, so a story may arrive in
parts: after the first, the step says how much it holds and takes further text as an
addition until «Continue». Past the limit the beginning is kept and the citizen is told
what did not fit. Nothing held is dropped at a tap: text typed under a story already held
(carried over from a rating, or on an edit) is added to it, and «Start over» keeps the old
story until a new one replaces it. A flow adds the step with `add_step`, in its own words
(`Wording`).

```mermaid
stateDiagram-v2
    [*] --> ask
    ask --> more: text of at least `minimum` characters (past the limit: cut, said so)
    ask --> [*]: more:keep (a text kept from before, where the flow shows it)
    more --> more: further text, appended
    more --> ask: more:clear ("Start over": the next text replaces the one held)
    more --> [*]: more:next ("Continue": the flow's next step)
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain import Inbound, Reply
from bot.errors import UserInputError
from bot.flow import TEXT, TEXT_OR_BUTTONS, Context, Flow, Go

NEXT, CLEAR, KEEP = "more:next", "more:clear", "more:keep"


@dataclass(frozen=True, slots=True)
class Wording:
    """The catalog messages a flow asks for its story in: its own voice, one behaviour.

    ask: the question ({minimum}, {limit}). too_short: {minimum}. too_long: the text was
    cut ({limit}, {dropped}, {tail}: the end of what was kept). more: what is held, plural
    in its length ({limit}), inviting more. go_on, start_over: the buttons under it.
    again, keep: the question when a text is already held ({text}: its beginning; what is
    typed is added) and the button that keeps it. replace: the question after «Start over»,
    plural in the held text's length; the next text replaces it, «Back» keeps it.
    """

    ask: str
    too_short: str
    too_long: str
    more: str
    go_on: str
    start_over: str
    replace: str
    again: str | None = None
    keep: str | None = None


def add_step(
    flow: Flow,
    name: str,
    wording: Wording,
    *,
    key: str,
    more: str,
    minimum: int,
    then: Callable[[Context], Go],
    limit: int = 4000,
) -> None:
    """Add states `name` (the question) and `more` (further parts) to `flow`; the story
    goes to data[key], and `then` gives the step after it."""
    replacing = f"{key}:replace"  # «Start over» was pressed: the next text replaces

    def replaces(ctx: Context) -> bool:
        """Whether the next text replaces the one held (the question says which)."""
        return bool(ctx.data.get(replacing)) or not (wording.again and wording.keep)

    @flow.prompt(name)
    async def ask(ctx: Context) -> Reply:
        held = ctx.data.get(key)
        if held and replaces(ctx):
            return Reply(ctx.t.ngettext(wording.replace, wording.replace, len(held)), ctx.nav())
        if held and wording.again and wording.keep:
            text = ctx.t(wording.again, text=preview(held))
            return Reply(text, (ctx.button(wording.keep, KEEP), *ctx.nav()))
        text = ctx.t(wording.ask, minimum=minimum, limit=ctx.t.number(limit))
        return Reply(text, ctx.nav())

    @flow.on(name, accepts=TEXT_OR_BUTTONS if wording.keep else frozenset({TEXT}))
    async def take(msg: Inbound, ctx: Context) -> Go:
        held = ctx.data.get(key, "")
        if msg.payload == KEEP and held:
            if len(held) < minimum:  # carried over short: more is needed to act on it
                raise UserInputError(wording.too_short, minimum=minimum)
            return then(ctx)
        text = msg.text.strip()
        if held and text and not replaces(ctx):
            text = f"{held}\n\n{text}"  # an addition, never a silent replacement
        if len(text) < minimum:
            # Refused before anything changes: «Start over» still holds.
            raise UserInputError(wording.too_short, minimum=minimum)
        ctx.data.pop(replacing, None)
        return _hold(ctx, text)

    @flow.prompt(more)
    async def ask_more(ctx: Context) -> Reply:
        n = len(ctx.data.get(key, ""))
        text = ctx.t.ngettext(wording.more, wording.more, n, limit=ctx.t.number(limit))
        buttons = (
            ctx.button(wording.go_on, NEXT),
            ctx.button(wording.start_over, CLEAR),
            *ctx.nav(),
        )
        return Reply(text, buttons)

    @flow.on(more)
    async def take_more(msg: Inbound, ctx: Context) -> Go:
        if msg.payload == CLEAR:
            ctx.data[replacing] = True
            return Go(state=name)
        ctx.data.pop(replacing, None)  # «Back» from the question: the story held stays
        if msg.payload == NEXT:
            if len(ctx.data.get(key, "")) < minimum:
                # A draft an earlier version emptied on «Start over»: ask for the text again.
                too_short = ctx.reply(wording.too_short, minimum=minimum)
                return Go(state=name, say=(too_short,))
            return then(ctx)
        previous = ctx.data.get(key, "")
        part = msg.text.strip()
        return _hold(ctx, f"{previous}\n\n{part}" if previous else part)

    def _hold(ctx: Context, text: str) -> Go:
        """Keep the story, cut at the limit (at a space near it) with a note saying so."""
        if len(text) <= limit:
            ctx.data[key] = text
            return Go(state=more)
        cut = text[:limit]
        space = cut.rfind(" ", limit - 200)
        kept = (cut[:space] if space > 0 else cut).rstrip()
        ctx.data[key] = kept
        note = ctx.t(
            wording.too_long,
            limit=ctx.t.number(limit),
            dropped=ctx.t.number(len(text) - len(kept)),
            tail=kept[-60:].lstrip(),
        )
        return Go(state=more, say=(Reply(note),))


def preview(text: str, limit: int = 600) -> str:
    """The beginning of a long story, to show it back without a wall of text."""
    return text if len(text) <= limit else text[:limit].rstrip() + "…"
