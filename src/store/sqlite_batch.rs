//! SQLite only: groups of writes as a few multi-row statements instead of one per row.
//!
//! sqlx runs every SQLite statement on the connection's own thread: each is a round trip
//! through a channel there and back, and the task that holds the one writer connection waits
//! for a tokio worker between two of them. On a busy node the writer was held for those waits
//! rather than for SQLite's work: a completed search cost two round trips on it and a
//! delivery attempt three (BENCHMARKS.md, "The SQLite writer's round trips"). These functions
//! write a group with one statement per table and chunk of rows.
//!
//! Rows go in chunks of 32, 16, 8, 4, 2 or 1, so that a statement's text takes one of six
//! shapes per kind and stays in the connection's statement cache. A chunk of callbacks also
//! stops at about 1 MB of bodies: a city's on_search pages come to megabytes.

use std::collections::HashSet;
use std::ops::Range;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::outbox::{AttemptRecord, DeliveryOutcome, NewCallback, WriteLease};
use super::StoreError;

/// Most rows in one statement.
const MOST_ROWS: usize = 32;
/// The body bytes one statement that queues callbacks carries, about.
const BODY_BYTES_PER_STATEMENT: usize = 1 << 20;

/// The chunk that starts at `start` of `len` rows: as many as fit in `MOST_ROWS` and, by
/// `bytes`, in `BODY_BYTES_PER_STATEMENT` (at least one), rounded down to a power of two.
fn next_chunk(start: usize, len: usize, bytes: impl Fn(usize) -> usize) -> Range<usize> {
    let mut end = start + 1;
    let mut total = bytes(start);
    while end < len && end - start < MOST_ROWS && total + bytes(end) <= BODY_BYTES_PER_STATEMENT {
        total += bytes(end);
        end += 1;
    }
    let count = end - start;
    let count = 1 << (usize::BITS - 1 - count.leading_zeros());
    start..start + count
}

/// The chunks of `len` rows, in order (see `next_chunk`).
fn chunks(len: usize, bytes: impl Fn(usize) -> usize) -> Vec<Range<usize>> {
    let mut all = Vec::new();
    let mut start = 0;
    while start < len {
        let chunk = next_chunk(start, len, &bytes);
        start = chunk.end;
        all.push(chunk);
    }
    all
}

/// The positions of the first copy of each key, in order: a request or callback present twice
/// in a group (a sweep racing the live worker) is written by its first copy only, as if the
/// group were written one element after the other.
fn first_copies(keys: impl Iterator<Item = i64>) -> Vec<usize> {
    let mut seen = HashSet::new();
    keys.enumerate()
        .filter(|&(_, key)| seen.insert(key))
        .map(|(position, _)| position)
        .collect()
}

/// Marks each pending request processed with its note; returns, for each, whether it was
/// marked (false: already processed, or an earlier copy in `requests` marked it).
pub(crate) async fn finish_requests(
    tx: &mut SqliteConnection,
    requests: &[(i64, &str)],
    now: i64,
) -> Result<Vec<bool>, StoreError> {
    let firsts = first_copies(requests.iter().map(|(id, _)| *id));
    let mut marked = HashSet::new();
    for chunk in chunks(firsts.len(), |_| 0) {
        let mut sql =
            QueryBuilder::<Sqlite>::new("UPDATE inbound SET state = 'processed', processed_at = ");
        sql.push_bind(now).push(", process_note = v.column2 FROM (");
        sql.push_values(&firsts[chunk.clone()], |mut row, &i| {
            row.push_bind(requests[i].0).push_bind(requests[i].1);
        });
        sql.push(") AS v WHERE inbound.id = v.column1 AND inbound.state = 'pending' RETURNING inbound.id");
        let ids: Vec<i64> = sql.build_query_scalar().fetch_all(&mut *tx).await?;
        marked.extend(ids);
    }
    let mut done = vec![false; requests.len()];
    for i in firsts {
        done[i] = marked.contains(&requests[i].0);
    }
    Ok(done)
}

