-- Why a response did not reach its normal end (client_closed, upstream_reset,
-- upstream_timeout, truncated, malformed; NULL when it did), and whether an upstream
-- token count past the per-call ceiling was clamped (docs/RELIABILITY.md, "Upstream
-- faults"). Older rows: NULL and 0. Columns at the end with a constant default:
-- MariaDB adds them instantly, without copying the table.
ALTER TABLE bedrock_requests
    ADD COLUMN ended_early VARCHAR(32) NULL,
    ADD COLUMN usage_clamped BOOLEAN NOT NULL DEFAULT FALSE;
