//! Orders, their drafts and history, seller tokens and grievances. Every change to an order
//! is one transaction with the request it answers, the stock it reserves or releases, its
//! history and its callbacks (`commit_order_change`), guarded by the order's version so that
//! two changes made from the same reading cannot both win.

use serde_json::Value;

use super::catalog::insert_item_change;
use super::outbox::insert_callback;
use super::pg_batch::{apply_order_change, apply_simple_run, SimpleChange};
use super::BeginWrite;
use super::{now_ms, on_reader, on_writer, Backend, NewCallback, Store, StoreError, WriteLease};

/// A stored order's record and version.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub doc: String,
    pub version: i64,
}

/// An entry of an order's history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrderEvent {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub detail: Value,
}

/// The row a seller's order list shows.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct OrderSummary {
    pub id: String,
    pub transaction_id: String,
    pub bap_id: String,
    pub provider_id: String,
    pub state: String,
    pub fulfillment_state: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An order to write: inserted when `expected_version` is None, else updated if unchanged.
#[derive(Debug, Clone)]
pub struct OrderWrite {
    pub id: String,
    pub transaction_id: String,
    pub bap_id: String,
    pub provider_id: String,
    pub state: String,
    pub fulfillment_state: String,
    pub doc: String,
    pub expected_version: Option<i64>,
}

/// A grievance to write, like `OrderWrite`.
#[derive(Debug, Clone)]
pub struct IssueWrite {
    pub id: String,
    pub transaction_id: String,
    pub order_id: Option<String>,
    pub provider_id: String,
    pub bap_id: String,
    pub status: String,
    pub doc: String,
    pub respond_by: i64,
    pub resolve_by: i64,
    pub expected_version: Option<i64>,
}

