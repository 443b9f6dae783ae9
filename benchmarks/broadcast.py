"""Broadcast benchmark: Telegram subscribers (100,000 by default, up to millions) against a
fake Bot API on 127.0.0.1.

    .venv/bin/python benchmarks/broadcast.py [--recipients 1000000] [--seconds 15] [--against DIR]

`--against DIR` also measures another checkout (say, a worktree of the commit before a
change: `git worktree add /tmp/old HEAD~1`) in the same run, on the same fake, so the two
can be compared on a noisy machine: this script runs again in a child process with that
checkout's `bot` package first on the path.

The fake Bot API (tests/fakes/telegram_api.py, answering sendMessage on a lean path that
keeps only timestamps, so a million messages fit) runs in a separate process; this
process runs the real campaign engine, scheduler and SQLite store with the real
TelegramSender (python-telegram-bot on the aiohttp transport). The runs:

1. limits off: the whole campaign to every recipient; the time to select the audience
   (one INSERT ... SELECT of the delivery rows), messages a second, the process's peak
   memory (ru_maxrss) and the run's Python peak (tracemalloc; `--no-trace` leaves it off,
   which is a little faster).
2. default limits (30/s overall): the same audience for --seconds, then cancelled; the
   achieved rate as the fake server saw it.
3. a paid broadcast (allow_paid_broadcast, 1,000/s): the same, at the paid limit.
4. default limits, per chat (1/s): three campaigns at once to the same 40 chats; the
   highest rate seen to any one chat (1 / the shortest gap between two of its messages).

Subscribers are written by one INSERT ... SELECT over a recursive counter (10,000
distinct chat ids, encrypted as SqlCitizenStore does, reused round-robin), so seeding a
million takes seconds; everything measured is production code.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import bisect
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import fields, replace
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
from tests.fakes.telegram_api import FakeTelegramApi, _dumps, _read_params  # noqa: E402

TOKEN = "123456:" + "B" * 35
CHATS = 10_000  # distinct chat ids among the recipients
TEXTS = {
    "kk": "Жылжымалы қабылдау автобусы дүйсенбіде Алматыда болады.",
    "ru": "Мобильный автобус приёма будет в Алматы в понедельник.",
    "en": "The mobile reception bus will be in Almaty on Monday.",
}
PAID = "paid_broadcast" in {f.name for f in fields(CampaignDraft)}


class PacedFake(FakeTelegramApi):
    """The fake Bot API, with sendMessage answered on a lean path that keeps only what
    this benchmark reads (when each message came, the shortest gap to one chat, how many
    asked for a paid broadcast), and one more control route to read it."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps = array.array("d")
        self._last: dict[Any, float] = {}
        self._shortest = float("inf")
        self._paid = 0
        self._ids = itertools.count(1)

    def _control_routes(self) -> list[Any]:
        return [*super()._control_routes(), ("GET", "/_fake/pace", self._pace)]

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["method"].lower() != "sendmessage":
            return await super()._handle_method(request)
        now = time.perf_counter()
        params = await _read_params(request)
        chat = params.get("chat_id")
        self.stamps.append(now)
        self._paid += params.get("allow_paid_broadcast") is True
        last = self._last.get(chat)
        if last is not None:
            self._shortest = min(self._shortest, now - last)
        self._last[chat] = now
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "text": params.get("text", ""),
        }
        body = _dumps({"ok": True, "result": message}).encode()
        return web.Response(body=body, content_type="application/json")

    async def _pace(self, request: web.Request) -> web.Response:
        """What came since `since`; `mark=1` starts counting chats' gaps and paid sends anew."""
        since = float(request.query.get("since", "0"))
        first = bisect.bisect_left(self.stamps, since)
        count = len(self.stamps) - first
        shortest, paid = self._shortest, self._paid
        if request.query.get("mark"):
            self._last.clear()
            self._shortest, self._paid = float("inf"), 0
        return web.json_response(
            {
                "now": time.perf_counter(),
                "count": count,
                "span": self.stamps[-1] - self.stamps[first] if count > 1 else 0.0,
                "paid": paid,
                "max_chat_rate": 1 / shortest if shortest not in (0.0, float("inf")) else None,
            }
        )


async def serve_fake() -> None:
    async with PacedFake() as api:
        print(f"READY {api.url}", flush=True)
        await asyncio.Event().wait()


async def seed(runtime: Runtime, count: int) -> float:
    """`count` Telegram subscribers by one INSERT ... SELECT; returns the seconds it took."""
    started = time.perf_counter()
    cipher, now = runtime.cipher, datetime.now(UTC).isoformat()
    chats = min(count, CHATS)
    addresses = [
        (n, cipher.encrypt(str(10_000_000 + n).encode(), context=b"citizen")) for n in range(chats)
    ]
    async with runtime.storage.transaction() as tx:
        await tx.conn.execute("CREATE TEMP TABLE bench_chats (n INTEGER PRIMARY KEY, address)")
        await tx.conn.executemany("INSERT INTO bench_chats VALUES (?, ?)", addresses)
        await tx.conn.execute(
            "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < ?)"
            " INSERT INTO citizens (channel, chat_hash, address, locale, subscribed, created_at)"
            " SELECT 'telegram', 'bench:' || seq.n, b.address,"
            " CASE seq.n % 3 WHEN 0 THEN 'kk' WHEN 1 THEN 'ru' ELSE 'en' END, 1, ?"
            " FROM seq JOIN bench_chats b ON b.n = seq.n % ?",
            (count, now, chats),
        )
        await tx.conn.execute("DROP TABLE bench_chats")
    return time.perf_counter() - started


