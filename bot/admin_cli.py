"""`govbot staff add|list|disable`, `govbot export tickets` and `govbot audit verify`.

    govbot staff add rita --role reviewer          # asks for the password twice
    echo "$PASSWORD" | govbot staff add ci --role admin
    govbot export tickets --format csv --status new --as rita > new.csv
    govbot audit verify                            # exit status 1 if the chain is broken

An export runs with the role of the account named by --as (tips only for investigators)
and is written to the audit log under that name; without --as it covers complaints and
feedback and is recorded as "cli".
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from bot.config import Settings
from bot.domain import LANGUAGES
from bot.i18n import TIMEZONE
from bot.staff.accounts import AccountError, add_account
from bot.staff.actions import Actor
from bot.staff.export import FORMATS, export_tickets
from bot.staff.records import ROLES, STATUSES, StaffUser
from bot.staff.roles import INVESTIGATOR


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    staff = sub.add_parser("staff", help="staff console accounts")
    staff_actions = staff.add_subparsers(dest="action", required=True)
    add = staff_actions.add_parser("add", help="create an account (password from the terminal)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--lang", choices=LANGUAGES, default=None, help="console language")
    staff_actions.add_parser("list", help="every account with its role and state")
    disable = staff_actions.add_parser(
        "disable", help="disable an account, end its sessions, revoke its tokens"
    )
    disable.add_argument("name")

    export = sub.add_parser("export", help="export tickets as CSV or JSON to stdout")
    what = export.add_subparsers(dest="what", required=True)
    tickets = what.add_parser("tickets", help="the filtered ticket list")
    tickets.add_argument("--format", choices=FORMATS, default="csv")
    tickets.add_argument("--as", dest="as_user", help="staff account whose role applies")
    tickets.add_argument("--kind", choices=("complaint", "feedback", "tip"))
    tickets.add_argument("--status", choices=STATUSES)
    tickets.add_argument("--category")
    tickets.add_argument("--region")
    tickets.add_argument("--overdue", action="store_true")
    tickets.add_argument("--from", dest="date_from", help="filed on or after YYYY-MM-DD")
    tickets.add_argument("--to", dest="date_to", help="filed on or before YYYY-MM-DD")
    tickets.add_argument("--search", help="text in reference, summary or subject")

    audit = sub.add_parser("audit", help="the staff audit log")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    audit_actions.add_parser("verify", help="check the hash chain of the audit log")


def read_password(prompt: str = "Password: ") -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise AccountError("passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def run(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_main(settings, args))


async def _main(settings: Settings, args: argparse.Namespace) -> int:
    from bot.runtime import open_runtime

    runtime = await open_runtime(settings)
    try:
        if args.command == "staff":
            return await _staff(runtime, args)
        if args.command == "export":
            return await _export(runtime, args)
        return await _audit(runtime)
    finally:
        await runtime.close()


async def _staff(runtime: Any, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    if args.action == "add":
        try:
            password = read_password()
            async with runtime.storage.transaction() as tx:
                db = tx.for_staff
                user = await add_account(
                    db,
                    args.name,
                    args.role,
                    password,
                    locale=args.lang or runtime.settings.default_language,
                    now=now,
                    # The shell holds the public keys: it chooses tips' recipients anyway.
                    endorsed=True,
                )
                await db.audit.append(
                    actor="cli",
                    action="account.add",
                    target=user.username,
                    now=now,
                    role=None,
                    endorsed=user.role == INVESTIGATOR,
                )
        except AccountError as err:
            print(f"govbot staff: {runtime.catalogs['en'](str(err))}", file=sys.stderr)
            return 2
        print(f"created {user.username} ({user.role})")
        return 0
    if args.action == "list":
        async with runtime.storage.read() as tx:
            users = await tx.for_staff.staff.all()
        for user in users:
            state = "disabled" if user.disabled else "active"
            print(f"{user.username:<24} {user.role:<13} {state:<9} {user.locale}")
        if not users:
            print("no staff accounts yet: govbot staff add NAME --role admin")
        return 0
    async with runtime.storage.transaction() as tx:
        db = tx.for_staff
        found = await db.staff.by_username(args.name)
        if found is None:
            print(f"govbot staff: no account named {args.name!r}", file=sys.stderr)
            return 2
        await db.staff.update(found.id, disabled=True, now=now)
        await db.audit.append(actor="cli", action="account.disable", target=found.username, now=now)
    print(f"disabled {found.username}; their sessions and API tokens have ended")
    return 0


async def _export(runtime: Any, args: argparse.Namespace) -> int:
    from datetime import date

    from bot.web.staff.inbox import query_from

    now = datetime.now(UTC)
    async with runtime.storage.read() as tx:
        user = await tx.for_staff.staff.by_username(args.as_user) if args.as_user else None
    if args.as_user and (user is None or user.disabled):
        print(f"govbot export: no active account named {args.as_user!r}", file=sys.stderr)
        return 2
    actor_user = user or StaffUser(0, "cli", "reviewer", "en", False, now)
    params = {
        "kind": args.kind,
        "status": args.status,
        "category": args.category,
        "region": args.region,
        "overdue": "1" if args.overdue else None,
        "from": args.date_from,
        "to": args.date_to,
        "q": args.search,
    }
    query = query_from({k: v for k, v in params.items() if v}, actor_user)
    today: date = now.astimezone(TIMEZONE).date()
    async with runtime.storage.transaction() as tx:
        text, count = await export_tickets(
            tx.for_staff, Actor(actor_user, "cli", now), query, args.format, today=today
        )
    sys.stdout.write(text)
    if args.format == "json":
        sys.stdout.write("\n")
    print(f"exported {count} tickets", file=sys.stderr)
    return 0


async def _audit(runtime: Any) -> int:
    async with runtime.storage.read() as tx:
        checked, problems = await tx.for_staff.audit.verify()
    if problems:
        for problem in problems:
            print(f"BROKEN: {problem}")
        print(f"audit log: chain broken ({checked} entries checked)")
        return 1
    print(f"audit log: chain intact ({checked} entries checked)")
    return 0
