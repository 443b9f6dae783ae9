"""What an approved WhatsApp template declares, asked of Twilio's Content API
(GET /v1/Content/{sid}): the numbered placeholders ({{1}}, {{2}}…) a campaign must fill
(bot/campaigns/variables.py). The running channel asks through its sender;
`govbot campaign create`, which runs no channel, through a client of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from bot.channels.whatsapp.twilio_http import TwilioHttp
from bot.config import Settings

log = logging.getLogger(__name__)


async def declared(client: Client, sid: str) -> frozenset[str] | None:
    """The placeholders template `sid` declares; None when Twilio cannot say (an unknown
    sid, a refusal, no answer), so the campaign is checked by what it says alone."""
    try:
        content = await client.content.v1.contents(sid).fetch_async()
    except (TwilioException, aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning("twilio content fetch failed: %s", type(exc).__name__)
        return None
    found = content.variables
    return frozenset(str(n) for n in found) if isinstance(found, dict) else None


async def declared_by_settings(
    settings: Settings, sids: Iterable[str]
) -> dict[str, frozenset[str]]:
    """`declared` for each sid, where Twilio is configured and the Content API is on."""
    account, token = settings.twilio_account_sid, settings.twilio_auth_token
    if not (account and token) or settings.twilio_content_url is None:
        return {}
    async with TwilioHttp(
        settings.twilio_api_url, content_root=settings.twilio_content_url
    ) as http:
        client = Client(account, token, http_client=http)
        found = {sid: await declared(client, sid) for sid in dict.fromkeys(sids)}
    return {sid: numbers for sid, numbers in found.items() if numbers is not None}
