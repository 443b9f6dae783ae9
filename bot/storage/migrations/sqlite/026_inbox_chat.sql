-- Several instances (issue 17): each webhook update's chat, as a keyed hash, so that the
-- instance whose turn it is handles every waiting update of that chat, oldest first
-- (bot/chat_turns.py). NULL for a polled batch: polling is for one instance.
ALTER TABLE inbox ADD COLUMN chat TEXT;
CREATE INDEX inbox_chat ON inbox (chat, id);
