# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""Campaign pages in the staff console, in-process: an operator composes (count, preview,
missing-language rule, image, test send), schedules now / at a time / weekly, pauses,
resumes and cancels, and watches progress; reviewers and investigators cannot."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime

import httpx
import pytest

from bot.campaigns.model import Audience, Campaign
from bot.domain import Channel
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.campaign_support import FOOTERS, TEXTS, FakeSender, add_subscribers
from tests.staff import Console, console, csrf_of
from tests.test_attachments import photo_with_exif

NEW = "/staff/campaigns/new"


def compose_form(**changes: str | list[str]) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {
        "title": "Mobile reception bus",
        "text_kk": TEXTS["kk"],
        "text_ru": TEXTS["ru"],
        "text_en": TEXTS["en"],
        "fallback": "refuse",
        "when": "now",
        "op": "count",
    }
    form.update(changes)
    return form


async def post(web: httpx.AsyncClient, url: str, data: dict, **kw: object) -> httpx.Response:
    """Post with the CSRF token of the page the form lives on (the compose page); "send
    now" asks first, and is confirmed here with the count it showed, as an operator would
    (test_send_now_asks_first checks the question)."""
    page = await web.get(NEW)
    data = {"csrf_token": csrf_of(page.text), **data}
    answer = await web.post(url, data=data, **kw)
    asked = re.search(r'name="confirm" value="(\d+)"', answer.text)
    if answer.status_code == 200 and asked and "confirm" not in data:
        answer = await web.post(url, data={**data, "confirm": asked.group(1)}, **kw)
    return answer


