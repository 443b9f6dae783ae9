"""What staff do to a ticket, shared by the console and the API.

Every action runs inside the caller's write transaction: the ticket change, its timeline
event, the audit entry and any message to the citizen commit together or not at all.
Changes check `tickets.version`, so a stale form raises `Conflict` instead of overwriting.
Texts for the citizen are rendered in the ticket's language from the "staff" catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot import satisfaction, sealed_tips
from bot.deadlines import extension_limit, filed_on, forwarding_late
from bot.domain import Button, Media, Reply
from bot.flow import link_payload
from bot.i18n import TIMEZONE, Catalogs
from bot.outbound import TIP_MESSAGE, Outgoing, enqueue
from bot.sealed_tips import NoKey, TipKeys
from bot.staff.records import OPEN_STATUSES, STATUSES, StaffUser
from bot.staff.roles import can_see
from bot.storage.records import AttachmentRef, Citizen, Ticket
from bot.storage.staff import StaffTx
from bot.storage.tips import TipFile, day_of, staff_holder

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_review", "waiting", "resolved", "rejected"),
    "in_review": ("waiting", "resolved", "rejected"),
    "waiting": ("in_review", "resolved", "rejected"),
    "resolved": ("in_review",),
    "rejected": ("in_review",),
    "redirected": ("in_review",),  # only `redirect` leads here: it needs the body's name
}
MAX_TEXT = 3500  # leaves room for the heading within Telegram's 4096 characters
MAX_BODY_NAME = 200
# The step a staff message's "Answer" button opens: the status flow's reply step
# (handlers/status.py declares that a link may open it for a ticket id).
ANSWER_STEP = ("status", "reply")


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
    # A signed-in investigator's private key (opened for this request from the session).
    tip_private: bytes | None = None

    @property
    def today(self) -> date:
        return self.now.astimezone(TIMEZONE).date()

    def when(self, ticket: Ticket) -> datetime:
        """The time written down for an act on `ticket`: a tip keeps its day only."""
        return day_of(self.now) if ticket.kind == "tip" else self.now

    @property
    def label(self) -> str:
        return f"staff:{self.user.username}"


async def audit(
    db: StaffTx,
    actor: Actor,
    action: str,
    target: str | None = None,
    *,
    ticket: Ticket | None = None,
    **detail: Any,
) -> None:
    """Append to the audit log; an entry about a tip (`ticket`) carries its day only."""
    await db.audit.append(
        actor=actor.user.username,
        role=actor.user.role,
        action=action,
        target=target,
        ip=actor.ip,
        now=actor.when(ticket) if ticket is not None else actor.now,
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


async def _bump(db: StaffTx, ticket: Ticket, version: int, actor: Actor, **changes: Any) -> None:
    now = actor.when(ticket)
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
    await _bump(db, ticket, version, actor, assignee_id=assignee_id)
    await db.tx.tickets.add_event(
        ticket.id, actor=actor.label, action="assigned", now=actor.now, assignee=assignee_id
    )
    await audit(db, actor, "ticket.assign", ticket.reference, ticket=ticket, assignee=assignee_id)


async def change_status(
    db: StaffTx,
    catalogs: Catalogs,
    actor: Actor,
    ticket: Ticket,
    *,
    version: int,
    status: str,
    reason: str,
    files: tuple[AttachmentRef, ...] = (),
) -> int | None:
    """Move the ticket and tell the citizen why; returns the outbox id if a message left.
    `files` go with the message, as with `reply`."""
    if status not in STATUSES or status not in TRANSITIONS[ticket.status]:
        raise ActionError("staff.ticket.bad_transition")
    _check_files(ticket, files)
    reason = _clean(reason, "staff.ticket.reason_required")
    await _bump(db, ticket, version, actor, status=status)
    detail: dict[str, Any] = {"from": ticket.status, "to": status}
    if ticket.kind != "tip":
        detail["reason"] = reason
    await db.tx.tickets.add_event(
        ticket.id, actor=actor.label, action="status", now=actor.now, **detail
    )
    await audit(
        db, actor, "ticket.status", ticket.reference, ticket=ticket, old=ticket.status, new=status
    )
    t = catalogs[ticket.locale]
    text = t(f"staff.notify.status_{status}", reference=ticket.reference, reason=reason)
    return await _tell(
        db, catalogs, actor, ticket, text, purpose="status", status=status, files=files
    )


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
    """Move the deadline later, within art. 76's two months, and tell the citizen why."""
    if ticket.status not in OPEN_STATUSES:
        raise ActionError("staff.ticket.deadline_closed", 409)
    if ticket.due_on is not None and due_on <= ticket.due_on:
        raise ActionError("staff.ticket.deadline_not_later")
    if due_on <= actor.today:
        raise ActionError("staff.ticket.deadline_past")
    # Filed without a deadline (older rows): the two months count from the filing day.
    original = await _original_deadline(db, ticket) or ticket.created_at.date()
    if due_on > extension_limit(original):
        raise ActionError("staff.ticket.deadline_too_far")
    reason = _clean(reason, "staff.ticket.reason_required")
    await _bump(db, ticket, version, actor, due_on=due_on)
    detail: dict[str, Any] = {"from": str(ticket.due_on), "to": str(due_on)}
    if ticket.kind != "tip":
        detail["reason"] = reason
    await db.tx.tickets.add_event(
        ticket.id, actor=actor.label, action="deadline", now=actor.now, **detail
    )
    await audit(db, actor, "ticket.deadline", ticket.reference, ticket=ticket, due_on=str(due_on))
    t = catalogs[ticket.locale]
    text = t(
        "staff.notify.deadline_extended",
        reference=ticket.reference,
        date=t.date(due_on),
        reason=reason,
    )
    return await _tell(db, catalogs, actor, ticket, text, purpose="deadline")


