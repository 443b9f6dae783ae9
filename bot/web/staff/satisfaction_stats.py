"""The statistics page's satisfaction part: after a complaint was closed, how often the
citizen said it was solved, how they rated the answer, and how often "not solved"
reopened it; per category, region and assignee, as SVG bars with the numbers in a table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup

from bot.i18n import Translator
from bot.storage import Tx
from bot.storage.records import SatisfactionStat
from bot.web.staff import charts

GROUPS = ("category", "region", "assignee")
MEASURES = ("solved", "rating", "reopened")
ROWS = 15


@dataclass(frozen=True, slots=True)
class SatisfactionGroup:
    group: str
    rows: list[tuple[str, SatisfactionStat]]  # (label, numbers)
    charts: dict[str, Markup]  # by measure


async def satisfaction_groups(
    tx: Tx,
    t: Translator,
    name: Callable[[str, str], str],
    staff: Mapping[int, str],
    *,
    since: datetime,
) -> list[SatisfactionGroup]:
    """`name(group, code)` labels a category or a region, `staff` names the assignees."""

    def label(group: str, code: str) -> str:
        if group != "assignee":
            return name(group, code)
        return staff.get(int(code), code) if code else t("staff.csat.unassigned")

    found = []
    for group in GROUPS:
        rows = [(label(group, s.key), s) for s in await tx.satisfaction.by(group, since=since)]
        values: dict[str, list[tuple[str, float]]] = {
            "solved": [
                (n, round(s.solved_share, 1)) for n, s in rows if s.solved_share is not None
            ],
            "rating": [(n, round(s.mean_rating, 2)) for n, s in rows if s.mean_rating is not None],
            "reopened": [(n, round(s.reopen_share, 1)) for n, s in rows],
        }
        drawn = {
            measure: charts.bars(
                t(f"staff.csat.{measure}"),
                values[measure][:ROWS],
                maximum=5 if measure == "rating" else 100,
            )
            for measure in MEASURES
        }
        found.append(SatisfactionGroup(group, rows, drawn))
    return found
