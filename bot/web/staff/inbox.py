"""The inbox: filters, text search, sorting, pagination and counts per status; and the
CSV/JSON export of the same filtered list.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.deadlines import DeadlineView
from bot.i18n import day_start
from bot.staff import tip_search
from bot.staff.actions import audit
from bot.staff.export import FORMATS, export_tickets
from bot.staff.records import KINDS, SORT_KEYS, STATUSES, InboxQuery, StaffUser, marked
from bot.staff.roles import visible_kinds
from bot.staff.tip_rows import tip_labels
from bot.web import params as P
from bot.web.staff.auth import require_role, signed_in_user
from bot.web.staff.common import (
    actor_of,
    message_page,
    reading,
    render,
    runtime_of,
    today_of,
    writing,
)
from bot.web.staff.ticket import TICKET_ROLES, deadline_view

FILTER_KEYS = (
    "kind", "status", "category", "region", "assignee", "overdue", "due", "from", "to", "q"
)  # fmt: skip
CODE_LENGTH = 64  # category and region codes are short ASCII
SEARCH_LENGTH = 200
EXCEL_BOM = "\ufeff"


def _assignee(params: Mapping[str, str], user: StaffUser) -> tuple[int | None, bool]:
    """(staff id, unassigned only) from `assignee`: an id, `me` or `none`."""
    value = params.get("assignee") or ""
    if value in ("me", "none"):
        return (user.id if value == "me" else None), value == "none"
    return (P.integer(params, "assignee", default=0, low=1, high=P.MAX_ID) or None), False


def query_from(
    params: Mapping[str, str],
    user: StaffUser,
    *,
    per_page: int = 25,
    marks: DeadlineView | None = None,
) -> InboxQuery:
    """Filters from query parameters, limited to what `user` may see; `due=soon` needs
    `marks` to know how far "soon" reaches.

    Raises `BadParameter` naming the first parameter that cannot be right.
    """
    assignee, unassigned = _assignee(params, user)
    first, last = P.day(params, "from"), P.day(params, "to")
    return InboxQuery(
        kinds=visible_kinds(user),
        kind=P.choice(params, "kind", KINDS),
        status=P.choice(params, "status", STATUSES),
        category=P.text(params, "category", max_length=CODE_LENGTH),
        region=P.text(params, "region", max_length=CODE_LENGTH),
        assignee=assignee,
        unassigned=unassigned,
        overdue=P.choice(params, "overdue", ("1",)) == "1",
        due_by=marks.soon_until if marks and P.choice(params, "due", ("soon",)) else None,
        created_from=day_start(first) if first else None,
        created_before=day_start(last + timedelta(days=1)) if last else None,
        text=P.text(params, "q", max_length=SEARCH_LENGTH),
        sort=P.choice(params, "sort", SORT_KEYS) or "queue",
        descending=P.choice(params, "dir", ("asc", "desc")) != "asc",
        page=P.page(params),
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
    marks = deadline_view(request)
    query = query_from(params, user, marks=marks)
    today = marks.today
    actor = actor_of(request, user)
    refdata = runtime_of(request).refdata
    async with reading(request) as db:
        run = await tip_search.narrow(db.console, db.tx.tips, actor, query, refdata, today=today)
        page = await db.console.inbox(run.query, today=today, due_soon_until=marks.soon_until)
        page = marked(page, marks)
        opens = tip_search.opens_tips(actor, query)
        facets = tip_search.facets(refdata) if opens else await db.console.facets(query.kinds)
        staff = [u for u in await db.staff.all() if not u.disabled and u.role == user.role]
        others = await db.console.kind_counts(
            tuple(k for k in KINDS if k not in query.kinds), today=today
        )
        tips = await tip_labels(db.tx.tips, actor, page.rows)
    if run.searched:
        async with writing(request) as db:
            await audit(db, actor, "tip.search")
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
        sort_keys=SORT_KEYS,
        other_counts=others,
        link=lambda **changes: _link(params, **changes),
        export_query=export_query,
        today=today,
        tips=tips,
        tip_search_off=tip_search.tip_list(query) and not opens,
        scan_stopped=tip_search.SCAN_LIMIT if run.stopped else None,
    )


@require_role("admin")
async def overdue(request: Request) -> Response:
    """The admins' escalation view: every overdue ticket, the longest overdue first."""
    return RedirectResponse("/staff/inbox?overdue=1&sort=due&dir=asc", status_code=303)


@require_role(*TICKET_ROLES)
async def export(request: Request) -> Response:
    user = signed_in_user(request)
    fmt = request.path_params["fmt"]
    if fmt not in FORMATS:
        return message_page(request, "staff.error.not_found", user=user, status_code=404)
    query = query_from(dict(request.query_params), user)
    actor, today = actor_of(request, user), today_of(request)
    async with reading(request) as db:  # the same tips the list found, opened outside the write
        run = await tip_search.narrow(
            db.console, db.tx.tips, actor, query, runtime_of(request).refdata, today=today
        )
    async with writing(request) as db:
        text, _count = await export_tickets(db, actor, run.query, fmt, today=today)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    stamp = today.isoformat()
    return Response(
        # Without a BOM, Excel reads a CSV file in the local code page: Cyrillic is garbled.
        EXCEL_BOM + text if fmt == "csv" else text,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="tickets-{stamp}.{fmt}"'},
    )
