"""Whose address goes into the audit log: X-Forwarded-For only from TRUSTED_PROXIES.

Regression test for the hardening issue: an audit entry recorded `6.6.6.6`, taken from a
header anyone can send, because uvicorn believes X-Forwarded-For from any 127.0.0.1 peer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from ipaddress import ip_network

import httpx
import pytest
import uvicorn

from bot.app import create_app
from bot.cli import server_config
from bot.config import Settings, load_settings
from bot.web.proxies import client_address
from tests.staff import console, csrf_of

CLOUD = (ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("127.0.0.1", ["6.6.6.6"], (), "127.0.0.1"),  # nobody trusted: the peer
        ("203.0.113.5", ["6.6.6.6"], CLOUD, "203.0.113.5"),  # untrusted peer
        ("127.0.0.1", ["6.6.6.6"], CLOUD, "6.6.6.6"),
        ("127.0.0.1", [], CLOUD, "127.0.0.1"),  # trusted peer, no header
        # The client may put anything in front; the proxies append what they saw.
        ("127.0.0.1", ["1.1.1.1, 6.6.6.6, 10.0.0.2"], CLOUD, "6.6.6.6"),
        ("127.0.0.1", ["1.1.1.1", "6.6.6.6 , 10.0.0.2"], CLOUD, "6.6.6.6"),
        ("127.0.0.1", ["10.0.0.3, 10.0.0.2"], CLOUD, "10.0.0.3"),  # all ours
        ("127.0.0.1", ["6.6.6.6, junk"], CLOUD, "127.0.0.1"),  # a bad entry: stop there
        ("127.0.0.1", ["[2001:db8::1]:443"], CLOUD, "127.0.0.1"),
        ("127.0.0.1", ["2001:db8::1"], CLOUD, "2001:db8::1"),
        (None, ["6.6.6.6"], CLOUD, None),
    ],
)
def test_client_address(peer, forwarded, trusted, expected):
    assert client_address(peer, forwarded, trusted) == expected


async def _failed_sign_in_ip(web: httpx.AsyncClient, runtime_of) -> str | None:
    page = await web.get("/staff/login")
    await web.post(
        "/staff/login",
        data={"username": "nobody", "password": "x", "csrf_token": csrf_of(page.text)},
        headers={"x-forwarded-for": "6.6.6.6"},
    )
    async with runtime_of().storage.read() as tx:
        rows = await tx.conn.execute_fetchall(
            "SELECT ip FROM audit_log WHERE action = 'login.failed'"
        )
    return rows[-1][0]


@pytest.mark.parametrize(
    ("trusted", "recorded"), [((), "127.0.0.1"), ((ip_network("127.0.0.1/32"),), "6.6.6.6")]
)
async def test_in_process_app_believes_only_trusted_proxies(settings, clock, trusted, recorded):
    async with console(replace(settings, trusted_proxies=trusted), clock) as c:
        web = c.client(ip="127.0.0.1")
        assert await _failed_sign_in_ip(web, lambda: c.runtime) == recorded


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[str, object]]:
    """The app behind a real uvicorn, configured as `govbot run` configures it."""
    app = create_app(settings, announce=lambda line: None)
    server = uvicorn.Server(server_config(app, settings))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections wait in the backlog until uvicorn has started
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        await serving
        sock.close()


@pytest.mark.parametrize(("trusted", "recorded"), [("", "127.0.0.1"), ("127.0.0.1", "6.6.6.6")])
async def test_uvicorn_does_not_rewrite_the_client_from_headers(settings, trusted, recorded):
    proxies = load_settings({"TRUSTED_PROXIES": trusted}, env_file=None).trusted_proxies
    settings = replace(settings, trusted_proxies=proxies)
    async with served(settings) as (url, app), httpx.AsyncClient(base_url=url) as web:
        assert await _failed_sign_in_ip(web, lambda: app.state.runtime) == recorded


def test_uvicorn_is_told_not_to_believe_proxy_headers(settings):
    config = server_config(create_app(settings, announce=lambda line: None), settings)
    assert config.proxy_headers is False
