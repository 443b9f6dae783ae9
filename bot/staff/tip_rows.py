"""What an investigator's inbox shows of each sealed tip: its region and category.

Tips keep both inside their sealed contents, so without this every tip row read the same
("sealed"). They are opened with the investigator's own key for this page only; the text
stays on the ticket page, where opening it is audited, and an account without a key for a
tip sees that row as before.
"""

from __future__ import annotations

from bot import sealed_tips
from bot.staff.actions import Actor
from bot.staff.records import InboxRow
from bot.storage.tips import TipStore, staff_holder

SHOWN = ("region", "category")


async def tip_labels(
    tips: TipStore, actor: Actor, rows: list[InboxRow]
) -> dict[int, dict[str, str]]:
    """{tip id: {"region": code, "category": code}} for the tips among `rows` this actor
    may open; fields the tipster left out are absent."""
    labels = {}
    holder = staff_holder(actor.user.id)
    for row in rows:
        if row.ticket.kind != "tip":
            continue
        try:
            keys = await sealed_tips.keys_for(tips, row.ticket, holder, actor.tip_private)
        except sealed_tips.NoKey:
            continue
        contents = await sealed_tips.contents(tips, row.ticket, keys)
        labels[row.ticket.id] = {k: str(contents[k]) for k in SHOWN if contents.get(k)}
    return labels
