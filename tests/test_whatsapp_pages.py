"""Issue 16: lists of more than 10 options on WhatsApp go as list pickers a page at a time
(bot/channels/whatsapp/pages.py), and a question that takes a location says how to share
one, whose Label and Address are both taken. The page is kept nowhere: "More…" carries it,
and a name or a number typed on any page means what it means under the whole list.
"""

from __future__ import annotations

import pytest

from bot.channels.whatsapp.content import LIST_PICKER, MAX_ITEMS, interactive
from bot.channels.whatsapp.inbound import to_inbound
from bot.channels.whatsapp.pages import Page, page
from bot.channels.whatsapp.render import render
from bot.config import Settings
from bot.domain import Button, Reply
from bot.i18n import Catalogs
from bot.outbound import Outgoing, decode, encode
from tests.conftest import Clock
from tests.fakes.twilio_api import Tapped
from tests.test_whatsapp_taps import more
from tests.whatsapp_chat import WhatsAppChat, running_bot

NUMBER = "+77015550199"
NAV = (Button("g:back", "Back"), Button("g:menu", "Main menu"))


def long_list(count: int) -> tuple[Button, ...]:
    options = tuple(Button(f"o:{n}", f"Option {n}") for n in range(1, count + 1))
    return (*options, *NAV)


# -- which options go on which page (pure) ----------------------------------------------


def pages_of(buttons: tuple[Button, ...], *holding: int) -> list[Page]:
    found = [page(buttons, option, MAX_ITEMS) for option in holding]
    assert all(p is not None for p in found)
    return [p for p in found if p is not None]


def test_a_long_list_is_pages_of_options_more_and_the_navigation() -> None:
    buttons = long_list(20)  # the regions: 3 cities and 17 regions, Back, Main menu
    shown = pages_of(buttons, 1, 8, 15)
    assert [(p.number, p.count) for p in shown] == [(1, 3), (2, 3), (3, 3)]
    assert [[n for n, _ in p.options] for p in shown] == [
        list(range(1, 8)),
        list(range(8, 15)),
        list(range(15, 21)),
    ]
    # "More…" names the first option of the next page; the last page's, the first page's.
    assert [(p.turns_to, p.turn_payload) for p in shown] == [
        (2, "page:8"),
        (3, "page:15"),
        (1, "page:1"),
    ]
    assert all(p.nav == NAV for p in shown)
    assert all(len(p.options) + 1 + len(p.nav) <= MAX_ITEMS for p in shown)
    # Any option names its page; a navigation button, 0 or a number from an older, longer
    # list (a hand-made payload) name the first.
    assert [p.number for p in pages_of(buttons, 2, 14, 20, 21, 0, 999)] == [1, 2, 3, 1, 1, 1]


def test_options_are_spread_evenly_over_the_pages() -> None:
    # The news subscription: All of Kazakhstan, 20 regions, Done; Back, Main menu.
    assert [len(p.options) for p in pages_of(long_list(22), 1, 7, 13, 19)] == [6, 6, 6, 4]
    # The complaint's 14 categories under Main menu alone: 7 and 7, not 8 and 6.
    only_menu = (*long_list(14)[:-2], NAV[1])
    assert [len(p.options) for p in pages_of(only_menu, 1, 8)] == [7, 7]


def test_each_page_is_a_list_picker_numbered_as_the_whole_list(catalogs: Catalogs) -> None:
    t = catalogs["ru"]
    last = interactive([Reply("Где это произошло?", long_list(20), page_of=20)], t, "ru")
    assert last is not None and LIST_PICKER in last.definition["types"]
    values = list(last.variables.values())
    assert values[0] == "Где это произошло?\n\n" + t("whatsapp.page", page=3, pages=3)
    assert values[1:4] == ["Option 15", "o:15", t("whatsapp.item_number", number=15)]
    turn = values.index("page:1")
    assert values[turn - 1 : turn + 2] == [
        t("whatsapp.first_page"),
        "page:1",
        t("whatsapp.page", page=1, pages=3),
    ]
    assert values[-4:] == ["Back", "g:back", "Main menu", "g:menu"]
    first = interactive([Reply("?", long_list(20))], t, "ru")
    assert first is not None and "page:8" in first.variables.values()
    assert t("whatsapp.more") in first.variables.values()
    # One resource per shape: pages 1 and 2 are the same shape.
    second = interactive([Reply("?", long_list(20), page_of=8)], t, "ru")
    assert second is not None and second.key == first.key != last.key


