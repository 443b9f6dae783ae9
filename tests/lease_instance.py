"""One instance's leader machinery as a process of its own, for tests that kill or pause
it: `python -m tests.lease_instance` with DATABASE_URL, LEASE_SECONDS and
LEASE_RENEW_SECONDS set. It contends for the leader lease with the real runtime and
prints `tick <holder> <unix time>` from a leader-only job every 20 ms, `lost <holder>`
when it finds it no longer leads, and `ready <holder>` once it contends."""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from bot.config import load_settings
from bot.runtime import open_runtime


def say(*words: object) -> None:
    print(*words, flush=True)


class Lost(logging.Handler):
    def __init__(self, holder: str) -> None:
        super().__init__()
        self.holder = holder

    def emit(self, record: logging.LogRecord) -> None:
        if "lost" in record.getMessage():
            say("lost", self.holder)


async def main() -> None:
    runtime = await open_runtime(load_settings(env_file=None))
    holder = runtime.leases.holder
    logger = logging.getLogger("bot.leases")
    logger.setLevel(logging.INFO)
    logger.addHandler(Lost(holder))

    async def tick() -> None:
        say("tick", holder, f"{time.time():.6f}")

    await runtime.leases.lead()
    runtime.jobs.every(0.02, tick, name="tick", leader=True, now=True)
    say("ready", holder)
    await asyncio.Event().wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
