"""Shared fixtures: settings on a temporary database, a runtime, a fixed clock, chats.

GOVBOT_TEST_BACKEND=postgres runs every test built on `settings` against a fresh
PostgreSQL database of its own (from the session's throwaway cluster) instead of a SQLite
file; tests about SQLite by nature carry `@pytest.mark.sqlite_only` and are skipped then.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.crypto import generate_key_setting
from bot.i18n import Catalogs
from bot.keys_cli import init_recovery_key
from bot.runtime import Runtime, open_runtime
from tests.campaign_support import UNLIMITED
from tests.chat import Chat
from tests.pg_cluster import Cluster, pg_bin


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def catalogs() -> Catalogs:
    return Catalogs()


@pytest.fixture
def clock() -> Clock:
    # A Monday in Almaty, mid-morning.
    return Clock(datetime(2026, 3, 16, 5, 0, tzinfo=UTC))


BACKEND = os.environ.get("GOVBOT_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise ValueError(f"GOVBOT_TEST_BACKEND must be sqlite or postgres, not {BACKEND!r}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): about SQLite by nature; skipped on the PostgreSQL run"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass: tests about SQLite by nature are skipped, and tests that do
    not build on `settings` (pure code, or PostgreSQL's own tests on `pg_url`) are left out:
    the SQLite pass ran them, and the switch changes nothing for them."""
    if BACKEND != "postgres":
        return
    kept, left = [], []
    for item in items:
        if "settings" not in getattr(item, "fixturenames", ()):
            left.append(item)
            continue
        kept.append(item)
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def _fresh_pg_url(cluster: Cluster) -> str:
    """A migrated database of the test's own, made on a thread of its own: `settings` is a
    plain fixture, and some tests using it already run inside an event loop."""
    result: list[str] = []
    errors: list[BaseException] = []

    def make() -> None:
        try:
            result.append(asyncio.run(cluster.fresh_database()))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=make)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return result[0]


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    database_url = None
    if BACKEND == "postgres":
        database_url = _fresh_pg_url(request.getfixturevalue("pg_cluster"))
    return Settings(
        database_path=tmp_path / "govbot.sqlite3",
        database_url=database_url,
        # PostgreSQL keeps generated secrets nowhere: data_dir holds the attachments.
        data_dir=tmp_path,
        data_key=generate_key_setting(),
        secret_key="s" * 40,
        # Generous flood limits: conversation tests type faster than any person.
        flood_burst=1000,
        flood_per_second=1000.0,
    )


@pytest.fixture
async def runtime(settings: Settings, clock: Clock, catalogs: Catalogs) -> AsyncIterator[Runtime]:
    rt = await open_runtime(settings, clock=clock, catalogs=catalogs)
    await init_recovery_key(rt)  # as `govbot keys init` does: tests/sealed.py opens tips
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
def new_chat(runtime: Runtime) -> Callable[..., Chat]:
    def make(chat_key: str = "chat-1", lang: str | None = None, **kwargs: object) -> Chat:
        return Chat(runtime.dispatcher, chat_key=chat_key, lang=lang, **kwargs)  # type: ignore[arg-type]

    return make


async def start_in(chat: Chat, lang: str) -> None:
    """First contact and language choice: leaves the chat at the main menu in `lang`."""
    await chat.send("/start")
    await chat.press_payload(f"lang:{lang}")


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to 127.0.0.1 only; anything else fails loudly instead of hanging."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        if (
            isinstance(address, tuple)
            and address
            and address[0]
            not in (
                "127.0.0.1",
                "localhost",
                "::1",
            )
        ):
            raise OSError(f"tests may not reach {address[0]}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
async def live(settings: Settings, catalogs: Catalogs) -> AsyncIterator[Runtime]:
    """A runtime on the real clock, unpaced: the campaign engine runs as in production."""
    rt = await open_runtime(replace(settings, **UNLIMITED), catalogs=catalogs)
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster per session (xdist worker), stopped at the end."""
    if pg_bin() is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
    cluster = Cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def pg_url(pg_cluster: Cluster) -> str:
    """A fresh database of this test's own, migrated."""
    return await pg_cluster.fresh_database()


@pytest.fixture
async def pg_empty_url(pg_cluster: Cluster) -> str:
    """A fresh database of this test's own, empty (not even migrated)."""
    return await pg_cluster.fresh_database(migrated=False)
