"""Opening sealed tips in tests, as the holder of the recovery key would (the runtime
fixture's database is new, so its start made the recovery key and kept it for us)."""

from __future__ import annotations

from typing import Any

from bot import sealed_tips, sealing
from bot.runtime import Runtime
from bot.sealed_tips import TipKeys
from bot.storage.records import Ticket
from bot.storage.tips import RECOVERY


def recovery_private(runtime: Runtime) -> bytes:
    assert runtime.new_recovery_key is not None
    return sealing.recovery_private(runtime.new_recovery_key)


async def tip_keys(runtime: Runtime, ticket: Ticket) -> TipKeys:
    async with runtime.storage.read() as tx:
        return await sealed_tips.keys_for(tx.tips, ticket, RECOVERY, recovery_private(runtime))


async def contents(runtime: Runtime, ticket: Ticket) -> dict[str, Any]:
    keys = await tip_keys(runtime, ticket)
    async with runtime.storage.read() as tx:
        return await sealed_tips.contents(tx.tips, ticket, keys)


async def identity(runtime: Runtime, ticket: Ticket) -> dict[str, Any] | None:
    keys = await tip_keys(runtime, ticket)
    async with runtime.storage.read() as tx:
        return await sealed_tips.identity(tx.tips, ticket, keys)


async def thread(runtime: Runtime, ticket: Ticket) -> list[sealed_tips.Message]:
    keys = await tip_keys(runtime, ticket)
    async with runtime.storage.read() as tx:
        return await sealed_tips.messages(tx.tips, ticket, keys, include_internal=True)
