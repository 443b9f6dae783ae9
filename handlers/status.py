"""Checking a request: "my tickets", a reference typed from the filing chat, or a tip receipt.

```mermaid
stateDiagram-v2
    [*] --> pick
    pick --> ticket: one of my tickets / a reference filed from this chat
    pick --> pick: not found or malformed (wrong references counted, then locked)
    pick --> [*]: a 16-digit receipt, or "By receipt" (the tip_inbox flow)
    ticket --> reply: "Reply" (offered when staff asked something)
    [*] --> reply: "Answer" under a staff message (a link, see bot.flow.link_payload)
    ticket --> pick: "Check another"
    reply --> [*]: the text joins the ticket's thread
```

A reference is looked up only among this chat's own tickets: another chat gets exactly
the "not found" answer, and its misses count towards the per-chat lookup lock that wrong
receipts share. The chat's own reference is never a miss and never waits for the lock:
its tickets are on the buttons anyway. A tip keeps nothing of its chat, so only its
receipt opens it, and the pick screen says so to every chat alike (docs/THREAT_MODEL.md).
Data keys: ticket_id (the ticket on screen).
"""

from __future__ import annotations

import math
from dataclasses import replace

from bot.deadlines import OPEN_STATUSES
from bot.domain import Inbound, Reply
from bot.errors import UserInputError
from bot.flow import FILES, FREE_TEXT, LOCATION, TEXT, Context, Flow, Go
from bot.reference import normalize_receipt, normalize_reference
from bot.storage.records import ThreadMessage, Ticket
from handlers.answer import answer_of, join_thread

FLOW = Flow("status", entry="pick", menu_title="status.menu", menu_order=40)

RECENT = 5
RECEIPT_PATH = "st:receipt"  # "By receipt": the tip inbox asks for the receipt


@FLOW.prompt("pick")
async def ask_pick(ctx: Context) -> Reply:
    mine = await ctx.tx.tickets.for_citizen(ctx.citizen.id, limit=RECENT)
    buttons = [
        ctx.button(
            f"status.button_{t.kind}",
            f"t:{t.id}",
            reference=t.reference,
            date=ctx.t.date(t.created_at.date(), "short"),
        )
        for t in mine
    ]
    if "tip_inbox" in ctx.flows:
        buttons.append(ctx.button("status.by_receipt", RECEIPT_PATH))
    text = ctx.t("status.ask_pick" if mine else "status.ask_pick_none")
    return Reply(text, (*buttons, *ctx.nav(back=False)))


