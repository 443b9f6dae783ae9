"""Filing a ticket from a flow: a unique spoken-safe reference and a working-day deadline."""

from __future__ import annotations

from datetime import date

from bot.flow import Context
from bot.i18n import TIMEZONE
from bot.reference import new_reference
from bot.storage.records import Ticket, TicketDraft
from bot.workdays import add_working_days


def deadline(ctx: Context) -> date:
    """APPEAL_WORKING_DAYS working days from today in Almaty, skipping weekends and holidays."""
    today = ctx.now.astimezone(TIMEZONE).date()
    return add_working_days(today, ctx.settings.appeal_working_days, ctx.refdata.days_off)


async def file_ticket(ctx: Context, draft: TicketDraft) -> Ticket:
    """Store `draft` with a fresh reference and the deadline; counted once the step commits."""
    if draft.due_on is None:
        draft.due_on = deadline(ctx)
    reference = new_reference()
    while await ctx.tx.tickets.reference_exists(reference):
        reference = new_reference()
    ticket = await ctx.tx.tickets.add(draft, reference=reference, now=ctx.now)
    ctx.created.append(draft.kind)
    return ticket