async def _original_deadline(db: StaffTx, ticket: Ticket) -> date | None:
    """The deadline set at filing: the first extension's "from", else today's deadline."""
    for event in await db.console.events(ticket.id):
        if event.action == "deadline":
            try:
                return date.fromisoformat(str(event.detail.get("from")))
            except ValueError:
                return None  # filed without a deadline
    return ticket.due_on


async def redirect(
    db: StaffTx,
    catalogs: Catalogs,
    actor: Actor,
    ticket: Ticket,
    *,
    version: int,
    body: str,
    days_off: frozenset[date],
) -> int | None:
    """Forward an appeal outside our competence to `body` (art. 76: within 3 working days
    of filing, so a later forwarding is written down as late) and tell the citizen where
    it went."""
    if ticket.status not in OPEN_STATUSES:
        raise ActionError("staff.ticket.bad_transition")
    body = " ".join(body.split())
    if not body:
        raise ActionError("staff.ticket.body_required")
    if len(body) > MAX_BODY_NAME:
        raise ActionError("staff.ticket.too_long")
    late = forwarding_late(filed_on(ticket.created_at), actor.today, days_off)
    await _bump(db, ticket, version, actor, status="redirected", redirected_to=body)
    await db.tx.tickets.add_event(
        ticket.id, actor=actor.label, action="redirected", now=actor.now,
        **{"from": ticket.status, "to": body, "late": late},
    )  # fmt: skip
    await audit(db, actor, "ticket.redirect", ticket.reference, ticket=ticket, body=body, late=late)
    t = catalogs[ticket.locale]
    text = t("staff.notify.redirected", reference=ticket.reference, body=body)
    return await _tell(db, catalogs, actor, ticket, text, purpose="redirect")


