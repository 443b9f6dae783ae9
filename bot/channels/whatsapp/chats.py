"""What the webhook remembers between a citizen's messages, so that it need not read the
citizen from storage around every step: their id, language and last message time.

Keyed by a keyed hash of the chat key (no phone numbers in memory beyond the request),
bounded, and only ever a hint: an entry may be stale if another process served the chat,
which errs towards an extra (harmless) release of held messages, never a missed one,
because the remembered last-message time can only be older than the stored one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain import Reply
from bot.i18n import Catalogs

# The menu's confirmations of a language choice: the turn that shows one of them is in
# the language just chosen.
_LANGUAGE_CONFIRMATIONS = ("language.set", "menu.welcome")


@dataclass(slots=True)
class Known:
    citizen_id: int
    locale: str | None
    last_inbound_at: datetime | None


class KnownChats:
    def __init__(self, catalogs: Catalogs, *, limit: int = 100_000) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, Known] = OrderedDict()
        self._confirmations = {
            t.gettext(msgid): t.lang for t in catalogs.all() for msgid in _LANGUAGE_CONFIRMATIONS
        }

    def get(self, key: str) -> Known | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Known) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def chosen_language(self, replies: Sequence[Reply]) -> str | None:
        """The language this turn confirmed the citizen chose, if it did."""
        for reply in replies:
            lang = self._confirmations.get(reply.text)
            if lang is not None:
                return lang
        return None
