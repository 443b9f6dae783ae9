"""A fake Telegram Bot API server on 127.0.0.1, for channel tests and benchmarks.

In a test: ``async with FakeTelegramApi() as api:``, point the library at
``f"{api.url}/bot"`` (base URL) and ``f"{api.url}/file/bot"`` (file URL), queue updates with
``api.push_text(...)`` and friends, then ``await api.wait_for_sent(chat_id, n)``.
As a process (benchmarks): ``python -m tests.fakes.telegram_api --port 0`` prints
``READY http://127.0.0.1:<port>``; a load driver steers it through ``/_fake/...`` (see
``_control_routes``), including a closed-loop "script" that pushes each chat's next update as
soon as the bot answers the previous one, so no third process sits in the measured loop.

Any token is accepted and all tokens share one state. Responses are real Bot API shapes.
Per-request work is kept small on purpose: this server is part of every benchmark figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

Json = dict[str, Any]
MAX_DOWNLOAD = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB through getFile
ANSWER_METHODS = frozenset(
    {"sendmessage", "editmessagetext", "sendphoto", "senddocument", "sendlocation"}
)
_INT_FIELDS = ("chat_id", "message_id", "offset", "limit", "timeout", "user_id", "cache_time")
_JSON_FIELDS = ("reply_markup", "allowed_updates", "commands", "scope", "reply_parameters")
_BOOL_FIELDS = (
    "drop_pending_updates",
    "show_alert",
    "disable_notification",
    "allow_paid_broadcast",
)
_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ApiError(Exception):
    """Raised inside a method handler; becomes ``{"ok": false, ...}`` with this status."""

    def __init__(self, status: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def response(self) -> web.Response:
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.Response(
            status=self.status, body=_dumps(body).encode(), content_type="application/json"
        )


@dataclass(slots=True)
class Call:
    """One Bot API call as the fake received it; ``time`` is ``time.perf_counter()``."""

    method: str
    params: Json
    time: float
    token: str
    status: int = 200


@dataclass(slots=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Answer:
    """A message the bot sent or edited in a chat, with the time the call arrived."""

    time: float
    method: str
    message_id: int
    text: str


@dataclass(slots=True)
class _Fault:
    status: int
    retry_after: int | None
    times: int
    description: str
    after: int = 0  # calls let through before this fault applies


@dataclass(slots=True)
class _ScriptChat:
    chat_id: int
    steps: list[Json]
    lang: str
    next_step: int = 0
    outstanding: deque[int] = field(default_factory=deque)
    pending_answers: int = 0
    pushed_at: list[float] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)
    mismatches: list[Json] = field(default_factory=list)
    extra_answers: int = 0


class FakeTelegramApi:
    """The fake server. Use as ``async with FakeTelegramApi() as api`` or ``start()``/``stop()``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.calls: list[Call] = []
        self.my_commands: dict[tuple[str, str], list[Json]] = {}
        self.webhook: Json = {}
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status or 0)
        # False: getUpdates answers at once even with nothing to give, as a proxy or a
        # misbehaving server might, instead of holding the long poll for its timeout.
        self.hold_polls = True
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()  # a late answer is given at once when the fake stops
        self._reset_state()
        self._methods: dict[str, Callable[[str, Json], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "getfile": self._get_file,
        }
        for name in ("sendchataction", "deletemessage", "setchatmenubutton", "close", "logout"):
            self._methods[name] = self._ok

    def _reset_state(self) -> None:
        self.calls.clear()
        self.my_commands.clear()
        self._updates: deque[Json] = deque()
        # Pushed updates the bot has not yet taken, by id(): polled ones until the bot asks
        # again after receiving them (it stores a batch before it asks), webhook ones until
        # their delivery ends.
        self._untaken: dict[int, Json] = {}
        self._served: list[Json] = []  # the last getUpdates answer
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._pollers: list[asyncio.Future[None]] = []
        self._watchers: list[asyncio.Future[None]] = []
        self._msg_ids: dict[int | str, int] = {}
        self._messages: dict[tuple[int | str, int], Json] = {}
        self._sent: dict[int | str, list[Json]] = {}
        self._answers: dict[int | str, list[Answer]] = {}
        self._last_keyboard: dict[int | str, int] = {}
        self._chats: dict[int | str, Json] = {}
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self._paths: dict[str, bytes] = {}
        self._open_queries: dict[str, int | str] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._slow: dict[str, float] = {}
        self._blocked: set[int | str] = set()
        self._script: dict[int | str, _ScriptChat] = {}
        self._script_left = 0
        self._script_t0 = 0.0
        self._script_done: asyncio.Event | None = None
        self._hook_queues: list[asyncio.Queue[Json]] = []
        self._hook_tasks: list[asyncio.Task[None]] = []

    # ---- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeTelegramApi:
        self._stopping.clear()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        for method, path, handler in self._control_routes():
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._stopping.set()
        self._wake(self._pollers)
        await self._stop_webhook()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegramApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reset(self) -> None:
        """Forget every update, message, call, fault and script (between benchmark runs)."""
        self._wake(self._pollers)
        for task in self._hook_tasks:
            task.cancel()
        self.webhook = {}
        self.webhook_deliveries.clear()
        self._reset_state()

    # ---- updates a test queues -----------------------------------------------------------

    def push_raw(self, update: Json) -> Json:
        """Queue an update as given; ``update_id`` is assigned when missing."""
        if "update_id" not in update:
            update["update_id"] = next(self._update_ids)
        self._untaken[id(update)] = update
        if self.webhook.get("url"):
            chat = _update_chat_id(update)
            queues = self._hook_queues
            queues[hash(chat) % len(queues)].put_nowait(update)
        else:
            self._updates.append(update)
            if self._pollers:
                self._wake(self._pollers)
        return update

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        from_lang: str = "kk",
        user_id: int | None = None,
        reply_to: Json | None = None,
    ) -> Json:
        """`reply_to`: a message the bot sent, which the citizen answers with Telegram's Reply."""
        msg = self._user_message(chat_id, user_id or chat_id, from_lang, text=text)
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push_raw({"message": msg})

    def push_callback(
        self, chat_id: int, data: str, message_id: int | None = None, *, from_lang: str = "kk"
    ) -> Json:
        """A button press on the bot's message (default: its latest one with a keyboard)."""
        if message_id is None:
            message_id = self._last_keyboard.get(chat_id, 0)
        message = self._messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "text": "",
        }
        query_id = str(next(self._query_ids))
        self._open_queries[query_id] = chat_id
        query = {
            "id": query_id,
            "from": _user(chat_id, from_lang),
            "chat_instance": str(chat_id),
            "message": message,
            "data": data,
        }
        return self.push_raw({"callback_query": query})

    def push_photo(
        self, chat_id: int, jpeg: bytes, *, caption: str | None = None, from_lang: str = "kk"
    ) -> Json:
        """A photo in two sizes: a 90-px thumbnail (bytes ``b"thumbnail"``), then the full one."""
        thumb = self._store_file(b"thumbnail", "photos/thumb.jpg")
        full = self._store_file(jpeg, "photos/photo.jpg")
        width, height = _jpeg_size(jpeg)
        sizes = [
            {**thumb, "width": 90, "height": max(1, 90 * height // max(width, 1))},
            {**full, "width": width, "height": height},
        ]
        msg = self._user_message(chat_id, chat_id, from_lang, photo=sizes)
        if caption is not None:
            msg["caption"] = caption
        return self.push_raw({"message": msg})

    def push_document(
        self,
        chat_id: int,
        data: bytes,
        file_name: str,
        mime: str,
        *,
        caption: str | None = None,
        from_lang: str = "kk",
    ) -> Json:
        doc = {**self._store_file(data, f"documents/{file_name}"), "file_name": file_name}
        doc["mime_type"] = mime
        msg = self._user_message(chat_id, chat_id, from_lang, document=doc)
        if caption is not None:
            msg["caption"] = caption
        return self.push_raw({"message": msg})

    def push_voice(self, chat_id: int, ogg: bytes, *, duration: int = 1) -> Json:
        voice = {**self._store_file(ogg, "voice/voice.oga"), "duration": duration}
        voice["mime_type"] = "audio/ogg"
        return self.push_raw({"message": self._user_message(chat_id, chat_id, "kk", voice=voice)})

    def push_video(self, chat_id: int, mp4: bytes, *, duration: int = 1) -> Json:
        video = {**self._store_file(mp4, "videos/video.mp4"), "duration": duration}
        video.update(width=640, height=360, mime_type="video/mp4")
        return self.push_raw({"message": self._user_message(chat_id, chat_id, "kk", video=video)})

    def push_location(self, chat_id: int, latitude: float, longitude: float) -> Json:
        loc = {"latitude": latitude, "longitude": longitude}
        return self.push_raw({"message": self._user_message(chat_id, chat_id, "kk", location=loc)})

    def push_edited_text(self, chat_id: int, message_id: int, text: str) -> Json:
        msg = self._user_message(chat_id, chat_id, "kk", text=text)
        msg["message_id"] = message_id
        msg["edit_date"] = msg["date"]
        return self.push_raw({"edited_message": msg})

    def push_group_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int = 777,
        chat_type: str = "group",
        title: str = "Test group",
        from_lang: str = "kk",
    ) -> Json:
        """A message in a group/supergroup, or a ``channel_post`` when chat_type="channel"."""
        self._chats[chat_id] = {"id": chat_id, "type": chat_type, "title": title}
        if chat_type == "channel":
            msg = self._user_message(chat_id, user_id, from_lang, text=text)
            del msg["from"]
            msg["sender_chat"] = self._chats[chat_id]
            return self.push_raw({"channel_post": msg})
        return self.push_raw(
            {"message": self._user_message(chat_id, user_id, from_lang, text=text)}
        )

    # ---- what the bot did ----------------------------------------------------------------

    def sent_to(self, chat_id: int | str) -> list[Json]:
        """Messages the bot sent to the chat: Message dicts, edits applied, markup as sent."""
        return list(self._sent.get(chat_id, ()))

    def answers(self, chat_id: int | str) -> list[Answer]:
        """Every send or edit addressed to the chat, with arrival times, in order."""
        return list(self._answers.get(chat_id, ()))

    def calls_to(self, method: str) -> list[Call]:
        low = method.lower()
        return [c for c in self.calls if c.method.lower() == low]

    def unanswered_callbacks(self) -> list[str]:
        return list(self._open_queries)

    def commands_for(self, language_code: str = "", scope: str = "default") -> list[Json]:
        return self.my_commands.get((language_code, scope), [])

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id][1]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; re-checked after every call and webhook delivery."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not predicate():
                fut = loop.create_future()
                self._watchers.append(fut)
                await fut

    async def wait_for_sent(
        self, chat_id: int | str, count: int = 1, timeout: float = 5.0
    ) -> list[Json]:
        try:
            await self.wait_for(lambda: len(self._sent.get(chat_id, ())) >= count, timeout)
        except TimeoutError:
            texts = [m.get("text", m.get("caption")) for m in self.sent_to(chat_id)]
            msg = f"chat {chat_id}: expected {count} messages within {timeout}s, got {texts!r}"
            raise TimeoutError(msg) from None
        return self.sent_to(chat_id)

    async def wait_for_call(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        await self.wait_for(lambda: len(self.calls_to(method)) >= count, timeout)
        return self.calls_to(method)

    async def wait_taken(self, timeout: float = 5.0) -> None:
        """Wait until the bot has taken every update pushed so far: asked for more after a
        getUpdates that returned it, or answered (or exhausted) its webhook delivery."""
        try:
            await self.wait_for(lambda: not self._untaken, timeout)
        except TimeoutError:
            ids = [u.get("update_id") for u in self._untaken.values()]
            raise TimeoutError(f"updates not taken within {timeout}s: {ids!r}") from None

    def _taken(self, updates: list[Json]) -> None:
        for update in updates:
            self._untaken.pop(id(update), None)
        if updates:
            self._wake(self._watchers)

    # ---- fault injection -----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 2,
        times: int = 1,
        description: str | None = None,
        after: int = 0,
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``status`` (429 names retry_after);
        ``after`` lets that many calls through first."""
        if description is None:
            description = _DESCRIPTIONS.get(status, "Error")
            if status == 429 and retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
        fault = _Fault(status, retry_after if status == 429 else None, times, description, after)
        self._faults.setdefault(method.lower(), deque()).append(fault)

    def answer_late(self, method: str, seconds: float) -> None:
        """Carry out every ``method`` call at once (the message is sent and counted), but
        answer only ``seconds`` later: a slow Bot API, past the client's read timeout.
        ``seconds=0`` makes it prompt again."""
        if seconds:
            self._slow[method.lower()] = seconds
        else:
            self._slow.pop(method.lower(), None)

    def block_chat(self, chat_id: int | str) -> None:
        """From now on, sending or editing in this chat answers 403 (the user blocked the bot)."""
        self._blocked.add(chat_id)

    # ---- HTTP ----------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        token, method = request.match_info["token"], request.match_info["method"]
        params = await _read_params(request)
        call = Call(method, params, now, token)
        self.calls.append(call)
        low = method.lower()
        try:
            handler = self._methods.get(low)
            if handler is None or ":" not in token:
                raise ApiError(404, "Not Found")
            if self._faults:
                self._inject_fault(low)
            result = await handler(token, params)
        except ApiError as err:
            call.status = err.status
            return err.response()
        finally:
            if self._watchers:
                self._wake(self._watchers)
        if low in ANSWER_METHODS and self._script:
            self._script_answer(params.get("chat_id"), now, result)
        if self._slow and (late := self._slow.get(low)):
            # The work is done; only the answer is late (or comes as the fake stops).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(late):
                    await self._stopping.wait()
        body = _dumps({"ok": True, "result": result}).encode()
        return web.Response(body=body, content_type="application/json")

    async def _handle_download(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.calls.append(Call("download", {"file_path": path}, time.perf_counter(), ""))
        data = self._paths.get(path)
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/octet-stream")

    def _inject_fault(self, method: str) -> None:
        faults = self._faults.get(method)
        if not faults:
            return
        fault = faults[0]
        if fault.after > 0:
            fault.after -= 1
            return
        fault.times -= 1
        if fault.times <= 0:
            faults.popleft()
        params = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
        raise ApiError(fault.status, fault.description, params)

    # ---- methods -------------------------------------------------------------------------

    async def _ok(self, token: str, p: Json) -> bool:
        return True

    async def _get_me(self, token: str, p: Json) -> Json:
        return {
            **_bot_user(token),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, token: str, p: Json) -> list[Json]:
        if self.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset, limit = p.get("offset", 0), min(p.get("limit", 100), 100)
        # The bot asks past an update only once it has stored it; one whose id it cannot
        # read is taken when the bot asks again at all.
        self._taken([u for u in self._served if _confirmed(u, offset)])
        self._served = []
        updates = self._updates
        while updates and updates[0]["update_id"] < offset:
            updates.popleft()
        timeout = p.get("timeout", 0)
        if not updates and timeout > 0 and self.hold_polls:
            fut = asyncio.get_running_loop().create_future()
            self._pollers.append(fut)
            try:
                async with asyncio.timeout(timeout):
                    await fut
            except TimeoutError:
                pass
            finally:
                if fut in self._pollers:
                    self._pollers.remove(fut)
        self._served = list(itertools.islice(updates, limit))
        return list(self._served)

    async def _delete_webhook(self, token: str, p: Json) -> bool:
        await self._stop_webhook()
        self.webhook = {}
        if p.get("drop_pending_updates"):
            self._taken(list(self._updates))
            self._updates.clear()
        return True

    async def _set_webhook(self, token: str, p: Json) -> bool:
        if not p.get("url"):
            return await self._delete_webhook(token, p)
        await self._stop_webhook()
        if p.get("drop_pending_updates"):
            self._taken(list(self._updates))
            self._updates.clear()
        self.webhook = {k: v for k, v in p.items() if not isinstance(v, Upload)}
        workers = int(self.webhook.get("max_connections", 40))
        self._hook_queues = [asyncio.Queue() for _ in range(workers)]
        session = ClientSession(timeout=ClientTimeout(total=15))
        self._hook_tasks = [
            asyncio.create_task(self._deliver(session, q, close=i == 0))
            for i, q in enumerate(self._hook_queues)
        ]
        pending, self._updates = self._updates, deque()
        for update in pending:
            self.push_raw(update)
        return True

    async def _get_webhook_info(self, token: str, p: Json) -> Json:
        pending = len(self._updates) + sum(q.qsize() for q in self._hook_queues)
        info = {"url": self.webhook.get("url", ""), "has_custom_certificate": False}
        info["pending_update_count"] = pending
        for key in ("max_connections", "allowed_updates", "last_error_date", "last_error_message"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    async def _set_my_commands(self, token: str, p: Json) -> bool:
        scope = (p.get("scope") or {}).get("type", "default")
        self.my_commands[(p.get("language_code", ""), scope)] = p["commands"]
        return True

    async def _get_my_commands(self, token: str, p: Json) -> list[Json]:
        scope = (p.get("scope") or {}).get("type", "default")
        return self.my_commands.get((p.get("language_code", ""), scope), [])

    async def _delete_my_commands(self, token: str, p: Json) -> bool:
        scope = (p.get("scope") or {}).get("type", "default")
        self.my_commands.pop((p.get("language_code", ""), scope), None)
        return True

    async def _send_message(self, token: str, p: Json) -> Json:
        text = p.get("text")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._bot_message(token, p, "sendMessage", text=text)

    async def _send_photo(self, token: str, p: Json) -> Json:
        photo = p.get("photo")
        if isinstance(photo, Upload):
            info = self._store_file(photo.data, f"photos/{photo.filename}")
            width, height = _jpeg_size(photo.data)
        elif isinstance(photo, str) and photo:
            info = {"file_id": photo, "file_unique_id": "u" + photo}
            width, height = 640, 480
        else:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        sizes = [{**info, "width": width, "height": height}]
        return self._bot_message(token, p, "sendPhoto", photo=sizes)

    async def _send_document(self, token: str, p: Json) -> Json:
        doc = p.get("document")
        if isinstance(doc, Upload):
            info = self._store_file(doc.data, f"documents/{doc.filename}")
            info.update(file_name=doc.filename, mime_type=doc.content_type)
        elif isinstance(doc, str) and doc:
            info = {"file_id": doc, "file_unique_id": "u" + doc}
        else:
            raise ApiError(400, "Bad Request: there is no document in the request")
        return self._bot_message(token, p, "sendDocument", document=info)

    async def _edit_message_text(self, token: str, p: Json) -> Json | bool:
        if "inline_message_id" in p:
            return True
        msg = self._editable(p)
        markup = p.get("reply_markup")
        if msg.get("text") == p.get("text") and msg.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified")
        msg["text"] = p.get("text")
        msg["edit_date"] = int(time.time())
        self._set_markup(msg, markup)
        self._record_answer(msg["chat"]["id"], "editMessageText", msg)
        return _visible(msg)

    async def _edit_message_reply_markup(self, token: str, p: Json) -> Json | bool:
        if "inline_message_id" in p:
            return True
        msg = self._editable(p)
        if msg.get("reply_markup") == p.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        self._set_markup(msg, p.get("reply_markup"))
        return _visible(msg)

    async def _answer_callback_query(self, token: str, p: Json) -> bool:
        if self._open_queries.pop(str(p.get("callback_query_id")), None) is None:
            raise ApiError(400, "Bad Request: query is too old or query ID is invalid")
        return True

    async def _get_file(self, token: str, p: Json) -> Json:
        file_id = p.get("file_id", "")
        if file_id not in self._files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, data = self._files[file_id]
        if len(data) > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        info = {"file_id": file_id, "file_unique_id": "u" + file_id}
        info.update(file_size=len(data), file_path=path)
        return info

    # ---- helpers -------------------------------------------------------------------------

    def _chat(self, chat_id: int | str) -> Json:
        chat = self._chats.get(chat_id)
        if chat is None:
            if isinstance(chat_id, int) and chat_id > 0:
                chat = {"id": chat_id, "type": "private", "first_name": "Citizen"}
            else:
                chat = {"id": chat_id, "type": "group", "title": "Test group"}
            self._chats[chat_id] = chat
        return chat

    def _next_message_id(self, chat_id: int | str) -> int:
        mid = self._msg_ids.get(chat_id, 0) + 1
        self._msg_ids[chat_id] = mid
        return mid

    def _user_message(self, chat_id: int, user_id: int, lang: str, **content: Any) -> Json:
        return {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": _user(user_id, lang),
            **content,
        }

    def _bot_message(self, token: str, p: Json, method: str, **content: Any) -> Json:
        chat_id = p.get("chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        msg = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": _bot_user(token),
            **content,
        }
        if "caption" in p:
            msg["caption"] = p["caption"]
        self._set_markup(msg, p.get("reply_markup"))
        self._messages[(chat_id, msg["message_id"])] = msg
        self._sent.setdefault(chat_id, []).append(msg)
        self._record_answer(chat_id, method, msg)
        return _visible(msg)

    def _record_answer(self, chat_id: int | str, method: str, msg: Json) -> None:
        text = msg.get("text") or msg.get("caption") or ""
        answer = Answer(time.perf_counter(), method, msg["message_id"], text)
        self._answers.setdefault(chat_id, []).append(answer)

    def _set_markup(self, msg: Json, markup: Any) -> None:
        if not markup:
            msg.pop("reply_markup", None)
            return
        keyboard = markup.get("inline_keyboard")
        if keyboard is not None:
            for row in keyboard:
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(data.encode()) <= 64:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            self._last_keyboard[msg["chat"]["id"]] = msg["message_id"]
        msg["reply_markup"] = markup

    def _editable(self, p: Json) -> Json:
        chat_id = p.get("chat_id")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        msg = self._messages.get((chat_id, p.get("message_id")))  # type: ignore[arg-type]
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return msg

    def _store_file(self, data: bytes, path: str) -> Json:
        n = next(self._file_ids)
        file_id = f"FILE{n:06d}"
        stem, dot, ext = path.rpartition(".")
        unique_path = f"{stem}_{n}.{ext}" if dot else f"{path}_{n}"
        self._files[file_id] = (unique_path, data)
        self._paths[unique_path] = data
        return {"file_id": file_id, "file_unique_id": f"U{n:06d}", "file_size": len(data)}

    @staticmethod
    def _wake(futures: list[asyncio.Future[None]]) -> None:
        for fut in futures:
            if not fut.done():
                fut.set_result(None)
        futures.clear()

    # ---- webhook delivery ----------------------------------------------------------------

    async def _deliver(
        self, session: ClientSession, queue: asyncio.Queue[Json], close: bool
    ) -> None:
        """One delivery lane; a chat always maps to the same lane, so its order is kept."""
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        try:
            while True:
                update = await queue.get()
                try:
                    await self._deliver_one(session, update, headers)
                finally:
                    self._taken([update])
        finally:
            if close:
                await session.close()

    async def _deliver_one(self, session: ClientSession, update: Json, headers: Json) -> None:
        """POST one update until the bot answers 2xx, at most five times."""
        body = _dumps(update).encode()
        for attempt in range(5):
            try:
                async with session.post(self.webhook["url"], data=body, headers=headers) as r:
                    status = r.status
                    await r.read()
            except Exception as exc:  # any failure is a failed delivery
                status, error = 0, f"Connection failed: {exc!r}"
            else:
                error = f"Wrong response from the webhook: {status}"
            self.webhook_deliveries.append((update["update_id"], status))
            self._wake(self._watchers)
            if 200 <= status < 300:
                return
            self.webhook["last_error_date"] = int(time.time())
            self.webhook["last_error_message"] = error
            await asyncio.sleep(0.05 * 2**attempt)

    async def _stop_webhook(self) -> None:
        tasks, self._hook_tasks = self._hook_tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for queue in self._hook_queues:  # lost, as before: no longer waiting to be taken
            while not queue.empty():
                self._taken([queue.get_nowait()])
        self._hook_queues = []

    # ---- closed-loop script (benchmarks) -------------------------------------------------

    def start_script(self, chats: list[Json], window: int = 1) -> None:
        """Run a closed loop: each chat has ``window`` steps in flight; an answer frees the
        next. A step is ``{"text": ...}`` or ``{"callback_data": ...}``, optionally with
        ``"answers": n`` (sends/edits that make up its answer, default 1) and ``"expect"``
        (a substring the last of them must contain). Chats are ``{"chat_id", "steps", "lang"}``.
        """
        self._script = {
            c["chat_id"]: _ScriptChat(c["chat_id"], c["steps"], c.get("lang", "kk")) for c in chats
        }
        self._script_left = sum(len(c.steps) for c in self._script.values())
        self._script_done = asyncio.Event()
        self._script_t0 = time.perf_counter()
        for chat in self._script.values():
            for _ in range(min(window, len(chat.steps))):
                self._script_push(chat)
        if not self._script_left:
            self._script_done.set()

    def _script_push(self, chat: _ScriptChat) -> None:
        step = chat.steps[chat.next_step]
        if not chat.outstanding:
            chat.pending_answers = step.get("answers", 1)
        chat.outstanding.append(chat.next_step)
        chat.next_step += 1
        chat.pushed_at.append(time.perf_counter())
        if "callback_data" in step:
            self.push_callback(chat.chat_id, step["callback_data"], from_lang=chat.lang)
        else:
            self.push_text(chat.chat_id, step["text"], from_lang=chat.lang)

    def _script_answer(self, chat_id: Any, now: float, result: Any) -> None:
        chat = self._script.get(chat_id)
        if chat is None:
            return
        if not chat.outstanding:
            chat.extra_answers += 1
            return
        chat.pending_answers -= 1
        if chat.pending_answers > 0:
            return
        index = chat.outstanding.popleft()
        chat.answered_at.append(now)
        expect = chat.steps[index].get("expect")
        text = ""
        if isinstance(result, dict):
            text = result.get("text") or result.get("caption") or ""
        if expect is not None and expect not in text:
            chat.mismatches.append({"step": index, "expected": expect, "got": text})
        if chat.outstanding:
            chat.pending_answers = chat.steps[chat.outstanding[0]].get("answers", 1)
        if chat.next_step < len(chat.steps):
            self._script_push(chat)
        self._script_left -= 1
        if self._script_left == 0 and self._script_done is not None:
            self._script_done.set()

    def script_results(self) -> Json:
        chats = [
            {
                "chat_id": c.chat_id,
                "pushed_at": [t - self._script_t0 for t in c.pushed_at],
                "answered_at": [t - self._script_t0 for t in c.answered_at],
                "mismatches": c.mismatches,
                "extra_answers": c.extra_answers,
                "steps": len(c.steps),
            }
            for c in self._script.values()
        ]
        return {"left": self._script_left, "chats": chats}

    # ---- control API for a load driver in another process --------------------------------

    def _control_routes(self) -> list[tuple[str, str, Callable[[web.Request], Awaitable[Any]]]]:
        return [
            ("POST", "/_fake/reset", self._ctl_reset),
            ("POST", "/_fake/script", self._ctl_script),
            ("GET", "/_fake/script/wait", self._ctl_script_wait),
            ("GET", "/_fake/script/results", self._ctl_script_results),
            ("GET", "/_fake/stats", self._ctl_stats),
            ("POST", "/_fake/push", self._ctl_push),
            ("POST", "/_fake/fail_next", self._ctl_fail_next),
            ("POST", "/_fake/block_chat", self._ctl_block_chat),
            ("GET", "/_fake/sent", self._ctl_sent),
        ]

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _ctl_script(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.start_script(body["chats"], body.get("window", 1))
        return web.json_response({"ok": True, "total": self._script_left})

    async def _ctl_script_wait(self, request: web.Request) -> web.Response:
        timeout = float(request.query.get("timeout", "10"))
        if self._script_done is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._script_done.wait()
            except TimeoutError:
                pass
        return web.json_response({"done": self._script_left == 0, "left": self._script_left})

    async def _ctl_script_results(self, request: web.Request) -> web.Response:
        return web.json_response(self.script_results())

    async def _ctl_stats(self, request: web.Request) -> web.Response:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.method] = counts.get(call.method, 0) + 1
        body = {"pid": os.getpid(), "calls": counts, "pending_updates": len(self._updates)}
        return web.json_response(body)

    async def _ctl_push(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind = body.pop("kind", "raw")
        pushers: dict[str, Callable[..., Json]] = {
            "raw": lambda update: self.push_raw(update),
            "text": self.push_text,
            "callback": self.push_callback,
            "group_message": self.push_group_message,
            "location": self.push_location,
            "edited_text": self.push_edited_text,
        }
        return web.json_response(pushers[kind](**body))

    async def _ctl_fail_next(self, request: web.Request) -> web.Response:
        self.fail_next(**await request.json())
        return web.json_response({"ok": True})

    async def _ctl_block_chat(self, request: web.Request) -> web.Response:
        self.block_chat((await request.json())["chat_id"])
        return web.json_response({"ok": True})

    async def _ctl_sent(self, request: web.Request) -> web.Response:
        return web.json_response(self.sent_to(int(request.query["chat_id"])))


# ---- module helpers --------------------------------------------------------------------------


async def _read_params(request: web.Request) -> Json:
    """Parameters from the query string and a JSON, urlencoded or multipart body, normalised."""
    params: Json = dict(request.query) if request.query_string else {}
    if request.body_exists:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    value.file.close()
                    params[key] = Upload(value.filename, value.content_type, data)
                else:
                    params[key] = value
    for key in _INT_FIELDS:
        value = params.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                params[key] = int(value)
    for key in _JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str):
            params[key] = json.loads(value)
    for key in _BOOL_FIELDS:
        value = params.get(key)
        if isinstance(value, str):
            params[key] = value.lower() == "true"
    return params


_BOT_USERS: dict[str, Json] = {}


def _bot_user(token: str) -> Json:
    user = _BOT_USERS.get(token)
    if user is None:
        prefix = token.split(":", 1)[0]
        bot_id = int(prefix) if prefix.isdigit() else 1
        user = {"id": bot_id, "is_bot": True, "first_name": "Govbot", "username": "govbot_test_bot"}
        _BOT_USERS[token] = user
    return user


def _user(user_id: int, lang: str) -> Json:
    return {"id": user_id, "is_bot": False, "first_name": "Citizen", "language_code": lang}


def _visible(msg: Json) -> Json:
    """The Message as the Bot API returns it: only inline keyboards appear in reply_markup."""
    markup = msg.get("reply_markup")
    if markup is None or "inline_keyboard" in markup:
        return msg
    return {k: v for k, v in msg.items() if k != "reply_markup"}


def _confirmed(update: Json, offset: Any) -> bool:
    update_id = update.get("update_id")
    if type(update_id) is not int or type(offset) is not int:
        return True
    return update_id < offset


def _update_chat_id(update: Json) -> Any:
    for key in ("message", "edited_message", "channel_post"):
        if key in update:
            return update[key]["chat"]["id"]
    query = update.get("callback_query")
    return query["from"]["id"] if query else None


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's SOF segment; 640x480 when the bytes are not a JPEG."""
    i = 2
    while i + 9 < len(data) and data[:2] == b"\xff\xd8":
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            return int.from_bytes(data[i + 7 : i + 9], "big"), height
        if marker in (0xD8, 0x01, 0xFF) or 0xD0 <= marker <= 0xD7:
            i += 1 if marker == 0xFF else 2
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return 640, 480


# ---- running as a process ----------------------------------------------------------------


class FakeApiProcess:
    """The fake server in a child process: ``with FakeApiProcess() as fake: fake.url``."""

    def __init__(self, port: int = 0) -> None:
        root = Path(__file__).resolve().parents[2]
        cmd = [sys.executable, "-m", "tests.fakes.telegram_api", "--port", str(port)]
        self.proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"fake Telegram API did not start: {line!r}")
        self.url = line.split()[1]
        self.pid = self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> FakeApiProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with FakeTelegramApi(host=host, port=port) as api:
        print(f"READY {api.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API on 127.0.0.1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
