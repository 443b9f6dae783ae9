"""Tip search benchmark: how many sealed tips an investigator's search opens a second.

    .venv/bin/python benchmarks/tip_search.py [--tips 2000] [--messages 2] [--runs 3]

Seals --tips tips (a report and --messages thread messages each) to an investigator in a
new SQLite file, then runs the console's search (bot/staff/tip_search.py `narrow`) with
their key over all of them, --runs times, and prints the best run: tips opened a second and
the time one full scan (SCAN_LIMIT tips) takes. Everything measured is production code.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from bot import sealed_tips
from bot.config import Settings
from bot.crypto import generate_key_setting
from bot.runtime import open_runtime
from bot.staff import keys as staff_keys
from bot.staff import tip_search
from bot.staff.accounts import add_account
from bot.staff.actions import Actor
from bot.staff.records import InboxQuery
from bot.staff.roles import visible_kinds

PASSWORD = "benchmark password"
NOW = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)


async def main(tips: int, messages: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_path=Path(tmp) / "govbot.sqlite3",
            data_key=generate_key_setting(),
            secret_key="s" * 40,
        )
        runtime = await open_runtime(settings, clock=lambda: NOW)
        try:
            async with runtime.storage.transaction() as tx:
                user = await add_account(
                    tx.for_staff, "ivan", "investigator", PASSWORD, locale="ru", now=NOW,
                    endorsed=True,
                )  # fmt: skip
                pair = await staff_keys.open_pair(tx.for_staff, user, PASSWORD)
            assert pair is not None
            for n in range(tips):
                async with runtime.storage.transaction() as tx:
                    reference = f"TP-{100000 + n}"
                    sealed = await sealed_tips.seal_tip(
                        reference=reference,
                        contents={
                            "what": f"Сотрудник ЦОН №{n} требовал деньги за справку",
                            "who": "Инспектор Әлиев",
                            "body": "gov4c",
                            "region": "astana",
                            "amount": 150000,
                        },
                        identity=None,
                        files=(),
                        recipients=await tx.tips.recipients(),
                        receipt=None,
                    )
                    ticket = await tx.tips.add(
                        sealed, privacy="anonymous", locale="ru", due_on=date(2026, 4, 6),
                        reference=reference, now=NOW,
                    )  # fmt: skip
                    for m in range(messages):
                        await sealed_tips.add_message(
                            tx.tips, ticket, author="citizen", body=f"Дополнение {m}", now=NOW
                        )
            actor = Actor(user, None, NOW, tip_private=pair.private)
            query = InboxQuery(kinds=visible_kinds(user), text="требовал ӘЛИЕВ")
            best = float("inf")
            for _ in range(runs):
                started = time.perf_counter()
                async with runtime.storage.read() as tx:
                    db = tx.for_staff
                    run = await tip_search.narrow(
                        db.console, db.tx.tips, actor, query, runtime.refdata, today=NOW.date()
                    )
                best = min(best, time.perf_counter() - started)
            scanned = min(tips, tip_search.SCAN_LIMIT)
            assert run.query.ids is not None and len(run.query.ids) == scanned
            rate = scanned / best
            print(
                f"{scanned} tips ({messages} messages each) searched in {best:.2f} s:"
                f" {rate:,.0f} tips/s; a full scan of {tip_search.SCAN_LIMIT:,}"
                f" takes {tip_search.SCAN_LIMIT / rate:.2f} s"
            )
        finally:
            await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tips", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.tips, args.messages, args.runs))
