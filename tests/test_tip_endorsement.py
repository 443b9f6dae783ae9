"""Tips are sealed only to investigator keys endorsed by someone already trusted with tips
(issue 12, after review): an admin who makes an investigator's key on the console (a new
account, a password reset, a role change) and signs in as them reads no tip filed after
it, until an investigator who is trusted grants that key access on /staff/keys."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from bot import sealing
from bot.runtime import open_runtime
from tests.staff import PASSWORD, Console, console, post_form
from tests.test_tip_sealing import TEXT, govbot

ADMIN_KNOWS = "the-admin-knows-this"


async def reads(c: Console, name: str, reference: str, password: str = ADMIN_KNOWS) -> bool:
    web = await c.login(name, password)
    page = await web.get(f"/staff/tickets/{reference}")
    assert page.status_code == 200, page.text
    return TEXT in page.text and 'id="tip-locked"' not in page.text


async def admin_adds(c: Console, admin: httpx.AsyncClient, name: str) -> int:
    """An investigator the admin adds on the Accounts page, with a password they chose."""
    added = await post_form(
        admin,
        "/staff/accounts",
        "/staff/accounts/add",
        {"username": name, "role": "investigator", "password": ADMIN_KNOWS},
    )
    assert added.status_code == 303, added.text
    async with c.runtime.storage.read() as tx:
        user = await tx.for_staff.staff.by_username(name)
    assert user is not None
    return user.id


async def grant(c: Console, granter: str, colleague: int, password: str = PASSWORD) -> int:
    web = await c.login(granter, password)
    done = await post_form(web, "/staff/keys", "/staff/keys/grant", {"staff_id": str(colleague)})
    return done.status_code


async def test_an_investigator_an_admin_creates_reads_no_tip_until_a_colleague_grants(
    settings, clock
) -> None:
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")  # as the shell makes one: trusted
        await c.add_user("ada", "admin")
        admin = await c.login("ada")
        mallory = await admin_adds(c, admin, "mallory")

        # The admin signs in as the account they made: a tip filed afterwards stays shut.
        await c.tip("TP-0001")
        assert not await reads(c, "mallory", "TP-0001")
        own = await (await c.login("mallory", ADMIN_KNOWS)).get("/staff/keys")
        assert 'id="not-endorsed"' in own.text

        # The investigator sees the colleague waiting, with the day and how the key came.
        keys_page = await (await c.login("ivan")).get("/staff/keys")
        waiting = keys_page.text.split('id="waiting"')[1].split("</ul>")[0]
        assert "mallory" in waiting and "Mar 16, 2026" in waiting and "new account" in waiting

        assert await grant(c, "ivan", mallory) == 303
        await c.tip("TP-0002")
        assert await reads(c, "mallory", "TP-0002") and await reads(c, "mallory", "TP-0001")
        keys_page = await (await c.login("ivan")).get("/staff/keys")
        assert 'id="waiting"' not in keys_page.text
        async with c.runtime.storage.read() as tx:
            entries, _ = await tx.for_staff.audit.page(limit=100)
        [entry] = [e for e in entries if e.action == "keys.grant"]
        assert entry.actor == "ivan" and entry.target == "mallory"
        assert entry.detail.get("endorsed") is True


async def test_an_investigator_nobody_endorsed_cannot_endorse_another(settings, clock) -> None:
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        admin = await c.login("ada")
        await admin_adds(c, admin, "mallory")
        accomplice = await admin_adds(c, admin, "trudy")

        assert await grant(c, "mallory", accomplice, ADMIN_KNOWS) == 403
        await c.tip("TP-0001")
        assert not await reads(c, "trudy", "TP-0001")
        assert not await reads(c, "mallory", "TP-0001")


async def test_an_admin_reset_locks_the_investigator_out_of_new_tips_until_granted(
    settings, clock
) -> None:
    async with console(settings, clock) as c:
        ivan = await c.add_user("ivan", "investigator")
        await c.add_user("eve", "investigator")
        await c.add_user("ada", "admin")
        admin = await c.login("ada")
        reset = await post_form(
            admin,
            "/staff/accounts",
            f"/staff/accounts/{ivan}",
            {"op": "password", "password": ADMIN_KNOWS, "confirm_keys": "1"},
        )
        assert reset.status_code == 303
        accounts = await admin.get("/staff/accounts")
        assert "no new reports either until an investigator gives" in accounts.text

        await c.tip("TP-0001")
        assert not await reads(c, "ivan", "TP-0001")
        keys_page = await (await c.login("eve")).get("/staff/keys")
        waiting = keys_page.text.split('id="waiting"')[1].split("</ul>")[0]
        assert "ivan" in waiting and "password reset by an admin" in waiting

        assert await grant(c, "eve", ivan) == 303
        await c.tip("TP-0002")
        assert await reads(c, "ivan", "TP-0002")


@pytest.mark.sqlite_only("rows changed with sqlite3 (to port: tests/db.py)")
async def test_a_role_flip_drops_the_investigators_key(settings, clock) -> None:
    """Investigator → admin → (password reset) → investigator: the key made for the old
    password is gone with the first change, and the one made at the next sign-in waits
    for a grant like any key an admin could have made."""
    async with console(settings, clock) as c:
        ivan = await c.add_user("ivan", "investigator")
        await c.add_user("ada", "admin")
        await c.tip("TP-0001")
        with sqlite3.connect(settings.database_path) as conn:
            [(old_wrapped,)] = conn.execute(
                "SELECT wrapped_private FROM staff_keys WHERE staff_id = ?", (ivan,)
            ).fetchall()
        admin = await c.login("ada")
        change = f"/staff/accounts/{ivan}"
        done = await post_form(admin, "/staff/accounts", change, {"op": "role", "role": "admin"})
        assert done.status_code == 303, done.text
        with sqlite3.connect(settings.database_path) as conn:
            keys = conn.execute("SELECT count(*) FROM staff_keys WHERE staff_id = ?", (ivan,))
            assert keys.fetchone() == (0,)
            tips = conn.execute(
                "SELECT count(*) FROM tip_keys WHERE holder = ?", (f"staff:{ivan}",)
            )
            assert tips.fetchone() == (0,)
        for data in (
            {"op": "password", "password": ADMIN_KNOWS},
            {"op": "role", "role": "investigator"},
        ):
            done = await post_form(admin, "/staff/accounts", change, data)
            assert done.status_code == 303, done.text

        await c.tip("TP-0002")
        assert not await reads(c, "ivan", "TP-0002")
        assert not await reads(c, "ivan", "TP-0001")
        with sqlite3.connect(settings.database_path) as conn:
            wrapped = [bytes(r[0]) for r in conn.execute("SELECT wrapped_private FROM staff_keys")]
        assert bytes(old_wrapped) not in wrapped  # the old password opens nothing stored


async def test_a_role_change_to_investigator_gives_no_endorsed_key(settings, clock) -> None:
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        await c.add_user("ada", "admin")
        admin = await c.login("ada")
        done = await post_form(
            admin,
            "/staff/accounts",
            f"/staff/accounts/{rita}",
            {"op": "role", "role": "investigator"},
        )
        assert done.status_code == 303
        await c.tip("TP-0001")
        assert not await reads(c, "rita", "TP-0001", PASSWORD)  # her first sign-in made a key
        async with c.runtime.storage.read() as tx:
            assert await tx.for_staff.staff.key(rita) is not None
            assert rita not in [
                int(holder.split(":")[1])
                for holder, _ in await tx.tips.recipients()
                if holder.startswith("staff:")
            ]


@pytest.mark.sqlite_only("rows changed with sqlite3 (to port: tests/db.py)")
async def test_the_shell_and_the_recovery_key_endorse(settings, clock) -> None:
    """Whoever has a shell on the server chooses recipients anyway (it holds the public
    keys): `govbot staff add` makes an endorsed investigator, and `govbot keys grant`
    with the recovery key endorses a key an admin made."""
    async with console(settings, clock) as c:
        recovery = c.runtime.new_recovery_key
        assert recovery is not None
        added = govbot(settings, "staff", "add", "eve", "--role", "investigator", stdin=PASSWORD)
        assert added.returncode == 0, added.stderr
        await c.add_user("ada", "admin")
        await admin_adds(c, await c.login("ada"), "mallory")
        await c.tip("TP-0001")
        assert await reads(c, "eve", "TP-0001", PASSWORD)
        assert not await reads(c, "mallory", "TP-0001")

        granted = govbot(settings, "keys", "grant", "mallory", stdin=recovery + "\n")
        assert granted.returncode == 0, granted.stderr
        await c.tip("TP-0002")
        assert await reads(c, "mallory", "TP-0002")
        actions = await c.audit_actions()
        assert ("cli", "keys.grant", "mallory") in actions


async def test_an_investigators_own_password_change_keeps_new_tips_coming(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        web = await c.login("ivan")
        changed = await post_form(
            web,
            "/staff/password",
            "/staff/password",
            {"current": PASSWORD, "password": ADMIN_KNOWS},
        )
        assert changed.status_code == 303
        await c.tip("TP-0001")
        assert await reads(c, "ivan", "TP-0001")


@pytest.mark.sqlite_only("rows changed with sqlite3 (to port: tests/db.py)")
async def test_keys_from_before_endorsement_stay_recipients_unless_an_admin_made_them(
    settings, clock, catalogs
) -> None:
    """Migration 014 endorses the keys that existed before it, except those of accounts an
    admin created, reset or re-roled on the console (an outside review: the admin may know
    their password); those wait on the Keys page like a new account's."""
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    _, public = sealing.new_key_pair()
    _, planted = sealing.new_key_pair()
    async with runtime.storage.transaction() as tx:
        db = tx.for_staff
        await db.staff.add("ivan", password_hash="x", role="investigator", locale="en", now=clock())
        await db.staff.add("mole", password_hash="x", role="investigator", locale="en", now=clock())
        await db.audit.append(
            actor="staff:ada", action="account.password", target="mole", now=clock(), role="admin"
        )
    await runtime.close()
    with sqlite3.connect(settings.database_path) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 14")
        for column in ("endorsed", "made_on", "made_by"):
            conn.execute(f"ALTER TABLE staff_keys DROP COLUMN {column}")
        conn.executemany(
            "INSERT INTO staff_keys (staff_id, public_key, wrapped_private) VALUES (?, ?, ?)",
            [(1, public, b"wrapped"), (2, planted, b"wrapped")],
        )
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        async with runtime.storage.read() as tx:
            recipients = await tx.tips.recipients()
            waiting = await tx.for_staff.staff.waiting_keys()
        assert ("staff:1", public) in recipients
        assert ("staff:2", planted) not in recipients
        assert [w.username for w in waiting] == ["mole"]
    finally:
        await runtime.close()
