"""What a campaign is: the texts per language, the audience, the schedule, and the rules that
decide which text (or WhatsApp template) each recipient gets.

Pure data and checks; no I/O. The same `CampaignDraft.check()` refuses a bad campaign
whether it came from a TOML file (`govbot campaign create`) or the staff console.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.campaigns.variables import Problem, problem
from bot.domain import LANGUAGES
from bot.errors import GovbotError

CHANNELS = ("telegram", "whatsapp")
ALMATY = ZoneInfo("Asia/Almaty")
# Room left for the unsubscribe footer inside each platform's limit.
MAX_TEXT = {"telegram": 3900, "whatsapp": 1450}
MAX_CAPTION = 900  # Telegram captions are limited to 1024 characters
FALLBACKS = ("refuse", "skip", *LANGUAGES)
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")


class CampaignError(GovbotError):
    """A campaign that cannot be accepted; str(err) says why, in one line."""


class TemplateVariableError(CampaignError):
    """A template whose variables the campaign cannot fill (bot/campaigns/variables.py):
    the console and the command line say why in words from the "campaign" catalog."""

    def __init__(self, found: Problem) -> None:
        super().__init__(found.msgid)
        self.problem = found


@dataclass(frozen=True, slots=True)
class Audience:
    """Subscribers, narrowed. Empty tuples mean "no narrowing"."""

    regions: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Image:
    blob_id: str
    content_type: str


@dataclass(slots=True)
class CampaignDraft:
    title: str
    texts: dict[str, str]
    audience: Audience = Audience()
    # Missing language: "refuse" (all three texts required), "skip" (those citizens are
    # skipped and counted), or a language whose text they receive instead.
    fallback: str = "refuse"
    templates: dict[str, str] = field(default_factory=dict)
    # Per language, what fills each numbered placeholder: {"1": "name", "2": "date"}.
    template_variables: dict[str, dict[str, str]] = field(default_factory=dict)
    image: Image | None = None
    at: datetime | None = None  # None = now
    recurring: str | None = None  # crontab rule, Asia/Almaty: "0 10 * * mon"
    created_by: str = "cli"
    # Telegram paid broadcast (allow_paid_broadcast): up to 1,000 messages a second for
    # Stars from the bot's balance; only ever the operator's explicit choice.
    paid_broadcast: bool = False

    def check(self, regions: Mapping[str, Any] | None = None) -> None:
        if not self.title.strip():
            raise CampaignError("the title is empty")
        texts = {k: v.strip() for k, v in self.texts.items() if v and v.strip()}
        unknown = set(texts) - set(LANGUAGES)
        if unknown:
            raise CampaignError(f"unknown language(s): {', '.join(sorted(unknown))}")
        if not texts:
            raise CampaignError("no text in any language")
        if self.fallback not in FALLBACKS:
            raise CampaignError(f"fallback must be one of {', '.join(FALLBACKS)}")
        missing = [lang for lang in LANGUAGES if lang not in texts]
        if missing and self.fallback == "refuse":
            raise CampaignError(
                f"text missing in {', '.join(missing)}: add it or choose a fallback"
                " (skip, or a language to send instead)"
            )
        if self.fallback in LANGUAGES and self.fallback not in texts:
            raise CampaignError(f"the fallback language {self.fallback} has no text")
        channels = self.audience.channels or CHANNELS
        for lang, text in texts.items():
            for channel in channels:
                limit = MAX_CAPTION if self.image and channel == "telegram" else MAX_TEXT[channel]
                if len(text) > limit:
                    raise CampaignError(
                        f"the {lang} text is {len(text)} characters; {channel} allows {limit}"
                    )
        for lang, sid in self.templates.items():
            if lang not in LANGUAGES or not _CONTENT_SID.fullmatch(sid):
                raise CampaignError(f"template {lang}: expected HX followed by 32 hex digits")
        if found := problem(self.templates, self.template_variables):
            raise TemplateVariableError(found)
        if any(c not in CHANNELS for c in self.audience.channels):
            raise CampaignError(f"channels must be among {', '.join(CHANNELS)}")
        if any(lang not in LANGUAGES for lang in self.audience.languages):
            raise CampaignError(f"languages must be among {', '.join(LANGUAGES)}")
        if regions is not None:
            bad = [r for r in self.audience.regions if r not in regions]
            if bad:
                raise CampaignError(f"unknown region code(s): {', '.join(bad)}")
        if self.recurring is not None:
            parse_rule(self.recurring)
        self.texts = texts


@dataclass(slots=True)
class Campaign:
    id: int
    title: str
    texts: dict[str, str]
    audience: Audience
    fallback: str
    templates: dict[str, str]
    image: Image | None
    recurring: str | None
    next_run_at: datetime | None
    status: str
    created_by: str
    created_at: datetime
    template_variables: dict[str, dict[str, str]] = field(default_factory=dict)
    paid_broadcast: bool = False

    def text_language(self, locale: str) -> str | None:
        """Which language's text a citizen speaking `locale` receives; None = skip them."""
        if locale in self.texts:
            return locale
        if self.fallback in self.texts:
            return self.fallback
        return None


