"""JSON API under /api/v1 for the agency's other systems.

Per-user bearer tokens (each person makes their own in the console; they expire after
API_TOKEN_DAYS), the same role rules as the console, the same audit log. A tip is served
as metadata only, whoever asks (issue 12): its text, fields, files, thread and tipster are
read in the console or nowhere. `/api/v1/openapi.json` describes exactly the routes below;
a test compares the two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot import safejson
from bot.staff import actions
from bot.staff.accounts import token_hash
from bot.staff.actions import ActionError, Actor
from bot.staff.records import STATUSES, InboxRow
from bot.staff.roles import can_work_tickets
from bot.storage.records import Ticket
from bot.text import clean_json
from bot.web import params as P
from bot.web.params import BadParameter
from bot.web.staff.common import (
    SecurityHeaders,
    actor_of,
    now_of,
    reading,
    runtime_of,
    today_of,
    writing,
)
from bot.web.staff.inbox import query_from

MAX_PER_PAGE = 200
Handler = Callable[[Request, Actor], Awaitable[Response]]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def bad_parameter(err: BadParameter) -> JSONResponse:
    """400 naming the query parameter, in a field a client can act on."""
    return JSONResponse(
        {
            "error": "bad_parameter",
            "parameter": err.name,
            "message": f"invalid value for query parameter {err.name!r}",
        },
        status_code=400,
    )


def _action_error(request: Request, err: ActionError) -> JSONResponse:
    message = runtime_of(request).catalogs["en"](err.msgid)
    return _error(err.status_code, err.msgid.removeprefix("staff."), message)


def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Bearer token → staff user; only roles that work tickets use the ticket API."""

    async def endpoint(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "unauthorized", "send Authorization: Bearer <token>")
        now = now_of(request)
        async with writing(request) as db:
            found = await db.staff.token_owner([token_hash(token.strip())])
            if found is not None and not found[1].expired(now):
                await db.staff.mark_token_used(found[1].id, now=now)
        if found is None:
            return _error(401, "unauthorized", "unknown, revoked or disabled token")
        user, held = found
        if held.expired(now):
            return _error(401, "token_expired", _expired_message(held.expires_at))
        if not can_work_tickets(user):
            return _error(403, "forbidden", "this role has no access to tickets")
        try:
            return await handler(request, actor_of(request, user))
        except BadParameter as err:
            return bad_parameter(err)

    return endpoint


def _expired_message(expires_at: datetime) -> str:
    return (
        f"this token expired on {expires_at.astimezone(UTC).date().isoformat()};"
        " its owner can make a new one on the API tokens page of the staff console"
    )


def tip_json(ticket: Ticket) -> dict[str, Any]:
    """What the API says about a tip: that it exists and where it stands, nothing it says."""
    return {
        "reference": ticket.reference,
        "kind": ticket.kind,
        "status": ticket.status,
        "region": ticket.region,
        "due_on": ticket.due_on.isoformat() if ticket.due_on else None,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "version": ticket.version,
    }


def ticket_json(ticket: Ticket, assignee: str | None = None) -> dict[str, Any]:
    if ticket.kind == "tip":
        return tip_json(ticket)
    return {
        "reference": ticket.reference,
        "kind": ticket.kind,
        "status": ticket.status,
        "privacy": ticket.privacy,
        "category": ticket.category,
        "subject": ticket.subject,
        "region": ticket.region,
        "rating": ticket.rating,
        "summary": ticket.summary,
        "locale": ticket.locale,
        "channel": ticket.channel,
        "due_on": ticket.due_on.isoformat() if ticket.due_on else None,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "assignee": assignee,
        "version": ticket.version,
    }


def _row(row: InboxRow) -> dict[str, Any]:
    return {**ticket_json(row.ticket, row.assignee_name), "overdue": row.overdue}


