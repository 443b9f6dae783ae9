"""Twilio webhook signatures (X-Twilio-Signature).

Twilio signs the exact URL it requested (our PUBLIC_URL plus the path, never the address
uvicorn sees behind a proxy) followed by every form parameter, sorted by name, repeated
keys included. The HMAC is twilio's own RequestValidator; only the comparison is ours.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlparse

from twilio.request_validator import RequestValidator, add_port, remove_port

SIGNATURE_HEADER = "X-Twilio-Signature"

Params = Mapping[str, str] | Iterable[tuple[str, str]]


class _MultiParams(dict[str, list[str]]):
    """Every value of every key; RequestValidator.get_values asks for `getall` first."""

    def getall(self, key: str) -> list[str]:
        return self[key]


def _collect(params: Params) -> _MultiParams:
    collected = _MultiParams()
    if isinstance(params, Mapping):
        # Starlette's FormData and Django's QueryDict have getlist, aiohttp's MultiDict getall;
        # a plain dict has neither and holds one value per key.
        getlist = getattr(params, "getlist", None) or getattr(params, "getall", None)
        for key in params:
            if key not in collected:
                collected[key] = list(getlist(key)) if getlist else [params[key]]
    else:
        for key, value in params:
            collected.setdefault(key, []).append(value)
    return collected


def validate_request(
    auth_token: str,
    url: str,
    params: Params,
    signature: str | None,
    *,
    algorithm: str | None = None,
) -> bool:
    """True when `signature` is Twilio's signature of `url` and `params` under `auth_token`.

    `params` is the form as received: a multi-dict (Starlette FormData, aiohttp MultiDict),
    a plain mapping, or (key, value) pairs. Like twilio's validator, the URL is tried with
    and without the default port, since Twilio is inconsistent about it.
    """
    if not signature or not auth_token:
        return False
    validator = RequestValidator(auth_token)
    collected = _collect(params)
    parsed = urlparse(url)
    given = signature.encode("utf-8")
    valid = False
    for candidate in {remove_port(parsed), add_port(parsed)}:
        try:
            expected = validator.compute_signature(candidate, collected, algorithm)
        except ValueError:  # an algorithm twilio does not know
            return False
        # compare_digest on bytes: constant time, and no TypeError on non-ASCII input.
        valid |= hmac.compare_digest(expected.encode("utf-8"), given)
    return valid


def public_url(base: str, path: str, query: str = "") -> str:
    """The URL Twilio signed: PUBLIC_URL (which may carry a path prefix) joined to `path`.

    `query` is the raw query string of the request, if any; Twilio signs it too.
    """
    url = base.rstrip("/") + "/" + path.lstrip("/")
    return f"{url}?{query}" if query else url
