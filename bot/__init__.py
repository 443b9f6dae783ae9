"""govbot: a Telegram and WhatsApp bot for citizens' appeals to a civil-service agency."""

__version__ = "0.1.0"
