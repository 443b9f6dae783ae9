"""Two `govbot run` processes on one PostgreSQL database, Telegram in webhook mode, the test
as the load balancer: every chat's answers come in order and once, tickets are neither
lost nor doubled, and when one instance is killed with SIGKILL the other carries on and
the campaign they were sending together finishes without sending anyone a second copy.

Each citizen files a complaint, one update after another without waiting for the answers
(several of a chat's updates are in flight at once, on either instance), and some updates
are delivered to both instances, as Telegram does when it thinks a webhook failed. The
answers each chat gets are compared, message for message, with those of a citizen who
went through the same steps alone, waiting for every answer.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.config import Settings
from bot.crypto import generate_key_setting
from bot.runtime import open_runtime
from tests.campaign_support import TEXTS, add_subscribers
from tests.fakes.telegram_api import FakeTelegramApi
from tests.test_cli import environment, free_port

pytestmark = pytest.mark.slow

TOKEN = "123456:" + "B" * 35
SECRET = "two-instances-secret_0123456789"
CHATS = 200
LATE_CHATS = 40  # walk while one instance is killed
SUBSCRIBERS = 1500
DESCRIPTION = "ХҚКО-да үш апта бойы анықтама бермеді, әр келген сайын ертең келіңіз дейді."
# A complaint from /start to the receipt: each update gets exactly one message back.
SCRIPT: list[tuple[str, str]] = [
    ("text", "/start"),
    ("press", "lang:kk"),
    ("press", "flow:complaint"),
    ("press", "cat:"),
    ("press", "body:"),
    ("press", "reg:"),
    ("text", DESCRIPTION),
    ("press", "more:next"),
    ("press", "ev:skip"),
    ("text", "Айгүл Сейітова"),
    ("press", "iin:skip"),
    ("press", "sum:ok"),
]
REFERENCE = re.compile(r"\b[A-Z0-9]{2,}-[A-Z0-9-]{4,}\b")


class Instance:
    """One `govbot run` process and its webhook address."""

    def __init__(self, name: str, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.port = int(env["PORT"])
        self.env = env
        self.cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with (self.cwd / "run.log").open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.cwd, env=self.env,
                stdout=log, stderr=log,
            )  # fmt: skip

    async def wait_up(self, http: aiohttp.ClientSession, timeout: float = 30) -> None:
        async def up() -> bool:
            try:
                async with http.get(f"{self.url}/healthz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await until(up, timeout, f"{self.name} to answer /healthz", log=self.cwd / "run.log")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def until(
    predicate: Callable[[], Any], timeout: float, what: str, *, log: Path | None = None
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise TimeoutError(f"waiting for {what}\n{tail}")
        await asyncio.sleep(0.05)


class Balancer:
    """Spreads webhook deliveries over the live instances; a delivery to an instance
    that died is made again to another, as Telegram retries a failed webhook."""

    def __init__(self, http: aiohttp.ClientSession, instances: list[Instance]) -> None:
        self.http = http
        self.instances = instances
        self.rng = random.Random(17)
        self.repeats = 0

    async def deliver(self, update: dict[str, Any], *, repeat: bool = False) -> None:
        live = [i for i in self.instances if i.alive]
        targets = live if repeat and len(live) > 1 else [self.rng.choice(live)]
        if len(targets) > 1:
            self.repeats += 1
        delivered = await asyncio.gather(*(self._post(t, update) for t in targets))
        if not any(delivered):
            await self.deliver(update)  # every target died meanwhile: another one

    async def _post(self, instance: Instance, update: dict[str, Any]) -> bool:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        try:
            async with self.http.post(
                f"{instance.url}/webhooks/telegram", json=update, headers=headers
            ) as resp:
                assert resp.status == 200, await resp.text()
                return True
        except (aiohttp.ClientError, TimeoutError):
            return False  # the instance died: the balancer tries another


def push(tg: FakeTelegramApi, chat: int, step: tuple[str, str]) -> dict[str, Any]:
    kind, value = step
    update = tg.push_text(chat, value) if kind == "text" else tg.push_callback(chat, value)
    return update


async def walk(
    tg: FakeTelegramApi,
    balancer: Balancer,
    chat: int,
    script: list[tuple[str, str]],
    rng: random.Random,
) -> None:
    """The chat's updates one after another, each once accepted (200) but not answered."""
    for step in script:
        await balancer.deliver(push(tg, chat, step), repeat=rng.random() < 0.15)


def keyboard(tg: FakeTelegramApi, chat: int) -> list[str]:
    """Callback data of the latest message with a keyboard."""
    for msg in reversed(tg.sent_to(chat)):
        if markup := msg.get("reply_markup"):
            return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
    return []


def texts(tg: FakeTelegramApi, chat: int) -> list[str]:
    return [REFERENCE.sub("<ref>", m["text"]) for m in tg.sent_to(chat) if "text" in m]


