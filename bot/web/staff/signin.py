"""Checking a staff member's password: throttled, counted before it is checked, off the loop.

One write transaction reads the three counts (this account from this client, this client
for every name, this account from everywhere), lets bot/staff/throttle.py decide, and
stores the attempt as a failure before the password is verified; so thirty parallel
guesses cannot all slip in between a read and a write. A right password then credits the
attempt back. A browser that signed in to an account keeps a "known device" cookie (an
HMAC of the account id) that spares it the ceilings. Sign-in and the password change page
both come through here: they spend the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from bot.staff.passwords import Busy
from bot.staff.records import StaffUser
from bot.staff.throttle import POLICY, Verdict, client_of
from bot.storage.staff import StaffTx
from bot.web.staff.common import (
    client_ip,
    now_of,
    runtime_of,
    secure_cookies,
    sign,
    writing,
)

KNOWN_COOKIE = "govbot_known"
KNOWN_AT_MOST = 5  # accounts remembered by one browser (a shared desk)
KNOWN_FOR = timedelta(days=365)
BUSY = Verdict(False, retry_after=timedelta(seconds=5), scope="busy")


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


def _keys(request: Request, username: str) -> tuple[str, str, str]:
    """(this client for this account, this account, this client): keyed hashes, so the
    table holds neither user names (one may be a password typed into the wrong box) nor
    addresses."""
    name = username.strip().lower()
    client = client_of(client_ip(request))
    return (
        sign(request, "login-client", f"{name}\n{client}"),
        sign(request, "login-account", name),
        sign(request, "login-address", client),
    )


def _device_claim(user: StaffUser) -> str:
    """What a known-device mark vouches for: the account and its current password, so a
    password change (by its owner or an admin) makes every old mark worthless."""
    return f"{user.id}:{user.password_hash}"


def _known_marks(request: Request) -> list[str]:
    return (request.cookies.get(KNOWN_COOKIE) or "").split(".")[:KNOWN_AT_MOST]


def _known(request: Request, user: StaffUser | None) -> bool:
    """Whether this browser signed in to `user` before."""
    return user is not None and sign(request, "known-device", _device_claim(user)) in _known_marks(
        request
    )


def remember_device(request: Request, response: Response, user: StaffUser) -> None:
    """After a right password: this browser is a known device for `user` from now on."""
    mark = sign(request, "known-device", _device_claim(user))
    others = [m for m in _known_marks(request) if m and m != mark]
    response.set_cookie(
        KNOWN_COOKIE,
        ".".join([mark, *others][:KNOWN_AT_MOST]),
        max_age=int(KNOWN_FOR.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/staff",
    )


async def check_password(request: Request, username: str, password: str) -> Checked:
    now = now_of(request)
    client_key, account_key, address_key = _keys(request, username)
    try:
        with runtime_of(request).passwords.place() as place:
            async with writing(request) as db:
                user = await db.staff.by_username(username) if username else None
                verdict = POLICY.reserve(
                    await db.throttle.get(client_key),
                    await db.throttle.get(account_key),
                    now,
                    address=await db.throttle.get(address_key),
                    known=_known(request, user),
                )
                if not verdict.allowed:
                    return Checked(False, None, refused=verdict)
                await db.throttle.put(client_key, verdict.client)
                await db.throttle.put(account_key, verdict.account)
                await db.throttle.put(address_key, verdict.address)
            stored = user.password_hash if user else None
            ok = await place.verify(stored, password)
    except Busy:
        return Checked(False, None, refused=BUSY)
    return Checked(ok and user is not None, user)


async def credit(db: StaffTx, request: Request, username: str) -> None:
    """A right password: forget this client's failures on the account, and give the
    account and the client their try back."""
    now = now_of(request)
    client_key, account_key, address_key = _keys(request, username)
    await db.throttle.put(client_key, None)
    for key in (account_key, address_key):
        await db.throttle.put(key, POLICY.credit(await db.throttle.get(key), now))
