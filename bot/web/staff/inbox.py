"""The inbox: filters, text search, sorting, pagination and counts per status; and the
CSV/JSON export of the same filtered list.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.staff.export import FORMATS, export_tickets
from bot.staff.records import KINDS, STATUSES, InboxQuery, StaffUser
from bot.staff.roles import visible_kinds
from bot.web.staff.auth import require_role, signed_in_user
from bot.web.staff.common import actor_of, message_page, reading, render, today_of, writing
from bot.web.staff.ticket import TICKET_ROLES

FILTER_KEYS = ("kind", "status", "category", "region", "assignee", "overdue", "from", "to", "q")
SORT_KEYS = ("created", "updated", "due", "status", "reference")


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def query_from(params: Mapping[str, str], user: StaffUser, *, per_page: int = 25) -> InboxQuery:
    """Filters from query parameters, limited to what `user` may see."""
    kinds = visible_kinds(user)
    kind = params.get("kind") or None
    assignee = params.get("assignee") or ""
    sort = params.get("sort") or "created"
    return InboxQuery(
        kinds=kinds,
        kind=kind if kind in KINDS else None,
        status=params.get("status") if params.get("status") in STATUSES else None,
        category=params.get("category") or None,
        region=params.get("region") or None,
        assignee=user.id if assignee == "me" else (_int(assignee, 0) or None),
        unassigned=assignee == "none",
        overdue=params.get("overdue") == "1",
        created_from=_date(params.get("from")),
        created_to=_date(params.get("to")),
        text=(params.get("q") or "").strip()[:100] or None,
        sort=sort if sort in SORT_KEYS else "created",
        descending=params.get("dir", "desc") != "asc",
        page=max(1, _int(params.get("page"), 1)),
        per_page=per_page,
    )


def _link(params: Mapping[str, str], **changes: str | None) -> str:
    merged = {k: v for k, v in params.items() if v and k in (*FILTER_KEYS, "sort", "dir", "page")}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return "/staff/inbox" + ("?" + urlencode(merged) if merged else "")


@require_role()
async def home(request: Request) -> Response:
    user = signed_in_user(request)
    return RedirectResponse(
        "/staff/inbox" if user.role in TICKET_ROLES else "/staff/stats", status_code=303
    )


@require_role(*TICKET_ROLES)
async def inbox(request: Request) -> Response:
    user = signed_in_user(request)
    params = dict(request.query_params)
    query = query_from(params, user)
    today = today_of(request)
    async with reading(request) as db:
        page = await db.console.inbox(query, today=today)
        facets = await db.console.facets(query.kinds)
        staff = [u for u in await db.staff.all() if not u.disabled and u.role == user.role]
        others = await db.console.kind_counts(
            tuple(k for k in KINDS if k not in query.kinds), today=today
        )
    export_query = urlencode({k: v for k, v in params.items() if k in FILTER_KEYS and v})
    return render(
        request,
        "staff/inbox.html",
        user=user,
        page=page,
        query=query,
        params=params,
        facets=facets,
        staff=staff,
        statuses=STATUSES,
        other_counts=others,
        link=lambda **changes: _link(params, **changes),
        export_query=export_query,
        today=today,
    )


@require_role(*TICKET_ROLES)
async def export(request: Request) -> Response:
    user = signed_in_user(request)
    fmt = request.path_params["fmt"]
    if fmt not in FORMATS:
        return message_page(request, "staff.error.not_found", user=user, status_code=404)
    query = query_from(dict(request.query_params), user)
    async with writing(request) as db:
        text, _count = await export_tickets(
            db, actor_of(request, user), query, fmt, today=today_of(request)
        )
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    stamp = today_of(request).isoformat()
    return Response(
        text,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="tickets-{stamp}.{fmt}"'},
    )
