"""Checking a staff member's password: throttled, counted before it is checked, off the loop.

One write transaction reads both counts (this account from this address, and this
account from everywhere), lets bot/staff/throttle.py decide, and stores the attempt as a
failure before the password is verified; so thirty parallel guesses cannot all slip in
between a read and a write. A right password then credits the attempt back. Sign-in and
the password change page both come through here: they spend the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request

from bot.staff.records import StaffUser
from bot.staff.throttle import POLICY, Verdict
from bot.storage.sqlite.console import StaffTx
from bot.web.staff.common import client_ip, now_of, runtime_of, sign, writing


@dataclass(frozen=True, slots=True)
class Checked:
    """`ok`: the password is right for `user`. `refused`: not checked at all (throttled)."""

    ok: bool
    user: StaffUser | None
    refused: Verdict | None = None

    @property
    def wait_minutes(self) -> int:
        wait = self.refused.retry_after if self.refused else timedelta(0)
        return max(1, -(-int(wait.total_seconds()) // 60))


def _keys(request: Request, username: str) -> tuple[str, str]:
    """(this address for this account, this account): keyed hashes, so the table holds
    neither user names (one may be a password typed into the wrong box) nor addresses."""
    name = username.strip().lower()
    client = f"{name}\n{client_ip(request) or '-'}"
    return sign(request, "login-client", client), sign(request, "login-account", name)


async def check_password(request: Request, username: str, password: str) -> Checked:
    now = now_of(request)
    client_key, account_key = _keys(request, username)
    async with writing(request) as db:
        verdict = POLICY.reserve(
            await db.throttle.get(client_key), await db.throttle.get(account_key), now
        )
        if not verdict.allowed:
            return Checked(False, None, refused=verdict)
        await db.throttle.put(client_key, verdict.client)
        await db.throttle.put(account_key, verdict.account)
        user = await db.staff.by_username(username) if username else None
    stored = user.password_hash if user else None
    ok = await runtime_of(request).passwords.verify(stored, password)
    return Checked(ok and user is not None, user)


async def credit(db: StaffTx, request: Request, username: str) -> None:
    """A right password: forget this address's failures and give the account its try back."""
    now = now_of(request)
    client_key, account_key = _keys(request, username)
    await db.throttle.put(client_key, None)
    await db.throttle.put(account_key, POLICY.credit(await db.throttle.get(account_key), now))
    # Sign-ins that succeed are rare next to guesses: a good moment to drop dead counts.
    await db.throttle.purge_before(now - POLICY.window)