/// Everything one change writes, together.
#[derive(Debug, Clone, Default)]
pub struct OrderChange {
    /// The journaled request this answers (marked processed with this note), if any.
    pub inbound: Option<(i64, String)>,
    /// (transaction id, bap id, provider id, stage, doc)
    pub draft: Option<(String, String, String, String, String)>,
    pub order: Option<OrderWrite>,
    /// Stock to take (positive) or give back (negative): (provider, item, count).
    pub stock: Vec<(String, String, i64)>,
    /// (order id, actor, kind, detail)
    pub events: Vec<(String, String, String, Value)>,
    pub issue: Option<IssueWrite>,
    pub callbacks: Vec<NewCallback>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitResult {
    Done,
    /// The request was processed by another worker first; nothing was written.
    AlreadyProcessed,
    /// The order (or issue) changed since it was read, or an order with that id exists.
    Conflict,
    /// This item has fewer left than the change takes; nothing was written.
    OutOfStock(String),
}

/// Applies one `OrderChange` with the transaction `$tx`; evaluates to its `CommitResult`
/// (anything but Done means the caller must roll `$tx` back) and, for each of its callbacks
/// written, its id if it was written under `$lease` (see `insert_callback!`).
macro_rules! apply_change {
    ($tx:ident, $change:expr, $now:expr, $lease:expr) => {{
        let change: &OrderChange = $change;
        let now: i64 = $now;
        let lease: Option<WriteLease<'_>> = $lease;
        let mut leased = Vec::new();
        let result = 'change: {
            if let Some((inbound_id, note)) = &change.inbound {
                let claimed = sqlx::query(
                    "UPDATE inbound SET state = 'processed', processed_at = $1, process_note = $2 WHERE id = $3 AND state = 'pending'",
                )
                .bind(now)
                .bind(note)
                .bind(inbound_id)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
                if claimed != 1 {
                    break 'change CommitResult::AlreadyProcessed;
                }
            }
            for (provider_id, item_id, count) in &change.stock {
                let left: Option<i64> = sqlx::query_scalar(
                    "UPDATE catalog_items SET stock = stock - $1, \
                     updated_at = CASE WHEN (stock > 0) <> (stock - $1 > 0) THEN $2 ELSE updated_at END \
                     WHERE provider_id = $3 AND id = $4 AND stock >= $1 RETURNING stock",
                )
                .bind(count)
                .bind(now)
                .bind(provider_id)
                .bind(item_id)
                .fetch_optional(&mut *$tx)
                .await?;
                let Some(left) = left else {
                    break 'change CommitResult::OutOfStock(item_id.clone());
                };
                // Buyer apps see stock only as in stock or not (RETAIL-DIGEST.md §16.7), so a
                // change is recorded for incremental catalogues only when that flips.
                let before = left + count;
                if (before > 0) != (left > 0) {
                    insert_item_change!(&mut *$tx, "order", provider_id, item_id, now);
                }
            }
            if let Some((transaction_id, bap_id, provider_id, stage, doc)) = &change.draft {
                sqlx::query(
                    "INSERT INTO order_drafts (transaction_id, bap_id, provider_id, stage, doc, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (transaction_id) DO UPDATE SET provider_id = $3, stage = $4, doc = $5, updated_at = $6",
                )
                .bind(transaction_id)
                .bind(bap_id)
                .bind(provider_id)
                .bind(stage)
                .bind(doc)
                .bind(now)
                .execute(&mut *$tx)
                .await?;
            }
            if let Some(order) = &change.order {
                let written = match order.expected_version {
                    None => sqlx::query(
                        "INSERT INTO orders (id, transaction_id, bap_id, provider_id, state, fulfillment_state, doc, version, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8) ON CONFLICT DO NOTHING",
                    )
                    .bind(&order.id)
                    .bind(&order.transaction_id)
                    .bind(&order.bap_id)
                    .bind(&order.provider_id)
                    .bind(&order.state)
                    .bind(&order.fulfillment_state)
                    .bind(&order.doc)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected(),
                    Some(version) => sqlx::query(
                        "UPDATE orders SET state = $1, fulfillment_state = $2, doc = $3, version = version + 1, updated_at = $4 \
                         WHERE id = $5 AND version = $6",
                    )
                    .bind(&order.state)
                    .bind(&order.fulfillment_state)
                    .bind(&order.doc)
                    .bind(now)
                    .bind(&order.id)
                    .bind(version)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected(),
                };
                if written != 1 {
                    break 'change CommitResult::Conflict;
                }
            }
            if let Some(issue) = &change.issue {
                let written = match issue.expected_version {
                    None => sqlx::query(
                        "INSERT INTO issues (id, transaction_id, order_id, provider_id, bap_id, status, doc, version, respond_by, resolve_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $10) ON CONFLICT DO NOTHING",
                    )
                    .bind(&issue.id)
                    .bind(&issue.transaction_id)
                    .bind(&issue.order_id)
                    .bind(&issue.provider_id)
                    .bind(&issue.bap_id)
                    .bind(&issue.status)
                    .bind(&issue.doc)
                    .bind(issue.respond_by)
                    .bind(issue.resolve_by)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected(),
                    Some(version) => sqlx::query(
                        "UPDATE issues SET status = $1, doc = $2, version = version + 1, updated_at = $3 WHERE id = $4 AND version = $5",
                    )
                    .bind(&issue.status)
                    .bind(&issue.doc)
                    .bind(now)
                    .bind(&issue.id)
                    .bind(version)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected(),
                };
                if written != 1 {
                    break 'change CommitResult::Conflict;
                }
            }
            for (order_id, actor, kind, detail) in &change.events {
                sqlx::query("INSERT INTO order_events (order_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, $5)")
                    .bind(order_id)
                    .bind(now)
                    .bind(actor)
                    .bind(kind)
                    .bind(detail.to_string())
                    .execute(&mut *$tx)
                    .await?;
            }
            for callback in &change.callbacks {
                let (id, written_leased) = insert_callback!(&mut *$tx, callback, now, lease);
                leased.push(written_leased.then_some(id));
            }
            CommitResult::Done
        };
        (result, leased)
    }};
}

/// `apply_change!` in a savepoint of `$tx`, kept only when the change is Done.
macro_rules! apply_in_savepoint {
    ($tx:ident, $change:expr, $now:expr, $lease:expr) => {{
        let mut savepoint = sqlx::Connection::begin(&mut *$tx).await?;
        let (result, leased) = apply_change!(savepoint, $change, $now, $lease);
        if result == CommitResult::Done {
            savepoint.commit().await?;
            (result, leased)
        } else {
            savepoint.rollback().await?;
            (result, Vec::new())
        }
    }};
}

impl OrderChange {
    /// This change as a `SimpleChange`, when it can only fail at claiming its request.
    fn as_simple(&self) -> Option<SimpleChange<'_>> {
        let (inbound_id, note) = self.inbound.as_ref()?;
        (self.stock.is_empty() && self.order.is_none() && self.issue.is_none()).then(|| {
            SimpleChange {
                inbound_id: *inbound_id,
                note,
                draft: self.draft.as_ref(),
                events: &self.events,
                callbacks: &self.callbacks,
            }
        })
    }
}

