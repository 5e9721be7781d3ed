-- The outbox and its attempts are written only by the node's own statements, in the
-- transaction that claims the request a callback answers (`outbox.inbound_id`) or that
-- updates the callback an attempt belongs to (`outbox_attempts.outbox_id`), and neither
-- table's rows are ever deleted. Their foreign keys checked what those statements already
-- guarantee, at a price: each check is an after-row trigger, queued and then run as a
-- query that locks the referenced row (FOR KEY SHARE), for every callback and every attempt.
-- Without them PostgreSQL spent about 5% less CPU per checkout (BENCHMARKS.md, "Foreign keys
-- on the queues"). The columns keep their meaning; SQLite keeps its constraints.
ALTER TABLE outbox DROP CONSTRAINT outbox_inbound_id_fkey;
ALTER TABLE outbox_attempts DROP CONSTRAINT outbox_attempts_outbox_id_fkey;
