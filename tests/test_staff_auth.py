# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""Signing in, sessions, CSRF, back-off, security headers and every role rule."""

from __future__ import annotations

from dataclasses import replace

from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.staff import PASSWORD, console, csrf_of, post_form, sign_in


async def test_sign_in_form_and_security_headers(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        web = c.client()
        page = await web.get("/staff/login")
        assert 'name="username"' in page.text and 'name="password"' in page.text
        assert csrf_of(page.text)
        headers = page.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in page.text  # no inline script anywhere
        done = await sign_in(web, "rita", PASSWORD)
        assert done.status_code == 303
        cookie = done.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain http PUBLIC_URL
        assert (await web.get("/staff/inbox")).status_code == 200


async def test_session_cookie_is_secure_behind_https(settings, clock):
    async with console(replace(settings, public_url="https://bot.example.kz"), clock) as c:
        await c.add_user("rita", "reviewer")
        done = await sign_in(c.client(base_url="https://testserver"), "rita", PASSWORD)
        assert done.status_code == 303
        assert "Secure" in done.headers["set-cookie"]


async def test_unsigned_in_visitor_is_sent_to_the_login_page(settings, clock):
    async with console(settings, clock) as c:
        response = await c.client().get("/staff/inbox?status=new")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/staff/login?next=/staff/inbox")


async def test_wrong_password_is_refused(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        response = await sign_in(c.client(), "rita", "not the password")
        assert response.status_code == 401
        assert "Wrong user name or password" in response.text


async def test_disabled_account_cannot_sign_in_and_loses_its_session(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        rita_id = await c.add_user("rita", "reviewer")
        rita = await c.login("rita")
        admin = await c.login("ada")
        done = await post_form(
            admin, "/staff/accounts", f"/staff/accounts/{rita_id}", {"op": "disable"}
        )
        assert done.status_code == 303
        assert (await rita.get("/staff/inbox")).status_code == 303  # session ended
        assert (await sign_in(c.client(), "rita", PASSWORD)).status_code == 401


async def test_login_backs_off_after_repeated_failures(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        web = c.client()
        for _ in range(5):
            assert (await sign_in(web, "rita", "guess")).status_code == 401
        locked = await sign_in(web, "rita", PASSWORD)
        assert locked.status_code == 429
        assert "from this address. Try again in 1 min." in locked.text
        assert locked.headers["retry-after"] == "60"
        clock.advance(minutes=1)
        assert (await sign_in(web, "rita", PASSWORD)).status_code == 303
        assert ("rita", "login.failed", None) in await c.audit_actions()


async def test_a_failed_sign_in_under_an_unknown_name_does_not_record_the_name(settings, clock):
    async with console(settings, clock) as c:
        web = c.client()
        assert (await sign_in(web, "my-secret-password", "x")).status_code == 401
        actors = [actor for actor, action, _ in await c.audit_actions() if action == "login.failed"]
        assert actors == ["(unknown account)"]


async def test_session_expires_after_idle_time(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        web = await c.login("rita")
        clock.advance(minutes=20)
        assert (await web.get("/staff/inbox")).status_code == 200
        clock.advance(minutes=20)  # 20 minutes since the last request: still fine
        assert (await web.get("/staff/inbox")).status_code == 200
        clock.advance(minutes=31)
        assert (await web.get("/staff/inbox")).status_code == 303


async def test_forged_session_cookie_is_ignored(settings, clock):
    async with console(settings, clock) as c:
        web = c.client()
        web.cookies.set("govbot_staff", "abc.def")
        assert (await web.get("/staff/inbox")).status_code == 303


async def test_form_without_csrf_token_is_refused(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-2001")
        web = await c.login("rita")
        response = await web.post("/staff/tickets/AB-2001/note", data={"text": "hello"})
        assert response.status_code == 403
        wrong = await web.post(
            "/staff/tickets/AB-2001/note", data={"text": "hello", "csrf_token": "x" * 64}
        )
        assert wrong.status_code == 403
        login = await c.client().post(
            "/staff/login", data={"username": "rita", "password": PASSWORD}
        )
        assert login.status_code == 403


async def test_reviewer_cannot_list_or_open_tips(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.tip("TP-0001")
        web = await c.login("rita")
        inbox = await web.get("/staff/inbox")
        assert "TP-0001" not in inbox.text
        assert "Open Corruption report: 1" in inbox.text  # counts only
        assert (await web.get("/staff/tickets/TP-0001")).status_code == 404
        assert (await web.get("/staff/inbox?kind=tip")).text.count("TP-0001") == 0
        export = await web.get("/staff/export.json?kind=tip")
        assert export.json() == []


async def test_admin_sees_tip_counts_but_not_tips(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        await c.tip("TP-0002")
        web = await c.login("ada")
        assert (await web.get("/staff/tickets/TP-0002")).status_code == 404


async def test_operator_cannot_touch_tickets(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("olga", "operator")
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-2002")
        web = await c.login("olga")
        assert (await web.get("/staff/inbox")).status_code == 403
        stats = await web.get("/staff/stats")
        assert stats.status_code == 200
        token = csrf_of(stats.text)
        response = await web.post(
            "/staff/tickets/AB-2002/status",
            data={"csrf_token": token, "version": "1", "status": "rejected", "reason": "x"},
        )
        assert response.status_code == 403
        async with c.runtime.storage.read() as tx:
            ticket = await tx.tickets.by_reference("AB-2002")
        assert ticket is not None and ticket.status == "new"


async def test_only_admins_manage_accounts_and_read_the_audit_log(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.add_user("ivan", "investigator")
        for name in ("rita", "ivan"):
            web = await c.login(name)
            assert (await web.get("/staff/accounts")).status_code == 403
            assert (await web.get("/staff/audit")).status_code == 403


async def test_investigator_opens_a_tip_and_every_view_and_reveal_is_audited(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        await c.tip("TP-0003", confidential=True)
        web = await c.login("ivan")
        inbox = await web.get("/staff/inbox")
        assert "TP-0003" in inbox.text
        page = await web.get("/staff/tickets/TP-0003")
        assert "Взятка за справку" in page.text
        assert "+77010000000" not in page.text  # identity only on reveal
        revealed = await post_form(
            web, "/staff/tickets/TP-0003", "/staff/tickets/TP-0003/reveal", {}
        )
        assert revealed.status_code == 200
        assert "+77010000000" in revealed.text
        actions = await c.audit_actions()
        assert ("ivan", "tip.view", "TP-0003") in actions
        assert ("ivan", "tip.reveal", "TP-0003") in actions
        async with c.runtime.storage.read() as tx:
            entries = await tx.conn.execute_fetchall(
                "SELECT ip, at FROM audit_log WHERE action = 'tip.reveal'"
            )
        assert entries[0][0] == "10.1.2.3" and entries[0][1]


async def test_console_language_switch_is_saved_on_the_account(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer", locale="en")
        web = await c.login("rita")
        done = await post_form(
            web, "/staff/inbox", "/staff/language", {"lang": "kk", "next": "/staff/inbox"}
        )
        assert done.status_code == 303
        page = await web.get("/staff/inbox")
        assert "Өтініштер" in page.text and 'lang="kk"' in page.text


async def test_non_ascii_csrf_tokens_and_session_cookies_are_refused_not_a_500(settings, clock):
    """Found by fuzzing: hmac.compare_digest raises TypeError for a str with any non-ASCII
    character, so a csrf_token of "\\x80" (even on the sign-in form, before any account)
    and a session cookie whose MAC part is "é" answered 500."""
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        web = c.client()
        await web.get("/staff/login")
        form = {"username": "rita", "password": PASSWORD, "csrf_token": "\x80"}
        assert (await web.post("/staff/login", data=form)).status_code == 403
        rita = await c.login("rita")
        form = {"lang": "ru", "csrf_token": "токен"}
        assert (await rita.post("/staff/language", data=form)).status_code == 403
        cookie = {b"cookie": "govbot_staff=abc.\xe9".encode("latin-1")}
        page = await c.client().get("/staff/inbox", headers=cookie)
        assert page.status_code in (303, 307) and "/staff/login" in page.headers["location"]
