-- Calls the proxy failed before any byte went to Bedrock (no upstream credentials,
-- upstream unreachable, connect timeout) are still recorded, with the reason here, and
-- are left out of the usage rollups and quota (docs/QUOTA.md, "Calls that never reached
-- Bedrock"). NULL for every call that was sent upstream, and for all older rows.
-- A nullable column at the end: MariaDB adds it instantly, without copying the table.
ALTER TABLE bedrock_requests ADD COLUMN not_sent VARCHAR(32) NULL;
