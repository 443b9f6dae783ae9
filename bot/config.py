"""Settings from the environment and an optional .env file, checked once at start-up.

A bad value stops the process with one line that names the key and what was expected,
so an operator fixes it without reading a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from bot.domain import LANGUAGES
from bot.errors import ConfigError

_TELEGRAM_TOKEN = re.compile(r"^\d{5,12}:[A-Za-z0-9_-]{30,50}$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
_TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_TWILIO_TOKEN = re.compile(r"^[0-9a-fA-F]{32}$")
_WHATSAPP_FROM = re.compile(r"^whatsapp:\+[1-9]\d{6,14}$")
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")

T = TypeVar("T")
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Settings:
    database_path: Path = Path("var/govbot.sqlite3")
    # DATABASE_URL when it names PostgreSQL (else None: the SQLite file above). Kept out of
    # repr: it may hold a password, and settings end up in tracebacks.
    database_url: str | None = field(default=None, repr=False)
    database_pool_size: int = 10
    # Where generated secrets and attachments live (DATA_DIR); None: beside the SQLite file.
    data_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    telegram_bot_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: str = "polling"
    telegram_webhook_secret: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    # Twilio's Content API, for tap-to-answer replies; None ("off"): numbered text only.
    twilio_content_url: str | None = "https://content.twilio.com"
    # ContentSid of the approved "you have an update" template, per language.
    twilio_update_templates: Mapping[str, str] = field(default_factory=dict)
    secret_key: str | None = None
    data_key: str | None = None
    default_language: str = "kk"
    session_idle_minutes: int = 30
    # An idle draft (a complaint, a rating) waits this long for the citizen to resume it;
    # a corruption report's draft does not (docs/THREAT_MODEL.md).
    draft_keep_days: int = 7
    # A staff sign-in lasts at most this long, however busy (idle: 30 minutes).
    staff_session_hours: int = 12
    # An API token stops working this many days after it was made (its owner makes another).
    api_token_days: int = 90
    # Peers whose X-Forwarded-For is believed (bot/web/proxies.py); none by default.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    flood_burst: int = 8
    flood_per_second: float = 2.0
    appeal_working_days: int = 15
    deadline_reminder_days: int = 3
    max_attachments: int = 5
    max_attachment_mb: int = 20
    telegram_rate_global: float = 30.0
    telegram_rate_per_chat: float = 1.0
    # Telegram paid broadcasts (allow_paid_broadcast, chosen per campaign): their own
    # overall rate, and the price per message the console's estimate multiplies by.
    telegram_paid_rate: float = 1000.0
    telegram_paid_price: float = 0.1  # Telegram Stars a message
    whatsapp_rate: float = 10.0
    # Meta's pair limit: one message every 6 s to the same WhatsApp user.
    whatsapp_rate_per_chat: float = 1 / 6
    # How many govbot instances share the bot: each paces at this share of the bot-wide
    # rates (bot/pacing.py).
    instances: int = 1
    # Leases (bot/leases.py): held this long unless renewed, renewed this often.
    lease_seconds: float = 10.0
    lease_renew_seconds: float = 3.0
    log_level: str = "INFO"

    @property
    def postgres(self) -> bool:
        return self.database_url is not None

    @property
    def var_dir(self) -> Path:
        """Where generated secrets and attachments live: DATA_DIR, else next to the SQLite
        file. Several instances on several machines need it on a volume they share."""
        return self.data_dir if self.data_dir is not None else self.database_path.parent

    @property
    def attachments_dir(self) -> Path:
        return self.var_dir / "attachments"

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def whatsapp_enabled(self) -> bool:
        return None not in (
            self.twilio_account_sid,
            self.twilio_auth_token,
            self.twilio_whatsapp_from,
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


_DEFAULTS = Settings()


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines; '#' comments, blank lines and optional quotes allowed."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Settings from `environ` (default os.environ) over the optional .env file."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update(read_env_file(env_file))
    merged.update(os.environ if environ is None else environ)
    env = {k: v for k, v in merged.items() if v != ""}
    get = env.get

    def parse(
        key: str,
        convert: Callable[[str], T],
        expected: str,
        *,
        secret: bool = False,
        name: str | None = None,
    ) -> T:
        """`key` converted, or the default of the field `name` (by default the key in
        lower case) where unset: each default is written once, on `Settings`."""
        raw = get(key)
        if raw is None:
            default: T = getattr(_DEFAULTS, name or key.lower())
            return default
        try:
            return convert(raw)
        except (ValueError, TypeError):
            shown = key if secret else f"{key}={raw[:40]!r}"
            raise ConfigError(f"{shown}: expected {expected}") from None

    def pattern(key: str, regex: re.Pattern[str], expected: str) -> str | None:
        raw = get(key)
        if raw is not None and not regex.fullmatch(raw):
            # Tokens are secrets: name the key, never echo the value.
            raise ConfigError(f"{key}: expected {expected}")
        return raw

    database_url = _postgres_url(get("DATABASE_URL"))
    settings = Settings(
        database_path=_DEFAULTS.database_path
        if database_url
        else parse(
            "DATABASE_URL",
            _sqlite_path,
            "sqlite:///path/to/file or a PostgreSQL URL (user:password@host:port/db)",
            secret=True,  # a database URL may carry a password
            name="database_path",
        ),
        database_url=database_url,
        database_pool_size=parse(
            "DATABASE_POOL_SIZE", _int_range(1, 1000), "connections from 1 to 1000"
        ),
        data_dir=parse("DATA_DIR", Path, "a directory"),
        host=parse("HOST", _host, "a host name or IP address"),
        port=parse("PORT", _port, "a port number from 1 to 65535"),
        public_url=parse(
            "PUBLIC_URL", _base_url, "an http(s) base URL such as https://bot.example.kz"
        ),
        telegram_bot_token=pattern(
            "TELEGRAM_BOT_TOKEN", _TELEGRAM_TOKEN, "a BotFather token such as 123456:ABC-..."
        ),
        telegram_api_url=parse("TELEGRAM_API_URL", _base_url, "an http(s) URL"),
        telegram_mode=parse("TELEGRAM_MODE", _choice("polling", "webhook"), "polling or webhook"),
        telegram_webhook_secret=pattern(
            "TELEGRAM_WEBHOOK_SECRET", _WEBHOOK_SECRET, "16-256 characters of A-Z a-z 0-9 _ -"
        ),
        twilio_account_sid=pattern(
            "TWILIO_ACCOUNT_SID", _TWILIO_SID, "AC followed by 32 hex digits"
        ),
        twilio_auth_token=pattern("TWILIO_AUTH_TOKEN", _TWILIO_TOKEN, "32 hex digits"),
        twilio_whatsapp_from=pattern(
            "TWILIO_WHATSAPP_FROM",
            _WHATSAPP_FROM,
            "whatsapp:+<E.164 number>, e.g. whatsapp:+77010000000",
        ),
        twilio_api_url=parse("TWILIO_API_URL", _base_url, "an http(s) URL"),
        twilio_content_url=parse("TWILIO_CONTENT_URL", _base_url_or_off, "an http(s) URL or off"),
        twilio_update_templates={
            lang: sid
            for lang in LANGUAGES
            if (
                sid := pattern(
                    f"TWILIO_TEMPLATE_UPDATE_{lang.upper()}",
                    _CONTENT_SID,
                    "HX followed by 32 hex digits",
                )
            )
        },
        secret_key=parse("SECRET_KEY", _min_length(32), "at least 32 characters", secret=True),
        data_key=get("DATA_KEY"),
        default_language=parse("DEFAULT_LANGUAGE", _choice(*LANGUAGES), "one of kk, ru, en"),
        session_idle_minutes=parse(
            "SESSION_IDLE_MINUTES", _int_range(1, 24 * 60), "minutes from 1 to 1440"
        ),
        draft_keep_days=parse("DRAFT_KEEP_DAYS", _int_range(1, 90), "days from 1 to 90"),
        staff_session_hours=parse(
            "STAFF_SESSION_HOURS", _int_range(1, 7 * 24), "hours from 1 to 168"
        ),
        api_token_days=parse("API_TOKEN_DAYS", _int_range(1, 366), "days from 1 to 366"),
        trusted_proxies=parse(
            "TRUSTED_PROXIES",
            _networks,
            "comma-separated IP addresses or networks, e.g. 127.0.0.1,10.0.0.0/8",
        ),
        flood_burst=parse("FLOOD_BURST", _int_range(1, 1000), "a whole number from 1 to 1000"),
        flood_per_second=parse(
            "FLOOD_PER_SECOND", _float_range(0.1, 100), "messages a second, 0.1 to 100"
        ),
        appeal_working_days=parse(
            "APPEAL_WORKING_DAYS", _int_range(1, 60), "working days from 1 to 60"
        ),
        deadline_reminder_days=parse(
            "DEADLINE_REMINDER_DAYS", _int_range(0, 60), "working days from 0 to 60"
        ),
        max_attachments=parse("MAX_ATTACHMENTS", _int_range(0, 20), "a count from 0 to 20"),
        max_attachment_mb=parse(
            "MAX_ATTACHMENT_MB", _int_range(1, 20), "megabytes from 1 to 20 (Telegram's limit)"
        ),
        telegram_rate_global=parse(
            "TELEGRAM_RATE_GLOBAL", _float_range(0, 1000), "messages a second (0 = unlimited)"
        ),
        telegram_rate_per_chat=parse(
            "TELEGRAM_RATE_PER_CHAT", _float_range(0, 100), "messages a second (0 = unlimited)"
        ),
        telegram_paid_rate=parse(
            "TELEGRAM_PAID_RATE", _float_range(0, 1000), "messages a second (0 = unlimited)"
        ),
        telegram_paid_price=parse(
            "TELEGRAM_PAID_PRICE", _float_range(0, 100), "Telegram Stars a message"
        ),
        whatsapp_rate=parse(
            "WHATSAPP_RATE", _float_range(0, 1000), "messages a second (0 = unlimited)"
        ),
        whatsapp_rate_per_chat=parse(
            "WHATSAPP_RATE_PER_CHAT", _float_range(0, 100), "messages a second (0 = unlimited)"
        ),
        instances=parse("INSTANCES", _int_range(1, 1000), "a count from 1 to 1000"),
        lease_seconds=parse("LEASE_SECONDS", _float_range(1, 300), "seconds from 1 to 300"),
        lease_renew_seconds=parse(
            "LEASE_RENEW_SECONDS", _float_range(0.1, 100), "seconds from 0.1 to 100"
        ),
        log_level=parse(
            "LOG_LEVEL",
            _choice("DEBUG", "INFO", "WARNING", "ERROR"),
            "DEBUG, INFO, WARNING or ERROR",
        ),
    )
    if settings.lease_renew_seconds >= settings.lease_seconds:
        raise ConfigError(
            "LEASE_RENEW_SECONDS: must be shorter than LEASE_SECONDS (a lease is renewed"
            " before it expires)"
        )
    require_shared_secrets(settings)
    return settings


def require_shared_secrets(settings: Settings) -> None:
    """With PostgreSQL several instances share one database: a secret generated by each
    would sign sessions and seal data that the others cannot read. Both come from the
    environment, the same on every instance."""
    if not settings.postgres:
        return
    missing = [
        key
        for key, value in (("SECRET_KEY", settings.secret_key), ("DATA_KEY", settings.data_key))
        if not value
    ]
    if missing:
        raise ConfigError(
            f"{', '.join(missing)}: required with a PostgreSQL DATABASE_URL (the same on"
            " every instance; generated ones would differ between instances)"
        )


def _postgres_url(raw: str | None) -> str | None:
    """DATABASE_URL if it names PostgreSQL (checked: a host or socket, a database name,
    a numeric port), else None. The URL may hold a password: never echoed."""
    if raw is None or raw.partition("://")[0] not in ("postgresql", "postgres"):
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError on a port that is not a number
        host = parts.hostname or parse_qs(parts.query).get("host")
        if not host or len(parts.path) < 2 or (port is not None and port <= 0):
            raise ValueError("incomplete")
    except ValueError:
        raise ConfigError(
            "DATABASE_URL: expected sqlite:///path/to/file"
            " or a PostgreSQL URL with a host and a database (user:password@host:port/db)"
        ) from None
    if parts.netloc.count("@") > 1:
        # asyncpg would read the host from inside the password (and look it up by DNS).
        raise ConfigError("DATABASE_URL: write an @ in the user name or password as %40")
    return raw


def _sqlite_path(raw: str) -> Path:
    """DATABASE_URL's file (a PostgreSQL URL was taken by _postgres_url)."""
    prefix = "sqlite:///"
    if not raw.startswith(prefix) or len(raw) == len(prefix) or "?" in raw:
        raise ValueError(raw)
    return Path(raw[len(prefix) :])


def _host(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", raw):
        raise ValueError(raw)
    return raw


def _networks(raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    # strict=False: "10.0.0.1/8" means the network 10.0.0.0/8, as people write it.
    return tuple(ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


def _port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError(raw)
    return value


def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(raw)
    return raw.rstrip("/")


def _base_url_or_off(raw: str) -> str | None:
    return None if raw.strip().lower() == "off" else _base_url(raw)


def _choice(*allowed: str) -> Callable[[str], str]:
    def convert(raw: str) -> str:
        value = raw.strip()
        if value not in allowed:
            raise ValueError(raw)
        return value

    return convert


def _int_range(low: int, high: int) -> Callable[[str], int]:
    return _in_range(int, low, high)


def _float_range(low: float, high: float) -> Callable[[str], float]:
    return _in_range(float, low, high)


def _in_range(number: Callable[[str], N], low: N, high: N) -> Callable[[str], N]:
    def convert(raw: str) -> N:
        value = number(raw)
        if not low <= value <= high:
            raise ValueError(raw)
        return value

    return convert


def _min_length(length: int) -> Callable[[str], str]:
    def convert(raw: str) -> str:
        if len(raw) < length:
            raise ValueError("too short")
        return raw

    return convert
