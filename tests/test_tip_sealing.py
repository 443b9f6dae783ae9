"""Sealed tips against someone who has the server: the database, var/, DATA_KEY, a shell
(`govbot staff add`, `govbot export`), an admin account and everything an admin can do
(tokens, password resets). None of it shows a tip's text, file or confidential contact;
the investigator who existed when the tip was filed reads it, and a new one reads it
after `govbot keys grant` with the recovery key. Issue 12's attack, replayed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest

from bot.config import Settings
from bot.crypto import DataCipher
from bot.staff.accounts import new_api_token
from tests.db import database_url
from tests.staff import PASSWORD, Console, console, post_form

TEXT = "Взятка за справку"  # what Console.tip seals
CONTACT = "+77010000000"
FILE = b"%PDF-1.4 SCAN-OF-THE-RECEIPT-MARK"
MARKERS = (TEXT.encode(), CONTACT.encode(), b"SCAN-OF-THE-RECEIPT-MARK")
REF = "TP-4242"


def govbot(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The shell an attacker with the server has: the same database and keys."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))},
        "DATABASE_URL": database_url(settings),
        "DATA_KEY": settings.data_key or "",
        "SECRET_KEY": settings.secret_key or "",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def every_plaintext(settings: Settings) -> list[bytes]:
    """Every cell of every table, and every blob opened with DATA_KEY under every context
    the code uses: what DATA_KEY and the database give an attacker."""
    cipher = DataCipher.from_setting(settings.data_key or "")
    out: list[bytes] = []
    with sqlite3.connect(settings.database_path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        refs = [r[0] for r in conn.execute("SELECT reference FROM tickets")]
        ids = [r[0] for r in conn.execute("SELECT id FROM tickets")]
        contexts = [
            b"", b"citizen", b"session", b"session-reply", b"outbox", b"inbox", b"dead-letter",
            *(f"tip:{r}".encode() for r in refs), *(f"tip-identity:{r}".encode() for r in refs),
            *(f"ticket:{i}".encode() for i in ids),
        ]  # fmt: skip
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}").fetchall():
                for cell in row:
                    if isinstance(cell, str):
                        out.append(cell.encode())
                    elif isinstance(cell, bytes):
                        out.append(cell)
                        for context in contexts:
                            try:
                                out.append(cipher.decrypt(cell, context=context))
                            except Exception:
                                continue
    return out


def on_disk(settings: Settings, marker: bytes) -> bool:
    """Whether any file under var/ holds `marker`. Read by grep in a process of its own:
    closing a descriptor of the database file here would drop this process's SQLite locks
    (POSIX), and the CLI's next exit would then delete the -shm under the running app."""
    found = subprocess.run(
        ["grep", "-rlaF", marker.decode(), str(settings.database_path.parent)],
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


def leaked(settings: Settings) -> list[bytes]:
    seen = every_plaintext(settings)
    return [m for m in MARKERS if any(m in blob for blob in seen) or on_disk(settings, m)]


async def page_of(c: Console, name: str, password: str = PASSWORD) -> str:
    web = await c.login(name, password)
    page = await web.get(f"/staff/tickets/{REF}")
    return f"{page.status_code}\n{page.text}"


@pytest.mark.sqlite_only("greps the SQLite file; rows read with sqlite3 (to port: tests/db.py)")
async def test_the_server_cannot_read_a_tip_only_its_investigators_can(
    settings: Settings, clock
) -> None:
    async with console(settings, clock) as c:
        recovery = c.runtime.new_recovery_key
        assert recovery is not None  # shown once by `govbot keys init`, kept nowhere
        ivan = await c.add_user("ivan", "investigator")
        ada = await c.add_user("ada", "admin")
        await c.tip(REF, confidential=True, files=(("document", "application/pdf", FILE),))

        # The investigator who existed when the tip was filed reads all of it.
        web = await c.login("ivan")
        page = await web.get(f"/staff/tickets/{REF}")
        assert TEXT in page.text
        reveal = await post_form(web, f"/staff/tickets/{REF}", f"/staff/tickets/{REF}/reveal", {})
        assert CONTACT in reveal.text
        file_id = page.text.split(f"/staff/tickets/{REF}/files/")[1].split('"')[0]
        scan = await web.get(f"/staff/tickets/{REF}/files/{file_id}")
        assert scan.content == FILE

        # With the database, var/ and DATA_KEY: nothing opens. (The search itself works:
        # a complaint's words, kept in the clear for reviewers, are found.)
        await c.complaint("AB-4243", summary="CONTROL-MARK: a complaint in plain text")
        assert any(b"CONTROL-MARK" in blob for blob in every_plaintext(settings))
        assert leaked(settings) == []

        # An admin: no tip pages; a token minted for the investigator reads metadata only.
        admin = await c.login("ada")
        assert (await admin.get(f"/staff/tickets/{REF}")).status_code == 404
        token, digest = new_api_token()
        async with c.runtime.storage.transaction() as tx:
            await tx.for_staff.staff.add_token(
                ivan,
                token_hash=digest,
                label="x",
                now=c.clock(),
                expires_at=c.clock() + timedelta(days=1),
            )
        api = await c.client().get(
            f"/api/v1/tickets/{REF}", headers={"authorization": f"Bearer {token}"}
        )
        assert api.status_code == 200 and api.json()["reference"] == REF
        assert not any(m.decode() in api.text for m in MARKERS)
        exported = await web.get("/staff/export.json")  # ivan's own export has it...
        assert TEXT in exported.text
        cli = govbot(settings, "export", "tickets", "--format", "json", "--as", "ivan")
        assert cli.returncode == 0, cli.stderr
        assert REF in cli.stdout and not any(m.decode() in cli.stdout for m in MARKERS)

        # The shell: a new investigator has keys, but none for a tip filed before them.
        added = govbot(settings, "staff", "add", "eve", "--role", "investigator", stdin=PASSWORD)
        assert added.returncode == 0, added.stderr
        eve_page = await page_of(c, "eve")
        assert eve_page.startswith("200") and 'id="tip-locked"' in eve_page
        assert not any(m.decode() in eve_page for m in MARKERS)

        # The admin resets the investigator's password and signs in as them: a new, empty
        # key pair, so the old tips stay shut.
        reset = await post_form(
            admin,
            "/staff/accounts",
            f"/staff/accounts/{ivan}",
            {"op": "password", "password": "the-admin-knows-this", "confirm_keys": "1"},
        )
        assert reset.status_code == 303
        as_ivan = await page_of(c, "ivan", "the-admin-knows-this")
        assert 'id="tip-locked"' in as_ivan and TEXT not in as_ivan
        assert leaked(settings) == []

        # The recovery key, from the agency's safe, gives eve every tip.
        wrong = govbot(settings, "keys", "grant", "eve", stdin="govbot-recovery-aaaa\n")
        assert wrong.returncode == 2
        granted = govbot(settings, "keys", "grant", "eve", stdin=recovery + "\n")
        assert granted.returncode == 0, granted.stderr
        assert "granted 1 tips to eve" in granted.stdout
        eve_page = await page_of(c, "eve")
        assert TEXT in eve_page and 'id="tip-locked"' not in eve_page

        # And eve gives ivan (new keys since the reset) access back from the console.
        eve = await c.login("eve")
        done = await post_form(eve, "/staff/keys", "/staff/keys/grant", {"staff_id": str(ivan)})
        assert done.status_code == 303 and done.headers["location"].endswith("granted=1")
        assert TEXT in await page_of(c, "ivan", "the-admin-knows-this")
        actions = await c.audit_actions()
        assert ("cli", "keys.grant", "eve") in actions and ("eve", "keys.grant", "ivan") in actions
        assert ada and leaked(settings) == []


async def test_an_investigators_own_password_change_keeps_their_tips(settings, clock) -> None:
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        await c.tip(REF)
        web = await c.login("ivan")
        changed = await post_form(
            web,
            "/staff/password",
            "/staff/password",
            {"current": PASSWORD, "password": "a-new-long-password"},
        )
        assert changed.status_code == 303
        assert TEXT in (await web.get(f"/staff/tickets/{REF}")).text  # this browser, new session
        assert TEXT in await page_of(c, "ivan", "a-new-long-password")


@pytest.mark.sqlite_only("rows read with sqlite3 (to port: tests/db.py)")
async def test_a_stolen_session_row_does_not_open_the_key(settings, clock) -> None:
    """The session keeps the investigator's key wrapped under the cookie's secret, of
    which the database has only a hash: the row alone opens nothing."""
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        await c.tip(REF)
        web = await c.login("ivan")
        assert TEXT in (await web.get(f"/staff/tickets/{REF}")).text
        with sqlite3.connect(settings.database_path) as conn:
            [(wrapped,)] = conn.execute("SELECT tip_key FROM staff_sessions").fetchall()
        assert wrapped is not None and len(wrapped) > 32
        # Another browser with a forged cookie (right HMAC needs SECRET_KEY: the attacker
        # has it) but not the session id: it is not a session at all.
        stranger = c.client()
        assert (await stranger.get(f"/staff/tickets/{REF}")).status_code in (303, 307)
        assert leaked(settings) == []


def test_only_keys_init_makes_the_recovery_key_and_prints_it_once(settings: Settings) -> None:
    """Found by an outside review: whichever command first opened a new database printed
    the key to stderr (the quick-start script threw it away; a service would write it to
    a journal on the same disk). Now only `govbot keys init`, at a terminal, makes it."""
    listed = govbot(settings, "staff", "list")
    assert listed.returncode == 0, listed.stderr
    assert "govbot-recovery-" not in listed.stdout + listed.stderr
    assert "no recovery key yet" in listed.stderr and "govbot keys init" in listed.stderr
    made = govbot(settings, "keys", "init")
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("govbot-recovery-") == 1 and "govbot-recovery-" not in made.stderr
    again = govbot(settings, "keys", "init")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert "govbot-recovery-" not in again.stdout + again.stderr
    later = govbot(settings, "staff", "list")
    assert "no recovery key yet" not in later.stderr
