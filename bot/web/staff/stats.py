"""Statistics: service-quality ratings by category, centre and region, over time; tickets
per category and status; overdue tickets; satisfaction after closing and reopen rates
(satisfaction_stats.py). SVG charts with the numbers in tables.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from bot.i18n import day_start
from bot.staff.records import KINDS, STATUSES
from bot.web import params as P
from bot.web.staff import charts
from bot.web.staff.auth import require_role, signed_in_user
from bot.web.staff.common import code_name, reading, render, runtime_of, today_of, translator
from bot.web.staff.satisfaction_stats import satisfaction_groups

PERIODS = {"30": 30, "90": 90, "365": 365}
TREND_SERIES = 6


@require_role()
async def stats(request: Request) -> Response:
    user = signed_in_user(request)
    t = translator(request, user)
    refdata = runtime_of(request).refdata
    days = PERIODS[P.choice(request.query_params, "days", PERIODS) or "90"]
    today = today_of(request)
    since = day_start(today - timedelta(days=days))

    def name(kind: str, code: str) -> str:
        if not code:
            return t("staff.stats.unknown")
        return code_name(t, refdata, "body" if kind == "centre" else kind, code)

    async with reading(request) as db:
        by = {
            dim: await db.console.ratings_by(dim, since=since)
            for dim in ("category", "centre", "region")
        }
        trend = await db.console.ratings_by_month("category", since=since)
        matrix = await db.console.tickets_by_category_status(KINDS, since=since)
        overdue = await db.console.overdue_by_category(KINDS, today=today)
        staff = await db.staff.names()
        satisfaction = await satisfaction_groups(db.tx, t, name, staff, since=since)

    rating_charts = {
        dim: charts.bars(
            t(f"staff.stats.rating_by_{dim}"),
            [(name(dim, s.key), round(s.average or 0, 2)) for s in stats_][:15],
            maximum=5,
        )
        for dim, stats_ in by.items()
    }
    months = sorted({m for m, _, _ in trend})
    top = [s.key for s in by["category"][:TREND_SERIES]]
    series = [
        (
            name("category", key),
            [next((s.average for m2, k, s in trend if m2 == m and k == key), None) for m in months],
        )
        for key in top
    ]
    trend_chart = charts.lines(t("staff.stats.rating_trend"), months, series) if months else None
    categories = sorted({c for c, _, _ in matrix})
    table = {c: dict.fromkeys(STATUSES, 0) for c in categories}
    for c, status, n in matrix:
        table[c][status] = n
    status_names = [t(f"staff.status.{s}") for s in STATUSES]
    ticket_chart = charts.stacked(
        t("staff.stats.tickets_by_category"),
        [(name("category", c), [table[c][s] for s in STATUSES]) for c in categories],
        status_names,
    )
    overdue_chart = charts.bars(
        t("staff.stats.overdue"), [(name("category", s.key), s.count) for s in overdue]
    )
    return render(
        request,
        "staff/stats.html",
        user=user,
        period=str(days),
        periods=PERIODS,
        by=by,
        rating_charts=rating_charts,
        trend_chart=trend_chart,
        months=months,
        series=series,
        ticket_chart=ticket_chart,
        table=table,
        statuses=STATUSES,
        overdue=overdue,
        overdue_chart=overdue_chart,
        label=name,
        satisfaction=satisfaction,
    )