def parse_rule(rule: str) -> CronTrigger:
    """A crontab rule ("minute hour day month weekday") evaluated in Asia/Almaty."""
    try:
        return CronTrigger.from_crontab(rule, timezone=ALMATY)
    except ValueError as err:
        raise CampaignError(f"recurring rule {rule!r}: {err}") from None


def next_occurrence(rule: str, after: datetime) -> datetime:
    """The first time the rule fires strictly after `after`, in UTC."""
    fire: datetime | None = parse_rule(rule).get_next_fire_time(None, after + timedelta(seconds=1))
    assert fire is not None
    return fire.astimezone(UTC)


def first_run(draft: CampaignDraft, now: datetime) -> datetime:
    if draft.recurring is not None:
        return next_occurrence(draft.recurring, (draft.at or now) - timedelta(seconds=1))
    return draft.at or now


def parse_local_time(text: str) -> datetime:
    """ "2025-03-01 10:00" (Asia/Almaty) or an ISO time with an offset, as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CampaignError(f"time {text!r}: expected YYYY-MM-DD HH:MM (Asia/Almaty)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ALMATY)
    return value.astimezone(UTC)


def draft_from_mapping(data: Mapping[str, Any], *, created_by: str = "cli") -> CampaignDraft:
    """A draft from the campaign TOML file's table (see docs in bot/campaigns/cli.py)."""
    audience = data.get("audience", {})
    schedule = data.get("schedule", {})
    at = schedule.get("at")
    if isinstance(at, datetime):
        at = at.replace(tzinfo=ALMATY) if at.tzinfo is None else at
        at = at.astimezone(UTC)
    elif isinstance(at, str):
        at = parse_local_time(at)
    templates = {str(k): _template(v) for k, v in data.get("whatsapp_templates", {}).items()}
    return CampaignDraft(
        title=str(data.get("title", "")),
        texts={str(k): str(v) for k, v in data.get("text", {}).items()},
        audience=Audience(
            regions=tuple(audience.get("regions", ())),
            languages=tuple(audience.get("languages", ())),
            channels=tuple(audience.get("channels", ())),
        ),
        fallback=str(data.get("fallback", "refuse")),
        templates={lang: sid for lang, (sid, _) in templates.items()},
        template_variables={lang: names for lang, (_, names) in templates.items() if names},
        at=at,
        recurring=schedule.get("every"),
        created_by=created_by,
    )


def _template(value: Any) -> tuple[str, dict[str, str]]:
    """A `[whatsapp_templates]` entry: "HX…", or {sid = "HX…", variables = {1 = "name"}}."""
    if not isinstance(value, Mapping):
        return str(value), {}
    names = value.get("variables", {})
    if not isinstance(names, Mapping):
        raise CampaignError('template variables: expected a table such as {1 = "name"}')
    return str(value.get("sid", "")), {str(k): str(v) for k, v in names.items()}
