"""Conversation flows: one module per conversation, pure async steps over bot.flow types.

A module joins the bot by defining a module-level `FLOW`; `load_flows` finds them all, and
the main menu lists those with a `menu_title`.
"""

from __future__ import annotations

import importlib
import pkgutil

from bot.flow import Flow


def load_flows() -> dict[str, Flow]:
    flows: dict[str, Flow] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        flow = getattr(module, "FLOW", None)
        if isinstance(flow, Flow):
            if flow.name in flows:
                raise ValueError(f"two flows are named {flow.name!r}")
            flows[flow.name] = flow
    return flows
