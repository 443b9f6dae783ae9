"""EmptyPollBackoff: when to wait before the next getUpdates (bot/channels/telegram/polling.py)."""

from __future__ import annotations

import pytest

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


async def test_a_batch_that_could_not_be_stored_is_fetched_again_and_polling_goes_on() -> None:
    # A full disk made the inbox insert fail: the poller died after one getUpdates, and the
    # next offset would have confirmed the batch it never stored.
    import asyncio

    from bot.channels.telegram.polling import Poller

    batch = [{"update_id": 7, "message": {}}, {"update_id": 8, "message": {}}]
    offsets: list[int] = []
    taken: list[list[object]] = []

    async def api(method: str, params: dict[str, object], **_: object) -> object:
        offsets.append(int(params["offset"]))  # type: ignore[call-overload]
        if len(offsets) == 4:
            raise asyncio.CancelledError
        return batch if len(offsets) < 3 else []

    async def take(updates: list[object]) -> None:
        taken.append(updates)
        if len(taken) == 1:
            raise OSError("database or disk is full")

    async def no_room_wait() -> None:
        return None

    async def no_sleep(_: float) -> None:
        return None

    poller = Poller(api, take, wait_for_room=no_room_wait, sleep=no_sleep)  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError):
        await poller.run()
    assert offsets == [0, 0, 9, 9]  # not confirmed until stored
    assert taken[:2] == [batch, batch]
