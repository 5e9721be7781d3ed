//! PostgreSQL only: groups of simple writes as one statement per table.
//!
//! On PostgreSQL every statement is a round trip and a parse-bind-execute on the server, and
//! a busy node commits changes in groups (`commit_order_changes`, `complete_inbound_many`,
//! `record_attempts`). Most changes in a group can only fail at their first statement,
//! claiming their request (select, init, status, track, search, every refusal), so a run of
//! them is written with arrays: one call claims all their requests (`finish_requests`,
//! migration 0005), then one INSERT each for their drafts, history and callbacks, whatever
//! the run's length. Attempts are recorded the same way (`record_attempts`). SQLite, in process,
//! pays little per statement and keeps the one-row statements.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::orders::{CommitResult, Committed, OrderChange};
use super::outbox::{AttemptRecord, DeliveryOutcome, NewCallback, WriteLease};
use super::StoreError;

/// A change that writes nothing unless it claims its request, and cannot fail after that.
pub(crate) struct SimpleChange<'a> {
    pub inbound_id: i64,
    pub note: &'a str,
    /// (transaction id, bap id, provider id, stage, doc)
    pub draft: Option<&'a (String, String, String, String, String)>,
    /// (order id, actor, kind, detail)
    pub events: &'a [(String, String, String, serde_json::Value)],
    pub callbacks: &'a [NewCallback],
}

/// Writes a run of simple changes in the open transaction `tx`, in their order. Returns, for
/// each, whether it claimed its request (false: another worker processed it first, or it
/// appears earlier in the run, and nothing of it was written), and for each callback of the
/// changes written, in order, its id if it was written under `lease` (see
/// `Store::complete_inbound_many`).
pub(crate) async fn apply_simple_run(
    tx: &mut PgConnection,
    run: &[SimpleChange<'_>],
    now: i64,
    lease: Option<WriteLease<'_>>,
) -> Result<(Vec<bool>, Vec<Option<i64>>), StoreError> {
    if run.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // A request present twice (a sweep racing the live worker) is claimed by its first copy:
    // the function marks them in order, and the second finds it processed.
    let (ids, notes): (Vec<i64>, Vec<&str>) = run.iter().map(|c| (c.inbound_id, c.note)).unzip();
    let claimed: Vec<i32> = sqlx::query_scalar("SELECT * FROM finish_requests($1, $2, $3)")
        .bind(&ids)
        .bind(&notes)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
    let done = positions_done(&claimed, run.len());
    let written: Vec<&SimpleChange> = run
        .iter()
        .zip(&done)
        .filter(|(_, done)| **done)
        .map(|(c, _)| c)
        .collect();
    if written.is_empty() {
        return Ok((done, Vec::new()));
    }
    upsert_drafts(tx, written.iter().filter_map(|c| c.draft), now).await?;
    insert_events(tx, written.iter().flat_map(|c| c.events.iter()), now).await?;
    let leased = insert_callbacks(
        tx,
        written.iter().flat_map(|c| c.callbacks.iter()),
        now,
        lease,
    )
    .await?;
    Ok((done, leased))
}

/// Upserts drafts; for a transaction present more than once the last one stands, as if they
/// had been written one after the other.
async fn upsert_drafts<'a>(
    tx: &mut PgConnection,
    drafts: impl Iterator<Item = &'a (String, String, String, String, String)>,
    now: i64,
) -> Result<(), StoreError> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    let drafts: Vec<_> = drafts.collect();
    for (index, draft) in drafts.iter().enumerate() {
        last.insert(draft.0.as_str(), index);
    }
    let mut columns: [Vec<&str>; 5] = Default::default();
    for (index, (transaction_id, bap_id, provider_id, stage, doc)) in drafts.iter().enumerate() {
        if last.get(transaction_id.as_str()) != Some(&index) {
            continue;
        }
        for (column, value) in
            columns
                .iter_mut()
                .zip([transaction_id, bap_id, provider_id, stage, doc])
        {
            column.push(value);
        }
    }
    if columns[0].is_empty() {
        return Ok(());
    }
    let [transaction_ids, bap_ids, provider_ids, stages, docs] = columns;
    sqlx::query(
        "INSERT INTO order_drafts (transaction_id, bap_id, provider_id, stage, doc, updated_at) \
         SELECT t, b, p, s, d, $6 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS n(t, b, p, s, d) \
         ON CONFLICT (transaction_id) DO UPDATE SET provider_id = EXCLUDED.provider_id, stage = EXCLUDED.stage, \
         doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at",
    )
    .bind(transaction_ids)
    .bind(bap_ids)
    .bind(provider_ids)
    .bind(stages)
    .bind(docs)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_events<'a>(
    tx: &mut PgConnection,
    events: impl Iterator<Item = &'a (String, String, String, serde_json::Value)>,
    now: i64,
) -> Result<(), StoreError> {
    let mut order_ids = Vec::new();
    let mut actors = Vec::new();
    let mut kinds = Vec::new();
    let mut details = Vec::new();
    for (order_id, actor, kind, detail) in events {
        order_ids.push(order_id.as_str());
        actors.push(actor.as_str());
        kinds.push(kind.as_str());
        details.push(detail.to_string());
    }
    if order_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_events (order_id, at, actor, kind, detail) \
         SELECT o, $5, a, k, d FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS n(o, a, k, d, i) \
         ORDER BY i",
    )
    .bind(order_ids)
    .bind(actors)
    .bind(kinds)
    .bind(details)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The body bytes one statement that queues callbacks carries, about (see `insert_callbacks`).
