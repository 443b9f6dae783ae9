"""Passwords (Argon2id), API tokens and account creation shared by the CLI and the console."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.staff import keys as staff_keys
from bot.staff.records import ROLES, StaffUser
from bot.storage.staff import StaffTx

USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,40}$")
MIN_PASSWORD = 10

# Argon2id at OWASP's recommended floor (19 MiB, 2 passes, 1 lane): about 50 ms a sign-in.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against when the username does not exist, so timing does not tell names apart.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AccountError(ValueError):
    """A username, role or password that cannot be accepted; `msgid` explains it."""

    def __init__(self, msgid: str) -> None:
        super().__init__(msgid)
        self.msgid = msgid


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_new_account(username: str, role: str, password: str) -> None:
    if not USERNAME.fullmatch(username):
        raise AccountError("staff.accounts.bad_username")
    if role not in ROLES:
        raise AccountError("staff.accounts.bad_role")
    check_new_password(password)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError("staff.accounts.short_password")


async def add_account(
    db: StaffTx,
    username: str,
    role: str,
    password: str,
    *,
    locale: str,
    now: datetime,
    password_hash: str | None = None,
    endorsed: bool = False,
) -> StaffUser:
    """Create an account. The web app passes `password_hash`, made off the event loop
    (bot/staff/passwords.py) before the write transaction; the CLI lets it be made here.
    An investigator's key receives tips only if `endorsed`: the server's shell may say so,
    the console's admin may not (an investigator grants it on /staff/keys)."""
    check_new_account(username, role, password)
    if await db.staff.by_username(username) is not None:
        raise AccountError("staff.accounts.exists")
    created = await db.staff.add(
        username,
        password_hash=password_hash or hash_password(password),
        role=role,
        locale=locale,
        now=now,
    )
    if role == staff_keys.INVESTIGATOR:
        pair = await staff_keys.new_pair(created.id, password, made_by=staff_keys.NEW_ACCOUNT)
        await pair.store(db, now=now)
        if endorsed:
            await db.staff.endorse(created.id, pair.public)
    return created


def new_api_token() -> tuple[str, str]:
    """(token shown once to the admin, hash that is stored)."""
    token = "gbt_" + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
