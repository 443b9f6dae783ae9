"""Load generator for the WhatsApp webhook: signed Twilio-style requests from many citizens.

Each simulated citizen (whatsapp:+7 70x ...) walks a scripted list of message bodies, one
request at a time (its next message waits for the answer to the previous one). Two modes:

  max   C citizens in flight at once, closed loop: the most requests a second the target takes
  rate  R requests a second, open loop: latency counts from the scheduled send time, so a
        stalled server shows up in p99 instead of slowing the generator down

    python -m benchmarks.whatsapp_load --url http://127.0.0.1:8090/webhooks/twilio \\
        --public-url https://govbot.example.kz --auth-token T --mode rate --rate 200

Prints one row (requests/s, p50, p99, errors); --json prints the same as JSON. Run it in
its own process so it does not share an event loop with the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from twilio.request_validator import RequestValidator

from bot.channels.whatsapp.signature import SIGNATURE_HEADER, public_url
from tests.fakes.twilio_api import inbound_params, new_sid

Script = Callable[[int, int], str]  # (citizen index, step) -> message body

# Real menu steps in the three languages: first contact and the language choice, then a
# loop: open "complaint" by its number, pick the first category, back to the menu with
# "0"/the menu word, ask for help, open "rate a service", back to the menu.
FIRST_CONTACT = (("Сәлеметсіз бе", "Қазақша"), ("Здравствуйте", "Русский"), ("Hello", "English"))
MENU_LOOP = (
    ("1", "1", "0", "көмек", "2", "мәзір"),
    ("1", "1", "меню", "помощь", "2", "0"),
    ("1", "1", "menu", "help", "2", "0"),
)


def menu_walk(citizen: int, step: int) -> str:
    lang = citizen % len(FIRST_CONTACT)
    if step < 2:
        return FIRST_CONTACT[lang][step]
    loop = MENU_LOOP[lang]
    return loop[(step - 2) % len(loop)]


def same_text(citizen: int, step: int) -> str:
    return "1"


SCRIPTS: dict[str, Script] = {"menu": menu_walk, "same": same_text}


def citizen_number(index: int) -> str:
    """+7 70x xxx xx xx: Kazakh mobile prefixes 701..708, unique per index."""
    return f"whatsapp:+770{1 + index % 8}{index:07d}"


@dataclass
class LoadConfig:
    url: str  # where to send, e.g. http://127.0.0.1:8090/webhooks/twilio
    public_url: str  # PUBLIC_URL the target validates signatures against
    auth_token: str
    account_sid: str = "AC" + "0" * 32
    to: str = "whatsapp:+77010000000"  # the bot's WhatsApp number
    citizens: int = 200
    mode: str = "max"  # "max" or "rate"
    concurrency: int = 32
    rate: float = 200.0
    duration: float = 10.0
    warmup: float = 1.0
    timeout: float = 15.0  # Twilio's own webhook limit


@dataclass
class LoadResult:
    label: str
    mode: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_cpu_ms: float = 0.0  # the server's CPU per request (filled in by whatsapp_webhook)
    error_samples: list[str] = field(default_factory=list)

    def row(self) -> str:
        return (
            f"{self.label:<16} {self.mode:<10} {self.requests:>8} {self.rps:>9.1f} "
            f"{self.p50_ms:>8.1f} {self.p99_ms:>8.1f} {self.errors:>7} {self.server_cpu_ms:>7.3f}"
        )


HEADER = (
    f"{'target':<16} {'mode':<10} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
    f"{'errors':>7} {'CPU ms':>7}"
)


class _Citizens:
    """Builds each citizen's next signed request; keeps every citizen's position."""

    def __init__(self, config: LoadConfig, script: Script) -> None:
        parts = urlsplit(config.url)
        self.signed_url = public_url(config.public_url, parts.path, parts.query)
        self.validator = RequestValidator(config.auth_token)
        self.config = config
        self.script = script
        self.steps = [0] * config.citizens
        self.locks = [asyncio.Lock() for _ in range(config.citizens)]

    def next_request(self, citizen: int) -> tuple[bytes, dict[str, str]]:
        step = self.steps[citizen]
        self.steps[citizen] = step + 1
        params = inbound_params(
            account_sid=self.config.account_sid,
            from_=citizen_number(citizen),
            to=self.config.to,
            body=self.script(citizen, step),
            message_sid=new_sid("SM"),
            profile_name=f"Citizen {citizen}",
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            SIGNATURE_HEADER: self.validator.compute_signature(self.signed_url, params),
            "User-Agent": "TwilioProxy/1.1",
        }
        return urlencode(params).encode(), headers


class _Recorder:
    def __init__(self, measure_from: float) -> None:
        self.measure_from = measure_from
        self.latencies: list[float] = []
        self.errors = 0
        self.samples: list[str] = []

    def record(self, scheduled: float, ok: bool, detail: str) -> None:
        if scheduled < self.measure_from:
            return  # warm-up
        if ok:
            self.latencies.append(time.perf_counter() - scheduled)
        else:
            self.errors += 1
            if len(self.samples) < 5:
                self.samples.append(detail)


async def _send(
    session: aiohttp.ClientSession,
    citizens: _Citizens,
    citizen: int,
    scheduled: float,
    recorder: _Recorder,
) -> None:
    async with citizens.locks[citizen]:
        body, headers = citizens.next_request(citizen)
        try:
            async with session.post(citizens.config.url, data=body, headers=headers) as response:
                text = await response.text()
                ok = response.status == 200 and "<Response" in text
                detail = f"HTTP {response.status}: {text[:80]}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok, detail = False, repr(exc)
        recorder.record(scheduled, ok, detail)


async def run_load(config: LoadConfig, script: Script = menu_walk, label: str = "") -> LoadResult:
    citizens = _Citizens(config, script)
    connector = aiohttp.TCPConnector(limit=0 if config.mode == "rate" else config.concurrency)
    timeout = aiohttp.ClientTimeout(total=config.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        recorder = _Recorder(start + config.warmup)
        end = start + config.warmup + config.duration
        if config.mode == "max":
            await _closed_loop(session, citizens, recorder, end)
        elif config.mode == "rate":
            await _open_loop(session, citizens, recorder, start, end, config.rate)
        else:
            raise ValueError(f"mode must be max or rate, not {config.mode!r}")
        measured = time.perf_counter() - recorder.measure_from
    latencies = sorted(recorder.latencies)
    done = len(latencies) + recorder.errors
    return LoadResult(
        label=label or urlsplit(config.url).netloc,
        mode=f"C={config.concurrency}" if config.mode == "max" else f"{config.rate:g}/s",
        requests=done,
        errors=recorder.errors,
        seconds=round(measured, 2),
        rps=len(latencies) / measured if measured > 0 else 0.0,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        error_samples=recorder.samples,
    )


async def _closed_loop(
    session: aiohttp.ClientSession, citizens: _Citizens, recorder: _Recorder, end: float
) -> None:
    concurrency = citizens.config.concurrency
    total = citizens.config.citizens

    async def worker(lane: int) -> None:
        # Lane k owns citizens k, k+C, k+2C...: each citizen is only ever in one lane.
        own = list(range(lane, total, concurrency)) or [lane % total]
        turn = 0
        while time.perf_counter() < end:
            await _send(session, citizens, own[turn % len(own)], time.perf_counter(), recorder)
            turn += 1

    await asyncio.gather(*(worker(lane) for lane in range(concurrency)))


async def _open_loop(
    session: aiohttp.ClientSession,
    citizens: _Citizens,
    recorder: _Recorder,
    start: float,
    end: float,
    rate: float,
) -> None:
    interval = 1.0 / rate
    tasks: set[asyncio.Task[None]] = set()
    n = 0
    while (scheduled := start + n * interval) < end:
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(
            _send(session, citizens, n % citizens.config.citizens, scheduled, recorder)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description="signed WhatsApp webhook load generator")
    parser.add_argument("--url", required=True, help="webhook URL to send to")
    parser.add_argument("--public-url", default=os.environ.get("PUBLIC_URL"))
    parser.add_argument("--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN"))
    parser.add_argument("--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID"))
    parser.add_argument("--to", default=os.environ.get("TWILIO_WHATSAPP_FROM"))
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--mode", choices=("max", "rate"), default="max")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--script", choices=sorted(SCRIPTS), default="menu")
    parser.add_argument("--label", default="")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if not args.public_url or not args.auth_token:
        parser.error("--public-url and --auth-token (or PUBLIC_URL, TWILIO_AUTH_TOKEN) are needed")
    config = LoadConfig(
        url=args.url,
        public_url=args.public_url,
        auth_token=args.auth_token,
        citizens=args.citizens,
        mode=args.mode,
        concurrency=args.concurrency,
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
    )
    if args.account_sid:
        config.account_sid = args.account_sid
    if args.to:
        config.to = args.to if args.to.startswith("whatsapp:") else "whatsapp:" + args.to
    result = asyncio.run(run_load(config, SCRIPTS[args.script], args.label))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(HEADER)
        print(result.row())
        for sample in result.error_samples:
            print("  error:", sample)


if __name__ == "__main__":
    main()
