"""Signing in and out, sessions, CSRF tokens and the role guard for console pages.

The session cookie is a random id plus an HMAC of it under SECRET_KEY; the database keeps
only a hash of the id, when it was opened (STAFF_SESSION_HOURS, however busy) and when it
was last used (idle timeout). CSRF tokens are an HMAC of the session id (or, before
signing in, of a random pre-login cookie). Passwords are checked by signin.py: throttled
per address and per account, off the event loop.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.i18n import LANGUAGES
from bot.staff import keys as staff_keys
from bot.staff.actions import audit
from bot.staff.records import SESSION_IDLE, StaffUser
from bot.storage.staff import StaffTx
from bot.web.staff.common import (
    LANG_COOKIE,
    actor_of,
    client_ip,
    language_of,
    message_page,
    now_of,
    reading,
    render,
    runtime_of,
    secure_cookies,
    sign,
    writing,
)
from bot.web.staff.signin import Checked, check_password, credit, remember_device

SESSION_COOKIE = "govbot_staff"
PRE_COOKIE = "govbot_pre"
CSRF_FIELD = "csrf_token"
TOUCH_EVERY = timedelta(seconds=60)

Endpoint = Callable[[Request], Awaitable[Response]]


def _mac(request: Request, purpose: str, value: str) -> str:
    return sign(request, purpose, value)


def _id_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def csrf_token(request: Request) -> str:
    seed = getattr(request.state, "csrf_seed", None)
    return _mac(request, "csrf", seed) if seed else ""


async def check_csrf(request: Request) -> bool:
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = csrf_token(request)
    return bool(expected) and isinstance(sent, str) and _same(sent, expected)


def _same(given: str, expected: str) -> bool:
    """compare_digest on bytes: on str it raises TypeError for any non-ASCII character, and
    the given side is whatever the client sent."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _session_id(request: Request) -> str | None:
    raw = request.cookies.get(SESSION_COOKIE, "")
    sid, _, mac = raw.partition(".")
    if not sid or not mac or not _same(mac, _mac(request, "session", sid)):
        return None
    return sid


async def current_user(request: Request) -> StaffUser | None:
    """The signed-in staff member, or None (no cookie, bad signature, idle, too old,
    disabled)."""
    if hasattr(request.state, "user"):
        user: StaffUser | None = request.state.user
        return user
    request.state.user = None
    sid = _session_id(request)
    if sid is None:
        return None
    now = now_of(request)
    async with reading(request) as db:
        found = await db.staff.session(_id_hash(sid))
    if found is None:
        return None
    user, opened, seen = found
    lifetime = timedelta(hours=runtime_of(request).settings.staff_session_hours)
    if user.disabled or now - seen > SESSION_IDLE or now - opened > lifetime:
        async with writing(request) as db:
            await db.staff.end_session(_id_hash(sid))
        return None
    if now - seen > TOUCH_EVERY:
        async with writing(request) as db:
            await db.staff.touch_session(_id_hash(sid), now=now)
    if user.role == staff_keys.INVESTIGATOR:
        async with reading(request) as db:
            request.state.tip_private = await staff_keys.from_session(db, _id_hash(sid), sid)
    request.state.user = user
    request.state.csrf_seed = f"session:{sid}"
    return user


