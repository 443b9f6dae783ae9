"""Twilio webhook signatures (X-Twilio-Signature).

Twilio signs the exact URL it requested (our PUBLIC_URL plus the path, never the address
uvicorn sees behind a proxy) followed by every form parameter, sorted by name, repeated
keys included. Checking it is twilio's own `RequestValidator.validate`; here we only hand
it every value of every key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from twilio.request_validator import RequestValidator

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
    a plain mapping, or (key, value) pairs. twilio's `RequestValidator.validate` tries the
    URL with and without the default port (Twilio is inconsistent about it) and compares
    in constant time.
    """
    if not signature or not auth_token:
        return False
    # A multi-dict, never a str: a str would make validate check a bodySHA256 from the URL.
    collected = _collect(params)
    return bool(RequestValidator(auth_token).validate(url, collected, signature, algorithm))


def public_url(base: str, path: str, query: str = "") -> str:
    """The URL Twilio signed: PUBLIC_URL (which may carry a path prefix) joined to `path`.

    `query` is the raw query string of the request, if any; Twilio signs it too.
    """
    url = base.rstrip("/") + "/" + path.lstrip("/")
    return f"{url}?{query}" if query else url
