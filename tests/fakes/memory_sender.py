"""A sender that keeps what it "sends" in memory, for tests that read what went out."""

from __future__ import annotations

from bot.domain import Channel
from bot.outbound import Delivery, Outgoing
from bot.storage.records import Citizen


class MemorySender:
    """Answers every delivery as sent and records (chat key, message)."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.sent: list[tuple[str, Outgoing]] = []

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        self.sent.append((citizen.chat_key, outgoing))
        return Delivery()
