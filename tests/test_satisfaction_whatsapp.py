"""The question after a closing on WhatsApp, through the real twilio library and the fake
Twilio server: the options arrive numbered and the citizen answers with the numbers."""

from __future__ import annotations

from datetime import date

from bot.domain import Channel
from bot.staff.accounts import add_account
from bot.staff.actions import Actor, change_status
from bot.storage.records import TicketDraft
from tests.whatsapp_chat import running_bot

NUMBER = "+77017654321"


async def test_a_whatsapp_citizen_answers_not_solved_by_number_and_the_ticket_reopens(
    settings, clock
):
    async with running_bot(settings, clock) as bot:
        chat = bot.chat(NUMBER)
        await chat.send("Сәлеметсіз бе")
        await chat.send("1")  # Қазақша
        runtime = bot.runtime
        async with runtime.storage.transaction() as tx:
            citizen = await tx.citizens.find(Channel.WHATSAPP, NUMBER)
            ticket = await tx.tickets.add(
                TicketDraft("complaint", "kk", citizen.id, "whatsapp", summary="Кезек",
                            due_on=date(2026, 4, 6)),
                reference="AB-7101", now=clock(),
            )  # fmt: skip
            answer = await tx.sessions.reply(citizen.id)  # to the language choice
            assert answer is not None
            db = tx.for_staff
            rita = await add_account(db, "rita", "reviewer", "x" * 16, locale="kk", now=clock())
            await change_status(
                db, runtime.catalogs, Actor(rita, None, clock()), ticket,
                version=ticket.version, status="resolved", reason="Анықтама берілді",
            )  # fmt: skip
            # The conversation moved to the question; the last answer is kept with it.
            assert await tx.sessions.reply(citizen.id) == answer
        runtime.outbox.wake()
        # Just after choosing the language (the main menu, no draft): the question comes
        # with the answer, in the same message, its options numbered.
        (sent,) = await bot.api.wait_for_sent("whatsapp:" + NUMBER, 1)
        assert "AB-7101 өтінішіңіз қаралып, шешілді" in sent["Body"]
        assert "Мәселеңіз шешілді ме? (AB-7101 өтініші)" in sent["Body"]
        assert "2. ❌ Жоқ, шешілмеді" in sent["Body"]
        await chat.send("2")
        assert "1-ден (өте нашар) 5-ке" in chat.text
        await chat.send("1")
        await chat.send("Анықтама қате толтырылған")
        assert "қайта ашылып" in chat.text
        async with runtime.storage.read() as tx:
            reopened = await tx.tickets.by_reference("AB-7101")
        assert reopened.status == "in_review"
