"""A question the dispatcher asks over a step in progress, the draft kept meanwhile.

Two things must not cost a citizen what they typed: coming back after a long silence (or
sending /start mid-way), which asks "continue or start over?", and changing the language,
which asks for the language and then the same question again in it. Either way the flow's
step and data stay as they were; the detour is one more key in the session ("p").
What arrived after the silence is kept (`pending`: a long text comes from Telegram in
several messages) and, on "continue", answers the step it found, in the order it came.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bot.domain import Attachment, AttachmentKind, Inbound, Location
from bot.flow import BUTTONS, FILES, LOCATION, SUBMITTED, TEXT

RESUME = "resume"  # "You have an unfinished complaint: continue / start over"
LANGUAGE = "language"  # the language choice, then the step again in the new language

# What "continue or start over?" takes: its buttons, and more of what was being sent.
KEEPS = frozenset({BUTTONS, TEXT, FILES, LOCATION})

CONTINUE = "draft:continue"
START_OVER = "draft:start_over"


@dataclass(frozen=True, slots=True)
class Detour:
    """Why the step is set aside, and the messages that arrived after a silence."""

    why: str
    pending: tuple[dict[str, Any], ...] = ()

    def dump(self) -> dict[str, Any]:
        return {"why": self.why, "pending": list(self.pending)}

    @classmethod
    def load(cls, stored: object) -> Detour | None:
        if not isinstance(stored, dict) or stored.get("why") not in (RESUME, LANGUAGE):
            return None
        pending = stored.get("pending")
        kept = tuple(p for p in pending if isinstance(p, dict)) if isinstance(pending, list) else ()
        return cls(stored["why"], kept)

    def keeping(self, msg: Inbound) -> Detour:
        """This detour, with `msg` kept too if it carries anything to answer with."""
        if msg.unsupported or not (
            msg.text.strip() or msg.payload or msg.attachments or msg.location
        ):
            return self
        kept = {
            "text": msg.text,
            "payload": msg.payload,
            "attachments": [asdict(a) for a in msg.attachments],
            "location": asdict(msg.location) if msg.location is not None else None,
        }
        return Detour(self.why, (*self.pending, kept))


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
    """Whether a flow's data holds anything the citizen gave (not just bookkeeping) that
    has not been filed yet."""
    return not data.get(SUBMITTED) and any(
        value not in (None, False, "", [], {}) for value in data.values()
    )
