"""Tap-to-answer WhatsApp (issue 16): replies with options go through Twilio's Content API
as quick replies or list pickers, taps come back as ButtonPayload / ListId, and numbered
text is the fallback when the Content API refuses or is down. The real app and twilio
library against the fake Twilio on 127.0.0.1."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList

from bot.channels.whatsapp.content import (
    LIST_PICKER,
    MAX_ITEM,
    MAX_TITLE,
    QUICK_REPLY,
    ContentResources,
    interactive,
)
from bot.channels.whatsapp.twilio_http import TwilioHttp
from bot.config import Settings, load_settings
from bot.domain import Button, Reply
from bot.errors import ConfigError
from bot.i18n import Catalogs
from bot.runtime import Runtime
from tests.conftest import Clock
from tests.fakes.twilio_api import FakeTwilioApi
from tests.whatsapp_chat import SID, TOKEN, running_bot

NUMBER = "+77015550177"
ROOT = Path(__file__).resolve().parent.parent

# What a citizen types in the walk that falls back to numbered text.
TYPED = {
    "describe": "Очень долгая очередь в ЦОНе, ждала три часа и не приняли документы",
    "name": "Сапарова Айгерим Нурлановна",
}


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_resources_survive_a_restart(settings: Settings, clock: Clock) -> None:
    async with FakeTwilioApi(SID, TOKEN) as api:
        async with running_bot(settings, clock, interactive=True, api=api) as bot:
            await bot.chat(NUMBER).send("Сәлем")
        assert api.content_requests == 1
        async with running_bot(settings, clock, interactive=True, api=api) as bot:
            chat = bot.chat("+77015550188")
            await chat.send("Сәлем")
            assert [o.id for o in chat.options] == ["lang:kk", "lang:ru", "lang:en"]
        assert api.content_requests == 1  # the ContentSid came from the database
        assert len(bot.rows("SELECT * FROM whatsapp_content")) == 1


async def test_content_api_down_numbered_text_and_the_walk_goes_on(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock, interactive=True) as bot:
        bot.api.fail_content(500)
        chat = bot.chat(NUMBER)
        await chat.send("Сәлем")
        assert "1. Қазақша" in chat.text and chat.options == []
        await chat.send("2")  # Русский, typed
        assert "1. 📝 Подать жалобу" in chat.text
        await chat.send("1")
        await chat.send("9")  # Жильё и коммунальные услуги
        await chat.send("3")  # Акимат
        await chat.send("1")  # город Астана
        await chat.send(TYPED["describe"])
        await chat.send("1")  # Продолжить
        await chat.send("1")  # Пропустить
        await chat.send(TYPED["name"])
        await chat.send("1")  # ИИН: Пропустить
        await chat.send("1")  # Подтвердить
        assert "Номер:" in chat.text
        assert bot.api.content_requests == 1  # paused after the failure, not asked per step
        assert not any(m.get("ContentSid") for m in bot.api.sent_to(chat.address))
        async with bot.session.get(bot.url + "/metrics") as response:
            scraped = await response.text()
        assert metric(scraped, 'govbot_whatsapp_content_fallbacks_total{reason="unavailable"}') >= 1
        clock.advance(minutes=2)  # past the pause: the Content API is asked again
        await chat.send("Меню")
        assert len(chat.options) == 7 and bot.api.content_requests == 2


async def test_a_refused_definition_falls_back_and_is_counted(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock, interactive=True) as bot:
        bot.api.fail_content(400)
        chat = bot.chat(NUMBER)
        await chat.send("Сәлем")
        assert "1. Қазақша" in chat.text
        await chat.send("Сәлем")
        assert "1. Қазақша" in chat.text
        assert bot.api.content_requests == 1  # a refused definition is not offered again
        async with bot.session.get(bot.url + "/metrics") as response:
            scraped = await response.text()
        assert metric(scraped, 'govbot_whatsapp_content_fallbacks_total{reason="refused"}') == 2


async def test_concurrent_first_uses_create_one_resource(
    runtime: Runtime, catalogs: Catalogs, clock: Clock
) -> None:
    async with FakeTwilioApi(SID, TOKEN) as api, TwilioHttp(api.url, content_root=api.url) as http:
        client = Client(SID, TOKEN, http_client=http)
        wanted = interactive([Reply("?", options(3))], catalogs["kk"], "kk")
        assert wanted is not None
        first = ContentResources(client, runtime.storage, clock)
        sids = await asyncio.gather(*(first.sid(wanted) for _ in range(5)))
        assert len(set(sids)) == 1 and api.content_requests == 1
        # Another instance that created its own before it saw ours sends the recorded one.
        async with runtime.storage.transaction() as tx:
            assert await tx.content_sids.add(wanted.key, "HX" + "f" * 32, now=clock()) == sids[0]
        assert await ContentResources(client, runtime.storage, clock).sid(wanted) == sids[0]
        assert api.content_requests == 1


# -- the fake's Content API refuses what Twilio refuses --------------------------------


async def test_the_fake_content_api_refuses_malformed_definitions() -> None:
    too_long = {"title": "x" * (MAX_TITLE + 1), "id": "a"}
    items = [{"item": f"i{n}", "id": f"{n}"} for n in range(11)]
    bad = [
        {"twilio/quick-reply": {"body": "b", "actions": [too_long]}},
        {"twilio/list-picker": {"body": "b", "button": "B", "items": items}},
        {
            "twilio/list-picker": {
                "body": "b",
                "button": "B",
                "items": [{"item": "y" * 25, "id": "1"}],
            }
        },
        {"twilio/quick-reply": {"body": "{{1}}", "actions": [{"title": "{{2}}", "id": "x"}]}},
    ]
    async with FakeTwilioApi(SID, TOKEN) as api, TwilioHttp(api.url, content_root=api.url) as http:
        client = Client(SID, TOKEN, http_client=http)
        for types in bad:
            request = ContentList.ContentCreateRequest(
                {"friendly_name": "t", "language": "kk", "types": types}
            )
            with pytest.raises(TwilioRestException) as refused:
                await client.content.v1.contents.create_async(request)
            assert refused.value.status == 400
        good = ContentList.ContentCreateRequest(
            {
                "friendly_name": "ok",
                "language": "kk",
                "variables": {"1": "b", "2": "t"},
                "types": {
                    QUICK_REPLY: {"body": "{{1}}", "actions": [{"title": "{{2}}", "id": "a"}]}
                },
            }
        )
        created = await client.content.v1.contents.create_async(good)
        fetched = await client.content.v1.contents(created.sid).fetch_async()
        assert fetched.friendly_name == "ok" and api.contents[created.sid]["types"][QUICK_REPLY]
        assert "null" not in str(api.contents[created.sid])  # twilio's nulls were left out


# -- what goes as what (pure) -----------------------------------------------------------


def options(count: int, label: str = "Option {n}") -> tuple[Button, ...]:
    return tuple(Button(f"p:{n}", label.format(n=n)) for n in range(1, count + 1))


def test_three_short_options_are_quick_replies_ten_a_list_more_a_page_at_a_time(
    catalogs: Catalogs,
) -> None:
    t = catalogs["ru"]
    quick = interactive([Reply("Вопрос?", options(3))], t, "ru")
    assert quick is not None and QUICK_REPLY in quick.definition["types"]
    assert quick.variables == {
        "1": "Вопрос?",
        "2": "Option 1",
        "3": "p:1",
        "4": "Option 2",
        "5": "p:2",
        "6": "Option 3",
        "7": "p:3",
    }
    listed = interactive([Reply("Вопрос?", options(10))], t, "ru")
    assert listed is not None and LIST_PICKER in listed.definition["types"]
    paged = interactive([Reply("Вопрос?", options(11))], t, "ru")  # test_whatsapp_pages.py
    assert paged is not None and "page:7" in paged.variables.values()  # 6 and 5
    # The same shape is the same resource whatever the text and options.
    other = interactive([Reply("Другой вопрос", options(3, "Вариант {n}"))], t, "ru")
    assert other is not None and other.key == quick.key


def test_a_label_too_long_goes_short_with_the_full_label_under_it_or_not_at_all(
    catalogs: Catalogs,
) -> None:
    t = catalogs["ru"]
    long = "Очень длинная подпись без короткой"
    assert interactive([Reply("?", (*options(2), Button("p:x", long)))], t, "ru") is None
    helped = interactive([Reply("?", (*options(2), Button("m:help", t("menu.help"))))], t, "ru")
    assert helped is not None
    assert t("whatsapp.short.m:help") in helped.variables.values()
    assert t("menu.help") in helped.variables.values()  # as the item's description


def test_three_options_with_a_title_over_20_go_as_a_list(catalogs: Catalogs) -> None:
    t = catalogs["en"]
    wide = "x" * (MAX_TITLE + 2)
    listed = interactive([Reply("?", (*options(2), Button("p:w", wide)))], t, "en")
    assert listed is not None and LIST_PICKER in listed.definition["types"]
    assert wide in listed.variables.values()


def test_options_on_an_earlier_reply_or_a_long_body_stay_numbered(catalogs: Catalogs) -> None:
    t = catalogs["kk"]
    assert interactive([Reply("?", options(2)), Reply("!")], t, "kk") is None
    assert interactive([Reply("x" * 1025, options(2))], t, "kk") is None
    assert interactive([Reply("?", (Button("a", "Same"), Button("b", "Same")))], t, "kk") is None


def test_short_labels_and_the_list_button_fit_whatsapp() -> None:
    table = tomllib.loads((ROOT / "locales/src/whatsapp.toml").read_text(encoding="utf-8"))
    for msgid, row in table.items():
        limit = MAX_ITEM if msgid.startswith("whatsapp.short.") else MAX_TITLE
        if msgid.startswith("whatsapp.short.") or msgid == "whatsapp.list_button":
            for lang in ("kk", "ru", "en"):
                assert 0 < len(row[lang]) <= limit, (msgid, lang)


def test_twilio_content_url_defaults_to_twilio_and_can_be_off() -> None:
    assert load_settings({}, env_file=None).twilio_content_url == "https://content.twilio.com"
    off = load_settings({"TWILIO_CONTENT_URL": "off"}, env_file=None)
    assert off.twilio_content_url is None
    local = load_settings({"TWILIO_CONTENT_URL": "http://127.0.0.1:9/"}, env_file=None)
    assert local.twilio_content_url == "http://127.0.0.1:9"
    with pytest.raises(ConfigError):
        load_settings({"TWILIO_CONTENT_URL": "content.twilio.com"}, env_file=None)


def test_the_content_api_has_a_root_of_its_own() -> None:
    moved = TwilioHttp("http://127.0.0.1:1/api", content_root="http://127.0.0.1:2/content")
    assert moved.rewrite("https://content.twilio.com/v1/Content") == (
        "http://127.0.0.1:2/content/v1/Content"
    )
    assert moved.rewrite("https://api.twilio.com/x") == "http://127.0.0.1:1/api/x"
    real = TwilioHttp(content_root="https://content.twilio.com")
    assert real.rewrite("https://content.twilio.com/v1/Content") == (
        "https://content.twilio.com/v1/Content"
    )


async def test_a_retried_webhook_whose_answer_went_by_rest_gets_nothing_again(
    settings: Settings, clock: Clock
) -> None:
    """Found by an outside review: a tap-to-answer reply goes by REST and the webhook is
    answered empty; when Twilio retried that webhook, the retry was answered with the
    same reply as TwiML text, so the citizen got the menu twice."""
    from tests.fakes.twilio_api import inbound_params, new_sid
    from tests.whatsapp_chat import BOT_NUMBER, WEBHOOK, bodies

    async with running_bot(settings, clock, interactive=True) as bot:
        chat = bot.chat("+77015550199")
        await chat.send("Здравствуйте")
        await chat.tap("Русский")
        sid = new_sid("SM")
        await chat.send("меню", sid=sid)
        sent = len(bot.api.sent_to(chat.address))
        params = inbound_params(
            account_sid=SID, from_=chat.address, to=BOT_NUMBER, body="меню", message_sid=sid
        )
        status, answer = await bot.api.deliver_inbound(
            bot.url + "/webhooks/twilio", params, signed_url=WEBHOOK
        )
        assert status == 200 and bodies(answer) == []
        await asyncio.sleep(0.2)
        assert len(bot.api.sent_to(chat.address)) == sent
