"""Helpers for staff console tests: the real app in-process, accounts, seeded tickets.

async with console(settings, clock) as c:
    await c.add_user("rita", "reviewer")
    web = await c.login("rita")
    page = await web.get("/staff/inbox")
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from starlette.applications import Starlette

from bot import sealed_tips
from bot.app import create_app
from bot.config import Settings
from bot.domain import Channel
from bot.keys_cli import init_recovery_key
from bot.runtime import Runtime
from bot.staff.accounts import add_account
from bot.storage.records import RatingRecord, Ticket, TicketDraft
from tests.fakes.memory_sender import MemorySender

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="(csrf[a-z_]*)" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(2)


@dataclass
class Console:
    app: Starlette
    clock: Any
    sender: MemorySender

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def client(
        self, lang: str = "en", base_url: str = "http://testserver", ip: str = "10.1.2.3"
    ) -> httpx.AsyncClient:
        web = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(ip, 5555)),
            base_url=base_url,
        )
        web.cookies.set("govbot_lang", lang)
        return web

    async def add_user(self, name: str, role: str, *, locale: str = "en") -> int:
        """An account as `govbot staff add` makes one: an investigator's key is endorsed."""
        async with self.runtime.storage.transaction() as tx:
            user = await add_account(
                tx.for_staff, name, role, PASSWORD, locale=locale, now=self.clock(), endorsed=True
            )
        return user.id

    async def login(self, name: str, password: str = PASSWORD) -> httpx.AsyncClient:
        web = self.client()
        response = await sign_in(web, name, password)
        assert response.status_code == 303, response.text
        return web

    async def citizen(self, chat_key: str, locale: str, channel: Channel = Channel.CONSOLE) -> int:
        async with self.runtime.storage.transaction() as tx:
            citizen, _ = await tx.citizens.get_or_create(channel, chat_key, now=self.clock())
            citizen.locale = locale
            await tx.citizens.save(citizen)
        return citizen.id

    async def complaint(
        self,
        reference: str,
        *,
        locale: str = "kk",
        chat_key: str = "citizen-1",
        summary: str = "Қызмет көрсету орталығында кезек өте ұзақ",
        category: str | None = None,
        region: str | None = None,
        due_on: date | None = date(2026, 4, 6),
        kind: str = "complaint",
    ) -> Ticket:
        citizen_id = await self.citizen(chat_key, locale)
        async with self.runtime.storage.transaction() as tx:
            return await tx.tickets.add(
                TicketDraft(
                    kind=kind,
                    locale=locale,
                    citizen_id=citizen_id,
                    channel="console",
                    category=category,
                    region=region,
                    summary=summary,
                    due_on=due_on,
                ),
                reference=reference,
                now=self.clock(),
            )

    async def tip(
        self,
        reference: str,
        *,
        confidential: bool = False,
        chat_key: str = "tipster",
        receipt: str | None = None,
        files: tuple[tuple[str, str, bytes], ...] = (),
    ) -> Ticket:
        """A tip sealed as the bot seals one: for the recovery key and every investigator
        who has keys now."""
        identity = (
            {"channel": "console", "chat_key": chat_key, "contact": "+77010000000"}
            if confidential
            else None
        )
        async with self.runtime.storage.transaction() as tx:
            if confidential:
                await tx.citizens.get_or_create(Channel.CONSOLE, chat_key, now=self.clock())
            sealed = await sealed_tips.seal_tip(
                reference=reference,
                contents={"what": "Взятка за справку", "amount": "50000", "region": None},
                identity=identity,
                files=files,
                recipients=await tx.tips.recipients(),
                receipt=receipt,
            )
            return await tx.tips.add(
                sealed,
                privacy="confidential" if confidential else "anonymous",
                locale="ru",
                due_on=date(2026, 4, 6),
                reference=reference,
                now=self.clock(),
            )

    async def rating(self, category: str, rating: int, **kw: Any) -> None:
        async with self.runtime.storage.transaction() as tx:
            await tx.tickets.add_rating(
                RatingRecord(category=category, rating=rating, locale="ru", **kw),
                now=self.clock(),
            )

    async def audit_actions(self) -> list[tuple[str, str, str | None]]:
        async with self.runtime.storage.read() as tx:
            entries, _ = await tx.for_staff.audit.page(limit=1000)
        return [(e.actor, e.action, e.target) for e in reversed(entries)]


async def sign_in(web: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    page = await web.get("/staff/login")
    return await web.post(
        "/staff/login",
        data={"username": name, "password": password, "csrf_token": csrf_of(page.text)},
    )


async def post_form(
    web: httpx.AsyncClient, page_url: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """Load `page_url`, take its CSRF token (and ticket version) and post `data` to `action`."""
    page = await web.get(page_url)
    assert page.status_code == 200, page.text
    fields = {"csrf_token": csrf_of(page.text)}
    version = re.search(r'name="version" value="(\d+)"', page.text)
    if version:
        fields["version"] = version.group(1)
    return await web.post(action, data={**fields, **data})


@asynccontextmanager
async def console(settings: Settings, clock: Any) -> AsyncIterator[Console]:
    app = create_app(settings, clock=clock, announce=lambda line: None)
    async with app.router.lifespan_context(app):
        sender = MemorySender(Channel.CONSOLE)
        app.state.runtime.outbox.add_sender(sender)
        await init_recovery_key(app.state.runtime)  # as `govbot keys init` does
        yield Console(app, clock, sender)
