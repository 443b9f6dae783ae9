-- PostgreSQL's 028 keeps the highest audit id ever written beside the log; SQLite keeps
-- it already, in sqlite_sequence (audit_log's ids are AUTOINCREMENT). Nothing to do here.
SELECT 1;
