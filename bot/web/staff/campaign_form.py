"""The compose form for a campaign: what the operator typed, checked into a `CampaignDraft`.

Every refusal is a `FormError` carrying a "campaign" catalog msgid, so the operator reads
why in the console's language; `CampaignDraft.check()` still runs last as the one rule
book shared with `govbot campaign create`. The uploaded image travels between re-renders
as a token signed with SECRET_KEY, so a form can never name somebody else's file.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData

from bot.campaigns.model import (
    CHANNELS,
    FALLBACKS,
    MAX_CAPTION,
    MAX_TEXT,
    Audience,
    Campaign,
    CampaignDraft,
    CampaignError,
    Image,
    parse_local_time,
)
from bot.campaigns.variables import VARIABLES, Problem, problem
from bot.domain import LANGUAGES
from bot.i18n import LANGUAGE_NAMES
from bot.whatsapp_ids import is_chat_key

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WHEN = ("now", "at", "weekly")
IMAGE_TYPES = ("image/jpeg", "image/png")
_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_WEEKLY = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* ([a-z,]+)$")
_TELEGRAM_CHAT = re.compile(r"^-?\d{1,20}$")
PLACEHOLDERS = ("1", "2", "3")  # a select each per language: one per fact a campaign has


class FormError(Exception):
    """A refusal the operator reads: a "campaign" msgid and its parameters."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params

    @classmethod
    def of(cls, found: Problem) -> FormError:
        """A template-variable refusal, its language named as the console names it."""
        params = dict(found.params)
        params["language"] = LANGUAGE_NAMES.get(params.get("language", ""), "")
        return cls(found.msgid, **params)


# ---- the signed image token ----------------------------------------------------------------


def _mac(secret: str, blob_id: str, content_type: str) -> str:
    message = f"campaign-image:{blob_id}:{content_type}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def image_token(secret: str, image: Image) -> str:
    return f"{image.blob_id}|{image.content_type}|{_mac(secret, image.blob_id, image.content_type)}"


def image_from_token(secret: str, token: str) -> Image | None:
    """The image a token names, if the token was made here; None otherwise."""
    parts = token.split("|")
    if len(parts) != 3 or parts[1] not in IMAGE_TYPES:
        return None
    blob_id, content_type, mac = parts
    # Bytes: compare_digest raises TypeError on a str with any non-ASCII character.
    if not hmac.compare_digest(
        mac.encode("utf-8", "surrogatepass"), _mac(secret, blob_id, content_type).encode()
    ):
        return None
    return Image(blob_id, content_type)


# ---- the form ------------------------------------------------------------------------------


def _text(form: FormData, name: str, limit: int = 5000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _choices(form: FormData, name: str, allowed: tuple[str, ...] | set[str]) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v in allowed]


