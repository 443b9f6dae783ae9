"""Campaign news: subscribe, choose regions, unsubscribe, in kk, ru and en; STOP and START
words from the middle of another conversation in three languages."""

from __future__ import annotations

import re

import pytest

from bot.commands import Command as Word
from bot.commands import global_command
from bot.domain import Attachment, AttachmentKind
from bot.runtime import Runtime
from bot.storage.records import Citizen
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.chat import Chat
from tests.conftest import start_in

WORDS: dict[str, dict[str, str]] = {
    "kk": {
        "menu": "Науқан жаңалықтары",
        "off": "Қазір сіз науқан жаңалықтарына жазылмағансыз.",
        "words": "«жазылымнан бас тарту»",
        "subscribe": "Жазылу",
        "subscribed": "Дайын: сіз науқан жаңалықтарына жазылдыңыз.",
        "regions": "Қай өңірлердің жаңалықтары сізге қызық?",
        "all": "Бүкіл Қазақстан",
        "done": "Дайын",
        "saved": "Өңірлер таңдауы сақталды.",
        "some": "Сіз мына өңірлер бойынша науқан жаңалықтарына жазылғансыз: "
        "Астана қаласы, Шымкент қаласы.",
        "everywhere": "Сіз бүкіл Қазақстан бойынша науқан жаңалықтарына жазылғансыз.",
        "choose": "Өңірлерді таңдау",
        "unsubscribe": "Жазылымнан бас тарту",
        "unsubscribed": "Бүкіл Қазақстан бойынша науқан жаңалықтары енді келмейді.",
        "main": "Басты мәзір. Не істегіңіз келеді?",
    },
    "ru": {
        "menu": "Новости кампаний",
        "off": "Сейчас вы не подписаны на новости кампаний.",
        "words": "«отписаться»",
        "subscribe": "Подписаться",
        "subscribed": "Готово: вы подписаны на новости кампаний.",
        "regions": "Новости каких регионов вам интересны?",
        "all": "Весь Казахстан",
        "done": "Готово",
        "saved": "Выбор регионов сохранён.",
        "some": "Вы подписаны на новости кампаний по этим регионам: город Астана, город Шымкент.",
        "everywhere": "Вы подписаны на новости кампаний по всему Казахстану.",
        "choose": "Выбрать регионы",
        "unsubscribe": "Отписаться",
        "unsubscribed": "Новости кампаний по всему Казахстану больше не будут приходить.",
        "main": "Главное меню. Что вы хотите сделать?",
    },
    "en": {
        "menu": "Campaign news",
        "off": "You are not subscribed to campaign news at the moment.",
        "words": "«unsubscribe»",
        "subscribe": "Subscribe",
        "subscribed": "Done: you are subscribed to campaign news.",
        "regions": "News from which regions do you want?",
        "all": "All of Kazakhstan",
        "done": "Done",
        "saved": "Your choice of regions is saved.",
        "some": "You are subscribed to campaign news for these regions: Astana, Shymkent.",
        "everywhere": "You are subscribed to campaign news for all of Kazakhstan.",
        "choose": "Choose regions",
        "unsubscribe": "Unsubscribe",
        "unsubscribed": "Campaign news for all of Kazakhstan will no longer be sent to you.",
        "main": "Main menu. What would you like to do?",
    },
}
LANGS = ["kk", "ru", "en"]


async def citizen(runtime: Runtime, chat: Chat) -> Citizen:
    async with runtime.storage.read() as tx:
        found = await tx.citizens.find(chat.channel, chat.chat_key)
    assert found is not None
    return found


async def session(runtime: Runtime, chat: Chat) -> tuple[str, str] | None:
    async with runtime.storage.read() as tx:
        record = await tx.sessions.load((await citizen(runtime, chat)).id)
    return (record.flow, record.state) if record else None


def marked(chat: Chat) -> list[str]:
    return [b.payload for b in chat.buttons if b.label.startswith("✅")]


