"""The HTTP client twilio-python's async API runs on: one aiohttp session, a movable root.

TWILIO_API_URL replaces every https://*.twilio.com root the library builds (api,
messaging...), keeping the path, and TWILIO_CONTENT_URL the Content API's, so tests and
benchmarks point the real library at a fake server on 127.0.0.1. Nothing here logs request
parameters: they carry phone numbers and message bodies, which twilio's own clients log
at INFO (see `quiet_twilio_logging`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import yarl
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from bot.errors import ConfigError
from bot.logs import quiet

DEFAULT_API_URL = "https://api.twilio.com"
CONTENT_HOST = "content.twilio.com"

# twilio's sync and async clients log the full query and form at INFO under these names.
TWILIO_LOGGERS = ("twilio.http_client", "twilio.async_http_client")

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A phone number, or a WhatsApp user's BSUID ("KZ.1502576394655843", letters allowed).
_PERSON = re.compile(r"\+?\d{6,}|\b[A-Z]{2}\.[A-Za-z0-9]{4,}")


class MediaRefused(Exception):
    """A MediaUrl (or a redirect from it) that is not Twilio's: nothing was sent there
    with credentials. The message is the host only: the query may carry a signature."""


@dataclass(frozen=True, slots=True)
class DownloadedMedia:
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
        content_root: str | None = None,
    ) -> None:
        super().__init__(log, True, timeout)
        root = urlsplit(api_root)
        if root.scheme not in ("http", "https") or not root.netloc:
            raise ConfigError(f"TWILIO_API_URL must be an http(s) URL, got {api_root!r}")
        self.api_root = api_root.rstrip("/")
        self._root = root
        self._content = urlsplit(content_root) if content_root else None
        self._session = session
        self._owns_session = session is None

    def rewrite(self, url: str) -> str:
        """Move a URL on twilio.com (any product, edge or region) onto `api_root`, and the
        Content API's onto `content_root` when one is given."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        root = self._root
        if host == CONTENT_HOST and self._content is not None:
            root = self._content
        elif self.api_root == DEFAULT_API_URL:
            return url
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        path = root.path.rstrip("/") + parts.path
        return urlunsplit((root.scheme, root.netloc, path, parts.query, ""))

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
        if data and sent_headers.get("Content-Type") == "application/json":
            # twilio's generated models send every optional field as null: left out, so the
            # Content API stores the definition we built and hashed, nothing more.
            body = json.dumps(_without_nulls(data), ensure_ascii=False).encode("utf-8")
        elif data:
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

    def may_authenticate(self, url: str) -> bool:
        """Whether the account's credentials may go to `url`: Twilio's own hosts over https
        (the REST API, regional API edges, its media CDN), or the configured TWILIO_API_URL.

        A MediaUrl arrives in a form anyone can post if the signature check is ever weak,
        and a redirect can point anywhere: neither may carry our Basic auth off Twilio.
        """
        parts = urlsplit(url)
        if "@" in parts.netloc:  # user:password@ in a URL is never Twilio's media
            return False
        if (parts.scheme, parts.netloc) == (self._root.scheme, self._root.netloc):
            return True
        host = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            return False
        twilio = host == "api.twilio.com" or (
            host.startswith("api.") and host.endswith(".twilio.com")
        )
        cdn = host == "twiliocdn.com" or host.endswith(".twiliocdn.com")
        return parts.scheme == "https" and port in (None, 443) and (twilio or cdn)

    async def download(self, url: str, *, auth: tuple[str, str], max_bytes: int) -> DownloadedMedia:
        """Fetch a MediaUrl with the account's Basic auth, reading at most `max_bytes`.

        Raises `MediaRefused` unless the URL is Twilio's (see `may_authenticate`). Twilio
        answers with a redirect to a signed CDN or storage URL; redirects are followed here,
        not by aiohttp, so each hop gets the credentials only if it may, and only https.
        A URL that does not even parse (a bracket, a fullwidth solidus) is refused too.
        """
        try:
            return await self._download(url, auth=auth, max_bytes=max_bytes)
        except ValueError:
            raise MediaRefused("a URL that does not parse") from None

    async def _download(
        self, url: str, *, auth: tuple[str, str], max_bytes: int
    ) -> DownloadedMedia:
        target = self.rewrite(url)
        if not self.may_authenticate(target):
            raise MediaRefused(_not_twilio(target))
        credentials = {"Authorization": aiohttp.encode_basic_auth(*auth)}
        for _ in range(MAX_REDIRECTS + 1):
            async with self._session_now().get(
                yarl.URL(target, encoded=True),
                headers=credentials if self.may_authenticate(target) else {},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                location = response.headers.get("Location")
                if response.status in REDIRECTS and location:
                    target = str(response.url.join(yarl.URL(location, encoded=True)))
                    if urlsplit(target).scheme != "https" and not self.may_authenticate(target):
                        raise MediaRefused(_not_twilio(target))
                    continue
                return await _read(response, max_bytes)
        raise MediaRefused("too many redirects")

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


def _not_twilio(url: str) -> str:
    return f"{urlsplit(url).hostname or '?'} is not a Twilio host"


async def _read(response: aiohttp.ClientResponse, max_bytes: int) -> DownloadedMedia:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            return DownloadedMedia(response.status, response.content_type, b"", too_large=True)
        chunks.append(chunk)
    return DownloadedMedia(response.status, response.content_type, b"".join(chunks))


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


def _without_nulls(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_nulls(item) for item in value]
    return value


def redact(text: str) -> str:
    """Hide anything that looks like a phone number or a BSUID (Lookups puts them in the
    path)."""
    return _PERSON.sub("<redacted>", text)


def quiet_twilio_logging() -> None:
    """Silence twilio's HTTP loggers below WARNING, even if a later config lowers them:
    twilio's clients log every request's form (To, From, Body) at INFO. Idempotent."""
    quiet(TWILIO_LOGGERS)
