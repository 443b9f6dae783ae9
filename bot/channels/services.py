"""What a messenger adapter may use of the running bot, built by the composition root
(bot/app.py): the adapters get these parts, not the whole `Runtime`, so what a channel
depends on is written in one place and a test can see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.attachments import AttachmentStore
from bot.chat_turns import ChatTurns
from bot.dispatcher import Dispatcher
from bot.i18n import Catalogs
from bot.jobs import Jobs
from bot.leases import Leases
from bot.media_links import MediaLinks
from bot.metrics import Metrics
from bot.outbound import OutboxWorker
from bot.pacing import Pacing
from bot.replies import ReplyQueue
from bot.storage import Storage


@dataclass(frozen=True, slots=True)
class ChannelServices:
    dispatcher: Dispatcher  # every inbound message goes through it
    storage: Storage  # the inbox, dead letters, held messages, delivery reports
    outbox: OutboxWorker  # the channel's Sender is added to it
    replies: ReplyQueue  # a step's replies, written before they are sent
    catalogs: Catalogs  # texts the adapter sends itself (commands menu, notes)
    attachments: AttachmentStore  # files citizens send, and files sent to them
    metrics: Metrics
    pacing: Pacing  # the channel's sending budget, shared with the campaign engine
    media_links: MediaLinks  # URLs a messenger fetches files staff send by
    leases: Leases  # work only one instance may do (Telegram long polling)
    jobs: Jobs  # the runtime's periodic work
    # Several instances on one database: a chat's updates take turns through it; None
    # when this process is the only one (SQLite).
    turns: ChatTurns | None

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.dispatcher.clock