async def count(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def test_two_instances_answer_in_order_once_and_survive_a_kill(
    pg_url: str, tmp_path: Path
) -> None:
    data_key, secret_key = generate_key_setting(), "s" * 40
    settings = Settings(
        database_url=pg_url, data_key=data_key, secret_key=secret_key, data_dir=tmp_path / "seed"
    )
    runtime = await open_runtime(settings)
    subscribers = await add_subscribers(runtime, SUBSCRIBERS, channels=("telegram",))
    await runtime.close()

    async with FakeTelegramApi() as tg, aiohttp.ClientSession() as http:
        instances = []
        for name in ("a", "b"):
            port = free_port()
            env = environment(
                tmp_path / name,
                DATABASE_URL=pg_url,
                DATA_KEY=data_key,
                SECRET_KEY=secret_key,
                DATA_DIR=str(tmp_path / name / "var"),
                PORT=str(port),
                TELEGRAM_BOT_TOKEN=TOKEN,
                TELEGRAM_API_URL=tg.url,
                TELEGRAM_MODE="webhook",
                TELEGRAM_WEBHOOK_SECRET=SECRET,
                PUBLIC_URL=f"http://127.0.0.1:{port}",
                TELEGRAM_RATE_GLOBAL="400",
                TELEGRAM_RATE_PER_CHAT="0",
                FLOOD_BURST="1000",
                FLOOD_PER_SECOND="100",
                LOG_LEVEL="WARNING",
            )
            instances.append(Instance(name, env, tmp_path / name))
        try:
            for instance in instances:
                await instance.start()
            for instance in instances:
                await instance.wait_up(http)
            tg.webhook = {}  # the test delivers the updates: it is the balancer
            balancer = Balancer(http, instances)
            rng = random.Random(5)

            # The reference: one citizen, every answer awaited before the next update; a
            # press takes the first button of the latest keyboard that starts as scripted.
            alone, script = 9_000_000, []
            for kind, value in SCRIPT:
                if kind == "press":
                    offered = keyboard(tg, alone)
                    found = [d for d in offered if d.startswith(value)]
                    assert found, (value, offered, texts(tg, alone)[-1:])
                    value = found[0]
                script.append((kind, value))
                before = len(tg.sent_to(alone))
                await balancer.deliver(push(tg, alone, (kind, value)))
                await until(lambda: len(tg.sent_to(alone)) > before, 60, "the answer")
            expected = texts(tg, alone)
            assert len(expected) == len(SCRIPT)
            assert "<ref>" in expected[-1], expected[-1]

            chats = [9_100_000 + i for i in range(CHATS)]
            await asyncio.gather(*(walk(tg, balancer, chat, script, rng) for chat in chats))
            await until(
                lambda: all(len(tg.sent_to(c)) >= len(SCRIPT) for c in chats),
                300,
                "every chat's answers",
                log=instances[0].cwd / "run.log",
            )
            for chat in chats:
                assert texts(tg, chat) == expected, chat
            assert balancer.repeats > CHATS  # the same update reached both instances
            tickets = await count(pg_url, "SELECT count(*) FROM tickets WHERE kind = 'complaint'")
            assert tickets == CHATS + 1
            doubled = await count(
                pg_url,
                "SELECT count(*) FROM (SELECT citizen_id FROM tickets"
                " GROUP BY citizen_id HAVING count(*) > 1) d",
            )
            assert doubled == 0

            # A campaign both instances send; one of them is killed halfway.
            create = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "campaign", "create", "--file",
                str(campaign_file(tmp_path / "c.toml")),
                cwd=tmp_path / "a", env=instances[0].env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await create.communicate()
            assert create.returncode == 0, err.decode()
            campaign = {int(m.chat_key) for m in subscribers}

            def campaign_sent() -> int:
                return sum(
                    1
                    for c in tg.calls_to("sendMessage")
                    if int(c.params.get("chat_id", 0)) in campaign
                )

            await until(lambda: campaign_sent() >= SUBSCRIBERS // 3, 60, "a third of it")
            late = [9_200_000 + i for i in range(LATE_CHATS)]
            walking = asyncio.gather(*(walk(tg, balancer, chat, script, rng) for chat in late))
            await asyncio.sleep(0.05)
            victim, survivor = instances[1], instances[0]
            victim.kill()
            assert victim.proc is not None
            await victim.proc.wait()
            at_kill = campaign_sent()
            assert at_kill < SUBSCRIBERS, "the campaign finished before the kill"
            await walking

            await until(
                lambda: all(len(tg.sent_to(c)) >= len(SCRIPT) for c in late),
                240,
                "the late chats' answers",
                log=survivor.cwd / "run.log",
            )
            await until(
                lambda: count(pg_url, "SELECT count(*) FROM campaign_runs WHERE status = 'done'"),
                180,
                "the campaign run to finish",
                log=survivor.cwd / "run.log",
            )
            for chat in late:
                # Nothing lost, in order. An answer the dead instance had sent but not yet
                # counted goes out again from the survivor, before the chat goes on (at
                # least once, as after a restart): at most one, right after itself.
                got = texts(tg, chat)
                once = [t for i, t in enumerate(got) if i == 0 or t != got[i - 1]]
                assert once == expected, chat
                assert len(got) - len(once) <= 1, chat
            per_chat: dict[int, int] = {}
            for call in tg.calls_to("sendMessage"):
                chat_id = int(call.params.get("chat_id", 0))
                if chat_id in campaign:
                    per_chat[chat_id] = per_chat.get(chat_id, 0) + 1
            assert max(per_chat.values()) == 1, "a subscriber got the campaign twice"
            unknown = await count(
                pg_url, "SELECT count(*) FROM campaign_deliveries WHERE status = 'unknown'"
            )
            assert len(per_chat) + unknown >= SUBSCRIBERS, (len(per_chat), unknown)
            assert survivor.alive
        finally:
            for instance in instances:
                await instance.stop()


def campaign_file(path: Path) -> Path:
    lines = ['title = "Mobile reception"', "[text]"]
    lines += [f'{lang} = "{text}"' for lang, text in TEXTS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
