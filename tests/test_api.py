# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""The JSON API: per-user tokens, the console's role rules, tips as metadata only, and an
OpenAPI description that lists exactly the routes that exist."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from starlette.routing import Mount

from bot import sealed_tips
from bot.staff.accounts import new_api_token
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.staff import console

TIP_FIELDS = {"reference", "kind", "status", "region", "due_on", "created_at", "updated_at"}
TIP_FIELDS |= {"version"}  # needed to change the status; says nothing about the tip
# A listed tip carries the work-queue marks, which say no more than its status and dates.
QUEUE_FIELDS = {"overdue", "due_soon", "citizen_answered", "reopened_by_citizen", "last_activity"}


async def token_for(c, staff_id: int) -> str:
    """A token as the owner's own page makes it (tests/test_staff_tokens.py covers the page)."""
    token, digest = new_api_token()
    async with c.runtime.storage.transaction() as tx:
        await tx.for_staff.staff.add_token(
            staff_id,
            token_hash=digest,
            label="test",
            now=c.clock(),
            expires_at=c.clock() + timedelta(days=90),
        )
    return token


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_read_change_status_and_reply(settings, clock):
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await c.complaint("AB-8002", locale="ru")
        token = await token_for(c, rita)
        api = c.client()
        detail = (await api.get("/api/v1/tickets/AB-8002", headers=bearer(token))).json()
        assert detail["status"] == "new" and detail["version"] == 1
        changed = await api.post(
            "/api/v1/tickets/AB-8002/status",
            json={"status": "in_review", "reason": "Передано в управление", "version": 1},
            headers=bearer(token),
        )
        assert changed.status_code == 200 and changed.json()["version"] == 2
        stale = await api.post(
            "/api/v1/tickets/AB-8002/status",
            json={"status": "rejected", "reason": "x", "version": 1},
            headers=bearer(token),
        )
        assert stale.status_code == 409 and stale.json()["error"] == "ticket.conflict"
        replied = await api.post(
            "/api/v1/tickets/AB-8002/replies", json={"text": "Спасибо"}, headers=bearer(token)
        )
        assert replied.status_code == 201 and replied.json()["sent"] is True
        for _ in range(300):
            if len(c.sender.sent) == 2:
                break
            await asyncio.sleep(0.01)
        texts = [o.replies[0].text for _, o in c.sender.sent]
        assert texts == [
            "Ваше обращение AB-8002 принято к рассмотрению.\nПередано в управление",
            "Ответ на ваше обращение AB-8002:\n\nСпасибо",
        ]
        actions = await c.audit_actions()
        assert ("rita", "ticket.status", "AB-8002") in actions
        assert ("rita", "ticket.reply", "AB-8002") in actions


async def test_api_role_rules(settings, clock):
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        olga = await c.add_user("olga", "operator")
        ivan = await c.add_user("ivan", "investigator")
        await c.complaint("AB-8003")
        await c.tip("TP-8001")
        api = c.client()
        assert (await api.get("/api/v1/tickets")).status_code == 401
        assert (await api.get("/api/v1/tickets", headers=bearer("nope"))).status_code == 401
        reviewer, operator, investigator = (
            await token_for(c, rita),
            await token_for(c, olga),
            await token_for(c, ivan),
        )
        assert (
            await api.get("/api/v1/tickets/TP-8001", headers=bearer(reviewer))
        ).status_code == 404
        assert (await api.get("/api/v1/tickets", headers=bearer(operator))).status_code == 403
        assert (
            await api.post(
                "/api/v1/tickets/AB-8003/status",
                json={"status": "rejected", "reason": "x", "version": 1},
                headers=bearer(operator),
            )
        ).status_code == 403
        tip = await api.get("/api/v1/tickets/TP-8001", headers=bearer(investigator))
        assert tip.status_code == 200 and tip.json()["reference"] == "TP-8001"
        assert (
            await api.get("/api/v1/tickets/AB-8003", headers=bearer(investigator))
        ).status_code == 404


