-- Calls the proxy refused for a known user (blocked, limit or budget reached, rate
-- limit, validation, no price) are recorded too, findable by the request id the caller
-- got: `refused` says why (the `reason` of bedrock_gate_requests_total{outcome="refused"}),
-- `refusal_message` what the caller was told. A refused row has no tokens and no cost,
-- and counts in no rollup, total, limit or budget (README, "Records, reports and
-- retention"). NULL for every call that was not refused, and for all older rows.
-- Nullable columns at the end: MariaDB adds them instantly, without copying the table.
ALTER TABLE bedrock_requests
    ADD COLUMN refused VARCHAR(32) NULL,
    ADD COLUMN refusal_message VARCHAR(1000) NULL;
