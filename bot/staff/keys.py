"""An investigator's key pair: it opens the tips wrapped for them (bot/sealed_tips.py).

The private half is stored wrapped under Argon2id of the investigator's password, so an
admin who resets that password gets a new, empty key pair for the account, not the old
one. New tips are sealed only to **endorsed** keys: a key the console made where an admin
could have chosen the password (a new account, an admin's reset, a first sign-in after a
role change) receives nothing until someone already trusted with tips grants it access
(an investigator on /staff/keys, or `govbot keys grant` with the recovery key). The
server's shell (`govbot staff add`) endorses directly: whoever has it chooses recipients
anyway. An investigator's own password change re-wraps the same, still endorsed, key.

At sign-in the password opens the private half, which is then kept for that session
only, wrapped under a key derived from the session cookie (the database has only the
cookie's hash). Argon2id takes tens of milliseconds: these functions run it in a worker
thread, before the caller's write transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from bot import sealing
from bot.i18n import TIMEZONE
from bot.staff.records import StaffUser
from bot.storage.staff import StaffTx
from bot.storage.tips import staff_holder

INVESTIGATOR = "investigator"
# How a key pair came to be, shown to the investigator asked to endorse it.
NEW_ACCOUNT, ADMIN_RESET, FIRST_SIGN_IN = "account", "reset", "sign-in"


def _context(staff_id: int) -> bytes:
    return f"staff-key:{staff_id}".encode()


@dataclass(frozen=True, slots=True)
class KeyPair:
    staff_id: int
    private: bytes
    public: bytes
    wrapped: bytes  # the private half under the password
    made_by: str | None = None  # a new pair: NEW_ACCOUNT, ADMIN_RESET or FIRST_SIGN_IN

    async def store(self, db: StaffTx, *, now: datetime) -> None:
        """Unendorsed if the key is new; a re-wrapped key keeps what it had."""
        made_on = now.astimezone(TIMEZONE).date()
        await db.staff.set_key(
            self.staff_id, self.public, self.wrapped, made_by=self.made_by, made_on=made_on
        )


async def new_pair(staff_id: int, password: str, *, made_by: str) -> KeyPair:
    private, public = sealing.new_key_pair()
    wrapped = await asyncio.to_thread(
        sealing.wrap_with_secret, password, private, context=_context(staff_id)
    )
    return KeyPair(staff_id, private, public, wrapped, made_by)


async def open_pair(db: StaffTx, user: StaffUser, password: str) -> KeyPair | None:
    """At sign-in: an investigator's pair opened by their (already checked) password, or a
    new one if the account has none yet (store it). None for other roles."""
    if user.role != INVESTIGATOR:
        return None
    stored = await db.staff.key(user.id)
    if stored is None:
        return await new_pair(user.id, password, made_by=FIRST_SIGN_IN)
    public, wrapped = stored
    try:
        private = await asyncio.to_thread(
            sealing.unwrap_with_secret, password, wrapped, context=_context(user.id)
        )
    except sealing.SealError:
        return None  # cannot happen with the right password; the account reads nothing
    return KeyPair(user.id, private, public, wrapped)


async def rewrap(pair: KeyPair, new_password: str) -> KeyPair:
    """The owner changed their password: the same pair, wrapped under the new one."""
    wrapped = await asyncio.to_thread(
        sealing.wrap_with_secret, new_password, pair.private, context=_context(pair.staff_id)
    )
    return KeyPair(pair.staff_id, pair.private, pair.public, wrapped, pair.made_by)


async def replace(db: StaffTx, pair: KeyPair, *, now: datetime) -> int:
    """An admin reset the password: the account's new, unendorsed pair replaces the old
    one, and the tips wrapped for the old one are forgotten. Returns how many were."""
    await pair.store(db, now=now)
    dropped: int = await db.tx.tips.drop_keys(staff_holder(pair.staff_id))
    return dropped


def for_session(session_secret: str, private: bytes) -> bytes:
    return sealing.wrap(sealing.session_key(session_secret), private, context=b"session")


async def from_session(db: StaffTx, id_hash: str, session_secret: str) -> bytes | None:
    """The signed-in investigator's private key, opened with the session cookie's secret."""
    wrapped = await db.staff.session_key(id_hash)
    if wrapped is None:
        return None
    try:
        return sealing.unwrap(sealing.session_key(session_secret), wrapped, context=b"session")
    except sealing.SealError:
        return None
