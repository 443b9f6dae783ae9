"""Issue 15, "Nothing typed is lost": a draft survives a silence, /start, a language change
and a one-tap «Cancel»; «Stopped. Nothing was submitted.» is said only when a draft went."""

from __future__ import annotations

from typing import Any

import pytest

from bot.flow import sensitive_flows
from bot.i18n import Catalogs
from bot.maintenance import purge
from bot.runtime import Runtime
from tests.chat import Chat
from tests.conftest import Clock, start_in
from tests.test_complaint import STORY, attach, ticket_count, to_describe, to_summary
from tests.test_feedback import to_tip_offer
from tests.test_tip import WHAT, fill_tip, tickets, to_notice


async def session(runtime: Runtime, chat: Chat) -> tuple[str, str, dict[str, Any]] | None:
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(chat.channel, chat.chat_key)
        assert citizen is not None
        record = await tx.sessions.load(citizen.id)
    return None if record is None else (record.flow, record.state, record.data["d"])


# -- a silence -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_draft_idle_for_hours_is_offered_back_and_the_message_waits_for_it(
    new_chat, runtime: Runtime, clock: Clock, catalogs: Catalogs, lang: str
) -> None:
    t = catalogs[lang]
    chat: Chat = new_chat(lang=lang)
    await to_describe(chat, lang)
    clock.advance(hours=5)  # writing the text took a long time
    await chat.send(STORY[lang])
    assert chat.text == f"{t('complaint.resume')}\n{t('draft.pending')}"
    assert [b.payload for b in chat.buttons] == ["draft:continue", "draft:start_over"]
    await chat.press_payload("draft:continue")
    # The text that arrived after the silence is the description: nothing typed again.
    assert "more:next" in [b.payload for b in chat.buttons]
    found = await session(runtime, chat)
    assert found is not None and found[1] == "more"
    assert found[2]["description"] == STORY[lang]


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_a_long_text_split_in_two_after_a_silence_is_kept_whole(
    new_chat, runtime: Runtime, clock: Clock, lang: str
) -> None:
    """Telegram splits a long paste: both parts wait for "continue", neither is refused."""
    chat: Chat = new_chat(lang=lang)
    await to_describe(chat, lang)
    clock.advance(hours=1)
    tail = "... " + STORY[lang]
    await chat.send(STORY[lang])
    await chat.send(tail)
    assert [b.payload for b in chat.buttons] == ["draft:continue", "draft:start_over"]
    await chat.press_payload("draft:continue")
    found = await session(runtime, chat)
    assert found is not None and found[1] == "more"
    assert found[2]["description"] == f"{STORY[lang]}\n\n{tail}"


