"""Closed-loop load driver for a bot polling the fake Telegram Bot API in another process.

    python benchmarks/telegram_load.py [--messages 5000] [--chats 500] [--bots ptb,aiogram]

starts the fake (tests/fakes/telegram_api.py), runs each baseline bot against it in turn and
prints messages a second, p50/p99 answer time, the bot's CPU seconds and peak memory. Each
chat sends its next message only once the bot answered the previous one (``--window`` > 1
keeps more in flight); the loop runs inside the fake, so the driver is idle while measuring.
Reuse: ``measure_bot(name, cmd, env, api_url, step=...)`` for any bot command; ``step(chat,
k)`` returns the k-th text (or a ``Step`` with a button press) of chat number ``chat``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHAT_BASE = 100_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Step:
    """One citizen action: a text, or a press of the button with ``callback_data`` on the
    bot's latest keyboard. ``answers``: sends/edits that make up the bot's answer;
    ``expect``: a substring the last of them must contain (checks order and routing)."""

    text: str | None = None
    callback_data: str | None = None
    answers: int = 1
    expect: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"answers": self.answers}
        if self.callback_data is not None:
            body["callback_data"] = self.callback_data
        else:
            body["text"] = self.text or ""
        if self.expect is not None:
            body["expect"] = self.expect
        return body


StepFn = Callable[[int, int], "str | Step"]


def echo_step(chat: int, k: int) -> Step:
    text = f"chat {chat} message {k}."
    return Step(text=text, expect=text)


@dataclass
class LoadResult:
    name: str
    answered: int = 0
    total: int = 0
    seconds: float = 0.0
    per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    order_ok: bool = False
    problems: list[str] = field(default_factory=list)
    bot_cpu_s: float = 0.0
    bot_peak_rss_mb: float = 0.0
    fake_cpu_s: float = 0.0


# ---- /proc --------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process and its live descendants."""
    total = 0
    for p in _descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    """Sum of VmHWM (peak resident set) of the process and its live descendants, in MiB."""
    kib = 0
    for p in _descendants(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    kib += int(line.split()[1])
        except OSError:
            continue
    return kib / 1024


# ---- talking to the fake ------------------------------------------------------------------


def _fake(api_url: str, path: str, body: Any = None, timeout: float = 30) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api_url}/_fake/{path}", data=data)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_until_polling(api_url: str, proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bot exited with {proc.returncode} before polling")
        if _fake(api_url, "stats")["calls"].get("getUpdates", 0) > 0:
            return
        time.sleep(0.05)
    raise RuntimeError("bot did not call getUpdates in time")


def run_load(
    api_url: str,
    *,
    name: str = "bot",
    messages: int = 5000,
    chats: int = 500,
    step: StepFn = echo_step,
    window: int = 1,
    bot_pid: int | None = None,
    timeout: float = 300,
    lang: str = "kk",
) -> LoadResult:
    """Run one closed-loop script against an already polling bot and measure it."""
    plan = []
    for i in range(chats):
        count = messages // chats + (1 if i < messages % chats else 0)
        steps = []
        for k in range(count):
            s = step(i, k)
            steps.append((Step(text=s) if isinstance(s, str) else s).to_json())
        plan.append({"chat_id": CHAT_BASE + i, "steps": steps, "lang": lang})
    fake_pid = _fake(api_url, "stats")["pid"]
    bot_cpu0 = cpu_seconds(bot_pid) if bot_pid else 0.0
    fake_cpu0 = cpu_seconds(fake_pid)
    total = _fake(api_url, "script", {"chats": plan, "window": window})["total"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _fake(api_url, "script/wait?timeout=5")["done"]:
            break
    result = LoadResult(name=name, total=total)
    if bot_pid:
        result.bot_cpu_s = cpu_seconds(bot_pid) - bot_cpu0
        result.bot_peak_rss_mb = peak_rss_mb(bot_pid)
    result.fake_cpu_s = cpu_seconds(fake_pid) - fake_cpu0
    _summarise(result, _fake(api_url, "script/results"))
    return result


def _summarise(result: LoadResult, report: dict[str, Any]) -> None:
    latencies: list[float] = []
    last = 0.0
    for chat in report["chats"]:
        answered = chat["answered_at"]
        latencies.extend(a - p for a, p in zip(answered, chat["pushed_at"], strict=False))
        if answered:
            last = max(last, answered[-1])
        if len(answered) < chat["steps"]:
            result.problems.append(f"chat {chat['chat_id']}: {len(answered)}/{chat['steps']}")
        for miss in chat["mismatches"][:1]:
            result.problems.append(f"chat {chat['chat_id']}: {miss}")
        if chat["extra_answers"]:
            result.problems.append(f"chat {chat['chat_id']}: {chat['extra_answers']} extra")
    latencies.sort()
    result.answered = len(latencies)
    result.seconds = last
    result.per_second = result.answered / last if last else 0.0
    if latencies:
        result.p50_ms = 1000 * latencies[len(latencies) // 2]
        result.p99_ms = 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    result.order_ok = not result.problems


def measure_bot(
    name: str,
    cmd: Sequence[str],
    api_url: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    **load: Any,
) -> LoadResult:
    """Start ``cmd`` (in ``cwd``, default this checkout) against a freshly reset fake,
    wait until it polls, load it, stop it."""
    _fake(api_url, "reset", {})
    proc = subprocess.Popen(list(cmd), env={**os.environ, **(env or {})}, cwd=cwd or ROOT)
    try:
        wait_until_polling(api_url, proc)
        time.sleep(0.3)  # let start-up work (getMe, setMyCommands...) settle
        return run_load(api_url, name=name, bot_pid=proc.pid, **load)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def baseline_command(kind: str, api_url: str, token: str) -> list[str]:
    script = str(ROOT / "benchmarks" / "telegram_baselines.py")
    return [sys.executable, script, kind, "--api-url", api_url, "--token", token]


def print_table(results: Sequence[LoadResult]) -> None:
    head = f"{'bot':<14}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU s':>8}{'peak MiB':>10}"
    print(head + f"{'fake CPU s':>12}  order")
    for r in results:
        order = "ok" if r.order_ok else "BROKEN: " + "; ".join(r.problems[:3])
        print(
            f"{r.name:<14}{r.per_second:>8.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}"
            f"{r.bot_cpu_s:>8.2f}{r.bot_peak_rss_mb:>10.1f}{r.fake_cpu_s:>12.2f}"
            f"  {order} ({r.answered}/{r.total} in {r.seconds:.2f}s)"
        )


def start_fake() -> Any:
    """The fake Bot API in a child process (``.url``, ``.pid``, ``.stop()``)."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.telegram_api import FakeApiProcess

    return FakeApiProcess()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Telegram echo baselines on the fake Bot API")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--bots", default="ptb,aiogram", help="ptb, ptb-seq, ptb-aiohttp, aiogram")
    parser.add_argument("--api-url", help="an already running fake; default: start one")
    parser.add_argument("--token", default="123456789:AAFakeBenchmarkToken-0123456789abcdef")
    args = parser.parse_args(argv)
    fake = None if args.api_url else start_fake()
    api_url = args.api_url or fake.url
    try:
        results = [
            measure_bot(
                kind,
                baseline_command(kind, api_url, args.token),
                api_url,
                messages=args.messages,
                chats=args.chats,
                window=args.window,
            )
            for kind in args.bots.split(",")
        ]
    finally:
        if fake is not None:
            fake.stop()
    print(f"{args.messages} messages from {args.chats} chats, window {args.window}, {api_url}")
    print_table(results)


if __name__ == "__main__":
    main()
