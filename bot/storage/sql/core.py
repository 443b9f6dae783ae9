"""Citizens, conversation sessions, processed external ids and lookup throttling."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache

from bot.crypto import DataCipher
from bot.storage.records import Citizen, SessionRecord, SessionReply
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect
from bot.storage.sql.linked_keys import KeyLinker, settled
from bot.storage.sql.locks import lock_names
from bot.storage.sql.session_codec import SessionCodec

LOOKUP_WINDOW = timedelta(minutes=15)
_REPLY_CONTEXT = b"session-reply"


def ts(value: datetime) -> str:
    return value.isoformat()


def parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def insert_id(conn: Database, sql: str, parameters: Sequence[object]) -> int:
    """Run an INSERT ... RETURNING id and return the id (both backends; no lastrowid)."""
    rows = list(await conn.execute_fetchall(sql, parameters))
    return int(rows[0][0])


def citizen_from_row(row: sqlite3.Row, cipher: DataCipher, chat_key: str | None = None) -> Citizen:
    """A citizen from its row; `chat_key` when the caller found the row by it (the keyed
    hash matched), which spares decrypting the stored address."""
    sub_regions = row["sub_regions"]
    return Citizen(
        id=row["id"],
        channel=row["channel"],
        chat_key=(
            chat_key
            if chat_key is not None
            else cipher.decrypt(row["address"], context=b"citizen").decode()
        ),
        locale=row["locale"],
        region=row["region"],
        subscribed=bool(row["subscribed"]),
        sub_regions=() if sub_regions == "[]" else tuple(json.loads(sub_regions)),
        unreachable=bool(row["unreachable"]),
        last_inbound_at=parse_ts(row["last_inbound_at"]),
        news_chosen_at=parse_ts(row["news_chosen_at"]),
    )


@cache
def _main_key_sql(hashes: int, dialect: Dialect) -> str:
    marks = ",".join("?" * hashes)
    return (
        "SELECT c.*, s.flow AS s_flow, s.state AS s_state, s.data AS s_data,"
        " s.updated_at AS s_updated_at, NULL AS linked"
        " FROM citizens c LEFT JOIN sessions s ON s.citizen_id = c.id"
        f" WHERE c.channel = ? AND c.chat_hash IN ({marks}) ORDER BY c.id"
        + dialect.for_update_of("c")
    )


@cache
def _matching_sql(hashes: int, linked: bool, dialect: Dialect) -> str:
    """The rows for a message's keys; with `linked`, each row's linked keys too (only a
    message that names more than one key needs them: `settled` compares them)."""
    marks = ",".join("?" * hashes)
    held = (
        f"(SELECT {dialect.string_agg('k.key_hash', ' ')} FROM citizen_keys k"
        " WHERE k.citizen_id = c.id)"
        if linked
        else "NULL"
    )
    return (
        "SELECT c.*, s.flow AS s_flow, s.state AS s_state, s.data AS s_data,"
        f" s.updated_at AS s_updated_at, {held} AS linked"
        " FROM citizens c LEFT JOIN sessions s ON s.citizen_id = c.id"
        f" WHERE c.id IN (SELECT id FROM citizens WHERE channel = ? AND chat_hash IN ({marks})"
        f" UNION SELECT citizen_id FROM citizen_keys WHERE channel = ? AND key_hash IN ({marks}))"
        " ORDER BY c.id" + dialect.for_update_of("c")
    )


# A citizen who blocked the bot: not tried again, and off every campaign's audience.
MARK_BLOCKED = "UPDATE citizens SET unreachable = 1, subscribed = 0 WHERE id = ?"


class SqlCitizenStore:
    """Citizens by channel and chat key; the key itself is only kept hashed and encrypted.
    A citizen may hold several keys (bot/storage/sql/linked_keys.py).

    On PostgreSQL a step's unit first takes the advisory lock of every key it names (one
    chat's steps run one at a time across instances; a unit from outside a step takes the
    same locks with `hold`), then reads the citizen's row FOR UPDATE, so that a unit that
    changes the row alone (marking it blocked) and the step do not undo each other."""

    def __init__(
        self,
        conn: Database,
        cipher: DataCipher,
        codec: SessionCodec | None = None,
        dialect: Dialect = SQLITE,
    ) -> None:
        self._conn = conn
        self._cipher = cipher
        self._codec = codec or SessionCodec(cipher)
        self._dialect = dialect
        self._links = KeyLinker(conn, cipher, self._codec, dialect)

    async def _lock_chats(self, channel: str, keys: Sequence[str]) -> None:
        names = [self._lock_name(channel, key) for key in keys]
        await lock_names(self._conn, self._dialect, names)

    def _lock_name(self, channel: str, key: str) -> str:
        return "chat:" + self._cipher.keyed_hash(f"{channel}:{key}", purpose="citizen")

    async def hold(self, citizen_id: int) -> None:
        """Take the locks of the citizen's chats until the unit ends, as their steps do:
        a unit that changes the session or outbox from outside a step (staff answering, a
        closing's question) and the chat's own steps then run one after the other, and
        what either reads afterwards is what the other committed. (The locks go by the
        keys' current hashes, so the addresses are opened: stored hashes may be older.)"""
        if self._dialect.advisory_lock(1) is None:
            return
        rows = await self._conn.execute_fetchall(
            "SELECT channel, address FROM citizens WHERE id = ?"
            " UNION ALL SELECT channel, address FROM citizen_keys WHERE citizen_id = ?",
            (citizen_id, citizen_id),
        )
        names = [
            self._lock_name(row[0], self._cipher.decrypt(row[1], context=b"citizen").decode())
            for row in rows
        ]
        await lock_names(self._conn, self._dialect, names)

    async def get_or_create(
        self, channel: str, chat_key: str, *, now: datetime
    ) -> tuple[Citizen, bool]:
        await self._lock_chats(channel, [chat_key])
        found = await self.find(channel, chat_key)
        if found is not None:
            return found, False
        return await self._create(channel, chat_key, now=now), True

    async def get_or_create_with_session(
        self, channel: str, chat_key: str, *, now: datetime, linked: Sequence[str] = ()
    ) -> tuple[Citizen, bool, SessionRecord | None]:
        """The citizen (created if new) and their session, read in one statement. `linked`:
        other keys of the same chat; a citizen found by any key is the one, keyed by
        `chat_key` from now on, and rows found by several are merged into one (then a few
        statements more, once)."""
        keys = (chat_key, *linked)
        await self._lock_chats(channel, keys)
        hashes = [self._hashes(channel, key) for key in keys]
        rows = await self._matching(channel, hashes)
        unsettled = rows and not settled(rows, hashes)
        if unsettled and await self._links.release_handed_over(channel, keys, rows):
            rows = await self._matching(channel, hashes)
        if not rows:
            citizen = await self._create(channel, chat_key, now=now)
            await self._links.attach(channel, citizen.id, keys[1:], hashes[1:])
            return citizen, True, None
        if not settled(rows, hashes):
            await self._links.settle(channel, keys, hashes, rows)
            rows = await self._matching(channel, hashes)
        row = rows[0]
        citizen = citizen_from_row(row, self._cipher, chat_key)
        if row["s_flow"] is None:
            return citizen, False, None
        session = SessionRecord(
            citizen_id=citizen.id,
            flow=row["s_flow"],
            state=row["s_state"],
            data=self._codec.decode(citizen.id, row["s_data"]),
            updated_at=parse_ts(row["s_updated_at"]),
        )
        return citizen, False, session

    def _hashes(self, channel: str, chat_key: str) -> list[str]:
        # Every key version's hash, so citizens stay found after DATA_KEY rotates.
        return self._cipher.keyed_hashes(f"{channel}:{chat_key}", "citizen")

    async def _matching(self, channel: str, hashes: Sequence[Sequence[str]]) -> list[sqlite3.Row]:
        """The rows holding any of `hashes` as their key or a linked one, oldest first, each
        with its session and its linked keys' hashes; one trip to the connection."""
        flat = [value for key_hashes in hashes for value in key_hashes]
        if len(hashes) == 1:
            # The common message names one key, which is almost always a citizen's main
            # key: found by it alone, without the search of the linked keys.
            sql = _main_key_sql(len(flat), self._dialect)
            rows = await self._conn.execute_fetchall(sql, (channel, *flat))
            if rows:
                return list(rows)
        sql = _matching_sql(len(flat), len(hashes) > 1, self._dialect)
        rows = await self._conn.execute_fetchall(sql, (channel, *flat) * 2)
        return list(rows)

    async def _create(self, channel: str, chat_key: str, *, now: datetime) -> Citizen:
        address = self._cipher.encrypt(chat_key.encode(), context=b"citizen")
        citizen_id = await insert_id(
            self._conn,
            "INSERT INTO citizens (channel, chat_hash, address, created_at) VALUES (?, ?, ?, ?)"
            " RETURNING id",
            (
                channel,
                self._cipher.keyed_hash(f"{channel}:{chat_key}", purpose="citizen"),
                address,
                ts(now),
            ),
        )
        return Citizen(id=citizen_id, channel=channel, chat_key=chat_key, locale=None)

    async def find(self, channel: str, chat_key: str) -> Citizen | None:
        """The citizen holding `chat_key`, as their key or a linked one; the chat key of the
        citizen returned is the one answers go to."""
        rows = await self._matching(channel, [self._hashes(channel, chat_key)])
        if not rows:
            return None
        row = rows[0]
        linked = row["chat_hash"] not in self._hashes(channel, chat_key)
        return citizen_from_row(row, self._cipher, None if linked else chat_key)

    async def get(self, citizen_id: int) -> Citizen | None:
        async with self._conn.execute("SELECT * FROM citizens WHERE id = ?", (citizen_id,)) as cur:
            row = await cur.fetchone()
        return citizen_from_row(row, self._cipher) if row else None

    async def mark_blocked(self, citizen_id: int) -> None:
        """The platform said the citizen blocked the bot (or cannot get our messages)."""
        await self._conn.execute(MARK_BLOCKED, (citizen_id,))

    async def save(self, citizen: Citizen) -> None:
        sql = (
            "UPDATE citizens SET locale = ?, region = ?, subscribed = ?, sub_regions = ?,"
            " unreachable = ?, last_inbound_at = ?, news_chosen_at = ? WHERE id = ?"
        )
        params = (
            citizen.locale,
            citizen.region,
            int(citizen.subscribed),
            json.dumps(list(citizen.sub_regions)),
            int(citizen.unreachable),
            ts(citizen.last_inbound_at) if citizen.last_inbound_at else None,
            ts(citizen.news_chosen_at) if citizen.news_chosen_at else None,
            citizen.id,
        )
        await self._conn.execute(sql, params)


class SqlSessionStore:
    """Session data is encrypted: drafts carry names, IINs and unsent tip text."""

    def __init__(
        self, conn: Database, cipher: DataCipher, codec: SessionCodec | None = None
    ) -> None:
        self._conn = conn
        self._cipher = cipher
        self._codec = codec or SessionCodec(cipher)

    async def load(self, citizen_id: int) -> SessionRecord | None:
        rows = await self._conn.execute_fetchall(
            "SELECT * FROM sessions WHERE citizen_id = ?", (citizen_id,)
        )
        if not rows:
            return None
        row = next(iter(rows))
        return SessionRecord(
            citizen_id=citizen_id,
            flow=row["flow"],
            state=row["state"],
            data=self._codec.decode(citizen_id, row["data"]),
            updated_at=parse_ts(row["updated_at"]),
        )

    async def save(
        self, record: SessionRecord, *, now: datetime, reply: SessionReply | None = None
    ) -> None:
        """Save the state, and with it the step's answer (`reply`), or none."""
        sealed = self._codec.encode(record.citizen_id, record.data)
        sql = (
            "INSERT INTO sessions (citizen_id, flow, state, data, updated_at, reply,"
            " reply_key, reply_seq, reply_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (citizen_id) DO UPDATE SET"
            " flow = excluded.flow, state = excluded.state, data = excluded.data,"
            " updated_at = excluded.updated_at, reply = excluded.reply,"
            " reply_key = excluded.reply_key, reply_seq = excluded.reply_seq,"
            " reply_by = excluded.reply_by"
        )
        params = (
            record.citizen_id,
            record.flow,
            record.state,
            sealed,
            ts(now),
            self._seal_reply(reply.payload) if reply else None,
            reply.key if reply else None,
            reply.seq if reply else None,
            reply.by if reply else None,
        )
        await self._conn.execute(sql, params)
        record.updated_at = now

    async def reply(self, citizen_id: int) -> SessionReply | None:
        """The answer kept with the session, if it still has one."""
        rows = await self._conn.execute_fetchall(
            "SELECT reply, reply_key, reply_seq FROM sessions"
            " WHERE citizen_id = ? AND reply IS NOT NULL",
            (citizen_id,),
        )
        for row in rows:
            return SessionReply(self._open_reply(row[0]), row[1], row[2])
        return None

    async def replies_after(
        self, seq: int, *, by: str | None = None
    ) -> list[tuple[int, SessionReply]]:
        """(citizen id, answer) of every session whose answer came after `seq`; with `by`,
        of the answers that instance numbered."""
        mine = "" if by is None else " AND reply_by = ?"
        rows = await self._conn.execute_fetchall(
            "SELECT citizen_id, reply, reply_key, reply_seq FROM sessions"
            f" WHERE reply_seq > ? AND reply IS NOT NULL{mine} ORDER BY reply_seq",
            (seq,) if by is None else (seq, by),
        )
        return [(row[0], SessionReply(self._open_reply(row[1]), row[2], row[3])) for row in rows]

    async def drop_replies(self, citizen_ids: list[int], *, by: str | None = None) -> None:
        """Forget the kept answers (handed to the outbox); with `by`, only that instance's:
        a step elsewhere may have kept a newer one since."""
        mine = "" if by is None else " AND reply_by = ?"
        await self._conn.executemany(
            "UPDATE sessions SET reply = NULL, reply_key = NULL, reply_seq = NULL"
            f" WHERE citizen_id = ?{mine}",
            [(citizen_id,) if by is None else (citizen_id, by) for citizen_id in citizen_ids],
        )

    async def last_reply_seq(self) -> int:
        rows = await self._conn.execute_fetchall("SELECT max(reply_seq) FROM sessions")
        return next((int(row[0]) for row in rows if row[0] is not None), 0)

    async def reply_watermark(self, *, by: str | None = None) -> int | None:
        """Every answer up to this sequence number was sent (None: never recorded); with
        `by`, every answer that instance numbered."""
        if by is None:
            rows = await self._conn.execute_fetchall("SELECT sent_to FROM reply_watermark")
        else:
            rows = await self._conn.execute_fetchall(
                "SELECT sent_to FROM reply_watermarks WHERE holder = ?", (by,)
            )
        return next((int(row[0]) for row in rows), None)

    async def set_reply_watermark(
        self, seq: int, *, by: str | None = None, keep: bool = False
    ) -> None:
        """`keep`: only if the instance has none yet (its first answer registers it)."""
        if by is None:
            sql = (
                "INSERT INTO reply_watermark (id, sent_to) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET sent_to = excluded.sent_to"
            )
            await self._conn.execute(sql, (seq,))
            return
        update = "NOTHING" if keep else "UPDATE SET sent_to = excluded.sent_to"
        await self._conn.execute(
            "INSERT INTO reply_watermarks (holder, sent_to) VALUES (?, ?)"
            f" ON CONFLICT (holder) DO {update}",
            (by, seq),
        )

    async def reply_holders(self) -> set[str]:
        """The instances that recorded a watermark and have not been forgotten."""
        rows = await self._conn.execute_fetchall("SELECT holder FROM reply_watermarks")
        return {str(row[0]) for row in rows}

    async def take_reply_holder(self, by: str) -> int | None:
        """Claim a dead instance's answers: its watermark, removed; None when another
        instance claimed them first (on PostgreSQL the second waits, then finds none)."""
        rows = await self._conn.execute_fetchall(
            "DELETE FROM reply_watermarks WHERE holder = ? RETURNING sent_to", (by,)
        )
        return next((int(row[0]) for row in rows), None)

    def _seal_reply(self, payload: bytes) -> bytes:
        return self._cipher.encrypt(payload, context=_REPLY_CONTEXT)

    def _open_reply(self, sealed: bytes) -> bytes:
        return self._cipher.decrypt(sealed, context=_REPLY_CONTEXT)

    async def delete(self, citizen_id: int) -> None:
        self._codec.forget(citizen_id)
        await self._conn.execute("DELETE FROM sessions WHERE citizen_id = ?", (citizen_id,))

    async def count_since(self, since: datetime) -> int:
        async with self._conn.execute(
            "SELECT count(*) FROM sessions WHERE updated_at >= ?", (ts(since),)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def purge_before(
        self, before: datetime, *, flows: tuple[str, ...] = (), keep: tuple[str, ...] = ()
    ) -> int:
        """Delete sessions idle since `before` (only those in `flows`, when given; never
        those in `keep`)."""
        self._codec.forget_all()
        sql, params = "DELETE FROM sessions WHERE updated_at < ?", [ts(before)]
        if flows:
            sql += f" AND flow IN ({','.join('?' * len(flows))})"
            params += flows
        if keep:
            sql += f" AND flow NOT IN ({','.join('?' * len(keep))})"
            params += keep
        cur = await self._conn.execute(sql, params)
        return cur.rowcount


class SqlProcessedStore:
    def __init__(self, conn: Database) -> None:
        self._conn = conn

    async def seen(self, key: str) -> bool:
        rows = await self._conn.execute_fetchall(
            "SELECT 1 FROM processed_ids WHERE key = ?", (key,)
        )
        return bool(rows)

    async def claim(self, key: str, *, now: datetime) -> bool:
        """Mark `key` processed; False if it already was (one statement instead of two).
        The unique key decides: of two units claiming at once, one gets its row back."""
        sql = (
            "INSERT INTO processed_ids (key, processed_at) VALUES (?, ?)"
            " ON CONFLICT (key) DO NOTHING RETURNING key"
        )
        return bool(list(await self._conn.execute_fetchall(sql, (key, ts(now)))))

    async def mark(self, key: str, *, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO processed_ids (key, processed_at) VALUES (?, ?)"
            " ON CONFLICT (key) DO NOTHING",
            (key, ts(now)),
        )

    async def purge_before(self, before: datetime) -> int:
        cur = await self._conn.execute(
            "DELETE FROM processed_ids WHERE processed_at < ?", (ts(before),)
        )
        return cur.rowcount


class SqlLookupGuard:
    """Failures per key in a sliding window; 5 free tries, then a lock that doubles. A
    failure reads the count and writes it back under the key's advisory lock, so failures
    counted at once on several instances are each counted."""

    FREE_TRIES = 5

    def __init__(self, conn: Database, dialect: Dialect = SQLITE) -> None:
        self._conn = conn
        self._dialect = dialect

    async def locked_until(self, key: str, *, now: datetime) -> datetime | None:
        async with self._conn.execute(
            "SELECT locked_until FROM lookup_attempts WHERE key = ?", (key,)
        ) as cur:
            row = await cur.fetchone()
        until = parse_ts(row[0]) if row else None
        return until if until and until > now else None

    async def failure(self, key: str, *, now: datetime) -> int:
        await lock_names(self._conn, self._dialect, [f"lookup:{key}"])
        async with self._conn.execute(
            "SELECT failures, window_start FROM lookup_attempts WHERE key = ?", (key,)
        ) as cur:
            row = await cur.fetchone()
        failures = 1
        start = now
        if row is not None:
            started = parse_ts(row[1])
            if started and now - started < LOOKUP_WINDOW * 8:
                failures, start = row[0] + 1, started
        locked = None
        if failures >= self.FREE_TRIES:
            locked = now + timedelta(minutes=2 ** min(failures - self.FREE_TRIES, 10))
        await self._conn.execute(
            "INSERT INTO lookup_attempts (key, failures, window_start, locked_until)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,"
            " window_start = excluded.window_start, locked_until = excluded.locked_until",
            (key, failures, ts(start), ts(locked) if locked else None),
        )
        return failures

    async def success(self, key: str) -> None:
        await self._conn.execute("DELETE FROM lookup_attempts WHERE key = ?", (key,))

    async def purge_before(self, when: datetime) -> int:
        """Counts no longer in force: each row tells which chat mistyped a receipt."""
        cur = await self._conn.execute(
            "DELETE FROM lookup_attempts WHERE window_start < ?"
            " AND (locked_until IS NULL OR locked_until < ?)",
            (ts(when - LOOKUP_WINDOW * 8), ts(when)),
        )
        return cur.rowcount
