"""Conversation flows: one module per conversation, pure async steps over bot.flow types."""