/// `commit_order_changes` on PostgreSQL: consecutive simple changes are written together,
/// one statement per table (`pg_batch`); the others one by one, each with one call of a
/// function that keeps its own savepoint (grievances in a savepoint of their own, as on
/// SQLite). The order of the changes is kept.
async fn commit_order_changes_postgres(
    pool: &sqlx::PgPool,
    changes: &[OrderChange],
    now: i64,
    lease: Option<WriteLease<'_>>,
) -> Result<Vec<Committed>, StoreError> {
    let mut tx = pool.begin_write().await?;
    let mut results = Vec::with_capacity(changes.len());
    let mut run = Vec::new();
    for change in changes {
        if let Some(simple) = change.as_simple() {
            run.push(simple);
            continue;
        }
        flush_simple_run(&mut tx, &mut run, &mut results, now, lease).await?;
        if change.issue.is_none() {
            results.push(apply_order_change(&mut tx, change, now, lease).await?);
        } else {
            results.push(apply_in_savepoint!(tx, change, now, lease));
        }
    }
    flush_simple_run(&mut tx, &mut run, &mut results, now, lease).await?;
    tx.commit().await?;
    Ok(results)
}

async fn flush_simple_run(
    tx: &mut sqlx::PgConnection,
    run: &mut Vec<SimpleChange<'_>>,
    results: &mut Vec<Committed>,
    now: i64,
    lease: Option<WriteLease<'_>>,
) -> Result<(), StoreError> {
    let (done, leased) = apply_simple_run(tx, run, now, lease).await?;
    let mut leased = leased.into_iter();
    for (change, done) in run.iter().zip(done) {
        results.push(if done {
            (
                CommitResult::Done,
                leased.by_ref().take(change.callbacks.len()).collect(),
            )
        } else {
            (CommitResult::AlreadyProcessed, Vec::new())
        });
    }
    run.clear();
    Ok(())
}

/// What writing one change came to, and for each of its callbacks written, its id if it was
/// written under the lease.
pub type Committed = (CommitResult, Vec<Option<i64>>);

