"""The variables of a campaign's approved WhatsApp templates, checked and filled.

Twilio numbers a template's placeholders ({{1}}, {{2}}…); a campaign says, per language,
which of the facts govbot knows about a recipient goes into each: {"1": "name", "2":
"region", "3": "date"}. A template that declares a placeholder the campaign leaves empty,
or asks for a fact govbot does not have, is refused before anything is sent: Twilio would
refuse every message, or the citizen would read a bare "{{2}}". Pure rules; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, runtime_checkable

from bot.i18n import Translator

VARIABLES = ("name", "region", "date")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a campaign's templates cannot be filled: a "campaign" msgid and its parameters
    (`language` is a language code; the console shows its name)."""

    msgid: str
    params: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class TemplateLookup(Protocol):
    """Asks the platform which placeholders an approved template declares (the WhatsApp
    sender, through Twilio's Content API); None when it cannot say."""

    async def template_variables(self, sid: str) -> frozenset[str] | None: ...


def placeholders(numbers: set[str] | frozenset[str]) -> str:
    """ "{{1}}, {{3}}": Twilio's own notation, in numeric order."""
    return ", ".join(f"{{{{{n}}}}}" for n in sorted(numbers, key=lambda n: (len(n), n)))


def problem(
    templates: Mapping[str, str],
    variables: Mapping[str, Mapping[str, str]],
    declared: Mapping[str, frozenset[str]] | None = None,
) -> Problem | None:
    """The first reason the templates' variables cannot be filled, or None.

    `variables`: per language, placeholder number → one of VARIABLES. `declared`: per
    ContentSid, the placeholders the template declares, where the platform told us."""
    for lang, mapping in variables.items():
        if mapping and lang not in templates:
            return Problem("campaign.error.variables_without_template", {"language": lang})
        for number, name in mapping.items():
            if _number(number) is None:
                return Problem(
                    "campaign.error.variable_number", {"language": lang, "number": number}
                )
            if name not in VARIABLES:
                return Problem(
                    "campaign.error.variable_unknown",
                    {
                        "language": lang,
                        "placeholder": placeholders({number}),
                        "variable": name,
                        "known": ", ".join(VARIABLES),
                    },
                )
    for lang, sid in templates.items():
        needs = (declared or {}).get(sid)
        if needs is None:
            continue
        given = set(variables.get(lang, {}))
        if unfilled := needs - given:
            return Problem(
                "campaign.error.template_unfilled",
                {"language": lang, "placeholders": placeholders(unfilled)},
            )
        if extra := given - needs:
            return Problem(
                "campaign.error.template_extra",
                {"language": lang, "placeholders": placeholders(extra)},
            )
    return None


def fill(
    mapping: Mapping[str, str],
    t: Translator,
    *,
    name: str | None,
    region: str | None,
    today: date,
) -> dict[str, str]:
    """ContentVariables for one recipient, in the template's language `t`: their name where
    it is known, their region's name, today's date as that language writes it."""
    facts = {
        "name": name or t("campaign.template.citizen"),
        "region": region or t("campaign.template.kazakhstan"),
        "date": t.date(today),
    }
    return {number: facts[variable] for number, variable in mapping.items()}


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) < 100 else None