async def _find(request: Request, actor: Actor) -> Ticket:
    async with reading(request) as db:
        ticket = await db.tx.tickets.by_reference(request.path_params["reference"])
    return actions.check_access(actor, ticket)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = safejson.loads(await request.body())  # depth capped: never RecursionError
    except ValueError:
        raise ActionError("staff.error.bad_request") from None
    if not isinstance(body, dict):
        raise ActionError("staff.error.bad_request")
    # Lone surrogates are valid JSON but cannot be stored: replaced, as on every channel.
    return cast(dict[str, Any], clean_json(body))


async def list_tickets(request: Request, actor: Actor) -> Response:
    params = dict(request.query_params)
    per_page = P.integer(params, "per_page", default=50, low=1, high=MAX_PER_PAGE, clamp=True)
    query = query_from(params, actor.user, per_page=per_page)
    async with reading(request) as db:
        page = await db.console.inbox(query, today=today_of(request))
    return JSONResponse(
        {
            "items": [_row(r) for r in page.rows],
            "total": page.total,
            "page": page.page,
            "per_page": page.per_page,
            "status_counts": page.status_counts,
        }
    )


async def get_ticket(request: Request, actor: Actor) -> Response:
    try:
        ticket = await _find(request, actor)
    except ActionError as err:
        return _action_error(request, err)
    if ticket.kind == "tip":
        return JSONResponse(tip_json(ticket))  # no contents, thread, events or identity
    async with reading(request) as db:
        names = await db.staff.names()
        body = ticket_json(ticket, names.get(ticket.assignee_id or 0))
        thread = await db.tx.tickets.messages(ticket.id, include_internal=True)
        deliveries = await db.console.deliveries(ticket.id)
        events = await db.console.events(ticket.id)
    body["messages"] = [
        {
            "id": m.id,
            "author": m.author,
            "staff": names.get(m.staff_id or 0),
            "internal": m.internal,
            "body": m.body,
            "created_at": m.created_at.isoformat(),
            "delivery": deliveries.get(m.id),
        }
        for m in thread
    ]
    body["events"] = [
        {"actor": e.actor, "action": e.action, "detail": e.detail, "at": e.created_at.isoformat()}
        for e in events
    ]
    return JSONResponse(body)


async def set_status(request: Request, actor: Actor) -> Response:
    try:
        ticket = await _find(request, actor)
        data = await _json_body(request)
        version = data.get("version")
        if not isinstance(version, int):
            raise ActionError("staff.error.bad_request")
        async with writing(request) as db:
            fresh = await db.tx.tickets.get(ticket.id)
            assert fresh is not None
            outbox_id = await actions.change_status(
                db,
                runtime_of(request).catalogs,
                actor,
                fresh,
                version=version,
                status=str(data.get("status", "")),
                reason=str(data.get("reason", "")),
            )
            updated = await db.tx.tickets.get(ticket.id)
    except ActionError as err:
        return _action_error(request, err)
    if outbox_id is not None:
        runtime_of(request).outbox.wake()
    assert updated is not None
    return JSONResponse({**ticket_json(updated), "outbox_id": outbox_id})


async def post_reply(request: Request, actor: Actor) -> Response:
    try:
        ticket = await _find(request, actor)
        data = await _json_body(request)
        async with writing(request) as db:
            outbox_id = await actions.reply(
                db, runtime_of(request).catalogs, actor, ticket, text=str(data.get("text", ""))
            )
    except ActionError as err:
        return _action_error(request, err)
    if outbox_id is not None:
        runtime_of(request).outbox.wake()
    return JSONResponse(
        {"reference": ticket.reference, "outbox_id": outbox_id, "sent": outbox_id is not None},
        status_code=201,
    )


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/tickets", list_tickets),
    ("GET", "/tickets/{reference}", get_ticket),
    ("POST", "/tickets/{reference}/status", set_status),
    ("POST", "/tickets/{reference}/replies", post_reply),
]


def routes() -> list[BaseRoute]:
    inner: list[BaseRoute] = [Route("/openapi.json", openapi)]
    inner += [Route(path, authenticated(h), methods=[m]) for m, path, h in ROUTES]
    return [Mount("/api/v1", routes=inner, middleware=[Middleware(SecurityHeaders)])]


