"""python-telegram-bot's private names that govbot needs, and nowhere else.

- `RequestParameter` (telegram.request._requestparameter): turns one Bot API parameter,
  an `InputFile` included, into what a public `RequestData` carries. `BotApi` builds its
  requests with it instead of `Bot`'s typed methods, which parse every answer.
- `DefaultValue`, `ODVInput` (telegram._utils): the "not given" marker of a timeout in
  `BaseRequest.do_request`, which our aiohttp transport implements.

PTB may move or change these in any release. `CHECKED` names the versions this module was
checked against; tests/test_ptb_private.py fails on any other, and the Telegram channel
logs a warning at start.
"""

from __future__ import annotations

import telegram
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.request._requestparameter import RequestParameter

__all__ = ["CHECKED", "DefaultValue", "ODVInput", "RequestParameter", "unchecked_version"]

CHECKED = ("22.8",)


def unchecked_version(version: str = telegram.__version__) -> str | None:
    """A message if `version` of python-telegram-bot was not checked here, else None."""
    if version in CHECKED:
        return None
    return (
        f"python-telegram-bot {version} is not one bot/channels/telegram/ptb_private.py was"
        f" checked against ({', '.join(CHECKED)}): check that the private names it imports"
        " still mean the same, then add the version to CHECKED"
    )
