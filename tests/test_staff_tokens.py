"""API tokens (issue 12, "Admins and tokens"): each person creates their own, on their own
page, after typing their password again; nobody mints one for another account; a token
expires (API_TOKEN_DAYS, 90 by default) and dies with a password change, a role change or
a disable; an admin may still revoke anyone's token, and that is audited.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import httpx

from bot.storage.sqlite import migration_files, open_and_migrate
from tests.staff import PASSWORD, Console, console, csrf_of, post_form
from tests.test_api import bearer

TOKEN = re.compile(r'<code class="token">([^<]+)</code>')
REVOKE = re.compile(r"/staff/tokens/(\d+)/revoke")


async def create(web: httpx.AsyncClient, password: str = PASSWORD, **extra: str) -> httpx.Response:
    page = await web.get("/staff/password")  # any page: the CSRF token is the session's
    form = {"csrf_token": csrf_of(page.text), "label": "e-Otinish", "current": password, **extra}
    return await web.post("/staff/tokens", data=form)


async def own_token(c: Console, name: str) -> str:
    created = await create(await c.login(name))
    assert created.status_code == 200, created.text
    found = TOKEN.search(created.text)
    assert found, created.text
    return found.group(1)


async def api_status(c: Console, token: str) -> int:
    response = await c.client().get("/api/v1/tickets", headers=bearer(token))
    return response.status_code


async def token_rows(c: Console) -> list[tuple[int, str]]:
    async with c.runtime.storage.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT staff_id, label FROM api_tokens")
    return [(r[0], r[1]) for r in rows]


async def test_issue_12_an_admin_cannot_mint_a_token_for_an_investigator(settings, clock):
    """The attack: an admin posts /staff/tokens with the investigator's staff_id and then
    reads tips through the API as the investigator."""
    async with console(settings, clock) as c:
        ada = await c.add_user("ada", "admin")
        ivan = await c.add_user("ivan", "investigator")
        admin = await c.login("ada")
        refused = await create(admin, staff_id=str(ivan))
        assert refused.status_code == 403
        assert "only for your own account" in refused.text
        assert not TOKEN.search(refused.text)
        assert await token_rows(c) == []
        assert ("ada", "token.refused", "ivan") in await c.audit_actions()
        # Naming one's own account, as the old form did, is still one's own token.
        own = await create(admin, staff_id=str(ada))
        assert own.status_code == 200 and TOKEN.search(own.text)


async def test_a_staff_id_that_is_not_a_number_is_a_bad_request_not_a_500(settings, clock):
    """Found by fuzzing: int() of the form's staff_id ("in_review", or 5,000 digits) raised
    ValueError in /staff/tokens, a 500."""
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        web = await c.login("ada")
        for staff_id in ("in_review", "9" * 5000, "99999999999999999999999"):
            answer = await create(web, staff_id=staff_id)
            assert answer.status_code in (400, 403)
        assert await token_rows(c) == []


async def test_each_person_creates_their_own_token_on_their_own_page(settings, clock):
    async with console(settings, clock) as c:
        rita_id = await c.add_user("rita", "reviewer")
        await c.add_user("ivan", "investigator")
        await c.complaint("AB-8101")
        rita = await c.login("rita")
        created = await create(rita)
        assert created.status_code == 200
        assert created.headers["cache-control"] == "no-store"
        token = TOKEN.search(created.text).group(1)
        assert "shown only once" in created.text
        assert "Valid until Jun 14, 2026" in created.text  # 16 March + 90 days
        listed = await c.client().get("/api/v1/tickets", headers=bearer(token))
        assert [t["reference"] for t in listed.json()["items"]] == ["AB-8101"]
        # Shown once: the page never shows it again; it is stored only as a hash.
        again = await rita.get("/staff/tokens")
        assert token not in again.text and "e-Otinish" in again.text
        async with c.runtime.storage.read() as tx:
            raw = await tx.conn.execute_fetchall("SELECT * FROM api_tokens")
        assert token not in repr(raw)
        # Ivan's page does not list Rita's token.
        ivan = await c.login("ivan")
        assert "e-Otinish" not in (await ivan.get("/staff/tokens")).text
        assert ("rita", "token.add", "rita") in await c.audit_actions()
        assert await token_rows(c) == [(rita_id, "e-Otinish")]


async def test_a_token_needs_the_password_typed_again(settings, clock):
    """A borrowed or stolen console session (12 hours at most) must not turn into an API
    token that lasts three months."""
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        rita = await c.login("rita")
        wrong = await create(rita, password="not my password")
        assert wrong.status_code == 400 and not TOKEN.search(wrong.text)
        assert await token_rows(c) == []
        assert ("rita", "token.failed", "rita") in await c.audit_actions()


async def test_an_operator_has_no_api_and_gets_no_token(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("olga", "operator")
        olga = await c.login("olga")
        page = await olga.get("/staff/tokens")
        assert page.status_code == 200 and "no access to the API" in page.text
        refused = await post_form(
            olga, "/staff/tokens", "/staff/tokens", {"label": "x", "current": PASSWORD}
        )
        assert refused.status_code == 403
        assert await token_rows(c) == []


async def test_an_expired_token_gets_401_with_a_clear_error(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        token = await own_token(c, "rita")
        clock.advance(days=89, hours=23)
        assert await api_status(c, token) == 200
        clock.advance(hours=1)
        answer = await c.client().get("/api/v1/tickets", headers=bearer(token))
        assert answer.status_code == 401
        assert answer.json()["error"] == "token_expired"
        assert "expired" in answer.json()["message"]
        assert "2026-06-14" in answer.json()["message"]


async def test_the_token_lifetime_is_configurable(settings, clock):
    async with console(replace(settings, api_token_days=7), clock) as c:
        await c.add_user("rita", "reviewer")
        token = await own_token(c, "rita")
        clock.advance(days=6)
        assert await api_status(c, token) == 200
        clock.advance(days=1)
        assert await api_status(c, token) == 401


async def test_a_role_change_revokes_the_accounts_tokens(settings, clock):
    """A token made as a reviewer must not become an investigator's token."""
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        rita_id = await c.add_user("rita", "reviewer")
        token = await own_token(c, "rita")
        admin = await c.login("ada")
        done = await post_form(
            admin,
            "/staff/accounts",
            f"/staff/accounts/{rita_id}",
            {"op": "role", "role": "investigator"},
        )
        assert done.status_code == 303
        assert await api_status(c, token) == 401


