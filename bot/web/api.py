"""JSON API under /api/v1 for the agency's other systems.

Per-user bearer tokens (each person makes their own in the console; they expire after
API_TOKEN_DAYS), the same role rules as the console, the same audit log. A tip is served
as metadata only, whoever asks (issue 12): its text, fields, files, thread and tipster are
read in the console or nowhere, and `q` finds a tip by its reference only. A token holds no
key to search a tip's words with: it is a bearer secret kept by another system for up to
API_TOKEN_DAYS, and a key wrapped under it would open every tip for as long to whoever
copies that system's settings; the console's search (bot/staff/tip_search.py) opens tips
with the key of a signed-in session. Every object is serialised by its schema in
bot/staff/schemas.py, and `/api/v1/openapi.json` (bot/web/openapi.py) is drawn from the same
schemas and describes exactly the routes below; tests compare both with real answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, cast

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot import safejson
from bot.staff import actions
from bot.staff.accounts import token_hash
from bot.staff.actions import ActionError, Actor
from bot.staff.records import InboxRow, marked, row_of
from bot.staff.roles import can_work_tickets
from bot.staff.schemas import (
    DETAIL,
    ERROR,
    PAGE,
    REPLY_SENT,
    STATUS_CHANGED,
    TIP,
    TIP_STATUS_CHANGED,
    ApiError,
    MessageView,
    ReplySent,
    StatusChanged,
    TicketDetail,
    for_ticket,
)
from bot.storage.records import Ticket
from bot.text import clean_json
from bot.web import params as P
from bot.web.openapi import document
from bot.web.params import BadParameter
from bot.web.staff.common import (
    SecurityHeaders,
    actor_of,
    now_of,
    reading,
    runtime_of,
    writing,
)
from bot.web.staff.inbox import query_from
from bot.web.staff.ticket import deadline_view

MAX_PER_PAGE = 200
Handler = Callable[[Request, Actor], Awaitable[Response]]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ERROR.dump(ApiError(code, message)), status_code=status)


def bad_parameter(err: BadParameter) -> JSONResponse:
    """400 naming the query parameter, in a field a client can act on."""
    message = f"invalid value for query parameter {err.name!r}"
    return JSONResponse(ERROR.dump(ApiError("bad_parameter", message, err.name)), status_code=400)


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


def _row(request: Request, ticket: Ticket, assignee: str | None = None) -> InboxRow:
    """A ticket as the inbox lists it: with its assignee's name and today's deadline marks."""
    return row_of(ticket, assignee, deadline_view(request))


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
    marks = deadline_view(request)
    query = query_from(params, actor.user, per_page=per_page, marks=marks)
    async with reading(request) as db:
        page = await db.console.inbox(query, today=marks.today, due_soon_until=marks.soon_until)
    return JSONResponse(PAGE.dump(marked(page, marks)))


async def get_ticket(request: Request, actor: Actor) -> Response:
    try:
        ticket = await _find(request, actor)
    except ActionError as err:
        return _action_error(request, err)
    if ticket.kind == "tip":
        # No contents, thread, events or identity.
        return JSONResponse(TIP.dump(_row(request, ticket)))
    async with reading(request) as db:
        names = await db.staff.names()
        thread = await db.tx.tickets.messages(ticket.id, include_internal=True)
        deliveries = await db.console.deliveries(ticket.id)
        events = await db.console.events(ticket.id)
        survey = await db.tx.satisfaction.latest(ticket.id)
        answered, last_activity = await db.console.activity(ticket.id)
    row = replace(
        _row(request, ticket, names.get(ticket.assignee_id or 0)),
        answered=answered,
        last_activity=last_activity,
    )
    messages = [MessageView(m, names.get(m.staff_id or 0), deliveries.get(m.id)) for m in thread]
    return JSONResponse(DETAIL.dump(TicketDetail(row, messages, events, survey)))


StaffAction = Callable[..., Awaitable[int | None]]


async def _change(
    request: Request,
    actor: Actor,
    act: StaffAction,
    fields: Callable[[dict[str, Any]], dict[str, Any]],
) -> Response:
    """`act(db, catalogs, actor, ticket, version=…, **fields(body))` on the version the
    client read; answers with the ticket as it is now and the message queued for the
    citizen."""
    try:
        ticket = await _find(request, actor)
        data = await _json_body(request)
        version = _version(data)
        if version is None:
            raise ActionError("staff.error.bad_request")
        changes = fields(data)
        async with writing(request) as db:
            fresh = await db.tx.tickets.get(ticket.id)
            assert fresh is not None
            catalogs = runtime_of(request).catalogs
            outbox_id = await act(db, catalogs, actor, fresh, version=version, **changes)
            updated = await db.tx.tickets.get(ticket.id)
    except ActionError as err:
        return _action_error(request, err)
    if outbox_id is not None:
        runtime_of(request).outbox.wake()
    assert updated is not None
    changed = StatusChanged(_row(request, updated), outbox_id)
    return JSONResponse(for_ticket(STATUS_CHANGED, TIP_STATUS_CHANGED, changed.row).dump(changed))


def _version(data: dict[str, Any]) -> int | None:
    """The body's `version`, if it is a whole number (JSON's true is not 1)."""
    version = data.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def _status_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {"status": str(data.get("status", "")), "reason": str(data.get("reason", ""))}


def _deadline_fields(data: dict[str, Any]) -> dict[str, Any]:
    try:
        due_on = date.fromisoformat(str(data.get("due_on", "")))
    except ValueError:
        raise ActionError("staff.ticket.bad_date") from None
    return {"due_on": due_on, "reason": str(data.get("reason", ""))}


def _redirect_fields(data: dict[str, Any], days_off: frozenset[date]) -> dict[str, Any]:
    return {"body": str(data.get("body", "")), "days_off": days_off}


async def set_status(request: Request, actor: Actor) -> Response:
    return await _change(request, actor, actions.change_status, _status_fields)


async def extend_deadline(request: Request, actor: Actor) -> Response:
    return await _change(request, actor, actions.extend_deadline, _deadline_fields)


async def redirect(request: Request, actor: Actor) -> Response:
    days_off = runtime_of(request).refdata.days_off
    return await _change(
        request, actor, actions.redirect, lambda data: _redirect_fields(data, days_off)
    )


async def post_reply(request: Request, actor: Actor) -> Response:
    """A reply with `version` is refused (409) if a colleague changed the ticket since
    the client read it; without it, it goes after whatever the ticket is now."""
    try:
        ticket = await _find(request, actor)
        data = await _json_body(request)
        version = _version(data) if "version" in data else None
        if "version" in data and version is None:
            raise ActionError("staff.error.bad_request")
        async with writing(request) as db:
            fresh = await db.tx.tickets.get(ticket.id)
            assert fresh is not None
            outbox_id = await actions.reply(
                db,
                runtime_of(request).catalogs,
                actor,
                fresh,
                text=str(data.get("text", "")),
                needs_answer=data.get("needs_answer") is True,
                version=version,
            )
            updated = await db.tx.tickets.get(ticket.id)
    except ActionError as err:
        return _action_error(request, err)
    if outbox_id is not None:
        runtime_of(request).outbox.wake()
    assert updated is not None
    sent = ReplySent(ticket.reference, outbox_id, updated.version)
    return JSONResponse(REPLY_SENT.dump(sent), status_code=201)


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


OPENAPI = document(max_per_page=MAX_PER_PAGE)


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/tickets", list_tickets),
    ("GET", "/tickets/{reference}", get_ticket),
    ("POST", "/tickets/{reference}/status", set_status),
    ("POST", "/tickets/{reference}/replies", post_reply),
    ("POST", "/tickets/{reference}/deadline", extend_deadline),
    ("POST", "/tickets/{reference}/redirect", redirect),
]


def routes() -> list[BaseRoute]:
    inner: list[BaseRoute] = [Route("/openapi.json", openapi)]
    inner += [Route(path, authenticated(h), methods=[m]) for m, path, h in ROUTES]
    return [Mount("/api/v1", routes=inner, middleware=[Middleware(SecurityHeaders)])]
