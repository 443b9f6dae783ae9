"""python-telegram-bot's private names are used in one module, checked against named
versions: an upgrade fails here, with what to do, before it can fail in production."""

from __future__ import annotations

import telegram

from bot.channels.telegram.ptb_private import CHECKED, unchecked_version


def test_the_installed_python_telegram_bot_was_checked() -> None:
    problem = unchecked_version()
    assert problem is None, problem


def test_an_unchecked_version_is_named_with_what_to_do() -> None:
    problem = unchecked_version("99.0")
    assert problem is not None
    assert "99.0" in problem and "CHECKED" in problem and CHECKED[0] in problem
    assert unchecked_version(telegram.__version__) is None
