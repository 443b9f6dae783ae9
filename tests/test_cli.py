"""The command line as a person uses it, in subprocesses: `shell` from a pipe, `migrate`,
and `run` answering /healthz and /metrics and stopping cleanly on a signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.config import Settings

pytestmark = pytest.mark.slow

TITLES = {"kk": "Басты мәзір", "ru": "Главное меню", "en": "Main menu"}


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any govbot setting, plus a database in tmp_path."""
    ours = {name.upper() for name in Settings.__dataclass_fields__}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ours and not k.startswith(("TWILIO_", "TELEGRAM_", "DATA_KEY", "SECRET_KEY"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/var/govbot.sqlite3"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def govbot(
    tmp_path: Path, *args: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=environment(tmp_path, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_shell_from_a_pipe_reaches_the_main_menu(tmp_path: Path, lang: str) -> None:
    done = govbot(tmp_path, "shell", "--lang", lang, stdin="/start\n1\n")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    # The language picker shows numbered options, the hinted language first.
    picker, _, after = out.partition("> 1")
    assert "1) " in picker and "2) " in picker and "3) " in picker
    assert TITLES[lang] in after
    assert TITLES[lang] not in picker
    assert (tmp_path / "var" / "govbot.sqlite3").is_file()


def test_shell_in_kazakh_and_a_second_shell_continues(tmp_path: Path) -> None:
    first = govbot(tmp_path, "shell", "--lang", "kk", stdin="/start\n1\n")
    assert "Басты мәзір" in first.stdout
    assert "Қош келдіңіз" in first.stdout
    # A new process on the same file: the language is remembered, help answers in Kazakh.
    second = govbot(tmp_path, "shell", stdin="көмек\n")
    assert second.returncode == 0, second.stderr
    assert "1424" in second.stdout
    assert "Басты мәзір" in second.stdout
    assert "Тілді таңдаңыз" not in second.stdout


def test_migrate_applies_then_says_up_to_date(tmp_path: Path) -> None:
    first = govbot(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert "applied 001_core.sql" in lines
    assert all(line.startswith("applied ") for line in lines)
    second = govbot(tmp_path, "migrate")
    assert second.returncode == 0, second.stderr
    assert second.stdout == "database is up to date\n"


def test_the_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("govbot")
    if not script.exists():
        pytest.skip("no govbot console script next to this interpreter")
    done = subprocess.run(
        [str(script), "migrate"],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "applied 001_core.sql" in done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_run_serves_health_and_metrics_and_stops_on_a_signal(
    tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=environment(tmp_path, PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = get(f"{base}/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    out, err = proc.communicate(timeout=5)
                    pytest.fail(f"govbot run did not come up:\n{out}\n{err}")
                time.sleep(0.02)  # until it answers: polled, as a load balancer would
        assert status == 200
        assert json.loads(body)["status"] == "ok"
        status, metrics = get(f"{base}/metrics")
        assert status == 200
        assert "govbot_messages_in" in metrics
        assert "govbot_open_sessions" in metrics
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # uvicorn shuts down gracefully, then may re-raise SIGTERM so the exit shows the signal.
    assert proc.returncode in (0, -stop), (proc.returncode, err)
    # The database was closed properly: the last connection checkpoints and removes the WAL.
    assert (tmp_path / "var" / "govbot.sqlite3").is_file()
    assert not (tmp_path / "var" / "govbot.sqlite3-wal").exists()
    assert "Traceback" not in err
    assert "telegram: off" in out
    assert "whatsapp: off" in out
    assert "govbot shell" in out


def test_run_with_shell_serves_the_web_app_and_chats_in_the_terminal(tmp_path: Path) -> None:
    port = free_port()
    done = govbot(tmp_path, "run", "--shell", stdin="/start\n1\n/quit\n", PORT=str(port))
    assert done.returncode == 0, done.stderr
    assert f"http://127.0.0.1:{port}/" in done.stdout
    assert "Басты мәзір" in done.stdout  # the terminal chat reached the menu
