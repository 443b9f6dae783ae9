"""Each staff member's own API tokens: /staff/tokens.

Nobody makes a token for another account (issue 12): this page makes tokens for the
signed-in person only, after they type their password again (a borrowed console session
must not become three months of API access), and a request naming another account is
refused and audited. A token is shown once, stored as a hash, and stops working after
API_TOKEN_DAYS. Its owner revokes it here; an admin may revoke anyone's from the accounts
page, which only removes access.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.staff.accounts import new_api_token
from bot.staff.actions import audit
from bot.staff.records import ApiToken, StaffUser
from bot.staff.roles import ADMIN, can_work_tickets
from bot.web import params as P
from bot.web.staff.auth import require_role, signed_in_user, throttled
from bot.web.staff.common import (
    actor_of,
    message_page,
    reading,
    render,
    runtime_of,
    writing,
)
from bot.web.staff.signin import check_password, credit

LABEL_LENGTH = 80
NOTICES = ("staff.done.token_revoked",)


def _page(
    request: Request,
    tokens: list[ApiToken],
    *,
    status_code: int = 200,
    token: str | None = None,
    expires_at: datetime | None = None,
    **ctx: Any,
) -> Response:
    user = signed_in_user(request)
    return render(
        request,
        "staff/tokens.html",
        user=user,
        tokens=tokens,
        now=actor_of(request, user).now,
        may_create=can_work_tickets(user),
        days=runtime_of(request).settings.api_token_days,
        new_token=token,
        new_expires_at=expires_at,
        done=P.notice(request.query_params, "done", NOTICES),
        status_code=status_code,
        **ctx,
    )


async def _show(request: Request, **ctx: Any) -> Response:
    async with reading(request) as db:
        tokens = await db.staff.tokens(signed_in_user(request).id)
    return _page(request, tokens, **ctx)


@require_role()
async def tokens(request: Request) -> Response:
    if request.method == "GET":
        return await _show(request)
    user = signed_in_user(request)
    form = await request.form()
    refused = await _refuse_another_account(request, user, form.get("staff_id"))
    if refused is not None:
        return refused
    if not can_work_tickets(user):
        return await _show(request, status_code=403, error="staff.tokens.no_api")
    label = str(form.get("label") or "").strip()[:LABEL_LENGTH] or "api"
    checked = await check_password(request, user.username, str(form.get("current") or ""))
    if checked.refused:
        async with reading(request) as db:
            mine = await db.staff.tokens(user.id)
        return throttled(request, checked, functools.partial(_page, request, mine))
    actor = actor_of(request, user)
    if not checked.ok:
        async with writing(request) as db:
            await audit(db, actor, "token.failed", user.username)
        return await _show(request, status_code=400, error="staff.password.wrong")
    token, digest = new_api_token()
    expires_at = actor.now + timedelta(days=runtime_of(request).settings.api_token_days)
    async with writing(request) as db:
        await credit(db, request, user.username)
        token_id = await db.staff.add_token(
            user.id, token_hash=digest, label=label, now=actor.now, expires_at=expires_at
        )
        await audit(
            db,
            actor,
            "token.add",
            user.username,
            token_id=token_id,
            label=label,
            expires_at=expires_at.isoformat(),
        )
    # Rendered, not redirected: the token is in this one response and nowhere else.
    return await _show(request, token=token, expires_at=expires_at)


async def _refuse_another_account(
    request: Request, user: StaffUser, named: object
) -> Response | None:
    """A form naming an account (the old admin form did) may name only one's own."""
    if named is None or str(named).strip() in ("", str(user.id)):
        return None
    staff_id = P.form_id(named)
    if staff_id is None:
        return await _show(request, status_code=400, error="staff.error.bad_request")
    async with writing(request) as db:
        target = await db.staff.get(staff_id)
        await audit(
            db,
            actor_of(request, user),
            "token.refused",
            target.username if target else None,
            staff_id=staff_id,
        )
    return await _show(request, status_code=403, error="staff.tokens.not_yours")


@require_role()
async def revoke(request: Request) -> Response:
    """The owner revokes their token; an admin revokes anyone's (access only goes away)."""
    user = signed_in_user(request)
    actor = actor_of(request, user)
    token_id = P.row_id(request.path_params["token_id"])
    async with writing(request) as db:
        found = await db.staff.token(token_id) if token_id else None
        if found is None or (found.staff_id != user.id and user.role != ADMIN):
            return message_page(request, "staff.error.not_found", user=user, status_code=404)
        if await db.staff.revoke_token(found.id, now=actor.now):
            owner = await db.staff.get(found.staff_id)
            await audit(
                db, actor, "token.revoke", owner.username if owner else None, token_id=found.id
            )
    back = "/staff/tokens" if found.staff_id == user.id else "/staff/accounts"
    return RedirectResponse(f"{back}?done=staff.done.token_revoked", status_code=303)
