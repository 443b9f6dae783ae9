"""Issue 14: the investigators' tip list showed identical "sealed" rows. Each tip now
shows its region, category and day, opened with the investigator's own key; an account
without a key for the tips still sees them sealed. A tip's words are never indexed
(tests/test_inbox_search.py): they are searched by opening it (tests/test_tip_search.py)."""

from __future__ import annotations

import re
from datetime import date

from bot import sealed_tips
from tests.staff import Console, console


async def _tip(c: Console, reference: str, region: str | None, category: str | None) -> None:
    async with c.runtime.storage.transaction() as tx:
        sealed = await sealed_tips.seal_tip(
            reference=reference,
            contents={"what": "Взятка", "region": region, "category": category},
            identity=None,
            files=(),
            recipients=await tx.tips.recipients(),
            receipt=None,
        )
        await tx.tips.add(
            sealed,
            privacy="anonymous",
            locale="ru",
            due_on=date(2026, 4, 6),
            reference=reference,
            now=c.clock(),
        )


def _row(page: str, reference: str) -> str:
    found = re.search(rf"<tr[^>]*>\s*<td[^>]*><a[^>]*>{reference}</a>.*?</tr>", page, re.S)
    assert found, reference
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0)))


async def test_tips_show_region_category_and_day(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ivan", "investigator")
        await _tip(c, "TP-1001", "almaty_city", "real_estate")
        await _tip(c, "TP-1002", "astana", None)
        web = await c.login("ivan")
        page = (await web.get("/staff/inbox")).text
        first = _row(page, "TP-1001")
        assert "Almaty" in first and "Real estate registration" in first
        assert "Astana" in _row(page, "TP-1002")
        assert re.search(r"\d\d:\d\d", first) is None  # the day only, like the tip keeps
        await c.add_user("nina", "investigator")  # after the tips: none was sealed to her
        nina = await c.login("nina")
        assert "Almaty" not in _row((await nina.get("/staff/inbox")).text, "TP-1001")