/// Which of `transactions` have a pending callback.
async fn busy_transactions(
    tx: &mut SqliteConnection,
    transactions: &[&str],
) -> Result<HashSet<String>, StoreError> {
    let mut busy = HashSet::new();
    for chunk in chunks(transactions.len(), |_| 0) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT DISTINCT transaction_id FROM outbox WHERE state = 'pending' AND transaction_id IN (",
        );
        let mut list = sql.separated(", ");
        for transaction in &transactions[chunk.clone()] {
            list.push_bind(*transaction);
        }
        sql.push(")");
        let found: Vec<String> = sql.build_query_scalar().fetch_all(&mut *tx).await?;
        busy.extend(found);
    }
    Ok(busy)
}

/// Queues callbacks; their ids follow their order, which the outbox's in-order delivery within
/// a transaction relies on. With a `lease`, those that may go out at once are written claimed
/// by its owner: those that need no turn, and the first of each transaction among `callbacks`
/// when nothing of that transaction is pending (`insert_callback!` decides the same one row
/// at a time). Returns, for each callback in order, its id if it was leased.
pub(crate) async fn insert_callbacks(
    tx: &mut SqliteConnection,
    callbacks: &[&NewCallback],
    now: i64,
    lease: Option<WriteLease<'_>>,
) -> Result<Vec<Option<i64>>, StoreError> {
    let mut leased = vec![false; callbacks.len()];
    if lease.is_some() {
        let mut seen = HashSet::new();
        let mut asking = Vec::new();
        for (i, callback) in callbacks.iter().enumerate() {
            // Pending on_search pages hold a later callback back too, as the claim does.
            let first_of_transaction = seen.insert(callback.transaction_id.as_str());
            if callback.needs_no_turn() {
                leased[i] = true;
            } else if first_of_transaction {
                asking.push(i);
            }
        }
        let transactions: Vec<&str> = asking
            .iter()
            .map(|&i| callbacks[i].transaction_id.as_str())
            .collect();
        let busy = busy_transactions(tx, &transactions).await?;
        for i in asking {
            leased[i] = !busy.contains(&callbacks[i].transaction_id);
        }
    }
    let mut written = Vec::with_capacity(callbacks.len());
    for chunk in chunks(callbacks.len(), |i| callbacks[i].body.len()) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "INSERT INTO outbox (action, kind, inbound_id, bap_id, url, transaction_id, message_id, domain, body, \
             created_at, deadline_at, next_attempt_at, state, attempts, lease_owner, lease_until) ",
        );
        sql.push_values(chunk.clone(), |mut row, i| {
            let callback = callbacks[i];
            let lease = lease.filter(|_| leased[i]);
            row.push_bind(callback.action.as_str())
                .push_bind(if callback.solicited {
                    "solicited"
                } else {
                    "unsolicited"
                })
                .push_bind(callback.inbound_id)
                .push_bind(callback.bap_id.as_str())
                .push_bind(callback.url.as_str())
                .push_bind(callback.transaction_id.as_str())
                .push_bind(callback.message_id.as_str())
                .push_bind(callback.domain.as_deref())
                .push_bind(callback.body.as_slice())
                .push_bind(now)
                .push_bind(callback.deadline_at)
                .push_bind(now)
                .push_unseparated(", 'pending'")
                .push_bind(i64::from(lease.is_some()))
                .push_bind(lease.map(|l| l.owner))
                .push_bind(lease.map(|l| l.until));
        });
        sql.push(" RETURNING id");
        let mut ids: Vec<i64> = sql.build_query_scalar().fetch_all(&mut *tx).await?;
        // Rows take ascending ids in the order they are written; RETURNING's order is not
        // promised.
        ids.sort_unstable();
        written.extend(
            ids.into_iter()
                .zip(chunk.clone())
                .map(|(id, i)| leased[i].then_some(id)),
        );
    }
    Ok(written)
}

