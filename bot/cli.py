"""`govbot` command line (also `python -m bot`): run, shell, migrate and the admin tools.

Bad settings stop the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from bot import admin_cli, keys_cli
from bot.campaigns import cli as campaign_cli
from bot.config import Settings, load_settings
from bot.errors import ConfigError, RefDataError
from bot.i18n import LANGUAGES
from bot.logs import setup_logging

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("govbot")


def server_config(app: Any, settings: Settings) -> uvicorn.Config:
    """uvicorn as `run` starts it. proxy_headers=False: uvicorn would otherwise take the
    client address from X-Forwarded-For sent by any 127.0.0.1 peer; the app reads it
    itself, only from TRUSTED_PROXIES (bot/web/proxies.py)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from bot.app import channel_services, create_app
    from bot.crypto import DataCipher
    from bot.refdata import default_data_dir, load_refdata
    from bot.runtime import ensure_secrets

    # Refuse here what the app's start-up would refuse, so a bad DATA_KEY, secret file or
    # reference-data file stops `run` with one line instead of a server traceback.
    if settings.data_key:
        DataCipher.from_setting(settings.data_key)  # before any secret file is written
    settings = ensure_secrets(settings)
    assert settings.data_key is not None
    DataCipher.from_setting(settings.data_key)
    load_refdata(default_data_dir())
    app = create_app(settings, announce=lambda line: print(line, flush=True))
    print(f"web: http://{settings.host}:{settings.port}/ (staff console at /staff/)", flush=True)
    server = uvicorn.Server(server_config(app, settings))
    if not args.shell:
        # uvicorn re-raises the stopping signal once it has shut down cleanly.
        with refusal_said(app), contextlib.suppress(KeyboardInterrupt):
            server.run()
        return 0

    async def serve_and_chat() -> None:
        # The web app and the terminal chat share one runtime: what a citizen files here
        # shows up in the staff console at once.
        from bot.channels.console import run_shell

        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                return await serving
            await asyncio.sleep(0.05)
        try:
            runtime = app.state.runtime
            await run_shell(
                channel_services(runtime), runtime.settings, lang=args.lang, chat_key=args.chat
            )
        finally:
            server.should_exit = True
            await serving

    with refusal_said(app):
        asyncio.run(serve_and_chat())
    return 0


@contextlib.contextmanager
def refusal_said(app: Any) -> Iterator[None]:
    """A start-up the app refused (bot/app.py keeps the ConfigError) ends `run` as a bad
    setting does, one line and status 2, not uvicorn's traceback and exit."""
    # The traceback uvicorn logs when the start-up fails.
    logging.getLogger("uvicorn.error").addFilter(lambda _: not hasattr(app.state, "refused"))
    try:
        yield
    except SystemExit:  # uvicorn's own exit when the start-up failed
        if not hasattr(app.state, "refused"):
            raise
    if hasattr(app.state, "refused"):
        raise app.state.refused


def cmd_shell(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import channel_services
    from bot.channels.console import run_shell
    from bot.runtime import open_runtime

    async def main() -> None:
        runtime = await open_runtime(settings)
        try:
            await run_shell(
                channel_services(runtime), runtime.settings, lang=args.lang, chat_key=args.chat
            )
        finally:
            await runtime.close()

    asyncio.run(main())
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply pending migrations to the configured backend (safe while other instances
    start: PostgreSQL's are taken under an advisory lock)."""
    if settings.database_url is not None:
        from bot.storage.postgres.migrate import connect_and_migrate

        applied = asyncio.run(connect_and_migrate(settings.database_url))
    else:
        from bot.storage.sqlite import open_and_migrate

        applied = asyncio.run(open_and_migrate(settings.database_path))
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="start every configured channel, the web app and the scheduler"
    )
    run.add_argument("--shell", action="store_true", help="also chat with the bot in this terminal")
    shell = sub.add_parser("shell", help="chat with the bot in this terminal (no tokens needed)")
    for command in (run, shell):
        command.add_argument("--lang", choices=LANGUAGES, help="your language, preselected")
        command.add_argument("--chat", default="local", help="which terminal citizen you are")
    sub.add_parser("migrate", help="apply database migrations")
    campaign_cli.add_parser(sub)
    admin_cli.add_parsers(sub)
    keys_cli.add_parser(sub)
    return parser


HANDLERS = {"run": cmd_run, "shell": cmd_shell, "migrate": cmd_migrate}
HANDLERS["campaign"] = campaign_cli.run
HANDLERS.update(staff=admin_cli.run, export=admin_cli.run, audit=admin_cli.run)
HANDLERS["keys"] = keys_cli.run


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(settings.log_level)
        return HANDLERS[args.command](settings, args)
    except (ConfigError, RefDataError) as err:
        print(f"govbot: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
