"""python-telegram-bot's HTTP transport on aiohttp, and keeping the bot token out of logs.

PTB's default transport (httpx) answered ~275 messages a second on our benchmark where an
aiohttp transport answered ~3000: `AiohttpRequest` is that transport. aiohttp errors become
PTB's `NetworkError` / `TimedOut` here, as `HTTPXRequest` maps httpx's, so PTB's own status
handling (RetryAfter, Forbidden, ...) applies unchanged. A failure known to happen before
any byte of the request left (no connection, no pool slot) is `NotSent`, so the sender can
tell "not sent, try again" from "may have arrived". Bot API URLs carry the token, hence
`TokenRedactingFilter`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import quote

from aiohttp import (
    ClientConnectorError,
    ClientError,
    ClientSession,
    ClientTimeout,
    ConnectionTimeoutError,
    FormData,
    TCPConnector,
)
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot import safejson

from .ptb_private import DefaultValue, ODVInput

__all__ = [
    "AiohttpRequest",
    "NotSent",
    "TokenRedactingFilter",
    "install_token_redaction",
    "redact_token",
]

_JSON = {"Content-Type": "application/json"}
_TOKEN_IN_URL = re.compile(r"/bot[^/\s'\"]+/")
_POOL_TIMEOUT = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* "
    "sent to Telegram. Consider adjusting the connection pool size or the pool timeout."
)


class NotSent(NetworkError):
    """The request never left: no connection (refused, DNS, connect timeout) or no pool
    slot. Safe to send again; every other NetworkError may have reached Telegram."""


class SlotTimedOut(TimedOut, NotSent):
    """Every pooled connection was busy for `pool_timeout`: PTB's TimedOut, and NotSent."""


class AiohttpRequest(BaseRequest):
    """A `telegram.request.BaseRequest` on one pooled, keep-alive `aiohttp.ClientSession`.

    The timeouts mean what they mean for `HTTPXRequest`. aiohttp has no write timeout of its
    own, so the write timeout bounds the whole exchange together with the connect and read
    timeouts (``total = connect + write + read``); the read timeout only starts once the body
    is sent. ``pool_timeout`` bounds the wait for one of ``connection_pool_size`` slots.
    Pass ``session`` to share a session you own; it is then neither created nor closed here.
    """

    __slots__ = (
        "_connect_timeout",
        "_keepalive_timeout",
        "_media_write_timeout",
        "_owns_session",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_slots",
        "_timeouts",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        *,
        keepalive_timeout: float = 30.0,
        session: ClientSession | None = None,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._keepalive_timeout = keepalive_timeout
        self._session = session
        self._owns_session = session is None
        self._slots = asyncio.Semaphore(connection_pool_size)
        self._timeouts: dict[tuple[float | None, ...], ClientTimeout] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._owns_session and (self._session is None or self._session.closed):
            connector = TCPConnector(
                limit=self._pool_size, keepalive_timeout=self._keepalive_timeout
            )
            self._session = ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                timeout=ClientTimeout(total=None),
            )

    async def shutdown(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")

        has_files = request_data is not None and request_data.contains_files
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write_timeout if has_files else self._write_timeout
        timeout = self._timeout(connect_timeout, write_timeout, read_timeout)

        data: bytes | FormData | None = None
        headers = None
        if request_data is not None:
            if has_files:
                data = _multipart(request_data)
            else:
                # A JSON body: one json.dumps instead of PTB's per-field JSON plus
                # urlencode, which cost more CPU than the HTTP call itself.
                data = json.dumps(request_data.parameters, ensure_ascii=False).encode()
                headers = _JSON

        await self._acquire_slot(pool_timeout)
        try:
            async with session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except ConnectionTimeoutError as err:  # a TimeoutError too, so it goes first
            raise NotSent(f"aiohttp.{type(err).__name__}: connect timed out") from err
        except TimeoutError as err:  # aiohttp's timeouts subclass it too, so this goes first
            raise TimedOut from err
        except ClientConnectorError as err:  # before ClientError: nothing was written
            message = _TOKEN_IN_URL.sub("/bot<token>/", f"{err}")
            raise NotSent(f"aiohttp.{type(err).__name__}: {message}") from err
        except ClientError as err:
            message = _TOKEN_IN_URL.sub("/bot<token>/", f"{err}")
            raise NetworkError(f"aiohttp.{type(err).__name__}: {message}") from err
        finally:
            self._slots.release()

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """PTB's documented hook, with the depth cap: deep JSON from the server is an
        "Invalid server response" like any bad JSON, not a RecursionError that would end
        the polling task. And unlike PTB's own, it does not log the body (updates)."""
        try:
            parsed = safejson.loads(payload)  # bytes: no decode and re-encode per answer
        except ValueError as err:
            raise TelegramError("Invalid server response") from err
        if not isinstance(parsed, dict):
            raise TelegramError("Invalid server response")
        return parsed

    async def _acquire_slot(self, pool_timeout: float | None) -> None:
        if pool_timeout is None or not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(pool_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise SlotTimedOut(_POOL_TIMEOUT) from None

    def _timeout(
        self, connect: float | None, write: float | None, read: float | None
    ) -> ClientTimeout:
        key = (connect, write, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            total = None if None in key else (connect or 0) + (write or 0) + (read or 0)
            timeout = ClientTimeout(total=total, sock_connect=connect, sock_read=read)
            self._timeouts[key] = timeout
        return timeout


def _multipart(request_data: RequestData) -> FormData:
    form = FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form


def redact_token(text: str, token: str) -> str:
    """``text`` with the token, plain or URL-quoted, replaced by ``<token>``."""
    if not token:
        return text
    text = text.replace(token, "<token>")
    quoted = quote(token, safe="")
    return text.replace(quoted, "<token>") if quoted != token else text


class TokenRedactingFilter(logging.Filter):
    """Rewrites a record's message, exception text and stack so the token never shows.

    Installed on handlers (not loggers), because a logger's filters do not see records that
    propagate up from child loggers such as ``httpx`` or ``telegram.ext``.
    """

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the formatter's problem to report
            return True
        redacted = redact_token(message, self.token)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_token(record.exc_text, self.token)
        if record.stack_info:
            record.stack_info = redact_token(record.stack_info, self.token)
        return True


def install_token_redaction(token: str) -> TokenRedactingFilter:
    """Add a `TokenRedactingFilter` to every root handler (and to logging's last resort).

    Call it after logging is configured: handlers added later are not covered.
    """
    token_filter = TokenRedactingFilter(token)
    handlers = list(logging.getLogger().handlers)
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(
            isinstance(f, TokenRedactingFilter) and f.token == token for f in handler.filters
        ):
            handler.addFilter(token_filter)
    return token_filter
