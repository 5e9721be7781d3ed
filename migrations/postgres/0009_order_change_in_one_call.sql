-- An order change that takes stock or writes an order (a confirm, a cancel, a seller's
-- action) is written with one call instead of a savepoint and a statement per table: on a
-- busy node the committer's round trips, not PostgreSQL's work, were what a group of such
-- changes waited on. The function does what `apply_change!` (src/store/orders.rs) does, in
-- the same order, inside a block whose exception handler is the savepoint: a change that
-- cannot be written leaves nothing behind and says why.
--
-- Returns one row per callback written (outcome 'done', its id, whether it was written
-- leased), or one row with outcome 'done' and no callback, or one row saying what stopped
-- the change: 'processed' (its request was processed first), 'conflict' (the order changed
-- since it was read, or an order with that id exists) or 'out_of_stock' (detail: the item).
CREATE FUNCTION apply_order_change(
    change_now BIGINT, request_id BIGINT, request_note TEXT,
    stock_providers TEXT[], stock_items TEXT[], stock_counts BIGINT[],
    draft_transaction TEXT, draft_bap TEXT, draft_provider TEXT, draft_stage TEXT, draft_doc TEXT,
    order_id TEXT, order_transaction TEXT, order_bap TEXT, order_provider TEXT, order_state TEXT,
    order_fulfillment TEXT, order_doc TEXT, order_version BIGINT,
    event_orders TEXT[], event_actors TEXT[], event_kinds TEXT[], event_details TEXT[],
    cb_actions TEXT[], cb_kinds TEXT[], cb_inbound_ids BIGINT[], cb_baps TEXT[], cb_urls TEXT[],
    cb_transactions TEXT[], cb_messages TEXT[], cb_domains TEXT[], cb_bodies BYTEA[],
    cb_deadlines BIGINT[], cb_free BOOLEAN[], lease_holder TEXT, lease_end BIGINT)
RETURNS TABLE (outcome TEXT, detail TEXT, callback_id BIGINT, leased BOOLEAN)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    left_after BIGINT;
    written BIGINT;
    ids BIGINT[] := '{}';
    leases BOOLEAN[] := '{}';
    new_id BIGINT;
    take_lease BOOLEAN;
BEGIN
    BEGIN
        IF request_id IS NOT NULL THEN
            UPDATE inbound SET state = 'processed', processed_at = change_now, process_note = request_note
            WHERE id = request_id AND state = 'pending';
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'HA001', MESSAGE = 'processed';
            END IF;
        END IF;
        FOR i IN 1 .. coalesce(array_length(stock_items, 1), 0) LOOP
            UPDATE catalog_items SET stock = stock - stock_counts[i],
                updated_at = CASE WHEN (stock > 0) <> (stock - stock_counts[i] > 0) THEN change_now ELSE updated_at END
            WHERE provider_id = stock_providers[i] AND id = stock_items[i] AND stock >= stock_counts[i]
            RETURNING stock INTO left_after;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'HA002', MESSAGE = 'out_of_stock', DETAIL = stock_items[i];
            END IF;
            -- Buyer apps see stock only as in stock or not, so only a flip is a catalogue change.
            IF (left_after + stock_counts[i] > 0) <> (left_after > 0) THEN
                INSERT INTO catalog_changes (import_id, provider_id, kind, entity_id, change, changed_at)
                VALUES ('order', stock_providers[i], 'item', stock_items[i], 'updated', change_now);
            END IF;
        END LOOP;
        IF draft_transaction IS NOT NULL THEN
            INSERT INTO order_drafts (transaction_id, bap_id, provider_id, stage, doc, updated_at)
            VALUES (draft_transaction, draft_bap, draft_provider, draft_stage, draft_doc, change_now)
            ON CONFLICT (transaction_id) DO UPDATE SET provider_id = draft_provider, stage = draft_stage,
                doc = draft_doc, updated_at = change_now;
        END IF;
        IF order_id IS NOT NULL THEN
            IF order_version IS NULL THEN
                INSERT INTO orders (id, transaction_id, bap_id, provider_id, state, fulfillment_state, doc,
                    version, created_at, updated_at)
                VALUES (order_id, order_transaction, order_bap, order_provider, order_state,
                    order_fulfillment, order_doc, 1, change_now, change_now)
                ON CONFLICT DO NOTHING;
            ELSE
                UPDATE orders SET state = order_state, fulfillment_state = order_fulfillment,
                    doc = order_doc, version = version + 1, updated_at = change_now
                WHERE id = order_id AND version = order_version;
            END IF;
            GET DIAGNOSTICS written = ROW_COUNT;
            IF written <> 1 THEN
                RAISE EXCEPTION USING ERRCODE = 'HA003', MESSAGE = 'conflict';
            END IF;
        END IF;
        FOR i IN 1 .. coalesce(array_length(event_orders, 1), 0) LOOP
            INSERT INTO order_events (order_id, at, actor, kind, detail)
            VALUES (event_orders[i], change_now, event_actors[i], event_kinds[i], event_details[i]);
        END LOOP;
        FOR i IN 1 .. coalesce(array_length(cb_actions, 1), 0) LOOP
            -- Leased only when it may go out at once: it needs no turn, or nothing of its
            -- transaction is pending (this change's earlier callbacks included).
            take_lease := lease_holder IS NOT NULL AND (cb_free[i] OR NOT EXISTS (
                SELECT 1 FROM outbox e WHERE e.transaction_id = cb_transactions[i] AND e.state = 'pending'));
            INSERT INTO outbox (action, kind, inbound_id, bap_id, url, transaction_id, message_id, domain,
                body, created_at, deadline_at, next_attempt_at, state, attempts, lease_owner, lease_until)
            VALUES (cb_actions[i], cb_kinds[i], cb_inbound_ids[i], cb_baps[i], cb_urls[i],
                cb_transactions[i], cb_messages[i], cb_domains[i], cb_bodies[i], change_now,
                cb_deadlines[i], change_now, 'pending', CASE WHEN take_lease THEN 1 ELSE 0 END,
                CASE WHEN take_lease THEN lease_holder END, CASE WHEN take_lease THEN lease_end END)
            RETURNING id INTO new_id;
            ids := ids || new_id;
            leases := leases || take_lease;
        END LOOP;
    EXCEPTION WHEN SQLSTATE 'HA001' OR SQLSTATE 'HA002' OR SQLSTATE 'HA003' THEN
        GET STACKED DIAGNOSTICS outcome = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
        RETURN NEXT;
        RETURN;
    END;
    outcome := 'done';
    detail := NULL;
    IF array_length(ids, 1) IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    FOR i IN 1 .. array_length(ids, 1) LOOP
        callback_id := ids[i];
        leased := leases[i];
        RETURN NEXT;
    END LOOP;
END
$$;
