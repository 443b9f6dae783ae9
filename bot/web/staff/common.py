"""What every console page shares: the template environment, the staff member's language,
the clock, the client address, storage helpers and the security headers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.i18n import LANGUAGE_NAMES, LANGUAGES, TIMEZONE, Translator
from bot.refdata import RefData
from bot.runtime import Runtime
from bot.staff.actions import Actor
from bot.staff.records import StaffUser
from bot.storage.staff import StaffTx
from bot.web.params import BadParameter
from bot.web.proxies import client_address

WEB_DIR = Path(__file__).resolve().parent.parent
LANG_COOKIE = "govbot_lang"

templates = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"),
    autoescape=select_autoescape(["html", "xml", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the console's security headers to every response under its mount."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class ParameterErrors:
    """Turns a `BadParameter` from a console page into the message page naming it (400).

    One place for every page under the mount; the page's user, if signed in, is already
    in the request state, so the message comes in their language.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BadParameter as err:
            if started or scope["type"] != "http":
                raise
            request = Request(scope, receive)
            user = getattr(request.state, "user", None)
            page = message_page(
                request, "staff.error.bad_parameter", user=user, status_code=400, name=err.name
            )
            await page(scope, receive, send)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def now_of(request: Request) -> datetime:
    return runtime_of(request).dispatcher.clock()


def today_of(request: Request) -> date:
    return now_of(request).astimezone(TIMEZONE).date()


def client_ip(request: Request) -> str | None:
    """The client's address (bot/web/proxies.py): the only place a request's is read."""
    peer = request.client.host if request.client else None
    trusted = runtime_of(request).settings.trusted_proxies
    return client_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


def secure_cookies(request: Request) -> bool:
    """Cookies are marked Secure when the console is served over HTTPS."""
    return (runtime_of(request).settings.public_url or "").startswith("https://")


def sign(request: Request, purpose: str, value: str) -> str:
    """HMAC of `value` under SECRET_KEY, separated by `purpose`."""
    key = runtime_of(request).settings.secret_key
    assert key is not None  # ensure_secrets fills it on start-up
    return hmac.new(key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def actor_of(request: Request, user: StaffUser) -> Actor:
    tip_private = getattr(request.state, "tip_private", None)
    return Actor(user, client_ip(request), now_of(request), tip_private)


@asynccontextmanager
async def writing(request: Request) -> AsyncIterator[StaffTx]:
    async with runtime_of(request).storage.transaction() as tx:
        yield tx.for_staff


@asynccontextmanager
async def reading(request: Request) -> AsyncIterator[StaffTx]:
    async with runtime_of(request).storage.read() as tx:
        yield tx.for_staff


def language_of(request: Request, user: StaffUser | None = None) -> str:
    if user is not None and user.locale in LANGUAGES:
        return user.locale
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if wanted in LANGUAGES:
        return str(wanted)
    return runtime_of(request).settings.default_language


def translator(request: Request, user: StaffUser | None = None) -> Translator:
    return runtime_of(request).catalogs[language_of(request, user)]


def code_name(t: Translator, refdata: RefData, kind: str, code: str) -> str:
    """A region, category or body code by its name in the staff member's language.

    A code the flows use beside data/ (a complaint about an official's conduct) is named by
    its `staff.<kind>.<code>` message; only a code nobody knows is shown as it is.
    """
    lookup = {"region": refdata.region, "category": refdata.category, "body": refdata.body}
    found = lookup[kind](code)
    if found:
        return found.name(t.lang)
    msgid = f"staff.{kind}.{code}"
    return t(msgid) if t.has(msgid) else code


def render(
    request: Request,
    name: str,
    *,
    user: StaffUser | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a console page in the staff member's language; the layout needs `user`."""
    from bot.web.staff.auth import csrf_token  # the layout's forms need the token

    t = translator(request, user)
    refdata = runtime_of(request).refdata

    def ref(kind: str, code: str | None) -> str:
        return code_name(t, refdata, kind, code) if code else ""

    html = templates.get_template(name).render(
        request=request,
        t=t,
        user=user,
        lang=t.lang,
        languages=LANGUAGE_NAMES,
        csrf=csrf_token(request),
        path=request.url.path,
        ref=ref,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def message_page(
    request: Request, msgid: str, *, user: StaffUser | None, status_code: int, **params: Any
) -> HTMLResponse:
    return render(
        request,
        "staff/message.html",
        user=user,
        status_code=status_code,
        msgid=msgid,
        params=params,
    )