const CALLBACK_BYTES_PER_STATEMENT: usize = 1 << 20;

/// Queues callbacks with one statement (a few for megabytes of bodies); their ids follow
/// their order, which the outbox's in-order delivery within a transaction relies on. With a
/// `lease`, those that may go out at once are written claimed by its owner: those that need
/// no turn, and the first of each transaction among `callbacks` when nothing of that
/// transaction is pending (a statement sees what `tx` wrote before it, but not its own rows,
/// hence "the first"). Returns, for each callback in order, its id if it was leased.
pub(crate) async fn insert_callbacks<'a>(
    tx: &mut PgConnection,
    callbacks: impl Iterator<Item = &'a NewCallback>,
    now: i64,
    lease: Option<WriteLease<'_>>,
) -> Result<Vec<Option<i64>>, StoreError> {
    let mut actions = Vec::new();
    let mut kinds = Vec::new();
    let mut inbound_ids = Vec::new();
    let mut bap_ids = Vec::new();
    let mut urls = Vec::new();
    let mut transaction_ids = Vec::new();
    let mut message_ids = Vec::new();
    let mut domains = Vec::new();
    let mut bodies = Vec::new();
    let mut deadlines = Vec::new();
    // Per callback: may it be leased, and must its transaction have nothing pending for that.
    let mut candidates = Vec::new();
    let mut need_turn = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for callback in callbacks {
        let free = callback.needs_no_turn();
        // Pending on_search pages hold a later callback back too, as the claim does.
        let first_of_transaction = seen.insert(callback.transaction_id.as_str());
        candidates.push(lease.is_some() && (free || first_of_transaction));
        need_turn.push(!free);
        actions.push(callback.action.as_str());
        kinds.push(if callback.solicited {
            "solicited"
        } else {
            "unsolicited"
        });
        inbound_ids.push(callback.inbound_id);
        bap_ids.push(callback.bap_id.as_str());
        urls.push(callback.url.as_str());
        transaction_ids.push(callback.transaction_id.as_str());
        message_ids.push(callback.message_id.as_str());
        domains.push(callback.domain.as_deref());
        bodies.push(callback.body.as_slice());
        deadlines.push(callback.deadline_at);
    }
    // A city's on_search pages come to megabytes. Each statement carries at most about
    // `CALLBACK_BYTES_PER_STATEMENT` of bodies: sqlx builds a statement's message in a buffer
    // that grows by doubling and is kept by the connection afterwards, so one 8 MB statement
    // would leave a pooled connection holding 16 MB or more.
    let mut leased = Vec::with_capacity(actions.len());
    let mut begin = 0;
    while begin < actions.len() {
        let mut end = begin + 1;
        let mut bytes = bodies[begin].len();
        while end < actions.len() && bytes + bodies[end].len() <= CALLBACK_BYTES_PER_STATEMENT {
            bytes += bodies[end].len();
            end += 1;
        }
        let chunk = begin..end;
        // The ids come back in the order they were drawn, which is the order of the rows
        // (RETURNING's own order is not promised). A later statement sees what an earlier
        // one wrote, so its callbacks wait behind pending ones of their transaction.
        let rows: Vec<(i64, bool)> = sqlx::query_as(
            "WITH written AS (INSERT INTO outbox (action, kind, inbound_id, bap_id, url, transaction_id, message_id, domain, body, \
             created_at, deadline_at, next_attempt_at, state, attempts, lease_owner, lease_until) \
             SELECT a, k, ib, b, u, t, m, d, body, $11, dl, $11, 'pending', CASE WHEN l THEN 1 ELSE 0 END, \
             CASE WHEN l THEN $12::text END, CASE WHEN l THEN $13::int8 END \
             FROM (SELECT n.*, c AND (NOT nt OR NOT EXISTS (SELECT 1 FROM outbox e WHERE e.transaction_id = n.t AND e.state = 'pending')) AS l \
                   FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
                   $9::bytea[], $10::int8[], $14::bool[], $15::bool[]) WITH ORDINALITY AS n(a, k, ib, b, u, t, m, d, body, dl, c, nt, i)) AS r \
             ORDER BY i \
             RETURNING id, lease_owner IS NOT NULL AS leased) \
             SELECT id, leased FROM written ORDER BY id",
        )
        .bind(&actions[chunk.clone()])
        .bind(&kinds[chunk.clone()])
        .bind(&inbound_ids[chunk.clone()])
        .bind(&bap_ids[chunk.clone()])
        .bind(&urls[chunk.clone()])
        .bind(&transaction_ids[chunk.clone()])
        .bind(&message_ids[chunk.clone()])
        .bind(&domains[chunk.clone()])
        .bind(&bodies[chunk.clone()])
        .bind(&deadlines[chunk.clone()])
        .bind(now)
        .bind(lease.map(|l| l.owner))
        .bind(lease.map(|l| l.until))
        .bind(&candidates[chunk.clone()])
        .bind(&need_turn[chunk])
        .fetch_all(&mut *tx)
        .await?;
        leased.extend(rows.into_iter().map(|(id, leased)| leased.then_some(id)));
        begin = end;
    }
    Ok(leased)
}

