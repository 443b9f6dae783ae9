"""GET /healthz and GET /metrics on the real app, with its lifespan opening the runtime."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import create_app
from bot.config import Settings
from bot.domain import Channel, Inbound
from bot.runtime import Runtime
from tests import full_disk
from tests.conftest import Clock


@dataclass
class Served:
    app: Starlette
    client: httpx.AsyncClient
    announced: list[str]

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@pytest.fixture
async def served(settings: Settings, clock: Clock) -> AsyncIterator[Served]:
    announced: list[str] = []
    app = create_app(settings, clock=clock, announce=announced.append)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://govbot.test") as client:
            yield Served(app, client, announced)


def sample(metrics: str, name: str) -> float | None:
    for line in metrics.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_healthz_says_ok(served: Served) -> None:
    response = await served.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_healthz_says_unavailable_when_the_database_is_gone(served: Served) -> None:
    await served.runtime.storage.close()
    response = await served.client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_metrics_count_messages_and_open_sessions(served: Served, clock: Clock) -> None:
    response = await served.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in (
        "govbot_messages_in",
        "govbot_messages_out",
        "govbot_errors",
        "govbot_tickets_created",
        "govbot_open_sessions",
    ):
        assert f"# TYPE {name}" in response.text
    assert sample(response.text, "govbot_open_sessions") == 0

    dispatcher = served.runtime.dispatcher
    for key in ("a", "b"):
        for text in ("/start", "1"):
            await dispatcher.handle(Inbound(channel=Channel.CONSOLE, chat_key=key, text=text))
    text = (await served.client.get("/metrics")).text
    assert sample(text, 'govbot_messages_in_total{channel="console"}') == 4
    out = sample(text, 'govbot_messages_out_total{channel="console"}')
    assert out is not None and out >= 4
    assert sample(text, "govbot_open_sessions") == 2
    # Sessions idle longer than the timeout are not "open" any more.
    clock.advance(minutes=served.runtime.settings.session_idle_minutes + 1)
    text = (await served.client.get("/metrics")).text
    assert sample(text, "govbot_open_sessions") == 0


async def test_start_up_says_which_channels_are_off(served: Served) -> None:
    assert any(line.startswith("telegram: off") for line in served.announced)
    assert any(line.startswith("whatsapp: off") for line in served.announced)
    assert any("govbot shell" in line for line in served.announced)


async def test_unknown_paths_are_404(served: Served) -> None:
    assert (await served.client.get("/nope")).status_code == 404


@pytest.mark.sqlite_only("fills the SQLite file (tests/full_disk.py)")
async def test_healthz_says_when_the_database_cannot_write(served: Served) -> None:
    storage = served.runtime.storage
    await full_disk.fill(storage)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        await full_disk.write_a_page(storage)
    response = await served.client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "cannot-write"}

    full_disk.free(storage)
    await storage.checkpoint()  # the job's run: a tiny write notices space came back
    response = await served.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.sqlite_only("SQLite's write-ahead log")
async def test_metrics_show_the_size_of_the_write_ahead_log(served: Served) -> None:
    dispatcher = served.runtime.dispatcher
    await dispatcher.handle(Inbound(channel=Channel.CONSOLE, chat_key="a", text="/start"))
    text = (await served.client.get("/metrics")).text
    wal = sample(text, "govbot_sqlite_wal_bytes")
    assert wal is not None and wal == served.runtime.storage.wal_bytes() > 0
