"""The test cluster goes away with the run that started it, even one stopped by SIGTERM
(`timeout`, a CI cancel): no postgres is left behind on a shared machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pg_cluster import pg_bin

ROOT = Path(__file__).resolve().parent.parent
START = (
    "from tests.pg_cluster import Cluster; c = Cluster.start(); print(c.root, flush=True); input()"
)


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL 15 binaries not found")
def test_a_run_killed_by_sigterm_stops_its_cluster() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", START],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as run:
        assert run.stdout is not None
        root = Path(run.stdout.readline().strip())
        pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == -signal.SIGTERM  # still dies of the signal
    for _ in range(300):
        if not _alive(pid):
            break
        time.sleep(0.01)
    assert not _alive(pid)
    assert not root.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
