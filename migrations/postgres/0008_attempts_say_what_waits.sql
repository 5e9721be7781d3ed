-- Recording a finished delivery also says whether a later callback of its transaction is
-- pending and waits its turn (on_search pages never wait), so that the delivery worker claims only when a recorded delivery may have made
-- something due (callbacks written leased go out without a claim, and a claim after every
-- recorded group mostly found nothing). Otherwise as in 0005.
DROP FUNCTION record_attempts(TEXT, BIGINT, BIGINT[], TEXT[], BIGINT[], TEXT[], TEXT[], TEXT[],
    BIGINT[], BIGINT[], BIGINT[], TEXT[], TEXT[], TEXT[], TEXT[]);

CREATE FUNCTION record_attempts(
    lease_holder TEXT, recorded_at BIGINT, callback_ids BIGINT[], states TEXT[],
    next_attempts BIGINT[], last_errors TEXT[], nack_codes TEXT[], nack_messages TEXT[],
    http_statuses BIGINT[], finished BIGINT[], started BIGINT[], authorizations TEXT[],
    response_bodies TEXT[], attempt_errors TEXT[], outcomes TEXT[])
RETURNS TABLE (recorded INTEGER, waiting BOOLEAN)
LANGUAGE plpgsql
AS $$
DECLARE
    attempt_number BIGINT;
    its_transaction TEXT;
BEGIN
    FOR i IN 1 .. coalesce(array_length(callback_ids, 1), 0) LOOP
        UPDATE outbox SET state = states[i], next_attempt_at = coalesce(next_attempts[i], next_attempt_at),
            last_error = last_errors[i], nack_code = nack_codes[i], nack_message = nack_messages[i],
            last_http_status = http_statuses[i], finished_at = finished[i],
            lease_owner = NULL, lease_until = NULL
        WHERE id = callback_ids[i] AND lease_owner = lease_holder
        RETURNING attempts, transaction_id INTO attempt_number, its_transaction;
        IF FOUND THEN
            INSERT INTO outbox_attempts (outbox_id, attempt, started_at, finished_at,
                authorization_header, http_status, response_body, error, outcome)
            VALUES (callback_ids[i], attempt_number, started[i], recorded_at, authorizations[i],
                http_statuses[i], response_bodies[i], attempt_errors[i], outcomes[i]);
            recorded := i;
            waiting := states[i] <> 'pending' AND EXISTS (
                SELECT 1 FROM outbox e WHERE e.transaction_id = its_transaction
                AND e.state = 'pending' AND e.id > callback_ids[i] AND e.action <> 'on_search');
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
