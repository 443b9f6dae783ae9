"""DATABASE_URL chooses PostgreSQL; with it the secrets come from the environment (each
instance would otherwise make its own) and files live in DATA_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.crypto import generate_key_setting
from bot.errors import ConfigError
from bot.runtime import ensure_secrets

KEYS = {"SECRET_KEY": "s" * 40, "DATA_KEY": generate_key_setting()}


@pytest.mark.parametrize(
    "url", ["postgresql://bot:hunter2-password@db.internal:5432/govbot", "postgres://db/govbot"]
)
def test_a_postgresql_url_is_accepted(url: str) -> None:
    settings = load_settings({"DATABASE_URL": url, **KEYS}, env_file=None)
    assert settings.database_url == url and settings.postgres
    assert settings.database_path == Path("var/govbot.sqlite3")  # untouched
    assert settings.database_pool_size == 10
    assert url not in repr(settings)  # a password in it stays out of tracebacks and logs


def test_sqlite_stays_the_default() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.database_url is None and not settings.postgres
    assert settings.var_dir == Path("var")


@pytest.mark.parametrize(
    ("missing", "named"),
    [(("SECRET_KEY", "DATA_KEY"), "SECRET_KEY, DATA_KEY"), (("DATA_KEY",), "DATA_KEY")],
)
def test_postgresql_needs_the_secrets_from_the_environment(
    missing: tuple[str, ...], named: str
) -> None:
    env = {"DATABASE_URL": "postgresql://db/govbot", **KEYS}
    for key in missing:
        del env[key]
    with pytest.raises(ConfigError) as caught:
        load_settings(env, env_file=None)
    message = str(caught.value)
    assert message.startswith(named + ":"), message
    assert "db/govbot" not in message


def test_ensure_secrets_refuses_to_generate_them_for_postgresql(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://db/govbot", data_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^SECRET_KEY, DATA_KEY:"):
        ensure_secrets(settings)
    assert list(tmp_path.iterdir()) == []


def test_data_dir_and_pool_size_are_settings(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://db/govbot",
            "DATA_DIR": str(tmp_path),
            "DATABASE_POOL_SIZE": "25",
            **KEYS,
        },
        env_file=None,
    )
    assert settings.attachments_dir == tmp_path / "attachments"
    assert settings.database_pool_size == 25


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DATABASE_POOL_SIZE", "0"),
        ("DATABASE_URL", "postgresql://bot:hunter2-password@db.internal:nope/govbot"),
        ("DATABASE_URL", "postgresql://db.internal"),
        # An @ in the password: asyncpg would take what follows it for the host.
        ("DATABASE_URL", "postgresql://bot:hunter2@db.internal@127.0.0.1:5432/govbot"),
    ],
)
def test_bad_postgresql_values_name_their_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": "postgresql://db/govbot", **KEYS, key: value}, env_file=None)
    message = str(caught.value)
    assert message.startswith(key), message
    assert "hunter2" not in message and "db.internal" not in message
