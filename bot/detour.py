"""A question the dispatcher asks over a step in progress, the draft kept meanwhile.

Two things must not cost a citizen what they typed: coming back after a long silence (or
sending /start mid-way), which asks "continue or start over?", and changing the language,
which asks for the language and then the same question again in it. Either way the flow's
step and data stay as they were; the detour is one more key in the session ("p").
A message that arrived after the silence is kept (`pending`) and, on "continue", is taken
as the answer to the step it found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bot.domain import Attachment, AttachmentKind, Inbound, Location

RESUME = "resume"  # "You have an unfinished complaint: continue / start over"
LANGUAGE = "language"  # the language choice, then the step again in the new language

CONTINUE = "draft:continue"
START_OVER = "draft:start_over"


@dataclass(frozen=True, slots=True)
class Detour:
    """Why the step is set aside, and the message that arrived after a silence, if any."""

    why: str
    pending: dict[str, Any] | None = None

    def dump(self) -> dict[str, Any]:
        return {"why": self.why, "pending": self.pending}

    @classmethod
    def load(cls, stored: object) -> Detour | None:
        if not isinstance(stored, dict) or stored.get("why") not in (RESUME, LANGUAGE):
            return None
        pending = stored.get("pending")
        return cls(stored["why"], pending if isinstance(pending, dict) else None)


def keep(msg: Inbound) -> dict[str, Any] | None:
    """What of a message is kept to be answered later; None if it carries nothing."""
    if msg.unsupported or not (msg.text.strip() or msg.payload or msg.attachments or msg.location):
        return None
    return {
        "text": msg.text,
        "payload": msg.payload,
        "attachments": [asdict(a) for a in msg.attachments],
        "location": asdict(msg.location) if msg.location is not None else None,
    }


def replay(kept: dict[str, Any], msg: Inbound) -> Inbound:
    """The kept message again, as from the chat `msg` came from."""
    attachments = tuple(
        Attachment(**{**a, "kind": AttachmentKind(a["kind"])}) for a in kept["attachments"]
    )
    location = Location(**kept["location"]) if kept.get("location") else None
    return Inbound(
        channel=msg.channel,
        chat_key=msg.chat_key,
        text=kept["text"],
        payload=kept["payload"],
        attachments=attachments,
        location=location,
        locale_hint=msg.locale_hint,
        received_at=msg.received_at,
    )


def has_draft(data: dict[str, Any]) -> bool:
    """Whether a flow's data holds anything the citizen gave (not just bookkeeping)."""
    return any(value not in (None, False, "", [], {}) for value in data.values())
