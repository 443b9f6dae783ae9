"""Scaling out on Telegram webhooks: one govbot on SQLite, one on PostgreSQL, two on one
PostgreSQL, in one run, behind the same balancer and the same fake Bot API.

    python benchmarks/scale_out.py [--messages 6000] [--chats 500] [--rows sqlite-1,pg-1,pg-2]
                                   [--walk typed|buttons] [--by-chat] [--lanes 40] [--cpus 0,1]
                                   [--profile DIR] [--quick]

Starts everything itself and stops it (also on Ctrl-C or SIGTERM): the fake Bot API in a
child process (tests/fakes/telegram_api.py), a throwaway PostgreSQL cluster in a temp dir
(tests/pg_cluster.py: fsync off, a fresh migrated database per row) and, per row, N
`govbot run` processes in webhook mode. The fake is also the load generator and the
balancer: every chat walks the menu (benchmarks/telegram_throughput.py), one step at a
time; each step is a real update JSON POSTed with the secret header to the next instance in
turn (`--by-chat`: always the chat's instance), on the 40 lanes the bot asked for; a step
counts when its answer reaches the fake. Pacing is off, flood limits high, LOG_LEVEL=WARNING.

Per row: msg/s, p50/p99 from the update's queueing for POST to its answer, CPU seconds of
the govbot processes and of PostgreSQL's (postmaster and backends), the fake's, CPU ms per
message, the machine's CPU use (/proc/stat: other people's work counts too) and what bound
the row. `--cpus 0,1` pins instance i to CPU i mod 2 (taskset), to show scaling per core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from telegram_load import CLOCK_TICKS, LoadResult, cpu_seconds, run_load, start_fake  # noqa: E402
from telegram_throughput import govbot_menu_step, govbot_typed_step  # noqa: E402

TOKEN = "123456789:AAFakeBenchmarkToken-0123456789abcdef"
SECRET = "scale-out-benchmark-secret_0123456789"
BACKENDS = ("sqlite", "pg")
GOAL = 1.6  # two instances against one, on PostgreSQL (issue 17)
SATURATED = 0.9  # of the cores, or of one core for one Python process


@dataclass(frozen=True)
class Row:
    backend: str
    instances: int

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.instances}"


def parse_rows(text: str) -> list[Row]:
    rows = []
    for name in filter(None, (part.strip() for part in text.split(","))):
        backend, _, count = name.rpartition("-")
        if backend not in BACKENDS or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{name}: a row is sqlite-1 or pg-N")
        if backend == "sqlite" and int(count) != 1:
            raise ValueError(f"{name}: a SQLite file serves one process")
        rows.append(Row(backend, int(count)))
    return rows


# ---- what a row cost, and what bound it -------------------------------------------------


@dataclass
class Usage:
    """CPU seconds over one row's load, from /proc."""

    wall_s: float
    cores: int
    machine_s: float  # every process on the machine, ours and everybody else's
    instance_s: list[float]
    postgres_s: float
    fake_s: float
    transactions: int = 0  # PostgreSQL's, over the row
    post_ms: float = 0.0  # median time for the bot to answer a webhook POST (200)
    lanes_busy: float = 0.0  # of the bot's webhook lanes (max_connections), over the row

    @property
    def govbot_s(self) -> float:
        return sum(self.instance_s)

    def ceiling(self, messages: int) -> float:
        """msg/s this row's CPU cost per message allows on the machine's cores with nothing
        else running: govbot and PostgreSQL together within the cores, and each instance
        (one Python thread) within one core. The fake is left out: it stands for Telegram."""
        if not messages or not self.govbot_s:
            return 0.0
        server = (self.govbot_s + self.postgres_s) / messages
        per_instance = self.govbot_s / messages / len(self.instance_s)
        return min(self.cores / server, 1 / per_instance)

    def share(self, seconds: float) -> float:
        """Seconds of CPU as a fraction of one core over the row."""
        return seconds / self.wall_s if self.wall_s else 0.0