@pytest.mark.parametrize("lang", LANGS)
async def test_subscribe_choose_regions_and_unsubscribe(new_chat, runtime, lang: str) -> None:
    w = WORDS[lang]
    chat: Chat = new_chat(lang=lang)
    await start_in(chat, lang)
    await chat.press(w["menu"])
    assert w["off"] in chat.text
    assert w["words"] in chat.text  # stop/start explained
    assert (await citizen(runtime, chat)).subscribed is False

    await chat.press(w["subscribe"])
    assert w["subscribed"] in chat.text
    assert w["regions"] in chat.text
    assert (await citizen(runtime, chat)).subscribed is True
    assert marked(chat) == ["rg:all"]  # nothing marked = all of Kazakhstan
    assert len([b for b in chat.buttons if b.payload.startswith("rg:")]) == 22

    await chat.press_payload("rg:astana")
    assert marked(chat) == ["rg:astana"]
    await chat.press_payload("rg:almaty_city")
    await chat.press_payload("rg:shymkent")
    assert marked(chat) == ["rg:astana", "rg:almaty_city", "rg:shymkent"]
    await chat.press_payload("rg:almaty_city")  # pressed again: unmarked
    assert marked(chat) == ["rg:astana", "rg:shymkent"]
    assert (await citizen(runtime, chat)).sub_regions == ()  # nothing saved before Done
    await chat.press(w["done"])
    assert w["saved"] in chat.text
    assert w["some"] in chat.text
    assert (await citizen(runtime, chat)).sub_regions == ("astana", "shymkent")

    await chat.press(w["choose"])
    assert marked(chat) == ["rg:astana", "rg:shymkent"]  # the saved choice, shown
    await chat.press(w["all"])
    assert marked(chat) == ["rg:all"]
    await chat.press(w["done"])
    assert w["everywhere"] in chat.text
    assert (await citizen(runtime, chat)).sub_regions == ()

    await chat.press(w["unsubscribe"])
    assert w["unsubscribed"] in chat.text
    assert w["main"] in chat.text
    found = await citizen(runtime, chat)
    assert (found.subscribed, found.sub_regions) == (False, ())


@pytest.mark.parametrize(
    ("lang", "question", "yes"),
    [
        ("kk", "Шымкент қаласы — сіз тұратын өңір ме?", "Иә, сонда тұрамын"),
        ("ru", "Ваш регион проживания — город Шымкент?", "Да, я там живу"),
        ("en", "Is Shymkent also where you live?", "Yes, I live there"),
    ],
)
async def test_one_region_may_become_the_home_region(
    new_chat, runtime, lang: str, question: str, yes: str
) -> None:
    w = WORDS[lang]
    chat: Chat = new_chat(lang=lang)
    await start_in(chat, lang)
    await chat.press(w["menu"])
    await chat.press(w["choose"])  # regions first, still unsubscribed
    await chat.press_payload("rg:shymkent")
    await chat.press(w["done"])
    assert question in chat.text
    await chat.press(yes)
    found = await citizen(runtime, chat)
    assert (found.region, found.sub_regions, found.subscribed) == ("shymkent", ("shymkent",), True)


SUBSCRIBED_BY_REGIONS = {
    "ru": (
        "Выбор регионов сохранён, и вы подписаны на новости кампаний.",
        "Вы подписаны на новости кампаний по этим регионам: город Астана, Павлодарская область.",
    ),
    "en": (
        "Your choice of regions is saved, and you are now subscribed to campaign news.",
        "You are subscribed to campaign news for these regions: Astana, Pavlodar Region.",
    ),
}


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_choosing_regions_while_unsubscribed_subscribes_and_says_so(
    new_chat, runtime, lang: str
) -> None:
    """Issue 15: regions chosen from the news menu were saved while the citizen stayed
    unsubscribed, so no news came. Choosing regions is asking for their news."""
    w = WORDS[lang]
    saved, status = SUBSCRIBED_BY_REGIONS[lang]
    chat: Chat = new_chat(lang=lang)
    await start_in(chat, lang)
    await chat.press(w["menu"])
    assert w["off"] in chat.text
    await chat.press(w["choose"])
    await chat.press_payload("rg:astana")
    await chat.press_payload("rg:pavlodar")
    await chat.press(w["done"])
    assert saved in chat.text and status in chat.text
    assert chat.button(w["unsubscribe"])
    found = await citizen(runtime, chat)
    assert (found.subscribed, found.sub_regions) == (True, ("astana", "pavlodar"))
    await chat.press(w["choose"])  # already subscribed: saved, nothing more to say
    await chat.press(w["done"])
    assert w["saved"] in chat.text and saved not in chat.text


