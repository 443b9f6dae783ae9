"""Several instances, one bot: each paces at its configured share of the bot-wide rates
(INSTANCES), so together they keep to Telegram's and Twilio's limits."""

from __future__ import annotations

import pytest

from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.pacing import Pacing
from tests.test_pacing import FakeTime


@pytest.mark.parametrize(
    ("channel", "rate"), [("telegram", "telegram_rate_global"), ("whatsapp", "whatsapp_rate")]
)
async def test_two_instances_together_stay_within_the_bot_wide_rate(
    channel: str, rate: str
) -> None:
    time = FakeTime()
    settings = Settings(instances=2).with_overrides(**{rate: 30.0})
    first, second = (Pacing(settings, clock=time, sleep=time.sleep) for _ in range(2))
    sent: list[float] = []

    async def send(pacing: Pacing, chat: int) -> None:
        await pacing[channel].wait(chat, urgent=chat % 3 == 0)
        sent.append(time.now)

    # 600 sends to 600 chats, half through each instance, all asked for at once.
    await time.run(*(send(first if n % 2 else second, n) for n in range(600)))
    assert len(sent) == 600
    # Both instances' bursts (a second's worth of the whole bot's rate between them),
    # then 30 a second together: 570 more take 19 s.
    assert time.now == pytest.approx(19.0)
    for start in range(1, 19):
        window = [t for t in sent if start <= t < start + 1]
        assert len(window) <= 30, (start, len(window))


async def test_per_chat_pacing_is_not_divided() -> None:
    """One chat is answered by one instance at a time: its own rate stays whole."""
    time = FakeTime()
    pacing = Pacing(Settings(instances=4, telegram_rate_per_chat=1.0), clock=time, sleep=time.sleep)
    await time.run(*(pacing.telegram.wait(7, urgent=True) for _ in range(5)))
    assert time.now == pytest.approx(2.0)  # a burst of 3, then one a second


def test_instances_is_a_setting() -> None:
    assert load_settings({"INSTANCES": "3"}, env_file=None).instances == 3
    assert load_settings({}, env_file=None).instances == 1
    with pytest.raises(ConfigError, match="INSTANCES"):
        load_settings({"INSTANCES": "0"}, env_file=None)
