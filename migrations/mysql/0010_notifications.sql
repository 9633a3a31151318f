-- Notifications (MySQL/MariaDB): each blocking audit row remembers the outbox event
-- written with it, so the email subscriber can record on that row whether the user's
-- mail went out: `email_sent` NULL = not (yet) decided or no email configured,
-- 1 = accepted by the SMTP server, 0 = finally failed or the user has no address.
ALTER TABLE blocking_audit_log
    ADD COLUMN event_id BIGINT NULL,
    ADD COLUMN email_sent BOOLEAN NULL,
    ADD KEY blocking_audit_event (event_id);
