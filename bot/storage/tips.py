"""The corruption-tip store protocol (to be completed by the tip flow's work)."""

from __future__ import annotations

from typing import Protocol


class TipStore(Protocol):
    """Tips are sealed with DATA_KEY; an anonymous tip is stored with no sender at all."""
