"""`govbot keys init|grant`: the recovery key of sealed tips (bot/sealed_tips.py).

    govbot keys init                          # prints the recovery key once, if it is new
    govbot keys grant eve < recovery-key.txt  # every tip, for investigator eve too

The recovery key's private half is printed once, when it is created (by `keys init`, or by
the first start of a new database), and never stored: keep it offline, in the agency's
safe. It is what opens every tip for a new investigator, or for one whose password was
reset. Every grant is written to the audit log.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from bot import sealed_tips, sealing
from bot.config import Settings
from bot.staff.keys import INVESTIGATOR
from bot.storage.sqlite.console import StaffTx
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


def show_new_recovery_key(runtime: Any) -> None:
    if runtime.new_recovery_key is not None:
        sys.stderr.write(recovery_banner(runtime.new_recovery_key))
        sys.stderr.flush()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="the recovery key of sealed corruption reports")
    actions = keys.add_subparsers(dest="action", required=True)
    actions.add_parser("init", help="create the recovery key (printed once)")
    grant = actions.add_parser(
        "grant", help="give an investigator every tip (recovery key on stdin)"
    )
    grant.add_argument("name")


def run(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_main(settings, args))


async def _main(settings: Settings, args: argparse.Namespace) -> int:
    from bot.runtime import open_runtime

    runtime = await open_runtime(settings)
    try:
        if args.action == "init":
            if runtime.new_recovery_key is None:
                print(
                    "a recovery key exists already; its private half was shown when it was created",
                    file=sys.stderr,
                )
                return 1
            show_new_recovery_key(runtime)
            return 0
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
        db = StaffTx(tx)
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
        await db.audit.append(
            actor="cli",
            action="keys.grant",
            target=user.username,
            now=day_of(now),
            role=None,
            tips=granted,
            by="recovery key",
        )
    print(f"granted {granted} tips to {user.username}" + (f"; {missing} had no recovery key"
          if missing else ""))  # fmt: skip
    return 0
