-- As sqlite/022_campaign_template_vars.sql.
ALTER TABLE campaigns ADD COLUMN template_variables TEXT NOT NULL DEFAULT '{}';
