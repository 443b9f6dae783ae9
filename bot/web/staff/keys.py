"""/staff/keys: an investigator's keys, and granting their tips to a colleague.

Tips are sealed (bot/sealed_tips.py): an investigator reads the ones wrapped for their own
key, and new tips are sealed only to endorsed keys (bot/staff/keys.py). A colleague whose
key an admin could have made (a new account, an admin's password reset) is listed as
waiting: a grant here from an investigator whose own key is endorsed wraps the granter's
tips for them and endorses their key. (The holder of the recovery key can do the same:
`govbot keys grant`.) Every grant is audited; its entry carries the day only, like
everything about tips.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot import sealed_tips
from bot.staff.keys import INVESTIGATOR
from bot.storage.tips import day_of, staff_holder
from bot.web import params as P
from bot.web.staff.auth import require_role, signed_in_user
from bot.web.staff.common import actor_of, reading, render, writing


async def _page(request: Request, *, status_code: int = 200, **ctx: Any) -> Response:
    user = signed_in_user(request)
    async with reading(request) as db:
        own = await db.staff.key(user.id)
        endorsed = await db.staff.endorsed(user.id)
        readable = await db.tx.tips.count_for(staff_holder(user.id))
        waiting = [w for w in await db.staff.waiting_keys() if w.staff_id != user.id]
        waiting_ids = {w.staff_id for w in waiting}
        colleagues = []
        for other in await db.staff.all():
            active = other.role == INVESTIGATOR and not other.disabled and other.id != user.id
            if active and other.id not in waiting_ids and await db.staff.key(other.id):
                colleagues.append(other)
    return render(
        request,
        "staff/keys.html",
        user=user,
        status_code=status_code,
        has_key=own is not None,
        endorsed=endorsed,
        waiting=waiting,
        signed_in_with_key=actor_of(request, user).tip_private is not None,
        readable=readable,
        colleagues=colleagues,
        granted=P.integer(request.query_params, "granted", default=-1, low=-1, high=10**9),
        **ctx,
    )


@require_role(INVESTIGATOR)
async def keys(request: Request) -> Response:
    return await _page(request)


@require_role(INVESTIGATOR)
async def grant(request: Request) -> Response:
    """Wrap every tip this investigator can open for the chosen colleague too, and endorse
    the colleague's key: new tips are sealed to it from now on. Only an investigator whose
    own key is endorsed may: an account an admin made cannot vouch for another."""
    user = signed_in_user(request)
    actor = actor_of(request, user)
    form = await request.form()
    colleague_id = P.form_id(form.get("staff_id"))
    if actor.tip_private is None:
        return await _page(request, status_code=403, error="staff.tip.no_key")
    async with writing(request) as db:
        if not await db.staff.endorsed(user.id):
            return await _page(request, status_code=403, error="staff.keys.not_endorsed")
        colleague = await db.staff.get(colleague_id) if colleague_id else None
        stored = await db.staff.key(colleague.id) if colleague is not None else None
        if colleague is None or colleague.role != INVESTIGATOR or colleague.disabled or not stored:
            return await _page(request, status_code=400, error="staff.keys.no_colleague")
        granted, _ = await sealed_tips.grant(
            db.tx.tips,
            staff_holder(user.id),
            actor.tip_private,
            staff_holder(colleague.id),
            stored[0],
        )
        endorsed = await db.staff.endorse(colleague.id, stored[0])
        await db.audit.append(
            actor=user.username,
            role=user.role,
            action="keys.grant",
            target=colleague.username,
            ip=actor.ip,
            now=day_of(actor.now),
            tips=granted,
            endorsed=endorsed,
        )
    return RedirectResponse(f"/staff/keys?granted={granted}", status_code=303)