async def test_home_region_declined_and_not_asked_twice(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await start_in(chat, "en")
    await chat.press("Campaign news")
    await chat.press("Subscribe")
    await chat.send("Pavlodar Region")  # a region typed by name toggles it
    assert marked(chat) == ["rg:pavlodar"]
    await chat.press("Done")
    await chat.press("No")
    assert (await citizen(runtime, chat)).region is None
    assert "You are subscribed to campaign news for these regions: Pavlodar Region." in chat.text


async def test_bad_input_keeps_the_state(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="ru")
    await start_in(chat, "ru")
    await chat.press("Новости кампаний")
    await chat.send("хочу новости")
    assert "Выберите один из вариантов ниже" in chat.text
    await chat.send(payload="rg:astana")  # a button that is not on this message
    assert "Эта кнопка из предыдущего сообщения" in chat.text
    await chat.send(unsupported="input.sticker")
    assert "Стикеры здесь прочитать нельзя" in chat.text
    photo = Attachment(AttachmentKind.PHOTO, "image/png", 100, "blob-2")
    await chat.send(attachments=[photo])
    assert "файлы не принимаются" in chat.text
    assert "Сейчас вы не подписаны" in chat.text

    await chat.press("Выбрать регионы")
    await chat.send("5")  # a number picks the 5th option: Abai
    assert marked(chat) == ["rg:abai"]
    await chat.send("Атырауская")
    assert "Выберите один из вариантов ниже" in chat.text
    assert marked(chat) == ["rg:abai"]  # the marks survive a refusal
    await chat.send(payload="sub:on")
    assert "Эта кнопка из предыдущего сообщения" in chat.text
    assert marked(chat) == ["rg:abai"]
    await chat.send("назад")  # back leaves without saving
    assert "Сейчас вы не подписаны" in chat.text
    assert (await citizen(runtime, chat)).sub_regions == ()


# -- subscription words anywhere, in three languages (issue 15) ---------------------------


@pytest.mark.parametrize(
    ("lang", "stop", "start", "off", "on", "question"),
    [
        (
            "kk",
            "жазылымнан бас тарту",
            "жазылу",
            "Бүкіл Қазақстан бойынша науқан жаңалықтары енді келмейді.",
            "Сіз бүкіл Қазақстан бойынша науқан жаңалықтарына жазылдыңыз.",
            "Қызмет көрсетуді қалай бағалайсыз",
        ),
        (
            "ru",
            "Отписаться",
            "подписаться",
            "Новости кампаний по всему Казахстану больше не будут приходить.",
            "Вы подписаны на новости кампаний по всему Казахстану.",
            "Как вы оцениваете обслуживание",
        ),
        (
            "en",
            "STOP",
            "subscribe",
            "Campaign news for all of Kazakhstan will no longer be sent to you.",
            "You are subscribed to campaign news for all of Kazakhstan.",
            "How would you rate the service",
        ),
    ],
)
async def test_unsubscribe_and_subscribe_work_mid_conversation(
    new_chat, runtime, lang: str, stop: str, start: str, off: str, on: str, question: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await start_in(chat, lang)
    await chat.send(start)
    assert on in chat.text
    assert (await citizen(runtime, chat)).subscribed is True

    await chat.press_payload("flow:feedback")
    await chat.press_payload("cat:tax")
    await chat.press_payload("reg:atyrau")
    await chat.press_payload("fb:skip")
    assert question in chat.text

    await chat.send(stop)
    assert off in chat.text
    assert question in chat.text  # asked again: the conversation goes on
    assert (await citizen(runtime, chat)).subscribed is False
    assert await session(runtime, chat) == ("feedback", "rating")

    await chat.send(start)
    assert on in chat.text
    assert (await citizen(runtime, chat)).subscribed is True
    await chat.send("5")
    assert await session(runtime, chat) == ("feedback", "comment")


STOPPED_NEWS = {
    "ru": "Новости кампаний по этим регионам больше не будут приходить: город Астана, "
    "город Шымкент.",
    "kk": "Мына өңірлер бойынша науқан жаңалықтары енді келмейді: Астана қаласы, Шымкент қаласы.",
}
ALREADY_OFF = {
    "ru": "Вы не подписаны на новости кампаний",
    "kk": "Сіз науқан жаңалықтарына жазылмағансыз",
}


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_unsubscribing_names_the_news_it_stops(new_chat, runtime, lang: str) -> None:
    w = WORDS[lang]
    chat: Chat = new_chat(lang=lang)
    await start_in(chat, lang)
    await chat.press(w["menu"])
    await chat.press(w["subscribe"])
    await chat.press_payload("rg:astana")
    await chat.press_payload("rg:shymkent")
    await chat.press(w["done"])
    await chat.send({"ru": "отписаться", "kk": "Жазылымнан бас тарту"}[lang])
    assert STOPPED_NEWS[lang] in chat.text
    assert w["off"] in chat.text  # the status screen, asked again, follows
    await chat.send("STOP")  # said again: nothing more to stop, and it says so
    assert ALREADY_OFF[lang] in chat.text and STOPPED_NEWS[lang] not in chat.text
    assert (await citizen(runtime, chat)).subscribed is False


NOTHING_TO_CANCEL = {
    "kk": "Тоқтататын ештеңе жоқ",
    "ru": "Отменять нечего",
    "en": "There is nothing to cancel",
}


@pytest.mark.parametrize(
    ("lang", "word"),
    [("kk", "тоқтату"), ("kk", "тоқта"), ("ru", "стоп"), ("ru", "Стоп"), ("en", "stop")],
)
async def test_stop_words_cancel_the_request_and_leave_the_news_alone(
    new_chat, runtime, lang: str, word: str
) -> None:
    """Issue 15: «тоқтату», «стоп», «stop» unsubscribed a citizen who meant to cancel."""
    chat: Chat = new_chat(lang=lang)
    await start_in(chat, lang)
    await chat.send({"kk": "жазылу", "ru": "подписаться", "en": "subscribe"}[lang])
    await chat.press_payload("flow:feedback")  # nothing typed yet: no draft to keep
    await chat.send(word)
    assert WORDS[lang]["main"] in chat.text
    assert await session(runtime, chat) == ("menu", "main")
    await chat.send(word)  # at the menu: what the word would do, and the news word
    assert NOTHING_TO_CANCEL[lang] in chat.text and WORDS[lang]["main"] in chat.text
    assert WORDS[lang]["words"] in chat.text
    assert (await citizen(runtime, chat)).subscribed is True


@pytest.mark.parametrize(("lang", "word"), [("kk", "бастау"), ("ru", "старт"), ("en", "start")])
async def test_start_words_open_the_menu_and_do_not_subscribe(
    new_chat, runtime, lang: str, word: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await start_in(chat, lang)
    await chat.send(word)
    assert WORDS[lang]["main"] in chat.text
    assert (await citizen(runtime, chat)).subscribed is False


async def test_a_word_in_another_language_answers_in_the_citizens_own(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="kk")
    await start_in(chat, "kk")
    await chat.press_payload("flow:subscription")
    await chat.press_payload("sub:on")
    await chat.send("unsubscribe")
    assert "Бүкіл Қазақстан бойынша науқан жаңалықтары енді келмейді." in chat.text
    assert "Қай өңірлердің жаңалықтары сізге қызық?" in chat.text
    await chat.send("подписаться")
    assert "Сіз бүкіл Қазақстан бойынша науқан жаңалықтарына жазылдыңыз." in chat.text
    assert (await citizen(runtime, chat)).subscribed is True


async def test_status_follows_stop_while_in_the_flow(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await start_in(chat, "en")
    await chat.press("Campaign news")
    await chat.send("subscribe")
    assert "You are subscribed to campaign news for all of Kazakhstan." in chat.text
    assert chat.button("Unsubscribe")
    await chat.send("STOP")
    assert "You are not subscribed to campaign news at the moment." in chat.text
    assert chat.button("Subscribe")


HELP_WORDS = {
    "kk": {
        "«болдырмау»": Word.CANCEL,
        "«тоқтату»": Word.CANCEL,
        "«жазылымнан бас тарту»": Word.STOP,
        "STOP": Word.STOP,
        "«жазылу»": Word.SUBSCRIBE,
    },
    "ru": {
        "«отмена»": Word.CANCEL,
        "«стоп»": Word.CANCEL,
        "«отписаться»": Word.STOP,
        "STOP": Word.STOP,
        "«подписаться»": Word.SUBSCRIBE,
    },
    "en": {
        "«cancel»": Word.CANCEL,
        "«stop»": Word.CANCEL,
        "«unsubscribe»": Word.STOP,
        "STOP": Word.STOP,
        "«subscribe»": Word.SUBSCRIBE,
    },
}


@pytest.mark.parametrize("lang", LANGS)
def test_help_and_the_footer_name_each_word_for_what_it_does(catalogs, lang: str) -> None:
    """Issue 15: the Kazakh help listed «тоқтату» for cancelling while it unsubscribed."""
    t = catalogs[lang]
    help_text, footer = t("help.text"), t("campaign.footer")
    for shown, command in HELP_WORDS[lang].items():
        assert shown in help_text
        assert global_command(shown.strip("«»"), None) is command
    stop_words = re.findall(r"«([^»]+)»|\b(STOP)\b", footer)
    assert stop_words and all(global_command(a or b, None) is Word.STOP for a, b in stop_words)


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("Отписаться от рассылки", Word.STOP),
        ("отписаться от новостей.", Word.STOP),
        ("Жаңалықтардан бас тарту", Word.STOP),
        ("Подписаться на новости", Word.SUBSCRIBE),
        ("Отписаться от рассылки, но сначала скажите про мою жалобу", None),
    ],
)
def test_unambiguous_phrases_act_on_subscriptions(typed: str, command: Word | None) -> None:
    """Found by an outside review: «Отписаться от рассылки» was not recognised; a longer
    message that merely starts with such a phrase is still the citizen's text."""
    assert global_command(typed, None) is command
