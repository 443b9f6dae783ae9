"""The question before a draft is deleted: one tap must not throw away what was typed.

A summary's «Cancel» asks this instead of cancelling; the flow answers `yes` by dropping
the draft and `no` by showing the summary again.
"""

from __future__ import annotations

from bot.domain import Reply
from bot.flow import Context


def ask(ctx: Context, *, yes: str, no: str) -> Reply:
    """ "Delete everything you have entered?" with the payloads of its two answers."""
    buttons = (ctx.button("draft.discard_yes", yes), ctx.button("draft.discard_no", no))
    return Reply(ctx.t("draft.discard_ask"), buttons)
