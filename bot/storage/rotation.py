"""What `govbot keys rotate` (bot/rotation.py) needs of a backend: every table that holds
blobs sealed with DATA_KEY, counted and re-sealed under the current key a batch of rows at
a time, in key order, so a run can stop anywhere and a later run goes on from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Batch:
    examined: int  # rows read
    rotated: int  # rows rewritten under the current key
    failed: int  # rows that did not open (unknown key, tampered) or whose new hash clashed
    last: Any  # key of the last row read: the next batch starts after it; None when done


class RotationStore(Protocol):
    @property
    def version(self) -> int:
        """The key version everything is re-sealed under (DATA_KEY's first)."""
        ...

    def tables(self) -> tuple[str, ...]:
        """The tables to rotate, in the order they must go."""
        ...

    async def count(self, name: str) -> int: ...
    async def left(self, name: str) -> int:
        """Rows with a blob still under another key than the current one."""
        ...

    async def receipts(self) -> int:
        """Tips whose receipt is kept as a keyed hash (which no rotation can redo)."""
        ...

    async def batch(self, name: str, *, after: Any, limit: int) -> Batch:
        """Re-seal up to `limit` rows whose key comes after `after` (None: from the start)."""
        ...
