"""Campaign templates with variables (issue 16): outside WhatsApp's 24-hour window a
campaign goes as its approved template, with each numbered placeholder filled for the
recipient (their name where a complaint gave it, their region, the date, in the template's
language); a campaign whose template declares a placeholder it leaves empty is refused, in
the console and by `govbot campaign create`. The real twilio library talks to the fake
Twilio, whose Content API says which variables a template declares."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.campaigns import cli
from bot.campaigns.model import TemplateVariableError
from bot.config import Settings
from bot.storage.records import TicketDraft
from tests.campaign_support import TEXTS, draft
from tests.conftest import Clock
from tests.db import sql
from tests.fakes.twilio_api import FakeTwilioApi
from tests.staff import PASSWORD, Console, console, sign_in
from tests.test_staff_campaigns import (
    NEW,
    compose_form,
    created_id,
    post,
    stored,
    text_of,
)
from tests.whatsapp_chat import BOT_NUMBER, PUBLIC, SID, TOKEN

CAMPAIGN = {"kk": "HX" + "e5" * 16, "ru": "HX" + "f6" * 16, "en": "HX" + "a7" * 16}
CAMPAIGN_TEXT = {
    "kk": "Құрметті {{1}}! {{2}}: {{3}} жылжымалы қабылдау өтеді.",
    "ru": "Уважаемый(ая) {{1}}! {{2}}: {{3}} пройдёт выездной приём.",
    "en": "Dear {{1}}, {{2}}: mobile reception on {{3}}.",
}
FILLED = {"1": "name", "2": "region", "3": "date"}
REFERENCES = itertools.count(1)


@asynccontextmanager
async def whatsapp_console(settings: Settings, clock: Clock) -> AsyncIterator[Console]:
    """The app with the WhatsApp channel on the fake Twilio, its campaign templates
    declared in the fake's Content API; `console.api` is the fake."""
    async with FakeTwilioApi(SID, TOKEN) as api:
        for lang, sid in CAMPAIGN.items():
            api.define_template(sid, CAMPAIGN_TEXT[lang], declared=True)
        configured = settings.with_overrides(
            twilio_account_sid=SID,
            twilio_auth_token=TOKEN,
            twilio_whatsapp_from=BOT_NUMBER,
            twilio_api_url=api.url,
            twilio_content_url=api.url,
            public_url=PUBLIC,
            whatsapp_rate=0.0,
            whatsapp_rate_per_chat=0.0,
        )
        async with console(configured, clock) as c:
            c.api = api  # type: ignore[attr-defined]
            yield c


async def subscriber(
    c: Console,
    number: str,
    lang: str,
    *,
    region: str | None = None,
    follows: tuple[str, ...] = (),
    name: str | None = None,
    fresh: bool = False,
) -> None:
    """A WhatsApp subscriber who last wrote three days ago (or an hour ago: `fresh`)."""
    now = c.clock()
    async with c.runtime.storage.transaction() as tx:
        citizen, _ = await tx.citizens.get_or_create("whatsapp", number, now=now)
        citizen.locale, citizen.region, citizen.sub_regions = lang, region, follows
        citizen.subscribed = True
        citizen.last_inbound_at = now - (timedelta(hours=1) if fresh else timedelta(days=3))
        await tx.citizens.save(citizen)
        if name:
            complaint = TicketDraft(
                "complaint", lang, citizen.id, "whatsapp", details={"applicant_name": name}
            )
            await tx.tickets.add(complaint, reference=f"KZ-2026-{next(REFERENCES):06d}", now=now)


def variables_of(message: dict[str, Any]) -> dict[str, str]:
    return dict(json.loads(message["ContentVariables"]))


async def test_outside_the_window_each_recipient_reads_the_template_filled_for_them(
    settings: Settings, clock: Clock
) -> None:
    async with whatsapp_console(settings, clock) as c:
        api: FakeTwilioApi = c.api  # type: ignore[attr-defined]
        await subscriber(c, "+77011110001", "kk", region="almaty_city", name="Айгерім Сапарова")
        await subscriber(c, "+77011110002", "ru", follows=("astana",))
        await subscriber(c, "+77011110003", "ru", fresh=True)
        await c.app.state.campaigns.create(
            draft(templates=dict(CAMPAIGN), template_variables=dict.fromkeys(CAMPAIGN, FILLED))
        )
        [named] = await api.wait_for_sent("whatsapp:+77011110001")
        [unnamed] = await api.wait_for_sent("whatsapp:+77011110002")
        [fresh] = await api.wait_for_sent("whatsapp:+77011110003")
    assert named["ContentSid"] == CAMPAIGN["kk"]
    assert variables_of(named) == {
        "1": "Айгерім Сапарова",
        "2": "Алматы қаласы",
        "3": "2026\u202fж. 16 наурыз",  # babel's narrow space
    }
    assert named["Body"].startswith("Құрметті Айгерім Сапарова! Алматы қаласы: 2026")
    # No complaint, so no name: the polite word for a citizen; the one region they follow.
    assert unnamed["ContentSid"] == CAMPAIGN["ru"]
    assert variables_of(unnamed) == {
        "1": "гражданин",
        "2": "город Астана",
        "3": "16 марта 2026\u202fг.",
    }
    # Inside the window the campaign's own text goes, free-form: no template, no variables.
    assert "ContentSid" not in fresh and fresh["Body"].startswith(TEXTS["ru"])


