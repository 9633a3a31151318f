-- Notifications (SQLite): each blocking audit row remembers the outbox event written with
-- it, so the email subscriber can record on that row whether the user's mail went out:
-- `email_sent` NULL = not (yet) decided or no email configured, 1 = accepted by the SMTP
-- server, 0 = finally failed or the user has no address.
ALTER TABLE blocking_audit_log ADD COLUMN event_id INTEGER NULL;
ALTER TABLE blocking_audit_log ADD COLUMN email_sent INTEGER NULL;
CREATE INDEX blocking_audit_event ON blocking_audit_log(event_id);
