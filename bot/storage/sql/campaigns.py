"""Campaigns, their runs and one delivery row per run and recipient (see 004_campaigns.sql).

The audience is selected and the delivery rows written by one INSERT ... SELECT inside
SQLite, so 100,000 recipients never pass through Python at once; the engine then claims
small batches and marks them in bulk.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bot.campaigns.model import Audience, Campaign, CampaignDraft, Image
from bot.campaigns.records import Claimed, Outcome, Progress, ReportRow
from bot.crypto import DataCipher
from bot.storage.sql.core import MARK_BLOCKED, citizen_from_row, insert_id, parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect

if TYPE_CHECKING:
    from bot.storage.sql import SqlTx

RATE_WINDOW = timedelta(seconds=10)


# Subscribers narrowed by channel, language and region; a citizen who chose no regions
# ("all of Kazakhstan") hears about every region. Parameters: channels, languages and
# regions as JSON arrays ('[]' = no narrowing), then the default language.
def _audience(dialect: Dialect) -> str:
    texts = dialect.json_texts
    return f"""
FROM citizens c
WHERE c.subscribed = 1 AND c.unreachable = 0
  AND c.channel IN ('telegram', 'whatsapp')
  AND (:channels = '[]' OR c.channel IN ({texts(":channels")}))
  AND (:languages = '[]'
       OR coalesce(c.locale, :default_locale) IN ({texts(":languages")}))
  AND (:regions = '[]' OR c.sub_regions = '[]'
       OR EXISTS (SELECT 1 FROM ({texts("c.sub_regions")}) s
                  WHERE s.value IN ({texts(":regions")})))
