"""Helpers for campaign tests: subscribers in bulk, a scripted fake Sender, waiting for a run."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.campaigns.model import CampaignDraft
from bot.domain import Channel
from bot.errors import DeliveryError
from bot.outbound import Delivery, Outgoing
from bot.runtime import Runtime
from bot.storage.records import Citizen

UNLIMITED = {
    "telegram_rate_global": 0.0,
    "telegram_rate_per_chat": 0.0,
    "whatsapp_rate": 0.0,
    "whatsapp_rate_per_chat": 0.0,
}


TEXTS = {
    "kk": "Жылжымалы қабылдау автобусы дүйсенбіде Алматыда болады.",
    "ru": "Мобильный автобус приёма будет в Алматы в понедельник.",
    "en": "The mobile reception bus will be in Almaty on Monday.",
}
FOOTERS = {
    "kk": "Бұл хабарламаларды алмау үшін «жазылымнан бас тарту» (немесе STOP) деп жіберіңіз.",
    "ru": "Чтобы отписаться от этих сообщений, отправьте «отписаться» (или STOP).",
    "en": "To stop receiving these messages, send «unsubscribe» (or STOP).",
}
TEMPLATES = {lang: "HX" + f"{i:02d}" * 16 for i, lang in enumerate(("kk", "ru", "en"), 1)}
LANGS = ("kk", "ru", "en")


@dataclass(frozen=True)
class Member:
    channel: str
    chat_key: str
    lang: str
    fresh: bool  # wrote within 24 hours (WhatsApp window open)


async def add_subscribers(
    runtime: Runtime,
    count: int,
    *,
    channels: tuple[str, ...] = ("telegram", "whatsapp"),
    now: datetime | None = None,
    region: str | None = None,
    subscribed: bool = True,
    start: int = 0,
) -> list[Member]:
    """`count` subscribers spread over channels, languages and the WhatsApp window."""
    now = now or datetime.now(UTC)
    members = []
    async with runtime.storage.transaction() as tx:
        for i in range(start, start + count):
            channel = channels[i % len(channels)]
            lang = LANGS[(i // len(channels)) % 3]
            key = str(700000 + i) if channel == "telegram" else f"+7701{i:07d}"
            fresh = (i // 6) % 2 == 0
            citizen, _ = await tx.citizens.get_or_create(channel, key, now=now)
            citizen.locale = lang
            citizen.subscribed = subscribed
            citizen.region = region
            citizen.sub_regions = (region,) if region else ()
            citizen.last_inbound_at = now - (timedelta(hours=1) if fresh else timedelta(days=3))
            await tx.citizens.save(citizen)
            members.append(Member(channel, key, lang, fresh))
    return members


def draft(**changes: object) -> CampaignDraft:
    base = CampaignDraft(title="Mobile reception", texts=dict(TEXTS), templates=dict(TEMPLATES))
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@dataclass
class FakeSender:
    """Records what it 'sends'; can be told to refuse some chats or fail for a while."""

    channel: Channel
    blocked: set[str] = field(default_factory=set)
    throttle: int = 0  # the next n calls answer 429
    flaky: dict[str, int] = field(default_factory=dict)  # chat → failures before success
    broken: set[str] = field(default_factory=set)  # always fail (retryable)
    delay: float = 0.0
    sent: dict[str, list[Outgoing]] = field(default_factory=lambda: defaultdict(list))
    calls: list[tuple[float, str]] = field(default_factory=list)

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        loop = asyncio.get_running_loop()
        self.calls.append((loop.time(), citizen.chat_key))
        if self.delay:
            await asyncio.sleep(self.delay)
        key = citizen.chat_key
        if self.throttle > 0:
            self.throttle -= 1
            raise DeliveryError("flood", retryable=True, retry_after=0.2, code="429")
        if key in self.blocked:
            raise DeliveryError("blocked", retryable=False, blocked=True, code="403")
        if key in self.broken:
            raise DeliveryError("server error", retryable=True, code="500")
        if self.flaky.get(key, 0) > 0:
            self.flaky[key] -= 1
            raise DeliveryError("server error", retryable=True, code="502")
        self.sent[key].append(outgoing)
        return Delivery(external_id=f"m{len(self.calls)}")

    def texts(self, key: str) -> list[str]:
        return [o.replies[0].text for o in self.sent.get(key, [])]


async def add_subscribers_in_bulk(
    runtime: Runtime, count: int, *, channel: str = "telegram", chats: int = 100
) -> None:
    """`count` Telegram subscribers written by one INSERT ... SELECT (no Python per row):
    `chats` distinct encrypted chat ids, reused round-robin; kk, ru, en in turn."""
    cipher, now = runtime.cipher, datetime.now(UTC).isoformat()
    blob = "BYTEA" if runtime.settings.database_url else "BLOB"
    async with runtime.storage.transaction() as tx:
        await tx.conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS bulk_chats (n INTEGER, address {blob})"
        )
        await tx.conn.execute("DELETE FROM bulk_chats")
        await tx.conn.executemany(
            "INSERT INTO bulk_chats VALUES (?, ?)",
            [
                (n, cipher.encrypt(str(900_000 + n).encode(), context=b"citizen"))
                for n in range(chats)
            ],
        )
        await tx.conn.execute(
            "WITH RECURSIVE seq(n) AS"
            " (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < CAST(? AS INTEGER))"
            " INSERT INTO citizens (channel, chat_hash, address, locale, subscribed, created_at)"
            " SELECT CAST(? AS TEXT), 'bulk:' || seq.n, b.address, CASE seq.n % 3 WHEN 0"
            " THEN 'kk' WHEN 1 THEN 'ru' ELSE 'en' END, 1, CAST(? AS TEXT)"
            " FROM seq JOIN bulk_chats b ON b.n = seq.n % CAST(? AS INTEGER)",
            (count, channel, now, chats),
        )


@dataclass
class CountingSender:
    """Sends nothing and remembers nothing but how many it was asked to send: a sender
    whose own memory does not grow with the audience."""

    channel: Channel
    count: int = 0

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        self.count += 1
        return Delivery(external_id="m")
