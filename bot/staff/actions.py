"""What staff do to a ticket, shared by the console and the API.

Every action runs inside the caller's write transaction: the ticket change, its timeline
event, the audit entry and any message to the citizen commit together or not at all.
Changes check `tickets.version`, so a stale form raises `Conflict` instead of overwriting.
Texts for the citizen are rendered in the ticket's language from the "staff" catalog.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.domain import Reply
from bot.i18n import Catalogs
from bot.outbound import Outgoing, enqueue
from bot.staff.records import STATUSES, StaffUser
from bot.staff.roles import can_see
from bot.storage.records import Citizen, ThreadMessage, Ticket
from bot.storage.sqlite.console import StaffTx

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_review", "waiting", "resolved", "rejected"),
    "in_review": ("waiting", "resolved", "rejected"),
    "waiting": ("in_review", "resolved", "rejected"),
    "resolved": ("in_review",),
    "rejected": ("in_review",),
}
MAX_TEXT = 3500  # leaves room for the heading within Telegram's 4096 characters


class ActionError(Exception):
    """A request that cannot be carried out; `msgid` (staff catalog) says why."""

    def __init__(self, msgid: str, status_code: int = 400) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.status_code = status_code


class Conflict(ActionError):
    """Someone else changed the ticket after this form was loaded."""

    def __init__(self) -> None:
        super().__init__("staff.ticket.conflict", 409)


@dataclass(frozen=True, slots=True)
class Actor:
    user: StaffUser
    ip: str | None
    now: datetime

    @property
    def label(self) -> str:
        return f"staff:{self.user.username}"


async def audit(
    db: StaffTx, actor: Actor, action: str, target: str | None = None, **detail: Any
) -> None:
    await db.audit.append(
        actor=actor.user.username,
        role=actor.user.role,
        action=action,
        target=target,
        ip=actor.ip,
        now=actor.now,
        **detail,
    )


def check_access(actor: Actor, ticket: Ticket | None) -> Ticket:
    """The ticket if this user may see it; otherwise it does not exist for them (404)."""
    if ticket is None or not can_see(actor.user, ticket):
        raise ActionError("staff.error.not_found", 404)
    return ticket


def _clean(text: str, msgid: str) -> str:
    text = text.strip()
    if not text:
        raise ActionError(msgid)
    if len(text) > MAX_TEXT:
        raise ActionError("staff.ticket.too_long")
    return text


async def _bump(db: StaffTx, ticket: Ticket, version: int, now: datetime, **changes: Any) -> None:
    if version != ticket.version or not await db.console.update_ticket(
        ticket.id, version=version, now=now, **changes
    ):
        raise Conflict()


async def assign(
    db: StaffTx, actor: Actor, ticket: Ticket, *, version: int, assignee_id: int | None
) -> None:
    if assignee_id is not None:
        assignee = await db.staff.get(assignee_id)
        if assignee is None or assignee.disabled or not can_see(assignee, ticket):
            raise ActionError("staff.ticket.bad_assignee")
    await _bump(db, ticket, version, actor.now, assignee_id=assignee_id)
    await db.tx.tickets.add_event(
        ticket.id, actor=actor.label, action="assigned", now=actor.now, assignee=assignee_id
    )
    await audit(db, actor, "ticket.assign", ticket.reference, assignee=assignee_id)


async def change_status(
    db: StaffTx,
    catalogs: Catalogs,
    actor: Actor,
    ticket: Ticket,
    *,
    version: int,
    status: str,
    reason: str,
) -> int | None:
    """Move the ticket and tell the citizen why; returns the outbox id if a message left."""
    if status not in STATUSES or status not in TRANSITIONS[ticket.status]:
        raise ActionError("staff.ticket.bad_transition")
    reason = _clean(reason, "staff.ticket.reason_required")
    await _bump(db, ticket, version, actor.now, status=status)
    detail: dict[str, Any] = {"from": ticket.status, "to": status}
    if ticket.kind != "tip":
        detail["reason"] = reason
    await db.tx.tickets.add_event(
        ticket.id, actor=actor.label, action="status", now=actor.now, **detail
    )
    await audit(db, actor, "ticket.status", ticket.reference, old=ticket.status, new=status)
    t = catalogs[ticket.locale]
    text = t(f"staff.notify.status_{status}", reference=ticket.reference, reason=reason)
    return await _tell(db, actor, ticket, text, purpose="status")


async def extend_deadline(
    db: StaffTx,
    catalogs: Catalogs,
    actor: Actor,
    ticket: Ticket,
    *,
    version: int,
    due_on: date,
    reason: str,
) -> int | None:
    if ticket.due_on is not None and due_on <= ticket.due_on:
        raise ActionError("staff.ticket.deadline_not_later")
    reason = _clean(reason, "staff.ticket.reason_required")
    await _bump(db, ticket, version, actor.now, due_on=due_on)
    detail: dict[str, Any] = {"from": str(ticket.due_on), "to": str(due_on)}
    if ticket.kind != "tip":
        detail["reason"] = reason
    await db.tx.tickets.add_event(
        ticket.id, actor=actor.label, action="deadline", now=actor.now, **detail
    )
    await audit(db, actor, "ticket.deadline", ticket.reference, due_on=str(due_on))
    t = catalogs[ticket.locale]
    text = t(
        "staff.notify.deadline_extended",
        reference=ticket.reference,
        date=t.date(due_on),
        reason=reason,
    )
    return await _tell(db, actor, ticket, text, purpose="deadline")


async def reply(
    db: StaffTx, catalogs: Catalogs, actor: Actor, ticket: Ticket, *, text: str
) -> int | None:
    """Answer the citizen in their chat; an anonymous tipster reads it with the receipt."""
    text = _clean(text, "staff.ticket.empty_reply")
    t = catalogs[ticket.locale]
    wrapped = t("staff.notify.reply", reference=ticket.reference, text=text)
    outbox_id = await _tell(db, actor, ticket, wrapped, purpose="reply", body=text)
    await db.tx.tickets.add_event(ticket.id, actor=actor.label, action="reply", now=actor.now)
    await audit(db, actor, "ticket.reply", ticket.reference, sent=outbox_id is not None)
    return outbox_id


async def note(db: StaffTx, actor: Actor, ticket: Ticket, *, text: str) -> None:
    text = _clean(text, "staff.ticket.empty_note")
    await db.tx.tickets.add_message(
        ticket.id,
        author="staff",
        body=text,
        now=actor.now,
        staff_id=actor.user.id,
        internal=True,
        sealed=ticket.kind == "tip",
    )
    await db.tx.tickets.add_event(ticket.id, actor=actor.label, action="note", now=actor.now)
    await audit(db, actor, "ticket.note", ticket.reference)


async def _tell(
    db: StaffTx,
    actor: Actor,
    ticket: Ticket,
    text: str,
    *,
    purpose: str,
    body: str | None = None,
) -> int | None:
    """Record a message in the thread and queue it for the citizen, when there is one.

    A reply keeps the staff member's own words (`body`) in the thread; a status note or a
    deadline notice is stored as the text the citizen was sent.
    """
    message: ThreadMessage
    if ticket.kind == "tip":
        message = await db.tx.tips.add_message(
            ticket, author="staff", body=body or text, now=actor.now, staff_id=actor.user.id
        )
    else:
        message = await db.tx.tickets.add_message(
            ticket.id, author="staff", body=body or text, now=actor.now, staff_id=actor.user.id
        )
    citizen = await _recipient(db, actor, ticket)
    if citizen is None:
        return None
    outbox_id = await enqueue(
        db.tx,
        citizen,
        Outgoing((Reply(text),), purpose=f"staff.{purpose}", reference=ticket.reference),
        now=actor.now,
    )
    await db.console.link_outbox(message.id, outbox_id)
    return outbox_id


async def _recipient(db: StaffTx, actor: Actor, ticket: Ticket) -> Citizen | None:
    if ticket.kind != "tip":
        return await db.tx.citizens.get(ticket.citizen_id) if ticket.citizen_id else None
    if ticket.privacy != "confidential":
        return None
    raw = await db.tx.tips.identity(ticket, actor=f"{actor.label}:send", now=actor.now)
    if not raw:
        return None
    identity = json.loads(raw)
    citizen: Citizen | None = await db.tx.citizens.find(identity["channel"], identity["chat_key"])
    return citizen


async def tip_contents(db: StaffTx, actor: Actor, ticket: Ticket) -> dict[str, Any]:
    """Decrypt a tip for the page being viewed; the view is audited."""
    contents: dict[str, Any] = await db.tx.tips.contents(ticket)
    await audit(db, actor, "tip.view", ticket.reference)
    return contents


async def reveal_identity(db: StaffTx, actor: Actor, ticket: Ticket) -> dict[str, Any] | None:
    if ticket.kind != "tip" or ticket.privacy != "confidential":
        raise ActionError("staff.tip.no_identity")
    raw = await db.tx.tips.identity(ticket, actor=actor.label, now=actor.now)
    await audit(db, actor, "tip.reveal", ticket.reference)
    if raw is None:
        return None
    shown: dict[str, Any] = json.loads(raw)
    return shown
