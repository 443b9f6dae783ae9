"""A citizen known by more than one key (a WhatsApp user's number and BSUID): linking the
keys, and merging the rows of one citizen that a message shows to be the same person.

`citizens.chat_hash` is the key the citizen last wrote from, where answers go; the other
keys are rows of `citizen_keys` (migration 020), hashed and encrypted alike. When a message
names keys that belong to several rows (the BSUID wrote first while the number had a row of
its own), they become one, in the step's transaction, deterministically: the oldest row
(lowest id) stays and takes over the others' tickets, messages, deliveries and keys; the
settings and the conversation are those of the row the citizen used last. Afterwards every
key finds that row, so a merge happens once.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence

from bot.crypto import DataCipher
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect
from bot.storage.sql.session_codec import SessionCodec
from bot.whatsapp_ids import BSUID, PHONE

log = logging.getLogger(__name__)

# Every table that points at a citizen, but sessions (one per citizen, chosen below) and
# campaign deliveries (one per run and citizen, merged below).
_OWNED = ("tickets", "outbox")


def settled(rows: Sequence[sqlite3.Row], hashes: Sequence[Sequence[str]]) -> bool:
    """Whether the rows found for a message's keys (`hashes[0]`: its From, every version's
    hash; the rest: its linked keys) are one citizen keyed by From who holds the rest.
    Each row carries `linked`, its citizen_keys hashes joined by spaces."""
    if len(rows) != 1:
        return False
    row = rows[0]
    if row["chat_hash"] not in hashes[0]:
        return False
    held = set((row["linked"] or "").split())
    return all(held.intersection(key_hashes) for key_hashes in hashes[1:])


class KeyLinker:
    """The statements behind linking and merging, on the step's connection."""

    def __init__(
        self, conn: Database, cipher: DataCipher, codec: SessionCodec, dialect: Dialect = SQLITE
    ) -> None:
        self._conn = conn
        self._cipher = cipher
        self._codec = codec
        self._dialect = dialect

    async def settle(
        self,
        channel: str,
        keys: Sequence[str],
        hashes: Sequence[Sequence[str]],
        rows: Sequence[sqlite3.Row],
    ) -> None:
        """Make `rows` (found for `keys`, oldest first) one citizen keyed by keys[0] who
        holds the other keys too."""
        survivor = rows[0]
        if len(rows) > 1:
            await self._merge(rows)
        if survivor["chat_hash"] not in hashes[0]:
            await self._make_main(channel, survivor["id"], keys[0], hashes[0])
        await self.attach(channel, survivor["id"], keys[1:], hashes[1:])

    async def release_handed_over(
        self, channel: str, keys: Sequence[str], rows: Sequence[sqlite3.Row]
    ) -> bool:
        """A number that comes with a BSUID other than the one its citizen already holds
        has changed hands (a recycled number, a new WhatsApp account: Meta gives another
        account another BSUID). It leaves that citizen, who keeps their own BSUID, tickets
        and news; the new owner starts afresh. Returns whether any number was released."""
        numbers = {key for key in keys if PHONE.fullmatch(key)}
        ids = {key for key in keys if BSUID.fullmatch(key)}
        if not numbers or not ids:
            return False
        released = False
        for row in rows:
            held = await self._keys_of(row)
            theirs = {key for key in held if BSUID.fullmatch(key)}
            for number in numbers & held.keys():
                if not theirs or theirs & ids:
                    continue  # no id yet, or the same person: linking is right
                if held[number] is None:  # the number is where answers go: the id is now
                    own = sorted(theirs)[0]
                    await self._make_main(channel, row["id"], own, [held[own] or ""])
                number_hash = self._cipher.keyed_hash(f"{channel}:{number}", purpose="citizen")
                await self._conn.execute(
                    "DELETE FROM citizen_keys WHERE channel = ? AND citizen_id = ?"
                    " AND key_hash IN (?, ?)",
                    (channel, row["id"], number_hash, held[number] or number_hash),
                )
                log.info("a number changed hands: released from citizen %d", row["id"])
                released = True
        return released

    async def _keys_of(self, row: sqlite3.Row) -> dict[str, str | None]:
        """The citizen's keys in clear: each linked one with its stored hash, the main one
        (where answers go) with None."""
        keys: dict[str, str | None] = {self._open(row["address"]): None}
        linked = await self._conn.execute_fetchall(
            "SELECT key_hash, address FROM citizen_keys WHERE citizen_id = ?", (row["id"],)
        )
        for key_hash, address in linked:
            keys[self._open(address)] = key_hash
        return keys

    def _open(self, address: bytes) -> str:
        return self._cipher.decrypt(address, context=b"citizen").decode()

    async def attach(
        self,
        channel: str,
        citizen_id: int,
        keys: Sequence[str],
        hashes: Sequence[Sequence[str]],
    ) -> None:
        """Link `keys` to the citizen, each unless a row holds it already (under any key
        version's hash; the step holds every key's lock, so nobody links it meanwhile)."""
        for key, key_hashes in zip(keys, hashes, strict=True):
            marks = ",".join("?" * len(key_hashes))
            held = await self._conn.execute_fetchall(
                f"SELECT 1 FROM citizen_keys WHERE channel = ? AND key_hash IN ({marks})",
                (channel, *key_hashes),
            )
            if list(held):
                continue
            await self._conn.execute(
                "INSERT INTO citizen_keys (channel, key_hash, address, citizen_id)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (channel, key_hash) DO NOTHING",
                (
                    channel,
                    self._cipher.keyed_hash(f"{channel}:{key}", purpose="citizen"),
                    self._cipher.encrypt(key.encode(), context=b"citizen"),
                    citizen_id,
                ),
            )

    async def _make_main(
        self, channel: str, citizen_id: int, key: str, key_hashes: Sequence[str]
    ) -> None:
        """`key` (the one the citizen writes from now) becomes the citizen's main key, where
        answers go; the main key so far joins the linked ones."""
        marks = ",".join("?" * len(key_hashes))
        await self._conn.execute(
            f"DELETE FROM citizen_keys WHERE channel = ? AND key_hash IN ({marks})",
            (channel, *key_hashes),
        )
        await self._conn.execute(
            "INSERT INTO citizen_keys (channel, key_hash, address, citizen_id)"
            " SELECT channel, chat_hash, address, id FROM citizens WHERE id = ?",
            (citizen_id,),
        )
        await self._conn.execute(
            "UPDATE citizens SET chat_hash = ?, address = ? WHERE id = ?",
            (
                self._cipher.keyed_hash(f"{channel}:{key}", purpose="citizen"),
                self._cipher.encrypt(key.encode(), context=b"citizen"),
                citizen_id,
            ),
        )

    async def _merge(self, rows: Sequence[sqlite3.Row]) -> None:
        """Fold rows[1:] into rows[0] (the oldest), then delete them."""
        survivor = rows[0]["id"]
        losers = [row["id"] for row in rows[1:]]
        for loser in losers:
            for table in _OWNED:
                await self._conn.execute(
                    f"UPDATE {table} SET citizen_id = ? WHERE citizen_id = ?", (survivor, loser)
                )
            # A run that reached both rows reached one person twice: one delivery stays.
            await self._conn.execute(
                "UPDATE campaign_deliveries SET citizen_id = ? WHERE citizen_id = ?"
                " AND NOT EXISTS (SELECT 1 FROM campaign_deliveries o"
                " WHERE o.run_id = campaign_deliveries.run_id AND o.citizen_id = ?)",
                (survivor, loser, survivor),
            )
            await self._conn.execute(
                "DELETE FROM campaign_deliveries WHERE citizen_id = ?", (loser,)
            )
            await self._conn.execute(
                "UPDATE citizen_keys SET citizen_id = ? WHERE citizen_id = ?", (survivor, loser)
            )
            await self._conn.execute(
                "INSERT INTO citizen_keys (channel, key_hash, address, citizen_id)"
                " SELECT channel, chat_hash, address, CAST(? AS BIGINT) FROM citizens WHERE id = ?",
                (survivor, loser),
            )
        talked = [row for row in rows if row["s_flow"] is not None]
        if talked:
            kept = max(talked, key=lambda row: (row["s_updated_at"] or "", row["id"]))["id"]
            if kept != survivor:
                await self._conn.execute("DELETE FROM sessions WHERE citizen_id = ?", (survivor,))
                await self._conn.execute(
                    "UPDATE sessions SET citizen_id = ? WHERE citizen_id = ?", (survivor, kept)
                )
        for row in rows:
            self._codec.forget(row["id"])
        await self._conn.execute(
            "UPDATE citizens SET locale = ?, region = ?, subscribed = ?, sub_regions = ?,"
            " unreachable = ?, last_inbound_at = ?, news_chosen_at = ? WHERE id = ?",
            (*merged_settings(rows), survivor),
        )
        marks = ",".join("?" * len(losers))
        # Their other sessions go with them (ON DELETE CASCADE).
        await self._conn.execute(f"DELETE FROM citizens WHERE id IN ({marks})", losers)
        log.info("citizen rows %s merged into %d: one citizen, several keys", losers, survivor)


