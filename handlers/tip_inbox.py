"""The tip inbox: a tipster opens a tip with its receipt, from any chat, reads the
investigators' messages and answers them. No menu entry: the status flow hands over any
16-digit input as Go(flow="tip_inbox", data={"receipt": ...}). Only the receipt opens a
tip: a tip keeps nothing of the chat that filed it, so its reference cannot.

```mermaid
stateDiagram-v2
    [*] --> inbox: data {"receipt"}, or typed here
    inbox --> inbox: a receipt typed; ti:other asks for another
    inbox --> [*]: a reference typed (the status flow looks it up)
    inbox --> answer: ti:answer (a tip is open)
    answer --> inbox: text, stored sealed as the citizen's message
    inbox --> [*]: ti:close (the session is deleted)
```

The session keeps only the open tip's id ("ticket"), never the receipt: the receipt opens
the tip's key (Argon2id) in the step it is typed, and the thread is shown then. Wrong receipts are
counted per chat (tx.lookups, a keyed hash of the chat) and lock the chat out for a while.
"""

from __future__ import annotations

import math

from bot import sealed_tips
from bot.domain import Inbound, Reply
from bot.errors import UserInputError
from bot.flow import FREE_TEXT, TEXT_OR_BUTTONS, Context, Flow, Go
from bot.reference import normalize_receipt, normalize_reference
from bot.sealed_tips import TipKeys
from bot.sealing import SealError
from bot.storage.records import Ticket
from bot.storage.tips import RECEIPT
from handlers import status

FLOW = Flow("tip_inbox", entry="inbox", sensitive=True)

ANSWER_MAX = 4000
SHOWN_MESSAGES = 5
OPEN = frozenset({"new", "in_review", "waiting"})


def _lookup_key(ctx: Context) -> str:
    return ctx.cipher.keyed_hash(f"{ctx.citizen.channel}:{ctx.citizen.chat_key}", purpose="lookup")


async def _locked(ctx: Context) -> Reply | None:
    until = await ctx.tx.lookups.locked_until(_lookup_key(ctx), now=ctx.now)
    if until is None:
        return None
    minutes = max(1, math.ceil((until - ctx.now).total_seconds() / 60))
    return Reply(ctx.t.ngettext("tip_inbox.locked", "tip_inbox.locked", minutes))


async def _open(ctx: Context, text: str) -> tuple[Reply | None, TipKeys | None]:
    """Open the tip a receipt names: (None, its keys, or None for a tip filed before
    sealing), else (what to tell the tipster, None). A tip keeps nothing of its chat, so
    only the receipt opens it, never the reference."""
    receipt = normalize_receipt(text)
    if receipt is None:
        return Reply(ctx.t("tip_inbox.malformed")), None
    locked = await _locked(ctx)
    if locked is not None:
        return locked, None
    ticket, keys = await _by_receipt(ctx, receipt)
    if ticket is None:
        await ctx.tx.lookups.failure(_lookup_key(ctx), now=ctx.now)
        return await _locked(ctx) or Reply(ctx.t("tip_inbox.not_found")), None
    # No lookups.success() here: it would let anyone holding one valid receipt reset the
    # counter between guesses. Failures simply age out of the guard's window.
    ctx.data["ticket"] = ticket.id
    return None, keys


async def _by_receipt(ctx: Context, receipt: str) -> tuple[Ticket | None, TipKeys | None]:
    """The tip this receipt opens: the few whose receipt begins alike are tried in turn,
    each with an Argon2id derivation (the receipt is never stored, even hashed)."""
    candidates = [
        tip
        for locator in sealed_tips.receipt_locators(receipt)
        for tip in await ctx.tx.tips.by_locator(locator)
    ]
    for candidate in candidates:
        wrapped = await ctx.tx.tips.wrapped(candidate.id, RECEIPT)
        if wrapped is None:
            continue
        try:
            keys = await sealed_tips.open_with_receipt(receipt, wrapped, candidate.reference)
        except SealError:
            continue
        return candidate, keys
    # A tip filed before sealing: its receipt was kept as a keyed hash; status only.
    return await ctx.tx.tips.by_receipt_hash(ctx.cipher.keyed_hashes(receipt, "receipt")), None