/// Records delivery attempts: each updates its callback (only while `owner` holds the lease)
/// and adds its row to the attempt history. Returns, for each, whether it was recorded, and
/// whether a later callback of the transaction of one that finished is pending (it may be
/// due now).
pub(crate) async fn record_attempts(
    tx: &mut SqliteConnection,
    owner: &str,
    attempts: &[(i64, AttemptRecord, DeliveryOutcome)],
    now: i64,
) -> Result<(Vec<bool>, bool), StoreError> {
    let firsts = first_copies(attempts.iter().map(|(id, _, _)| *id));
    let rows: Vec<_> = attempts
        .iter()
        .map(|(_, _, outcome)| outcome.row())
        .collect();
    // Per callback recorded: its attempt number and transaction.
    let mut recorded = std::collections::HashMap::new();
    for chunk in chunks(firsts.len(), |_| 0) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "UPDATE outbox SET state = v.column2, next_attempt_at = COALESCE(v.column3, next_attempt_at), \
             last_error = v.column4, nack_code = v.column5, nack_message = v.column6, last_http_status = v.column7, \
             finished_at = v.column8, lease_owner = NULL, lease_until = NULL FROM (",
        );
        sql.push_values(&firsts[chunk.clone()], |mut row, &i| {
            let (id, attempt, _) = &attempts[i];
            let outcome = &rows[i];
            row.push_bind(*id)
                .push_bind(outcome.state)
                .push_bind(outcome.next_attempt_at)
                .push_bind(outcome.error.or(attempt.error.as_deref()))
                .push_bind(outcome.nack_code)
                .push_bind(outcome.nack_message)
                .push_bind(attempt.http_status.map(i64::from))
                .push_bind((outcome.state != "pending").then_some(now));
        });
        sql.push(") AS v WHERE outbox.id = v.column1 AND outbox.lease_owner = ")
            .push_bind(owner)
            .push(" RETURNING outbox.id, outbox.attempts, outbox.transaction_id");
        let updated: Vec<(i64, i64, String)> = sql.build_query_as().fetch_all(&mut *tx).await?;
        recorded.extend(
            updated
                .into_iter()
                .map(|(id, attempt, transaction)| (id, (attempt, transaction))),
        );
    }
    let mut done = vec![false; attempts.len()];
    for &i in &firsts {
        done[i] = recorded.contains_key(&attempts[i].0);
    }
    let history: Vec<usize> = (0..attempts.len()).filter(|&i| done[i]).collect();
    for chunk in chunks(history.len(), |_| 0) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, finished_at, authorization_header, \
             http_status, response_body, error, outcome) ",
        );
        sql.push_values(&history[chunk.clone()], |mut row, &i| {
            let (id, attempt, _) = &attempts[i];
            row.push_bind(*id)
                .push_bind(recorded[id].0)
                .push_bind(attempt.started_at)
                .push_bind(now)
                .push_bind(attempt.authorization.as_str())
                .push_bind(attempt.http_status.map(i64::from))
                .push_bind(attempt.response_body.as_deref())
                .push_bind(attempt.error.as_deref())
                .push_bind(rows[i].label);
        });
        sql.build().execute(&mut *tx).await?;
    }
    // Whether a callback that finished has a later one of its transaction pending, which is
    // not an on_search page (pages never wait their turn).
    let finished: Vec<usize> = history
        .into_iter()
        .filter(|&i| rows[i].state != "pending")
        .collect();
    let mut waiting = false;
    for chunk in chunks(finished.len(), |_| 0) {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT EXISTS (SELECT 1 FROM (");
        sql.push_values(&finished[chunk.clone()], |mut row, &i| {
            let id = attempts[i].0;
            row.push_bind(recorded[&id].1.as_str()).push_bind(id);
        });
        sql.push(
            ") AS v WHERE EXISTS (SELECT 1 FROM outbox e WHERE e.transaction_id = v.column1 \
             AND e.state = 'pending' AND e.id > v.column2 AND e.action <> 'on_search'))",
        );
        waiting = sql.build_query_scalar().fetch_one(&mut *tx).await?;
        if waiting {
            break;
        }
    }
    Ok((done, waiting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_of_at_most_32_rows_and_about_a_megabyte() {
        let sizes = |len: usize, bytes: &dyn Fn(usize) -> usize| -> Vec<usize> {
            chunks(len, bytes).iter().map(Range::len).collect()
        };
        assert_eq!(sizes(1, &|_| 0), vec![1]);
        assert_eq!(sizes(7, &|_| 0), vec![4, 2, 1]);
        assert_eq!(sizes(70, &|_| 0), vec![32, 32, 4, 2]);
        // 400 KB pages: two fit in a megabyte.
        assert_eq!(sizes(5, &|_| 400_000), vec![2, 2, 1]);
        // A page larger than a megabyte still goes, alone.
        assert_eq!(sizes(2, &|_| 3_000_000), vec![1, 1]);
    }

    #[test]
    fn only_the_first_copy_of_a_key_is_kept() {
        assert_eq!(first_copies([5_i64, 7, 5, 9, 7].into_iter()), vec![0, 1, 3]);
    }
}
