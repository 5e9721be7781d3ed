-- Group writes in one round trip (src/store/pg_batch.rs; BENCHMARKS.md, "Fewer statements").
--
-- A busy node marks many requests processed, and records many delivery attempts, at once.
-- One statement joining an array against the table would do it, but its plan is cached per
-- connection from the table's size when first planned: a fresh table is small, the plan
-- then scans it whole, and goes on doing so as it grows (measured: 2.6 ms a call after 5,000
-- checkouts). These functions loop over the arrays instead, with one primary-key statement
-- per element, so every row is found through its index whatever the statistics say.

-- Marks each pending request processed with its note, in array order; returns the positions
-- (from 1) it marked. A request already processed is left out, and so is the second copy of
-- one that appears twice.
CREATE FUNCTION finish_requests(request_ids BIGINT[], notes TEXT[], finished_at BIGINT)
RETURNS SETOF INTEGER
LANGUAGE plpgsql
AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(request_ids, 1), 0) LOOP
        UPDATE inbound SET state = 'processed', processed_at = finished_at, process_note = notes[i]
        WHERE id = request_ids[i] AND state = 'pending';
        IF FOUND THEN
            RETURN NEXT i;
        END IF;
    END LOOP;
END
$$;

-- Records one attempt per element: the callback's new state (only while `lease_holder` holds
-- its lease) and a row of its attempt history. Returns the positions (from 1) it recorded;
-- a callback's second copy finds its lease released by the first and is left out.
CREATE FUNCTION record_attempts(
    lease_holder TEXT, recorded_at BIGINT, callback_ids BIGINT[], states TEXT[],
    next_attempts BIGINT[], last_errors TEXT[], nack_codes TEXT[], nack_messages TEXT[],
    http_statuses BIGINT[], finished BIGINT[], started BIGINT[], authorizations TEXT[],
    response_bodies TEXT[], attempt_errors TEXT[], outcomes TEXT[])
RETURNS SETOF INTEGER
LANGUAGE plpgsql
AS $$
DECLARE
    attempt_number BIGINT;
BEGIN
    FOR i IN 1 .. coalesce(array_length(callback_ids, 1), 0) LOOP
        UPDATE outbox SET state = states[i], next_attempt_at = coalesce(next_attempts[i], next_attempt_at),
            last_error = last_errors[i], nack_code = nack_codes[i], nack_message = nack_messages[i],
            last_http_status = http_statuses[i], finished_at = finished[i],
            lease_owner = NULL, lease_until = NULL
        WHERE id = callback_ids[i] AND lease_owner = lease_holder
        RETURNING attempts INTO attempt_number;
        IF FOUND THEN
            INSERT INTO outbox_attempts (outbox_id, attempt, started_at, finished_at,
                authorization_header, http_status, response_body, error, outcome)
            VALUES (callback_ids[i], attempt_number, started[i], recorded_at, authorizations[i],
                http_statuses[i], response_bodies[i], attempt_errors[i], outcomes[i]);
            RETURN NEXT i;
        END IF;
    END LOOP;
END
$$;
