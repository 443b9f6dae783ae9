"""WhatsApp's 24-hour window, defined once: free-form messages reach a citizen only within
24 hours of their last message; outside it only an approved template may go.

Twilio measures from the last message as Twilio saw it, so we keep a small margin on both
sides: a message is not sent free-form as the window shuts, and a held message is released
as soon as the window may have been shut before the citizen's new message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)
MARGIN = timedelta(minutes=2)


def in_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form message may go now."""
    return last_inbound_at is not None and now - last_inbound_at < WINDOW - MARGIN


def reopened(last_inbound_at: datetime | None, received_at: datetime) -> bool:
    """Whether a message received at `received_at` reopened a window that was (or may
    have been, within the margin) shut: then the messages held for the citizen go."""
    return last_inbound_at is not None and not in_window(last_inbound_at, received_at + MARGIN)
