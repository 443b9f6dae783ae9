"""After a complaint is closed: was the problem solved, a rating of the answer, and for a
"no" within 10 working days a comment that reopens the ticket with its assignee.

The bot opens this conversation itself, with the closing message (bot/satisfaction.py);
it is `lasting`, so an answer given hours later still lands here.

```mermaid
stateDiagram-v2
    [*] --> solved: staff resolve or reject a complaint
    solved --> rate: csat:yes, csat:no
    rate --> [*]: r:1 .. r:5 after "yes", or "no" too late or already reopened
    rate --> comment: r:1 .. r:5 after "no", within 10 working days
    comment --> [*]: text; the ticket is back in review, comment in its thread
```
"""

from __future__ import annotations

from bot import satisfaction
from bot.domain import Button, Inbound, Reply
from bot.errors import UserInputError
from bot.flow import FREE_TEXT, TEXT, Context, Flow, Go
from bot.i18n import TIMEZONE
from bot.storage.records import Satisfaction, Ticket
from handlers import answer

FLOW = Flow(satisfaction.FLOW, entry=satisfaction.ASK_SOLVED, lasting=True)

RATINGS = range(1, 6)
MAX_COMMENT = 2000


@FLOW.prompt(satisfaction.ASK_SOLVED)
async def ask_solved(ctx: Context) -> Reply:
    return satisfaction.solved_question(ctx.catalogs, ctx.lang, ctx.data["reference"])


@FLOW.on(satisfaction.ASK_SOLVED, accepts=answer.FREE_INPUT)
async def on_solved(msg: Inbound, ctx: Context) -> Go:
    if msg.payload is None:  # not an answer to the question: as at the main menu
        return await answer.take(msg, ctx)
    survey = await _survey(ctx)
    solved = msg.payload == satisfaction.YES
    await ctx.tx.satisfaction.answer(survey.id, solved=solved, now=ctx.now)
    ctx.data["solved"] = solved
    return Go(state="rate")


@FLOW.prompt("rate")
async def ask_rate(ctx: Context) -> Reply:
    buttons = tuple(Button(f"r:{n}", str(n), (str(n),)) for n in RATINGS)
    return Reply(ctx.t("satisfaction.ask_rating"), buttons)


@FLOW.on("rate", accepts=answer.FREE_INPUT)
async def on_rate(msg: Inbound, ctx: Context) -> Go:
    if msg.payload is None:  # not an answer to the question: as at the main menu
        return await answer.take(msg, ctx)
    survey = await _survey(ctx)
    rating = int((msg.payload or "r:0").removeprefix("r:"))
    await ctx.tx.satisfaction.answer(survey.id, rating=rating, now=ctx.now)
    if ctx.data.get("solved"):
        return _done(ctx, "satisfaction.thanks")
    today = ctx.now.astimezone(TIMEZONE).date()
    if not satisfaction.may_reopen(survey.closed_on, today, ctx.refdata.days_off):
        return _done(ctx, "satisfaction.too_late")
    if await _closed(ctx) is None:
        return _done(ctx, "satisfaction.thanks")
    return Go(state="comment")


@FLOW.prompt("comment")
async def ask_comment(ctx: Context) -> Reply:
    reference = ctx.data["reference"]
    return ctx.reply("satisfaction.ask_comment", *ctx.nav(back=False), reference=reference)


@FLOW.on("comment", accepts=frozenset({TEXT, FREE_TEXT}))
async def on_comment(msg: Inbound, ctx: Context) -> Go:
    text = msg.text.strip()
    if len(text) > MAX_COMMENT:
        raise UserInputError("satisfaction.too_long", n=len(text), limit=ctx.t.number(MAX_COMMENT))
    survey = await _survey(ctx)
    today = ctx.now.astimezone(TIMEZONE).date()
    # Checked again: the comment may come long after the rating.
    in_time = satisfaction.may_reopen(survey.closed_on, today, ctx.refdata.days_off)
    ticket = await _closed(ctx) if in_time else None
    if ticket is None:  # too late, or staff reopened it meanwhile: the comment still goes
        ticket = await _ticket(ctx)
        await ctx.tx.tickets.add_message(ticket.id, author="citizen", body=text, now=ctx.now)
        return _done(ctx, "satisfaction.reopened" if in_time else "satisfaction.too_late")
    else:
        await ctx.tx.tickets.set_status(ticket.id, "in_review", now=ctx.now)
        await ctx.tx.tickets.add_event(
            ticket.id, actor="citizen", action="reopened", now=ctx.now,
            assignee=ticket.assignee_id,
        )  # fmt: skip
        await ctx.tx.satisfaction.answer(survey.id, reopened=True, now=ctx.now)
    await ctx.tx.tickets.add_message(ticket.id, author="citizen", body=text, now=ctx.now)
    return _done(ctx, "satisfaction.reopened")


def _done(ctx: Context, msgid: str) -> Go:
    return Go(state=None, say=(ctx.reply(msgid, reference=ctx.data["reference"]),))


async def _ticket(ctx: Context) -> Ticket:
    """The ticket asked about, checked again: it must have been filed from this chat."""
    ticket = await ctx.tx.tickets.get(int(ctx.data["ticket"]))
    if ticket is None or ticket.citizen_id != ctx.citizen.id:
        raise UserInputError("satisfaction.gone")
    return ticket


async def _closed(ctx: Context) -> Ticket | None:
    """The ticket if it is still closed (staff may have reopened it since)."""
    ticket = await _ticket(ctx)
    return ticket if ticket.status in satisfaction.CLOSING else None


async def _survey(ctx: Context) -> Satisfaction:
    survey = await ctx.tx.satisfaction.latest(int(ctx.data["ticket"]))
    if survey is None:
        raise UserInputError("satisfaction.gone")
    return survey
