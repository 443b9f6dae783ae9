"""Broadcast benchmark: 100,000 Telegram subscribers against a fake Bot API on 127.0.0.1.

    .venv/bin/python benchmarks/broadcast.py [--subscribers 100000] [--seconds 15] [--against DIR]

`--against DIR` also measures another checkout (say, a worktree of the commit before a
change: `git worktree add /tmp/old HEAD~1`) in the same run, on the same fake, so the two
can be compared on a noisy machine: this script runs again in a child process with that
checkout's `bot` package first on the path.

The fake Bot API (tests/fakes/telegram_api.py, plus a /_fake/pace route added here) runs in
a separate process; this process runs the real campaign engine, scheduler and SQLite store
with the real TelegramSender (python-telegram-bot on the aiohttp transport). Three runs:

1. limits off: the whole campaign to every subscriber; messages a second, peak memory.
2. default limits (30/s overall): the same audience for --seconds, then cancelled; the
   achieved rate as the fake server saw it.
3. default limits, per chat (1/s): three campaigns at once to the same 40 chats; the
   highest rate seen to any one chat (1 / the shortest gap between two of its messages).

Subscribers are written straight into the citizens table (encrypted and hashed exactly as
SqlCitizenStore does) to keep the set-up short; everything measured is production code.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("BENCH_CHECKOUT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, web  # noqa: E402

from bot.campaigns.model import CampaignDraft  # noqa: E402
from bot.channels.telegram.request import AiohttpRequest  # noqa: E402
from bot.channels.telegram.sender import BotApi, TelegramSender  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.crypto import generate_key_setting  # noqa: E402
from bot.runtime import Runtime, campaign_service, open_runtime  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramApi  # noqa: E402

TOKEN = "123456:" + "B" * 35
TEXTS = {
    "kk": "Жылжымалы қабылдау автобусы дүйсенбіде Алматыда болады.",
    "ru": "Мобильный автобус приёма будет в Алматы в понедельник.",
    "en": "The mobile reception bus will be in Almaty on Monday.",
}


class PacedFake(FakeTelegramApi):
    """The fake Bot API with one more control route: what arrived, and how fast."""

    def _control_routes(self) -> list[Any]:
        return [*super()._control_routes(), ("GET", "/_fake/pace", self._pace)]

    async def _pace(self, request: web.Request) -> web.Response:
        since = float(request.query.get("since", "0"))
        times = sorted(c.time for c in self.calls if c.method == "sendMessage" and c.time >= since)
        shortest = float("inf")
        for answers in self._answers.values():
            stamps = sorted(a.time for a in answers if a.time >= since)
            for a, b in itertools.pairwise(stamps):
                shortest = min(shortest, b - a)
        return web.json_response(
            {
                "now": time.perf_counter(),
                "count": len(times),
                "span": times[-1] - times[0] if len(times) > 1 else 0.0,
                "max_chat_rate": 1 / shortest if shortest not in (0.0, float("inf")) else None,
            }
        )


async def serve_fake() -> None:
    async with PacedFake() as api:
        print(f"READY {api.url}", flush=True)
        await asyncio.Event().wait()


async def seed(runtime: Runtime, count: int) -> None:
    cipher = runtime.cipher
    now = datetime.now(UTC).isoformat()
    async with runtime.storage.transaction() as tx:
        for start in range(0, count, 5000):
            rows = []
            for i in range(start, min(count, start + 5000)):
                key = str(10_000_000 + i)
                rows.append(
                    (
                        "telegram",
                        cipher.keyed_hash(f"telegram:{key}", purpose="citizen"),
                        cipher.encrypt(key.encode(), context=b"citizen"),
                        ("kk", "ru", "en")[i % 3],
                        now,
                    )
                )
            await tx.conn.executemany(
                "INSERT INTO citizens (channel, chat_hash, address, locale, subscribed,"
                " created_at) VALUES (?, ?, ?, ?, 1, ?)",
                rows,
            )


async def pace(url: str, since: float = 0.0) -> dict[str, Any]:
    async with ClientSession() as http, http.get(f"{url}/_fake/pace?since={since}") as resp:
        result: dict[str, Any] = await resp.json()
        return result


def telegram_budget(runtime: Runtime) -> Any:
    """The checkout's Telegram pacing: the shared budget, or (before bot/pacing.py, for
    --against an older commit) the sender's own `Pacer`."""
    if hasattr(runtime, "pacing"):
        return runtime.pacing.telegram
    from bot.channels.telegram import sender

    settings = runtime.settings
    return sender.Pacer(settings.telegram_rate_global, settings.telegram_rate_per_chat)


