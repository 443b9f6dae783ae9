"""The objects the JSON API (bot/web/api.py) and the ticket export (export.py) hand out,
declared once: each serialises its record and draws itself in the OpenAPI document
(bot/web/openapi.py).

A tip is served as metadata only, whoever asks (issue 12): every object that carries a
ticket has a twin for tips with the `TipMetadata` fields alone, chosen by `for_ticket`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from bot.schema import (
    BOOLEAN,
    DATE_TIME,
    INTEGER,
    OPTIONAL_DATE,
    OPTIONAL_INTEGER,
    OPTIONAL_STRING,
    STRING,
    Field,
    Schema,
    iso_date,
    one_of,
)
from bot.staff.records import KINDS, STATUSES, InboxPage, InboxRow, TicketEvent
from bot.storage.records import Satisfaction, ThreadMessage

R = TypeVar("R")


class MessageView(NamedTuple):
    message: ThreadMessage
    staff: str | None  # the staff member's name, for a staff message
    delivery: str | None  # the outbox status of a staff message sent to the citizen


class TicketDetail(NamedTuple):
    row: InboxRow
    messages: list[MessageView]
    events: list[TicketEvent]
    satisfaction: Satisfaction | None = None  # the citizen's answer after the last closing


class StatusChanged(NamedTuple):
    row: InboxRow
    outbox_id: int | None


class ReplySent(NamedTuple):
    reference: str
    outbox_id: int | None
    version: int  # the ticket's version after the reply ("needs an answer" moves it)


class ApiError(NamedTuple):
    code: str
    message: str
    parameter: str | None = None


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _ticket(name: str, schema: dict[str, Any]) -> Field[InboxRow]:
    return Field(name, schema, lambda row: getattr(row.ticket, name))


TICKET: Schema[InboxRow] = Schema(
    "Ticket",
    [
        _ticket("reference", STRING),
        _ticket("kind", one_of(KINDS)),
        _ticket("status", one_of(STATUSES)),
        _ticket("privacy", one_of(("named", "confidential", "anonymous"))),
        _ticket("category", OPTIONAL_STRING),
        _ticket("subject", OPTIONAL_STRING),
        _ticket("region", OPTIONAL_STRING),
        _ticket("rating", OPTIONAL_INTEGER),
        _ticket("summary", OPTIONAL_STRING),
        _ticket("locale", STRING),
        _ticket("channel", OPTIONAL_STRING),
        Field("due_on", OPTIONAL_DATE, lambda row: iso_date(row.ticket.due_on)),
        Field("created_at", DATE_TIME, lambda row: row.ticket.created_at.isoformat()),
        Field("updated_at", DATE_TIME, lambda row: row.ticket.updated_at.isoformat()),
        Field(
            "last_citizen_at",
            {
                **DATE_TIME,
                "type": ["string", "null"],
                "description": "when the citizen last wrote to it (null: not since filing)",
            },
            lambda row: _iso(row.ticket.last_citizen_at),
        ),
        Field("assignee", OPTIONAL_STRING, lambda row: row.assignee_name),
        Field(
            "redirected_to",
            {**OPTIONAL_STRING, "description": "status `redirected`: the competent body"},
            lambda row: row.ticket.redirected_to,
        ),
        _ticket("version", INTEGER),
    ],
    description="a complaint or feedback; a tip carries only the `TipMetadata` fields",
)
TIP = TICKET.only(
    "TipMetadata",
    # `version` is needed to change the status, and says nothing about the tip.
    ("reference", "kind", "status", "region", "due_on", "created_at", "updated_at", "version"),
    description="all the API tells about a tip (kind `tip`), whoever asks",
)

QUEUE_MARKS: list[Field[InboxRow]] = [
    Field("overdue", BOOLEAN, lambda row: row.overdue),
    Field(
        "due_soon",
        {
            **BOOLEAN,
            "description": "open and due within DEADLINE_REMINDER_DAYS working days, or overdue",
        },
        lambda row: row.due_soon,
    ),
    Field(
        "citizen_answered",
        {**BOOLEAN, "description": "the citizen wrote after the last staff message"},
        lambda row: row.answered,
    ),
    Field(
        "reopened_by_citizen",
        {**BOOLEAN, "description": 'the citizen said "not solved" since staff last acted'},
        lambda row: row.reopened,
    ),
    Field(
        "last_activity",
        {**DATE_TIME, "description": "the later of the last update and the last message"},
        lambda row: (row.last_activity or row.ticket.updated_at).isoformat(),
    ),
]
REDIRECT_LATE: Field[InboxRow] = Field(
    "redirect_late",
    {**BOOLEAN, "description": "still new after the 3 working days to forward it elsewhere"},
    lambda row: row.redirect_late,
)
LISTED = Schema("ListedTicket", [*QUEUE_MARKS, REDIRECT_LATE], base=(TICKET, lambda row: row))
LISTED_TIP = Schema("ListedTip", QUEUE_MARKS, base=(TIP, lambda row: row))

PAGE: Schema[InboxPage] = Schema(
    "TicketPage",
    [
        Field(
            "items",
            {"type": "array", "items": {"oneOf": [LISTED.ref(), LISTED_TIP.ref()]}},
            lambda page: [for_ticket(LISTED, LISTED_TIP, row).dump(row) for row in page.rows],
        ),
        Field("total", INTEGER, lambda page: page.total),
        Field("page", INTEGER, lambda page: page.page),
        Field("per_page", INTEGER, lambda page: page.per_page),
        Field(
            "status_counts",
            {"type": "object", "additionalProperties": INTEGER},
            lambda page: page.status_counts,
        ),
    ],
)

MESSAGE: Schema[MessageView] = Schema(
    "Message",
    [
        Field("id", INTEGER, lambda view: view.message.id),
        Field("author", STRING, lambda view: view.message.author),
        Field("staff", OPTIONAL_STRING, lambda view: view.staff),
        Field("internal", BOOLEAN, lambda view: view.message.internal),
        Field("body", STRING, lambda view: view.message.body),
        Field("created_at", DATE_TIME, lambda view: view.message.created_at.isoformat()),
        Field("delivery", OPTIONAL_STRING, lambda view: view.delivery),
    ],
)
EVENT: Schema[TicketEvent] = Schema(
    "Event",
    [
        Field("actor", STRING, lambda event: event.actor),
        Field("action", STRING, lambda event: event.action),
        Field(
            "detail",
            {
                "type": "object",
                "description": "what the action changed; its fields depend on the action",
                "additionalProperties": True,
            },
            lambda event: event.detail,
        ),
        Field("at", DATE_TIME, lambda event: event.created_at.isoformat()),
    ],
)
SATISFACTION: Schema[Satisfaction] = Schema(
    "Satisfaction",
    [
        Field("outcome", one_of(("resolved", "rejected")), lambda s: s.outcome),
        Field("closed_on", {"type": "string", "format": "date"}, lambda s: iso_date(s.closed_on)),
        Field(
            "solved",
            {"type": ["boolean", "null"], "description": "null: not answered yet"},
            lambda s: s.solved,
        ),
        Field("rating", {**OPTIONAL_INTEGER, "minimum": 1, "maximum": 5}, lambda s: s.rating),
        Field(
            "answered_at", {**DATE_TIME, "type": ["string", "null"]}, lambda s: _iso(s.answered_at)
        ),
        Field("reopened", BOOLEAN, lambda s: s.reopened),
    ],
    description="what the citizen was asked after the last closing of a complaint, and said",
)
DETAIL: Schema[TicketDetail] = Schema(
    "TicketDetail",
    [
        Field(
            "messages",
            {"type": "array", "items": MESSAGE.ref()},
            lambda detail: [MESSAGE.dump(view) for view in detail.messages],
        ),
        Field(
            "events",
            {"type": "array", "items": EVENT.ref()},
            lambda detail: [EVENT.dump(event) for event in detail.events],
        ),
        Field(
            "satisfaction",
            {**SATISFACTION.ref(), "description": "absent until a closing asked the citizen"},
            lambda detail: SATISFACTION.dump(detail.satisfaction) if detail.satisfaction else None,
            omit_none=True,
        ),
    ],
    description="a complaint or feedback in full, with its work-queue marks; a tip as"
    " `TipMetadata` only",
    base=(LISTED, lambda detail: detail.row),
)

OUTBOX_ID: Field[StatusChanged] = Field(
    "outbox_id", OPTIONAL_INTEGER, lambda changed: changed.outbox_id
)
STATUS_CHANGED = Schema("StatusChanged", [OUTBOX_ID], base=(TICKET, lambda c: c.row))
TIP_STATUS_CHANGED = Schema("TipStatusChanged", [OUTBOX_ID], base=(TIP, lambda c: c.row))

REPLY_SENT: Schema[ReplySent] = Schema(
    "ReplySent",
    [
        Field("reference", STRING, lambda sent: sent.reference),
        Field("outbox_id", OPTIONAL_INTEGER, lambda sent: sent.outbox_id),
        Field("sent", BOOLEAN, lambda sent: sent.outbox_id is not None),
        Field(
            "version",
            {**INTEGER, "description": "the ticket's version now, for the next change"},
            lambda sent: sent.version,
        ),
    ],
)

ERROR: Schema[ApiError] = Schema(
    "Error",
    [
        Field("error", STRING, lambda err: err.code),
        Field("message", STRING, lambda err: err.message),
        Field(
            "parameter",
            {**STRING, "description": "with error `bad_parameter`: the query parameter"},
            lambda err: err.parameter,
            omit_none=True,
        ),
    ],
    required=("error", "message"),
)

# What the OpenAPI document lists under components, in this order.
COMPONENTS: tuple[Schema[Any], ...] = (
    ERROR,
    TICKET,
    TIP,
    LISTED,
    LISTED_TIP,
    PAGE,
    MESSAGE,
    EVENT,
    SATISFACTION,
    DETAIL,
    STATUS_CHANGED,
    TIP_STATUS_CHANGED,
    REPLY_SENT,
)


def for_ticket(ticket_schema: Schema[R], tip_schema: Schema[R], row: InboxRow) -> Schema[R]:
    """`tip_schema` for a tip (metadata only), else `ticket_schema`."""
    return tip_schema if row.ticket.kind == "tip" else ticket_schema
