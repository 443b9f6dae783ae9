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
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from scale_instances import (  # noqa: E402
    fake_api,
    govbot_env,
    instances,
    pg_transactions,
    postmaster_pid,
    wait_ready,
)
from scale_usage import Usage, bound, machine_cpu_seconds  # noqa: E402
from telegram_load import LoadResult, cpu_seconds, run_load, start_fake  # noqa: E402
from telegram_throughput import govbot_menu_step, govbot_typed_step  # noqa: E402

__all__ = ["Row", "Usage", "bound", "main", "parse_rows"]

BACKENDS = ("sqlite", "pg")
GOAL = 1.6  # two instances against one, on PostgreSQL (issue 17)


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


# ---- one row ----------------------------------------------------------------------------


def measure_row(
    row: Row, args: argparse.Namespace, api_url: str, cluster: Any, workdir: Path
) -> tuple[LoadResult, Usage | None]:
    fake_api(api_url, "reset", {})
    if row.backend == "pg":
        from bot.crypto import generate_key_setting

        db_url = asyncio.run(cluster.fresh_database())
        keys = {"DATA_KEY": generate_key_setting(), "SECRET_KEY": "s" * 40}
    else:
        db_url, keys = f"sqlite:///{workdir / 'govbot.sqlite3'}", {}
    envs = []
    for i in range(row.instances):
        env = govbot_env(workdir / f"i{i}", api_url=api_url, db_url=db_url)
        envs.append({**env, **keys})
    profile = args.profile / f"{row.label}.prof" if args.profile else None
    tx0 = pg_transactions(db_url) if row.backend == "pg" else 0
    with instances(envs, workdir, args.cpus, profile, args.cpu_quota) as procs:
        wait_ready(procs, envs, api_url)
        hooks = [f"{env['PUBLIC_URL']}/webhooks/telegram" for env in envs]
        fake_api(api_url, "balance", {"urls": hooks, "by_chat": args.by_chat, "lanes": args.lanes})
        time.sleep(0.3)  # start-up work (setMyCommands, the first sweep) settles
        pg = postmaster_pid(cluster.data) if row.backend == "pg" else None
        fake_pid = fake_api(api_url, "stats")["pid"]
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
        hooks = fake_api(api_url, "stats?webhook_seconds=1")
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
    parser.add_argument(
        "--cpu-quota",
        type=float,
        help="cap each instance at this many cores (a cgroup): instances as on machines"
        " of their own, where adding one adds CPU",
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
        + (f"; each instance capped at {args.cpu_quota:g} cores" if args.cpu_quota else "")
    )
    print_table(results)
    print_verdict(results)
    return 0 if all(load.order_ok for load, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
