"""Answers in the chat: while staff wait for the citizen (a ticket in status "waiting"),
what the citizen types, sends or shares at the main menu joins that ticket's thread.

```mermaid
stateDiagram-v2
    [*] --> which: several tickets wait, or a number typed may be a menu option
    which --> [*]: a ticket is chosen, the answer joins its thread; or the option meant
```

With one ticket waiting the main menu adds the answer at once (`take`); with none it is
the menu's "choose an option" as before. The status flow's reply step adds through
`join_thread` too, so both ways leave the same thread, events and status.
Data keys: answer (text, files, location), tickets (the ids offered), choice (the menu
option a typed number matched).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.attachments import SUPPORTED_TYPES
from bot.commands import typed_choice
from bot.deadlines import OPEN_STATUSES
from bot.domain import Inbound, Reply
from bot.errors import UserInputError
from bot.flow import ANSWERS, BUTTONS, FILES, LOCATION, TEXT, Context, Flow, Go
from bot.storage.records import AttachmentRef, Ticket
from handlers.evidence import KINDS
from handlers.main_choice import choose, label_msgid

FLOW = Flow("answer", entry="which", resume="status.answer_resume")

MAX_ANSWER = 4000
PAYLOAD_PREFIX = "a:"
CHOICE = "a:choice"  # the main-menu option a typed number matched (`typed_number`)


# What a step that also takes answers accepts: its buttons, and free input to hand to `take`.
FREE_INPUT = frozenset({BUTTONS, TEXT, FILES, LOCATION, ANSWERS})


def _refusal(msg: Inbound) -> str:
    """What free input outside a flow gets when no ticket waits for an answer."""
    if msg.attachments:
        return "input.no_files_here"
    if msg.location is not None:
        return "input.no_location_here"
    if typed_choice(msg.text) is not None:
        return "input.not_on_list"  # a number off the list ({count}: the dispatcher's)
    return "input.use_buttons"


async def take(msg: Inbound, ctx: Context) -> Go:
    """Free input at the main menu: an answer to the staff message it replies to (Telegram),
    or to the waiting ticket(s); else a refusal that says what this step takes."""
    if msg.reply_to is not None:
        replied = await ctx.tx.tickets.for_sent_message(ctx.citizen.id, msg.reply_to)
        if replied is not None:
            return await join_thread(replied, answer_of(msg, ctx), ctx)
    waiting = await ctx.tx.tickets.awaiting_answer(ctx.citizen.id)
    if not waiting:
        raise UserInputError(_refusal(msg))
    answer = answer_of(msg, ctx)
    if len(waiting) == 1:
        return await join_thread(waiting[0], answer, ctx)
    return Go(flow=FLOW.name, data={"answer": answer, "tickets": [t.id for t in waiting]})


async def typed_number(msg: Inbound, ctx: Context) -> Go | None:
    """A number typed at the main menu (matched to an option there) while staff wait for
    an answer: "3" may answer "how many times?" as well as choose the third option, so
    the citizen is asked which; None when no ticket waits or the option was pressed."""
    if msg.payload is None or typed_choice(msg.text) is None:
        return None
    waiting = await ctx.tx.tickets.awaiting_answer(ctx.citizen.id)
    if not waiting:
        return None
    data = {"answer": answer_of(msg, ctx), "tickets": [t.id for t in waiting]}
    return Go(flow=FLOW.name, data={**data, "choice": msg.payload})


@FLOW.prompt("which")
async def ask_which(ctx: Context) -> Reply:
    buttons = []
    for ticket_id in ctx.data.get("tickets", []):
        ticket = await _mine(ctx, ticket_id)
        if ticket is not None:
            buttons.append(
                ctx.button(
                    f"status.button_{ticket.kind}",
                    f"{PAYLOAD_PREFIX}{ticket.id}",
                    reference=ticket.reference,
                    date=ctx.t.date(ticket.created_at.date(), "short"),
                )
            )
    choice = ctx.data.get("choice")
    label = label_msgid(choice, ctx) if choice else None
    if label is None:
        return Reply(ctx.t("status.answer_which"), (*buttons, *ctx.nav(back=False)))
    question = ctx.t("status.answer_or_choice", text=ctx.data["answer"]["text"])
    meant = ctx.button("status.meant_option", CHOICE, option=ctx.t(label))
    return Reply(question, (*buttons, meant, *ctx.nav(back=False)))


@FLOW.on("which", accepts=frozenset({BUTTONS}))
async def on_which(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == CHOICE and ctx.data.get("choice"):
        return choose(ctx.data["choice"], ctx)
    ticket_id = int((msg.payload or "").removeprefix(PAYLOAD_PREFIX) or 0)
    ticket = await _mine(ctx, ticket_id) if ticket_id in ctx.data.get("tickets", []) else None
    if ticket is None:
        raise UserInputError("status.not_found")
    return await join_thread(ticket, ctx.data.get("answer", {}), ctx)


async def join_thread(ticket: Ticket, answer: dict[str, Any], ctx: Context) -> Go:
    """Add the citizen's answer to the ticket; staff waiting for it now have it to review.
    A closed ticket takes nothing more (an old Answer button, a reply to an old message):
    a "not solved" goes through the question asked at closing."""
    if ticket.status not in OPEN_STATUSES:
        raise UserInputError("status.answer_closed", reference=ticket.reference)
    tickets = ctx.tx.tickets
    files = [AttachmentRef(**f) for f in answer.get("files", [])]
    await tickets.add_message(ticket.id, author="citizen", body=_body(answer), now=ctx.now)
    if files:
        await tickets.add_attachments(ticket.id, tuple(files))
    await tickets.add_event(ticket.id, actor="citizen", action="citizen_replied", now=ctx.now)
    if ticket.status == "waiting":
        await tickets.set_status(ticket.id, "in_review", now=ctx.now)
        await tickets.add_event(
            ticket.id, actor="citizen", action="status", now=ctx.now, status="in_review"
        )
    return Go(state=None, say=(Reply(ctx.t("status.answer_added", reference=ticket.reference)),))


def answer_of(msg: Inbound, ctx: Context) -> dict[str, Any]:
    """The message as the session keeps it until a ticket is chosen; refused files say why."""
    text = msg.text.strip()
    if len(text) > MAX_ANSWER:
        raise UserInputError("status.reply_too_long", n=len(text), limit=ctx.t.number(MAX_ANSWER))
    files = []
    limit_mb = ctx.settings.max_attachment_mb
    for att in msg.attachments:
        if att.kind not in KINDS or att.content_type not in SUPPORTED_TYPES:
            raise UserInputError("attachment.unsupported_type")
        if att.size > limit_mb * 1024 * 1024:
            raise UserInputError("attachment.too_large", limit_mb=limit_mb)
        ref = AttachmentRef(att.blob_id, att.kind.value, att.content_type, att.size, att.file_name)
        files.append(asdict(ref))
    answer: dict[str, Any] = {"text": text, "files": files}
    if msg.location is not None:
        where = msg.location
        answer["location"] = [where.latitude, where.longitude, where.address]
    return answer


def _body(answer: dict[str, Any]) -> str:
    """The thread message: the text, then a shared place (geo: URI and address) and the
    names of the files (the files themselves join the ticket's attachments)."""
    lines = [answer["text"]] if answer.get("text") else []
    if answer.get("location"):
        latitude, longitude, address = answer["location"]
        lines.append(" ".join(filter(None, (f"geo:{latitude},{longitude}", address))))
    lines += [f"📎 {f['file_name'] or f['content_type']}" for f in answer.get("files", [])]
    return "\n".join(lines)


async def _mine(ctx: Context, ticket_id: int) -> Ticket | None:
    ticket = await ctx.tx.tickets.get(ticket_id)
    return ticket if ticket is not None and ticket.citizen_id == ctx.citizen.id else None
