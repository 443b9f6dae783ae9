"""The app served by uvicorn on 127.0.0.1 for a test, started and stopped on events.

uvicorn's own loop looks for the exit flag every 0.1 s and its shutdown sleeps 0.1 s
before it waits for connections: 0.2 s at the end of every test that serves the app, more
than most of those tests take. `PromptServer` is the same server (same protocol classes,
same lifespan), except that it stops the moment it is told and then waits only for what is
still open.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

STOP_TIMEOUT = 10.0  # open connections and tasks get this long, then the test fails


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PromptServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()
        self._stop = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.up.set()

    def stop(self) -> None:
        self.should_exit = True
        self._stop.set()

    async def main_loop(self) -> None:
        await self.on_tick(0)  # the Date and Server headers, as uvicorn's loop sets them
        await self._stop.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive ones close now, busy ones after answering
        async with asyncio.timeout(STOP_TIMEOUT):
            while self.server_state.connections or self.server_state.tasks:
                await asyncio.sleep(0.002)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[PromptServer]:
    """`app` served on 127.0.0.1:`port`, its lifespan included, until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = PromptServer(config)
    task = asyncio.create_task(server.serve())
    up = asyncio.create_task(server.up.wait())
    try:
        async with asyncio.timeout(10):
            await asyncio.wait({task, up}, return_when=asyncio.FIRST_COMPLETED)
        if not server.up.is_set():
            task.result()
            raise RuntimeError("the app stopped during start-up")
        yield server
    finally:
        up.cancel()
        server.stop()
        await task