_ERROR = {"$ref": "#/components/schemas/Error"}
_REF_PARAM = {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    described = {
        400: "invalid request",
        401: "missing, unknown, revoked or expired token (`token_expired`)",
        403: "role without ticket access; or a message to a confidential tipster, whose"
        " contact opens only with an investigator's key in the console",
        404: "no such ticket, or not visible to this role",
        409: "the ticket changed since `version` was read",
    }
    out: dict[str, Any] = dict(ok)
    for code in codes:
        out[str(code)] = {
            "description": described[code],
            "content": {"application/json": {"schema": _ERROR}},
        }
    return out


def _filter(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "govbot staff API",
        "version": "1.0.0",
        "description": "Tickets for the agency's other systems. Each staff member makes"
        " their own bearer tokens on their API tokens page in the staff console (nobody makes"
        " one for another account); a token acts as its owner, expires API_TOKEN_DAYS (90 by"
        " default) after it was made, and dies when its owner's password or role changes or"
        " the account is disabled (401 with error `token_expired` once expired). Role rules"
        " and the audit log are the console's (reviewers: complaints and feedback;"
        " investigators: tips).\n\nTips (kind `tip`) are served as metadata only, whatever"
        " the token's role: reference, kind, status, region, due date, dates and version."
        " No text, no fields, no files, no thread, no events and nothing about the tipster;"
        " a tip is read in the staff console only.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {
        "/tickets": {
            "get": {
                "summary": "List tickets visible to the token's role (tips: metadata only)",
                "operationId": "listTickets",
                "parameters": [
                    _filter(
                        "kind", "complaint, feedback or tip", enum=["complaint", "feedback", "tip"]
                    ),
                    _filter("status", "ticket status", enum=list(STATUSES)),
                    _filter("category", "category code", type="string", maxLength=64),
                    _filter("region", "region code", type="string", maxLength=64),
                    _filter("assignee", "staff id, `me` or `none`"),
                    _filter("overdue", "1 for overdue open tickets only", enum=["1"]),
                    _filter(
                        "from",
                        "filed on or after (YYYY-MM-DD, Almaty, 2000-01-01 to 2100-12-31)",
                        format="date",
                        type="string",
                    ),
                    _filter(
                        "to",
                        "filed on or before (YYYY-MM-DD, Almaty, 2000-01-01 to 2100-12-31)",
                        format="date",
                        type="string",
                    ),
                    _filter(
                        "q",
                        "text search in reference, summary, subject",
                        type="string",
                        maxLength=200,
                    ),
                    _filter(
                        "sort",
                        "sort key",
                        enum=["created", "updated", "due", "status", "reference"],
                    ),
                    _filter("dir", "asc or desc (default)", enum=["asc", "desc"]),
                    _filter(
                        "page",
                        "page number from 1; past the last page, the last page",
                        type="integer",
                        minimum=1,
                    ),
                    _filter(
                        "per_page", "page size", type="integer", minimum=1, maximum=MAX_PER_PAGE
                    ),
                ],
                "responses": _responses(
                    {
                        "200": {
                            "description": "a page of tickets",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/TicketPage"}
                                }
                            },
                        }
                    },
                    400,
                    401,
                    403,
                ),
            }
        },
        "/tickets/{reference}": {
            "get": {
                "summary": "One ticket with its thread and timeline; a tip: its metadata only",
                "operationId": "getTicket",
                "parameters": [_REF_PARAM],
                "responses": _responses(
                    {
                        "200": {
                            "description": "the ticket",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/TicketDetail"}
                                }
                            },
                        }
                    },
                    401,
                    403,
                    404,
                ),
            }
        },
        "/tickets/{reference}/status": {
            "post": {
                "summary": "Change the status; the citizen is told the reason in their language",
                "operationId": "setStatus",
                "parameters": [_REF_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["status", "reason", "version"],
                                "properties": {
                                    "status": {"type": "string", "enum": list(STATUSES)},
                                    "reason": {"type": "string", "maxLength": 3500},
                                    "version": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
                "responses": _responses(
                    {
                        "200": {
                            "description": "the updated ticket",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "allOf": [
                                            {"$ref": "#/components/schemas/Ticket"},
                                            {
                                                "type": "object",
                                                "properties": {
                                                    "outbox_id": {"type": ["integer", "null"]}
                                                },
                                            },
                                        ]
                                    }
                                }
                            },
                        }
                    },
                    400,
                    401,
                    403,
                    404,
                    409,
                ),
            }
        },
        "/tickets/{reference}/replies": {
            "post": {
                "summary": "Reply to the citizen through their channel",
                "operationId": "postReply",
                "parameters": [_REF_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["text"],
                                "properties": {"text": {"type": "string", "maxLength": 3500}},
                            }
                        }
                    },
                },
                "responses": _responses(
                    {
                        "201": {
                            "description": "stored and queued (sent is false for an"
                            " anonymous tip: the tipster reads it with the receipt)",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "reference": {"type": "string"},
                                            "outbox_id": {"type": ["integer", "null"]},
                                            "sent": {"type": "boolean"},
                                        },
                                    }
                                }
                            },
                        }
                    },
                    400,
                    401,
                    403,
                    404,
                ),
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string"},
                    "message": {"type": "string"},
                    "parameter": {
                        "type": "string",
                        "description": "with error `bad_parameter`: the query parameter",
                    },
                },
            },
            "Ticket": {
                "type": "object",
                "description": "a complaint or feedback; a tip carries only the `TipMetadata`"
                " fields",
                "properties": {
                    "reference": {"type": "string"},
                    "kind": {"type": "string", "enum": ["complaint", "feedback", "tip"]},
                    "status": {"type": "string", "enum": list(STATUSES)},
                    "privacy": {"type": "string", "enum": ["named", "confidential", "anonymous"]},
                    "category": {"type": ["string", "null"]},
                    "subject": {"type": ["string", "null"]},
                    "region": {"type": ["string", "null"]},
                    "rating": {"type": ["integer", "null"]},
                    "summary": {"type": ["string", "null"]},
                    "locale": {"type": "string"},
                    "channel": {"type": ["string", "null"]},
                    "due_on": {"type": ["string", "null"], "format": "date"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "assignee": {"type": ["string", "null"]},
                    "version": {"type": "integer"},
                },
            },
            "TicketPage": {
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "items": {
                            "allOf": [
                                {"$ref": "#/components/schemas/Ticket"},
                                {"type": "object", "properties": {"overdue": {"type": "boolean"}}},
                            ]
                        },
                    },
                    "total": {"type": "integer"},
                    "page": {"type": "integer"},
                    "per_page": {"type": "integer"},
                    "status_counts": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                    },
                },
            },
            "TipMetadata": {
                "type": "object",
                "description": "all the API tells about a tip (kind `tip`), whoever asks",
                "properties": {
                    "reference": {"type": "string"},
                    "kind": {"type": "string", "enum": ["tip"]},
                    "status": {"type": "string", "enum": list(STATUSES)},
                    "region": {"type": ["string", "null"]},
                    "due_on": {"type": ["string", "null"], "format": "date"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "version": {"type": "integer"},
                },
            },
            "TicketDetail": {
                "description": "a complaint or feedback in full; a tip as `TipMetadata` only",
                "allOf": [
                    {"$ref": "#/components/schemas/Ticket"},
                    {
                        "type": "object",
                        "properties": {
                            "messages": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "author": {"type": "string"},
                                        "staff": {"type": ["string", "null"]},
                                        "internal": {"type": "boolean"},
                                        "body": {"type": "string"},
                                        "created_at": {"type": "string", "format": "date-time"},
                                        "delivery": {"type": ["string", "null"]},
                                    },
                                },
                            },
                            "events": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                ],
            },
        },
    },
}
