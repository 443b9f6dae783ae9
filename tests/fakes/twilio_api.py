"""A fake Twilio REST API on 127.0.0.1, for the real twilio library to talk to.

In tests:   async with FakeTwilioApi(sid, token) as api: ... api.url, api.sent_to(...)
As a process (benchmarks):
    python -m tests.fakes.twilio_api --account-sid AC... --auth-token T [--port 0]
        [--callback-base http://127.0.0.1:8080]
prints "READY <url>" and serves until SIGINT/SIGTERM. GET <url>/_fake/sent returns the
recorded messages as JSON (not a Twilio path; no auth).

Serves POST /2010-04-01/Accounts/{sid}/Messages.json with Basic auth and Twilio's
validation errors, hosts media behind the same auth (like inbound MediaUrl), posts signed
status callbacks, and delivers signed inbound webhooks the way Twilio does. A sent message's
MediaUrl is fetched once, after the message is accepted, as Twilio fetches it (`fetched`);
a fetch that fails turns the message "failed" with 11200. The Content API
(POST /v1/Content, GET /v1/Content/{sid}) takes quick-reply and list-picker definitions
with WhatsApp's limits; a message sent with such a ContentSid records what the citizen sees
(`seen`, `options`), so a test can tap an option the way WhatsApp would answer it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import re
import secrets
import signal
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# A WhatsApp user who hides their number is addressed by their business-scoped user ID.
_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{1,128}$")
_CONTENT_SID = re.compile(r"^HX[0-9a-f]{32}$")
_VARIABLE = re.compile(r"\{\{(\w+)\}\}")
QUICK_REPLY = "twilio/quick-reply"
LIST_PICKER = "twilio/list-picker"
# WhatsApp's limits for session messages, as the Content API documents them.
_LIMITS = {"body": 1024, "title": 20, "item": 24, "description": 72, "button": 20, "id": 200}
_MAX_ACTIONS = 10  # a quick-reply resource; a session message shows at most 3
_MAX_SESSION_ACTIONS = 3
_MAX_ITEMS = 10

# Twilio's own codes and wording for errors the adapter must handle.
_DEFAULT_FAULTS = {
    400: (21211, "Invalid 'To' Phone Number"),
    401: (20003, "Authenticate"),
    403: (20003, "Permission Denied"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}
_CODE_MESSAGES = {
    63016: "Failed to send freeform message because you are outside the allowed window. "
    "If you are using WhatsApp, please use a Message Template.",
    63024: "Invalid message recipient",
    21610: "Attempt to send to unsubscribed recipient",
}


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def twilio_error(status: int, code: int, message: str, **headers: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status, headers=headers)


def inbound_params(
    *,
    account_sid: str,
    from_: str,
    to: str,
    body: str = "",
    message_sid: str | None = None,
    profile_name: str = "Citizen",
    media: Sequence[tuple[str, str]] = (),
    location: tuple[float, float, str | None] | None = None,
    tapped: Tapped | None = None,
    external_user_id: str | None = None,
) -> dict[str, str]:
    """The form Twilio posts to the inbound webhook for a WhatsApp message.

    `from_`/`to` are "whatsapp:+7..." (or "whatsapp:KZ.…", a user who hides their number);
    `external_user_id` is the sender's BSUID, which Twilio adds beside a number. `media` is
    (url, content type) pairs; `location` is (latitude, longitude, address or None);
    `tapped` an option of an interactive message (`FakeTwilioApi.option`): its title is the
    Body.
    """
    sid = message_sid or new_sid("SM" if not media else "MM")
    message_type = "location" if location else ("image" if media else "text")
    if tapped is not None:
        message_type, body = ("interactive" if tapped.listed else "button"), tapped.title
    params = {
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "ProfileName": profile_name,
        "MessageType": message_type,
        "SmsSid": sid,
        "WaId": from_.removeprefix("whatsapp:").removeprefix("+"),
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    for i, (url, content_type) in enumerate(media):
        params[f"MediaUrl{i}"] = url
        params[f"MediaContentType{i}"] = content_type
    if location:
        params["Latitude"], params["Longitude"] = str(location[0]), str(location[1])
        if location[2]:
            params["Address"] = location[2]
    if external_user_id is not None:
        params["ExternalUserId"] = external_user_id
    if tapped is not None and tapped.listed:
        params["ListId"], params["ListTitle"] = tapped.id, tapped.title
    elif tapped is not None:
        params["ButtonPayload"], params["ButtonText"] = tapped.id, tapped.title
    return params


@dataclass(frozen=True)
class Tapped:
    """An option of an interactive message as WhatsApp shows it: a quick-reply button, or
    an item of a list picker (`listed`)."""

    id: str
    title: str
    listed: bool = False
    description: str | None = None


@dataclass(frozen=True)
class Fetched:
    """What a fetch of a MediaUrl got (status 0: no connection)."""

    status: int
    content_type: str
    body: bytes


@dataclass
class _Fault:
    status: int
    code: int
    message: str
    retry_after: str | None
    deferred: bool  # accept (201 queued), then fail in the status callback
    after: int = 0  # creations let through before this fault applies


class FakeTwilioApi:
    """A Twilio account's REST API. Every recorded message is a dict of the form fields
    (To, From, Body, ContentSid, ContentVariables, StatusCallback...; MediaUrl a list)
    plus "Sid", "Status" and "ErrorCode"."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_base: str | None = None,
        auto_status: Sequence[str] = (),
    ) -> None:
        """`callback_base` replaces scheme and host of StatusCallback URLs when posting
        (a public https URL is signed, a local one is called). `auto_status`, e.g.
        ("sent", "delivered"), is posted to StatusCallback after each accepted message."""
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.callback_base = callback_base
        self.auto_status = tuple(auto_status)
        self.sent: list[dict[str, Any]] = []
        self.unauthorized = 0
        self.callbacks: list[tuple[str, dict[str, str], int]] = []  # url, form, our status
        self.templates: dict[str, str] = {}
        self.contents: dict[str, dict[str, Any]] = {}  # Content API resources by sid
        self.content_requests = 0  # POST /v1/Content, answered or not
        self.fetched: dict[str, list[Fetched]] = {}  # by message sid: its MediaUrl fetches
        self._host, self._port = host, port
        self._faults: list[_Fault] = []
        self._content_faults: list[int] = []  # HTTP statuses for the next creations
        self._late = 0.0
        self._stopping = asyncio.Event()  # a late answer is given at once when the fake stops
        self._media: dict[str, tuple[bytes, str]] = {}
        self._by_sid: dict[str, dict[str, Any]] = {}
        self._new_message = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> str:
        self._stopping.clear()
        app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_post(base + "/Messages.json", self._create_message)
        app.router.add_get(base + "/Messages/{message}/Media/{media}", self._get_media)
        app.router.add_post("/v1/Content", self._create_content)
        app.router.add_get("/v1/Content/{sid}", self._fetch_content)
        app.router.add_get("/_fake/sent", self._dump_sent)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}"
        self._client = aiohttp.ClientSession()
        return self.url

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client:
            await self._client.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTwilioApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- what tests set up and look at ---------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        code: int | None = None,
        message: str | None = None,
        *,
        times: int = 1,
        retry_after: float | None = None,
        deferred: bool = False,
        after: int = 0,
    ) -> None:
        """The next `times` message creations fail with HTTP `status` and Twilio `code`.

        `deferred=True` is how Twilio reports most WhatsApp failures (63016 outside the
        24-hour window, 63024...): the create succeeds ("queued"), then the message turns
        "failed" with ErrorCode in the status callback. `after` lets that many creations
        through first."""
        default_code, default_message = _DEFAULT_FAULTS.get(status, (status, "Error"))
        code = code or default_code
        message = message or _CODE_MESSAGES.get(code, default_message)
        late = None if retry_after is None else str(retry_after)
        skip = after
        for _ in range(times):
            self._faults.append(_Fault(status, code, message, late, deferred, skip))
            skip = 0

    def fail_content(self, status: int = 500, *, times: int = 1) -> None:
        """The next `times` Content API creations answer HTTP `status` (a 4xx, or 5xx: down)."""
        self._content_faults.extend([status] * times)

    def seen(self, message: dict[str, Any]) -> str:
        """What the citizen sees of a sent message: its text, then each option of an
        interactive one as "[title]" (a list picker's after its button, "≡ Choose")."""
        content = self.contents.get(message.get("ContentSid") or "")
        if content is None:
            return str(message.get("Body") or "")
        lines = [str(message.get("Body") or "")]
        kind, fields = _content_kind(content)
        if kind == LIST_PICKER:
            lines.append("≡ " + _render(fields["button"], message))
        for option in self.options(message):
            lines.append(
                f"[{option.title}]" + (f" {option.description}" if option.description else "")
            )
        return "\n".join(lines)

    def options(self, message: dict[str, Any]) -> list[Tapped]:
        """The options of an interactive message, as the citizen can tap them."""
        content = self.contents.get(message.get("ContentSid") or "")
        if content is None:
            return []
        kind, fields = _content_kind(content)
        if kind == QUICK_REPLY:
            actions = fields["actions"]
            return [
                Tapped(_render(a["id"], message), _render(a["title"], message)) for a in actions
            ]
        if kind == LIST_PICKER:
            return [
                Tapped(
                    _render(i["id"], message),
                    _render(i["item"], message),
                    listed=True,
                    description=_render(i["description"], message) if "description" in i else None,
                )
                for i in fields["items"]
            ]
        return []

    def answer_late(self, seconds: float) -> None:
        """Create every message at once (it is sent and counted) but answer `seconds` later:
        a slow API, past the client's timeout. 0 makes it prompt again."""
        self._late = seconds

    def define_template(self, content_sid: str, text: str, *, declared: bool = False) -> None:
        """Make ContentSid render `text` ({{1}}, {{2}}... from ContentVariables) as Body.

        `declared`: also a Content API resource (GET /v1/Content/{sid} names its variables),
        and a message that leaves one of them unfilled is refused (21656), as Twilio does."""
        self.templates[content_sid] = text
        if declared:
            numbers = sorted(set(_VARIABLE.findall(text)), key=int)
            self.contents[content_sid] = {
                "sid": content_sid,
                "account_sid": self.account_sid,
                "friendly_name": f"campaign_{content_sid[-6:]}",
                "language": "ru",
                "variables": {n: f"sample {n}" for n in numbers},
                "types": {"twilio/text": {"body": text}},
                "url": f"{self.url}/v1/Content/{content_sid}",
                "links": {},
            }

    def sent_to(self, to: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["To"] == to]

    async def wait_for_sent(
        self, to: str, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until `count` messages went to `to`; return them all."""
        async with asyncio.timeout(timeout):
            while len(found := self.sent_to(to)) < count:
                self._new_message.clear()
                await self._new_message.wait()
        return found

    def host_media(self, content: bytes, content_type: str) -> str:
        """A URL like an inbound MediaUrl: Basic auth with the account's credentials."""
        media_sid = new_sid("ME")
        self._media[media_sid] = (content, content_type)
        return (
            f"{self.url}/{API_VERSION}/Accounts/{self.account_sid}"
            f"/Messages/{new_sid('MM')}/Media/{media_sid}"
        )

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    async def deliver_inbound(
        self, webhook_url: str, params: dict[str, str], *, signed_url: str | None = None
    ) -> tuple[int, str]:
        """POST an inbound webhook as Twilio does, signed for `signed_url` (the public URL)
        or `webhook_url`. Build `params` with `inbound_params`. Returns (status, body)."""
        return await self._post_signed(webhook_url, signed_url or webhook_url, params)

    async def send_status(
        self, sid: str, status: str, *, error_code: int | None = None
    ) -> int | None:
        """POST a status callback for message `sid` to its StatusCallback, if it had one.
        Returns the webhook's HTTP status."""
        message = self._by_sid[sid]
        message["Status"] = status
        if error_code is not None:
            message["ErrorCode"] = error_code
        callback = message.get("StatusCallback")
        if not callback:
            return None
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "From": message.get("From", ""),
            "To": message["To"],
            "ApiVersion": API_VERSION,
            "ChannelPrefix": "whatsapp",
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        code, _ = await self._post_signed(self._local(callback), callback, form)
        self.callbacks.append((callback, form, code))
        return code

    async def wait_for_fetched(
        self, message: dict[str, Any], timeout: float = 5.0
    ) -> list[Fetched]:
        """Wait until every MediaUrl of `message` was fetched; what each fetch got."""
        async with asyncio.timeout(timeout):
            while len(self.fetched.get(message["Sid"], ())) < len(message["MediaUrl"]):
                self._new_message.clear()
                await self._new_message.wait()
        return list(self.fetched[message["Sid"]])

    async def fetch(self, url: str) -> Fetched:
        """GET a public URL the way Twilio fetches a MediaUrl (no credentials)."""
        assert self._client is not None, "FakeTwilioApi is not started"
        headers = {"User-Agent": "TwilioProxy/1.1"}
        async with self._client.get(self._local(url), headers=headers) as response:
            body = await response.read()
            return Fetched(response.status, response.headers.get("Content-Type", ""), body)

    def _local(self, url: str) -> str:
        """A public URL of the app at `callback_base` (scheme and host replaced)."""
        if not self.callback_base:
            return url
        base, parts = urlsplit(self.callback_base), urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    async def _fetch_media(self, sid: str) -> None:
        """Twilio fetches a message's media after accepting it; a failed fetch fails it."""
        message = self._by_sid[sid]
        for url in message["MediaUrl"]:
            try:
                got = await self.fetch(url)
            except aiohttp.ClientError:
                got = Fetched(0, "", b"")
            self.fetched.setdefault(sid, []).append(got)
            self._new_message.set()
            if got.status != 200:
                with contextlib.suppress(aiohttp.ClientError):
                    await self.send_status(sid, "failed", error_code=11200)
                return

    # -- HTTP side -----------------------------------------------------------------------

    async def _post_signed(
        self, url: str, signed_url: str, form: dict[str, str]
    ) -> tuple[int, str]:
        assert self._client is not None, "FakeTwilioApi is not started"
        headers = {
            "X-Twilio-Signature": self.sign(signed_url, form),
            "User-Agent": "TwilioProxy/1.1",
        }
        async with self._client.post(url, data=form, headers=headers) as response:
            return response.status, await response.text()

    def _authorized(self, request: web.Request) -> bool:
        expected = aiohttp.encode_basic_auth(self.account_sid, self.auth_token)
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), expected.encode())

    def _check_account(self, request: web.Request) -> web.Response | None:
        if not self._authorized(request):
            self.unauthorized += 1
            return twilio_error(
                401, 20003, "Authenticate", **{"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        if request.match_info["account"] != self.account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    async def _create_message(self, request: web.Request) -> web.Response:
        if refused := self._check_account(request):
            return refused
        form = await request.post()
        fields: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "MediaUrl"}
        fields["MediaUrl"] = [str(v) for v in form.getall("MediaUrl", [])]
        if invalid := _validate(fields, self.templates):
            return invalid
        if fields.get("ContentSid") in self.contents and (
            invalid := _validate_filled(self.contents[fields["ContentSid"]], fields)
        ):
            return invalid
        fault = self._faults.pop(0) if self._faults else None
        if fault and fault.after > 0:
            fault.after -= 1
            self._faults.insert(0, fault)
            fault = None
        if fault and not fault.deferred:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return twilio_error(fault.status, fault.code, fault.message, **extra)
        sid = new_sid("MM" if fields["MediaUrl"] else "SM")
        fields.update(Sid=sid, Status="queued", ErrorCode=None)
        if fields.get("ContentSid") in self.templates:
            fields["Body"] = _render(self.templates[fields["ContentSid"]], fields)
        elif fields.get("ContentSid") in self.contents:
            _, content = _content_kind(self.contents[fields["ContentSid"]])
            fields["Body"] = _render(content["body"], fields)
        self.sent.append(fields)
        self._by_sid[sid] = fields
        self._new_message.set()
        statuses: tuple[tuple[str, int | None], ...] = tuple((s, None) for s in self.auto_status)
        if fault:
            statuses = (("failed", fault.code),)
        if statuses and fields.get("StatusCallback"):
            self._background(self._report(sid, statuses))
        if fields["MediaUrl"] and not fault:
            self._background(self._fetch_media(sid))
        if self._late:
            # The message exists; only the answer is late (or comes as the fake stops).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._late):
                    await self._stopping.wait()
        return web.json_response(self._resource(fields), status=201)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, sid: str, statuses: tuple[tuple[str, int | None], ...]) -> None:
        for status, code in statuses:
            with contextlib.suppress(aiohttp.ClientError):
                await self.send_status(sid, status, error_code=code)

    def _resource(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{fields['Sid']}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": fields.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields.get("From"),
            "messaging_service_sid": fields.get("MessagingServiceSid"),
            "num_media": str(len(fields["MediaUrl"])),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": fields["Sid"],
            "status": "queued",
            "subresource_uris": {"media": uri + "/Media.json"},
            "to": fields["To"],
            "uri": uri + ".json",
        }

    async def _get_media(self, request: web.Request) -> web.Response:
        if refused := self._check_account(request):
            return refused
        hosted = self._media.get(request.match_info["media"])
        if hosted is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return web.Response(body=hosted[0], content_type=hosted[1])

    # -- the Content API -----------------------------------------------------------------

    async def _create_content(self, request: web.Request) -> web.Response:
        self.content_requests += 1
        if not self._authorized(request):
            self.unauthorized += 1
            return twilio_error(401, 20003, "Authenticate")
        if self._content_faults:
            status = self._content_faults.pop(0)
            return twilio_error(status, *_DEFAULT_FAULTS.get(status, (status, "Error")))
        try:
            definition = await request.json()
        except ValueError:
            return twilio_error(400, 20001, "Invalid JSON body")
        if not isinstance(definition, dict) or (problem := _malformed(definition)):
            return twilio_error(400, 20001, problem if isinstance(definition, dict) else "")
        sid = new_sid("HX")
        now = datetime.now(UTC).isoformat()
        self.contents[sid] = {
            **definition,
            "sid": sid,
            "account_sid": self.account_sid,
            "date_created": now,
            "date_updated": now,
            "url": f"{self.url}/v1/Content/{sid}",
            "links": {},
        }
        return web.json_response(self.contents[sid], status=201)

    async def _fetch_content(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            self.unauthorized += 1
            return twilio_error(401, 20003, "Authenticate")
        content = self.contents.get(request.match_info["sid"])
        if content is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(content)

    async def _dump_sent(self, request: web.Request) -> web.Response:
        to = request.query.get("to")
        return web.json_response(self.sent_to(to) if to else self.sent)


def _validate(fields: dict[str, Any], templates: dict[str, str]) -> web.Response | None:
    """Twilio's checks on a new message, with its codes and (number-bearing) wording."""
    to, from_ = fields.get("To", ""), fields.get("From", "")
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not from_ and not fields.get("MessagingServiceSid"):
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    recipient = to.removeprefix("whatsapp:")
    if not _E164.match(recipient) and not (to.startswith("whatsapp:") and _BSUID.match(recipient)):
        return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if from_ and to.startswith("whatsapp:") != from_.startswith("whatsapp:"):
        return twilio_error(
            400, 21910, "Invalid From and To pair. From and To should be of the same channel"
        )
    content_sid = fields.get("ContentSid")
    if not (fields.get("Body") or fields["MediaUrl"] or content_sid):
        return twilio_error(400, 21619, "A text message body or media urls must be specified.")
    if len(fields.get("Body", "")) > 1600:
        return twilio_error(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )
    if content_sid and not (content_sid in templates or _CONTENT_SID.match(content_sid)):
        return twilio_error(400, 21655, "The ContentSid is Invalid.")
    if "ContentVariables" in fields:
        try:
            variables = json.loads(fields["ContentVariables"])
        except ValueError:
            variables = None
        if not isinstance(variables, dict):
            return twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
    return None


def _content_kind(content: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind, fields = next(iter(content["types"].items()))
    return str(kind), fields


def _texts(kind: str, fields: dict[str, Any]) -> list[tuple[str, str]]:
    """(limit name, text) of every field WhatsApp limits, in a definition or filled in."""
    texts = [("body", fields.get("body") or "")]
    if kind == QUICK_REPLY:
        for action in fields.get("actions") or []:
            texts += [("title", action.get("title") or ""), ("id", action.get("id") or "")]
    elif kind == LIST_PICKER:
        texts.append(("button", fields.get("button") or ""))
        for item in fields.get("items") or []:
            texts += [("item", item.get("item") or ""), ("id", item.get("id") or "")]
            texts.append(("description", item.get("description") or ""))
    return texts


def _malformed(definition: dict[str, Any]) -> str | None:
    """Why the Content API would refuse `definition` (None: it would not)."""
    types = definition.get("types")
    if not isinstance(types, dict) or len(types) != 1 or not definition.get("friendly_name"):
        return "friendly_name and exactly one type are required"
    kind, fields = next(iter(types.items()))
    if kind not in (QUICK_REPLY, LIST_PICKER, "twilio/text"):
        return f"unsupported type {kind}"
    if not isinstance(fields, dict) or not fields.get("body"):
        return "body is required"
    if kind == QUICK_REPLY and not 1 <= len(fields.get("actions") or []) <= _MAX_ACTIONS:
        return "quick-reply takes 1 to 10 actions"
    if kind == LIST_PICKER:
        if not 1 <= len(fields.get("items") or []) <= _MAX_ITEMS:
            return "list-picker takes 1 to 10 items"
        if not fields.get("button"):
            return "list-picker needs a button"
    for name, text in _texts(kind, fields):
        if not _VARIABLE.search(text) and len(text) > _LIMITS[name]:
            return f"{name} is longer than {_LIMITS[name]} characters"
    samples = definition.get("variables") or {}
    used = {v for _, text in _texts(kind, fields) for v in _VARIABLE.findall(text)}
    if missing := used - set(samples):
        return f"no sample for variables {sorted(missing)}"
    return None


def _validate_filled(content: dict[str, Any], fields: dict[str, Any]) -> web.Response | None:
    """A message's variables filled into its resource must fit WhatsApp's limits too."""
    kind, definition = _content_kind(content)
    if kind == QUICK_REPLY and len(definition["actions"]) > _MAX_SESSION_ACTIONS:
        return twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
    for name, text in _texts(kind, definition):
        filled = _render(text, fields)
        if (
            _VARIABLE.search(filled)
            or len(filled) > _LIMITS[name]
            or (name != "description" and not filled)
        ):
            return twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
    return None


def _render(template: str, fields: dict[str, Any]) -> str:
    variables = json.loads(fields.get("ContentVariables") or "{}")
    return _VARIABLE.sub(lambda m: str(variables.get(m.group(1), m.group(0))), template)


async def _serve(args: argparse.Namespace) -> None:
    api = FakeTwilioApi(
        args.account_sid,
        args.auth_token,
        port=args.port,
        callback_base=args.callback_base,
        auto_status=args.auto_status.split(",") if args.auto_status else (),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with api:
        print(f"READY {api.url}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--callback-base")
    parser.add_argument("--auto-status", default="", help="e.g. sent,delivered")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
