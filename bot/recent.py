"""A bounded set of recently seen keys: the cheap, in-memory first line of dedupe.

Webhook retries and repeated updates arrive seconds apart, so remembering the last few
thousand keys answers them before any storage or flood budget is spent. It forgets the
oldest first; whatever it has forgotten, the database's unique keys still catch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class RecentKeys:
    __slots__ = ("_keys", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def discard(self, key: Hashable) -> None:
        self._keys.pop(key, None)

    def add(self, key: Hashable) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