@dataclass
class ComposeForm:
    title: str = ""
    texts: dict[str, str] = field(default_factory=dict)
    fallback: str = "refuse"
    templates: dict[str, str] = field(default_factory=dict)
    template_variables: dict[str, dict[str, str]] = field(default_factory=dict)
    regions: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    when: str = "now"
    at: str = ""  # "YYYY-MM-DDTHH:MM", Asia/Almaty (what <input type=datetime-local> sends)
    days: list[str] = field(default_factory=list)
    time: str = "10:00"
    image: Image | None = None
    test_channel: str = "telegram"
    test_chat: str = ""
    test_lang: str = "ru"
    paid_broadcast: bool = False  # Telegram's allow_paid_broadcast: only when ticked

    @classmethod
    def parse(cls, form: FormData, *, regions: set[str], secret: str) -> ComposeForm:
        fallback = _text(form, "fallback")
        when = _text(form, "when")
        token = _text(form, "image_token", 200)
        test_channel = _text(form, "test_channel")
        test_lang = _text(form, "test_lang")
        return cls(
            title=_text(form, "title", 200),
            texts={lang: _text(form, f"text_{lang}") for lang in LANGUAGES},
            fallback=fallback if fallback in FALLBACKS else "refuse",
            templates={lang: _text(form, f"template_{lang}", 100) for lang in LANGUAGES},
            template_variables=_variables(form),
            regions=_choices(form, "region", regions),
            languages=_choices(form, "language", LANGUAGES),
            channels=_choices(form, "channel", CHANNELS),
            when=when if when in WHEN else "now",
            at=_text(form, "at", 40),
            days=_choices(form, "day", WEEKDAYS),
            time=_text(form, "time", 10) or "10:00",
            image=None if form.get("remove_image") else image_from_token(secret, token),
            test_channel=test_channel if test_channel in CHANNELS else "telegram",
            test_chat=_text(form, "test_chat", 140),
            test_lang=test_lang if test_lang in LANGUAGES else "ru",
            paid_broadcast=form.get("paid_broadcast") == "1",
        )

    @property
    def audience(self) -> Audience:
        return Audience(tuple(self.regions), tuple(self.languages), tuple(self.channels))

    @property
    def written(self) -> dict[str, str]:
        return {lang: text for lang, text in self.texts.items() if text}

    def rule(self) -> str:
        """The weekly rule as crontab, in Asia/Almaty: "0 10 * * mon,thu"."""
        found = _TIME.match(self.time)
        if not found:
            raise FormError("campaign.console.error.time")
        if not self.days:
            raise FormError("campaign.console.error.days")
        days = ",".join(d for d in WEEKDAYS if d in self.days)
        return f"{int(found.group(2))} {int(found.group(1))} * * {days}"

    def start_at(self, now: datetime) -> datetime | None:
        if self.when == "now" or (self.when == "weekly" and not self.at):
            return None
        if not self.at:
            raise FormError("campaign.console.error.time")
        try:
            at = parse_local_time(self.at)
        except CampaignError:
            raise FormError("campaign.console.error.time") from None
        if self.when == "at" and at <= now:
            raise FormError("campaign.console.error.past")
        return at

    def draft(self, *, created_by: str, now: datetime, regions: set[str]) -> CampaignDraft:
        """The checked draft, or FormError saying what to fix."""
        texts = self.written
        if not self.title:
            raise FormError("campaign.console.error.title")
        if not texts:
            raise FormError("campaign.console.error.no_text")
        missing = [lang for lang in LANGUAGES if lang not in texts]
        if missing and self.fallback == "refuse":
            raise FormError("campaign.console.error.missing")
        if self.fallback in LANGUAGES and self.fallback not in texts:
            raise FormError("campaign.console.error.fallback_empty")
        for lang, text in texts.items():
            for channel in self.channels or CHANNELS:
                limit = MAX_CAPTION if self.image and channel == "telegram" else MAX_TEXT[channel]
                if len(text) > limit:
                    raise FormError(
                        "campaign.console.error.too_long",
                        language=LANGUAGE_NAMES[lang],
                        length=len(text),
                        limit=limit,
                    )
        templates = {lang: sid for lang, sid in self.templates.items() if sid}
        for lang, sid in templates.items():
            if not _SID.fullmatch(sid):
                raise FormError("campaign.console.error.template", language=LANGUAGE_NAMES[lang])
        if found := problem(templates, self.template_variables):
            raise FormError.of(found)
        at = self.start_at(now)
        draft = CampaignDraft(
            title=self.title,
            texts=texts,
            audience=self.audience,
            fallback=self.fallback,
            templates=templates,
            template_variables=self.template_variables,
            image=self.image,
            at=at,
            recurring=self.rule() if self.when == "weekly" else None,
            created_by=created_by,
            paid_broadcast=self.paid_broadcast,
        )
        try:
            draft.check(dict.fromkeys(regions))
        except CampaignError as err:  # a rule this form does not know yet
            raise FormError("campaign.console.error.invalid", detail=str(err)) from None
        return draft

    def preview_campaign(self, *, created_by: str, now: datetime) -> Campaign:
        """The campaign as it would be sent, unchecked: for previews and test sends."""
        return Campaign(
            id=0,
            title=self.title,
            texts=self.written,
            audience=self.audience,
            fallback=self.fallback,
            templates={lang: sid for lang, sid in self.templates.items() if sid},
            image=self.image,
            recurring=None,
            next_run_at=None,
            status="draft",
            created_by=created_by,
            created_at=now,
            template_variables=self.template_variables,
            paid_broadcast=self.paid_broadcast,
        )

    def check_test_chat(self) -> str:
        chat = self.test_chat.replace(" ", "")
        if self.test_channel == "telegram":
            valid = _TELEGRAM_CHAT.fullmatch(chat) is not None
        else:  # a number or, for a user who hides it, a BSUID
            valid = is_chat_key(chat)
        if not valid:
            raise FormError(f"campaign.console.error.chat_{self.test_channel}")
        return chat


def _variables(form: FormData) -> dict[str, dict[str, str]]:
    """What the operator chose for each placeholder, per language; "not used" left out."""
    chosen = {
        lang: {n: _text(form, f"variable_{lang}_{n}", 20) for n in PLACEHOLDERS}
        for lang in LANGUAGES
    }
    found = {lang: {n: v for n, v in by.items() if v in VARIABLES} for lang, by in chosen.items()}
    return {lang: by for lang, by in found.items() if by}


def weekly_parts(rule: str | None) -> tuple[list[str], str] | None:
    """A weekly crontab rule as (days, "HH:MM"), or None for any other rule."""
    found = _WEEKLY.match(rule or "")
    if not found:
        return None
    days = found.group(3).split(",")
    if not all(d in WEEKDAYS for d in days):
        return None
    return days, f"{int(found.group(2)):02d}:{int(found.group(1)):02d}"
