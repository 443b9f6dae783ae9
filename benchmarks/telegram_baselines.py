"""Bare echo bots that the Telegram benchmark measures govbot against.

    python benchmarks/telegram_baselines.py ptb|ptb-seq|ptb-aiohttp|aiogram --api-url URL --token T

``ptb``: python-telegram-bot Application on its default HTTPXRequest transport, handling
updates concurrently (256 at a time, as aiogram does by default); ``ptb-seq``: the same with
PTB's default of one update at a time; ``ptb-aiohttp``: ``ptb`` on govbot's AiohttpRequest;
``aiogram``: aiogram 3 Dispatcher on its AiohttpSession. All poll and reply with the same text.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


def run_ptb_echo(
    api_url: str, token: str, *, concurrent_updates: int | bool = 256, aiohttp: bool = False
) -> None:
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    builder = (
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .concurrent_updates(concurrent_updates)
    )
    if aiohttp:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from bot.channels.telegram.request import AiohttpRequest

        builder = builder.request(AiohttpRequest()).get_updates_request(
            AiohttpRequest(connection_pool_size=1)
        )
    app = builder.build()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text is not None:
            await message.reply_text(message.text)

    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(timeout=10, allowed_updates=["message"])


def run_aiogram_echo(api_url: str, token: str) -> None:
    asyncio.run(_aiogram_echo(api_url, token))


async def _aiogram_echo(api_url: str, token: str) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    dispatcher = Dispatcher()

    async def echo(message: Message) -> Any:
        if message.text is not None:
            await message.answer(message.text)

    dispatcher.message.register(echo)
    await dispatcher.start_polling(bot, polling_timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("bot", choices=["ptb", "ptb-seq", "ptb-aiohttp", "aiogram"])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", default="123456789:AAFakeBenchmarkToken-0123456789abcdef")
    args = parser.parse_args(argv)
    if args.bot == "aiogram":
        run_aiogram_echo(args.api_url, args.token)
    elif args.bot == "ptb-seq":
        run_ptb_echo(args.api_url, args.token, concurrent_updates=False)
    else:
        run_ptb_echo(args.api_url, args.token, aiohttp=args.bot == "ptb-aiohttp")


if __name__ == "__main__":
    main()
