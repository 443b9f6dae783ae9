"""`govbot keys rotate`: re-seal everything under the newest DATA_KEY (bot/rotation.py).

    # 1. put the new key first, keep the old one, and restart `govbot run`:
    DATA_KEY=v2:<new>,v1:<old>
    # 2. re-seal what was written under v1 (safe while `govbot run` works; run it again
    #    after a crash, it goes on where it stopped):
    govbot keys rotate
    # 3. when it reports nothing left: DATA_KEY=v2:<new>, restart `govbot run`.

Progress goes to stderr, the counts per table to stdout. Exit status 1 if anything is left
under an older key (a row that did not open, or one written meanwhile by a process that
does not yet list the new key first).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import Settings
from bot.rotation import BATCH_SIZE, Progress, Report, report_table, rotate


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="DATA_KEY maintenance")
    actions = keys.add_subparsers(dest="action", required=True)
    rotate_ = actions.add_parser(
        "rotate", help="re-encrypt everything under the first key of DATA_KEY (resumable)"
    )
    rotate_.add_argument(
        "--batch-size",
        type=_positive,
        default=BATCH_SIZE,
        help=f"rows per write transaction (default {BATCH_SIZE})",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_rotate(settings, args.batch_size))


async def _rotate(settings: Settings, batch_size: int) -> int:
    from bot.runtime import open_runtime

    runtime = await open_runtime(settings)
    try:
        report = await rotate(
            runtime.storage,
            runtime.attachments,
            batch_size=batch_size,
            progress=Progress(sys.stderr),
        )
    finally:
        await runtime.close()
    print(summary(report, older=len(runtime.cipher.versions) > 1))
    return 0 if report.finished and not report.left else 1


def summary(report: Report, *, older: bool) -> str:
    lines = [f"re-encrypted under key v{report.version}", report_table(report)]
    if report.receipts:
        lines.append(
            f"note: {report.receipts} tip receipts are kept only as keyed hashes, which cannot"
            " be recomputed without the receipt; a receipt issued under an older key opens"
            " its tip only while that key is listed (staff still read every tip)"
        )
    if report.left:
        lines.append(
            f"{report.left} records are still under an older key: 'failed' ones do not open"
            " with any key in DATA_KEY; others were written meanwhile by a process that does"
            " not list the new key first (restart it, then run this again)"
        )
    elif older:
        lines.append(
            f"everything is under v{report.version}: the older keys may now leave DATA_KEY"
            " (then restart govbot run)"
        )
    return "\n".join(lines)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected a whole number from 1")
    return value