async def test_a_template_whose_placeholder_the_campaign_leaves_empty_is_refused(
    settings: Settings, clock: Clock
) -> None:
    async with whatsapp_console(settings, clock) as c:
        api: FakeTwilioApi = c.api  # type: ignore[attr-defined]
        await subscriber(c, "+77011110001", "ru")
        only_names = {lang: {"1": "name", "2": "region"} for lang in CAMPAIGN}
        with pytest.raises(TemplateVariableError) as refused:
            await c.app.state.campaigns.create(
                draft(templates=dict(CAMPAIGN), template_variables=only_names)
            )
        async with c.app.state.campaigns.campaigns.read() as store:
            assert await store.recent() == []
    assert refused.value.problem.msgid == "campaign.error.template_unfilled"
    assert refused.value.problem.params["placeholders"] == "{{3}}"
    assert api.sent == []


def campaign_file(path: Path, ru_second: str) -> Path:
    """A campaign file whose templates name their placeholders (bot/campaigns/cli.py)."""
    lines = ['title = "Выездной приём"', "[text]"]
    lines += [f'{lang} = "{text}"' for lang, text in TEXTS.items()]
    every = '{ 1 = "name", 2 = "region", 3 = "date" }'
    lines += [
        "[whatsapp_templates]",
        f'kk = {{ sid = "{CAMPAIGN["kk"]}", variables = {every} }}',
        f'ru = {{ sid = "{CAMPAIGN["ru"]}", variables = {{ 1 = "name", 2 = "{ru_second}" }} }}',
        f'en = "{CAMPAIGN["en"]}"',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def create(settings: Settings, path: Path) -> int:
    return cli.run(settings, argparse.Namespace(action="create", file=path, by="cli"))


def stored_variables(settings: Settings) -> list[dict[str, dict[str, str]]]:
    rows = sql(settings, "SELECT template_variables FROM campaigns ORDER BY id")
    return [json.loads(row[0]) for row in rows]


def test_a_campaign_file_says_what_fills_each_placeholder(
    settings: Settings, tmp_path: Path
) -> None:
    assert create(settings, campaign_file(tmp_path / "campaign.toml", "date")) == 0
    assert stored_variables(settings) == [
        {"kk": {"1": "name", "2": "region", "3": "date"}, "ru": {"1": "name", "2": "date"}}
    ]


def test_a_campaign_file_asking_for_what_no_campaign_can_fill_is_refused(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert create(settings, campaign_file(tmp_path / "campaign.toml", "amount")) == 2
    assert capsys.readouterr().err == (
        "govbot campaign: WhatsApp template (ru): {{2}} asks for «amount», which a campaign"
        " cannot fill. It can fill: name, region, date.\n"
    )
    assert stored_variables(settings) == []


async def operator(c: Console, locale: str) -> httpx.AsyncClient:
    """An operator signed in at the public URL (the console checks where forms come from)."""
    await c.add_user("olga", "operator", locale=locale)
    web = c.client(base_url=PUBLIC)
    assert (await sign_in(web, "olga", PASSWORD)).status_code == 303
    return web


def chosen(*langs: str, **variables: str) -> dict[str, str]:
    """Form fields: every template's sid, and for `langs` what fills each placeholder."""
    fields = {f"template_{lang}": sid for lang, sid in CAMPAIGN.items()}
    for lang in langs:
        fields.update({f"variable_{lang}_{n[1:]}": v for n, v in variables.items()})
    return fields


@pytest.mark.parametrize(
    ("locale", "refusal", "needs"),
    [
        (
            "ru",
            "Шаблону WhatsApp (Қазақша) нужны переменные {{3}}, но в рассылке не указано,"
            " чем их заполнить",
            "Переменные шаблона: {{1}}, {{2}}, {{3}}.",
        ),
        (
            "kk",
            "WhatsApp үлгісіне (Қазақша) {{3}} айнымалылары қажет, бірақ таратылымда олардың"
            " орнына не қойылатыны көрсетілмеген",
            "Үлгідегі айнымалылар: {{1}}, {{2}}, {{3}}.",
        ),
    ],
)
async def test_the_console_shows_what_a_template_needs_and_refuses_a_campaign_short_of_it(
    settings: Settings, clock: Clock, locale: str, refusal: str, needs: str
) -> None:
    async with whatsapp_console(settings, clock) as c:
        await subscriber(c, "+77011110001", "ru")
        web = await operator(c, locale)
        fields = chosen("kk", "ru", "en", n1="name", n2="region")
        answer = await post(web, NEW, compose_form(op="create", **fields))
        async with c.app.state.campaigns.campaigns.read() as store:
            assert await store.recent() == []
    assert answer.status_code == 400
    assert refusal in text_of(answer)
    assert needs in text_of(answer)  # the preview, from the Content API


async def test_the_console_keeps_what_the_operator_chose_for_each_placeholder(
    settings: Settings, clock: Clock
) -> None:
    async with whatsapp_console(settings, clock) as c:
        web = await operator(c, "en")
        fields = chosen("kk", "ru", "en", n1="name", n2="region", n3="date")
        preview = await post(web, NEW, compose_form(op="preview", **fields))
        assert "Placeholders: {{1}} — name, {{2}} — region, {{3}} — date of sending." in (
            text_of(preview)
        )
        campaign = await stored(
            c, await created_id(await post(web, NEW, compose_form(op="create", **fields)))
        )
    assert campaign.template_variables == dict.fromkeys(CAMPAIGN, FILLED)


async def test_the_console_refuses_variables_for_a_language_without_a_template(
    settings: Settings, clock: Clock
) -> None:
    async with whatsapp_console(settings, clock) as c:
        web = await operator(c, "ru")
        fields = {**chosen("kk", n1="name"), "template_kk": ""}
        answer = await post(web, NEW, compose_form(op="create", **fields))
    assert answer.status_code == 400
    assert (
        "Для языка Қазақша указаны переменные шаблона, но шаблон WhatsApp на этом языке не задан."
        in text_of(answer)
    )


async def test_a_name_comes_from_the_citizens_latest_complaint_never_from_a_tip(
    settings: Settings, clock: Clock
) -> None:
    async with whatsapp_console(settings, clock) as c:
        await subscriber(c, "+77011110001", "kk", name="Айгерім")
        await subscriber(c, "+77011110001", "kk", name="Айгерім Сапарова")  # a later complaint
        await subscriber(c, "+77011110002", "ru")
        async with c.runtime.storage.transaction() as tx:
            named = await tx.citizens.find("whatsapp", "+77011110001")
            tipster = await tx.citizens.find("whatsapp", "+77011110002")
            assert named is not None and tipster is not None
            # Even a tip row that named its chat (none does) is never read for a name.
            await tx.conn.execute(
                "INSERT INTO tickets (reference, kind, privacy, citizen_id, locale, details,"
                " created_at, updated_at) VALUES ('KZ-TIP', 'tip', 'confidential', ?, 'ru',"
                " '{\"applicant_name\": \"Тайный Заявитель\"}', '2026-03-16', '2026-03-16')",
                (tipster.id,),
            )
        async with c.app.state.campaigns.campaigns.read() as store:
            names = await store.names([named.id, tipster.id])
    assert names == {named.id: "Айгерім Сапарова"}


async def test_campaign_create_asks_twilio_what_the_templates_declare(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With Twilio configured, `govbot campaign create` refuses a file short of a placeholder
    the Content API says the template has (the command runs in a thread of its own, as
    from a shell, while the fake Twilio answers here)."""
    async with FakeTwilioApi(SID, TOKEN) as api:
        for lang, sid in CAMPAIGN.items():
            api.define_template(sid, CAMPAIGN_TEXT[lang], declared=True)
        configured = settings.with_overrides(
            twilio_account_sid=SID,
            twilio_auth_token=TOKEN,
            twilio_whatsapp_from=BOT_NUMBER,
            twilio_api_url=api.url,
            twilio_content_url=api.url,
        )
        path = campaign_file(tmp_path / "campaign.toml", "date")
        assert await asyncio.to_thread(create, configured, path) == 2
    assert capsys.readouterr().err == (
        "govbot campaign: WhatsApp template (ru) needs {{3}}, and the campaign does not say what"
        " goes there: choose the citizen's name, region or the date for each.\n"
    )
    assert stored_variables(settings) == []