"""


def _audience_params(audience: Audience, default_locale: str) -> dict[str, str]:
    return {
        "channels": json.dumps(list(audience.channels)),
        "languages": json.dumps(list(audience.languages)),
        "regions": json.dumps(list(audience.regions)),
        "default_locale": default_locale,
    }


def _campaign(row: sqlite3.Row) -> Campaign:
    image = json.loads(row["image"]) if row["image"] else None
    return Campaign(
        id=row["id"],
        title=row["title"],
        texts=json.loads(row["texts"]),
        audience=Audience(
            regions=tuple(json.loads(row["regions"])),
            languages=tuple(json.loads(row["languages"])),
            channels=tuple(json.loads(row["channels"])),
        ),
        fallback=row["fallback"],
        templates=json.loads(row["templates"]),
        image=Image(image["blob_id"], image["content_type"]) if image else None,
        recurring=row["recurring"],
        next_run_at=parse_ts(row["next_run_at"]),
        status=row["status"],
        created_by=row["created_by"],
        created_at=parse_ts(row["created_at"]) or datetime.min,
        template_variables=json.loads(row["template_variables"]),
        paid_broadcast=bool(row["paid_broadcast"]),
    )


class SqlCampaignStore:
    def __init__(
        self,
        conn: Database,
        cipher: DataCipher,
        dialect: Dialect = SQLITE,
    ) -> None:
        self._conn = conn
        self._cipher = cipher
        self._dialect = dialect
        self._audience = _audience(dialect)

    async def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        async with self._conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return row

    async def _all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        async with self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    # ---- campaigns -----------------------------------------------------------------------

    async def create(self, draft: CampaignDraft, *, next_run_at: datetime, now: datetime) -> int:
        image = draft.image
        return await insert_id(
            self._conn,
            "INSERT INTO campaigns (title, texts, fallback, templates, template_variables, image,"
            " regions, languages, channels, recurring, next_run_at, status, created_by,"
            " created_at, updated_at, paid_broadcast)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'scheduled', ?, ?, ?, ?) RETURNING id",
            (
                draft.title.strip(),
                json.dumps(draft.texts, ensure_ascii=False),
                draft.fallback,
                json.dumps(draft.templates),
                json.dumps(draft.template_variables),
                json.dumps({"blob_id": image.blob_id, "content_type": image.content_type})
                if image
                else None,
                json.dumps(list(draft.audience.regions)),
                json.dumps(list(draft.audience.languages)),
                json.dumps(list(draft.audience.channels)),
                draft.recurring,
                ts(next_run_at),
                draft.created_by,
                ts(now),
                ts(now),
                int(draft.paid_broadcast),
            ),
        )

    async def get(self, campaign_id: int) -> Campaign | None:
        row = await self._one("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
        return _campaign(row) if row else None

    async def recent(self, *, limit: int = 50) -> list[Campaign]:
        rows = await self._all("SELECT * FROM campaigns ORDER BY id DESC LIMIT ?", (limit,))
        return [_campaign(r) for r in rows]

    async def planned(self) -> list[tuple[int, datetime]]:
        """Campaigns waiting for a time: what the scheduler restores on start."""
        rows = await self._all(
            "SELECT id, next_run_at FROM campaigns WHERE status IN ('scheduled', 'sending')"
            " AND next_run_at IS NOT NULL"
        )
        return [(r[0], parse_ts(r[1]) or datetime.min) for r in rows]

    async def due(self, now: datetime) -> list[Campaign]:
        rows = await self._all(
            "SELECT * FROM campaigns WHERE status IN ('scheduled', 'sending')"
            " AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at",
            (ts(now),),
        )
        return [_campaign(r) for r in rows]

    async def count_audience(
        self, audience: Audience, *, default_locale: str
    ) -> list[tuple[str, str, int]]:
        """(channel, language, subscribers) for the audience, before anything is sent."""
        rows = await self._all(
            "SELECT c.channel, coalesce(c.locale, :default_locale), count(*)"
            + self._audience
            + " GROUP BY 1, 2 ORDER BY 1, 2",
            _audience_params(audience, default_locale),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def start_run(
        self,
        campaign: Campaign,
        *,
        planned_at: datetime,
        next_run_at: datetime | None,
        now: datetime,
        default_locale: str,
    ) -> int | None:
        """Start one occurrence: the run, its delivery rows, and the campaign's next time.

        Returns None when this occurrence was already started (a second firing)."""
        started = await self._conn.execute_fetchall(
            "INSERT INTO campaign_runs (campaign_id, planned_at, started_at) VALUES (?, ?, ?)"
            " ON CONFLICT (campaign_id, planned_at) DO NOTHING RETURNING id",
            (campaign.id, ts(planned_at), ts(now)),
        )
        run_id = next((int(row[0]) for row in started), None)
        if run_id is not None:
            params: dict[str, Any] = dict(_audience_params(campaign.audience, default_locale))
            params.update(run_id=run_id, now=ts(now), paid=int(campaign.paid_broadcast))
            await self._conn.execute(
                "INSERT INTO campaign_deliveries (run_id, citizen_id, channel, locale,"
                " next_attempt_at, updated_at, paid)"
                " SELECT CAST(:run_id AS BIGINT), c.id, c.channel,"
                " coalesce(c.locale, :default_locale), CAST(:now AS TEXT), CAST(:now AS TEXT),"
                " CASE WHEN c.channel = 'telegram' THEN CAST(:paid AS INTEGER) ELSE 0 END"
                + self._audience,
                params,
            )
        await self._conn.execute(
            "UPDATE campaigns SET next_run_at = ?, status = 'sending', updated_at = ? WHERE id = ?",
            (ts(next_run_at) if next_run_at else None, ts(now), campaign.id),
        )
        return run_id

    async def pause(self, campaign_id: int, *, now: datetime) -> bool:
        cur = await self._conn.execute(
            "UPDATE campaigns SET status = 'paused', updated_at = ?"
            " WHERE id = ? AND status IN ('scheduled', 'sending')",
            (ts(now), campaign_id),
        )
        await self._conn.execute(
            "UPDATE campaign_runs SET status = 'paused'"
            " WHERE campaign_id = ? AND status = 'running'",
            (campaign_id,),
        )
        return cur.rowcount > 0

    async def resume(self, campaign_id: int, *, now: datetime) -> bool:
        await self._conn.execute(
            "UPDATE campaign_runs SET status = 'running'"
            " WHERE campaign_id = ? AND status = 'paused'",
            (campaign_id,),
        )
        cur = await self._conn.execute(
            "UPDATE campaigns SET updated_at = :now, status = CASE"
            " WHEN EXISTS (SELECT 1 FROM campaign_runs WHERE campaign_id = :id"
            "              AND status = 'running') THEN 'sending'"
            " WHEN next_run_at IS NOT NULL THEN 'scheduled' ELSE 'done' END"
            " WHERE id = :id AND status = 'paused'",
            {"now": ts(now), "id": campaign_id},
        )
        return cur.rowcount > 0

    async def cancel(self, campaign_id: int, *, now: datetime) -> bool:
        cur = await self._conn.execute(
            "UPDATE campaigns SET status = 'cancelled', next_run_at = NULL, updated_at = ?"
            " WHERE id = ? AND status NOT IN ('done', 'cancelled')",
            (ts(now), campaign_id),
        )
        if cur.rowcount == 0:
            return False
        await self._conn.execute(
            "UPDATE campaign_deliveries SET status = 'cancelled', updated_at = ?"
            " WHERE status = 'pending' AND run_id IN (SELECT id FROM campaign_runs"
            " WHERE campaign_id = ? AND status IN ('running', 'paused'))",
            (ts(now), campaign_id),
        )
        await self._conn.execute(
            "UPDATE campaign_runs SET status = 'cancelled', finished_at = ?"
            " WHERE campaign_id = ? AND status IN ('running', 'paused')",
            (ts(now), campaign_id),
        )
        return True

    # ---- deliveries ----------------------------------------------------------------------

    async def recover_interrupted(
        self, *, now: datetime, claimed_before: datetime | None = None
    ) -> int:
        """Rows left 'sending' by a crash may or may not have reached the platform, which
        cannot be asked: they become 'unknown' and are never sent again (at most once).
        `claimed_before`: only rows whose lease ran out then (a live instance renews its
        own), so an instance that starts never takes the rows another is sending."""
        stale = " AND updated_at < ?" if claimed_before is not None else ""
        cur = await self._conn.execute(
            # The lanes spelled out: the due index finds the few 'sending' rows among a
            # million (this runs every few seconds), instead of a scan of them all.
            "UPDATE campaign_deliveries SET status = 'unknown', error = 'interrupted',"
            " updated_at = ? WHERE channel IN ('telegram', 'whatsapp') AND paid IN (0, 1)"
            " AND status = 'sending'" + stale,
            (ts(now), ts(claimed_before)) if claimed_before is not None else (ts(now),),
        )
        return cur.rowcount

    async def renew(self, delivery_ids: Sequence[int], *, now: datetime) -> None:
        """Renew the lease of rows this instance is still sending (a long 429 hold)."""
        await self._conn.executemany(
            "UPDATE campaign_deliveries SET updated_at = ? WHERE id = ? AND status = 'sending'",
            [(ts(now), i) for i in delivery_ids],
        )

    async def claim(
        self,
        channel: str,
        *,
        now: datetime,
        limit: int,
        defer: Callable[[int], datetime | None] = lambda citizen_id: None,
        paid: bool = False,
    ) -> list[Claimed]:
        """Due rows of running runs in one lane (`paid`: Telegram paid broadcasts), marked
        'sending' in this transaction; rows whose citizen unsubscribed meanwhile are
        skipped, rows `defer` names a time for wait. On PostgreSQL the rows are locked as
        they are read, skipping those another instance is claiming, until this unit marks
        them and commits: never taken twice."""
        rows = await self._all(
            # The citizen's row as citizen_from_row reads it; the delivery's under other names.
            "SELECT c.*, d.id AS delivery_id, d.run_id, r.campaign_id,"
            " d.locale AS text_locale, d.attempts, d.throttled"
            " FROM campaign_deliveries d"
            " JOIN campaign_runs r ON r.id = d.run_id JOIN citizens c ON c.id = d.citizen_id"
            " WHERE d.channel = ? AND d.paid = ? AND d.status = 'pending'"
            " AND d.next_attempt_at <= ? AND r.status = 'running'"
            " ORDER BY d.next_attempt_at, d.id LIMIT ?" + self._dialect.skip_locked("d"),
            (channel, int(paid), ts(now), limit),
        )
        claimed: list[Claimed] = []
        skipped: list[tuple[str, int]] = []
        deferred: list[tuple[str, int]] = []
        for row in rows:
            if not row["subscribed"] or row["unreachable"]:
                skipped.append((ts(now), row["delivery_id"]))
                continue
            later = defer(row["id"])
            if later is not None:
                deferred.append((ts(later), row["delivery_id"]))
                continue
            claimed.append(
                Claimed(
                    row["delivery_id"],
                    row["run_id"],
                    row["campaign_id"],
                    row["text_locale"],
                    citizen_from_row(row, self._cipher),
                    row["attempts"],
                    row["throttled"],
                )
            )
        await self._conn.executemany(
            "UPDATE campaign_deliveries SET status = 'sending', updated_at = ? WHERE id = ?",
            [(ts(now), c.delivery_id) for c in claimed],
        )
        await self._conn.executemany(
            "UPDATE campaign_deliveries SET status = 'skipped', error = 'unsubscribed',"
            " updated_at = ? WHERE id = ?",
            skipped,
        )
        await self._conn.executemany(
            "UPDATE campaign_deliveries SET next_attempt_at = ? WHERE id = ?", deferred
        )
        return claimed

    async def names(self, citizen_ids: Sequence[int]) -> dict[int, str]:
        """Each citizen's name as they last gave it in a complaint, where they did: for a
        template's "name". Never from a tip, whatever the tipster wrote."""
        name = self._dialect.json_field("details", "applicant_name")
        rows = await self._all(
            f"SELECT citizen_id, {name} FROM tickets"
            f" WHERE kind != 'tip' AND citizen_id IN ({self._dialect.json_ints('?')})"
            f" AND {name} IS NOT NULL ORDER BY id",
            (json.dumps(list(citizen_ids)),),
        )
        return {r[0]: str(r[1]) for r in rows if str(r[1]).strip()}

    async def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> None:
        """Write what happened to claimed rows; a blocked citizen is also unsubscribed."""
        await self._conn.executemany(
            "UPDATE campaign_deliveries SET status = ?, error = ?,"
            " external_id = coalesce(?, external_id),"
            " next_attempt_at = coalesce(?, next_attempt_at), attempts = attempts + ?,"
            " throttled = throttled + ?, updated_at = ? WHERE id = ? AND status = 'sending'",
            [
                (
                    o.status,
                    o.error,
                    o.external_id,
                    ts(o.retry_at) if o.retry_at else None,
                    int(o.failed_attempt),
                    int(o.throttled),
                    ts(now),
                    o.delivery_id,
                )
                for o in outcomes
            ],
        )
        blocked = [(o.citizen_id,) for o in outcomes if o.blocked]
        await self._conn.executemany(MARK_BLOCKED, blocked)

    async def finish_runs(self, *, now: datetime) -> list[int]:
        """Runs with nothing left to send become 'done'; returns their campaign ids."""
        rows = await self._all(
            "UPDATE campaign_runs SET status = 'done', finished_at = ? WHERE status = 'running'"
            " AND NOT EXISTS (SELECT 1 FROM campaign_deliveries d WHERE d.run_id ="
            " campaign_runs.id AND d.status IN ('pending', 'sending')) RETURNING campaign_id",
            (ts(now),),
        )
        ids = sorted({r[0] for r in rows})
        await self._conn.executemany(
            "UPDATE campaigns SET updated_at = ?, status = CASE WHEN next_run_at IS NULL"
            " THEN 'done' ELSE 'scheduled' END WHERE id = ? AND status = 'sending'"
            " AND NOT EXISTS (SELECT 1 FROM campaign_runs WHERE campaign_id = campaigns.id"
            " AND status = 'running')",
            [(ts(now), i) for i in ids],
        )
        return ids

    # ---- progress ------------------------------------------------------------------------

    async def latest_run(self, campaign_id: int) -> tuple[int, str] | None:
        row = await self._one(
            "SELECT id, status FROM campaign_runs WHERE campaign_id = ? ORDER BY id DESC LIMIT 1",
            (campaign_id,),
        )
        return (row[0], row[1]) if row else None

    async def progress(self, campaign_id: int, *, now: datetime) -> Progress:
        """Counts of the latest run, and the rate over the last ten seconds."""
        latest = await self.latest_run(campaign_id)
        if latest is None:
            return Progress(run_id=None, run_status=None, counts={}, rate=0.0)
        run_id, status = latest
        rows = await self._all(
            "SELECT status, count(*) FROM campaign_deliveries WHERE run_id = ? GROUP BY status",
            (run_id,),
        )
        recent = await self._one(
            "SELECT count(*) FROM campaign_deliveries WHERE run_id = ? AND status = 'sent'"
            " AND updated_at >= ?",
            (run_id, ts(now - RATE_WINDOW)),
        )
        rate = recent[0] / RATE_WINDOW.total_seconds()
        return Progress(run_id, status, {r[0]: r[1] for r in rows}, rate)

    async def report(self, run_id: int) -> list[ReportRow]:
        rows = await self._all(
            "SELECT channel, locale, status, coalesce(error, ''), count(*)"
            " FROM campaign_deliveries WHERE run_id = ? GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            (run_id,),
        )
        return [ReportRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]


class SqlStorage(Protocol):
    """A backend whose units of work are `SqlTx`: both SQL backends."""

    def transaction(self) -> AbstractAsyncContextManager[SqlTx]: ...
    def read(self) -> AbstractAsyncContextManager[SqlTx]: ...


@dataclass
class SqlCampaigns:
    """Campaign stores on the app's own connections and units of work."""

    storage: SqlStorage

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlCampaignStore]:
        async with self.storage.transaction() as tx:
            yield SqlCampaignStore(tx.conn, tx.cipher, tx.dialect)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlCampaignStore]:
        async with self.storage.read() as tx:
            yield SqlCampaignStore(tx.conn, tx.cipher, tx.dialect)
