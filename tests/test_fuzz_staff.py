"""Fuzz: signed-in staff of every role posting hostile values to every POST route of the
console (ticket actions, accounts, tokens, campaigns, language, password, sign-in), with
and without a valid CSRF token, random query strings on the pages, and random JSON to the
API. The whole app in-process, real SQLite. No 500, no exception out of the app, nothing
logged at ERROR, no traceback; afterwards the console and a fresh chat still work.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import Settings
from tests.chat import Chat
from tests.conftest import Clock
from tests.fuzzing import (
    TIMEOUT,
    Loop,
    big_ints,
    dump,
    fuzz_settings,
    json_values,
    numbers,
    texts,
    watched_logs,
    weighted,
)
from tests.staff import Console, console, csrf_of
from tests.test_api import bearer, token_for
from tests.test_staff_campaigns import compose_form

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TIMEOUT)]

EXAMPLES = 500
USERS = {"ada": "admin", "rita": "reviewer", "ivan": "investigator", "olga": "operator"}
FITTING = [
    ("ticket", ["rita", "ivan"]),
    ("account", ["ada"]),
    ("tokens", [*USERS]),
    ("revoke", ["ada"]),
    ("campaign", ["olga", "ada"]),
    ("login", ["anonymous"]),
    ("", [*USERS]),
]
REFERENCES = ["AB-7001", "AB-7002", "TP-7003"]
ACTIONS = ["reply", "status", "assign", "deadline", "note", "reveal"]
FIELDS = [
    "text",
    "version",
    "assignee",
    "status",
    "reason",
    "due_on",
    "username",
    "password",
    "role",
    "op",
    "label",
    "staff_id",
    "lang",
    "next",
    "current",
    "title",
    "text_kk",
    "text_ru",
    "text_en",
    "fallback",
    "template_kk",
    "region",
    "language",
    "channel",
    "when",
    "at",
    "day",
    "time",
    "image_token",
    "remove_image",
    "test_channel",
    "test_chat",
    "test_lang",
]
PLAUSIBLE = [
    "in_review",
    "resolved",
    "rejected",
    "2026-04-20",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "count",
    "preview",
    "send",
    "create",
    "role",
    "disable",
    "enable",
    "password",
    "admin",
    "reviewer",
    "ru",
    "kk",
    "telegram",
    "whatsapp",
    "weekly",
    "at",
    "now",
    "mon",
    "astana",
    "1",
    "0",
    "-1",
    "2026-03-20T10:00",
    "25:99",
    "/staff/inbox",
    "//evil.example",
]


def _segment(text: str) -> str:
    """`text` as one path segment, percent-encoded (lone surrogates as their raw bytes),
    short enough for a URL."""
    return quote(text[:300].encode("utf-8", "surrogatepass"), safe="")


field_values = weighted(
    (5, texts(surrogates=False, max_size=30)),
    (3, st.sampled_from(PLAUSIBLE)),
    (2, numbers.map(lambda n: getattr(n, "text", str(n)))),
    (1, texts(max_size=20)),  # lone surrogates: not UTF-8 once encoded
)
names = weighted((8, st.sampled_from(FIELDS)), (1, texts(surrogates=False, max_size=12)))
forms = st.lists(st.tuples(names, field_values), max_size=8)
path_ids = weighted((3, st.sampled_from(["1", "2", "3", "4"])), (1, big_ints.map(str)))
references = weighted((4, st.sampled_from(REFERENCES)), (1, texts(max_size=20))).map(_segment)


@st.composite
def staff_posts(draw: st.DrawFn) -> tuple[str, str, list[tuple[str, str]]]:
    """(who, path, form fields) for one POST to the console."""
    route = draw(
        st.sampled_from(
            [
                "ticket",
                "ticket",
                "ticket",
                "account",
                "accounts/add",
                "tokens",
                "revoke",
                "campaigns/new",
                "campaigns/new",
                "campaign",
                "campaign/test",
                "language",
                "password",
                "login",
            ]
        )
    )
    if route == "ticket":
        action = draw(weighted((6, st.sampled_from(ACTIONS)), (1, texts(max_size=10))))
        path = f"/staff/tickets/{draw(references)}/{_segment(action)}"
    elif route == "account":
        path = f"/staff/accounts/{draw(decoys)}"
    elif route == "revoke":
        path = f"/staff/tokens/{draw(st.integers(5, 10**25))}/revoke"
    elif route == "campaign":
        action = draw(weighted((3, st.sampled_from(["pause", "resume", "cancel"])), (1, texts())))
        path = f"/staff/campaigns/{draw(path_ids)}/{_segment(action)}"
    elif route == "campaign/test":
        path = f"/staff/campaigns/{draw(path_ids)}/test"
    else:
        path = f"/staff/{route}"
    # Mostly someone whose role may use the route; now and then anyone at all.
    fitting = next(users for prefix, users in FITTING if route.startswith(prefix))
    who = draw(weighted((5, st.sampled_from(fitting)), (1, st.sampled_from([*USERS, "anonymous"]))))
    return who, path, draw(forms)


# Accounts the fuzzer may disable, re-role or re-password: never the ones signed in.
decoys = weighted((3, st.sampled_from(["5", "6"])), (1, st.integers(7, 10**30).map(str)))

pages = st.sampled_from(
    [
        "/staff/inbox",
        "/staff/audit",
        "/staff/stats",
        "/staff/export.csv",
        "/staff/accounts",
        "/staff/tokens",
        "/staff/campaigns",
        "/staff/campaigns/new",
        "/staff/tickets/AB-7001",
        "/staff/campaigns/image",
        "/api/v1/tickets",
    ]
)
query_names = st.sampled_from(
    ["page", "per_page", "assignee", "status", "kind", "from", "to", "q", "sort", "done", "token"]
)


class Harness:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.stack = AsyncExitStack()
        self.web: dict[str, httpx.AsyncClient] = {}
        self.csrf: dict[str, str] = {}
        self.tokens: dict[str, str] = {}

    async def open(self) -> None:
        self.c: Console = await self.stack.enter_async_context(console(self.settings, self.clock))
        ids = {name: await self.c.add_user(name, role) for name, role in USERS.items()}
        await self.c.add_user("decoy5", "reviewer")
        await self.c.add_user("decoy6", "investigator")
        await self.c.complaint("AB-7001", category="health", region="almaty_city")
        await self.c.complaint("AB-7002", kind="feedback", chat_key="c2")
        await self.c.tip("TP-7003", confidential=True)
        for name in USERS:
            self.web[name] = await self.c.login(name)
            self.stack.push_async_callback(self.web[name].aclose)
            page = await self.web[name].get("/staff/password")
            self.csrf[name] = csrf_of(page.text)
        anonymous = await self.stack.enter_async_context(self.c.client())
        self.web["anonymous"] = anonymous
        self.csrf["anonymous"] = csrf_of((await anonymous.get("/staff/login")).text)
        for name in ("rita", "ivan"):
            self.tokens[name] = await token_for(self.c, ids[name])
        created = await self.web["olga"].post(
            "/staff/campaigns/new",
            data={"csrf_token": self.csrf["olga"], **compose_form(op="create")},
        )
        assert created.status_code in (200, 303), created.text

    async def post(self, who: str, path: str, fields: list[tuple[str, str]], csrf: str | None):
        pairs = list(fields)
        if csrf is not None:
            pairs.insert(0, ("csrf_token", csrf))
        body = urlencode(
            [
                (k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                for k, v in pairs
            ]
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self.web[who].post(path, content=body, headers=headers)

    async def get(self, who: str, path: str, query: list[tuple[str, str]]) -> httpx.Response:
        headers = bearer(self.tokens["rita"]) if path.startswith("/api/") else {}
        encoded = urlencode([(_bytes(k), _bytes(v)) for k, v in query])
        return await self.web[who].get(f"{path}?{encoded}", headers=headers)

    async def api(self, who: str, path: str, body: bytes) -> httpx.Response:
        headers = {**bearer(self.tokens[who]), "Content-Type": "application/json"}
        return await self.web[who].post(path, content=body, headers=headers)

    async def still_working(self) -> None:
        inbox = await self.web["rita"].get("/staff/inbox")
        assert inbox.status_code == 200, inbox.text
        chat = Chat(self.c.runtime.dispatcher, chat_key="fresh-after-fuzz", lang="en")
        await chat.send("/start")
        assert "choose your language" in chat.text.lower()


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


statuses_or_junk = weighted(
    (3, st.sampled_from(["in_review", "resolved", "waiting"])), (1, json_values)
)
api_bodies = st.fixed_dictionaries(
    {},
    optional={
        "version": weighted((3, st.integers(0, 5)), (1, json_values)),
        "status": weighted(
            (3, st.sampled_from(["in_review", "resolved", "waiting"])), (1, json_values)
        ),
        "reason": json_values,
        "text": json_values,
    },
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["post"] * 6 + ["get", "api", "api"]))
    if kind == "post":
        who, path, fields = draw(staff_posts())
        csrf = draw(weighted((8, st.just("valid")), (1, st.none()), (1, texts(surrogates=False))))
        return kind, (who, path, fields, csrf)
    if kind == "get":
        who = draw(st.sampled_from([*USERS, "anonymous"]))
        # Within what a URL may carry (httpx refuses past 64 KiB).
        short = field_values.map(lambda v: v[:1000])
        query = draw(st.lists(st.tuples(query_names, short), max_size=4))
        return kind, (who, draw(pages), query)
    ref = draw(references)
    body = draw(weighted((3, api_bodies), (1, json_values)))
    raw = draw(weighted((6, st.just(dump(body).encode())), (1, st.binary(max_size=50))))
    path = f"/api/v1/tickets/{ref}/{draw(st.sampled_from(['status', 'replies']))}"
    return kind, (draw(st.sampled_from(["rita", "ivan"])), path, raw)


def test_hostile_staff_posts(settings: Settings, clock: Clock) -> None:
    loop = Loop()
    harness = Harness(settings, clock)
    statuses: dict[int, int] = {}
    with watched_logs() as errors:
        try:
            loop.run(harness.open())

            @fuzz_settings(EXAMPLES)
            @given(request=requests())
            def send_one(request: tuple[str, Any]) -> None:
                errors.take()
                kind, args = request
                if kind == "post":
                    who, path, fields, csrf = args
                    csrf = harness.csrf[who] if csrf == "valid" else csrf
                    response = loop.run(harness.post(who, path, fields, csrf))
                elif kind == "get":
                    response = loop.run(harness.get(*args))
                else:
                    response = loop.run(harness.api(*args))
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                assert response.status_code < 500, (response.status_code, response.text[:500])
                assert errors.take() == []

            send_one()
            loop.run(harness.still_working())
            assert errors.take() == []
        finally:
            loop.run(harness.stack.aclose())
            loop.close()
    # Most posts got past CSRF and sign-in to the handler.
    assert (
        sum(n for code, n in statuses.items() if code not in (401, 403))
        > sum(statuses.values()) // 2
    ), statuses