def test_a_shortened_option_shows_its_number_and_full_name(catalogs: Catalogs) -> None:
    t = catalogs["ru"]
    east = Button("reg:east_kz", "Восточно-Казахстанская область")
    buttons = (*long_list(20)[:8], east, *long_list(20)[8:])
    wanted = interactive([Reply("?", buttons, page_of=9)], t, "ru")
    assert wanted is not None
    values = list(wanted.variables.values())
    at = values.index("reg:east_kz")
    assert values[at - 1] == t("whatsapp.short.reg:east_kz")
    assert values[at + 1] == "№ 9 · Восточно-Казахстанская область"


def test_the_page_and_the_location_hint_are_kept_with_the_answer() -> None:
    """An answer is written down before it is sent (bot/replies.py): one sent again after a
    crash, or to a webhook's retry, shows the same page and the same hint."""
    replies = (Reply("?", long_list(20), page_of=15), Reply("!", takes_location=True))
    kept = Outgoing(replies, "reply")
    assert decode(encode(kept)) == kept
    plain = Outgoing((Reply("?", long_list(2)),), "reply")
    assert b"page_of" not in encode(plain) and decode(encode(plain)) == plain


# -- a citizen turning pages ------------------------------------------------------------


async def to_regions(chat: WhatsAppChat) -> None:
    await chat.send("Сәлем")
    await chat.tap("lang:ru")
    await chat.tap("flow:complaint")
    await chat.tap("cat:healthcare")
    await chat.tap("body:akimat")
    assert "регионе" in chat.text and "Страница 1 из 3" in chat.text


async def test_a_name_or_a_number_typed_on_any_page_is_taken(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock, interactive=True) as bot:
        chat = bot.chat(NUMBER)
        await to_regions(chat)
        await more(chat)
        assert "Страница 2 из 3" in chat.text
        assert "reg:karaganda" in [o.id for o in chat.options]
        await chat.send("Караганда")  # typed on page 2
        assert "Опишите, что произошло" in chat.text
        await chat.tap("g:back")  # back to the regions, on their first page
        assert "Страница 1 из 3" in chat.text
        await more(chat)
        await more(chat)
        await chat.send("9")  # typed on page 3: the 9th of the whole list
        assert "Опишите, что произошло" in chat.text
        await chat.send("Очень долгая очередь в акимате, ждала три часа и не приняли документы")
        await chat.tap("more:next")
        await chat.tap("ev:skip")
        await chat.send("Сапарова Айгерим Нурлановна")
        await chat.tap("iin:skip")
        assert "Регион: Восточно-Казахстанская область" in chat.text  # № 9


async def test_back_and_main_menu_on_every_page(settings: Settings, clock: Clock) -> None:
    async with running_bot(settings, clock, interactive=True) as bot:
        chat = bot.chat(NUMBER)
        await to_regions(chat)
        await more(chat)
        await chat.tap("g:back")  # the step before, not the page before
        assert "О каком госоргане" in chat.text
        await chat.tap("body:akimat")
        await more(chat)
        await more(chat)
        await chat.tap("g:menu")
        assert "flow:complaint" in [o.id for o in chat.options]


