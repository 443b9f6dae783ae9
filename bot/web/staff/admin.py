"""Admin pages: staff accounts (with every API token, to revoke; each person makes their
own on /staff/tokens) and the audit log with its chain check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.staff import keys as staff_keys
from bot.staff.accounts import (
    AccountError,
    add_account,
    check_new_account,
    check_new_password,
)
from bot.staff.actions import audit
from bot.staff.records import ROLES
from bot.staff.roles import INVESTIGATOR
from bot.web import params as P
from bot.web.staff.auth import require_role, signed_in_user
from bot.web.staff.common import actor_of, language_of, reading, render, runtime_of, writing

AUDIT_PAGE = 50
NOTICES = ("staff.done.account", "staff.done.token_revoked")
TARGET_LENGTH = 200


async def _accounts_page(
    request: Request, *, error: str | None = None, status_code: int = 200
) -> Response:
    user = signed_in_user(request)
    async with reading(request) as db:
        users = await db.staff.all()
        tokens = await db.staff.tokens()
    return render(
        request,
        "staff/accounts.html",
        user=user,
        users=users,
        tokens=tokens,
        now=actor_of(request, user).now,
        names={u.id: u.username for u in users},
        roles=ROLES,
        error=error,
        done=P.notice(request.query_params, "done", NOTICES),
        status_code=status_code,
    )


@require_role("admin")
async def accounts(request: Request) -> Response:
    return await _accounts_page(request)


@require_role("admin")
async def add(request: Request) -> Response:
    user = signed_in_user(request)
    form = await request.form()
    username = str(form.get("username") or "").strip()
    role = str(form.get("role") or "")
    password = str(form.get("password") or "")
    try:
        check_new_account(username, role, password)  # before spending a hash on it
        hashed = await runtime_of(request).passwords.hash(password)
        async with writing(request) as db:
            created = await add_account(
                db,
                username,
                role,
                password,
                locale=language_of(request, user),
                now=actor_of(request, user).now,
                password_hash=hashed,
            )
            await audit(db, actor_of(request, user), "account.add", created.username, new_role=role)
    except AccountError as err:
        return await _accounts_page(request, error=err.msgid, status_code=400)
    return RedirectResponse("/staff/accounts?done=staff.done.account", status_code=303)


@require_role("admin")
async def change(request: Request) -> Response:
    user = signed_in_user(request)
    actor = actor_of(request, user)
    staff_id = P.row_id(request.path_params["staff_id"]) or 0
    form = await request.form()
    op = str(form.get("op") or "")
    hashed = None
    keys = None
    if op == "password":
        # Checked and hashed before the write transaction: the hash takes tens of ms.
        try:
            check_new_password(str(form.get("password") or ""))
        except AccountError as err:
            return await _accounts_page(request, error=err.msgid, status_code=400)
        hashed = await runtime_of(request).passwords.hash(str(form.get("password")))
        async with reading(request) as db:
            target = await db.staff.get(staff_id) if staff_id else None
        if target is not None and target.role == staff_keys.INVESTIGATOR:
            # An admin never learns an investigator's key: a reset gives a new, empty pair,
            # which gets no new tips either until an investigator grants it access.
            keys = await staff_keys.new_pair(
                staff_id, str(form.get("password")), made_by=staff_keys.ADMIN_RESET
            )
    async with writing(request) as db:
        target = await db.staff.get(staff_id) if staff_id else None
        if target is None:
            return await _accounts_page(request, error="staff.error.not_found", status_code=404)
        if target.id == user.id and op in ("disable", "role"):
            return await _accounts_page(request, error="staff.accounts.not_self", status_code=400)
        if op == "password" and target.role == INVESTIGATOR and not form.get("confirm_keys"):
            # The reset gives them a new, empty key: said on the form, confirmed here.
            return await _accounts_page(
                request, error="staff.accounts.reset_investigator", status_code=400
            )
        if op == "disable":
            # Ends the account's sessions and revokes its API tokens (the store does).
            await db.staff.update(staff_id, disabled=True, now=actor.now)
        elif op == "enable":
            await db.staff.update(staff_id, disabled=False, now=actor.now)
        elif op == "role" and str(form.get("role")) in ROLES:
            # A new role ends the account's sessions and revokes its tokens, and an
            # investigator's key with the old one (the store does).
            await db.staff.update(staff_id, role=str(form.get("role")), now=actor.now)
        elif op == "password" and hashed is not None:
            await db.staff.update(staff_id, password_hash=hashed, now=actor.now)
            if keys is not None:
                await staff_keys.replace(db, keys, now=actor.now)
        else:
            return await _accounts_page(request, error="staff.error.bad_request", status_code=400)
        await audit(db, actor, f"account.{op}", target.username, new_role=form.get("role"))
    return RedirectResponse("/staff/accounts?done=staff.done.account", status_code=303)


@require_role("admin")
async def audit_log(request: Request) -> Response:
    user = signed_in_user(request)
    page = P.page(request.query_params)
    target = P.text(request.query_params, "target", max_length=TARGET_LENGTH)
    async with reading(request) as db:
        entries, total = await db.audit.page(
            limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE, target=target
        )
        last = max(1, -(-total // AUDIT_PAGE))
        if page > last:  # an old link or a typed number: show the last page
            page = last
            entries, total = await db.audit.page(
                limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE, target=target
            )
        checked, problems = await db.audit.verify()
    return render(
        request,
        "staff/audit.html",
        user=user,
        entries=entries,
        total=total,
        page=page,
        pages=last,
        target=target,
        checked=checked,
        problems=problems,
    )