def bound(u: Usage) -> str:
    """What held the row back, from the CPU it used: the whole machine, one Python process
    (one thread, so one core at most), the load generator, or nothing busy (waiting)."""
    machine = u.share(u.machine_s)
    ours = u.share(u.govbot_s + u.postgres_s + u.fake_s)
    if machine >= SATURATED * u.cores:
        verdict = f"CPU: machine {machine:.0%} of {100 * u.cores}%"
        if machine - ours > ours:
            verdict += f", mostly other work ({machine - ours:.0%}): compare ms/msg, not msg/s"
        verdict += f" (govbot+PostgreSQL+fake {ours:.0%})"
        if u.lanes_busy >= SATURATED:  # what the slowness shows up as
            verdict += f"; webhook lanes {u.lanes_busy:.0%} busy"
        return verdict
    busiest = max(u.instance_s, default=0.0)
    if u.share(busiest) >= SATURATED:
        return f"CPU: a govbot process at {u.share(busiest):.0%} of its one core"
    if u.share(u.fake_s) >= SATURATED:
        return f"CPU: the fake (load generator) at {u.share(u.fake_s):.0%} of a core"
    if u.lanes_busy >= SATURATED:
        return f"webhook lanes: {u.lanes_busy:.0%} busy, a POST waits {u.post_ms:.0f} ms for 200"
    return f"waiting: machine {machine:.0%} of {100 * u.cores}% (database, chat turns)"


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (/proc/stat: all but idle, iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


# ---- the processes ----------------------------------------------------------------------


def govbot_env(row: Row, index: int, workdir: Path, *, api_url: str, db_url: str) -> dict[str, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not _govbot_setting(k)}
    env.update(
        DATABASE_URL=db_url,
        DATA_DIR=str(workdir / "var"),
        HOST="127.0.0.1",
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api_url,
        TELEGRAM_MODE="webhook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        # The fake has no limits: pacing off (in production ~30 msg/s, ~1 msg/s a chat).
        TELEGRAM_RATE_GLOBAL="0",
        TELEGRAM_RATE_PER_CHAT="0",
        FLOOD_BURST="1000",
        FLOOD_PER_SECOND="100",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def _govbot_setting(name: str) -> bool:
    return name.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_", "FLOOD_")) or name in {
        "DATA_KEY", "SECRET_KEY", "DATA_DIR", "HOST", "PORT", "PUBLIC_URL", "LOG_LEVEL",
    }  # fmt: skip


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark dies, even by SIGKILL."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# `govbot run` under cProfile counting CPU time (not wall time: the machine is shared),
# written when it stops.
PROFILED = """import cProfile, runpy, sys, time
sys.argv = ["bot", "run"]
profile = cProfile.Profile(time.process_time)
try:
    profile.runcall(runpy.run_module, "bot", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
finally:
    profile.dump_stats({path!r})
"""


@contextmanager
def instances(
    envs: Sequence[dict[str, str]], workdir: Path, cpus: Sequence[int], profile: Path | None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`govbot run` per environment (pinned to `cpus[i % len]` if given; the first one under
    cProfile, written to `profile` when it stops, if given), stopped on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, env in enumerate(envs):
            cwd = workdir / f"i{i}"
            cwd.mkdir(parents=True)
            command = ["taskset", "-c", str(cpus[i % len(cpus)])] if cpus else []
            if profile is not None and i == 0:
                command += [sys.executable, "-c", PROFILED.format(path=str(profile))]
            else:
                command += [sys.executable, "-m", "bot", "run"]
            with (cwd / "run.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        command, cwd=cwd, env=env,
                        stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                    )
                )  # fmt: skip
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:  # SIGINT: uvicorn would re-raise SIGTERM, and no profile
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(
    procs: Sequence[subprocess.Popen[bytes]], envs: Sequence[dict[str, str]], api_url: str
) -> None:
    """Every instance answers /healthz and has registered its webhook with the fake."""
    deadline = time.monotonic() + 60
    ready: set[int] = set()
    while time.monotonic() < deadline:
        for i, (proc, env) in enumerate(zip(procs, envs, strict=True)):
            if proc.poll() is not None:
                log = Path(env["DATA_DIR"]).parent / "run.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"instance {i} exited with {proc.returncode}\n{tail}")
            if i not in ready and _get(f"{env['PUBLIC_URL']}/healthz") == 200:
                ready.add(i)
        hooks = _fake(api_url, "stats")["calls"].get("setWebhook", 0)
        if len(ready) == len(procs) and hooks >= len(procs):
            return
        time.sleep(0.1)
    raise RuntimeError("the instances did not start in 60 s")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def _fake(api_url: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api_url}/_fake/{path}", data=data)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def pg_transactions(db_url: str) -> int:
    """Transactions the database has ended (pg_stat_database; a backend reports its own
    when it exits at the latest, so read it once the instances are stopped)."""
    import asyncpg

    async def count() -> int:
        conn = await asyncpg.connect(db_url)
        try:
            sql = "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            return int(await conn.fetchval(sql + " WHERE datname = current_database()"))
        finally:
            await conn.close()

    return asyncio.run(count())


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


# ---- one row ----------------------------------------------------------------------------


def measure_row(
    row: Row, args: argparse.Namespace, api_url: str, cluster: Any, workdir: Path
) -> tuple[LoadResult, Usage | None]:
    _fake(api_url, "reset", {})
    if row.backend == "pg":
        from bot.crypto import generate_key_setting

        db_url = asyncio.run(cluster.fresh_database())
        keys = {"DATA_KEY": generate_key_setting(), "SECRET_KEY": "s" * 40}
    else:
        db_url, keys = f"sqlite:///{workdir / 'govbot.sqlite3'}", {}
    envs = []
    for i in range(row.instances):
        env = govbot_env(row, i, workdir / f"i{i}", api_url=api_url, db_url=db_url)
        envs.append({**env, **keys})
    profile = args.profile / f"{row.label}.prof" if args.profile else None
    tx0 = pg_transactions(db_url) if row.backend == "pg" else 0
    with instances(envs, workdir, args.cpus, profile) as procs:
        wait_ready(procs, envs, api_url)
        hooks = [f"{env['PUBLIC_URL']}/webhooks/telegram" for env in envs]
        _fake(api_url, "balance", {"urls": hooks, "by_chat": args.by_chat, "lanes": args.lanes})
        time.sleep(0.3)  # start-up work (setMyCommands, the first sweep) settles
        pg = postmaster_pid(cluster.data) if row.backend == "pg" else None
        fake_pid = _fake(api_url, "stats")["pid"]
        pids = [p.pid for p in procs]
        before = [cpu_seconds(p) for p in pids]
        pg0, fake0 = cpu_seconds(pg) if pg else 0.0, cpu_seconds(fake_pid)
        machine0, t0 = machine_cpu_seconds(), time.monotonic()
        step = govbot_menu_step if args.walk == "buttons" else govbot_typed_step
        load = run_load(
            api_url, name=row.label, messages=args.messages, chats=args.chats, step=step,
            timeout=args.timeout,
        )  # fmt: skip
        wall = time.monotonic() - t0
        hooks = _fake(api_url, "stats?webhook_seconds=1")
        posts = sorted(hooks["webhook_seconds"])
        usage = Usage(
            wall_s=wall,
            post_ms=1000 * posts[len(posts) // 2] if posts else 0.0,
            lanes_busy=sum(posts) / (wall * max(hooks["webhook_lanes"], 1)),
            cores=os.cpu_count() or 1,
            machine_s=machine_cpu_seconds() - machine0,
            instance_s=[cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)],
            postgres_s=(cpu_seconds(pg) - pg0) if pg else 0.0,
            fake_s=cpu_seconds(fake_pid) - fake0,
        )
    if row.backend == "pg":  # start-up and shut-down count too: a few dozen
        usage.transactions = pg_transactions(db_url) - tx0
    return load, usage


# ---- the table --------------------------------------------------------------------------


def print_table(rows: Sequence[tuple[LoadResult, Usage | None]]) -> None:
    print(
        f"{'row':<10}{'msg/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'govbot s':>9}{'PG s':>7}"
        f"{'fake s':>7}{'ms/msg':>7}{'tx/msg':>7}{'cap/s':>6}{'POST ms':>8}{'machine':>8}"
        "  check; bound"
    )
    for load, u in rows:
        check = "ok" if load.order_ok else "BROKEN: " + "; ".join(load.problems[:3])
        check += f" ({load.answered}/{load.total} in {load.seconds:.1f}s)"
        if u is None:
            print(f"{load.name:<10}{'-':>7}  {check}")
            continue
        per_msg = 1000 * (u.govbot_s + u.postgres_s) / max(load.answered, 1)
        per_core = " ".join(f"{u.share(s):.0%}" for s in u.instance_s)
        print(
            f"{load.name:<10}{load.per_second:>7.0f}{load.p50_ms:>8.0f}{load.p99_ms:>8.0f}"
            f"{u.govbot_s:>9.2f}{u.postgres_s:>7.2f}{u.fake_s:>7.2f}{per_msg:>7.2f}"
            f"{u.transactions / max(load.answered, 1):>7.1f}{u.ceiling(load.answered):>6.0f}"
            f"{u.post_ms:>8.1f}"
            f"{u.share(u.machine_s):>8.0%}  {check}; {bound(u)}; instances {per_core}"
        )


def print_verdict(rows: Sequence[tuple[LoadResult, Usage | None]]) -> None:
    by_label = {load.name: (load, u) for load, u in rows}
    (one, u1), (two, u2) = by_label.get("pg-1", (None, None)), by_label.get("pg-2", (None, None))
    if one and two and one.per_second:
        ratio = two.per_second / one.per_second
        verdict = "met" if ratio >= GOAL else "NOT met"
        line = f"pg-2 / pg-1 = {ratio:.2f}x (goal >= {GOAL}x: {verdict})"
        if u1 and u2 and u1.ceiling(one.answered):
            cap = u2.ceiling(two.answered) / u1.ceiling(one.answered)
            line += f"; CPU ceilings (cap/s) {cap:.2f}x on {u1.cores} cores"
        print(line)
    print(
        "ms/msg: CPU of govbot and PostgreSQL per answered step; tx/msg: PostgreSQL"
        " transactions per step; cap/s: the rate that CPU cost allows on these cores alone;"
        " POST ms: median time to the bot's 200 for a webhook update"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--rows", type=parse_rows, default=parse_rows("sqlite-1,pg-1,pg-2"))
    parser.add_argument("--walk", choices=("typed", "buttons"), default="typed")
    parser.add_argument("--by-chat", action="store_true", help="a chat always to one instance")
    parser.add_argument(
        "--lanes", type=int, help="webhook POSTs in flight (default: the bot's max_connections, 40)"
    )
    parser.add_argument(
        "--cpus",
        type=lambda s: [int(c) for c in s.split(",")],
        default=[],
        help="pin instance i to CPU cpus[i mod len] (taskset)",
    )
    parser.add_argument("--profile", type=Path, help="cProfile the first instance of each row")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a row may take")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 100 steps, 10 chats")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.chats = 100, 10
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups below
    from tests.pg_cluster import Cluster

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    results: list[tuple[LoadResult, Usage | None]] = []
    fake = start_fake()
    cluster = None
    try:
        if any(row.backend == "pg" for row in args.rows):
            cluster = Cluster.start()
        with tempfile.TemporaryDirectory(prefix="govbot-scale-") as tmp:
            for row in args.rows:
                try:
                    results.append(measure_row(row, args, fake.url, cluster, Path(tmp) / row.label))
                except RuntimeError as err:
                    results.append((LoadResult(name=row.label, problems=[str(err)]), None))
    finally:
        if cluster is not None:
            cluster.stop()
        fake.stop()
    print(
        f"{args.messages} steps ({args.walk}) from {args.chats} chats per row, Telegram"
        f" webhooks {'by chat' if args.by_chat else 'round-robin'}; {os.cpu_count()} cores,"
        f" load average before {' '.join(load_before)}"
        + (f"; {args.lanes} webhook lanes" if args.lanes else "")
        + (f"; instances pinned to CPUs {args.cpus}" if args.cpus else "")
    )
    print_table(results)
    print_verdict(results)
    return 0 if all(load.order_ok for load, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