async def test_issue_12_the_api_serves_a_tips_metadata_only(settings, clock):
    """Issue 12: an admin minted a token for an investigator and read the tip's text through
    /api/v1/tickets/REF. Whoever holds the token, the API now serves no tip content at all:
    no text, no fields, no thread, no identity; the console is the only place to read one."""
    async with console(settings, clock) as c:
        ivan = await c.add_user("ivan", "investigator")
        anonymous = await c.tip("TP-8101")
        await c.tip("TP-8102", confidential=True, chat_key="whistle")
        async with c.runtime.storage.transaction() as tx:
            await sealed_tips.add_message(
                tx.tips, anonymous, author="citizen", body="Офис на улице Абая", now=clock()
            )
        token = await token_for(c, ivan)
        api = c.client()
        replied = await api.post(
            "/api/v1/tickets/TP-8101/replies", json={"text": "Which office?"}, headers=bearer(token)
        )
        assert replied.status_code == 201
        secrets = ("Взятка", "50000", "Абая", "Which office", "+77010000000", "whistle")
        for reference in ("TP-8101", "TP-8102"):
            detail = await api.get(f"/api/v1/tickets/{reference}", headers=bearer(token))
            assert detail.status_code == 200
            assert set(detail.json()) == TIP_FIELDS
            assert detail.json()["kind"] == "tip"
            assert not [s for s in secrets if s in detail.text]
        listed = await api.get("/api/v1/tickets", headers=bearer(token))
        assert {t["reference"] for t in listed.json()["items"]} == {"TP-8101", "TP-8102"}
        for item in listed.json()["items"]:
            assert set(item) == TIP_FIELDS | QUEUE_FIELDS
        assert not [s for s in secrets if s in listed.text]
        changed = await api.post(
            "/api/v1/tickets/TP-8101/status",
            json={"status": "in_review", "reason": "Проверяем", "version": 1},
            headers=bearer(token),
        )
        assert changed.status_code == 200
        assert set(changed.json()) == TIP_FIELDS | {"outbox_id"}
        # A confidential tipster's contact opens only with the investigator's own key, which
        # lives in a console session: through the API the message cannot be addressed.
        refused = await api.post(
            "/api/v1/tickets/TP-8102/status",
            json={"status": "in_review", "reason": "Проверяем", "version": 1},
            headers=bearer(token),
        )
        assert refused.status_code == 403 and "whistle" not in refused.text
        # Nothing was read, so no tip was viewed.
        assert not [a for a in await c.audit_actions() if a[1] == "tip.view"]


async def test_the_openapi_description_says_tips_are_metadata_only(settings, clock):
    async with console(settings, clock) as c:
        spec = (await c.client().get("/api/v1/openapi.json")).json()
        assert "metadata only" in spec["info"]["description"]
        assert "their own" in spec["info"]["description"]
        assert "expire" in spec["info"]["description"]
        detail = spec["components"]["schemas"]["TicketDetail"]["allOf"][1]["properties"]
        assert "contents" not in detail


