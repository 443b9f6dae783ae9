"""Nothing promised to a citizen is lost when the process dies: `govbot run` in a real
subprocess takes many chats' complaints through the Telegram webhook and the Twilio
webhook while it is killed with SIGKILL at random moments and started again on the same
database file.

The test plays Telegram and Twilio: an update is "delivered" when the webhook answered
200; until then it is posted again (after a restart too), as the platforms do. A Twilio
answer is sometimes thrown away as if lost on the way, and the same MessageSid posted
again. It then checks the promises of docs/ARCHITECTURE.md ("Delivery guarantees"):

- every delivered update got an answer (a message to its chat, by API or in TwiML);
- every filed complaint's reference reached its citizen;
- no complaint exists twice.

GOVBOT_CRASH_RUNS=5 repeats the whole run (the default is one, to keep CI fast).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import sqlite3
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from bot.crypto import generate_key_setting
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.twilio_api import FakeTwilioApi, inbound_params, new_sid
from tests.test_cli import environment, free_port

pytestmark = pytest.mark.slow

TOKEN = "123456:" + "B" * 35
SECRET = "crash-test-secret_0123456789"
SID, AUTH = "AC" + "1" * 32, "e" * 32
FROM = "whatsapp:+77000000001"
PUBLIC = "https://bot.example.kz"
SCRIPT = (
    "/start",
    "English",
    "File a complaint",
    "Conduct of an official",
    "Akimat",
    "Astana",
    "On 10 March I queued for three hours at the centre and was then refused with no reason.",
    "Continue",
    "Skip",
    "Mary O'Brien",
    "Skip",
    "Confirm and send",
)
TELEGRAM_CHATS = 60
WHATSAPP_CHATS = 40
KILLS = 4
LOST_RESPONSES = 0.3  # share of Twilio answers thrown away on the way
ANSWER_WAIT = 60.0


@dataclass
class Figures:
    delivered: int = 0
    reposted: int = 0
    kills: int = 0
    answers: int = 0
    lost_responses: int = 0
    repeated: int = 0  # texts a citizen read twice (at least once allows it)


@dataclass
class Bot:
    """The `govbot run` process, restarted on the same files after each kill."""

    cwd: Path
    env: dict[str, str]
    url: str
    proc: asyncio.subprocess.Process | None = None
    up: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        with (self.cwd / "run.log").open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.cwd, env=self.env,
                stdout=log, stderr=log,
            )  # fmt: skip
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert self.proc.returncode is None, self.log()
                assert time.monotonic() < deadline, "govbot did not start\n" + self.log()
                await asyncio.sleep(0.05)
        self.up.set()

    async def kill(self) -> None:
        self.up.clear()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def log(self) -> str:
        path = self.cwd / "run.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


async def until(check: Callable[[], bool], what: str, timeout: float = ANSWER_WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def post_until_delivered(
    bot: Bot, figures: Figures, post: Callable[[], Awaitable[tuple[int, str]]]
) -> str:
    """Post until the webhook answers 200 (the platform retries until then)."""
    while True:
        await bot.up.wait()
        try:
            status, body = await post()
        except (aiohttp.ClientError, OSError):
            status, body = 0, ""
        if status == 200:
            figures.delivered += 1
            return body
        figures.reposted += 1
        await asyncio.sleep(0.05)


def update_json(update_id: int, chat_id: int, text: str) -> dict[str, object]:
    message: dict[str, object] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "Citizen"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Citizen", "language_code": "en"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


async def telegram_citizen(
    bot: Bot, api: FakeTelegramApi, http: aiohttp.ClientSession, chat_id: int,
    ids: itertools.count[int], figures: Figures,
) -> None:  # fmt: skip
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for text in SCRIPT:
        body = json.dumps(update_json(next(ids), chat_id, text))
        before = len(api.sent_to(chat_id))

        async def post(body: str = body) -> tuple[int, str]:
            async with http.post(
                bot.url + "/webhooks/telegram", data=body, headers=headers
            ) as response:
                return response.status, await response.text()

        await post_until_delivered(bot, figures, post)
        await until(lambda: len(api.sent_to(chat_id)) > before, f"an answer to {text!r}")
        figures.answers += 1


async def whatsapp_citizen(
    bot: Bot, api: FakeTwilioApi, number: str, figures: Figures, rng: random.Random
) -> list[str]:
    """Returns the texts the citizen read in TwiML answers (REST ones are read at the end)."""
    read: list[str] = []
    address = "whatsapp:" + number
    for text in SCRIPT:
        params = inbound_params(
            account_sid=SID, from_=address, to=FROM, body=text, message_sid=new_sid("SM")
        )
        before = len(rest_to(api, address))

        async def post(params: dict[str, str] = params) -> tuple[int, str]:
            return await api.deliver_inbound(
                bot.url + "/webhooks/twilio", params, signed_url=PUBLIC + "/webhooks/twilio"
            )

        answer = await post_until_delivered(bot, figures, post)
        while rng.random() < LOST_RESPONSES:
            # The answer never reached Twilio: it posts the same MessageSid again.
            figures.lost_responses += 1
            answer = await post_until_delivered(bot, figures, post)
        in_twiml = [m.text or "" for m in ET.fromstring(answer).iter("Message")]
        read += in_twiml
        if not in_twiml:
            await until(lambda: len(rest_to(api, address)) > before, f"an answer to {text!r}")
        figures.answers += 1
    return read


def rest_to(api: FakeTwilioApi, address: str) -> list[str]:
    return [m.get("Body", "") for m in api.sent if m.get("To") == address]


async def killer(bot: Bot, figures: Figures, rng: random.Random, total: int) -> None:
    """Kill at random points of the run (by updates delivered), restart at once."""
    points = sorted(rng.sample(range(total // 10, total * 9 // 10), KILLS))
    for point in points:
        await until(lambda point=point: figures.delivered >= point, "the next kill point")
        await bot.kill()
        figures.kills += 1
        await bot.start()


def references_by_chat(db: Path) -> dict[int, list[str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT citizen_id, reference FROM tickets WHERE kind = 'complaint'"
        ).fetchall()
    found: dict[int, list[str]] = {}
    for citizen_id, reference in rows:
        found.setdefault(citizen_id, []).append(reference)
    return found


def telegram_bot(tmp_path: Path, tg: FakeTelegramApi, **extra: str) -> Bot:
    """`govbot run` on its own port and database against the fake Bot API, unpaced."""
    port = free_port()
    env = environment(
        tmp_path,
        DATA_KEY=generate_key_setting(),
        SECRET_KEY="s" * 40,
        PORT=str(port),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=tg.url,
        TELEGRAM_RATE_GLOBAL="0",
        TELEGRAM_RATE_PER_CHAT="0",
        **extra,
    )
    return Bot(tmp_path, env, f"http://127.0.0.1:{port}")


async def one_run(tmp_path: Path, seed: int) -> Figures:
    tmp_path.mkdir(parents=True)
    rng = random.Random(seed)
    figures = Figures()
    async with FakeTelegramApi() as tg, FakeTwilioApi(SID, AUTH) as tw:
        bot = telegram_bot(
            tmp_path,
            tg,
            PUBLIC_URL=PUBLIC,
            TELEGRAM_MODE="webhook",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            TWILIO_ACCOUNT_SID=SID,
            TWILIO_AUTH_TOKEN=AUTH,
            TWILIO_WHATSAPP_FROM=FROM,
            TWILIO_API_URL=tw.url,
            WHATSAPP_RATE="0",
            FLOOD_BURST="1000",
            FLOOD_PER_SECOND="100",
        )
        await bot.start()
        ids = itertools.count(1000)
        numbers = [f"+7701{n:07d}" for n in range(WHATSAPP_CHATS)]
        chat_ids = [700_000 + n for n in range(TELEGRAM_CHATS)]
        try:
            async with aiohttp.ClientSession() as http:
                total = len(SCRIPT) * (TELEGRAM_CHATS + WHATSAPP_CHATS)
                kills = asyncio.create_task(killer(bot, figures, rng, total))
                results = await asyncio.gather(
                    *(telegram_citizen(bot, tg, http, c, ids, figures) for c in chat_ids),
                    *(whatsapp_citizen(bot, tw, n, figures, rng) for n in numbers),
                )
                await kills
        except BaseException:
            print(bot.log())
            raise
        finally:
            await bot.stop()

        # Read once the process has stopped: any late REST copy has arrived (as repeated).
        whatsapp_read = {
            n: [*in_twiml, *rest_to(tw, "whatsapp:" + n)]
            for n, in_twiml in zip(numbers, results[TELEGRAM_CHATS:], strict=True)
        }
        telegram_read = {c: [m.get("text", "") for m in tg.sent_to(c)] for c in chat_ids}

    db = tmp_path / "var" / "govbot.sqlite3"
    tickets = references_by_chat(db)
    # No complaint exists twice: one ticket per citizen, one citizen per chat.
    assert len(tickets) == TELEGRAM_CHATS + WHATSAPP_CHATS, tickets
    assert all(len(refs) == 1 for refs in tickets.values()), tickets
    references = {refs[0] for refs in tickets.values()}
    # Every filed complaint's reference reached its citizen, exactly the one filed.
    for read in [*telegram_read.values(), *whatsapp_read.values()]:
        shown = {ref for ref in references if any(ref in text for text in read)}
        assert len(shown) == 1, read[-3:]
        figures.repeated += len(read) - len(dict.fromkeys(read))
    return figures


async def test_kill_9_loses_no_answer_and_files_no_complaint_twice(tmp_path: Path) -> None:
    runs = int(os.environ.get("GOVBOT_CRASH_RUNS", "1"))
    for run in range(runs):
        figures = await one_run(tmp_path / f"run{run}", seed=run)
        print(f"crash run {run}: {figures}")
        assert figures.kills == KILLS
        assert figures.answers == len(SCRIPT) * (TELEGRAM_CHATS + WHATSAPP_CHATS)


async def test_kill_9_after_getupdates_confirmed_a_batch_loses_none_of_it(
    tmp_path: Path,
) -> None:
    # Polling: the next getUpdates offset tells Telegram that everything before it was
    # delivered. The process is killed the moment that happens, while the batch's files
    # are still downloading: each update must have been written down first.
    from tests.test_exif import tiny_jpeg

    chats = [800_000 + n for n in range(30)]
    async with FakeTelegramApi() as tg:
        for chat_id in chats:
            tg.push_photo(chat_id, tiny_jpeg(), from_lang="ru")
        last = max(u["update_id"] for u in tg._updates)
        tg.answer_late("getFile", 3.0)
        bot = telegram_bot(tmp_path, tg)
        await bot.start()
        try:
            await until(
                lambda: any(
                    call.params.get("offset", 0) > last for call in tg.calls_to("getUpdates")
                ),
                "getUpdates to confirm the batch",
            )
            await bot.kill()
            assert not any(tg.sent_to(chat_id) for chat_id in chats), "answered before the kill"
            tg.answer_late("getFile", 0)
            await bot.start()
            await until(lambda: all(tg.sent_to(chat_id) for chat_id in chats), "every answer")
        except BaseException:
            print(bot.log())
            raise
        finally:
            await bot.stop()
