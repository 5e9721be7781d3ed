//! The outbox: callbacks waiting to be delivered, written in the same transaction as the
//! change that caused them, then claimed by a delivery worker under a lease. On PostgreSQL
//! the claim takes row locks with SKIP LOCKED, so replicas never claim the same callback.

use super::BeginWrite;
use super::{now_ms, on_reader, on_writer, Backend, Store, StoreError};

/// A callback to queue.
#[derive(Debug, Clone)]
pub struct NewCallback {
    pub action: String,
    /// `solicited` answers a request; `unsolicited` is the seller's own initiative.
    pub solicited: bool,
    pub inbound_id: Option<i64>,
    pub bap_id: String,
    pub url: String,
    pub transaction_id: String,
    pub message_id: String,
    pub domain: Option<String>,
    pub body: Vec<u8>,
    /// After this (Unix ms) the callback is dead-lettered instead of retried.
    pub deadline_at: i64,
}

/// Inserts `$callback` (a `&NewCallback`) with the executor `$tx`; evaluates to its id and
/// whether it was written leased. With a `$lease` (`Option<WriteLease>`), the callback is
/// written already claimed by its owner when it may go out at once: it needs no turn
/// (`NewCallback::needs_no_turn`), or nothing earlier of its transaction is pending, which
/// the statement checks itself (rows written earlier in `$tx` included).
macro_rules! insert_callback {
    ($tx:expr, $callback:expr, $now:expr) => {
        $crate::store::outbox::insert_callback!(
            $tx,
            $callback,
            $now,
            None::<$crate::store::WriteLease<'_>>
        )
    };
    ($tx:expr, $callback:expr, $now:expr, $lease:expr) => {{
        let callback: &$crate::store::NewCallback = $callback;
        let lease: Option<$crate::store::WriteLease<'_>> = $lease;
        let query = match lease {
            None => sqlx::query_as($crate::store::outbox::INSERT_CALLBACK),
            Some(_) => sqlx::query_as($crate::store::outbox::INSERT_LEASED_CALLBACK),
        };
        let query = query
            .bind(&callback.action)
            .bind(if callback.solicited {
                "solicited"
            } else {
                "unsolicited"
            })
            .bind(callback.inbound_id)
            .bind(&callback.bap_id)
            .bind(&callback.url)
            .bind(&callback.transaction_id)
            .bind(&callback.message_id)
            .bind(&callback.domain)
            .bind(&callback.body)
            .bind($now)
            .bind(callback.deadline_at);
        let query = match lease {
            None => query,
            Some(lease) => query
                .bind(lease.owner)
                .bind(lease.until)
                .bind(callback.needs_no_turn()),
        };
        let (id, leased): (i64, bool) = query.fetch_one($tx).await?;
        (id, leased)
    }};
}
pub(crate) use insert_callback;

/// `insert_callback!` without a lease.
pub(crate) const INSERT_CALLBACK: &str =
    "INSERT INTO outbox (action, kind, inbound_id, bap_id, url, transaction_id, message_id, domain, body, \
     created_at, deadline_at, next_attempt_at, state, attempts) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, 'pending', 0) \
     RETURNING id, lease_owner IS NOT NULL";

/// `insert_callback!` under a lease: $12 owner, $13 until, $14 whether it needs no turn.
pub(crate) const INSERT_LEASED_CALLBACK: &str =
    "INSERT INTO outbox (action, kind, inbound_id, bap_id, url, transaction_id, message_id, domain, body, \
     created_at, deadline_at, next_attempt_at, state, attempts, lease_owner, lease_until) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, 'pending', \
     CASE WHEN w.l THEN 1 ELSE 0 END, CASE WHEN w.l THEN $12 END, CASE WHEN w.l THEN $13 END \
     FROM (SELECT ($14 OR NOT EXISTS (SELECT 1 FROM outbox e WHERE e.transaction_id = $6 AND e.state = 'pending')) AS l) AS w \
     RETURNING id, lease_owner IS NOT NULL";

impl NewCallback {
    /// Whether the callback may go out as soon as it is written, whatever else its transaction
    /// has pending: on_search pages are independent of each other. Others wait their turn
    /// (a transaction's callbacks go out in order), so they are leased when written only if
    /// nothing earlier of their transaction is pending.
    pub fn needs_no_turn(&self) -> bool {
        self.action == "on_search"
    }
}

