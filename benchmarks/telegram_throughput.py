"""govbot on Telegram against the bare echo baselines, in one run on one fake Bot API.

    python benchmarks/telegram_throughput.py [--messages 5000] [--chats 500]

Starts the fake Bot API (tests/fakes/telegram_api.py) in a child process, then in turn
`govbot run` (polling, SQLite in a temp dir) and the bare python-telegram-bot and aiogram
echo bots; prints one row each (telegram_load.print_table). The govbot row needs the
Telegram adapter: until it exists that row reports the failure and the baselines still run.
Hooks for whoever builds the adapter: GOVBOT_COMMAND, govbot_env() and GOVBOT_STEP.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

from telegram_load import (
    LoadResult,
    Step,
    StepFn,
    baseline_command,
    measure_bot,
    print_table,
    start_fake,
)

GOVBOT_COMMAND = [sys.executable, "-m", "bot", "run"]


def govbot_env(api_url: str, token: str, workdir: Path) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": api_url,
        "TELEGRAM_MODE": "polling",
        "DATABASE_URL": f"sqlite:///{workdir / 'govbot.sqlite3'}",
        "PORT": str(_free_port()),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def govbot_menu_step(chat: int, k: int) -> Step:
    """HOOK: the k-th action of citizen ``chat`` walking real menu steps.

    Placeholder until the adapter exists: /start, then language and menu buttons. Replace
    the callback payloads with the adapter's real ones (and ``answers`` with how many
    sends/edits each step produces) so that every step is a real flow step.
    """
    script = [
        Step(text="/start"),
        Step(callback_data="lang:kk"),
        Step(callback_data="menu:feedback"),
        Step(text="Қызмет жақсы болды, рақмет."),
        Step(text="/cancel"),
    ]
    return script[k % len(script)]


GOVBOT_STEP: StepFn = govbot_menu_step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--token", default="123456789:AAFakeBenchmarkToken-0123456789abcdef")
    args = parser.parse_args(argv)
    load = {"messages": args.messages, "chats": args.chats}
    fake = start_fake()
    results: list[LoadResult] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = govbot_env(fake.url, args.token, Path(tmp))
            try:
                results.append(
                    measure_bot(
                        "govbot", GOVBOT_COMMAND, fake.url, env=env, step=GOVBOT_STEP, **load
                    )
                )
            except RuntimeError as err:
                results.append(LoadResult(name="govbot", problems=[str(err)]))
        for kind in ("ptb", "aiogram"):
            command = baseline_command(kind, fake.url, args.token)
            results.append(measure_bot(kind, command, fake.url, **load))
    finally:
        fake.stop()
    print(f"{args.messages} messages from {args.chats} chats, fake Bot API at {fake.url}")
    print_table(results)


if __name__ == "__main__":
    main()