def merged_settings(rows: Sequence[sqlite3.Row]) -> tuple[object, ...]:
    """(locale, region, subscribed, sub_regions, unreachable, last_inbound_at, news_chosen_at)
    of one citizen known by `rows`: what the row used last says, where it says anything.
    News as the citizen last chose under any key (an "unsubscribe" is not undone by an older
    "subscribe"); with no dated choice, news if any row had them, for every region one of
    the subscribed rows chose ('[]': all of them)."""
    recent = sorted(rows, key=lambda row: (row["last_inbound_at"] or "", row["id"]), reverse=True)
    chosen_at = [row for row in rows if row["news_chosen_at"]]
    if chosen_at:
        recent_choice = max(chosen_at, key=lambda row: (row["news_chosen_at"], row["id"]))
        subscribed = [recent_choice] if recent_choice["subscribed"] else []
    else:
        subscribed = [row for row in recent if row["subscribed"]]
    regions: list[str] = []
    for row in subscribed or recent[:1]:
        chosen = json.loads(row["sub_regions"])
        if subscribed and not chosen:
            regions = []
            break
        regions += [region for region in chosen if region not in regions]
    return (
        next((row["locale"] for row in recent if row["locale"]), None),
        next((row["region"] for row in recent if row["region"]), None),
        int(bool(subscribed)),
        json.dumps(regions),
        int(all(row["unreachable"] for row in rows)),
        recent[0]["last_inbound_at"],
        max((row["news_chosen_at"] for row in chosen_at), default=None),
    )
