"""Issue 16, must show: a complaint, a rating and an anonymous tip filed on WhatsApp by
tapping alone, in Kazakh and Russian. Every choice is a tap (ButtonPayload from a quick
reply, ListId from a list picker), lists longer than 10 (categories, state bodies,
regions) included, a page at a time; only free text (a description, a name) is typed,
and never a digit. The real app and twilio library against the fake Twilio on 127.0.0.1.
"""

from __future__ import annotations

import json
import re

import pytest

from bot.channels.whatsapp.content import LIST_PICKER, QUICK_REPLY
from bot.config import Settings
from tests.conftest import Clock
from tests.whatsapp_chat import WhatsAppChat, running_bot

NUMBER = "+77015550177"

TYPED = {
    "ru": {
        "describe": "Очень долгая очередь в ЦОНе, ждала три часа и не приняли документы",
        "name": "Сапарова Айгерим Нурлановна",
        "what": "Сотрудник ЦОНа потребовал деньги за ускорение выдачи справки",
        "reference": "Номер:",
        "rated": "Номер обращения:",
        "receipt": "Ваша квитанция:",
    },
    "kk": {
        "describe": "ХҚКО-да кезек өте ұзақ болды, үш сағат күттім, құжаттарымды қабылдамады",
        "name": "Сапарова Әйгерім Нұрланқызы",
        "what": "ХҚКО қызметкері анықтаманы тез беру үшін ақша талап етті",
        "reference": "Нөмірі:",
        "rated": "Өтініш нөмірі:",
        "receipt": "Түбіртегіңіз:",
    },
}


async def file_complaint(chat: WhatsAppChat, lang: str) -> str:
    """From the main menu: a category on the second page, a state body, a region on the
    third page; returns the reference."""
    await chat.tap("flow:complaint")
    assert len(chat.options) == 9  # 7 of the 14 categories, "More…", Main menu
    await more(chat)
    await chat.tap("cat:housing")
    await chat.tap("body:akimat")
    await more(chat)
    await more(chat)
    await chat.tap("reg:ulytau")
    await chat.send(TYPED[lang]["describe"])
    await chat.tap("more:next")
    await chat.tap("ev:skip")
    await chat.send(TYPED[lang]["name"])
    await chat.tap("iin:skip")
    await chat.tap("sum:ok")
    return reference(chat.text, TYPED[lang]["reference"])


async def rate(chat: WhatsAppChat, lang: str) -> str:
    """A rating of 2 with a reason ticked (a short label, ✅ kept); returns the reference
    of the ticket a low rating files."""
    await chat.tap("flow:feedback")
    await chat.tap("cat:healthcare")
    await tap_on_a_page(chat, "reg:turkistan")
    await chat.tap("fb:skip")
    await chat.tap("r:2")
    await chat.tap("why:wrong")
    assert any(o.id == "why:wrong" and o.title.startswith("✅ ") for o in chat.options)
    await chat.tap("fb:done")
    await chat.tap("fb:skip")
    return reference(chat.text, TYPED[lang]["rated"])


async def tip(chat: WhatsAppChat, lang: str) -> str:
    """An anonymous tip about a state body on the second page; returns the receipt."""
    await chat.tap("flow:tip")
    await chat.tap("tip:anon")
    await chat.send(TYPED[lang]["what"])
    await chat.tap("more:next")
    await tap_on_a_page(chat, "body:civil_registry_office")
    await chat.tap("reg:shymkent")
    await chat.tap("tip:skip")
    await chat.tap("tip:skip")
    await chat.tap("ev:skip")
    await chat.tap("tip:ok")
    found = re.search(re.escape(TYPED[lang]["receipt"]) + r" ([\d ]{19})", chat.text)
    assert found, chat.text
    return found.group(1)


async def more(chat: WhatsAppChat) -> None:
    """Tap "More…" (or, on the last page, "Back to the start")."""
    [turn] = [o for o in chat.options if o.id.startswith("page:")]
    await chat.tap(turn.id)


async def tap_on_a_page(chat: WhatsAppChat, wanted: str) -> None:
    """Tap "More…" until `wanted` is on the page, then tap it."""
    for _ in range(3):
        if any(o.id == wanted for o in chat.options):
            break
        await more(chat)
    await chat.tap(wanted)


def reference(text: str, label: str) -> str:
    found = re.search(re.escape(label) + r" (\S+?)\.?(\s|$)", text)
    assert found, text
    return found.group(1)


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_a_complaint_a_rating_and_a_tip_by_tapping_only(
    lang: str, settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock, interactive=True) as bot:
        chat = bot.chat(NUMBER)
        await chat.send("Сәлем")
        await chat.tap(f"lang:{lang}")
        complained = await file_complaint(chat, lang)
        rated = await rate(chat, lang)
        await tip(chat, lang)

        async with bot.runtime.storage.read() as tx:
            complaint = await tx.tickets.by_reference(complained)
            feedback = await tx.tickets.by_reference(rated)
        assert complaint is not None and feedback is not None
        assert (complaint.locale, complaint.category, complaint.region) == (
            lang,
            "housing",
            "ulytau",
        )
        assert complaint.details["body"] == "akimat"
        assert (feedback.kind, feedback.rating, feedback.region) == ("feedback", 2, "turkistan")
        [(reasons,)] = bot.rows("SELECT reasons FROM ratings")
        assert json.loads(reasons) == ["wrong"]
        tips = bot.rows("SELECT privacy, citizen_id FROM tickets WHERE kind = 'tip'")
        assert tips == [("anonymous", None)]

        # Every choice was a tap, on a message sent as ContentSid + variables; what was
        # typed is the three free texts and the first "Сәлем", never a digit.
        taps = [f for f in chat.forms if "ButtonPayload" in f or "ListId" in f]
        typed = [f["Body"] for f in chat.forms if f not in taps]
        assert typed == [
            "Сәлем",
            TYPED[lang]["describe"],
            TYPED[lang]["name"],
            TYPED[lang]["what"],
        ]
        assert len(taps) == len(chat.forms) - 4 >= 30
        assert not any(f["Body"].strip().isdigit() for f in chat.forms)
        sent = bot.api.sent_to(chat.address)
        assert all(m["ContentSid"] in bot.api.contents for m in sent if m.get("ContentSid"))
        assert sum(1 for m in sent if m.get("ContentSid")) >= len(taps)
        # A few resources serve every message: one per language and shape.
        kinds = {next(iter(c["types"])) for c in bot.api.contents.values()}
        assert kinds == {QUICK_REPLY, LIST_PICKER} and len(bot.api.contents) <= 20
