# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""After a complaint is closed the citizen is asked whether the problem was solved and to
rate the answer; "not solved" within 10 working days (Kazakhstan's holidays counted)
reopens the ticket with the comment, for the same assignee."""

from __future__ import annotations

import asyncio
import re

from bot.domain import Channel
from bot.flow import lasting_flows, sensitive_flows
from bot.maintenance import Maintenance
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.chat import Chat
from tests.staff import console, post_form

URL = "/staff/tickets/AB-7001"


async def closed_and_asked(c, chat: Chat, *, status: str = "resolved") -> None:
    """Rita, the assignee, closes AB-7001; the citizen's chat shows the delivered message."""
    rita = await c.add_user("rita", "reviewer")
    await c.complaint("AB-7001", locale="kk", region="almaty_city")
    async with c.runtime.storage.transaction() as tx:
        await tx.conn.execute(
            "UPDATE tickets SET assignee_id = ?, status = 'in_review' WHERE reference = ?",
            (rita, "AB-7001"),
        )
    web = await c.login("rita")
    done = await post_form(web, URL, URL + "/status", {"status": status, "reason": "Шешілді"})
    assert done.status_code == 303
    for _ in range(300):
        if c.sender.sent:
            break
        await asyncio.sleep(0.01)
    ((_chat, outgoing),) = c.sender.sent
    chat.replies = list(outgoing.replies)


async def state(c) -> tuple:
    async with c.runtime.storage.read() as tx:
        ticket = await tx.tickets.by_reference("AB-7001")
        survey = await tx.satisfaction.latest(ticket.id)
        thread = await tx.tickets.messages(ticket.id, include_internal=True)
        rows = await tx.conn.execute_fetchall(
            "SELECT action FROM ticket_events WHERE ticket_id = ? ORDER BY id", (ticket.id,)
        )
    return ticket, survey, [m.body for m in thread if m.author == "citizen"], [r[0] for r in rows]


def citizen_chat(c) -> Chat:
    return Chat(c.runtime.dispatcher, chat_key="citizen-1", channel=Channel.CONSOLE, lang="kk")


async def test_a_closing_asks_and_yes_with_a_rating_is_stored(settings, clock):
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await closed_and_asked(c, chat)
        assert "шешілді" in chat.replies[0].text
        assert chat.replies[1].text == "Мәселеңіз шешілді ме? (AB-7001 өтініші)"
        await chat.press("Иә")
        assert "1-ден (өте нашар) 5-ке" in chat.text
        await chat.press("5")
        assert "Жауабыңызға рақмет" in chat.text
        ticket, survey, _, _ = await state(c)
        assert ticket.status == "resolved"
        assert (survey.solved, survey.rating, survey.reopened) == (True, 5, False)


async def test_not_solved_hours_later_reopens_with_the_comment_for_the_same_assignee(
    settings, clock
):
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await closed_and_asked(c, chat)
        before, _, _, _ = await state(c)
        clock.advance(hours=5)  # the conversation waits; it is not closed as idle
        await chat.send("2")  # typed: option 2 is "No"
        await chat.press("2")
        assert "AB-7001 өтініші қайта ашылып" in chat.text
        await chat.send("Анықтама әлі берілген жоқ")
        assert "қайта ашылып, қызметкерге қайтарылды" in chat.text
        ticket, survey, said, events = await state(c)
        assert ticket.status == "in_review"
        assert ticket.assignee_id == before.assignee_id is not None
        assert said[-1] == "Анықтама әлі берілген жоқ"
        assert events[-1] == "reopened"
        assert (survey.solved, survey.rating, survey.reopened) == (False, 2, True)
        web = await c.login("rita")
        page = (await web.get(URL)).text
        assert "Reopened by the citizen" in page and "answer rated 2 of 5" in page
        assert "said the problem was not solved: reopened" in page
        # The assignee's queue marks it until staff act on it again.
        mine = (await web.get("/staff/inbox?assignee=me")).text
        assert 'class="badge reopened"' in mine
        replied = await post_form(web, URL, URL + "/reply", {"text": "Анықтама жіберілді"})
        assert replied.status_code == 303
        assert 'class="badge reopened"' not in (await web.get("/staff/inbox?assignee=me")).text


async def test_the_ten_working_days_skip_nauryz(settings, clock):
    """Closed on Monday 16 March 2026: 23-25 March are days off, so the tenth working day
    is Thursday 2 April (without the holidays it would be Monday 30 March)."""
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await closed_and_asked(c, chat, status="rejected")
        clock.advance(days=17)  # 2 April, 10:00 in Almaty
        await chat.press("Жоқ")
        await chat.press("1")
        assert "қайта ашылып, оны қараған қызметкерге" in chat.text


async def test_after_ten_working_days_no_just_records(settings, clock):
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await closed_and_asked(c, chat)
        clock.advance(days=18)  # 3 April
        await chat.press("Жоқ")
        await chat.press("3")
        assert "10 жұмыс күнінен астам" in chat.text
        ticket, survey, _, _ = await state(c)
        assert ticket.status == "resolved"
        assert (survey.solved, survey.rating, survey.reopened) == (False, 3, False)


async def test_a_citizen_in_the_middle_of_a_complaint_is_not_interrupted(settings, clock):
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await c.citizen("citizen-1", "kk")
        await chat.send("/start")
        await chat.press("Шағым")
        await chat.press(chat.buttons[0].label)  # a draft is under way
        c.sender.sent.clear()
        await closed_and_asked(c, Chat(c.runtime.dispatcher))
        (_, outgoing) = c.sender.sent[0]
        assert len(outgoing.replies) == 1  # the answer alone, no question
        async with c.runtime.storage.read() as tx:
            ticket = await tx.tickets.by_reference("AB-7001")
            assert await tx.satisfaction.latest(ticket.id) is None


async def test_the_question_outlives_the_daily_clean_up_of_idle_conversations(settings, clock):
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await closed_and_asked(c, chat)
        clock.advance(days=3)
        maintenance = Maintenance(
            c.runtime.storage,
            c.runtime.settings,
            sensitive=sensitive_flows(c.runtime.flows),
            lasting=lasting_flows(c.runtime.flows),
            clock=clock,
        )
        await maintenance.round()
        await chat.press("Жоқ")
        assert "1-ден (өте нашар) 5-ке" in chat.text
        clock.advance(days=31)
        await maintenance.round()
        async with c.runtime.storage.read() as tx:
            citizen = await tx.citizens.find("console", "citizen-1")
            assert await tx.sessions.load(citizen.id) is None


async def test_statistics_show_solved_rating_and_reopen_rates_per_group(settings, clock):
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await closed_and_asked(c, chat)
        await chat.press("Жоқ")
        await chat.press("2")
        await chat.send("Анықтама әлі берілген жоқ")
        await c.add_user("admin", "admin")
        web = await c.login("admin")
        page = await web.get("/staff/stats")
        assert page.status_code == 200
        html = page.text
        assert "Satisfaction by staff member" in html and "<svg" in html
        # rita: one closing asked and answered, 0 % solved, rated 2, reopened 100 %.
        assert re.search(
            r"<td>rita</td><td>1</td><td>1</td><td>0.0</td><td>2.00</td><td>100.0</td>", html
        )
        row = r"<td>{}</td><td>1</td><td>1</td><td>0.0</td><td>2.00</td><td>100.0</td>"
        assert re.search(row.format("Almaty city"), html)


async def test_feedback_follow_ups_are_not_asked(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        await c.complaint("AB-7002", kind="feedback")
        web = await c.login("rita")
        url = "/staff/tickets/AB-7002"
        done = await post_form(web, url, url + "/status", {"status": "resolved", "reason": "OK"})
        assert done.status_code == 303
        for _ in range(300):
            if c.sender.sent:
                break
            await asyncio.sleep(0.01)
        ((_chat, outgoing),) = c.sender.sent
        assert len(outgoing.replies) == 1


async def test_an_unanswered_question_does_not_swallow_an_answer_to_another_ticket(settings, clock):
    """Found by an outside review: the question's conversation took buttons only, so the
    answer to another ticket waiting for the citizen got "choose an option" for days."""
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await closed_and_asked(c, chat)
        await c.complaint("AB-7002", locale="kk", region="almaty_city")
        async with c.runtime.storage.transaction() as tx:
            await tx.conn.execute(
                "UPDATE tickets SET status = 'waiting' WHERE reference = ?", ("AB-7002",)
            )
        await chat.send("Міне, сұраған анықтама нөмірі: 4471")
        assert "AB-7002" in chat.text
        async with c.runtime.storage.read() as tx:
            other = await tx.tickets.by_reference("AB-7002")
            thread = await tx.tickets.messages(other.id, include_internal=False)
        assert [m.body for m in thread] == ["Міне, сұраған анықтама нөмірі: 4471"]
        assert other.status == "in_review"


async def test_a_comment_long_after_the_rating_does_not_reopen(settings, clock):
    """Found by an outside review: "no" and a rating on day 1, the comment 60 days later
    still reopened the ticket; the 10 working days are checked again."""
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await closed_and_asked(c, chat)
        await chat.send("2")
        await chat.press("1")
        clock.advance(days=60)
        await chat.send("Әлі шешілген жоқ")
        ticket, survey, comments, events = await state(c)
        assert ticket.status == "resolved" and not survey.reopened and "reopened" not in events
        assert comments == ["Әлі шешілген жоқ"]  # it still reaches staff


async def test_a_second_closing_does_not_take_the_place_of_a_comment_being_written(settings, clock):
    """Found by an outside review: a citizen about to write the "not solved" comment on one
    complaint lost that step when staff closed another one (the second question replaced
    the conversation), so the first ticket never reopened. Past its first question the
    conversation holds the citizen's answer and is not replaced."""
    async with console(settings, clock) as c:
        chat = citizen_chat(c)
        await closed_and_asked(c, chat)
        await c.complaint("AB-7002", locale="kk", chat_key="citizen-1")
        await chat.press("Жоқ")
        await chat.press("2")
        assert "AB-7001 өтініші қайта ашылып" in chat.text  # the comment is asked for
        clock.advance(minutes=3)
        web = await c.login("rita")
        url = "/staff/tickets/AB-7002"
        done = await post_form(web, url, url + "/status", {"status": "resolved", "reason": "Иә"})
        assert done.status_code == 303
        await chat.send("Анықтама әлі берілген жоқ")
        assert "қайта ашылып, қызметкерге қайтарылды" in chat.text
        ticket, survey, said, _ = await state(c)
        assert ticket.status == "in_review" and survey.reopened
        assert said[-1] == "Анықтама әлі берілген жоқ"
