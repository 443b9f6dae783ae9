"""govbot on Telegram against the bare echo baselines, in one run on one fake Bot API.

    python benchmarks/telegram_throughput.py [--messages 5000] [--chats 500] [--against DIR]

`--against DIR` also measures the govbot rows of another checkout (say, a worktree of
the commit before a change: `git worktree add /tmp/old HEAD~1`), in the same run, on
the same fake, so the two can be compared on a noisy machine.

Starts the fake Bot API (tests/fakes/telegram_api.py) in a child process, then in turn
`govbot run` (polling, SQLite in a temp dir) and the bare python-telegram-bot and aiogram
echo bots; prints one row each (telegram_load.print_table). govbot's citizens walk real
menu steps in two ways, each its own row: typing the answers as text (an option's number,
a label, a global word: what the baselines get, one text update and one answer each) and
pressing the inline buttons (a callback query costs three Bot API calls: the answer to the
callback, removing the used keyboard, the next question). A row counts a step as answered
when its message (a note and the next question) has arrived.
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
        # The fake Bot API has no rate limits and the echo baselines do not pace, so
        # neither does govbot here (0 = unlimited); in production the defaults keep to
        # Telegram's ~30 msg/s overall and ~1 msg/s per chat.
        "TELEGRAM_RATE_GLOBAL": "0",
        "TELEGRAM_RATE_PER_CHAT": "0",
        # Scripted citizens answer instantly; flood control is for people.
        "FLOOD_BURST": "1000",
        "FLOOD_PER_SECOND": "100",
        "LOG_LEVEL": "WARNING",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


MENU = "Басты мәзір"  # the main menu's title in Kazakh: the last answer of most steps
LANGUAGE = "Тілді таңдаңыз"
FEEDBACK = "Саланы таңдаңыз"

# First contact, then a loop through the main menu. Each step is answered by one message
# (on Telegram a note such as "Cancelled." shares the message of the next question);
# `expect` checks it.
_FIRST = [
    Step(text="/start", answers=1, expect=LANGUAGE),  # language question
    Step(callback_data="lang:kk", answers=1, expect=MENU),  # welcome, main menu
]
_LOOP = [
    Step(callback_data="flow:feedback", answers=1, expect=FEEDBACK),  # into a flow
    Step(callback_data="g:menu", answers=1, expect=MENU),  # "cancelled", main menu
    Step(callback_data="m:help", answers=1, expect=MENU),  # help text, main menu
    Step(callback_data="m:lang", answers=1, expect=LANGUAGE),
    Step(callback_data="lang:kk", answers=1, expect=MENU),  # "done", main menu
    Step(text="/start", answers=1, expect=MENU),  # welcome, main menu
    Step(callback_data="flow:feedback", answers=1, expect=FEEDBACK),
    Step(text="мәзір", answers=1, expect=MENU),  # a typed global word inside a flow
]


# The same walk, typed: labels pick options (a Telegram citizen sees buttons, not numbers,
# so a typed "2" is text there; any language's label matches), words are global commands.
_TYPED_FIRST = [
    Step(text="/start", answers=1, expect=LANGUAGE),
    Step(text="Қазақша", answers=1, expect=MENU),
]
_TYPED_LOOP = [
    Step(text="Оценить госуслугу", answers=1, expect=FEEDBACK),
    Step(text="мәзір", answers=1, expect=MENU),
    Step(text="көмек", answers=1, expect=MENU),
    Step(text="тіл", answers=1, expect=LANGUAGE),
    Step(text="Қазақша", answers=1, expect=MENU),
    Step(text="/start", answers=1, expect=MENU),
    Step(text="Оценить госуслугу", answers=1, expect=FEEDBACK),
    Step(text="меню", answers=1, expect=MENU),
]


def govbot_typed_step(chat: int, k: int) -> Step:
    """The k-th action of citizen ``chat``, typed as text."""
    if k < len(_TYPED_FIRST):
        return _TYPED_FIRST[k]
    return _TYPED_LOOP[(k - len(_TYPED_FIRST)) % len(_TYPED_LOOP)]


def govbot_menu_step(chat: int, k: int) -> Step:
    """The k-th action of citizen ``chat``: real menu steps through the whole bot
    (dispatcher, SQLite session, catalogs), with button presses as callback queries."""
    if k < len(_FIRST):
        return _FIRST[k]
    return _LOOP[(k - len(_FIRST)) % len(_LOOP)]


GOVBOT_STEP: StepFn = govbot_menu_step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--token", default="123456789:AAFakeBenchmarkToken-0123456789abcdef")
    parser.add_argument("--against", type=Path, help="another checkout's govbot, measured too")
    parser.add_argument("--govbot-only", action="store_true", help="skip the echo baselines")
    args = parser.parse_args(argv)
    load = {"messages": args.messages, "chats": args.chats}
    fake = start_fake()
    results: list[LoadResult] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            checkouts: list[tuple[str, Path | None]] = [("", None)]
            if args.against is not None:
                checkouts.append((f" @{args.against.name}", args.against.resolve()))
            for name, step in (
                ("govbot typed", govbot_typed_step),
                ("govbot buttons", GOVBOT_STEP),
            ):
                for suffix, cwd in checkouts:
                    label = name + suffix
                    env = govbot_env(fake.url, args.token, Path(tmp) / label.replace(" ", "-"))
                    try:
                        results.append(
                            measure_bot(
                                label, GOVBOT_COMMAND, fake.url, env=env, step=step, cwd=cwd,
                                **load,
                            )
                        )  # fmt: skip
                    except RuntimeError as err:
                        results.append(LoadResult(name=label, problems=[str(err)]))
        for kind in () if args.govbot_only else ("ptb", "aiogram"):
            command = baseline_command(kind, fake.url, args.token)
            try:
                results.append(measure_bot(kind, command, fake.url, **load))
            except RuntimeError as err:  # aiogram comes with the `bench` extra
                results.append(LoadResult(name=kind, problems=[str(err)]))
    finally:
        fake.stop()
    print(f"{args.messages} messages from {args.chats} chats, fake Bot API at {fake.url}")
    print_table(results)


if __name__ == "__main__":
    main()