async def test_openapi_matches_the_routes(settings, clock):
    async with console(settings, clock) as c:
        spec = (await c.client().get("/api/v1/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        mount = next(r for r in c.app.routes if isinstance(r, Mount) and r.path == "/api/v1")
        served = {
            (method.lower(), route.path)
            for route in mount.routes
            if route.path != "/openapi.json"
            for method in route.methods - {"HEAD"}
        }
        described = {(method, path) for path, ops in spec["paths"].items() for method in ops}
        assert served == described
        for path, ops in spec["paths"].items():
            for op in ops.values():
                params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
                assert params == set(re.findall(r"{(\w+)}", path))


async def test_deeply_nested_json_is_a_bad_request(settings, clock):
    """Issue: JSON nested 1,000 deep raised RecursionError, which only ValueError was
    expected to be: a 500 instead of a 400."""
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await c.complaint("AB-8004")
        token = await token_for(c, rita)
        api = c.client()
        headers = {**bearer(token), "content-type": "application/json"}
        for depth in (1000, 100_000):
            body = b'{"version": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"
            for path in ("status", "replies"):
                answer = await api.post(
                    f"/api/v1/tickets/AB-8004/{path}", content=body, headers=headers
                )
                assert answer.status_code == 400
                assert answer.json()["error"] == "error.bad_request"


async def test_a_lone_surrogate_in_an_api_body_is_replaced_not_a_500(settings, clock):
    """Review: {"text": "hi \\ud800"} is valid JSON that cannot be stored as UTF-8; the
    reply and the status reason answered 500."""
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await c.complaint("AB-8005")
        token = await token_for(c, rita)
        api = c.client()
        headers = {**bearer(token), "content-type": "application/json"}
        body = b'{"text": "hi \\ud800 there"}'
        answer = await api.post("/api/v1/tickets/AB-8005/replies", content=body, headers=headers)
        assert answer.status_code < 500, answer.text
        ticket = await api.get("/api/v1/tickets/AB-8005", headers=bearer(token))
        assert "hi \ufffd there" in ticket.text


JSON_TYPES = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its $ref followed and its allOf parts merged."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return _resolve(spec, spec["components"]["schemas"][name])
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf", []):
        part = _resolve(spec, part)
        merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
        merged.setdefault("type", part.get("type"))
    return merged


def _undescribed(spec: dict[str, Any], schema: dict[str, Any], value: Any, at: str) -> list[str]:
    """Where `value` holds a field, or a value of a type, that `schema` does not describe."""
    if "oneOf" in schema:  # described if one of the alternatives describes it all
        found = [_undescribed(spec, one, value, at) for one in schema["oneOf"]]
        return [] if any(not f for f in found) else found[0]
    schema = _resolve(spec, schema)
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    allowed = tuple(JSON_TYPES[t] for t in types)
    if allowed and (
        not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)
    ):
        return [f"{at}: {value!r} is not {types}"]
    found: list[str] = []
    if isinstance(value, dict) and "additionalProperties" not in schema:
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                found.append(f"{at}.{key}")
            else:
                found += _undescribed(spec, properties[key], item, f"{at}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            found += _undescribed(spec, schema["items"], item, f"{at}[{n}]")
    return found


async def test_every_field_the_api_returns_is_in_its_openapi_schema(settings, clock):
    """The ticket was turned into a dict three times (the API, the export and a hand-written
    OpenAPI document) and could drift; now one schema does both, and real answers of every
    route, for a complaint and a tip, for success and error, are checked against it."""
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        ivan = await c.add_user("ivan", "investigator")
        await c.complaint("AB-8301", locale="ru")
        await c.tip("TP-8301")
        api = c.client()
        spec = (await api.get("/api/v1/openapi.json")).json()
        reviewer, investigator = bearer(await token_for(c, rita)), bearer(await token_for(c, ivan))
        answers = []

        async def call(method: str, path: str, headers: dict[str, str], **kw: Any) -> None:
            answer = await api.request(method, f"/api/v1{path}", headers=headers, **kw)
            answers.append((method.lower(), path, answer.status_code, answer.json()))

        await call("POST", "/tickets/AB-8301/replies", reviewer, json={"text": "Уточните адрес"})
        status = {"status": "in_review", "reason": "Проверяем", "version": 1}
        await call("POST", "/tickets/AB-8301/status", reviewer, json=status)
        await call("POST", "/tickets/AB-8301/status", reviewer, json=status)  # 409
        resolved = {"status": "resolved", "reason": "Готово", "version": 2}
        await call("POST", "/tickets/AB-8301/status", reviewer, json=resolved)  # asks the citizen
        await call("GET", "/tickets/AB-8301", reviewer)
        await call("GET", "/tickets?per_page=5", reviewer)
        await call("GET", "/tickets?per_page=0x", reviewer)  # 400 naming the parameter
        await call("GET", "/tickets", {"authorization": "Bearer nope"})  # 401
        await call("GET", "/tickets/AB-0000", reviewer)  # 404
        await call("POST", "/tickets/TP-8301/status", investigator, json=status)
        await call("POST", "/tickets/TP-8301/replies", investigator, json={"text": "Где?"})
        await call("GET", "/tickets/TP-8301", investigator)
        await call("GET", "/tickets", investigator)

        seen = set()
        for method, path, code, body in answers:
            route = path.split("?")[0].replace("AB-8301", "{reference}")
            route = route.replace("TP-8301", "{reference}").replace("AB-0000", "{reference}")
            response = spec["paths"][route][method]["responses"][str(code)]
            schema = response["content"]["application/json"]["schema"]
            assert not _undescribed(spec, schema, body, f"{method} {path} {code}")
            seen.add((route, code))
        detail = next(b for m, p, _, b in answers if p == "/tickets/AB-8301" and m == "get")
        assert detail["messages"] and detail["events"]  # the nested objects were checked too
        assert detail["satisfaction"]["outcome"] == "resolved"
        assert detail["satisfaction"]["solved"] is None  # asked, not answered yet
        assert len(seen) == 8


async def test_reply_written_against_an_old_version_is_a_conflict(settings, clock):
    """A colleague resolved the ticket while the answer was being written: the API's reply
    says so (409) instead of sending it unseen after the resolve; a version that is not a
    number is a bad request, and the reply on the current version goes out."""
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await c.complaint("AB-8011", locale="ru")
        token = await token_for(c, rita)
        api = c.client()
        resolved = await api.post(
            "/api/v1/tickets/AB-8011/status",
            json={"status": "resolved", "reason": "Решено", "version": 1},
            headers=bearer(token),
        )
        assert resolved.status_code == 200
        stale = await api.post(
            "/api/v1/tickets/AB-8011/replies",
            json={"text": "Уточните адрес", "version": 1},
            headers=bearer(token),
        )
        assert stale.status_code == 409 and stale.json()["error"] == "ticket.conflict"
        for bad_version in ("2", True, None):
            bad = await api.post(
                "/api/v1/tickets/AB-8011/replies",
                json={"text": "Уточните адрес", "version": bad_version},
                headers=bearer(token),
            )
            assert bad.status_code == 400
        current = await api.post(
            "/api/v1/tickets/AB-8011/replies",
            json={"text": "Спасибо", "version": 2},
            headers=bearer(token),
        )
        assert current.status_code == 201 and current.json()["version"] == 2
        events = [a for _, a, _ in await c.audit_actions() if a == "ticket.reply"]
        assert events == ["ticket.reply"]