@FLOW.on("pick")
async def on_pick(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == RECEIPT_PATH:
        return Go(flow="tip_inbox")
    if msg.payload is not None:
        ticket = await ctx.tx.tickets.get(int(msg.payload.removeprefix("t:")))
        if ticket is None or ticket.citizen_id != ctx.citizen.id:
            raise UserInputError("status.not_found")
        ctx.data["ticket_id"] = ticket.id
        return Go(state="ticket")
    return await look_up(msg.text, ctx)


async def look_up(text: str, ctx: Context) -> Go:
    """A typed reference or receipt, from this flow or from the tip inbox's receipt
    prompt (a receipt mistyped, then the citizen's own reference): one shape or the other.
    """
    receipt = normalize_receipt(text)
    reference = normalize_reference(text)
    if receipt is None and reference is None:
        raise UserInputError("status.malformed")
    if reference is not None:
        ticket = await ctx.tx.tickets.by_reference(reference)
        if ticket is not None and ticket.citizen_id == ctx.citizen.id:
            # Neither counted nor locked: the chat's own tickets are on its buttons. No
            # lookups.success() either: the counter is shared with receipts (tip_inbox),
            # and an own reference must not wipe out a run of wrong receipts.
            return Go(flow=FLOW.name, state="ticket", data={"ticket_id": ticket.id})
    key = ctx.cipher.keyed_hash(f"{ctx.citizen.channel}:{ctx.citizen.chat_key}", purpose="lookup")
    locked = await _locked(ctx, key)
    if locked is not None:
        return Go(state=ctx.state, say=(locked,))
    if receipt is not None:
        if "tip_inbox" not in ctx.flows:
            raise UserInputError("status.receipts_unavailable")
        return Go(flow="tip_inbox", data={"receipt": receipt})
    # A tip is stored with nothing of its chat, so its reference finds nothing here: the
    # receipt opens it (the not-found answer says so).
    await ctx.tx.lookups.failure(key, now=ctx.now)
    locked = await _locked(ctx, key)
    if locked is not None:
        return Go(state=ctx.state, say=(locked,))
    raise UserInputError("status.not_found")


async def _locked(ctx: Context, key: str) -> Reply | None:
    """While this chat is locked out of lookups: how long to wait, in whole minutes."""
    until = await ctx.tx.lookups.locked_until(key, now=ctx.now)
    if until is None:
        return None
    minutes = max(1, math.ceil((until - ctx.now).total_seconds() / 60))
    return Reply(ctx.t.ngettext("status.locked", "status.locked", minutes))


@FLOW.prompt("ticket")
async def ask_ticket(ctx: Context) -> list[Reply]:
    ticket = await _mine(ctx)
    if ticket is None:
        return [Reply(ctx.t("status.not_found"), ctx.nav(back=False))]
    lines = [
        ctx.t(f"status.kind_{ticket.kind}", reference=ticket.reference),
        ctx.t("status.filed_on", date=ctx.t.date(ticket.created_at.date())),
        ctx.t("status.status", status=ctx.t(f"status.s_{ticket.status}")),
    ]
    if ticket.due_on is not None and ticket.status in OPEN_STATUSES:
        lines.append(ctx.t("status.due", date=ctx.t.date(ticket.due_on)))
    replies = [Reply("\n".join(lines))]
    thread = await ctx.tx.tickets.messages(ticket.id, include_internal=False)
    staff = [m for m in thread if m.author == "staff"]
    if staff:
        latest = staff[-1]
        when = ctx.t.datetime(latest.created_at, "short")
        replies.append(Reply(ctx.t("status.staff_message", date=when, text=latest.body)))
    else:
        replies.append(Reply(ctx.t("status.no_message")))
    buttons = []
    if _asked(ticket, thread):
        replies.append(Reply(ctx.t("status.asked")))
        buttons.append(ctx.button("status.reply", "tk:reply"))
    buttons.append(ctx.button("status.another", "tk:other"))
    replies[-1] = Reply(replies[-1].text, (*buttons, *ctx.nav(back=False)))
    return replies


def _asked(ticket: Ticket, thread: list[ThreadMessage]) -> bool:
    """Staff wait for the citizen: the status says so, or staff wrote after the citizen."""
    if ticket.status == "waiting":
        return True
    authors = [m.author for m in thread if m.author != "system"]
    return bool(authors) and authors[-1] == "staff"


@FLOW.on("ticket")
async def on_ticket(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "tk:reply":
        return Go(state="reply")
    if msg.payload == "tk:other":
        return Go(state="pick")
    return await look_up(msg.text, ctx)


@FLOW.prompt("reply")
async def ask_reply(ctx: Context) -> Reply:
    ticket = await _mine(ctx)
    if ticket is None:
        # Opened by a link (a staff message's "Answer") for a ticket not filed here.
        return Reply(ctx.t("status.not_found"), ctx.nav(back=False))
    if ticket.status not in OPEN_STATUSES:
        # An old Answer button: said before anything is typed for nothing.
        closed = ctx.t("status.answer_closed", reference=ticket.reference)
        return Reply(closed, ctx.nav(back=False))
    return Reply(ctx.t("status.ask_reply"), ctx.nav())


# A staff message's "Answer" button opens this step for its ticket (bot/staff/actions.py);
# it takes what the main menu takes as an answer: text, files, a location.
@FLOW.on("reply", accepts=frozenset({TEXT, FREE_TEXT, FILES, LOCATION}), opens="ticket_id")
async def on_reply(msg: Inbound, ctx: Context) -> Go:
    ticket = await _mine(ctx)
    if ticket is None:
        raise UserInputError("status.not_found")
    go = await join_thread(ticket, answer_of(msg, ctx), ctx)
    sent = ctx.t("status.reply_sent", reference=ticket.reference)
    return replace(go, say=(Reply(sent),))


async def _mine(ctx: Context) -> Ticket | None:
    """The ticket on screen, checked again: it must have been filed from this chat."""
    ticket = await ctx.tx.tickets.get(int(ctx.data.get("ticket_id") or 0))
    return ticket if ticket is not None and ticket.citizen_id == ctx.citizen.id else None
