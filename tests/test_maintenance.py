"""The clean-up job: a corruption report's conversation goes as soon as it is idle."""

from __future__ import annotations

from bot.maintenance import purge
from bot.runtime import Runtime
from tests.conftest import Clock, start_in


async def _sessions(runtime: Runtime) -> dict[int, str]:
    async with runtime.storage.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT citizen_id, flow FROM sessions")
    return {row[0]: row[1] for row in rows}


async def test_idle_tip_drafts_go_at_once_other_conversations_after_a_day(
    runtime: Runtime, new_chat, clock: Clock
) -> None:
    tipster = new_chat("tipster", lang="en")
    await start_in(tipster, "en")
    await tipster.press_payload("flow:tip")
    await tipster.press_payload("tip:anon")
    await tipster.send("An official asked me for money to register my land plot.")
    complainant = new_chat("complainant", lang="en")
    await start_in(complainant, "en")
    await complainant.press_payload("flow:complaint")
    assert sorted((await _sessions(runtime)).values()) == ["complaint", "tip"]

    clock.advance(minutes=runtime.settings.session_idle_minutes - 1)
    assert (await purge(runtime.storage, runtime.settings, clock()))["tip_sessions"] == 0

    clock.advance(minutes=2)
    await purge(runtime.storage, runtime.settings, clock())
    assert list((await _sessions(runtime)).values()) == ["complaint"]

    clock.advance(days=1)
    await purge(runtime.storage, runtime.settings, clock())
    assert await _sessions(runtime) == {}


async def test_dead_letters_are_kept_thirty_days(runtime: Runtime, clock: Clock) -> None:
    # Nothing deleted them: every unparsable update kept its (sealed) body for ever.
    async with runtime.storage.transaction() as tx:
        await tx.dead_letters.add("telegram", "MalformedUpdate", b'{"x": 1}', now=clock())
    clock.advance(days=29)
    assert (await purge(runtime.storage, runtime.settings, clock()))["dead_letters"] == 0
    clock.advance(days=2)
    assert (await purge(runtime.storage, runtime.settings, clock()))["dead_letters"] == 1
