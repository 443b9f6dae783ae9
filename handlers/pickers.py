"""Steps several flows ask in the same way (not a flow itself: it has no FLOW)."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain import Button, Inbound, Reply
from bot.errors import UserInputError
from bot.flow import Context, Flow, Go


def add_region_step(flow: Flow, name: str, question: str, *, then: Callable[[Context], Go]) -> None:
    """Add state `name` to `flow`: `question` (a msgid) over the 3 cities and 17 regions;
    the region pressed or typed ("Караганда" will do) goes to data["region"], and `then`
    gives the next step. A name that is a city's and a region's asks which is meant."""

    @flow.prompt(name)
    async def ask(ctx: Context) -> Reply:
        return Reply(ctx.t(question), (*_region_buttons(ctx), *ctx.nav()))

    @flow.on(name)
    async def take(msg: Inbound, ctx: Context) -> Go:
        if msg.payload is not None:
            code = msg.payload.removeprefix("reg:")
            if ctx.refdata.region(code) is None:
                raise UserInputError("input.use_buttons")
            ctx.data["region"] = code
            return then(ctx)
        found = ctx.refdata.match_regions(msg.text)
        if len(found) == 1:
            ctx.data["region"] = found[0].code
            return then(ctx)
        if len({region.kind for region in found}) > 1:
            # "Алматы": the city or the region around it; the two buttons, nothing else.
            buttons = tuple(ctx.named_button(r, f"reg:{r.code}") for r in found)
            which = Reply(ctx.t("input.city_or_region"), (*buttons, *ctx.nav()))
            return Go(state=name, say=(which,), ask=False)
        raise UserInputError("input.region_unknown")


def require_letters(name: str) -> None:
    """A state body's name as typed must have letters: "99" or "😡😡" names nothing."""
    if not any(c.isalpha() for c in name):
        raise UserInputError("input.body_letters")


def _region_buttons(ctx: Context) -> tuple[Button, ...]:
    """The 3 cities, then the 17 regions in the citizen's alphabet; any language matches."""
    return tuple(ctx.named_button(r, f"reg:{r.code}") for r in ctx.refdata.regions_in(ctx.lang))