async def test_an_admin_revokes_anothers_token_and_it_is_audited(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        await c.add_user("rita", "reviewer")
        await c.add_user("ivan", "investigator")
        token = await own_token(c, "rita")
        # The admin's page lists every token (to revoke), but has no form to create one.
        admin = await c.login("ada")
        accounts = await admin.get("/staff/accounts")
        assert 'action="/staff/tokens"' not in accounts.text
        assert 'name="staff_id"' not in accounts.text
        token_id = REVOKE.search(accounts.text).group(1)
        # Another non-admin cannot revoke it; it does not exist for them.
        ivan = await c.login("ivan")
        page = await ivan.get("/staff/tokens")
        stranger = await ivan.post(
            f"/staff/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(page.text)}
        )
        assert stranger.status_code == 404
        assert await api_status(c, token) == 200
        revoked = await post_form(admin, "/staff/accounts", f"/staff/tokens/{token_id}/revoke", {})
        assert revoked.status_code == 303
        assert revoked.headers["location"].startswith("/staff/accounts")
        assert await api_status(c, token) == 401
        assert ("ada", "token.revoke", "rita") in await c.audit_actions()


async def test_the_owner_revokes_their_own_token(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        token = await own_token(c, "rita")
        rita = await c.login("rita")
        page = await rita.get("/staff/tokens")
        token_id = REVOKE.search(page.text).group(1)
        revoked = await post_form(rita, "/staff/tokens", f"/staff/tokens/{token_id}/revoke", {})
        assert revoked.status_code == 303
        assert revoked.headers["location"].startswith("/staff/tokens")
        assert await api_status(c, token) == 401
        assert ("rita", "token.revoke", "rita") in await c.audit_actions()


async def test_issue_12_tokens_made_before_the_change_are_revoked(tmp_path: Path) -> None:
    """Until issue 12 only an admin made tokens, for any account: no token of that time is
    known to be its owner's own, so migration 012 revokes them all."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        for version, name, sql in migration_files():
            if version < 12:
                conn.executescript(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'x')", (version, name))
        conn.execute(
            "INSERT INTO staff_users (username, password_hash, role, created_at)"
            " VALUES ('ivan', 'x', 'investigator', '2026-01-05T05:00:00+00:00')"
        )
        conn.execute(
            "INSERT INTO api_tokens (staff_id, token_hash, label, created_at)"
            " VALUES (1, 'h', 'minted by an admin', '2026-01-05T05:00:00+00:00')"
        )
    assert "012_api_token_expiry.sql" in await open_and_migrate(path)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT revoked_at, expires_at FROM api_tokens").fetchall()
    assert rows == [(rows[0][0], "2026-01-05T05:00:00+00:00")]
    assert rows[0][0] is not None
