"""benchmarks/scale_out.py: its quick mode runs every row end to end (one instance on
SQLite, one and two on PostgreSQL, Telegram webhooks through the fake's balancer) and
leaves nothing behind; the verdict on what bound a row is a pure function, pinned here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks.scale_out import Usage, bound, parse_rows
from tests.pg_cluster import pg_bin

ROOT = Path(__file__).resolve().parent.parent


def test_rows_are_parsed_from_backend_and_count() -> None:
    rows = parse_rows("sqlite-1,pg-1,pg-2")
    assert [(r.backend, r.instances) for r in rows] == [("sqlite", 1), ("pg", 1), ("pg", 2)]
    with pytest.raises(ValueError, match="sqlite-2"):
        parse_rows("sqlite-2")  # one process per SQLite file
    with pytest.raises(ValueError, match="mysql-1"):
        parse_rows("mysql-1")


def usage(**kw: float) -> Usage:
    fields: dict[str, object] = {
        "wall_s": 10.0, "cores": 2, "machine_s": 5.0, "instance_s": [4.0],
        "postgres_s": 0.5, "fake_s": 0.5,
    }  # fmt: skip
    fields.update(kw)
    return Usage(**fields)  # type: ignore[arg-type]


def test_a_busy_machine_is_the_bound_before_anything_else() -> None:
    assert bound(usage(machine_s=19.0, instance_s=[9.5])).startswith("CPU: machine 190%")
    mostly_others = bound(usage(machine_s=19.0, instance_s=[2.0]))
    assert "mostly other work" in mostly_others, mostly_others


def test_one_python_process_at_a_full_core_is_the_bound() -> None:
    assert bound(usage(machine_s=12.0, instance_s=[9.5])).startswith("CPU: a govbot process")


def test_the_load_generator_can_be_the_bound() -> None:
    assert bound(usage(machine_s=12.0, fake_s=9.5)).startswith("CPU: the fake")


def test_idle_cores_mean_waiting() -> None:
    assert bound(usage(machine_s=8.0, instance_s=[3.0, 3.0])).startswith("waiting")


@pytest.mark.slow
@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL is not installed")
def test_quick_mode_measures_every_row_and_leaves_nothing_behind() -> None:
    # The benchmark's temp dirs (cluster, instances) go here: in /tmp, not pytest's private
    # tmp_path, since the cluster's owner (postgres, when run as root) must reach them.
    scratch = Path(tempfile.mkdtemp(prefix="govbot-scale-test-"))
    try:
        scratch.chmod(0o711)
        done = subprocess.run(
            [sys.executable, "benchmarks/scale_out.py", "--quick"],
            cwd=ROOT, capture_output=True, text=True, timeout=100,
            env={**os.environ, "TMPDIR": str(scratch)},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        for label in ("sqlite-1", "pg-1", "pg-2"):
            line = next(ln for ln in done.stdout.splitlines() if ln.startswith(label + " "))
            assert " ok " in line, line
        assert "pg-2 / pg-1" in done.stdout
        assert not list(scratch.iterdir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_the_ceiling_keeps_one_instance_within_one_core() -> None:
    # 4 ms of govbot and 1 ms of PostgreSQL a message: two cores allow 400 msg/s, but one
    # instance's one thread only 250; two instances share the govbot work.
    one = usage(instance_s=[4.0], postgres_s=1.0)
    two = usage(instance_s=[2.0, 2.0], postgres_s=1.0)
    assert round(one.ceiling(1000)) == 250
    assert round(two.ceiling(1000)) == 400


def test_busy_webhook_lanes_are_named_when_nothing_else_is_full() -> None:
    verdict = bound(usage(machine_s=8.0, lanes_busy=0.97, post_ms=420.0))
    assert verdict.startswith("webhook lanes: 97% busy"), verdict