async def test_more_under_another_question_turns_no_page_and_loses_nothing(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock, interactive=True) as bot:
        chat = bot.chat(NUMBER)
        await to_regions(chat)
        # «язык» over the step: the language question (3 options); an old "More…" tapped
        # there asks it again, and the draft waits.
        await chat.send("язык")
        languages = {"lang:kk", "lang:ru", "lang:en"}
        assert {o.id for o in chat.options} == languages
        await chat.send(tapped=Tapped("page:8", "Ещё…", listed=True))
        assert {o.id for o in chat.options} == languages
        await chat.tap("lang:kk")
        assert "3 беттің 1-беті" in chat.text  # the regions again, in Kazakh
        # Under a question to type an answer to, "More…" asks it again.
        await chat.tap("reg:astana")
        asked = chat.texts
        await chat.send(tapped=Tapped("page:8", "Тағы…", listed=True))
        assert chat.texts == asked


async def test_news_regions_are_ticked_on_their_own_page(settings: Settings, clock: Clock) -> None:
    async with running_bot(settings, clock, interactive=True) as bot:
        chat = bot.chat(NUMBER)
        await chat.send("Сәлем")
        await chat.tap("lang:ru")
        await chat.tap("flow:subscription")
        await chat.tap("sub:regions")
        assert "Страница 1 из 4" in chat.text and chat.options[0].id == "rg:all"
        await more(chat)
        await chat.tap("rg:east_kz")
        assert "Страница 2 из 4" in chat.text  # the page it was ticked on, not the first
        await chat.tap("rg:jambyl")
        ticked = {o.id: o for o in chat.options if o.title.startswith("✅ ")}
        assert set(ticked) == {"rg:east_kz", "rg:jambyl"}
        assert ticked["rg:east_kz"].description == "№ 10 · Восточно-Казахстанская область"
        await more(chat)
        await more(chat)
        assert "Страница 4 из 4" in chat.text
        await chat.tap("rg:done")
        assert "Восточно-Казахстанская область, Жамбылская область" in chat.text


# -- locations -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_a_question_that_takes_a_location_says_how_to_share_one(
    lang: str, catalogs: Catalogs
) -> None:
    t = catalogs[lang]
    how = t("whatsapp.share_location")
    asked = Reply("Evidence?", (Button("ev:skip", "Skip"),), takes_location=True)
    [text] = render([asked], t)
    assert text.startswith(f"Evidence?\n\n{how}\n\n1. Skip")
    tapped = interactive([asked], t, lang)
    assert tapped is not None and tapped.variables["1"] == f"Evidence?\n\n{how}"
    assert how not in render([Reply("Evidence?", asked.buttons)], t)[0]


async def test_the_evidence_question_on_whatsapp_says_how(settings: Settings, clock: Clock) -> None:
    async with running_bot(settings, clock, interactive=True) as bot:
        chat = bot.chat(NUMBER)
        await to_regions(chat)
        how = bot.runtime.catalogs["ru"]("whatsapp.share_location")
        assert how not in chat.text
        await chat.tap("reg:astana")
        await chat.send("Очень долгая очередь в акимате, ждала три часа и не приняли документы")
        await chat.tap("more:next")
        assert how in chat.text and chat.options[0].id == "ev:skip"
        await chat.send(location=(51.128, 71.43, "пр. Мангилик Ел, 55"))
        assert how not in chat.text  # asked once: "the location is saved" now


def test_label_and_address_are_both_taken() -> None:
    form = {
        "From": "whatsapp:+77015550199",
        "Latitude": "43.238949",
        "Longitude": "76.889709",
        "Address": "пр. Абая, 10, Алматы",
        "Label": "ЦОН Бостандыкского района",
        "MessageType": "location",
    }
    place = to_inbound(form).location
    assert place is not None and (place.latitude, place.longitude) == (43.238949, 76.889709)
    assert place.address == "ЦОН Бостандыкского района, пр. Абая, 10, Алматы"
    labelled = to_inbound({**form, "Address": ""}).location
    assert labelled is not None and labelled.address == "ЦОН Бостандыкского района"
    same = to_inbound({**form, "Address": form["Label"]}).location
    assert same is not None and same.address == "ЦОН Бостандыкского района"
    pin = to_inbound({k: v for k, v in form.items() if k not in ("Address", "Label")}).location
    assert pin is not None and pin.address is None
