"""Issue 5's benchmark: `govbot run` against a bare signed-webhook endpoint, in one run.

    python -m benchmarks.whatsapp_webhook [--duration 10] [--baseline-only] [--numbered]
        [--against DIR]

Starts the fake Twilio REST server (tests/fakes/twilio_api.py), the baseline
(benchmarks/whatsapp_baseline.py) and the bot (BOT_COMMAND, with TWILIO_* pointed at the
fake, PUBLIC_URL and a temporary DATABASE_URL), each in its own process, and drives each
with benchmarks/whatsapp_load.py in another: max throughput, then 200 requests/s open loop.
The bot runs with interactive replies on (the fake's Content API: menus go by REST as
tap-to-answer messages); `--numbered` also measures it with TWILIO_CONTENT_URL=off
(numbered text in the webhook's answer), in the same run. `--against DIR` also measures
the bot of another checkout (a worktree of an older commit: `git worktree add /tmp/old
HEAD~1`) right after each of this one's bot rows, on the same machine in the same run.
`CPU ms` is the server process's CPU time per request, which depends far less than
requests/s on what else the machine runs.
Goals: the bot (interactive) sustains at least half the baseline's requests/s; p99 under
100 ms at 200 requests/s; no errors. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.telegram_load import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# The hook for the adapter's author: how the bot is started, and the walk its menu needs
# (a name in benchmarks/whatsapp_load.SCRIPTS).
BOT_COMMAND = [PY, "-m", "bot", "run"]
BOT_SCRIPT = "menu"
BOT_READY_PATH = "/healthz"

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "b3c4" * 8  # TWILIO_AUTH_TOKEN is 32 hex digits
BOT_NUMBER = "whatsapp:+77010000000"
PUBLIC_URL = "https://govbot.example.kz"
WEBHOOK_PATH = "/webhooks/twilio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[str]) -> None:
    """Until the server answers anything at all (a 403/405 still means it is up)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, proc.args))} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


@contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load(
    server: subprocess.Popen[str],
    url: str,
    label: str,
    mode: str,
    args: argparse.Namespace,
    script: str,
) -> dict[str, object]:
    command = [
        PY, "-m", "benchmarks.whatsapp_load", "--json", "--url", url, "--label", label,
        "--public-url", PUBLIC_URL, "--auth-token", AUTH_TOKEN, "--account-sid", ACCOUNT_SID,
        "--to", BOT_NUMBER, "--mode", mode, "--concurrency", str(args.concurrency),
        "--rate", str(args.rate), "--duration", str(args.duration),
        "--citizens", str(args.citizens), "--script", script,
    ]  # fmt: skip
    cpu = cpu_seconds(server.pid)
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(server.pid) - cpu
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    requests = result["requests"]
    assert isinstance(requests, int)
    result["server_cpu_ms"] = 1000 * cpu / max(requests, 1)
    return result


def measure(
    server: subprocess.Popen[str], url: str, label: str, args: argparse.Namespace, script: str
) -> list[dict[str, object]]:
    return [
        load(server, url, label, "max", args, script),
        load(server, url, label, "rate", args, script),
    ]


def run_baseline(args: argparse.Namespace) -> list[dict[str, object]]:
    port = free_port()
    env = {**os.environ, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_URL": PUBLIC_URL}
    command = [PY, "-m", "benchmarks.whatsapp_baseline", "--port", str(port)]
    with process(command, env) as baseline:
        wait_http(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", 20, baseline)
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        return measure(baseline, url, "baseline", args, BOT_SCRIPT)


def run_bot(
    args: argparse.Namespace, *, interactive: bool, checkout: Path | None = None
) -> list[dict[str, object]]:
    """The bot's rows; `checkout`: another checkout's bot (its `bot` package comes first
    on the path when started there), against this checkout's fake Twilio."""
    port = free_port()
    fake = [PY, "-m", "tests.fakes.twilio_api", "--account-sid", ACCOUNT_SID,
            "--auth-token", AUTH_TOKEN, "--callback-base", f"http://127.0.0.1:{port}"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, process(fake) as twilio:
        assert twilio.stdout is not None
        ready = twilio.stdout.readline().split()
        if ready[:1] != ["READY"]:
            raise RuntimeError("fake Twilio server did not start")
        env = {
            **os.environ,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": BOT_NUMBER,
            "TWILIO_API_URL": ready[1],
            "TWILIO_CONTENT_URL": ready[1] if interactive else "off",
            "PUBLIC_URL": PUBLIC_URL,
            "DATABASE_URL": f"sqlite:///{tmp}/govbot.sqlite3",
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
        env.pop("TELEGRAM_BOT_TOKEN", None)
        with process(BOT_COMMAND, env, checkout or ROOT) as bot:
            wait_http(f"http://127.0.0.1:{port}{BOT_READY_PATH}", 60, bot)
            label = "govbot" if interactive else "numbered"
            if checkout is not None:
                label += f" @{checkout.name}"
            return measure(bot, f"http://127.0.0.1:{port}{WEBHOOK_PATH}", label, args, BOT_SCRIPT)


def main() -> None:
    parser = argparse.ArgumentParser(description="WhatsApp webhook: govbot vs bare baseline")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--baseline-only", action="store_true")
    parser.add_argument("--numbered", action="store_true", help="also with TWILIO_CONTENT_URL=off")
    parser.add_argument("--against", type=Path, help="another checkout's bot, measured too")
    args = parser.parse_args()

    from benchmarks.whatsapp_load import HEADER, LoadResult

    rows = run_baseline(args)
    if not args.baseline_only:
        checkouts = [None] if args.against is None else [None, args.against.resolve()]
        for interactive in (True, False) if args.numbered else (True,):
            for checkout in checkouts:
                rows += run_bot(args, interactive=interactive, checkout=checkout)
    print(HEADER)
    for row in rows:
        print(LoadResult(**row).row())
    if args.baseline_only:
        return
    base_max, _, bot_max, bot_rate = (LoadResult(**r) for r in rows[:4])
    goals = {
        f"bot >= half the baseline's req/s ({bot_max.rps:.0f} vs {base_max.rps:.0f})": (
            bot_max.rps >= base_max.rps / 2
        ),
        f"p99 < 100 ms at {args.rate:g}/s ({bot_rate.p99_ms:.1f} ms)": bot_rate.p99_ms < 100,
        f"no errors ({bot_max.errors + bot_rate.errors})": bot_max.errors + bot_rate.errors == 0,
    }
    for goal, met in goals.items():
        print(("PASS " if met else "FAIL ") + goal)
    if not all(goals.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
