"""Telegram adapter package; the only place python-telegram-bot is imported."""
