-- What fills each numbered placeholder of a campaign's WhatsApp templates, per language:
-- JSON {lang: {"1": "name", "2": "region", "3": "date"}} (bot/campaigns/variables.py).
ALTER TABLE campaigns ADD COLUMN template_variables TEXT NOT NULL DEFAULT '{}';
