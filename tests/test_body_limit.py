"""Oversized request bodies get 413 before any form parser reads them."""

from __future__ import annotations

from tests.staff import console


async def test_oversized_bodies_are_refused_before_parsing(settings, clock) -> None:
    async with console(settings, clock) as c:
        web = c.client()
        big_login = {"username": "x", "password": "y" * 100_000, "csrf_token": "z"}
        assert (await web.post("/staff/login", data=big_login)).status_code == 413
        webhook = await web.post(
            "/webhooks/telegram",
            content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
            headers={"content-type": "application/json"},
        )
        assert webhook.status_code == 413
        # A normal sign-in form still gets through to the application.
        assert (await web.post("/staff/login", data={"username": "x"})).status_code != 413


async def test_a_body_without_a_declared_length_is_counted(settings, clock) -> None:
    async with console(settings, clock) as c:
        web = c.client()

        async def chunks():  # streamed: no Content-Length header
            for _ in range(40):
                yield b"a" * 32_768

        form = {"content-type": "application/x-www-form-urlencoded"}
        response = await web.post("/staff/language", content=chunks(), headers=form)
        assert response.status_code == 413
