-- Claiming due callbacks stays cheap under load (BENCHMARKS.md, "Claiming callbacks").
--
-- A delivered callback leaves a dead entry in the pending-only index until VACUUM runs, and
-- under load thousands pile up between two autovacuum runs. A bitmap scan visits every one of
-- them on each claim; an ordinary index scan marks them dead as it passes and skips them from
-- then on. The planner, seeing few pending rows, prefers the bitmap scan, so the claim runs in
-- a function that turns bitmap scans off for itself alone (searches still use them). It is
-- PL/pgSQL, whose plans are kept per connection; an SQL function would plan on every call.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';

CREATE FUNCTION claim_due_callbacks(claim_owner TEXT, claim_lease_until BIGINT, claim_now BIGINT, claim_limit BIGINT)
RETURNS TABLE (id BIGINT, action TEXT, bap_id TEXT, url TEXT, transaction_id TEXT, message_id TEXT,
               body BYTEA, attempts BIGINT, deadline_at BIGINT, last_error TEXT)
LANGUAGE plpgsql
SET enable_bitmapscan = off
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    UPDATE outbox SET lease_owner = claim_owner, lease_until = claim_lease_until, attempts = attempts + 1
    WHERE outbox.id IN (
        SELECT c.id FROM outbox c
        WHERE c.state = 'pending' AND c.next_attempt_at <= claim_now
          AND (c.lease_until IS NULL OR c.lease_until < claim_now)
          -- A transaction's callbacks go in the order they were made (on_search pages aside).
          AND (c.action = 'on_search' OR NOT EXISTS (
                SELECT 1 FROM outbox e WHERE e.transaction_id = c.transaction_id
                AND e.state = 'pending' AND e.id < c.id))
        ORDER BY c.next_attempt_at, c.id
        LIMIT claim_limit
        FOR UPDATE SKIP LOCKED)
    RETURNING outbox.id, outbox.action, outbox.bap_id, outbox.url, outbox.transaction_id,
              outbox.message_id, outbox.body, outbox.attempts, outbox.deadline_at, outbox.last_error;
END
$$;
