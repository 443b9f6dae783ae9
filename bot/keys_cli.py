"""`govbot keys init|grant|rotate`: the recovery key of sealed tips (bot/sealed_tips.py)
and the rotation of DATA_KEY (bot/rotation.py).

    govbot keys init                          # prints the recovery key once, if it is new
    govbot keys grant eve < recovery-key.txt  # every tip, for investigator eve too
    govbot keys rotate                        # everything under DATA_KEY's first key

The recovery key's private half is printed once, when `keys init` creates it, and never
stored: keep it offline, in the agency's safe. Nothing else creates it, so no service's
output (a journal on the same disk) ever holds it; until it exists, `govbot run` warns and
tips are sealed to investigators and tipsters only. It is what opens every tip for a new
investigator, or for one whose password was reset. Every grant is written to the audit log.

Rotating DATA_KEY:

    # 1. put the new key first, keep the old one, and restart `govbot run`:
    DATA_KEY=v2:<new>,v1:<old>
    # 2. re-seal what was written under v1 (safe while `govbot run` works; run it again
    #    after a crash, it goes on where it stopped):
    govbot keys rotate
    # 3. when it reports nothing left: DATA_KEY=v2:<new>, restart `govbot run`.

Progress goes to stderr, the counts per table to stdout. Exit status 1 if anything is left
under an older key (a row that did not open, or one written meanwhile by a process that
does not yet list the new key first). Sealed tips are not under DATA_KEY and need nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from bot import sealed_tips, sealing
from bot.config import Settings
from bot.rotation import BATCH_SIZE, Progress, Report, report_table, rotate
from bot.staff.keys import INVESTIGATOR
from bot.storage.tips import RECOVERY, day_of, staff_holder


def recovery_banner(text: str) -> str:
    """What is printed (never logged) when the recovery key is created."""
    rule = "=" * 72
    return (
        f"{rule}\nA recovery key for sealed corruption reports was created. Its private half"
        " is\nshown this once and not stored anywhere. Keep it offline (the agency's safe):"
        f"\nit gives investigators access to every report (govbot keys grant NAME).\n\n"
        f"    {text}\n{rule}\n"
    )


async def init_recovery_key(runtime: Any) -> str | None:
    """Create the recovery key if there is none: its private half's text, to be shown
    once (also kept on `runtime.new_recovery_key` for the caller), or None."""
    async with runtime.storage.transaction() as tx:
        created = await sealed_tips.ensure_recovery_key(tx.tips)
    runtime.new_recovery_key = created
    return created


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="the tips' recovery key; DATA_KEY rotation")
    actions = keys.add_subparsers(dest="action", required=True)
    actions.add_parser("init", help="create the recovery key (printed once)")
    grant = actions.add_parser(
        "grant", help="give an investigator every tip (recovery key on stdin)"
    )
    grant.add_argument("name")
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
    return asyncio.run(_main(settings, args))


async def _main(settings: Settings, args: argparse.Namespace) -> int:
    from bot.runtime import open_runtime

    runtime = await open_runtime(settings)
    try:
        if args.action == "init":
            created = await init_recovery_key(runtime)
            if created is None:
                print(
                    "a recovery key exists already; its private half was shown when it was created",
                    file=sys.stderr,
                )
                return 1
            print(recovery_banner(created), end="")  # printed, never logged
            return 0
        if args.action == "rotate":
            return await _rotate(runtime, args.batch_size)
        return await _grant(runtime, args.name, sys.stdin.readline())
    finally:
        await runtime.close()


async def _grant(runtime: Any, name: str, recovery_text: str) -> int:
    try:
        private = sealing.recovery_private(recovery_text)
    except sealing.SealError:
        print("govbot keys: stdin does not hold a recovery key", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    async with runtime.storage.transaction() as tx:
        db = tx.for_staff
        if sealing.public_of(private) != await tx.tips.recovery_public():
            print("govbot keys: that is not this database's recovery key", file=sys.stderr)
            return 2
        user = await db.staff.by_username(name)
        stored = await db.staff.key(user.id) if user is not None else None
        if user is None or user.role != INVESTIGATOR or user.disabled or stored is None:
            print(
                f"govbot keys: {name!r} is not an active investigator with keys (an account"
                " gets its keys when it is created, or at its first sign-in)",
                file=sys.stderr,
            )
            return 2
        granted, missing = await sealed_tips.grant(
            tx.tips, RECOVERY, private, staff_holder(user.id), stored[0]
        )
        endorsed = await db.staff.endorse(user.id, stored[0])  # new tips are sealed to it too
        await db.audit.append(
            actor="cli",
            action="keys.grant",
            target=user.username,
            now=day_of(now),
            role=None,
            tips=granted,
            by="recovery key",
            endorsed=endorsed,
        )
    print(f"granted {granted} tips to {user.username}" + (f"; {missing} had no recovery key"
          if missing else ""))  # fmt: skip
    return 0


async def _rotate(runtime: Any, batch_size: int) -> int:
    report = await rotate(
        runtime.storage, runtime.attachments, batch_size=batch_size, progress=Progress(sys.stderr)
    )
    print(summary(report, older=len(runtime.cipher.versions) > 1))
    return 0 if report.finished and not report.left else 1


def summary(report: Report, *, older: bool) -> str:
    lines = [f"re-encrypted under key v{report.version}", report_table(report)]
    if report.receipts:
        lines.append(
            f"note: {report.receipts} receipts of tips filed before sealing are kept only as"
            " keyed hashes, which cannot be recomputed without the receipt; such a receipt"
            " shows its tip's status only while the key it was made under is listed"
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
