"""Several instances and Telegram: long polling is for one (a second refuses to start,
in one clear line); webhook mode behind a balancer is for several. The real
python-telegram-bot and the real app against the fake Bot API server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import create_app
from bot.channels.telegram.adapter import POLLING_LEASE, TelegramChannel
from bot.config import Settings
from bot.errors import ConfigError
from bot.runtime import open_runtime
from tests.db import database_url
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_chat import TOKEN, TgCitizen, running_bot, runtime_of
from tests.test_cli import environment, free_port

FAST = {"lease_seconds": 1.0, "lease_renew_seconds": 0.1}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


def polling(settings: Settings, api: FakeTelegramApi) -> Settings:
    return settings.with_overrides(
        telegram_bot_token=TOKEN, telegram_api_url=api.url, telegram_mode="polling", **FAST
    )


async def test_a_second_polling_instance_refuses_to_start(
    settings: Settings, api: FakeTelegramApi
) -> None:
    async with running_bot(settings, api, "polling", **FAST):
        calls = len(api.calls_to("deleteWebhook"))
        second = create_app(polling(settings, api))
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ConfigError, match="TELEGRAM_MODE=webhook"):
            async with second.router.lifespan_context(second):
                pass
        # It waited for the lease as long as a dead poller's would last: this one renews.
        assert loop.time() - started >= FAST["lease_seconds"]
        # It stopped before it said anything to Telegram; the first still answers.
        assert len(api.calls_to("deleteWebhook")) == calls
        citizen = TgCitizen(api, 501)
        assert await citizen.send("/start")


@pytest.mark.slow
async def test_govbot_run_refuses_a_second_poller_in_one_line(
    settings: Settings, api: FakeTelegramApi, tmp_path: Path
) -> None:
    async with running_bot(settings, api, "polling", **FAST):
        env = environment(
            tmp_path,
            DATABASE_URL=database_url(settings),
            DATA_DIR=str(settings.var_dir),
            DATA_KEY=settings.data_key or "",
            SECRET_KEY=settings.secret_key or "",
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=api.url,
            TELEGRAM_MODE="polling",
            PORT=str(free_port()),
            PYTHONPATH=str(ROOT),
            LEASE_SECONDS="1",
            LEASE_RENEW_SECONDS="0.1",
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    stderr = err.decode()
    assert proc.returncode == 2, (out, stderr)
    assert "Traceback" not in stderr
    # Log lines of the start-up aside (the recovery key's warning), one line says why.
    said = [line for line in stderr.splitlines() if not line.startswith("20")]
    assert len(said) == 1, stderr
    assert said[0].startswith("govbot: TELEGRAM_MODE=polling: another govbot instance")
    assert "TELEGRAM_MODE=webhook" in said[0]


async def test_a_restart_after_a_crash_waits_out_the_dead_pollers_lease(
    settings: Settings, api: FakeTelegramApi
) -> None:
    settings = settings.with_overrides(**FAST)
    runtime = await open_runtime(settings)
    async with runtime.storage.transaction() as tx:  # as a process killed while polling
        assert await tx.leases.take(POLLING_LEASE, "killed-instance", seconds=1.0)
    await runtime.close()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with running_bot(settings, api, "polling"):
        assert 0.5 < loop.time() - started < 5
        assert await TgCitizen(api, 503).send("/start")


async def test_webhook_instances_need_no_lease(settings: Settings, api: FakeTelegramApi) -> None:
    async with (
        running_bot(settings, api, "webhook") as first,
        running_bot(settings, api, "webhook") as second,
    ):
        assert len(api.calls_to("setWebhook")) == 2
        for app in (first, second):
            async with runtime_of(app).storage.read() as tx:
                assert await tx.leases.holder(POLLING_LEASE) is None


async def test_a_poller_that_lost_its_lease_stops_polling_until_it_is_back(
    settings: Settings, api: FakeTelegramApi
) -> None:
    async with running_bot(settings, api, "polling", **FAST) as app:
        channel = app.state.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        storage = runtime_of(app).storage
        async with storage.transaction() as tx:  # paused past its lease, and taken over
            await tx.conn.execute(  # type: ignore[attr-defined]
                "UPDATE leases SET holder = 'another-instance' WHERE name = ?",
                (POLLING_LEASE,),
            )
        async with asyncio.timeout(5):
            while channel._poller is not None:
                await asyncio.sleep(0.01)
        polls = len(api.calls_to("getUpdates"))
        citizen = TgCitizen(api, 502)
        api.push_text(502, "/start")
        await asyncio.sleep(0.3)  # it would poll at once; it does not
        assert len(api.calls_to("getUpdates")) == polls
        assert citizen.messages == []
        async with storage.transaction() as tx:  # the other instance stopped
            assert await tx.leases.release(POLLING_LEASE, "another-instance")
        await api.wait_for_sent(502, 1)  # this one polls again and answers


async def test_a_stopped_poller_frees_the_lease_for_the_next(
    settings: Settings, api: FakeTelegramApi
) -> None:
    async with running_bot(settings, api, "polling"):
        pass
    async with running_bot(settings, api, "polling") as app:
        runtime = runtime_of(app)
        async with runtime.storage.read() as tx:
            assert await tx.leases.holder(POLLING_LEASE) == runtime.leases.holder