def _to_login(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/staff/login?next={quote(target)}", status_code=303)


def require_role(*roles: str) -> Callable[[Endpoint], Endpoint]:
    """Guard a console endpoint: signed in, one of `roles` (any if none), CSRF on POST.

    The endpoint finds the user in `request.state.user`. Campaign pages use
    `@require_role("admin", "operator")` and render with `render(..., user=user)`.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            user = await current_user(request)
            if user is None:
                if request.method == "GET":
                    return _to_login(request)
                return message_page(request, "staff.error.signed_out", user=None, status_code=403)
            if roles and user.role not in roles:
                return message_page(request, "staff.error.forbidden", user=user, status_code=403)
            if request.method == "POST" and not await check_csrf(request):
                return message_page(request, "staff.error.csrf", user=user, status_code=403)
            return await endpoint(request)

        return guarded

    return decorate


def signed_in_user(request: Request) -> StaffUser:
    """Inside a `require_role` endpoint: the signed-in staff member."""
    user: StaffUser = request.state.user
    return user


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/staff/") and not value.startswith("//"):
        return value
    return "/staff/"


def _pre_login(request: Request) -> str:
    nonce = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    request.state.csrf_seed = f"pre:{nonce}"
    return nonce


def _login_page(request: Request, nonce: str, *, status_code: int = 200, **ctx: Any) -> Response:
    response = render(
        request,
        "staff/login.html",
        status_code=status_code,
        next=_safe_next(request.query_params.get("next")),
        **ctx,
    )
    response.set_cookie(
        PRE_COOKIE,
        nonce,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/staff",
    )
    return response


async def open_session(
    db: StaffTx,
    request: Request,
    user: StaffUser,
    response: Response,
    *,
    keys: staff_keys.KeyPair | None = None,
) -> None:
    """Start a new signed-in session for `user` and give `response` its cookie; an
    investigator's opened `keys` are kept for this session, wrapped under its cookie."""
    sid = secrets.token_urlsafe(32)
    await db.staff.open_session(_id_hash(sid), user.id, ip=client_ip(request), now=now_of(request))
    if keys is not None:
        await db.staff.set_session_key(_id_hash(sid), staff_keys.for_session(sid, keys.private))
    response.set_cookie(
        SESSION_COOKIE,
        f"{sid}.{_mac(request, 'session', sid)}",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )


def throttled(request: Request, checked: Checked, page: Callable[..., Response]) -> Response:
    """429 for a password that was not checked: how long, and whether only from here; 503
    when no check could even wait its turn."""
    refused = checked.refused
    if refused is not None and refused.scope == "busy":
        response = page(status_code=503, error="staff.login.busy")
        response.headers["retry-after"] = str(int(refused.retry_after.total_seconds()))
        return response
    scope = refused.scope if refused else ""
    msgid = "staff.login.throttled" if scope == "account" else "staff.login.backoff"
    response = page(status_code=429, error=msgid, minutes=checked.wait_minutes)
    response.headers["retry-after"] = str(checked.wait_minutes * 60)
    return response


async def login(request: Request) -> Response:
    if request.method == "GET":
        if await current_user(request) is not None:
            return RedirectResponse("/staff/", status_code=303)
        return _login_page(request, _pre_login(request))
    nonce = _pre_login(request)
    if request.cookies.get(PRE_COOKIE) is None or not await check_csrf(request):
        return message_page(request, "staff.error.csrf", user=None, status_code=403)
    form = await request.form()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    next_url = _safe_next(str(form.get("next") or ""))
    checked = await check_password(request, username, password)
    if checked.refused:
        return throttled(request, checked, functools.partial(_login_page, request, nonce))
    user = checked.user
    if not checked.ok or user is None or user.disabled:
        async with writing(request) as db:
            await db.audit.append(
                # An unknown name is not written down: it may be a password typed into the
                # wrong box.
                actor=user.username if user else "(unknown account)",
                action="login.failed",
                ip=client_ip(request),
                now=now_of(request),
                disabled=bool(user and user.disabled and checked.ok),
            )
        return _login_page(request, nonce, status_code=401, error="staff.login.failed")
    response = RedirectResponse(next_url, status_code=303)
    async with reading(request) as db:
        keys = await staff_keys.open_pair(db, user, password)
    async with writing(request) as db:
        if keys is not None and await db.staff.key(user.id) is None:
            # An investigator's first sign-in (a new role): a key that waits for a grant.
            await keys.store(db, now=now_of(request))
        await credit(db, request, username)
        await open_session(db, request, user, response, keys=keys)
        await audit(db, actor_of(request, user), "login")
    remember_device(request, response, user)
    response.delete_cookie(PRE_COOKIE, path="/staff")
    return response


@require_role()
async def logout(request: Request) -> Response:
    sid = _session_id(request)
    if sid is not None:
        async with writing(request) as db:
            await db.staff.end_session(_id_hash(sid))
            await audit(db, actor_of(request, signed_in_user(request)), "logout")
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def language(request: Request) -> Response:
    """Switch the console language: saved on the account when signed in, else in a cookie."""
    form = await request.form()
    lang = str(form.get("lang") or "")
    user = await current_user(request)
    if user is None:
        _pre_login(request)
    if lang not in LANGUAGES or not await check_csrf(request):
        return message_page(request, "staff.error.csrf", user=user, status_code=403)
    if user is not None:
        async with writing(request) as db:
            await db.staff.update(user.id, locale=lang, now=now_of(request))
    back = _safe_next(str(form.get("next") or ""))
    if user is None:
        back = "/staff/login"
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        lang,
        samesite="lax",
        secure=secure_cookies(request),
        path="/staff",
        max_age=365 * 86400,
    )
    return response


__all__ = ["current_user", "language_of", "require_role", "signed_in_user"]
