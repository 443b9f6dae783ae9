"""Searching sealed tips by their words, for an investigator signed in with a key.

Tips are never indexed (migration 017): an index would hand their words to whoever copies
the database. So a search opens them in memory for one request: the newest tips the other
filters allow, in batches, in a worker thread, with the investigator's own key; only the
ids of those that match leave it, to narrow the ordinary list query. Nothing opened is
written, logged or cached, and the audit log notes that a search ran, never its words.
Words match case-folded, so "цон" finds "ЦОН" and "әкімдік" finds "ӘКІМДІК".
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Protocol

from bot import sealed_tips
from bot.refdata import RefData
from bot.staff.actions import Actor
from bot.staff.records import InboxQuery
from bot.storage.tips import SealedBundle, TipStore, staff_holder

# A tip with a short thread takes about 1 ms to open (X25519 per sealed part; measured by
# benchmarks/tip_search.py on a busy 2-core machine: ~1,100 tips/s). 2,000 keep a search
# to about 2 s of one core, off the event loop, and still reach months back at the
# agency's volume of tips; the page says when the limit ended it.
SCAN_LIMIT = 2000
BATCH = 200  # tips read and opened at a time, in a worker thread
TIP = "tip"
NOT_WORDS = frozenset({"carried"})  # which fields came over from another flow


class Listing(Protocol):
    async def newest(self, query: InboxQuery, *, today: date, limit: int) -> list[tuple[int, str]]:
        """(id, reference) of the tickets `query` finds in any status, the newest first."""
        ...


@dataclass(frozen=True, slots=True)
class Narrowed:
    """The list query to run. After a search: the matches' ids in place of the words, the
    region and the category (sealed too); `stopped` when SCAN_LIMIT ended the scan."""

    query: InboxQuery
    searched: bool = False
    stopped: bool = False


def tip_list(query: InboxQuery) -> bool:
    return query.kinds == (TIP,)


def opens_tips(actor: Actor, query: InboxQuery) -> bool:
    """A list of tips, for an investigator signed in with a key: its tips can be searched."""
    return tip_list(query) and actor.tip_private is not None


async def narrow(
    listing: Listing,
    tips: TipStore,
    actor: Actor,
    query: InboxQuery,
    refdata: RefData,
    *,
    today: date,
) -> Narrowed:
    """`query` as the list runs it: unchanged unless it lists tips. Without a key the
    words are dropped (a count that changed with them would tell what the tips say)."""
    if not tip_list(query):
        return Narrowed(query)
    private = actor.tip_private
    if private is None:
        return Narrowed(replace(query, text=None))
    wanted = words(query.text or "")
    if not (wanted or query.region or query.category):
        return Narrowed(query)
    rest = replace(query, text=None, region=None, category=None)
    found = await listing.newest(rest, today=today, limit=SCAN_LIMIT + 1)
    holder = staff_holder(actor.user.id)
    matched: list[int] = []
    for start in range(0, min(len(found), SCAN_LIMIT), BATCH):
        batch = found[start : min(start + BATCH, SCAN_LIMIT)]
        bundles = await tips.bundles([ticket_id for ticket_id, _ in batch], holder)
        opened = await asyncio.to_thread(_matching, private, bundles, query, wanted, refdata)
        # A tip this key does not open is still found by its reference, which the list shows.
        by_reference = query.region is None and query.category is None
        matched += [
            ticket_id
            for ticket_id, reference in batch
            if ticket_id in opened or (by_reference and matches(wanted, fold(reference)))
        ]
    return Narrowed(replace(rest, ids=tuple(matched)), bool(wanted), len(found) > SCAN_LIMIT)


def facets(refdata: RefData) -> dict[str, list[str]]:
    """The filter choices of a list whose tips open: every region and category, since
    the table keeps a tip's sealed and has none to offer."""
    return {
        "category": [c.code for c in refdata.categories],
        "region": [r.code for r in refdata.regions],
    }


def fold(text: str) -> str:
    """Case-free and in one Unicode form: Cyrillic and Kazakh letters fold like Latin."""
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    return fold(text).split()


def folded(texts: Iterable[str]) -> str:
    return "\n".join(fold(text) for text in texts)


def matches(wanted: list[str], haystack: str) -> bool:
    """Every word, anywhere (a word's start or middle too: "цон" finds "ЦОНе")."""
    return all(word in haystack for word in wanted)


def _matching(
    private: bytes,
    bundles: list[SealedBundle],
    query: InboxQuery,
    wanted: list[str],
    refdata: RefData,
) -> set[int]:
    """The ids among `bundles` that match: opened here and dropped on return."""
    found = set()
    for bundle in bundles:
        try:
            contents, thread = sealed_tips.open_bundle(private, bundle)
        except sealed_tips.NoKey:
            continue
        if query.region and contents.get("region") != query.region:
            continue
        if query.category and contents.get("category") != query.category:
            continue
        texts = [bundle.reference, *thread, *_field_texts(contents, refdata)]
        if matches(wanted, folded(texts)):
            found.add(bundle.ticket_id)
    return found


def _field_texts(contents: dict[str, Any], refdata: RefData) -> list[str]:
    # Fields kept as codes are found by their names in every language too ("ЦОН": gov4c).
    lookup = {"region": refdata.region, "category": refdata.category, "body": refdata.body}
    texts = []
    for key, value in contents.items():
        if key in NOT_WORDS or value is None:
            continue
        texts.append(str(value))
        named = lookup[key](value) if key in lookup and isinstance(value, str) else None
        if named is not None:
            texts += named.names.values()
    return texts