async def reply(
    db: StaffTx,
    catalogs: Catalogs,
    actor: Actor,
    ticket: Ticket,
    *,
    text: str,
    needs_answer: bool = False,
    version: int | None = None,
    files: tuple[AttachmentRef, ...] = (),
) -> int | None:
    """Answer the citizen in their chat; an anonymous tipster reads it with the receipt.

    `needs_answer`: staff asked something, so the ticket waits for the citizen (status
    "waiting"), and the citizen's next words in the chat join its thread. `version`: the
    ticket as the writer saw it (the console's form); a colleague's change since is a
    conflict, not a reply sent unseen after, say, a resolve. `files`: stored already
    (bot/attachments.py), they go with the text."""
    if version is not None and version != ticket.version:
        raise Conflict()
    _check_files(ticket, files)
    text = _clean(text, "staff.ticket.empty_reply")
    if needs_answer and ticket.status != "waiting":
        if "waiting" not in TRANSITIONS[ticket.status]:
            raise ActionError("staff.ticket.bad_transition")
        await _bump(db, ticket, ticket.version, actor, status="waiting")
        await db.tx.tickets.add_event(
            ticket.id, actor=actor.label, action="status", now=actor.now,
            **{"from": ticket.status, "to": "waiting"},
        )  # fmt: skip
    t = catalogs[ticket.locale]
    wrapped = t("staff.notify.reply", reference=ticket.reference, text=text)
    outbox_id = await _tell(
        db, catalogs, actor, ticket, wrapped, purpose="reply", body=text, files=files
    )
    await db.tx.tickets.add_event(ticket.id, actor=actor.label, action="reply", now=actor.now)
    await audit(
        db, actor, "ticket.reply", ticket.reference, ticket=ticket, sent=outbox_id is not None
    )
    return outbox_id


def _check_files(ticket: Ticket, files: tuple[AttachmentRef, ...]) -> None:
    """A tip takes no files from staff: what a tipster is sent stays within the sealed tip,
    and the receipt flow reads text only; no tip's file is ever served by a media link."""
    if files and ticket.kind == "tip":
        raise ActionError("staff.ticket.no_files_for_tip")


async def note(db: StaffTx, actor: Actor, ticket: Ticket, *, text: str) -> None:
    text = _clean(text, "staff.ticket.empty_note")
    if ticket.kind == "tip":
        # Sealed to the tip's staff key: the tipster's receipt does not open notes.
        await sealed_tips.add_message(
            db.tx.tips, ticket, author="staff", body=text, now=actor.now,
            staff_id=actor.user.id, internal=True,
        )  # fmt: skip
    else:
        await db.tx.tickets.add_message(
            ticket.id, author="staff", body=text, now=actor.now, staff_id=actor.user.id,
            internal=True,
        )  # fmt: skip
    await db.tx.tickets.add_event(ticket.id, actor=actor.label, action="note", now=actor.now)
    await audit(db, actor, "ticket.note", ticket.reference, ticket=ticket)


async def _tell(
    db: StaffTx,
    catalogs: Catalogs,
    actor: Actor,
    ticket: Ticket,
    text: str,
    *,
    purpose: str,
    body: str | None = None,
    status: str | None = None,
    files: tuple[AttachmentRef, ...] = (),
) -> int | None:
    """Record a message in the thread and queue it for the citizen, when there is one.

    A reply keeps the staff member's own words (`body`) in the thread; a status note or a
    deadline notice is stored as the text the citizen was sent. A closing (`status`) also
    asks whether the problem was solved, in the same message (bot/satisfaction.py).
    `files` join the ticket's attachments under the message, and go with it.
    """
    if ticket.kind == "tip":
        citizen = await _tip_recipient(db, actor, ticket)
        message_id = await sealed_tips.add_message(
            db.tx.tips, ticket, author="staff", body=body or text, now=actor.now,
            staff_id=actor.user.id,
        )  # fmt: skip
    else:
        citizen = await db.tx.citizens.get(ticket.citizen_id) if ticket.citizen_id else None
        message = await db.tx.tickets.add_message(
            ticket.id, author="staff", body=body or text, now=actor.now, staff_id=actor.user.id
        )
        message_id = message.id
        await db.tx.tickets.add_attachments(ticket.id, files, message_id=message_id)
    if citizen is None:
        return None
    # The answer (and a closing's question, which replaces the session) goes in order
    # with the chat's own steps, on every instance.
    await db.tx.citizens.hold(citizen.id)
    tip = ticket.kind == "tip"
    media = tuple(Media(f.blob_id, f.content_type, f.file_name) for f in files)
    buttons = () if tip else _answer_button(citizen, ticket, catalogs, status)
    replies = [Reply(text, buttons, media)]
    if status is not None and satisfaction.asks_after(ticket, status):
        question = await satisfaction.open_survey(
            db.tx, catalogs, citizen, ticket, status=status, now=actor.now
        )
        replies += [question] if question is not None else []
    outbox_id = await enqueue(
        db.tx,
        citizen,
        Outgoing(
            tuple(replies),
            # A tip's copy goes once sent, and no thread row points at it (its time).
            purpose=TIP_MESSAGE if tip else f"staff.{purpose}",
            reference=ticket.reference,
        ),
        now=actor.now,
    )
    if not tip:
        await db.console.link_outbox(message_id, outbox_id)
    return outbox_id


