"""A throwaway PostgreSQL cluster for the tests: one per pytest session (or xdist worker).

initdb and pg_ctl in a temp dir (as the `postgres` user when the tests run as root:
initdb refuses root), fsync off, trust authentication on 127.0.0.1 and a free port. Each
test gets a database of its own, copied from a migrated template (CREATE DATABASE …
TEMPLATE is a file copy: far faster than running the migrations again).
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import asyncpg

from bot.storage.postgres.migrate import connect_and_migrate


def _debian_bin_dirs() -> list[str]:
    """Debian keeps each major version's binaries off PATH, in /usr/lib/postgresql/N/bin
    (whichever version the `postgresql` package brought); newest first."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    return [str(p) for p in sorted(found, key=lambda p: -int(p.parent.name))]


def pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, or None if PostgreSQL is not installed."""
    for folder in (*_debian_bin_dirs(), *os.environ.get("PATH", "").split(os.pathsep)):
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


class Cluster:
    """A running cluster; `stop()` (also run at exit) removes it and its files."""

    TEMPLATE = "govbot_template"

    def __init__(self, root: Path, port: int, run_as: str | None) -> None:
        self.root = root
        self.port = port
        self._run_as = run_as
        self._names = itertools.count(1)
        self._template_ready = False
        self.stopped = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls) -> Cluster:
        binaries = pg_bin()
        if binaries is None:
            raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found")
        run_as = "postgres" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="govbot-pg-"))
        if run_as:
            user = pwd.getpwnam(run_as)
            os.chown(root, user.pw_uid, user.pw_gid)
        cluster = cls(root, _free_port(), run_as)
        atexit.register(cluster.stop)
        _stop_on_sigterm(cluster)
        cluster._run(
            str(binaries / "initdb"),
            "-D", str(cluster.data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        options = (
            f"-c port={cluster.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={root} -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        cluster._run(
            str(binaries / "pg_ctl"), "-D", str(cluster.data), "-o", options,
            "-l", str(root / "log"), "-w", "-s", "start",
        )  # fmt: skip
        cluster._pg_ctl = binaries / "pg_ctl"
        return cluster

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        with_ctl = getattr(self, "_pg_ctl", None)
        if with_ctl is not None:
            subprocess.run(
                self._command(str(with_ctl), "-D", str(self.data), "-m", "immediate", "-s", "stop"),
                check=False,
                capture_output=True,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    async def fresh_database(self, *, migrated: bool = True) -> str:
        """The URL of a new database of its own: migrated (from the template) or empty."""
        name = f"t{os.getpid()}_{next(self._names)}"
        if migrated and not self._template_ready:
            await self._admin(f"CREATE DATABASE {self.TEMPLATE}")
            await connect_and_migrate(self.url(self.TEMPLATE))
            self._template_ready = True
        template = f" TEMPLATE {self.TEMPLATE}" if migrated else ""
        await self._admin(f"CREATE DATABASE {name}{template}")
        return self.url(name)

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def _command(self, *args: str) -> list[str]:
        return ["runuser", "-u", self._run_as, "--", *args] if self._run_as else list(args)

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._command(*args), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            self.stop()
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()}\n{tail}")


def _stop_on_sigterm(cluster: Cluster) -> None:
    """SIGTERM (`timeout`, a CI cancel) skips atexit: stop the cluster first, then die of
    the signal as before. Only where nobody else handles it (pytest leaves it alone)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def stop_then_die(signum: int, frame: object) -> None:
        cluster.stop()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, stop_then_die)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
