-- Same numbering as postgres/0004. The due index follows the claim's order, so a claim reads
-- the first due callbacks straight from it. (SQLite keeps no dead index entries, so it needs
-- nothing else of what PostgreSQL's claim function does.)
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';