async def _current(ctx: Context) -> Ticket | None:
    ticket_id = ctx.data.get("ticket")
    if not isinstance(ticket_id, int):
        return None
    ticket = await ctx.tx.tickets.get(ticket_id)
    return ticket if ticket is not None and ticket.kind == "tip" else None


# inbox ---------------------------------------------------------------------------------


@FLOW.prompt("inbox")
async def ask_inbox(ctx: Context) -> list[Reply]:
    replies: list[Reply] = []
    handed = ctx.data.pop("receipt", None)
    keys: TipKeys | None = None
    if isinstance(handed, str):
        ctx.data.pop("ticket", None)
        refusal, keys = await _open(ctx, handed)
        if refusal is not None:
            replies.append(refusal)
    ticket = await _current(ctx)
    if ticket is None:
        ctx.data.pop("ticket", None)
        replies.append(Reply(ctx.t("tip_inbox.ask_receipt"), ctx.nav(back=False)))
        return replies
    replies += await _view(ctx, ticket, keys)
    return replies


async def _view(ctx: Context, ticket: Ticket, keys: TipKeys | None) -> list[Reply]:
    """The tip's status; its thread only in the step the receipt opened it (the session
    keeps no key, so later steps show the status and ask for the receipt to read more)."""
    t = ctx.t
    lines = [
        t("tip_inbox.filed_on", date=t.date(ticket.created_at.date())),
        t("tip_inbox.status", status=t(f"tip_inbox.s_{ticket.status}")),
    ]
    if ticket.due_on is not None and ticket.status in OPEN:
        lines.append(t("tip_inbox.due", date=t.date(ticket.due_on)))
    replies = [Reply("\n".join(lines))]
    thread = [] if keys is None else await sealed_tips.messages(ctx.tx.tips, ticket, keys)
    if keys is None:
        replies.append(Reply(t("tip_inbox.receipt_to_read")))
    elif not thread:
        replies.append(Reply(t("tip_inbox.no_messages")))
    for message in thread[-SHOWN_MESSAGES:]:
        author = "tip_inbox.from_you" if message.author == "citizen" else "tip_inbox.from_staff"
        replies.append(Reply(t(author, date=t.date(message.created_at.date()), text=message.body)))
    buttons = (
        ctx.button("tip_inbox.answer", "ti:answer"),
        ctx.button("tip_inbox.other", "ti:other"),
        ctx.button("tip_inbox.close", "ti:close"),
    )
    replies.append(Reply(t("tip_inbox.what_next"), buttons))
    return replies


@FLOW.on("inbox")
async def on_inbox(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "ti:close":
        return Go(state=None, forget=True, say=(Reply(ctx.t("tip_inbox.closed")),))
    if msg.payload == "ti:other":
        ctx.data.pop("ticket", None)
        return Go(state="inbox")
    if msg.payload == "ti:answer":
        if await _current(ctx) is None:
            return Go(state="inbox")
        return Go(state="answer")
    if normalize_reference(msg.text) is not None:
        # A complaint's reference where a receipt is asked (often right after a mistyped
        # receipt): looked up as the status flow would, never counted as a wrong receipt.
        return await status.look_up(msg.text, ctx)
    if await _current(ctx) is not None and normalize_receipt(msg.text) is None:
        raise UserInputError("tip_inbox.press_answer")
    ctx.data.pop("ticket", None)
    # Opened by the prompt, in this same step: the receipt is never saved in the session.
    ctx.data["receipt"] = msg.text
    return Go(state="inbox")


# answer --------------------------------------------------------------------------------


@FLOW.prompt("answer")
async def ask_answer(ctx: Context) -> Reply:
    return Reply(ctx.t("tip_inbox.ask_answer", max=ANSWER_MAX), ctx.nav())


@FLOW.on("answer", accepts=TEXT_OR_BUTTONS | {FREE_TEXT})
async def on_answer(msg: Inbound, ctx: Context) -> Go:
    ticket = await _current(ctx)
    if ticket is None:
        return Go(state="inbox")
    text = msg.text.strip()
    if len(text) < 2:
        raise UserInputError("tip_inbox.answer_short")
    if len(text) > ANSWER_MAX:
        raise UserInputError("tip_inbox.answer_long", n=len(text), max=ANSWER_MAX)
    await sealed_tips.add_message(ctx.tx.tips, ticket, author="citizen", body=text, now=ctx.now)
    return Go(state="inbox", say=(Reply(ctx.t("tip_inbox.answer_sent")),))
