"""A staff member changes their own password: /staff/password.

The current password is checked like a sign-in (same throttle, off the loop); an
investigator's key pair is re-wrapped under the new password, so they keep every tip. The change
ends every session and revokes every API token of the account (the store does that); the
browser that made the change gets a fresh session so its owner stays signed in.
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.staff import keys as staff_keys
from bot.staff.accounts import AccountError, check_new_password
from bot.staff.actions import audit
from bot.web.staff.auth import open_session, require_role, signed_in_user, throttled
from bot.web.staff.common import actor_of, reading, render, runtime_of, writing
from bot.web.staff.signin import check_password, credit


def _page(request: Request, *, status_code: int = 200, **ctx: Any) -> Response:
    return render(
        request,
        "staff/password.html",
        user=signed_in_user(request),
        status_code=status_code,
        done=request.query_params.get("done") == "1",
        **ctx,
    )


@require_role()
async def password(request: Request) -> Response:
    if request.method == "GET":
        return _page(request)
    user = signed_in_user(request)
    form = await request.form()
    current = str(form.get("current") or "")
    new = str(form.get("password") or "")
    try:
        check_new_password(new)
    except AccountError as err:
        return _page(request, status_code=400, error=err.msgid)
    checked = await check_password(request, user.username, current)
    if checked.refused:
        return throttled(request, checked, functools.partial(_page, request))
    if not checked.ok:
        async with writing(request) as db:
            await audit(db, actor_of(request, user), "password.failed", user.username)
        return _page(request, status_code=400, error="staff.password.wrong")
    hashed = await runtime_of(request).passwords.hash(new)
    actor = actor_of(request, user)
    response = RedirectResponse("/staff/password?done=1", status_code=303)
    async with reading(request) as db:
        keys = await staff_keys.open_pair(db, user, current)
    # The same key pair, wrapped under the new password: nothing is lost.
    keys = await staff_keys.rewrap(keys, new) if keys is not None else None
    async with writing(request) as db:
        await credit(db, request, user.username)
        await db.staff.update(user.id, password_hash=hashed, now=actor.now)
        if keys is not None:
            await keys.store(db, now=actor.now)  # the same key: still endorsed
        await open_session(db, request, user, response, keys=keys)
        await audit(db, actor, "password.change", user.username)
    return response
