"""Builds the running parts from settings: storage, catalogs, reference data, dispatcher.

`govbot shell`, `govbot run` and the tests all assemble the bot here, so a conversation
in the terminal takes exactly the path a Telegram or WhatsApp message takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from bot import sealed_tips
from bot.attachments import AttachmentStore
from bot.campaigns.engine import DeliveryEngine
from bot.campaigns.records import Campaigns
from bot.campaigns.service import CampaignService
from bot.config import Settings, require_shared_secrets
from bot.crypto import DataCipher, generate_key_setting, load_or_create_secret
from bot.dispatcher import Dispatcher
from bot.flow import Flow
from bot.i18n import Catalogs
from bot.jobs import Jobs
from bot.leases import Leases
from bot.media_links import MediaLinks
from bot.metrics import Metrics
from bot.outbound import OutboxWorker
from bot.pacing import Pacing
from bot.private import private_dir
from bot.refdata import RefData, default_data_dir, load_refdata
from bot.replies import ReplyQueue
from bot.staff.passwords import Passwords
from bot.storage import Storage
from bot.storage.postgres import PostgresStorage
from bot.storage.sql.campaigns import SqlCampaigns
from bot.storage.sqlite import SqliteStorage
from handlers import load_flows

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass
class Runtime:
    settings: Settings
    storage: Storage
    campaigns: Campaigns
    catalogs: Catalogs
    refdata: RefData
    cipher: DataCipher
    attachments: AttachmentStore
    flows: dict[str, Flow]
    dispatcher: Dispatcher
    metrics: Metrics
    outbox: OutboxWorker
    replies: ReplyQueue
    # Every sending budget, shared by the channels' senders and the campaign engine.
    pacing: Pacing
    # Every periodic job, on one scheduler: started on open, stopped first on close.
    jobs: Jobs
    # Single-use links a messenger fetches staff files by (bot/media_links.py).
    media_links: MediaLinks
    # Work only one instance may do at a time (bot/leases.py): `govbot run` contends for
    # the leader lease; Telegram polling holds one of its own.
    leases: Leases
    # Staff password hashing, off the loop and a few at a time (bot/staff/passwords.py).
    passwords: Passwords = field(default_factory=Passwords)
    # The recovery key's private half when `govbot keys init` (or a test) just created it.
    new_recovery_key: str | None = None

    async def close(self) -> None:
        await self.jobs.stop()
        await self.leases.close()  # another instance takes over at once, not at expiry
        await self.outbox.stop()
        await self.storage.close()


def ensure_secrets(settings: Settings) -> Settings:
    """SECRET_KEY and DATA_KEY: from the settings, else generated once and kept in var/
    (with SQLite only: PostgreSQL's instances must share them, bot/config.py)."""
    require_shared_secrets(settings)
    private_dir(settings.var_dir)
    secret_key = settings.secret_key or load_or_create_secret(
        settings.var_dir / "secret_key", lambda: generate_key_setting().partition(":")[2]
    )
    data_key = settings.data_key or load_or_create_secret(
        settings.var_dir / "data_key", generate_key_setting
    )
    return replace(settings, secret_key=secret_key, data_key=data_key)


async def open_storage(
    settings: Settings, cipher: DataCipher, jobs: Jobs
) -> tuple[Storage, Campaigns]:
    """The one place the backend is chosen (DATABASE_URL, checked by bot/config.py):
    PostgreSQL for several instances, else the SQLite file; the campaign stores run on the
    chosen backend's units of work either way."""
    if settings.database_url is not None:
        postgres = PostgresStorage(
            settings.database_url, cipher, pool_size=settings.database_pool_size
        )
        await postgres.open()  # migrates first, under an advisory lock
        return postgres, SqlCampaigns(postgres)
    storage = SqliteStorage(settings.database_path, cipher)
    await storage.open()
    # The writer does not checkpoint by itself (sqlite/wal.py): this job keeps the WAL short.
    jobs.every(storage.CHECKPOINT_SECONDS, storage.checkpoint_job, name="storage:checkpoint")
    return storage, SqlCampaigns(storage)


async def open_runtime(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    data_dir: Path | None = None,
    catalogs: Catalogs | None = None,
) -> Runtime:
    settings = ensure_secrets(settings)
    assert settings.data_key is not None
    cipher = DataCipher.from_setting(settings.data_key)
    refdata = load_refdata(data_dir or default_data_dir())
    catalogs = catalogs or Catalogs()
    jobs = Jobs()
    storage, campaigns = await open_storage(settings, cipher, jobs)
    jobs.start()
    attachments = AttachmentStore(
        settings.attachments_dir, cipher, max_bytes=settings.max_attachment_mb * MB
    )
    flows = load_flows()
    metrics = Metrics()
    replies = ReplyQueue(storage, clock, holder=storage.instance)
    dispatcher = Dispatcher(
        storage=storage,
        catalogs=catalogs,
        flows=flows,
        settings=settings,
        refdata=refdata,
        cipher=cipher,
        metrics=metrics,
        replies=replies,
        clock=clock,
        files=attachments,
    )
    leases = Leases(
        storage,
        jobs,
        seconds=settings.lease_seconds,
        renew_seconds=settings.lease_renew_seconds,
        holder=storage.instance,
    )
    outbox = OutboxWorker(
        storage,
        {},
        jobs,
        clock=clock,
        replies=replies,
        offers=dispatcher,
        alive=leases.alive,
    )
    replies.wake = outbox.wake
    async with storage.transaction() as tx:
        if await tx.tips.recovery_public() is None:
            # Made only by `govbot keys init`, at a terminal: whatever starts first (a
            # service whose output goes to a journal on this disk) must not print it.
            log.warning(
                "no recovery key yet: tips are sealed to investigators and tipsters only;"
                " run `govbot keys init` and keep what it prints offline"
            )
        # Once, after the upgrade to sealed tips: none is left under DATA_KEY.
        sealed_files = await sealed_tips.seal_legacy(tx.tips, attachments)
    for blob_id in sealed_files:
        await attachments.adelete(blob_id)
    return Runtime(
        settings,
        storage,
        campaigns,
        catalogs,
        refdata,
        cipher,
        attachments,
        flows,
        dispatcher,
        metrics,
        outbox,
        replies,
        Pacing(settings),
        jobs,
        MediaLinks(cipher, clock=clock),
        leases,
    )


def campaign_service(runtime: Runtime, *, poll_seconds: float = 5.0) -> CampaignService:
    """Campaigns inside `govbot run` (and the tests): the delivery engine and the
    scheduler, on the runtime's campaign stores, catalogs and the channels' senders."""
    engine = DeliveryEngine(
        runtime.campaigns,
        runtime.outbox.senders,
        runtime.catalogs,
        runtime.settings,
        runtime.jobs,
        refdata=runtime.refdata,
        pacing=runtime.pacing,
        clock=runtime.dispatcher.clock,
    )
    return CampaignService(engine, poll_seconds=poll_seconds)
