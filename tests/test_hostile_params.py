"""Hostile query and path parameters on every GET route of the console and the API.

Huge numbers once reached SQLite (OverflowError), dates at the calendar's ends overflowed
the day arithmetic: each answered 500. Every route listed by the app is walked with every
parameter it reads set to values an attacker (or a mistyped bookmark) sends; none may 500.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
from starlette.routing import BaseRoute, Mount, Route

from tests.staff import console
from tests.test_api import token_for

SURROGATE = "%ED%A0%80"  # a lone UTF-16 surrogate, percent-encoded as bytes
HOSTILE = [
    "99999999999999999999999",
    "-99999999999999999999",
    "-1",
    "0",
    "abc",
    "1e400",
    "x" * 10_000,
    "0001-01-01",
    "9999-12-31",
    "\x00",
    "a\x00b",
    SURROGATE,
]

# Query parameters each GET route reads (besides `lang`, which every page reads). A route
# missing here fails the test: a new page must say what it reads.
TICKET_FILTERS = (
    "kind",
    "status",
    "category",
    "region",
    "assignee",
    "overdue",
    "due",
    "from",
    "to",
    "q",
    "sort",
    "dir",
    "page",
)
READS: dict[str, tuple[str, ...]] = {
    "/staff/": (),
    "/staff/login": ("next",),
    "/staff/inbox": TICKET_FILTERS,
    "/staff/overdue": (),
    "/staff/export.{fmt}": TICKET_FILTERS,
    "/staff/tickets/{reference}": ("done", "template"),
    "/staff/tickets/{reference}/files/{blob_id}": (),
    "/staff/stats": ("days",),
    "/staff/accounts": ("done",),
    "/staff/password": ("done",),
    "/staff/keys": ("granted",),
    "/staff/tokens": ("done",),
    "/staff/audit": ("page", "target"),
    "/staff/templates": ("done",),
    "/staff/templates/{template_id}": (),
    "/staff/campaigns": ("done",),
    "/staff/campaigns/new": ("done",),
    "/staff/campaigns/image": ("token",),
    "/staff/campaigns/{campaign_id}": ("done",),
    "/api/v1/openapi.json": (),
    "/api/v1/tickets": (*TICKET_FILTERS, "per_page"),
    "/api/v1/tickets/{reference}": (),
    "/healthz": (),
    "/metrics": (),
    "/media/{token}": (),
}
PATH_VALUES = {
    "reference": "AB-9001",
    "fmt": "csv",
    "blob_id": "0" * 32,
    "campaign_id": "1",
    "template_id": "1",
    "token": "A" * 59,
}


def _get_routes(routes: list[BaseRoute], prefix: str = "") -> list[str]:
    found: list[str] = []
    for route in routes:
        if isinstance(route, Mount):
            if route.name == "staff-static":
                continue
            found += _get_routes(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and "GET" in (route.methods or ()):
            found.append(prefix + re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
    return found


def _url(path: str, params: dict[str, str] | None = None, **path_values: str) -> str:
    values = {**PATH_VALUES, **path_values}
    url = re.sub(r"\{(\w+)\}", lambda m: _enc(values[m.group(1)], safe=""), path)
    if params:
        url += "?" + "&".join(f"{k}={_enc(v)}" for k, v in params.items())
    return url


def _enc(value: str, safe: str = "/") -> str:
    return value if value == SURROGATE else quote(value, safe=safe)


async def _clients(c) -> dict[str, httpx.AsyncClient]:
    await c.add_user("ada", "admin")
    rita = await c.add_user("rita", "reviewer")
    token = await token_for(c, rita)
    api = c.client()
    api.headers["authorization"] = f"Bearer {token}"
    return {"admin": await c.login("ada"), "reviewer": await c.login("rita"), "api": api}


async def _status(web: httpx.AsyncClient, url: str) -> int:
    """The status, with an exception escaping the app counted as the 500 it would be."""
    try:
        return (await web.get(url)).status_code
    except Exception:
        return 599


def _who(path: str) -> str:
    if path.startswith("/api/"):
        return "api"
    return "reviewer" if "inbox" in path or "ticket" in path or "export" in path else "admin"


async def test_every_get_route_survives_hostile_parameters(settings, clock):
    async with console(settings, clock) as c:
        clients = await _clients(c)
        await c.complaint("AB-9001")
        paths = _get_routes(list(c.app.routes))
        assert set(paths) == set(READS), "list what each GET route reads in READS"
        failures = []
        for path in paths:
            web = clients[_who(path)]
            names = (*READS[path], "lang")
            for name in names:
                for value in HOSTILE:
                    status = await _status(web, _url(path, {name: value}))
                    if status >= 500:
                        failures.append((path, name, value[:20], status))
            for name in re.findall(r"\{(\w+)\}", path):
                for value in HOSTILE:
                    status = await _status(web, _url(path, **{name: value}))
                    if status >= 500:
                        failures.append((path, f"path:{name}", value[:20], status))
        assert failures == [], "\n".join(map(str, failures))


async def test_api_names_the_bad_parameter(settings, clock):
    async with console(settings, clock) as c:
        api = (await _clients(c))["api"]
        for name, value in [
            ("assignee", "99999999999999999999999"),
            ("from", "0001-01-01"),
            ("to", "9999-12-31"),
            ("to", "yesterday"),
            ("per_page", "abc"),
            ("status", "nonsense"),
            ("q", "x" * 10_000),
        ]:
            response = await api.get(_url("/api/v1/tickets", {name: value}))
            assert response.status_code == 400, (name, value, response.text)
            body = response.json()
            assert body["error"] == "bad_parameter" and body["parameter"] == name


async def test_console_names_the_bad_parameter_in_the_staff_members_language(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer", locale="ru")
        web = await c.login("rita")
        response = await web.get(_url("/staff/inbox", {"to": "9999-12-31"}))
        assert response.status_code == 400
        assert "Неверное значение параметра «to»" in response.text


async def test_a_page_beyond_the_end_shows_the_last_page(settings, clock):
    async with console(settings, clock) as c:
        clients = await _clients(c)
        for n in range(3):
            await c.complaint(f"AB-910{n}", chat_key=f"c{n}")
        listed = await clients["api"].get(
            _url("/api/v1/tickets", {"page": "99999999999999999999", "per_page": "2"})
        )
        assert listed.status_code == 200
        assert listed.json()["page"] == 2 and len(listed.json()["items"]) == 1
        inbox = await clients["reviewer"].get(
            _url("/staff/inbox", {"page": "99999999999999999999"})
        )
        assert inbox.status_code == 200 and "AB-9100" in inbox.text
        audit = await clients["admin"].get(_url("/staff/audit", {"page": "99999999999999999999"}))
        assert audit.status_code == 200