async def campaign_run(
    settings: Settings, url: str, *, audience_limit: int | None, campaigns: int, seconds: float
) -> tuple[float, int]:
    """Start `campaigns` campaigns now; wait until done (or `seconds`); (elapsed, sent)."""
    runtime = await open_runtime(settings)
    request = AiohttpRequest(connection_pool_size=256)
    await request.initialize()
    api = BotApi(url, TOKEN, request, request)
    budget = telegram_budget(runtime)
    runtime.outbox.senders["telegram"] = TelegramSender(api, budget, runtime.attachments)
    service = campaign_service(runtime)
    await service.start()
    started = time.perf_counter()
    ids = []
    for n in range(campaigns):
        draft = CampaignDraft(title=f"bench {n}", texts=dict(TEXTS))
        ids.append((await service.create(draft)).id)
    while time.perf_counter() - started < seconds:
        async with service.campaigns.read() as store:
            states = [await store.progress(i, now=datetime.now(UTC)) for i in ids]
        if all(p.run_status == "done" for p in states):
            break
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - started
    for campaign_id in ids:
        await service.control(campaign_id, "cancel")
    sent = service.engine.sent_count
    await service.stop()
    await request.shutdown()
    await runtime.close()
    return elapsed, sent


def cpu_seconds() -> float:
    """This process's CPU time: steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(url: str, args: argparse.Namespace, label: str) -> None:
    """The three runs against the fake at `url`, each printed with `label`."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Settings(
            database_path=Path(tmp) / "bench.sqlite3",
            data_key=generate_key_setting(),
            secret_key="s" * 40,
        )
        runtime = await open_runtime(base)
        await seed(runtime, args.subscribers)
        await runtime.close()
        off = replace(base, telegram_rate_global=0, telegram_rate_per_chat=0, whatsapp_rate=0)
        before = cpu_seconds()
        elapsed, sent = await campaign_run(off, url, audience_limit=None, campaigns=1, seconds=3600)
        cpu = cpu_seconds() - before
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{label}limits off: {sent} messages in {elapsed:.1f} s = {sent / elapsed:,.0f} msg/s;"
            f" {cpu:.1f} CPU s; peak memory {peak:.0f} MB",
            flush=True,
        )

        mark = (await pace(url))["now"]
        elapsed, sent = await campaign_run(
            base, url, audience_limit=None, campaigns=1, seconds=args.seconds
        )
        seen = await pace(url, mark)
        rate = seen["count"] / seen["span"] if seen["span"] else 0.0
        print(
            f"{label}limits on ({base.telegram_rate_global:g}/s): {seen['count']} messages,"
            f" achieved {rate:.1f} msg/s"
            f" ({100 * rate / base.telegram_rate_global:.0f}% of the limit)",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        small = replace(base, database_path=Path(tmp) / "chats.sqlite3")
        runtime = await open_runtime(small)
        await seed(runtime, 40)
        await runtime.close()
        mark = (await pace(url))["now"]
        await campaign_run(small, url, audience_limit=40, campaigns=3, seconds=60)
        seen = await pace(url, mark)
        print(
            f"{label}per chat ({small.telegram_rate_per_chat:g}/s): 3 campaigns x 40 chats,"
            f" {seen['count']} messages; highest rate to one chat"
            f" {seen['max_chat_rate']:.2f} msg/s",
            flush=True,
        )


async def main(args: argparse.Namespace) -> None:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().split()[1]
    try:
        await measure(url, args, "")
        if args.against is not None:
            other = args.against.resolve()
            command = [sys.executable, __file__, "--fake-url", url, "--label", f"@{other.name} "]
            command += ["--subscribers", str(args.subscribers), "--seconds", str(args.seconds)]
            env = {**os.environ, "BENCH_CHECKOUT": str(other)}
            subprocess.run(command, cwd=other, env=env, check=True)
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--against", type=Path, help="another checkout, measured too")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fake-url", help=argparse.SUPPRESS)  # --against's child: measure only
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve_fake:
        asyncio.run(serve_fake())
    elif parsed.fake_url:
        asyncio.run(measure(parsed.fake_url, parsed, parsed.label))
    else:
        asyncio.run(main(parsed))
