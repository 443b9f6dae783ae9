"""Who a WhatsApp citizen is: a phone number in E.164 ("+77011234567") or, since Meta's
usernames (2026), a business-scoped user ID (BSUID: "KZ.1502576394655843", two letters of
the country, a dot, up to 128 letters and digits). Either one is a chat key and goes after
"whatsapp:" in Twilio's From and To; nothing may assume that a WhatsApp key is a number.
"""

from __future__ import annotations

import re

PHONE = re.compile(r"\+[1-9]\d{6,14}")
# A parent BSUID ("KZ.ENT.…", shared across business portfolios) never names a chat here.
BSUID = re.compile(r"[A-Z]{2}\.[A-Za-z0-9]{1,128}")


def is_chat_key(value: str) -> bool:
    """Whether `value` is a WhatsApp user as Twilio names one: a number or a BSUID."""
    return PHONE.fullmatch(value) is not None or BSUID.fullmatch(value) is not None
