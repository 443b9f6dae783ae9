-- When the citizen last said yes or no to campaign news (a word, a button, regions chosen).
-- Rows of one citizen that are merged (bot/storage/sqlite/linked_keys.py) keep the latest
-- choice: an "unsubscribe" sent under one key is not undone by an older "subscribe" under
-- another.
ALTER TABLE citizens ADD COLUMN news_chosen_at TEXT;
