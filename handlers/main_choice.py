"""What a main-menu option does, wherever it is chosen: at the menu itself, or after a
number typed while staff wait for an answer turned out to mean the menu (handlers/answer.py).
"""

from __future__ import annotations

from bot.domain import Reply
from bot.flow import Context, Go

MENU = "menu"
FLOW_PAYLOAD_PREFIX = "flow:"  # a main-menu button that starts a flow, "flow:complaint"
LANGUAGE, HELP = "m:lang", "m:help"


def choose(payload: str, ctx: Context) -> Go:
    if payload == LANGUAGE:
        return Go(flow=MENU, state="language")
    if payload == HELP:
        help_text = ctx.t("help.text", **ctx.refdata.agency.about(ctx.lang))
        return Go(flow=MENU, state="main", say=(Reply(help_text),))
    name = payload.removeprefix(FLOW_PAYLOAD_PREFIX)
    if name in ctx.flows and name != MENU:
        return Go(flow=name)
    return Go(flow=MENU, state="main")


def label_msgid(payload: str, ctx: Context) -> str | None:
    """The catalog label of a main-menu option, as the menu shows it."""
    if payload == LANGUAGE:
        return "menu.language"
    if payload == HELP:
        return "menu.help"
    flow = ctx.flows.get(payload.removeprefix(FLOW_PAYLOAD_PREFIX))
    return flow.menu_title if flow is not None else None
