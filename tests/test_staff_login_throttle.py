# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""Sign-in throttling under attack: parallel guesses, one noisy address, many addresses.

Regression tests for the hardening issue: 30 parallel sign-ins with 29 wrong passwords
all had their passwords checked (and the right one got in), and anyone who knew a user
name could lock that account for an hour. And for the review that followed: twelve
addresses of one IPv6 /64 locked the owner out, and random user names were never
throttled (300 argon2 checks, 600 rows that nothing deleted).
"""

from __future__ import annotations

import asyncio
import secrets
import threading

import httpx

from bot.maintenance import purge
from bot.staff.accounts import hash_password, verify_password
from bot.staff.passwords import Passwords
from bot.staff.throttle import POLICY
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.staff import PASSWORD, Console, console, csrf_of, sign_in


async def _login_form(web: httpx.AsyncClient) -> str:
    page = await web.get("/staff/login")
    return csrf_of(page.text)


async def _post(web: httpx.AsyncClient, token: str, name: str, password: str) -> int:
    response = await web.post(
        "/staff/login", data={"username": name, "password": password, "csrf_token": token}
    )
    return response.status_code


async def _failures_audited(c: Console) -> int:
    return sum(action == "login.failed" for _, action, _ in await c.audit_actions())


async def test_parallel_guesses_from_one_address_are_checked_at_most_the_budget(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        web = c.client()
        token = await _login_form(web)
        guesses = [f"guess number {i}" for i in range(39)] + [PASSWORD]
        codes = await asyncio.gather(*(_post(web, token, "rita", p) for p in guesses))
        checked = [code for code in codes if code in (401, 303)]
        assert len(checked) <= POLICY.free_per_client, codes
        # The rest are refused unchecked: throttled (429), or past the hash queue (503).
        assert codes.count(429) + codes.count(503) == len(guesses) - len(checked)
        assert await _failures_audited(c) <= POLICY.free_per_client


async def test_parallel_guesses_from_many_addresses_stop_at_the_account_ceiling(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        per_address = POLICY.free_per_client
        addresses = POLICY.account_ceiling // per_address + 3
        clients = [c.client(ip=f"10.9.{n // 250}.{n % 250 + 1}") for n in range(addresses)]
        tokens = [await _login_form(web) for web in clients]
        # Room in the hash queue for the whole burst: this test is about the ceiling.
        c.runtime.passwords = Passwords(waiting=addresses * (per_address + 2))
        codes = await asyncio.gather(
            *(
                _post(web, token, "rita", f"guess {i}")
                for web, token in zip(clients, tokens, strict=True)
                for i in range(per_address + 2)
            )
        )
        assert codes.count(401) == POLICY.account_ceiling
        # Throttled for every device that never signed in to rita, until the window ends.
        owner = c.client(ip="192.0.2.10")
        assert (await sign_in(owner, "rita", PASSWORD)).status_code == 429
        clock.advance(seconds=POLICY.window.total_seconds() + 1)
        assert (await sign_in(owner, "rita", PASSWORD)).status_code == 303


async def test_an_attacker_backed_off_at_one_address_does_not_lock_out_the_owner(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        attacker = c.client(ip="203.0.113.66")
        for _ in range(POLICY.free_per_client):
            assert (await sign_in(attacker, "rita", "guess")).status_code == 401
        refused = await sign_in(attacker, "rita", PASSWORD)
        assert refused.status_code == 429
        assert "Too many failed attempts" in refused.text
        owner = c.client(ip="10.0.0.7")
        assert (await sign_in(owner, "rita", PASSWORD)).status_code == 303


async def test_back_off_ends_and_grows_and_success_clears_it(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        web = c.client()
        for _ in range(POLICY.free_per_client):
            assert (await sign_in(web, "rita", "guess")).status_code == 401
        assert (await sign_in(web, "rita", "guess")).status_code == 429
        clock.advance(seconds=POLICY.backoff(POLICY.free_per_client).total_seconds())
        assert (await sign_in(web, "rita", "guess")).status_code == 401  # one more try
        assert (await sign_in(web, "rita", PASSWORD)).status_code == 429  # and a longer wait
        clock.advance(seconds=POLICY.backoff(POLICY.free_per_client + 1).total_seconds())
        assert (await sign_in(web, "rita", PASSWORD)).status_code == 303
        # A success clears this address's count: the next mistake is a plain 401 again.
        for _ in range(POLICY.free_per_client):
            assert (await sign_in(c.client(), "rita", "guess")).status_code == 401


class CountingHasher:
    """Argon2id for real accounts, nothing for unknown ones (the attack's cost is counted)."""

    def __init__(self) -> None:
        self.checks = 0
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return hash_password(password)

    def verify(self, stored: str | None, password: str) -> bool:
        with self._lock:
            self.checks += 1
        return stored is not None and verify_password(stored, password)


async def _throttle_rows(c: Console) -> int:
    async with c.runtime.storage.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT count(*) FROM login_throttle")
    return int(next(iter(rows))[0])


async def _signed_in_before(owner: httpx.AsyncClient) -> None:
    """The owner signed in from this device earlier; that session is over by now."""
    assert (await sign_in(owner, "rita", PASSWORD)).status_code == 303
    owner.cookies.delete("govbot_staff")


async def test_twelve_addresses_of_one_ipv6_64_count_as_one_and_do_not_lock_out_the_owner(
    settings, clock
):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        owner = c.client(ip="198.51.100.7")
        await _signed_in_before(owner)
        attackers = [c.client(ip=f"2001:db8:77:5::{n:x}") for n in range(1, 13)]
        codes = [
            (await sign_in(web, "rita", f"guess {i}")).status_code
            for web in attackers
            for i in range(POLICY.free_per_client)
        ]
        # The /64 is one client: its free tries, then it waits.
        assert codes.count(401) == POLICY.free_per_client, codes
        assert (await sign_in(owner, "rita", PASSWORD)).status_code == 303


async def test_a_known_device_signs_in_while_the_account_is_at_its_ceiling(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        owner = c.client(ip="198.51.100.7")
        await _signed_in_before(owner)
        per_address = POLICY.free_per_client
        for n in range(POLICY.account_ceiling // per_address + 2):
            attacker = c.client(ip=f"10.9.0.{n + 1}")
            for i in range(per_address):
                await sign_in(attacker, "rita", f"guess {i}")
        # A device that never signed in to rita waits for the window, like the attacker.
        assert (await sign_in(c.client(ip="192.0.2.10"), "rita", PASSWORD)).status_code == 429
        assert (await sign_in(owner, "rita", PASSWORD)).status_code == 303
        owner.cookies.delete("govbot_staff")
        # The known device still backs off on its own failures.
        for _ in range(POLICY.free_per_client):
            assert (await sign_in(owner, "rita", "guess")).status_code == 401
        assert (await sign_in(owner, "rita", PASSWORD)).status_code == 429


async def test_a_known_device_mark_is_worthless_after_a_password_change(settings, clock):
    # A stolen "known device" cookie must not outlive the password it was earned with.

    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        owner = c.client(ip="198.51.100.7")
        await _signed_in_before(owner)
        new_password = "a brand new password 42"
        async with c.runtime.storage.transaction() as tx:
            await tx.for_staff.staff.update(
                rita, now=clock(), password_hash=hash_password(new_password)
            )
        per_address = POLICY.free_per_client
        for n in range(POLICY.account_ceiling // per_address + 2):
            attacker = c.client(ip=f"10.9.0.{n + 1}")
            for i in range(per_address):
                await sign_in(attacker, "rita", f"guess {i}")
        assert (await sign_in(owner, "rita", new_password)).status_code == 429


async def test_random_user_names_from_one_address_stop_at_the_address_ceiling(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        hasher = CountingHasher()
        c.runtime.passwords = Passwords(hasher=hasher)
        owner = c.client(ip="2001:db8:9:9::1")
        await _signed_in_before(owner)
        checks_before = hasher.checks
        attacker = c.client(ip="2001:db8:9:9::66")  # the owner's /64: an office, a cafe
        codes = [
            (await sign_in(attacker, secrets.token_hex(6), "guess")).status_code for _ in range(300)
        ]
        assert 429 in codes, "every random name had its password checked"
        assert codes.count(401) == POLICY.address_ceiling, codes
        assert codes.count(429) == 300 - POLICY.address_ceiling
        assert hasher.checks - checks_before == POLICY.address_ceiling
        assert await _throttle_rows(c) <= 2 * POLICY.address_ceiling + 1
        # The owner has signed in from here before: the neighbour's flood does not stop her.
        assert (await sign_in(owner, "rita", PASSWORD)).status_code == 303


async def test_the_clean_up_job_forgets_counts_no_window_can_use(settings, clock):
    async with console(settings, clock) as c:
        web = c.client()
        for n in range(3):
            assert (await sign_in(web, f"nobody{n}", "guess")).status_code == 401
        rows = await _throttle_rows(c)
        assert rows > 0
        settings_ = c.runtime.settings
        assert (await purge(c.runtime.storage, settings_, clock(), sensitive=()))[
            "login_throttle"
        ] == 0
        clock.advance(seconds=POLICY.window.total_seconds() + 1)
        assert (await purge(c.runtime.storage, settings_, clock(), sensitive=()))[
            "login_throttle"
        ] == rows
        assert await _throttle_rows(c) == 0