async def pace(url: str, since: float = 0.0, *, mark: bool = False) -> dict[str, Any]:
    query = f"since={since}" + ("&mark=1" if mark else "")
    async with ClientSession() as http, http.get(f"{url}/_fake/pace?{query}") as resp:
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
    settings: Settings, url: str, *, campaigns: int, seconds: float, paid: bool = False
) -> dict[str, float]:
    """Start `campaigns` campaigns now; wait until done (or `seconds`). Returns the time
    to select the audience, the time sending took, and what the database counts sent."""
    runtime = await open_runtime(settings)
    request = AiohttpRequest(connection_pool_size=256)
    await request.initialize()
    api = BotApi(url, TOKEN, request, request)
    budget = telegram_budget(runtime)
    runtime.outbox.senders["telegram"] = TelegramSender(api, budget, runtime.attachments)
    service = campaign_service(runtime)
    await service.start()
    ids = []
    started = time.perf_counter()
    for n in range(campaigns):
        draft = CampaignDraft(title=f"bench {n}", texts=dict(TEXTS))
        if paid:
            draft.paid_broadcast = True  # type: ignore[attr-defined]
        # A campaign for now: its audience is selected (its rows written) before this returns.
        ids.append((await service.create(draft)).id)
    selected = time.perf_counter()
    while time.perf_counter() - selected < seconds:
        async with service.campaigns.read() as store:
            runs = [await store.latest_run(i) for i in ids]
        if all(run is not None and run[1] == "done" for run in runs):
            break
        await asyncio.sleep(0.5)
    elapsed = time.perf_counter() - selected
    for campaign_id in ids:
        await service.control(campaign_id, "cancel")
    await service.stop()
    # From the delivery rows, as the console counts: no instance's own counter.
    async with service.campaigns.read() as store:
        now = datetime.now(UTC)
        sent = sum([(await store.progress(i, now=now)).count("sent") for i in ids])
    await request.shutdown()
    await runtime.close()
    return {"select": selected - started, "elapsed": elapsed, "sent": sent}


def cpu_seconds() -> float:
    """This process's CPU time: steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def limits_off(base: Settings, url: str, args: argparse.Namespace, label: str) -> None:
    off = replace(base, telegram_rate_global=0, telegram_rate_per_chat=0, whatsapp_rate=0)
    before = cpu_seconds()
    if args.trace:
        tracemalloc.start()
    run = await campaign_run(off, url, campaigns=1, seconds=24 * 3600)
    traced = tracemalloc.get_traced_memory()[1] / 1e6 if args.trace else None
    tracemalloc.stop()
    cpu = cpu_seconds() - before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sent, elapsed = int(run["sent"]), run["elapsed"]
    python = f"{traced:.1f} MB" if traced is not None else "not traced"
    print(
        f"{label}limits off: audience of {args.recipients:,} selected in {run['select']:.1f} s;"
        f" {sent:,} messages in {elapsed:.1f} s = {sent / elapsed:,.0f} msg/s;"
        f" {cpu:.1f} CPU s; peak memory {peak:.0f} MB (ru_maxrss), Python peak {python}"
        " (tracemalloc)",
        flush=True,
    )


async def limited(
    settings: Settings, url: str, args: argparse.Namespace, label: str, *, paid: bool
) -> None:
    mark = (await pace(url, mark=True))["now"]
    await campaign_run(settings, url, campaigns=1, seconds=args.seconds, paid=paid)
    seen = await pace(url, mark)
    rate = seen["count"] / seen["span"] if seen["span"] else 0.0
    limit = settings.telegram_paid_rate if paid else settings.telegram_rate_global  # type: ignore[attr-defined]
    name = "paid broadcast" if paid else "limits on"
    print(
        f"{label}{name} ({limit:g}/s): {seen['count']:,} messages"
        f" ({seen['paid']:,} with allow_paid_broadcast), achieved {rate:.1f} msg/s"
        f" ({100 * rate / limit:.0f}% of the limit)",
        flush=True,
    )


async def measure(url: str, args: argparse.Namespace, label: str) -> None:
    """The runs against the fake at `url`, each printed with `label`."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Settings(
            database_path=Path(tmp) / "bench.sqlite3",
            data_key=generate_key_setting(),
            secret_key="s" * 40,
        )
        runtime = await open_runtime(base)
        took = await seed(runtime, args.recipients)
        await runtime.close()
        print(f"{label}seeded {args.recipients:,} subscribers in {took:.1f} s", flush=True)
        await limits_off(base, url, args, label)
        await limited(base, url, args, label, paid=False)
        if PAID:
            await limited(base, url, args, label, paid=True)

    with tempfile.TemporaryDirectory() as tmp:
        small = replace(base, database_path=Path(tmp) / "chats.sqlite3")
        runtime = await open_runtime(small)
        await seed(runtime, 40)
        await runtime.close()
        mark = (await pace(url, mark=True))["now"]
        await campaign_run(small, url, campaigns=3, seconds=60)
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
            command += ["--recipients", str(args.recipients), "--seconds", str(args.seconds)]
            command += [] if args.trace else ["--no-trace"]
            env = {**os.environ, "BENCH_CHECKOUT": str(other)}
            subprocess.run(command, cwd=other, env=env, check=True)
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipients", "--subscribers", dest="recipients", type=int, default=100_000
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--against", type=Path, help="another checkout, measured too")
    parser.add_argument(
        "--no-trace", dest="trace", action="store_false", help="leave tracemalloc off"
    )
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
