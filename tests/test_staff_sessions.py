"""Session lifetime and the end of every session and API token on password change or
disable: an old cookie or token must not outlive the credentials it was issued for.
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from bot.maintenance import purge
from tests.staff import PASSWORD, Console, console, post_form, sign_in
from tests.test_api import token_for

NEW_PASSWORD = "a brand new passphrase"


async def _api_status(c: Console, token: str) -> int:
    response = await c.client().get("/api/v1/tickets", headers={"authorization": f"Bearer {token}"})
    return response.status_code


async def _signed_in(web: httpx.AsyncClient) -> bool:
    return (await web.get("/staff/inbox")).status_code == 200


async def test_a_session_ends_after_twelve_hours_even_when_in_use(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        web = await c.login("rita")
        for _ in range(12 * 3 - 1):  # a request every 20 minutes for 11h40m
            clock.advance(minutes=20)
            assert await _signed_in(web)
        clock.advance(minutes=21)
        assert not await _signed_in(web)


async def test_the_absolute_lifetime_is_configurable(settings, clock):
    async with console(replace(settings, staff_session_hours=1), clock) as c:
        await c.add_user("rita", "reviewer")
        web = await c.login("rita")
        clock.advance(minutes=25)
        assert await _signed_in(web)
        clock.advance(minutes=25)
        assert await _signed_in(web)
        clock.advance(minutes=11)
        assert not await _signed_in(web)


async def test_an_admin_password_change_ends_sessions_and_tokens(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        rita_id = await c.add_user("rita", "reviewer")
        rita = await c.login("rita")
        token = await token_for(c, rita_id)
        assert await _api_status(c, token) == 200
        admin = await c.login("ada")
        done = await post_form(
            admin,
            "/staff/accounts",
            f"/staff/accounts/{rita_id}",
            {"op": "password", "password": NEW_PASSWORD},
        )
        assert done.status_code == 303
        assert not await _signed_in(rita)
        assert await _api_status(c, token) == 401
        assert (await sign_in(c.client(), "rita", NEW_PASSWORD)).status_code == 303


async def test_changing_ones_own_password_ends_every_other_session_and_token(settings, clock):
    async with console(settings, clock) as c:
        rita_id = await c.add_user("rita", "reviewer")
        laptop = await c.login("rita")
        phone = await c.login("rita")
        token = await token_for(c, rita_id)
        wrong = await post_form(
            laptop,
            "/staff/password",
            "/staff/password",
            {"current": "not my password", "password": NEW_PASSWORD},
        )
        assert wrong.status_code == 400
        assert await _signed_in(phone) and await _api_status(c, token) == 200
        done = await post_form(
            laptop,
            "/staff/password",
            "/staff/password",
            {"current": PASSWORD, "password": NEW_PASSWORD},
        )
        assert done.status_code == 303
        assert await _signed_in(laptop)  # the browser that changed it gets a fresh session
        assert not await _signed_in(phone)
        assert await _api_status(c, token) == 401
        assert (await sign_in(c.client(), "rita", PASSWORD)).status_code == 401
        assert (await sign_in(c.client(), "rita", NEW_PASSWORD)).status_code == 303
        assert ("rita", "password.change", "rita") in await c.audit_actions()


async def test_disabling_ends_sessions_and_tokens_for_good(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        rita_id = await c.add_user("rita", "reviewer")
        rita = await c.login("rita")
        token = await token_for(c, rita_id)
        admin = await c.login("ada")
        for op in ("disable", "enable"):
            done = await post_form(
                admin, "/staff/accounts", f"/staff/accounts/{rita_id}", {"op": op}
            )
            assert done.status_code == 303
        # Enabled again: the cookie and the token issued before the disable stay dead.
        assert not await _signed_in(rita)
        assert await _api_status(c, token) == 401


RESET_WARNING = (
    "they lose access to every corruption report they could read, and get no new reports"
)


async def test_issue_12_resetting_an_investigators_password_warns_before_it_happens(
    settings, clock
):
    """An admin's reset gives the investigator a new, empty key pair: the console says so
    before the reset, and the reset waits for the admin to confirm having read it."""
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        await c.add_user("rita", "reviewer")
        ivan_id = await c.add_user("ivan", "investigator")
        admin = await c.login("ada")
        page = await admin.get("/staff/accounts")
        assert page.text.count(RESET_WARNING) == 1  # on Ivan's row, not on Rita's or Ada's
        unconfirmed = await post_form(
            admin,
            "/staff/accounts",
            f"/staff/accounts/{ivan_id}",
            {"op": "password", "password": NEW_PASSWORD},
        )
        assert unconfirmed.status_code == 400
        assert RESET_WARNING in unconfirmed.text
        assert (await sign_in(c.client(), "ivan", PASSWORD)).status_code == 303
        confirmed = await post_form(
            admin,
            "/staff/accounts",
            f"/staff/accounts/{ivan_id}",
            {"op": "password", "password": NEW_PASSWORD, "confirm_keys": "1"},
        )
        assert confirmed.status_code == 303
        assert (await sign_in(c.client(), "ivan", NEW_PASSWORD)).status_code == 303
        assert ("ada", "account.password", "ivan") in await c.audit_actions()


async def _session_rows(c: Console) -> int:
    async with c.runtime.storage.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT count(*) FROM staff_sessions")
    return int(next(iter(rows))[0])


async def test_the_clean_up_job_deletes_sessions_that_ended(settings, clock):
    # Nothing called purge_sessions: a session nobody used again, and the investigator's
    # tip key wrapped in it, stayed in the database for ever.
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.add_user("ivan", "reviewer")
        await c.login("rita")
        busy = await c.login("ivan")
        clock.advance(minutes=29)
        assert await _signed_in(busy)
        assert (await purge(c.runtime.storage, c.runtime.settings, clock(), sensitive=()))[
            "staff_sessions"
        ] == 0
        clock.advance(minutes=2)  # rita idle for 31 minutes; ivan for 2
        assert (await purge(c.runtime.storage, c.runtime.settings, clock(), sensitive=()))[
            "staff_sessions"
        ] == 1
        assert await _session_rows(c) == 1
        for _ in range(12 * 3 - 2):  # ivan works on: 11h55m after signing in
            clock.advance(minutes=20)
            assert await _signed_in(busy)
        clock.advance(minutes=10)  # idle for 10 minutes only, but signed in 12h05m ago
        assert (await purge(c.runtime.storage, c.runtime.settings, clock(), sensitive=()))[
            "staff_sessions"
        ] == 1
        assert await _session_rows(c) == 0
