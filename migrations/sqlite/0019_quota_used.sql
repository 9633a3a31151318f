-- Real use beside `granted`: the units proxies report as spent (calls settled: a request,
-- or a call's real cost in micro-USD), added by each proxy every couple of seconds and
-- with its returns. `granted - used` is capacity still held by proxies (usable, in
-- their lease reserves, reserved by calls in progress) or spent in the last report
-- interval. Refusal messages say `used` as what was spent and name the rest as held
-- elsewhere; admission itself still counts `granted` only.
ALTER TABLE quota_counters ADD COLUMN used INTEGER NOT NULL DEFAULT 0;
-- A lowered limit takes back every proxy's reserve of the counter at once (in one
-- transaction that locks the counter row, then these rows): find them by counter.
CREATE INDEX quota_leases_counter ON quota_leases (subject, metric, period);
