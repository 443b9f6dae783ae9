"""The OpenAPI document of /api/v1: the routes, their parameters and answers written here,
every object drawn from the schemas that serialise it (bot/staff/schemas.py)."""

from __future__ import annotations

from typing import Any

from bot.schema import Schema, one_of
from bot.staff import schemas
from bot.staff.actions import MAX_BODY_NAME, MAX_TEXT
from bot.staff.records import KINDS, SORT_KEYS, STATUSES

DESCRIPTION = (
    "Tickets for the agency's other systems. Each staff member makes their own bearer"
    " tokens on their API tokens page in the staff console (nobody makes one for another"
    " account); a token acts as its owner, expires API_TOKEN_DAYS (90 by default) after it"
    " was made, and dies when its owner's password or role changes or the account is"
    " disabled (401 with error `token_expired` once expired). Role rules and the audit log"
    " are the console's (reviewers: complaints and feedback; investigators: tips).\n\n"
    "Tips (kind `tip`) are served as metadata only, whatever the token's role: reference,"
    " kind, status, region, due date, dates and version. No text, no fields, no files, no"
    " thread, no events and nothing about the tipster; a tip is read in the staff console"
    " only."
)
ERRORS = {
    400: "invalid request",
    401: "missing, unknown, revoked or expired token (`token_expired`)",
    403: "role without ticket access; or a message to a confidential tipster, whose contact"
    " opens only with an investigator's key in the console",
    404: "no such ticket, or not visible to this role",
    409: "the ticket changed since `version` was read",
}
REFERENCE = {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}
DAY = {"type": "string", "format": "date"}
DAYS = "YYYY-MM-DD, Almaty, 2000-01-01 to 2100-12-31"


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answers(
    code: int, description: str, body: Schema[Any] | tuple[Schema[Any], ...], *errors: int
) -> dict[str, Any]:
    """`body`: the answer's schema, or its alternatives (a ticket's, a tip's)."""
    shape = {"oneOf": [s.ref() for s in body]} if isinstance(body, tuple) else body.ref()
    answers = {str(code): {"description": description, "content": _json(shape)}}
    for error in errors:
        answers[str(error)] = {
            "description": ERRORS[error],
            "content": _json(schemas.ERROR.ref()),
        }
    return answers


def _body(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "required": required, "properties": properties}
    return {"required": True, "content": _json(schema)}


