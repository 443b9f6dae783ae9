"""Turning a citizen's campaign news on or off by a word or a button, and the
confirmation that names the news (issue 15: a citizen who stops something must be told
what stopped). The word acts at once, from any step: on WhatsApp an opt-out is ours to
honour, and it must not wait for the question on screen to be answered.
"""

from __future__ import annotations

from datetime import datetime

from bot.i18n import Translator
from bot.refdata import RefData
from bot.storage.records import Citizen


def set_news(citizen: Citizen, on: bool, t: Translator, refdata: RefData, *, now: datetime) -> str:
    """Subscribe or unsubscribe `citizen`; what to tell them, naming the regions. The
    choice is dated even when nothing changes: it is the citizen's latest word."""
    was, citizen.subscribed = citizen.subscribed, on
    citizen.news_chosen_at = now
    regions = refdata.region_names(citizen.sub_regions, t.lang)
    if on:
        return (
            t("subscription.on_regions", regions=regions) if regions else t("subscription.on_all")
        )
    if not was:
        return t("subscription.off_already")
    return t("subscription.off_regions", regions=regions) if regions else t("subscription.off_all")
