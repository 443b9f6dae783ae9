"""The HTTP client twilio-python's async API runs on: one aiohttp session, a movable root.

TWILIO_API_URL replaces every https://*.twilio.com root the library builds (api, content,
messaging...), keeping the path, so tests and benchmarks point the real library at a fake
server on 127.0.0.1. Nothing here logs request parameters: they carry phone numbers and
message bodies, which twilio's own clients log at INFO (see `quiet_twilio_logging`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from bot.errors import ConfigError

DEFAULT_API_URL = "https://api.twilio.com"

# twilio's sync and async clients log the full query and form at INFO under these names.
TWILIO_LOGGERS = ("twilio.http_client", "twilio.async_http_client")

log = logging.getLogger(__name__)

_LONG_NUMBER = re.compile(r"\+?\d{6,}")


@dataclass(frozen=True, slots=True)
class Media:
    """A downloaded MediaUrl. `too_large` means the body exceeded the limit and was dropped."""

    status: int
    content_type: str
    content: bytes
    too_large: bool = False


class TwilioHttp(AsyncHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """`twilio.rest.Client(sid, token, http_client=TwilioHttp(api_root))`.

    The session is opened on first use (aiohttp needs a running loop) and closed by
    `close()` or `async with`. Transport errors (aiohttp.ClientError, TimeoutError) pass
    through unchanged, as with twilio's own client; the adapter translates them.
    """

    def __init__(
        self,
        api_root: str = DEFAULT_API_URL,
        *,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(log, True, timeout)
        root = urlsplit(api_root)
        if root.scheme not in ("http", "https") or not root.netloc:
            raise ConfigError(f"TWILIO_API_URL must be an http(s) URL, got {api_root!r}")
        self.api_root = api_root.rstrip("/")
        self._root = root
        self._session = session
        self._owns_session = session is None

    def rewrite(self, url: str) -> str:
        """Move a URL on twilio.com (any product, edge or region) onto `api_root`."""
        if self.api_root == DEFAULT_API_URL:
            return url
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        path = self._root.path.rstrip("/") + parts.path
        return urlunsplit((self._root.scheme, self._root.netloc, path, parts.query, ""))

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def request(
        self,
        method: str,
        uri: str,
        params: Mapping[str, object] | None = None,
        data: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # twilio's signature
        allow_redirects: bool = False,
    ) -> Response:
        """Called by twilio's Version.*_async methods; returns twilio's Response."""
        url = self.rewrite(uri)
        sent_headers = dict(headers or {})
        if auth:
            # aiohttp.BasicAuth is deprecated in aiohttp 3.14 (and twilio's own client uses it).
            sent_headers["Authorization"] = aiohttp.encode_basic_auth(*auth)
        body: bytes | None = None
        if data:
            body = urlencode(_pairs(data)).encode("utf-8")
            sent_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        started = time.perf_counter()
        async with self._session_now().request(
            method.upper(),
            url,
            params=_pairs(params) if params else None,
            data=body,
            headers=sent_headers,
            timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
            status = response.status
            response_headers = dict(response.headers)
        log.debug(
            "twilio %s %s -> %d in %.1f ms",
            method.upper(),
            redact(urlsplit(uri).path),
            status,
            (time.perf_counter() - started) * 1000,
        )
        return Response(status, text, response_headers)

    async def download(self, url: str, *, auth: tuple[str, str], max_bytes: int) -> Media:
        """Fetch a MediaUrl with the account's Basic auth, reading at most `max_bytes`.

        Twilio answers media URLs with a redirect to its CDN; aiohttp follows it and drops
        the Authorization header when the host changes.
        """
        async with self._session_now().get(
            self.rewrite(url),
            headers={"Authorization": aiohttp.encode_basic_auth(*auth)},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            allow_redirects=True,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    return Media(response.status, response.content_type, b"", too_large=True)
                chunks.append(chunk)
            return Media(response.status, response.content_type, b"".join(chunks))

    # twilio's base class logs params and headers here; these are never called by our
    # request(), and stay silent if a caller reaches for them anyway.
    def log_request(self, kwargs: object) -> None:
        return None

    def log_response(self, status_code: int, response: object) -> None:
        return None

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> TwilioHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _pairs(values: Mapping[str, object]) -> list[tuple[str, str]]:
    """Form pairs as Twilio expects them: lists (MediaUrl, PersistentAction) repeat the key."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            pairs.extend((key, str(item)) for item in value if item is not None)
        else:
            pairs.append((key, str(value)))
    return pairs


def redact(text: str) -> str:
    """Hide anything that looks like a phone number (Lookups puts them in the path)."""
    return _LONG_NUMBER.sub("<redacted>", text)


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


_QUIET = _BelowWarning()


def quiet_twilio_logging() -> None:
    """Silence twilio's HTTP loggers below WARNING, even if a later config lowers them.

    Idempotent; call once at start-up. twilio's clients log every request's form (To, From,
    Body) at INFO, which must never reach our logs.
    """
    for name in TWILIO_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
