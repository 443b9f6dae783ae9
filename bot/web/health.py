"""GET /healthz and GET /metrics.

Both are polled (load balancers, Prometheus), so neither writes: /healthz reads one row and
reports what the last write transaction found out (a full disk, a read-only file).
"""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.runtime import Runtime
from bot.web.staff.common import reading, today_of

METRIC_KINDS = ("complaint", "feedback")  # tips are left out of /metrics


async def healthz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        async with runtime.storage.read() as tx:
            await tx.processed.seen("healthz")
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "error"}, status_code=503)
    problem = runtime.storage.write_problem  # "cannot-write" or "read-only"
    if problem is not None:
        return JSONResponse({"status": "unavailable", "database": problem}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    since = runtime.dispatcher.clock() - timedelta(minutes=runtime.settings.session_idle_minutes)
    async with reading(request) as db:
        runtime.metrics.open_sessions.set(await db.tx.sessions.count_since(since))
        overdue = await db.console.overdue_counts(METRIC_KINDS, today=today_of(request))
    for kind, count in overdue.items():
        runtime.metrics.tickets_overdue.labels(kind).set(count)
    runtime.metrics.wal_bytes.set(runtime.storage.wal_bytes())
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


ROUTES = [Route("/healthz", healthz), Route("/metrics", metrics)]