/// A lease taken as callbacks are written: the process that wrote them delivers them at once,
/// from memory, instead of claiming them and reading their bodies back. If it dies first, the
/// lease runs out and any replica claims them as usual.
#[derive(Debug, Clone, Copy)]
pub struct WriteLease<'a> {
    pub owner: &'a str,
    pub until: i64,
}

/// A callback claimed for one delivery attempt.
#[derive(Debug, Clone)]
pub struct ClaimedCallback {
    pub id: i64,
    pub action: String,
    pub bap_id: String,
    pub url: String,
    pub transaction_id: String,
    pub message_id: String,
    pub body: Vec<u8>,
    pub attempts: i64,
    pub deadline_at: i64,
    /// Why the previous attempt failed, if one did.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Pending,
    Delivered,
    Nacked,
    Failed,
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Nacked => "nacked",
            OutboxState::Failed => "failed",
            OutboxState::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Delivered,
            Self::Nacked,
            Self::Failed,
            Self::Dead,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What one attempt ended in, and so what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    Nacked {
        code: Option<String>,
        message: Option<String>,
    },
    Failed {
        reason: String,
    },
    Retry {
        at: i64,
        reason: String,
    },
    Dead {
        reason: String,
    },
}

/// The columns an attempt's outcome writes to its callback.
pub(crate) struct OutcomeRow<'a> {
    pub state: &'static str,
    /// When to try again (Retry only).
    pub next_attempt_at: Option<i64>,
    pub error: Option<&'a str>,
    pub nack_code: Option<&'a str>,
    pub nack_message: Option<&'a str>,
    /// The attempt's outcome in its history.
    pub label: &'static str,
}

impl DeliveryOutcome {
    pub(crate) fn row(&self) -> OutcomeRow<'_> {
        fn plain<'a>(state: &'static str, error: Option<&'a String>) -> OutcomeRow<'a> {
            OutcomeRow {
                state,
                next_attempt_at: None,
                error: error.map(String::as_str),
                nack_code: None,
                nack_message: None,
                label: state,
            }
        }
        match self {
            DeliveryOutcome::Delivered => plain("delivered", None),
            DeliveryOutcome::Nacked { code, message } => OutcomeRow {
                nack_code: code.as_deref(),
                nack_message: message.as_deref(),
                ..plain("nacked", None)
            },
            DeliveryOutcome::Failed { reason } => plain("failed", Some(reason)),
            DeliveryOutcome::Retry { at, reason } => OutcomeRow {
                next_attempt_at: Some(*at),
                label: "retry",
                ..plain("pending", Some(reason))
            },
            DeliveryOutcome::Dead { reason } => plain("dead", Some(reason)),
        }
    }
}

/// One delivery attempt, journaled with the exact header it carried.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_at: i64,
    pub authorization: String,
    pub http_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// A callback as `haat outbox list` shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub action: String,
    pub kind: String,
    pub bap_id: String,
    pub url: String,
    pub transaction_id: String,
    pub message_id: String,
    pub state: String,
    pub attempts: i64,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub deadline_at: i64,
    pub last_http_status: Option<i64>,
    pub last_error: Option<String>,
    pub nack_code: Option<String>,
    pub nack_message: Option<String>,
    pub body: Vec<u8>,
}

/// PostgreSQL claims through the function of migration 0004, which is the SQLite claim below
/// with bitmap scans turned off (dead entries of the pending index would cost every claim).
const CLAIM_POSTGRES: &str = "SELECT * FROM claim_due_callbacks($1, $2, $3, $4)";
/// Claims due callbacks. The callbacks of one transaction reach the buyer app in the order they
/// were made: one waits while an earlier one of its transaction is still pending (on_search
/// pages excepted, which are independent of each other). PostgreSQL's copy of this query is
/// the function in migrations/postgres/0004; a change here goes there too, in a new migration.
const CLAIM_SQLITE: &str = concat!(
    "UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT c.id FROM outbox c WHERE c.state = 'pending' AND c.next_attempt_at <= $3 \
     AND (c.lease_until IS NULL OR c.lease_until < $3) \
     AND (c.action = 'on_search' OR NOT EXISTS (SELECT 1 FROM outbox e WHERE e.transaction_id = c.transaction_id \
     AND e.state = 'pending' AND e.id < c.id))",
    " ORDER BY c.next_attempt_at, c.id LIMIT $4) \
     RETURNING id, action, bap_id, url, transaction_id, message_id, body, attempts, deadline_at, last_error"
);

type ClaimRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    i64,
    i64,
    Option<String>,
);
const OUTBOX_COLUMNS: &str =
    "id, action, kind, bap_id, url, transaction_id, message_id, state, attempts, created_at, \
     next_attempt_at, deadline_at, last_http_status, last_error, nack_code, nack_message, body";

impl Store {
    /// Queues callbacks on their own, for the seller's unsolicited actions.
    pub async fn enqueue_callbacks(
        &self,
        callbacks: &[NewCallback],
    ) -> Result<Vec<i64>, StoreError> {
        let now = now_ms();
        on_writer!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut ids = Vec::with_capacity(callbacks.len());
            for callback in callbacks {
                ids.push(insert_callback!(&mut *tx, callback, now).0);
            }
            tx.commit().await?;
            Ok(ids)
        })
    }

    /// Marks an acknowledged request processed and queues its callbacks, in one transaction.
    /// Returns false (and changes nothing) when another worker processed it first.
    pub async fn complete_inbound(
        &self,
        inbound_id: i64,
        note: &str,
        callbacks: &[NewCallback],
    ) -> Result<bool, StoreError> {
        let (done, _) = self
            .complete_inbound_many(&[(inbound_id, note.to_owned(), callbacks.to_vec())], None)
            .await?;
        Ok(done[0])
    }

    /// Completes many requests in one transaction: each is marked processed with its
    /// callbacks queued, unless another worker processed it first (then it is left alone and
    /// its entry in the result is false). With a `lease`, the callbacks that may go out at
    /// once (see `insert_callback!`) are written claimed by its owner. Second in the result,
    /// for each callback of the completions written, in order: its id if it was leased.
    pub async fn complete_inbound_many(
        &self,
        completions: &[(i64, String, Vec<NewCallback>)],
        lease: Option<WriteLease<'_>>,
    ) -> Result<(Vec<bool>, Vec<Option<i64>>), StoreError> {
        let now = now_ms();
        match &self.backend {
            Backend::Postgres(pool) => {
                let run: Vec<_> = completions
                    .iter()
                    .map(
                        |(inbound_id, note, callbacks)| super::pg_batch::SimpleChange {
                            inbound_id: *inbound_id,
                            note,
                            draft: None,
                            events: &[],
                            callbacks,
                        },
                    )
                    .collect();
                let mut tx = pool.begin_write().await?;
                let written = super::pg_batch::apply_simple_run(&mut tx, &run, now, lease).await?;
                tx.commit().await?;
                Ok(written)
            }
            // A few multi-row statements: each statement is a round trip to the connection's
            // thread, with the one writer connection held across it.
            Backend::Sqlite { writer, .. } => {
                let requests: Vec<(i64, &str)> = completions
                    .iter()
                    .map(|(inbound_id, note, _)| (*inbound_id, note.as_str()))
                    .collect();
                let mut tx = writer.begin_write().await?;
                let done = super::sqlite_batch::finish_requests(&mut tx, &requests, now).await?;
                let callbacks: Vec<&NewCallback> = completions
                    .iter()
                    .zip(&done)
                    .filter(|(_, &done)| done)
                    .flat_map(|((_, _, callbacks), _)| callbacks)
                    .collect();
                let leased =
                    super::sqlite_batch::insert_callbacks(&mut tx, &callbacks, now, lease).await?;
                tx.commit().await?;
                Ok((done, leased))
            }
        }
    }

    /// Claims up to `limit` due callbacks for `owner` until `lease_until`.
    pub async fn claim_due_callbacks(
        &self,
        owner: &str,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedCallback>, StoreError> {
        let now = now_ms();
        let sql = if self.is_postgres() {
            CLAIM_POSTGRES
        } else {
            CLAIM_SQLITE
        };
        let rows: Vec<ClaimRow> = on_writer!(self, pool => {
            sqlx::query_as(sql).bind(owner).bind(lease_until).bind(now).bind(limit).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|r| ClaimedCallback {
                id: r.0,
                action: r.1,
                bap_id: r.2,
                url: r.3,
                transaction_id: r.4,
                message_id: r.5,
                body: r.6,
                attempts: r.7,
                deadline_at: r.8,
                last_error: r.9,
            })
            .collect())
    }

    /// Gives up `owner`'s leases on callbacks still to be sent, so that any worker may claim
    /// them at once. Returns how many there were.
    pub async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let done = on_writer!(self, pool => {
            sqlx::query(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL \
                 WHERE lease_owner = $1 AND state = 'pending'",
            )
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done)
    }

    /// Records one attempt and its consequence, if `owner` still holds the lease.
    pub async fn record_attempt(
        &self,
        id: i64,
        owner: &str,
        attempt: &AttemptRecord,
        outcome: &DeliveryOutcome,
    ) -> Result<bool, StoreError> {
        let done = self
            .record_attempts(owner, &[(id, attempt.clone(), outcome.clone())])
            .await?;
        Ok(done[0])
    }

    /// Records many attempts in one transaction; each only if `owner` still holds its lease.
    pub async fn record_attempts(
        &self,
        owner: &str,
        attempts: &[(i64, AttemptRecord, DeliveryOutcome)],
    ) -> Result<Vec<bool>, StoreError> {
        Ok(self
            .record_attempts_noting_waiting(owner, attempts)
            .await?
            .0)
    }

    /// `record_attempts`, and whether a later callback of the transaction of one that
    /// finished is pending and waits its turn (on_search pages never wait): it may be due
    /// now, and only then need the claim loop look.
    pub async fn record_attempts_noting_waiting(
        &self,
        owner: &str,
        attempts: &[(i64, AttemptRecord, DeliveryOutcome)],
    ) -> Result<(Vec<bool>, bool), StoreError> {
        let now = now_ms();
        match &self.backend {
            // One call of a function is one atomic statement: no BEGIN and COMMIT round trips.
            Backend::Postgres(pool) => {
                let mut connection = pool.acquire().await?;
                super::pg_batch::record_attempts(&mut connection, owner, attempts, now).await
            }
            Backend::Sqlite { writer, .. } => {
                let mut tx = writer.begin_write().await?;
                let recorded =
                    super::sqlite_batch::record_attempts(&mut tx, owner, attempts, now).await?;
                tx.commit().await?;
                Ok(recorded)
            }
        }
    }

    /// Callbacks, newest first, optionally of one state.
    pub async fn list_callbacks(
        &self,
        state: Option<OutboxState>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows: Vec<OutboxRow> = on_reader!(self, pool => {
            match state {
                Some(state) => sqlx::query_as(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = $1 ORDER BY id DESC LIMIT $2"))
                    .bind(state.as_str())
                    .bind(limit)
                    .fetch_all(pool)
                    .await?,
                None => sqlx::query_as(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id DESC LIMIT $1"))
                    .bind(limit)
                    .fetch_all(pool)
                    .await?,
            }
        });
        Ok(rows)
    }

    pub async fn callbacks_for_transaction(
        &self,
        transaction_id: &str,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows: Vec<OutboxRow> = on_reader!(self, pool => {
            sqlx::query_as(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE transaction_id = $1 ORDER BY id"))
                .bind(transaction_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    pub async fn callback(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        let row: Option<OutboxRow> = on_reader!(self, pool => {
            sqlx::query_as(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1")).bind(id).fetch_optional(pool).await?
        });
        Ok(row)
    }

    /// Puts a finished callback back in the queue, due now, with `horizon_ms` more to live.
    /// Returns false if there is no such callback or it is still pending.
    pub async fn retry_callback(&self, id: i64, horizon_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let updated = on_writer!(self, pool => {
            sqlx::query(
                "UPDATE outbox SET state = 'pending', next_attempt_at = $1, deadline_at = $2, finished_at = NULL, \
                 lease_owner = NULL, lease_until = NULL WHERE id = $3 AND state <> 'pending'",
            )
            .bind(now)
            .bind(now + horizon_ms)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }

    /// How many attempts ended in each outcome for one callback (tests and diagnostics).
    pub async fn attempts_of(
        &self,
        id: i64,
    ) -> Result<Vec<(i64, String, Option<i64>, String)>, StoreError> {
        let rows = on_reader!(self, pool => {
            sqlx::query_as("SELECT attempt, outcome, http_status, authorization_header FROM outbox_attempts WHERE outbox_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }
}