async def test_back_at_continue_or_start_over_is_continue(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    chat: Chat = new_chat(lang="kk")
    await to_describe(chat, "kk")
    clock.advance(hours=2)
    await chat.send(STORY["kk"])
    await chat.send("артқа")
    found = await session(runtime, chat)
    assert found is not None and found[2]["description"] == STORY["kk"]


async def test_continue_pressed_after_another_silence_still_continues(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_describe(chat, "ru")
    clock.advance(hours=2)
    await chat.send(STORY["ru"])
    clock.advance(days=1)
    await chat.press_payload("draft:continue")
    assert "more:next" in [b.payload for b in chat.buttons]
    found = await session(runtime, chat)
    assert found is not None and found[2]["description"] == STORY["ru"]


async def test_start_over_after_a_silence_deletes_the_draft_and_says_so(
    new_chat, runtime: Runtime, clock: Clock, catalogs: Catalogs
) -> None:
    t = catalogs["en"]
    chat: Chat = new_chat(lang="en")
    await to_describe(chat, "en")
    clock.advance(days=2)
    await chat.send("hello?")
    await chat.press_payload("draft:start_over")
    assert chat.text.startswith(t("draft.dropped"))
    assert t("menu.title") in chat.text
    assert await session(runtime, chat) == ("menu", "main", {})


async def test_a_draft_past_draft_keep_days_is_gone_with_the_note(
    new_chat, runtime: Runtime, clock: Clock, catalogs: Catalogs
) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_describe(chat, "ru")
    clock.advance(days=runtime.settings.draft_keep_days, minutes=1)
    await chat.send(STORY["ru"])
    note = catalogs["ru"].ngettext("session.expired", "session.expired", 30)
    assert chat.text.startswith(note)
    assert await session(runtime, chat) == ("menu", "main", {})


async def test_an_idle_tip_draft_is_not_kept_and_the_note_says_so(
    new_chat, runtime: Runtime, clock: Clock, catalogs: Catalogs
) -> None:
    """A tip draft ties the chat to the report: deleted after SESSION_IDLE_MINUTES, as
    before (docs/THREAT_MODEL.md), however long other drafts are kept."""
    chat: Chat = new_chat(lang="ru")
    await to_notice(chat, "ru")
    await chat.press_payload("tip:anon")
    await chat.send(WHAT["ru"])
    clock.advance(minutes=runtime.settings.session_idle_minutes + 1)
    # Before the clean-up has run: the message finds the draft and still does not keep it.
    await chat.send("Иванов А.")
    assert "Сеанс завершён: от вас не было сообщений 30 минут." in chat.text
    assert "draft:continue" not in [b.payload for b in chat.buttons]
    assert await session(runtime, chat) == ("menu", "main", {})
    # And the clean-up deletes an idle tip draft without waiting for a message.
    other: Chat = new_chat("other", lang="en")
    await to_notice(other, "en")
    await other.press_payload("tip:anon")
    await other.send(WHAT["en"])
    clock.advance(minutes=runtime.settings.session_idle_minutes + 1)
    await purge(
        runtime.storage, runtime.settings, clock(), sensitive=sensitive_flows(runtime.flows)
    )
    assert await session(runtime, other) is None


@pytest.mark.parametrize(
    ("lang", "n", "said"),
    [
        ("ru", 1, "не было сообщений 1 минуту."),
        ("ru", 2, "не было сообщений 2 минуты."),
        ("ru", 30, "не было сообщений 30 минут."),
        ("ru", 21, "не было сообщений 21 минуту."),
        ("kk", 30, "сізден 30 минут бойы хабарлама болмады."),
        ("en", 1, "no messages from you for 1 minute."),
        ("en", 30, "no messages from you for 30 minutes."),
    ],
)
def test_the_idle_note_counts_minutes_in_each_language(
    catalogs: Catalogs, lang: str, n: int, said: str
) -> None:
    assert said in catalogs[lang].ngettext("session.expired", "session.expired", n)


# -- /start and the language, mid-flow -----------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "kk"])
async def test_a_language_change_mid_flow_asks_the_same_question_in_the_new_language(
    new_chat, runtime: Runtime, catalogs: Catalogs, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_describe(chat, lang)
    before = await session(runtime, chat)
    await chat.send({"en": "language", "kk": "тіл"}[lang])
    assert catalogs[lang]("nav.cancelled") not in chat.text
    await chat.press("Русский")
    ru = catalogs["ru"]
    assert ru("language.set") in chat.text
    assert "Опишите, что произошло" in chat.text
    assert await session(runtime, chat) == before
    await chat.send(STORY["ru"])
    assert "more:next" in [b.payload for b in chat.buttons]


async def test_a_language_change_in_a_tip_keeps_the_tip(
    new_chat, runtime: Runtime, catalogs: Catalogs
) -> None:
    chat: Chat = new_chat(lang="kk")
    await to_notice(chat, "kk")
    await chat.press_payload("tip:anon")
    await chat.send(WHAT["kk"])
    await chat.send("тіл")
    await chat.press("English")
    assert "The description is received" in chat.text  # the same question, in English
    found = await session(runtime, chat)
    assert found is not None and found[2]["what"] == WHAT["kk"]


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_start_mid_flow_asks_before_dropping_the_draft(
    new_chat, runtime: Runtime, catalogs: Catalogs, lang: str
) -> None:
    t = catalogs[lang]
    chat: Chat = new_chat(lang=lang)
    await to_describe(chat, lang)
    await chat.send(STORY[lang])
    await chat.send("/start")
    assert chat.text == t("complaint.resume")
    await chat.press_payload("draft:continue")
    assert "more:next" in [b.payload for b in chat.buttons]  # the same question, text kept
    await chat.send("/start")
    await chat.press_payload("draft:start_over")
    assert t("draft.dropped") in chat.text
    assert await session(runtime, chat) == ("menu", "main", {})


async def test_start_with_nothing_typed_yet_is_the_welcome_as_ever(
    new_chat, catalogs: Catalogs, runtime
) -> None:
    chat: Chat = new_chat(lang="en")
    await start_in(chat, "en")
    await chat.press_payload("flow:complaint")
    await chat.send("/start")
    assert catalogs["en"]("menu.welcome", **runtime.refdata.agency.about("en")) in chat.text


# -- one tap -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_cancel_on_the_complaint_summary_asks_first(
    new_chat, runtime: Runtime, catalogs: Catalogs, lang: str
) -> None:
    t = catalogs[lang]
    chat: Chat = new_chat(lang=lang)
    await to_summary(chat, lang)
    await chat.press_payload("sum:cancel")
    assert chat.text == t("draft.discard_ask")
    await chat.press_payload("sum:back")  # «Нет, вернуться»
    await chat.press_payload("sum:ok")
    assert await ticket_count(runtime) == 1


async def test_cancel_on_the_tip_summary_asks_first(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="kk")
    await to_notice(chat, "kk")
    await chat.press_payload("tip:anon")
    await fill_tip(chat, runtime, "kk")
    await chat.press_payload("tip:cancel")
    await chat.press("Жоқ, оралу")
    assert "tip:ok" in [b.payload for b in chat.buttons]
    found = await session(runtime, chat)
    assert found is not None and found[2]["what"] == WHAT["kk"]
    assert await tickets(runtime) == []


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_text_typed_under_a_carried_description_is_added_to_it(
    new_chat, runtime: Runtime, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_summary(chat, lang)
    await chat.press_payload("sum:edit")
    await chat.press_payload("edit:name")
    await chat.press_payload("who:tip")
    await chat.press_payload("tip:anon")
    assert "more:keep" in [b.payload for b in chat.buttons]
    more = {"kk": "Маман 50 000 теңге сұрады.", "ru": "Специалист попросил 50 000 тенге."}[lang]
    await chat.send(more)
    found = await session(runtime, chat)
    assert found is not None and found[2]["what"] == f"{STORY[lang]}\n\n{more}"


# -- "Stopped. Nothing was submitted." -----------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_main_menu_from_the_status_screen_after_filing_says_nothing_was_stopped(
    new_chat, catalogs: Catalogs, lang: str
) -> None:
    t = catalogs[lang]
    chat: Chat = new_chat(lang=lang)
    await to_summary(chat, lang)
    await chat.press_payload("sum:ok")
    await chat.press_payload("flow:status")
    await chat.press_payload(chat.buttons[0].payload)  # the complaint just filed
    await chat.press_payload("g:menu")
    assert t("nav.cancelled") not in chat.text
    assert chat.text.startswith(t("menu.title"))


async def test_main_menu_says_stopped_only_when_a_draft_is_dropped(
    new_chat, catalogs: Catalogs
) -> None:
    t = catalogs["ru"]
    chat: Chat = new_chat(lang="ru")
    await start_in(chat, "ru")
    await chat.press_payload("flow:complaint")
    await chat.press_payload("g:menu")  # nothing chosen yet
    assert t("nav.cancelled") not in chat.text
    await chat.press_payload("flow:complaint")
    await chat.press_payload("cat:healthcare")
    await chat.send("меню")
    assert chat.text.startswith(t("nav.cancelled"))


async def test_start_mid_tip_asks_before_dropping_the_report(
    new_chat, runtime: Runtime, catalogs: Catalogs
) -> None:
    chat: Chat = new_chat(lang="en")
    await to_notice(chat, "en")
    await chat.press_payload("tip:anon")
    await chat.send(WHAT["en"])
    await chat.send("/start")
    assert chat.text == catalogs["en"]("tip.resume")
    await chat.press_payload("draft:continue")
    assert "The description is received" in chat.text


async def test_an_idle_rating_is_offered_back(
    new_chat, runtime: Runtime, clock: Clock, catalogs: Catalogs
) -> None:
    chat: Chat = new_chat(lang="kk")
    await start_in(chat, "kk")
    await chat.press_payload("flow:feedback")
    await chat.press_payload(chat.buttons[0].payload)  # a service
    clock.advance(hours=6)
    await chat.send("Астана")
    assert catalogs["kk"]("feedback.resume") in chat.text
    await chat.press("Жалғастыру")
    found = await session(runtime, chat)
    assert found is not None and found[2]["region"] == "astana"


async def test_a_file_sent_after_a_silence_waits_and_is_kept_as_evidence(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    chat: Chat = new_chat(lang="en")
    await to_describe(chat, "en")
    await chat.send(STORY["en"])
    await chat.press_payload("more:next")
    clock.advance(hours=3)
    scan = await attach(runtime)
    await chat.send(attachments=[scan])
    await chat.press_payload("draft:continue")
    found = await session(runtime, chat)
    assert found is not None and found[1] == "evidence"
    assert [f["blob_id"] for f in found[2]["files"]] == [scan.blob_id]


async def test_main_menu_after_a_rating_was_stored_says_nothing_was_stopped(
    new_chat, catalogs: Catalogs
) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_tip_offer(chat)  # the rating is stored; only the offer of a report is left
    await chat.send("меню")
    assert catalogs["ru"]("nav.cancelled") not in chat.text
    assert chat.text.startswith(catalogs["ru"]("menu.title"))


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_start_over_survives_a_text_too_short(new_chat, runtime: Runtime, lang: str) -> None:
    """Found by an outside review: «Start over», then a text too short, brought the old
    story back, and the new one was appended to it: a tipster removing a detail they
    regretted (their own name) got it back."""
    chat: Chat = new_chat(lang=lang)
    await to_notice(chat, lang)
    await chat.press_payload("tip:anon")
    await chat.send(WHAT[lang])
    await chat.press_payload("more:clear")
    await chat.send("коротко")
    new = "Совсем другая история: инспектор требовал 20 000 тенге на трассе."
    await chat.send(new)
    found = await session(runtime, chat)
    assert found is not None and found[2]["what"] == new