def text_of(response: httpx.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


async def stored(c: Console, campaign_id: int) -> Campaign:
    async with c.app.state.campaigns.campaigns.read() as store:
        campaign = await store.get(campaign_id)
    assert campaign is not None
    return campaign


async def created_id(response: httpx.Response) -> int:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/staff/campaigns/(\d+)\?done=created", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


async def operator(c: Console, locale: str = "en") -> httpx.AsyncClient:
    await c.add_user("olga", "operator", locale=locale)
    return await c.login("olga")


async def test_the_count_before_sending_matches_the_subscribers(settings, clock):
    async with console(settings, clock) as c:
        await add_subscribers(c.runtime, 30, region="almaty_city")
        await add_subscribers(c.runtime, 30, region="astana", start=100)
        await add_subscribers(c.runtime, 6, start=200)  # no region chosen: hears about all
        web = await operator(c)
        page = await web.get(NEW)
        assert page.status_code == 200
        assert "66 subscribers will receive it" in text_of(page)
        narrowed = await post(
            web,
            NEW,
            compose_form(region="almaty_city", language="ru", channel="telegram"),
        )
        assert narrowed.status_code == 200
        async with c.app.state.campaigns.campaigns.read() as store:
            counts = await store.count_audience(
                Audience(("almaty_city",), ("ru",), ("telegram",)), default_locale="kk"
            )
        assert counts == [("telegram", "ru", 6)]
        assert "6 subscribers will receive it" in text_of(narrowed)
        # The narrowing survives the re-render: the form is still filled in.
        assert re.search(r'value="almaty_city" selected', narrowed.text)
        assert re.search(r'name="language" value="ru" checked', narrowed.text)
        assert TEXTS["kk"] in narrowed.text


async def test_preview_shows_each_language_with_its_unsubscribe_footer(settings, clock):
    async with console(settings, clock) as c:
        web = await operator(c)
        page = await post(web, NEW, compose_form(op="preview"))
        shown = text_of(page)
        for lang in ("kk", "ru", "en"):
            assert f"{TEXTS[lang]}\n\n{FOOTERS[lang]}" in shown


@pytest.mark.parametrize(
    ("fallback", "status", "kk_gets"),
    [("refuse", 400, None), ("skip", 303, None), ("ru", 303, "ru")],
)
async def test_the_missing_language_rule(settings, clock, fallback, status, kk_gets):
    async with console(settings, clock) as c:
        await add_subscribers(c.runtime, 9, channels=("telegram",))  # 3 in each language
        web = await operator(c)
        form = compose_form(text_kk="", fallback=fallback)
        preview = text_of(await post(web, NEW, {**form, "op": "preview"}))
        if kk_gets is None:
            assert "No text for this language: these citizens will not receive" in preview
        else:  # Kazakh speakers read the Russian text with the Kazakh footer
            assert f"{TEXTS['ru']}\n\n{FOOTERS['kk']}" in preview
        if fallback == "skip":
            assert "of them 3 will be skipped" in preview
        created = await post(web, NEW, {**form, "op": "create"})
        assert created.status_code == status
        if status == 400:
            assert "Not every language has a text" in text_of(created)
            async with c.app.state.campaigns.campaigns.read() as store:
                assert await store.recent() == []
            return
        campaign = await stored(c, await created_id(created))
        assert campaign.fallback == fallback
        assert set(campaign.texts) == {"ru", "en"}


async def test_fallback_to_a_language_without_text_is_refused(settings, clock):
    async with console(settings, clock) as c:
        web = await operator(c)
        page = await post(
            web, NEW, compose_form(text_kk="", text_en="", fallback="en", op="create")
        )
        assert page.status_code == 400
        assert "The language you chose to send instead has no text" in text_of(page)


async def test_schedule_at_a_time_in_almaty_and_weekly(settings, clock):
    async with console(settings, clock) as c:
        web = await operator(c)
        at = await post(web, NEW, compose_form(when="at", at="2026-03-17T10:00", op="create"))
        campaign = await stored(c, await created_id(at))
        assert campaign.next_run_at == datetime(2026, 3, 17, 5, 0, tzinfo=UTC)
        assert campaign.status == "scheduled"
        page = await web.get(at.headers["location"])
        assert "Not started yet" in text_of(page)
        assert "The campaign is saved and scheduled" in text_of(page)

        weekly = await post(
            web, NEW, compose_form(when="weekly", day=["thu", "mon"], time="10:00", op="create")
        )
        campaign = await stored(c, await created_id(weekly))
        assert campaign.recurring == "0 10 * * mon,thu"
        # Monday 16 March 10:00 in Almaty has passed (the clock says 11:00): next is Thursday.
        assert campaign.next_run_at == datetime(2026, 3, 19, 5, 0, tzinfo=UTC)
        page = text_of(await web.get(f"/staff/campaigns/{campaign.id}"))
        assert "Every week: Mon, Thu at 10:00 (Almaty time)" in page

        past = await post(web, NEW, compose_form(when="at", at="2026-03-16T09:00", op="create"))
        assert past.status_code == 400
        assert "That time has passed" in text_of(past)
        no_day = await post(web, NEW, compose_form(when="weekly", op="create"))
        assert no_day.status_code == 400
        assert "Tick at least one day" in text_of(no_day)


async def test_pause_resume_cancel_are_audited(settings, clock):
    async with console(settings, clock) as c:
        web = await operator(c)
        created = await post(web, NEW, compose_form(when="at", at="2026-03-20T09:30", op="create"))
        campaign_id = await created_id(created)
        page = f"/staff/campaigns/{campaign_id}"
        for action, status in (
            ("pause", "paused"),
            ("resume", "scheduled"),
            ("cancel", "cancelled"),
        ):
            done = await post(web, f"{page}/{action}", {})
            assert done.status_code == 303
            assert (await stored(c, campaign_id)).status == status
        again = await post(web, f"{page}/cancel", {}, follow_redirects=True)
        assert "Nothing changed" in text_of(again)
        assert "campaign.console" not in again.text
        target = f"campaign:{campaign_id}"
        assert [a for a in await c.audit_actions() if a[2] == target] == [
            ("olga", "campaign.create", target),
            ("olga", "campaign.pause", target),
            ("olga", "campaign.resume", target),
            ("olga", "campaign.cancel", target),
        ]


@pytest.mark.parametrize("role", ["reviewer", "investigator"])
async def test_reviewers_and_investigators_cannot(settings, clock, role):
    async with console(settings, clock) as c:
        web = await operator(c)
        campaign_id = await created_id(await post(web, NEW, compose_form(op="create")))
        await c.add_user("rita", role)
        other = await c.login("rita")
        for url in ("/staff/campaigns", NEW, f"/staff/campaigns/{campaign_id}"):
            assert (await other.get(url)).status_code == 403
        token = csrf_of((await other.get("/staff/stats")).text)
        refused = await other.post(NEW, data={**compose_form(op="create"), "csrf_token": token})
        assert refused.status_code == 403
        cancel = await other.post(
            f"/staff/campaigns/{campaign_id}/cancel", data={"csrf_token": token}
        )
        assert cancel.status_code == 403
        assert (await stored(c, campaign_id)).status != "cancelled"
        assert "/staff/campaigns" not in (await other.get("/staff/stats")).text


async def test_admins_can(settings, clock):
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        web = await c.login("ada")
        assert (await web.get("/staff/campaigns")).status_code == 200
        assert (await post(web, NEW, compose_form(op="create"))).status_code == 303


async def test_csrf_is_enforced(settings, clock):
    async with console(settings, clock) as c:
        web = await operator(c)
        forged = await web.post(NEW, data=compose_form(op="create"))
        assert forged.status_code == 403
        wrong = await web.post(NEW, data={**compose_form(op="create"), "csrf_token": "0" * 64})
        assert wrong.status_code == 403
        async with c.app.state.campaigns.campaigns.read() as store:
            assert await store.recent() == []
        campaign_id = await created_id(await post(web, NEW, compose_form(op="create")))
        assert (await web.post(f"/staff/campaigns/{campaign_id}/pause")).status_code == 403
        test = await web.post(
            f"/staff/campaigns/{campaign_id}/test", data={"test_chat": "1", "test_lang": "ru"}
        )
        assert test.status_code == 403


async def _until(condition, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_progress_page_shows_live_counts_and_the_final_report(settings, clock):
    async with console(settings, clock) as c:
        await add_subscribers(c.runtime, 12, channels=("telegram",))
        web = await operator(c)
        # No Telegram sender yet: the rows wait, and the page says so while refreshing itself.
        campaign_id = await created_id(
            await post(web, NEW, compose_form(channel="telegram", op="create"))
        )
        page = await web.get(f"/staff/campaigns/{campaign_id}")
        assert 'id="progress" data-refresh=' in page.text
        stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", page.text))
        assert stats["Waiting"] == "12"
        assert stats["Sent"] == "0"
        assert stats["Time left"] == "—"
        listing = await web.get("/staff/campaigns")
        assert "Mobile reception bus" in listing.text
        assert 'data-refresh="3"' in listing.text
        assert "sending" in text_of(listing)

        telegram = FakeSender(Channel.TELEGRAM)
        telegram.blocked.add("700001")
        c.runtime.outbox.add_sender(telegram)
        c.app.state.campaigns.engine.wake()

        async def finished() -> bool:
            return (await stored(c, campaign_id)).status == "done"

        await _until(finished)
        page = await web.get(f"/staff/campaigns/{campaign_id}")
        stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", page.text))
        assert (stats["Waiting"], stats["Sent"], stats["Failed"], stats["Skipped"]) == (
            "0",
            "11",
            "1",
            "0",
        )
        assert "data-refresh" not in page.text
        shown = text_of(page)
        assert "Final report by channel and language" in shown
        cells = r"<tr><td>Telegram</td><td>([^<]+)</td>\s*((?:<td class=\"num\">\d+</td>)+)"
        rows = {lang: re.findall(r"\d+", nums) for lang, nums in re.findall(cells, page.text)}
        # waiting, sent, failed, skipped, unknown, cancelled: one line per language
        assert rows == {
            "Қазақша": ["0", "4", "0", "0", "0", "0"],
            "Русский": ["0", "3", "1", "0", "0", "0"],
            "English": ["0", "4", "0", "0", "0", "0"],
        }
        assert "blocked the bot; now unsubscribed" in shown
        assert sum(len(v) for v in telegram.sent.values()) == 11


async def test_a_test_send_reaches_a_whatsapp_user_by_their_bsuid(settings, clock):
    """An operator who hides their number behind a WhatsApp username (issue 16)."""
    bsuid = "KZ.1502576394655843"
    async with console(settings, clock) as c:
        whatsapp = FakeSender(Channel.WHATSAPP)
        c.runtime.outbox.add_sender(whatsapp)
        web = await operator(c)
        form = compose_form(op="test", test_channel="whatsapp", test_chat=bsuid, test_lang="ru")
        sent = await post(web, NEW, form)
        assert sent.status_code == 200, text_of(sent)
        assert whatsapp.texts(bsuid) == [f"{TEXTS['ru']}\n\n{FOOTERS['ru']}"]
        bad = await post(web, NEW, {**form, "test_chat": "KZ-1502576394655843"})
        assert bad.status_code == 400
        assert "or the user ID (BSUID)" in text_of(bad)


async def test_a_test_send_reaches_the_operators_own_chat(settings, clock):
    async with console(settings, clock) as c:
        telegram = FakeSender(Channel.TELEGRAM)
        c.runtime.outbox.add_sender(telegram)
        web = await operator(c)
        form = compose_form(op="test", test_channel="telegram", test_chat="555", test_lang="kk")
        sent = await post(web, NEW, form)
        assert sent.status_code == 200
        assert "The test message has been sent" in text_of(sent)
        assert telegram.texts("555") == [f"{TEXTS['kk']}\n\n{FOOTERS['kk']}"]

        bad = await post(web, NEW, {**form, "test_chat": "me"})
        assert bad.status_code == 400
        assert "A Telegram chat id is a number" in text_of(bad)
        off = await post(
            web, NEW, {**form, "test_channel": "whatsapp", "test_chat": "+77011234567"}
        )
        assert off.status_code == 400
        assert "This channel is not switched on" in text_of(off)

        campaign_id = await created_id(await post(web, NEW, compose_form(op="create")))
        again = await post(
            web,
            f"/staff/campaigns/{campaign_id}/test",
            {"test_channel": "telegram", "test_chat": "555", "test_lang": "en"},
        )
        assert again.status_code == 303
        assert telegram.texts("555")[-1] == f"{TEXTS['en']}\n\n{FOOTERS['en']}"
        sends = [a for a in await c.audit_actions() if a[1] == "campaign.test_send"]
        assert sends == [
            ("olga", "campaign.test_send", None),  # refused tries are not sends
            ("olga", "campaign.test_send", f"campaign:{campaign_id}"),
        ]


async def test_an_image_is_uploaded_previewed_and_kept(settings, clock):
    async with console(settings, clock) as c:
        web = await operator(c)
        token = csrf_of((await web.get(NEW)).text)
        page = await web.post(
            NEW,
            data={**compose_form(op="preview"), "csrf_token": token},
            files={"image": ("bus.jpg", photo_with_exif(), "image/jpeg")},
        )
        assert page.status_code == 200
        image_token = re.search(r'name="image_token" value="([^"]+)"', page.text)
        assert image_token
        served = await web.get("/staff/campaigns/image", params={"token": image_token.group(1)})
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        assert b"GPSLatitude" not in served.content  # cleaned like every attachment
        forged = image_token.group(1)[:-4] + "0000"
        assert (
            await web.get("/staff/campaigns/image", params={"token": forged})
        ).status_code == 404
        created = await web.post(
            NEW,
            data={
                **compose_form(op="create", confirm="0"),  # nobody subscribed yet
                "csrf_token": token,
                "image_token": image_token.group(1),
            },
        )
        campaign = await stored(c, await created_id(created))
        assert campaign.image is not None and campaign.image.content_type == "image/jpeg"
        # A token the server did not sign is ignored.
        other = await web.post(
            NEW,
            data={
                **compose_form(op="create", confirm="0"),
                "csrf_token": token,
                "image_token": forged,
            },
        )
        assert (await stored(c, await created_id(other))).image is None


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_every_page_reads_in_the_staff_language(settings, clock, lang):
    async with console(settings, clock) as c:
        await add_subscribers(c.runtime, 6, channels=("telegram",))
        web = await operator(c, locale=lang)
        pages = [
            await web.get("/staff/campaigns"),
            await post(web, NEW, compose_form(text_kk="", fallback="skip", op="preview")),
            await post(web, NEW, compose_form(text_kk="", op="create")),
            await post(web, NEW, compose_form(when="weekly", day="mon", op="create")),
        ]
        campaign_id = int(pages[-1].headers["location"].split("/")[-1].split("?")[0])
        pages.append(await web.get(f"/staff/campaigns/{campaign_id}"))
        pages.append(await web.get("/staff/campaigns"))
        for page in pages:
            if page.status_code == 303:
                continue
            assert f'<html lang="{lang}">' in page.text
            assert "campaign.console." not in page.text
            assert "campaign.status." not in page.text


async def test_an_image_token_with_non_ascii_characters_is_no_image(settings, clock):
    """Found by fuzzing: an image_token whose MAC part is not ASCII made compare_digest
    raise TypeError (500), on the compose form and on the image URL."""
    async with console(settings, clock) as c:
        web = await operator(c)
        token = "blob|image/jpeg|Ω"
        assert (await web.get("/staff/campaigns/image", params={"token": token})).status_code == 404
        sent = await post(web, NEW, compose_form(op="count", image_token=token))
        assert sent.status_code == 200, sent.text


async def test_send_now_asks_first_with_the_audience_count(settings, clock):
    async with console(settings, clock) as c:
        await add_subscribers(c.runtime, 3, region="almaty_city")
        web = await operator(c)
        token = csrf_of((await web.get(NEW)).text)
        form = {"csrf_token": token, **compose_form(op="create")}
        asked = await web.post(NEW, data=form)
        assert asked.status_code == 200
        assert "Send this message now to 3 subscribers?" in text_of(asked)
        assert 'name="confirm" value="3"' in asked.text
        async with c.app.state.campaigns.campaigns.read() as store:
            assert await store.recent() == []  # nothing is sent before the answer
        await add_subscribers(c.runtime, 2, start=50)  # the audience grew meanwhile
        again = await web.post(NEW, data={**form, "confirm": "3"})
        assert "Send this message now to 5 subscribers?" in text_of(again)
        await created_id(await web.post(NEW, data={**form, "confirm": "5"}))
        later = compose_form(when="at", at="2026-03-17T10:00", op="create")
        await created_id(await web.post(NEW, data={"csrf_token": token, **later}))


async def test_a_paid_broadcast_shows_its_cost_and_asks_first(settings, clock):
    """Issue 17: Telegram's paid broadcast is the operator's explicit choice, off by
    default; before anything is stored the console shows what it costs (the audience's
    Telegram recipients now, times the price a message) and asks, then audits it."""
    async with console(settings, clock) as c:
        await add_subscribers(c.runtime, 8)  # four on Telegram, four on WhatsApp
        web = await operator(c)
        page = await web.get(NEW)
        assert 'name="paid_broadcast"' in page.text
        assert 'name="paid_broadcast" value="1" checked' not in page.text  # off by default
        token = csrf_of(page.text)
        paid = compose_form(op="create", when="at", at="2026-03-17T10:00", paid_broadcast="1")
        asked = await web.post(NEW, data={"csrf_token": token, **paid})
        assert asked.status_code == 200
        words = text_of(asked)
        assert "Confirm the paid broadcast: 4 Telegram messages, up to 0.4 Telegram Stars" in words
        assert 'name="confirm_paid" value="4"' in asked.text
        async with c.app.state.campaigns.campaigns.read() as store:
            assert await store.recent() == []  # nothing is stored before the answer
        campaign_id = await created_id(
            await web.post(NEW, data={"csrf_token": token, **paid, "confirm_paid": "4"})
        )
        assert (await stored(c, campaign_id)).paid_broadcast
        shown = text_of(await web.get(f"/staff/campaigns/{campaign_id}"))
        assert "Yes, up to 1,000 messages a second, paid in Telegram Stars" in shown
        free = compose_form(op="create", when="at", at="2026-03-17T10:00")
        free_id = await created_id(await web.post(NEW, data={"csrf_token": token, **free}))
        assert not (await stored(c, free_id)).paid_broadcast
        async with c.runtime.storage.read() as tx:
            entries, _ = await tx.for_staff.audit.page(limit=100)
        [created] = [e for e in entries if e.target == f"campaign:{campaign_id}"]
        detail = created.detail
        assert detail["paid_broadcast"] is True
        assert (detail["paid_messages"], detail["paid_stars"]) == (4, 0.4)
