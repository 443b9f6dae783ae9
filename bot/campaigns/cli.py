"""`govbot campaign create|list|show|cancel|pause|resume`: campaigns from the command line.

These commands only write to the database; the running bot (`govbot run`) notices within a
few seconds and sends. A campaign file (TOML; times in Asia/Almaty):

    title = "Mobile reception bus"
    fallback = "refuse"          # missing language: refuse | skip | kk | ru | en
    image = "bus.jpg"            # optional, relative to this file

    [text]
    kk = "..."
    ru = "..."
    en = "..."

    [whatsapp_templates]         # approved ContentSid per language, for citizens
    ru = "HX..."                 # outside WhatsApp's 24-hour window
    kk = { sid = "HX...", variables = { 1 = "name", 2 = "region", 3 = "date" } }
                                 # what fills each {{n}}: name | region | date

    [audience]                   # all optional: no narrowing
    regions = ["almaty_city"]
    languages = ["ru", "kk"]
    channels = ["telegram"]

    [schedule]                   # neither: now
    at = "2026-03-23 10:00"
    every = "0 10 * * mon"       # crontab rule: every Monday at 10:00
"""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from bot.campaigns.model import (
    CampaignError,
    Image,
    TemplateVariableError,
    draft_from_mapping,
    first_run,
)
from bot.campaigns.records import Campaigns, Progress, ReportRow
from bot.campaigns.variables import problem
from bot.channels.whatsapp.templates import declared_by_settings
from bot.config import Settings
from bot.i18n import TIMEZONE, Catalogs
from bot.runtime import open_runtime

BAR = 40


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    campaign = sub.add_parser("campaign", help="broadcast campaigns to subscribers")
    actions = campaign.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a campaign from a TOML file")
    create.add_argument("--file", type=Path, required=True)
    create.add_argument("--by", default="cli", help="who creates it (for the record)")
    actions.add_parser("list", help="recent campaigns")
    show = actions.add_parser("show", help="progress, and the report once finished")
    show.add_argument("id", type=int)
    show.add_argument("--watch", action="store_true", help="follow the progress bar live")
    for name in ("cancel", "pause", "resume"):
        action = actions.add_parser(name, help=f"{name} a campaign")
        action.add_argument("id", type=int)


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_main(settings, args))
    except TemplateVariableError as err:
        found = err.problem
        print(f"govbot campaign: {Catalogs()['en'](found.msgid, **found.params)}", file=sys.stderr)
        return 2
    except CampaignError as err:
        print(f"govbot campaign: {err}", file=sys.stderr)
        return 2


async def _main(settings: Settings, args: argparse.Namespace) -> int:
    runtime = await open_runtime(settings)
    campaigns = runtime.campaigns
    now = datetime.now(UTC)
    try:
        if args.action == "create":
            data = tomllib.loads(args.file.read_text(encoding="utf-8"))
            draft = draft_from_mapping(data, created_by=args.by)
            if "image" in data:
                path = args.file.parent / str(data["image"])
                stored = runtime.attachments.put(
                    path.read_bytes(),
                    declared_type=mimetypes.guess_type(path.name)[0],
                    file_name=path.name,
                )
                draft.image = Image(stored.blob_id, stored.content_type)
            draft.check({r.code: r for r in runtime.refdata.regions})
            sids = draft.templates.values()
            declared = await declared_by_settings(settings, sids)
            if found := problem(draft.templates, draft.template_variables, declared):
                raise TemplateVariableError(found)
            async with campaigns.transaction() as store:
                audience = await store.count_audience(
                    draft.audience, default_locale=settings.default_language
                )
                campaign_id = await store.create(draft, next_run_at=first_run(draft, now), now=now)
            total = sum(n for _, _, n in audience)
            print(f"campaign {campaign_id}: {total} subscribers")
            for channel, lang, n in audience:
                print(f"  {channel:<9} {lang}  {n}")
            when = first_run(draft, now)
            start = "now" if when <= now else when.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
            rule = f", then {draft.recurring}" if draft.recurring else ""
            print(f"starts {start} (Asia/Almaty){rule}; the running bot sends it")
            return 0
        if args.action == "list":
            async with campaigns.read() as store:
                for c in await store.recent():
                    nxt = (
                        c.next_run_at.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
                        if c.next_run_at
                        else "-"
                    )
                    print(f"{c.id:>5}  {c.status:<10} next {nxt:<16}  {c.title}")
            return 0
        if args.action == "show":
            return await _show(campaigns, args.id, watch=args.watch)
        async with campaigns.transaction() as store:
            if await store.get(args.id) is None:
                raise CampaignError(f"no campaign {args.id}")
            changed = await getattr(store, args.action)(args.id, now=now)
        print(f"campaign {args.id}: {args.action} {'done' if changed else 'changed nothing'}")
        return 0 if changed else 1
    finally:
        await runtime.close()


async def _show(campaigns: Campaigns, campaign_id: int, *, watch: bool) -> int:
    async with campaigns.read() as store:
        campaign = await store.get(campaign_id)
    if campaign is None:
        raise CampaignError(f"no campaign {campaign_id}")
    print(f"campaign {campaign.id}: {campaign.title} [{campaign.status}]")
    if campaign.paid_broadcast:
        print("Telegram paid broadcast (allow_paid_broadcast), chosen in the console")
    tty = sys.stdout.isatty()
    while True:
        async with campaigns.read() as store:
            progress = await store.progress(campaign_id, now=datetime.now(UTC))
        line = progress_line(progress)
        print(f"\r{line}" if tty and watch else line, end="" if tty and watch else "\n")
        if not watch or progress.run_status in (None, "done", "cancelled"):
            break
        await asyncio.sleep(1)
    if tty and watch:
        print()
    if progress.run_id is not None and progress.run_status in ("done", "cancelled"):
        async with campaigns.read() as store:
            print(report_table(await store.report(progress.run_id)))
    return 0


def progress_line(p: Progress) -> str:
    if p.run_id is None:
        return "not started yet"
    done = p.total - p.left
    filled = BAR * done // p.total if p.total else BAR
    left = p.seconds_left
    eta = "-" if left is None else f"{left:.0f}s"
    return (
        f"[{'#' * filled}{'.' * (BAR - filled)}] {done}/{p.total}  sent {p.count('sent')}"
        f"  failed {p.count('failed')}  unknown {p.count('unknown')}  skipped {p.count('skipped')}"
        f"  pending {p.left}  {p.rate:.1f}/s  left {eta}  ({p.run_status})"
    )


def report_table(rows: list[ReportRow]) -> str:
    """The final report: one line per channel and language, a column per outcome."""
    statuses = ("sent", "failed", "skipped", "unknown", "cancelled")
    table: dict[tuple[str, str], dict[str, int]] = {}
    reasons: dict[str, int] = {}
    for r in rows:
        cell = table.setdefault((r.channel, r.locale), {})
        cell[r.status] = cell.get(r.status, 0) + r.count
        if r.error and r.status in ("failed", "skipped", "unknown"):
            reasons[f"{r.status}: {r.error}"] = reasons.get(f"{r.status}: {r.error}", 0) + r.count
    lines = ["channel   lang " + "".join(f"{s:>10}" for s in statuses)]
    for (channel, lang), cell in sorted(table.items()):
        counts = "".join(f"{cell.get(s, 0):>10}" for s in statuses)
        lines.append(f"{channel:<9} {lang:<4} {counts}")
    lines += [f"  {reason}: {n}" for reason, n in sorted(reasons.items())]
    return "\n".join(lines)
