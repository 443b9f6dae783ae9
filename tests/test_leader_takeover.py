"""Two instances in processes of their own on one database (an SQLite file, PostgreSQL):
one runs the leader's jobs; killed with SIGKILL, the other takes over within the lease's
time plus one renewal; a leader paused past its lease comes back, finds it lost, and runs
nothing more."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.crypto import generate_key_setting
from tests.test_cli import environment

pytestmark = pytest.mark.slow

LEASE = 1.0
RENEW = 0.2
ROOT = Path(__file__).resolve().parent.parent


class Instance:
    """A `tests.lease_instance` process and the lines it printed, as they come."""

    def __init__(self, tmp_path: Path, database: dict[str, str]) -> None:
        env = environment(
            tmp_path, LEASE_SECONDS=str(LEASE), LEASE_RENEW_SECONDS=str(RENEW), **database
        )
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.lease_instance"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.seen: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.holder = self.expect("ready").split()[1]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.strip()))

    def expect(self, word: str, timeout: float = 30.0) -> str:
        """The next line starting with `word` (lines before it are kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                at, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {word!r} from the instance; it printed {self.seen[-5:]}")
            self.seen.append((at, line))
            if line.startswith(word):
                return line

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return [line for _, line in self.seen]

    def ticks(self) -> list[float]:
        return [float(line.split()[2]) for line in self.drain() if line.startswith("tick")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """What both instances are given: one SQLite file (the default), or one PostgreSQL
    database, with the secrets that backend wants from the environment."""
    if request.param == "sqlite":
        return {}
    url = asyncio.run(request.getfixturevalue("pg_cluster").fresh_database())
    return {"DATABASE_URL": url, "DATA_KEY": generate_key_setting(), "SECRET_KEY": "s" * 40}


@contextmanager
def instances(tmp_path: Path, database: dict[str, str]) -> Iterator[tuple[Instance, Instance]]:
    first = Instance(tmp_path, database)
    first.expect("tick")  # the first to start leads
    second = Instance(tmp_path, database)
    try:
        yield first, second
    finally:
        for instance in (first, second):
            if instance.proc.poll() is None:
                os.kill(instance.proc.pid, signal.SIGCONT)
            instance.stop()


def test_only_one_instance_runs_the_leader_jobs_and_a_killed_one_is_replaced(
    tmp_path: Path, database: dict[str, str]
) -> None:
    with instances(tmp_path, database) as (first, second):
        for _ in range(20):  # a while of both running
            first.expect("tick")
        assert second.ticks() == []
        first.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        first.proc.wait(timeout=10)
        second.expect("tick")
        took = second.seen[-1][0] - killed
        # Not before the dead leader's lease ran out, and within that plus one renewal
        # (and a little for a busy machine).
        assert LEASE - RENEW - 0.1 < took < LEASE + RENEW + 0.5, took


def test_a_paused_leader_comes_back_finds_it_lost_and_stops(
    tmp_path: Path, database: dict[str, str]
) -> None:
    with instances(tmp_path, database) as (first, second):
        first.expect("tick")
        os.kill(first.proc.pid, signal.SIGSTOP)
        second.expect("tick")  # took over while the leader was paused
        os.kill(first.proc.pid, signal.SIGCONT)
        first.expect("lost")
        for _ in range(20):
            second.expect("tick")
        first_ticks = first.ticks()
        second_ticks = second.ticks()
        # Never two leaders: every tick of the paused one came before the other's first.
        assert max(first_ticks) < min(second_ticks)