/// Records delivery attempts with one statement: each updates its callback (only while
/// `owner` holds the lease) and adds its row to the attempt history. Returns, for each,
/// whether it was recorded, and whether a later callback of the transaction of one that
/// finished is pending (it may be due now).
pub(crate) async fn record_attempts(
    tx: &mut PgConnection,
    owner: &str,
    attempts: &[(i64, AttemptRecord, DeliveryOutcome)],
    now: i64,
) -> Result<(Vec<bool>, bool), StoreError> {
    let mut ids = Vec::with_capacity(attempts.len());
    let mut states = Vec::with_capacity(attempts.len());
    let mut next_attempts = Vec::with_capacity(attempts.len());
    let mut last_errors = Vec::with_capacity(attempts.len());
    let mut nack_codes = Vec::with_capacity(attempts.len());
    let mut nack_messages = Vec::with_capacity(attempts.len());
    let mut http_statuses = Vec::with_capacity(attempts.len());
    let mut finished = Vec::with_capacity(attempts.len());
    let mut started = Vec::with_capacity(attempts.len());
    let mut authorizations = Vec::with_capacity(attempts.len());
    let mut response_bodies = Vec::with_capacity(attempts.len());
    let mut attempt_errors = Vec::with_capacity(attempts.len());
    let mut labels = Vec::with_capacity(attempts.len());
    for (id, attempt, outcome) in attempts {
        let row = outcome.row();
        ids.push(*id);
        states.push(row.state);
        next_attempts.push(row.next_attempt_at);
        last_errors.push(row.error.or(attempt.error.as_deref()));
        nack_codes.push(row.nack_code);
        nack_messages.push(row.nack_message);
        http_statuses.push(attempt.http_status.map(i64::from));
        finished.push((row.state != "pending").then_some(now));
        started.push(attempt.started_at);
        authorizations.push(attempt.authorization.as_str());
        response_bodies.push(attempt.response_body.as_deref());
        attempt_errors.push(attempt.error.as_deref());
        labels.push(row.label);
    }
    let recorded: Vec<(i32, bool)> = sqlx::query_as(
        "SELECT recorded, waiting FROM record_attempts($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(owner)
    .bind(now)
    .bind(ids)
    .bind(states)
    .bind(next_attempts)
    .bind(last_errors)
    .bind(nack_codes)
    .bind(nack_messages)
    .bind(http_statuses)
    .bind(finished)
    .bind(started)
    .bind(authorizations)
    .bind(response_bodies)
    .bind(attempt_errors)
    .bind(labels)
    .fetch_all(&mut *tx)
    .await?;
    let waiting = recorded.iter().any(|(_, waiting)| *waiting);
    let positions: Vec<i32> = recorded.into_iter().map(|(position, _)| position).collect();
    Ok((positions_done(&positions, attempts.len()), waiting))
}

/// For each of `count` array elements, whether a function returned its position (from 1).
fn positions_done(positions: &[i32], count: usize) -> Vec<bool> {
    let mut done = vec![false; count];
    for position in positions {
        if let Some(slot) = usize::try_from(*position - 1)
            .ok()
            .and_then(|i| done.get_mut(i))
        {
            *slot = true;
        }
    }
    done
}

/// A row `apply_order_change` returns: outcome, detail, callback id, whether it was leased.
type ChangeRow = (String, Option<String>, Option<i64>, Option<bool>);

/// Writes a change that takes stock or writes an order (not a grievance) with one call of
/// `apply_order_change` (migration 0009), which does what `apply_change!` does with its own
/// savepoint: a change that cannot be written leaves nothing behind.
pub(crate) async fn apply_order_change(
    tx: &mut PgConnection,
    change: &OrderChange,
    now: i64,
    lease: Option<WriteLease<'_>>,
) -> Result<Committed, StoreError> {
    let (stock_providers, (stock_items, stock_counts)): (Vec<&str>, (Vec<&str>, Vec<i64>)) = change
        .stock
        .iter()
        .map(|(provider, item, count)| (provider.as_str(), (item.as_str(), *count)))
        .unzip();
    let draft = change.draft.as_ref();
    let order = change.order.as_ref();
    let mut event_orders = Vec::with_capacity(change.events.len());
    let mut event_actors = Vec::with_capacity(change.events.len());
    let mut event_kinds = Vec::with_capacity(change.events.len());
    let mut event_details = Vec::with_capacity(change.events.len());
    for (order_id, actor, kind, detail) in &change.events {
        event_orders.push(order_id.as_str());
        event_actors.push(actor.as_str());
        event_kinds.push(kind.as_str());
        event_details.push(detail.to_string());
    }
    let callbacks = &change.callbacks;
    let rows: Vec<ChangeRow> = sqlx::query_as(
        "SELECT outcome, detail, callback_id, leased FROM apply_order_change($1, $2, $3, $4, $5, $6, \
         $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, \
         $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36)",
    )
    .bind(now)
    .bind(change.inbound.as_ref().map(|(id, _)| *id))
    .bind(change.inbound.as_ref().map(|(_, note)| note.as_str()))
    .bind(stock_providers)
    .bind(stock_items)
    .bind(stock_counts)
    .bind(draft.map(|d| d.0.as_str()))
    .bind(draft.map(|d| d.1.as_str()))
    .bind(draft.map(|d| d.2.as_str()))
    .bind(draft.map(|d| d.3.as_str()))
    .bind(draft.map(|d| d.4.as_str()))
    .bind(order.map(|o| o.id.as_str()))
    .bind(order.map(|o| o.transaction_id.as_str()))
    .bind(order.map(|o| o.bap_id.as_str()))
    .bind(order.map(|o| o.provider_id.as_str()))
    .bind(order.map(|o| o.state.as_str()))
    .bind(order.map(|o| o.fulfillment_state.as_str()))
    .bind(order.map(|o| o.doc.as_str()))
    .bind(order.and_then(|o| o.expected_version))
    .bind(event_orders)
    .bind(event_actors)
    .bind(event_kinds)
    .bind(event_details)
    .bind(callbacks.iter().map(|c| c.action.as_str()).collect::<Vec<_>>())
    .bind(
        callbacks
            .iter()
            .map(|c| if c.solicited { "solicited" } else { "unsolicited" })
            .collect::<Vec<_>>(),
    )
    .bind(callbacks.iter().map(|c| c.inbound_id).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.bap_id.as_str()).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.url.as_str()).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.transaction_id.as_str()).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.message_id.as_str()).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.domain.as_deref()).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.body.as_slice()).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.deadline_at).collect::<Vec<_>>())
    .bind(callbacks.iter().map(NewCallback::needs_no_turn).collect::<Vec<_>>())
    .bind(lease.map(|l| l.owner))
    .bind(lease.map(|l| l.until))
    .fetch_all(&mut *tx)
    .await?;
    let outcome = rows.first().map(|row| row.0.as_str()).unwrap_or_default();
    let result = match outcome {
        "done" => CommitResult::Done,
        "processed" => CommitResult::AlreadyProcessed,
        "conflict" => CommitResult::Conflict,
        "out_of_stock" => CommitResult::OutOfStock(rows[0].1.clone().unwrap_or_default()),
        other => {
            return Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "apply_order_change answered {other:?}"
            ))))
        }
    };
    if result != CommitResult::Done {
        return Ok((result, Vec::new()));
    }
    let leased = rows
        .into_iter()
        .filter_map(|(_, _, id, leased)| id.map(|id| leased.unwrap_or(false).then_some(id)))
        .collect();
    Ok((result, leased))
}