impl Store {
    pub async fn load_draft(
        &self,
        transaction_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row: Option<(String, String)> = on_reader!(self, pool => {
            sqlx::query_as("SELECT stage, doc FROM order_drafts WHERE transaction_id = $1")
                .bind(transaction_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// The order with this id and the draft of this transaction, read together: a confirm
    /// needs both, and one round trip costs less than two.
    pub async fn load_order_and_draft(
        &self,
        order_id: &str,
        transaction_id: &str,
    ) -> Result<(Option<StoredOrder>, Option<(String, String)>), StoreError> {
        type Row = (Option<String>, Option<i64>, Option<String>, Option<String>);
        let row: Row = on_reader!(self, pool => {
            sqlx::query_as(
                "SELECT o.doc, o.version, d.stage, d.doc FROM (SELECT 1 AS one) AS x \
                 LEFT JOIN orders o ON o.id = $1 LEFT JOIN order_drafts d ON d.transaction_id = $2",
            )
            .bind(order_id)
            .bind(transaction_id)
            .fetch_one(pool)
            .await?
        });
        let (order_doc, version, stage, draft_doc) = row;
        let order = order_doc
            .zip(version)
            .map(|(doc, version)| StoredOrder { doc, version });
        Ok((order, stage.zip(draft_doc)))
    }

    pub async fn load_order(&self, order_id: &str) -> Result<Option<StoredOrder>, StoreError> {
        self.load_order_where("id", order_id).await
    }

    pub async fn order_for_transaction(
        &self,
        transaction_id: &str,
    ) -> Result<Option<StoredOrder>, StoreError> {
        self.load_order_where("transaction_id", transaction_id)
            .await
    }

    async fn load_order_where(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<StoredOrder>, StoreError> {
        let sql = format!("SELECT doc, version FROM orders WHERE {column} = $1");
        // In WAL mode a reader sees every commit made before its query started, so a
        // change right after another reads it; the version check catches the rest.
        let row: Option<(String, i64)> = on_reader!(self, pool => {
            sqlx::query_as(&sql).bind(value).fetch_optional(pool).await?
        });
        Ok(row.map(|(doc, version)| StoredOrder { doc, version }))
    }

    /// Writes one change atomically; see `CommitResult` for what can stop it.
    pub async fn commit_order_change(
        &self,
        change: &OrderChange,
    ) -> Result<CommitResult, StoreError> {
        Ok(self
            .commit_order_changes(std::slice::from_ref(change), None)
            .await?
            .remove(0)
            .0)
    }

    /// Writes several changes in one transaction, each atomically on its own (a savepoint
    /// each): one that cannot be written leaves the others alone. Under load, changes made
    /// together share one commit (`OrderCommitter`). With a `lease`, the callbacks that may go
    /// out at once are written claimed by its owner (see `insert_callback!`).
    pub async fn commit_order_changes(
        &self,
        changes: &[OrderChange],
        lease: Option<WriteLease<'_>>,
    ) -> Result<Vec<Committed>, StoreError> {
        let now = now_ms();
        if let Backend::Postgres(pool) = &self.backend {
            return commit_order_changes_postgres(pool, changes, now, lease).await;
        }
        on_writer!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut results = Vec::with_capacity(changes.len());
            for change in changes {
                // A change that can only fail at its first statement (claiming its request)
                // needs no savepoint: nothing of it is written when it fails.
                let can_fail_midway = !change.stock.is_empty()
                    || change.order.is_some()
                    || change.issue.is_some()
                    || change.inbound.is_none();
                if !can_fail_midway {
                    results.push(apply_change!(tx, change, now, lease));
                    continue;
                }
                results.push(apply_in_savepoint!(tx, change, now, lease));
            }
            tx.commit().await?;
            Ok(results)
        })
    }

    /// A seller's orders, newest first, optionally in one state.
    pub async fn list_orders(
        &self,
        provider_id: &str,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OrderSummary>, StoreError> {
        let rows: Vec<OrderSummary> = on_reader!(self, pool => {
            sqlx::query_as(
                "SELECT id, transaction_id, bap_id, provider_id, state, fulfillment_state, created_at, updated_at FROM orders \
                 WHERE provider_id = $1 AND ($2 IS NULL OR state = $2 OR fulfillment_state = $2) ORDER BY created_at DESC, id LIMIT $3",
            )
            .bind(provider_id)
            .bind(state)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    pub async fn order_events(&self, order_id: &str) -> Result<Vec<OrderEvent>, StoreError> {
        let rows: Vec<(i64, String, String, String)> = on_reader!(self, pool => {
            sqlx::query_as("SELECT at, actor, kind, detail FROM order_events WHERE order_id = $1 ORDER BY id")
                .bind(order_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(at, actor, kind, detail)| OrderEvent {
                at,
                actor,
                kind,
                detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
            })
            .collect())
    }

    /// The messages of a transaction in both directions: (at, direction, action, message id,
    /// state).
    pub async fn transaction_messages(
        &self,
        transaction_id: &str,
    ) -> Result<Vec<(i64, String, String, String, String)>, StoreError> {
        let rows: Vec<(i64, String, String, String, String)> = on_reader!(self, pool => {
            sqlx::query_as(
                "SELECT received_at, 'received', action, message_id, state FROM inbound WHERE transaction_id = $1 \
                 UNION ALL SELECT created_at, 'sent', action, message_id, state FROM outbox WHERE transaction_id = $1 \
                 ORDER BY 1",
            )
            .bind(transaction_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    pub async fn add_seller_token(
        &self,
        token_hash: &str,
        provider_id: &str,
        label: &str,
    ) -> Result<(), StoreError> {
        on_writer!(self, pool => {
            sqlx::query("INSERT INTO seller_tokens (token_hash, provider_id, label, created_at) VALUES ($1, $2, $3, $4)")
                .bind(token_hash)
                .bind(provider_id)
                .bind(label)
                .bind(now_ms())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The provider a token belongs to, unless it was revoked.
    pub async fn token_provider(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on_reader!(self, pool => {
            sqlx::query_as("SELECT provider_id FROM seller_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(token_hash)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|r| r.0))
    }

    /// Revokes every token of a provider; returns how many.
    pub async fn revoke_seller_tokens(&self, provider_id: &str) -> Result<u64, StoreError> {
        let done = on_writer!(self, pool => {
            sqlx::query("UPDATE seller_tokens SET revoked_at = $1 WHERE provider_id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(provider_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    pub async fn load_issue(&self, issue_id: &str) -> Result<Option<(String, i64)>, StoreError> {
        let row: Option<(String, i64)> = on_reader!(self, pool => {
            sqlx::query_as("SELECT doc, version FROM issues WHERE id = $1")
                .bind(issue_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// A seller's grievances, newest first: (doc, status, respond_by, resolve_by).
    pub async fn list_issues(
        &self,
        provider_id: &str,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, String, i64, i64)>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = on_reader!(self, pool => {
            sqlx::query_as(
                "SELECT doc, status, respond_by, resolve_by FROM issues WHERE provider_id = $1 AND ($2 IS NULL OR status = $2) \
                 ORDER BY created_at DESC, id LIMIT $3",
            )
            .bind(provider_id)
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// An item's stored document and stock.
    pub async fn item_doc(
        &self,
        provider_id: &str,
        item_id: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row: Option<(String, i64)> = on_reader!(self, pool => {
            sqlx::query_as("SELECT doc, stock FROM catalog_items WHERE provider_id = $1 AND id = $2")
                .bind(provider_id)
                .bind(item_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// A seller's items: (doc, stock, enabled).
    pub async fn provider_items(
        &self,
        provider_id: &str,
    ) -> Result<Vec<(String, i64, bool)>, StoreError> {
        let rows: Vec<(String, i64, i64)> = on_reader!(self, pool => {
            sqlx::query_as("SELECT doc, stock, enabled FROM catalog_items WHERE provider_id = $1 ORDER BY id")
                .bind(provider_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(doc, stock, enabled)| (doc, stock, enabled == 1))
            .collect())
    }
}
