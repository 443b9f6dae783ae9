"""The bounded set of recent keys forgets the oldest first."""

from bot.recent import RecentKeys
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)


def test_recent_keys_forget_the_oldest_first() -> None:
    recent = RecentKeys(3)
    for key in "abcd":
        recent.add(key)
    assert "a" not in recent
    assert all(key in recent for key in "bcd")
    recent.add("b")  # seen again: now the newest
    recent.add("e")
    assert "c" not in recent and "b" in recent
    assert len(recent) == 3
