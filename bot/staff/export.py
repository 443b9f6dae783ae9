"""CSV and JSON export of a filtered ticket list, for the console, the API and the CLI.

Only kinds the user may see are exported. Tip contents are decrypted for investigators,
never the tipster's identity; every export is written to the audit log.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date
from typing import Any

from bot import sealed_tips
from bot.staff.actions import ActionError, Actor, audit, tip_keys
from bot.staff.records import InboxQuery, InboxRow
from bot.staff.schemas import LISTED
from bot.storage.records import Ticket
from bot.storage.staff import StaffTx

FORMATS = ("csv", "json")
# The API's ticket fields (bot/staff/schemas.py), in the file's column order, then a tip's
# contents for the investigators who may open it.
EXPORTED = LISTED.only(
    "ExportedTicket",
    (
        "reference",
        "kind",
        "status",
        "privacy",
        "category",
        "subject",
        "region",
        "rating",
        "summary",
        "locale",
        "channel",
        "created_at",
        "updated_at",
        "due_on",
        "overdue",
        "assignee",
    ),
)
COLUMNS = (*EXPORTED.names, "contents")


def row_dict(row: InboxRow, contents: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**EXPORTED.dump(row), "contents": contents}


async def export_tickets(
    db: StaffTx, actor: Actor, query: InboxQuery, fmt: str, *, today: date
) -> tuple[str, int]:
    """(the file's text, how many tickets) for `query` without pagination."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    page = await db.console.inbox(replace(query, page=1, per_page=0), today=today)
    records = []
    for row in page.rows:
        contents = await _tip_contents(db, actor, row.ticket) if row.ticket.kind == "tip" else None
        records.append(row_dict(row, contents))
    await audit(
        db,
        actor,
        "export",
        None,
        format=fmt,
        count=len(records),
        kinds=list(query.kinds),
        tips=sum(1 for r in records if r["kind"] == "tip"),
    )
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=2), len(records)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        flat = dict(record)
        if flat["contents"] is not None:
            flat["contents"] = json.dumps(flat["contents"], ensure_ascii=False)
        writer.writerow({key: _cell(value) for key, value in flat.items()})
    return out.getvalue(), len(records)


async def _tip_contents(db: StaffTx, actor: Actor, ticket: Ticket) -> dict[str, Any] | None:
    """A tip's contents for an investigator signed in with a key for it; else none (the
    CLI, an API token, an account whose keys were reset): the export never opens a tip
    its reader could not open on the ticket page."""
    try:
        keys = await tip_keys(db, actor, ticket)
    except ActionError:
        return None
    return await sealed_tips.contents(db.tx.tips, ticket, keys)


def _cell(value: Any) -> Any:
    """Citizens' text must not run as a spreadsheet formula when the CSV is opened."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
