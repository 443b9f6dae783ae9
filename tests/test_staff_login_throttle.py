"""Sign-in throttling under attack: parallel guesses, one noisy address, many addresses.

Regression tests for the hardening issue: 30 parallel sign-ins with 29 wrong passwords
all had their passwords checked (and the right one got in), and anyone who knew a user
name could lock that account for an hour.
"""

from __future__ import annotations

import asyncio

import httpx

from bot.staff.throttle import POLICY
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
        assert codes.count(429) == len(guesses) - len(checked)
        assert await _failures_audited(c) <= POLICY.free_per_client


async def test_parallel_guesses_from_many_addresses_stop_at_the_account_ceiling(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        per_address = POLICY.free_per_client
        addresses = POLICY.account_ceiling // per_address + 3
        clients = [c.client(ip=f"10.9.{n // 250}.{n % 250 + 1}") for n in range(addresses)]
        tokens = [await _login_form(web) for web in clients]
        codes = await asyncio.gather(
            *(
                _post(web, token, "rita", f"guess {i}")
                for web, token in zip(clients, tokens, strict=True)
                for i in range(per_address + 2)
            )
        )
        assert codes.count(401) == POLICY.account_ceiling
        # Throttled for everyone now, the owner included, until the window has passed.
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
