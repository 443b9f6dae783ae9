"""Settings: a bad value stops start-up with one line naming the key and what is expected,
never echoing a secret; the .env file and .env.example work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings, load_settings, read_env_file
from bot.crypto import generate_key_setting
from bot.domain import LANGUAGES
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
GOOD_TOKEN = "123456789:AAF" + "x" * 32


def refuse(env: dict[str, str], tmp_path: Path | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(env, env_file=None)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("PORT", "abc", "port number"),
        ("PORT", "70000", "port number"),
        ("PORT", "0", "port number"),
        ("DEFAULT_LANGUAGE", "fr", "kk, ru, en"),
        ("DATABASE_URL", "postgres://x", "sqlite:///"),
        ("DATABASE_URL", "sqlite:///", "sqlite:///"),
        ("SESSION_IDLE_MINUTES", "-5", "minutes"),
        ("FLOOD_BURST", "lots", "whole number"),
        ("FLOOD_PER_SECOND", "nan", "a second"),
        ("MAX_ATTACHMENT_MB", "50", "20"),
        ("TELEGRAM_MODE", "push", "polling or webhook"),
        ("PUBLIC_URL", "bot.example.kz", "http"),
        ("LOG_LEVEL", "LOUD", "INFO"),
        ("HOST", "my host", "host"),
        ("TWILIO_WHATSAPP_FROM", "+77010000000", "whatsapp:+"),
        ("TRUSTED_PROXIES", "127.0.0.1,proxy.local", "IP addresses or networks"),
        ("TRUSTED_PROXIES", "10.0.0.0/33", "IP addresses or networks"),
        ("STAFF_SESSION_HOURS", "0", "hours"),
        ("API_TOKEN_DAYS", "0", "days from 1 to 366"),
        ("API_TOKEN_DAYS", "forever", "days"),
    ],
)
def test_a_bad_value_names_its_key(key: str, value: str, expected: str) -> None:
    message = refuse({key: value})
    assert message.startswith(key), message
    assert expected in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TELEGRAM_BOT_TOKEN", "nonsense"),
        ("TELEGRAM_BOT_TOKEN", "987654321:tooShortSecretPart"),
        ("TELEGRAM_WEBHOOK_SECRET", "short!"),
        ("TWILIO_ACCOUNT_SID", "bad"),
        ("TWILIO_ACCOUNT_SID", "AC" + "z" * 32),
        ("TWILIO_AUTH_TOKEN", "not-hex-" + "q" * 24),
        ("SECRET_KEY", "hunter2"),
        ("DATABASE_URL", "postgres://admin:hunter2-password@db.internal:nope/govbot"),
    ],
)
def test_secrets_are_named_but_never_echoed(key: str, value: str) -> None:
    message = refuse({key: value})
    assert message.startswith(key)
    assert "expected" in message
    assert value not in message
    for part in re.split(r"[:/@]", value):
        if len(part) >= 6:
            assert part not in message, f"{part!r} leaked: {message}"


def test_the_twilio_sid_message_says_what_is_expected() -> None:
    assert refuse({"TWILIO_ACCOUNT_SID": "bad"}) == (
        "TWILIO_ACCOUNT_SID: expected AC followed by 32 hex digits"
    )


def test_good_values_are_taken() -> None:
    settings = load_settings(
        {
            "PORT": "9000",
            "DEFAULT_LANGUAGE": "ru",
            "DATABASE_URL": "sqlite:////srv/govbot/db.sqlite3",
            "TELEGRAM_BOT_TOKEN": GOOD_TOKEN,
            "TWILIO_ACCOUNT_SID": "AC" + "0a" * 16,
            "TWILIO_AUTH_TOKEN": "f" * 32,
            "TWILIO_WHATSAPP_FROM": "whatsapp:+77010000000",
            "TWILIO_TEMPLATE_UPDATE_KK": "HX" + "1" * 32,
            "SESSION_IDLE_MINUTES": "45",
            "FLOOD_PER_SECOND": "0.5",
            "PUBLIC_URL": "https://bot.example.kz/",
            "TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1",
            "STAFF_SESSION_HOURS": "8",
            "API_TOKEN_DAYS": "30",
        },
        env_file=None,
    )
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert settings.staff_session_hours == 8
    assert settings.api_token_days == 30
    assert settings.port == 9000
    assert settings.default_language == "ru"
    assert settings.database_path == Path("/srv/govbot/db.sqlite3")
    assert settings.telegram_enabled and settings.whatsapp_enabled
    assert settings.twilio_update_templates == {"kk": "HX" + "1" * 32}
    assert settings.session_idle_minutes == 45
    assert settings.flood_per_second == 0.5
    assert settings.public_url == "https://bot.example.kz"


def test_no_settings_at_all_gives_the_embedded_defaults() -> None:
    settings = load_settings({}, env_file=None)
    assert settings == Settings()
    assert not settings.telegram_enabled and not settings.whatsapp_enabled
    assert settings.default_language in LANGUAGES


def test_empty_values_count_as_unset() -> None:
    assert load_settings({"PORT": "", "TELEGRAM_BOT_TOKEN": ""}, env_file=None) == Settings()


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# comment\n\nexport PORT=9100\nDEFAULT_LANGUAGE='ru'\n"
        'LOG_LEVEL="DEBUG"\nFLOOD_BURST = 12\n',
        encoding="utf-8",
    )
    settings = load_settings({"PORT": "9200"}, env_file=env)
    assert settings.port == 9200
    assert settings.default_language == "ru"
    assert settings.log_level == "DEBUG"
    assert settings.flood_burst == 12


def test_a_env_line_without_equals_is_named_by_file_and_line(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("PORT=9100\nTELEGRAM_BOT_TOKEN 123:secret-value\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env_file=env)
    message = str(caught.value)
    assert message == f"{env}:2: expected KEY=VALUE"
    assert "secret-value" not in message


def test_a_bad_value_in_the_env_file_names_the_key(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("DEFAULT_LANGUAGE=fr\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^DEFAULT_LANGUAGE='fr': expected one of kk, ru, en$"):
        load_settings({}, env_file=env)


def test_env_example_documents_every_key_and_loads() -> None:
    example = ROOT / ".env.example"
    source = (ROOT / "bot" / "config.py").read_text(encoding="utf-8")
    keys = set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|PORT|HOST)"', source))
    keys |= {f"TWILIO_TEMPLATE_UPDATE_{lang.upper()}" for lang in LANGUAGES}
    keys.discard("TWILIO_TEMPLATE_UPDATE_")
    documented = read_env_file(example)
    assert keys <= documented.keys(), sorted(keys - documented.keys())
    # Each key has a comment somewhere above it, in its own block.
    lines = example.read_text(encoding="utf-8").splitlines()
    for key in keys:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
        block = []
        for line in reversed(lines[:index]):
            if not line.strip():
                break
            block.append(line)
        assert any(line.startswith("#") for line in block), f"{key} has no comment"
    assert load_settings({}, env_file=example).port == 8080


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in Settings.__annotations__}
    clean = {k: v for k, v in clean.items() if not k.startswith(("TWILIO_", "TELEGRAM_"))}
    for name in ("PORT", "HOST", "DATABASE_URL", "DATA_KEY", "SECRET_KEY", "DEFAULT_LANGUAGE"):
        clean.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={**clean, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_sqlite_url_and_the_default_are_unchanged() -> None:
    assert load_settings({}, env_file=None).database_path == Path("var/govbot.sqlite3")
    chosen = load_settings({"DATABASE_URL": "sqlite:///data/bot.sqlite3"}, env_file=None)
    assert chosen.database_path == Path("data/bot.sqlite3")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "env", "key"),
    [
        ("run", {"PORT": "abc"}, "PORT"),
        ("run", {"DATA_KEY": "not-a-key"}, "DATA_KEY"),
        ("run", {"TELEGRAM_BOT_TOKEN": "nonsense"}, "TELEGRAM_BOT_TOKEN"),
        ("shell", {"DEFAULT_LANGUAGE": "fr"}, "DEFAULT_LANGUAGE"),
        ("migrate", {"DATABASE_URL": "postgres://x"}, "DATABASE_URL"),
        # PostgreSQL's instances share their secrets: none is generated (test_postgres_config)
        ("run", {"DATABASE_URL": "postgresql://bot@db.internal:5432/govbot"}, "SECRET_KEY"),
    ],
)
def test_the_cli_stops_with_one_line(
    tmp_path: Path, command: str, env: dict[str, str], key: str
) -> None:
    done = cli(tmp_path, command, **env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"govbot: {key}")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    for value in env.values():
        if key in ("TELEGRAM_BOT_TOKEN", "DATA_KEY"):
            assert value not in done.stderr


@pytest.mark.slow
def test_the_cli_reads_a_env_file_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=abc\n", encoding="utf-8")
    done = cli(tmp_path, "run")
    assert done.returncode == 2
    assert done.stderr == "govbot: PORT='abc': expected a port number from 1 to 65535\n"


def test_generated_key_settings_are_accepted() -> None:
    settings = load_settings({"DATA_KEY": generate_key_setting()}, env_file=None)
    assert settings.data_key is not None and settings.data_key.startswith("v1:")
