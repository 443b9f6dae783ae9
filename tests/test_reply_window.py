"""WhatsApp's 24-hour window, one definition for the sender, the campaigns and the
release of held messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.reply_window import MARGIN, WINDOW, in_window, reopened

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "free_form"),
    [
        (None, False),
        (timedelta(0), True),
        (WINDOW - MARGIN - timedelta(seconds=1), True),
        (WINDOW - MARGIN, False),
        (WINDOW, False),
    ],
)
def test_free_form_only_inside_the_window_less_the_margin(
    ago: timedelta | None, free_form: bool
) -> None:
    last = None if ago is None else NOW - ago
    assert in_window(last, NOW) is free_form


@pytest.mark.parametrize(
    ("ago", "released"),
    [
        (None, False),
        (timedelta(hours=1), False),
        (WINDOW - 2 * MARGIN - timedelta(seconds=1), False),
        (WINDOW - 2 * MARGIN, True),  # may have been shut for the sender: release early
        (WINDOW * 3, True),
    ],
)
def test_held_messages_go_once_the_window_may_have_been_shut(
    ago: timedelta | None, released: bool
) -> None:
    last = None if ago is None else NOW - ago
    assert reopened(last, NOW) is released
