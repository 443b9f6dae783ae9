"""Canned replies: what a template may say, and filling it for one ticket.

A template is the staff member's own text in kk, ru and en with three placeholders. It is
filled by plain substitution, never `str.format`, so braces or attribute lookups typed by
an admin cannot reach anything but these three values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.domain import LANGUAGES
from bot.i18n import Translator
from bot.staff.actions import MAX_TEXT, ActionError
from bot.storage.records import Ticket

PLACEHOLDERS = ("reference", "deadline", "name")
TITLE_MAX = 120
_BRACED = re.compile(r"\{([^{}]*)\}")


def check(title: str, texts: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The title and texts trimmed; ActionError (staff catalog msgid) if one is missing,
    too long, or names a placeholder other than PLACEHOLDERS."""
    title = title.strip()
    cleaned = {lang: texts.get(lang, "").strip() for lang in LANGUAGES}
    if not title or len(title) > TITLE_MAX:
        raise ActionError("staff.templates.bad_title")
    if not all(cleaned.values()):
        raise ActionError("staff.templates.every_language")
    if any(len(text) > MAX_TEXT for text in cleaned.values()):
        raise ActionError("staff.ticket.too_long")
    for text in cleaned.values():
        if any(name not in PLACEHOLDERS for name in _BRACED.findall(text)):
            raise ActionError("staff.templates.bad_placeholder")
    return title, cleaned


def fill(text: str, ticket: Ticket, t: Translator) -> str:
    """`text` with {reference}, {deadline} and {name} of `ticket`, in `t`'s language."""
    values = {
        "reference": ticket.reference,
        "deadline": t.date(ticket.due_on) if ticket.due_on else t("staff.templates.no_deadline"),
        "name": str(ticket.details.get("applicant_name") or t("staff.templates.citizen")),
    }
    return _BRACED.sub(lambda m: values.get(m.group(1), m.group(0)), text)
