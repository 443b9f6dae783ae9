"""The processes of one row of benchmarks/scale_out.py: `govbot run` in webhook mode per
instance (started, pinned, profiled, stopped), and what the row reads from the fake and
from PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TOKEN = "123456789:AAFakeBenchmarkToken-0123456789abcdef"
SECRET = "scale-out-benchmark-secret_0123456789"


def govbot_env(workdir: Path, *, api_url: str, db_url: str) -> dict[str, str]:
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


CPU_CGROUPS = Path("/sys/fs/cgroup/cpu")  # cgroup v1's cpu controller (v2: cpu.max)
QUOTA_PERIOD_US = 100_000


@contextmanager
def cpu_quota(pid: int, cores: float | None) -> Iterator[None]:
    """Cap process `pid` at `cores` of CPU time (a cgroup of its own), as if each instance
    had a machine of that size: on a 2-core box two uncapped instances, PostgreSQL and the
    load all share the same two cores, so adding an instance adds no CPU."""
    if cores is None:
        yield
        return
    group = CPU_CGROUPS / f"govbot-scale-{pid}"
    if not CPU_CGROUPS.is_dir():
        raise RuntimeError("--cpu-quota needs cgroup v1's cpu controller at /sys/fs/cgroup/cpu")
    group.mkdir()
    try:
        (group / "cpu.cfs_period_us").write_text(str(QUOTA_PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(int(cores * QUOTA_PERIOD_US)))
        (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        # The process leaves with its end (or is moved back), then the group goes.
        with contextlib.suppress(OSError):
            (CPU_CGROUPS / "cgroup.procs").write_text(str(pid))
        with contextlib.suppress(OSError):
            group.rmdir()


@contextmanager
def instances(
    envs: Sequence[dict[str, str]],
    workdir: Path,
    cpus: Sequence[int],
    profile: Path | None,
    quota: float | None = None,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`govbot run` per environment (pinned to `cpus[i % len]` if given; capped at `quota`
    cores each if given; the first one under cProfile, written to `profile` when it stops,
    if given), stopped on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    quotas = contextlib.ExitStack()
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
            quotas.enter_context(cpu_quota(procs[-1].pid, quota))
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
        quotas.close()


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
        hooks = fake_api(api_url, "stats")["calls"].get("setWebhook", 0)
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


def fake_api(api_url: str, path: str, body: Any = None) -> Any:
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