def _filter(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _filters(max_per_page: int) -> list[dict[str, Any]]:
    code = {"type": "string", "maxLength": 64}
    return [
        _filter("kind", "complaint, feedback or tip", one_of(KINDS)),
        _filter("status", "ticket status", one_of(STATUSES)),
        _filter("category", "category code", code),
        _filter("region", "region code", code),
        _filter("assignee", "staff id, `me` or `none`"),
        _filter("overdue", "1 for overdue open tickets only", one_of(("1",))),
        _filter("due", "soon: open tickets due within DEADLINE_REMINDER_DAYS", one_of(("soon",))),
        _filter("from", f"filed on or after ({DAYS})", DAY),
        _filter("to", f"filed on or before ({DAYS})", DAY),
        _filter(
            "q",
            "text search in reference, summary, subject, applicant, IIN and the citizen's"
            " messages; a tip by its reference only (its words are sealed: investigators"
            " search them in the staff console, signed in with their key)",
            {"type": "string", "maxLength": 200},
        ),
        _filter(
            "sort",
            "sort key; `queue` (the default): tickets the citizen answered, then"
            " those due soon, then by last activity",
            one_of(SORT_KEYS),
        ),
        _filter("dir", "asc or desc (default)", one_of(("asc", "desc"))),
        _filter(
            "page",
            "page number from 1; past the last page, the last page",
            {"type": "integer", "minimum": 1},
        ),
        _filter(
            "per_page", "page size", {"type": "integer", "minimum": 1, "maximum": max_per_page}
        ),
    ]


def _changed() -> dict[str, Any]:
    return _answers(
        200,
        "the updated ticket",
        (schemas.STATUS_CHANGED, schemas.TIP_STATUS_CHANGED),
        *(400, 401, 403, 404, 409),
    )


def document(*, max_per_page: int) -> dict[str, Any]:
    text = {"type": "string", "maxLength": MAX_TEXT}
    return {
        "openapi": "3.1.0",
        "info": {"title": "govbot staff API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/tickets": {
                "get": {
                    "summary": "List tickets visible to the token's role (tips: metadata only)",
                    "operationId": "listTickets",
                    "parameters": _filters(max_per_page),
                    "responses": _answers(200, "a page of tickets", schemas.PAGE, 400, 401, 403),
                }
            },
            "/tickets/{reference}": {
                "get": {
                    "summary": "One ticket with its thread and timeline; a tip: its metadata only",
                    "operationId": "getTicket",
                    "parameters": [REFERENCE],
                    "responses": _answers(
                        200, "the ticket", (schemas.DETAIL, schemas.TIP), 401, 403, 404
                    ),
                }
            },
            "/tickets/{reference}/status": {
                "post": {
                    "summary": "Change the status; the citizen is told the reason in their"
                    " language",
                    "operationId": "setStatus",
                    "parameters": [REFERENCE],
                    "requestBody": _body(
                        ["status", "reason", "version"],
                        {
                            "status": one_of(STATUSES),
                            "reason": text,
                            "version": {"type": "integer"},
                        },
                    ),
                    "responses": _answers(
                        200,
                        "the updated ticket",
                        (schemas.STATUS_CHANGED, schemas.TIP_STATUS_CHANGED),
                        *(400, 401, 403, 404, 409),
                    ),
                }
            },
            "/tickets/{reference}/deadline": {
                "post": {
                    "summary": "Extend the deadline (at most two months past the original"
                    " one, open tickets only); the citizen is told the date and the reason",
                    "operationId": "extendDeadline",
                    "parameters": [REFERENCE],
                    "requestBody": _body(
                        ["due_on", "reason", "version"],
                        {"due_on": DAY, "reason": text, "version": {"type": "integer"}},
                    ),
                    "responses": _changed(),
                }
            },
            "/tickets/{reference}/redirect": {
                "post": {
                    "summary": "Forward an open ticket outside our competence to the competent"
                    " body (status `redirected`); the citizen is told where it went, and a"
                    " forwarding after art. 76's three working days is recorded as late"
                    " (the event's `late`)",
                    "operationId": "redirectTicket",
                    "parameters": [REFERENCE],
                    "requestBody": _body(
                        ["body", "version"],
                        {
                            "body": {"type": "string", "maxLength": MAX_BODY_NAME},
                            "version": {"type": "integer"},
                        },
                    ),
                    "responses": _changed(),
                }
            },
            "/tickets/{reference}/replies": {
                "post": {
                    "summary": "Reply to the citizen through their channel",
                    "operationId": "postReply",
                    "parameters": [REFERENCE],
                    "requestBody": _body(
                        ["text"],
                        {
                            "text": text,
                            "needs_answer": {
                                "type": "boolean",
                                "default": False,
                                "description": "staff wait for the citizen: the ticket's"
                                " status becomes waiting, and the citizen's next message in"
                                " the chat joins its thread",
                            },
                            "version": {
                                "type": "integer",
                                "description": "the ticket's version the reply was written"
                                " against: a change since is a conflict (409), not a reply"
                                " sent unseen after it",
                            },
                        },
                    ),
                    "responses": _answers(
                        201,
                        "stored and queued (sent is false for an anonymous tip: the tipster"
                        " reads it with the receipt)",
                        schemas.REPLY_SENT,
                        *(400, 401, 403, 404, 409),
                    ),
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {schema.name: schema.json_schema() for schema in schemas.COMPONENTS},
        },
    }
