"""What the campaign pages show, computed before the template: the preview per language,
the audience count, the schedule in words, progress figures and the final report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from babel.dates import format_timedelta, get_day_names

from bot.campaigns.engine import compose
from bot.campaigns.model import Campaign
from bot.campaigns.records import Progress, ReportRow
from bot.campaigns.variables import placeholders
from bot.domain import LANGUAGES
from bot.i18n import Catalogs, Translator
from bot.web.staff.campaign_form import WEEKDAYS, weekly_parts

REPORT_STATUSES = ("pending", "sent", "failed", "skipped", "unknown", "cancelled")
# Reasons the engine and store record, with a translated explanation each.
KNOWN_REASONS = (
    "no_text",
    "no_template",
    "outside_window",
    "unsubscribed",
    "blocked",
    "rate_limited",
    "timeout",
    "network",
    "interrupted",
)


@dataclass(frozen=True, slots=True)
class PreviewRow:
    lang: str  # the citizens' language
    text_lang: str | None  # whose text they receive; None = they are skipped
    message: str  # the text with the footer in `lang`, as the citizen reads it
    template: str | None  # WhatsApp ContentSid used outside the 24-hour window
    # What fills the template's placeholders: ("{{1}}", "name"), in order.
    variables: tuple[tuple[str, str], ...] = ()
    needs: str | None = None  # the placeholders the template declares, where Twilio said


def preview(
    campaign: Campaign, catalogs: Catalogs, declared: dict[str, frozenset[str]] | None = None
) -> list[PreviewRow]:
    rows = []
    for lang in LANGUAGES:
        text_lang = campaign.text_language(lang)
        if text_lang is None:
            rows.append(PreviewRow(lang, None, "", None))
            continue
        message = compose(campaign, text_lang, lang, catalogs)
        template = campaign.templates.get(text_lang)
        mapping = campaign.template_variables.get(text_lang, {})
        variables = tuple((placeholders({n}), mapping[n]) for n in sorted(mapping, key=int))
        needs = (declared or {}).get(template or "")
        rows.append(
            PreviewRow(
                lang,
                text_lang,
                message,
                template,
                variables,
                placeholders(needs) if needs else None,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class AudienceCount:
    rows: list[tuple[str, str, int]]  # (channel, language, subscribers)

    @property
    def total(self) -> int:
        return sum(n for _, _, n in self.rows)

    def cell(self, channel: str, lang: str) -> int:
        return sum(n for c, lang_, n in self.rows if c == channel and lang_ == lang)

    def by_channel(self, channel: str) -> int:
        return sum(n for c, _, n in self.rows if c == channel)

    def skipped(self, campaign: Campaign) -> int:
        """Subscribers the missing-language rule leaves out (no text for them)."""
        return sum(n for _, lang, n in self.rows if campaign.text_language(lang) is None)


@dataclass(frozen=True, slots=True)
class PaidEstimate:
    """What a Telegram paid broadcast costs at most: one message a Telegram recipient, at
    the price a message (Telegram bills only what goes past the free limit)."""

    messages: int
    stars: float

    @classmethod
    def of(cls, messages: int, price: float) -> PaidEstimate:
        return cls(messages, round(messages * price, 2))

    @property
    def audited(self) -> dict[str, int | float]:
        return {"paid_messages": self.messages, "paid_stars": self.stars}


def paid_sent(report: Report) -> int:
    """Telegram messages a paid campaign's run has sent so far: each may have been billed."""
    return sum(cell.get("sent", 0) for channel, _, cell in report.rows if channel == "telegram")


def schedule_text(t: Translator, campaign: Campaign) -> str:
    if campaign.recurring:
        weekly = weekly_parts(campaign.recurring)
        if weekly is None:
            return t("campaign.console.schedule.rule", rule=campaign.recurring)
        names = get_day_names("abbreviated", locale=t.locale)
        days = ", ".join(names[WEEKDAYS.index(d)] for d in weekly[0])
        return t("campaign.console.schedule.weekly", days=days, time=weekly[1])
    if campaign.next_run_at is not None:
        return t("campaign.console.schedule.at", time=t.datetime(campaign.next_run_at, "short"))
    return t("campaign.console.schedule.once")


def day_names(t: Translator) -> list[tuple[str, str]]:
    names = get_day_names("abbreviated", locale=t.locale)
    return [(code, names[i]) for i, code in enumerate(WEEKDAYS)]


def time_left(t: Translator, progress: Progress) -> str:
    seconds = progress.seconds_left
    if seconds is None:
        return "—"
    if seconds < 1:
        return format_timedelta(timedelta(0), locale=t.locale)
    return format_timedelta(timedelta(seconds=seconds), locale=t.locale, threshold=1.5)


def rate_text(t: Translator, progress: Progress) -> str:
    return t("campaign.console.progress.rate_value", rate=t.number(round(progress.rate, 1)))


@dataclass(frozen=True, slots=True)
class Report:
    rows: list[tuple[str, str, dict[str, int]]]  # (channel, language, status → count)
    reasons: list[tuple[str, str, int]]  # (status, reason, count)

    @property
    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, _, cell in self.rows:
            for status, n in cell.items():
                out[status] = out.get(status, 0) + n
        return out


def report(rows: list[ReportRow]) -> Report:
    table: dict[tuple[str, str], dict[str, int]] = {}
    reasons: dict[tuple[str, str], int] = {}
    for r in rows:
        status = "pending" if r.status == "sending" else r.status
        cell = table.setdefault((r.channel, r.locale), {})
        cell[status] = cell.get(status, 0) + r.count
        if r.error and r.status in ("failed", "skipped", "unknown"):
            reasons[(r.status, r.error)] = reasons.get((r.status, r.error), 0) + r.count
    return Report(
        rows=[(c, lang, cell) for (c, lang), cell in sorted(table.items())],
        reasons=[(s, e, n) for (s, e), n in sorted(reasons.items())],
    )
