"""Asking the citizen, once a complaint is closed, whether the problem was solved.

The closing message carries the question "Was your problem solved?" with yes/no buttons;
the conversation (handlers/satisfaction.py) then asks for a rating of the answer and, for
a "no" within REOPEN_WORKING_DAYS of the closing, a comment that reopens the ticket. The
question opens the citizen's conversation only when no draft would be lost by it; the
answer kept with the session (bot/replies.py) is kept as it was.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.dispatcher import session_record
from bot.domain import Button, Reply
from bot.i18n import TIMEZONE, Catalogs
from bot.storage import Tx
from bot.storage.records import Citizen, Ticket
from bot.workdays import add_working_days

FLOW = "satisfaction"
ASK_SOLVED = "solved"
YES, NO = "csat:yes", "csat:no"
REOPEN_WORKING_DAYS = 10
CLOSING = ("resolved", "rejected")


def solved_question(catalogs: Catalogs, lang: str, reference: str) -> Reply:
    """The question and its buttons, labelled so a typed answer matches in any language."""
    t = catalogs[lang]
    buttons = tuple(
        Button(payload, t(msgid), catalogs.every_language(msgid))
        for payload, msgid in ((YES, "satisfaction.yes"), (NO, "satisfaction.no"))
    )
    return Reply(t("satisfaction.ask_solved", reference=reference), buttons)


def may_reopen(closed_on: date, today: date, days_off: frozenset[date]) -> bool:
    """Whether "not solved" on `today` still reopens a ticket closed on `closed_on`."""
    return today <= add_working_days(closed_on, REOPEN_WORKING_DAYS, days_off)


def asks_after(ticket: Ticket, status: str) -> bool:
    """A complaint's closing asks; feedback follow-ups and tips do not."""
    return ticket.kind == "complaint" and status in CLOSING


async def open_survey(
    tx: Tx, catalogs: Catalogs, citizen: Citizen, ticket: Ticket, *, status: str, now: datetime
) -> Reply | None:
    """Record that the citizen is asked and open the conversation that takes the answer;
    returns the question to send with the closing message, or None when the citizen is in
    the middle of something that the question would throw away."""
    if not await _at_rest(tx, citizen.id):
        return None
    closed_on = now.astimezone(TIMEZONE).date()
    await tx.satisfaction.ask(ticket.id, outcome=status, closed_on=closed_on, now=now)
    question = solved_question(catalogs, ticket.locale, ticket.reference)
    data = {"ticket": ticket.id, "reference": ticket.reference}
    record = session_record(citizen.id, FLOW, ASK_SOLVED, data, [], question.buttons)
    # The last step's answer stays: it may not be known to be sent yet, and a webhook's
    # retry is answered from it.
    await tx.sessions.save(record, now=now, reply=await tx.sessions.reply(citizen.id))
    return question


async def _at_rest(tx: Tx, citizen_id: int) -> bool:
    record = await tx.sessions.load(citizen_id)
    # The main menu, a flow's first question, or an earlier closing's question still
    # unanswered holds no draft: nothing is lost. A rating or a "not solved" comment
    # under way is the citizen's answer, and stays.
    if record is None or not record.data.get("d"):
        return True
    return record.flow == FLOW and record.state == ASK_SOLVED
