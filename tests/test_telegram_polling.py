"""EmptyPollBackoff: when to wait before the next getUpdates (bot/channels/telegram/polling.py)."""

from __future__ import annotations

from bot.channels.telegram.polling import EmptyPollBackoff


def test_empty_answers_at_once_wait_longer_each_time_up_to_the_cap() -> None:
    backoff = EmptyPollBackoff(25, first=0.25, cap=5.0)
    waits = [backoff.after(elapsed=0.01, updates=0) for _ in range(8)]
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_updates_or_a_held_poll_reset_the_wait() -> None:
    backoff = EmptyPollBackoff(25, first=0.25, cap=5.0)
    for _ in range(5):
        backoff.after(elapsed=0.0, updates=0)
    assert backoff.after(elapsed=0.0, updates=3) == 0.0  # updates: poll again at once
    assert backoff.after(elapsed=0.0, updates=0) == 0.25
    assert backoff.after(elapsed=25.0, updates=0) == 0.0  # the server held it: all is well
    assert backoff.after(elapsed=12.5, updates=0) == 0.0
    assert backoff.after(elapsed=1.0, updates=0) == 0.25
