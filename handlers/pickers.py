"""Answers several flows ask for in the same way (not a flow itself: it has no FLOW)."""

from __future__ import annotations

from bot.domain import Button, Inbound
from bot.errors import UserInputError
from bot.flow import Context


def region_buttons(ctx: Context) -> tuple[Button, ...]:
    """The 3 cities and 17 regions, each matchable by its name in any language."""
    return tuple(ctx.named_button(r, f"reg:{r.code}") for r in ctx.refdata.regions)


def region_choice(msg: Inbound, ctx: Context) -> str:
    """The code of the region the citizen pressed or typed ("Караганда" will do)."""
    if msg.payload is not None:
        code = msg.payload.removeprefix("reg:")
        if ctx.refdata.region(code) is None:
            raise UserInputError("input.use_buttons")
        return code
    found = ctx.refdata.match_region(msg.text)
    if found is None:
        raise UserInputError("input.region_unknown")
    return found.code