def _answer_button(
    citizen: Citizen, ticket: Ticket, catalogs: Catalogs, status: str | None
) -> tuple[Button, ...]:
    """ "Answer" under a staff message: on Telegram an inline button, which works whenever
    it is pressed; on WhatsApp and in the terminal a numbered option, numbered after the
    options on screen when the message is sent (bot/link_options.py). A message on a
    closed ticket carries none: it takes no more answers, and a closing's "was it solved?"
    question is where the citizen says what they think."""
    if (status or ticket.status) not in OPEN_STATUSES:
        return ()
    payload = link_payload(*ANSWER_STEP, ticket.id)
    label = catalogs[ticket.locale]("status.reply")
    return (Button(payload, label, catalogs.every_language("status.reply")),)


async def tip_keys(db: StaffTx, actor: Actor, ticket: Ticket) -> TipKeys:
    """The tip's keys as this investigator opens them, or 403: no key was granted to them
    (a new account, or a password reset by an admin), or they are not signed in with one."""
    holder = staff_holder(actor.user.id)
    try:
        return await sealed_tips.keys_for(db.tx.tips, ticket, holder, actor.tip_private)
    except NoKey:
        raise ActionError("staff.tip.no_key", 403) from None


async def _tip_recipient(db: StaffTx, actor: Actor, ticket: Ticket) -> Citizen | None:
    """A confidential tipster's chat, opened from the sealed contact (anonymous: none)."""
    if ticket.privacy != "confidential":
        return None
    keys = await tip_keys(db, actor, ticket)
    identity = await sealed_tips.identity(db.tx.tips, ticket, keys)
    await db.tx.tickets.add_event(
        ticket.id, actor=f"{actor.label}:send", action="identity_revealed", now=actor.now
    )
    if not identity:
        return None
    found: Citizen | None = await db.tx.citizens.find(identity["channel"], identity["chat_key"])
    return found


@dataclass(frozen=True, slots=True)
class TipView:
    contents: dict[str, Any]
    thread: list[sealed_tips.Message]
    files: list[TipFile]


async def tip_view(db: StaffTx, actor: Actor, ticket: Ticket) -> TipView:
    """Open a tip for the page being viewed (this response only); the view is audited."""
    keys = await tip_keys(db, actor, ticket)
    view = TipView(
        await sealed_tips.contents(db.tx.tips, ticket, keys),
        await sealed_tips.messages(db.tx.tips, ticket, keys, include_internal=True),
        await db.tx.tips.files(ticket.id),
    )
    await audit(db, actor, "tip.view", ticket.reference, ticket=ticket)
    return view


async def tip_file(
    db: StaffTx, actor: Actor, ticket: Ticket, file_id: int
) -> tuple[str, bytes] | None:
    keys = await tip_keys(db, actor, ticket)
    found = await sealed_tips.file(db.tx.tips, ticket, keys, file_id)
    await audit(db, actor, "tip.attachment", ticket.reference, ticket=ticket)
    return found


async def reveal_identity(db: StaffTx, actor: Actor, ticket: Ticket) -> dict[str, Any] | None:
    if ticket.kind != "tip" or ticket.privacy != "confidential":
        raise ActionError("staff.tip.no_identity")
    keys = await tip_keys(db, actor, ticket)
    shown = await sealed_tips.identity(db.tx.tips, ticket, keys)
    await db.tx.tickets.add_event(
        ticket.id, actor=actor.label, action="identity_revealed", now=actor.now
    )
    await audit(db, actor, "tip.reveal", ticket.reference, ticket=ticket)
    return shown
