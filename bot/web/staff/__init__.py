"""The staff console under /staff/: server-rendered pages that work without JavaScript.

Other areas plug in with `require_role(...)`, `signed_in_user(request)` and
`render(request, "staff/<page>.html", user=user, ...)` over the `staff/base.html` layout,
and pass their routes to `routes(extra=...)` (campaign pages under /staff/campaigns).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.web.staff import (
    admin,
    auth,
    inbox,
    keys,
    password,
    reply_templates,
    stats,
    ticket,
    tokens,
)
from bot.web.staff.auth import current_user, require_role, signed_in_user
from bot.web.staff.common import WEB_DIR, ParameterErrors, SecurityHeaders, render

__all__ = ["current_user", "render", "require_role", "routes", "signed_in_user"]


def routes(extra: Sequence[BaseRoute] = ()) -> list[BaseRoute]:
    pages: list[BaseRoute] = [
        Route("/", inbox.home),
        Route("/login", auth.login, methods=["GET", "POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/language", auth.language, methods=["POST"]),
        Route("/password", password.password, methods=["GET", "POST"]),
        Route("/keys", keys.keys),
        Route("/keys/grant", keys.grant, methods=["POST"]),
        Route("/inbox", inbox.inbox),
        Route("/overdue", inbox.overdue),
        Route("/export.{fmt:str}", inbox.export),
        Route("/tickets/{reference}", ticket.show),
        Route("/tickets/{reference}/files/{blob_id}", ticket.attachment),
        Route("/tickets/{reference}/{action}", ticket.act, methods=["POST"]),
        Route("/stats", stats.stats),
        Route("/accounts", admin.accounts),
        Route("/accounts/add", admin.add, methods=["POST"]),
        Route("/accounts/{staff_id:int}", admin.change, methods=["POST"]),
        Route("/tokens", tokens.tokens, methods=["GET", "POST"]),
        Route("/tokens/{token_id:int}/revoke", tokens.revoke, methods=["POST"]),
        Route("/audit", admin.audit_log),
        Route("/templates", reply_templates.templates, methods=["GET", "POST"]),
        Route("/templates/{template_id:int}", reply_templates.template, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="staff-static"),
        *extra,
    ]
    return [
        Mount(
            "/staff",
            routes=pages,
            middleware=[Middleware(SecurityHeaders), Middleware(ParameterErrors)],
        )
    ]
