-- As sqlite/023_news_chosen_at.sql.
ALTER TABLE citizens ADD COLUMN news_chosen_at TEXT;
