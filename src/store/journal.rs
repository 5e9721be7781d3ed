//! The inbound journal: every signature-checked request with its raw bytes, headers and the
//! answer it got, written before that answer leaves. Writes are grouped: concurrent requests
//! share one transaction (one disk sync), which is what lets a node persist thousands of
//! requests a second on SQLite.

use std::collections::HashMap;

use tokio::sync::oneshot;

use super::BeginWrite;
use super::{now_ms, on_reader, on_writer, Store, StoreError};

/// One request to journal.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub bap_id: String,
    pub action: String,
    pub message_id: String,
    pub transaction_id: Option<String>,
    pub domain: Option<String>,
    pub city: Option<String>,
    pub bap_uri: Option<String>,
    pub body: Vec<u8>,
    pub authorization: Option<String>,
    pub gateway_authorization: Option<String>,
    pub received_at: i64,
    pub request_timestamp: Option<i64>,
    pub ttl_ms: Option<i64>,
    pub response_status: u16,
    pub response_body: Vec<u8>,
    /// `pending` when the request was acknowledged and awaits processing, `refused` for a NACK.
    pub state: &'static str,
}

/// What journaling found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalOutcome {
    /// A new request, stored under this id.
    Recorded(i64),
    /// The same (bap_id, action, message_id) was seen before; this is the answer it got.
    Replay { status: u16, body: Vec<u8> },
}

type Waiter = oneshot::Sender<Result<JournalOutcome, String>>;

/// Hands journal entries to the writer task(s) and waits for their commit.
#[derive(Clone)]
pub struct JournalWriter {
    sender: async_channel::Sender<(JournalEntry, Waiter)>,
}

/// Most entries one transaction takes.
const BATCH: usize = 256;

/// Writer tasks. One on either database: SQLite has one writer anyway, and on PostgreSQL
/// the groups of one writer are larger than those of several, which costs PostgreSQL less
/// CPU per request (BENCHMARKS.md, "One call per confirm"); a busy node's ACK waits for
/// at most one commit in progress and its own.
const WRITERS: usize = 1;

impl JournalWriter {
    /// Starts the writer task(s) (`WRITERS`).
    pub fn start(store: Store) -> Self {
        let (sender, receiver) = async_channel::bounded::<(JournalEntry, Waiter)>(8192);
        for _ in 0..WRITERS {
            let receiver = receiver.clone();
            let store = store.clone();
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(BATCH);
                while let Ok(first) = receiver.recv().await {
                    batch.push(first);
                    while batch.len() < BATCH {
                        match receiver.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let entries: Vec<&JournalEntry> =
                        batch.iter().map(|(entry, _)| entry).collect();
                    match store.journal_batch(&entries).await {
                        Ok(outcomes) => {
                            for ((_, waiter), outcome) in batch.drain(..).zip(outcomes) {
                                let _ = waiter.send(Ok(outcome));
                            }
                        }
                        Err(error) => {
                            tracing::error!(error = %error, entries = batch.len(), "journal write failed");
                            let text = error.to_string();
                            for (_, waiter) in batch.drain(..) {
                                let _ = waiter.send(Err(text.clone()));
                            }
                        }
                    }
                }
            });
        }
        Self { sender }
    }

    /// Journals one request; returns once it is committed.
    pub async fn record(&self, entry: JournalEntry) -> Result<JournalOutcome, StoreError> {
        let (waiter, answer) = oneshot::channel();
        self.sender
            .send((entry, waiter))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        match answer.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(text)) => Err(StoreError::Database(sqlx::Error::Protocol(text))),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

const INSERT_INBOUND_COLUMNS: &str = "INSERT INTO inbound (bap_id, action, message_id, transaction_id, domain, city, \
     bap_uri, body, authorization_header, gateway_authorization, received_at, request_timestamp, ttl_ms, \
     response_status, response_body, state) ";
const SELECT_ANSWER: &str =
    "SELECT response_status, response_body FROM inbound WHERE bap_id = $1 AND action = $2 AND message_id = $3";

/// A request that was acknowledged and still has to be processed.
#[derive(Debug, Clone)]
pub struct PendingInbound {
    pub id: i64,
    pub action: String,
    /// The journaled body; empty when `parsed` is given.
    pub body: Vec<u8>,
    /// The body as the HTTP handler already parsed it, so that the processor need not parse
    /// it again. Only given while few requests wait (see `http::inbound`), since a parsed
    /// body takes several times the memory of its bytes.
    pub parsed: Option<serde_json::Value>,
    pub received_at: i64,
}

/// A journaled request, as `haat` commands and log export read it.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    pub id: i64,
    pub bap_id: String,
    pub action: String,
    pub message_id: String,
    pub transaction_id: Option<String>,
    pub body: Vec<u8>,
    pub authorization: Option<String>,
    pub received_at: i64,
    pub response_status: i64,
    pub response_body: String,
    pub state: String,
    pub process_note: Option<String>,
}

impl Store {
    /// Inserts a batch with one multi-row statement in one transaction; entries whose
    /// (bap_id, action, message_id) is already journaled (or repeated within the batch) get
    /// the stored answer instead.
    async fn journal_batch(
        &self,
        entries: &[&JournalEntry],
    ) -> Result<Vec<JournalOutcome>, StoreError> {
        on_writer!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut insert = sqlx::QueryBuilder::new(INSERT_INBOUND_COLUMNS);
            insert.push_values(entries.iter(), |mut row, entry| {
                row.push_bind(&entry.bap_id)
                    .push_bind(&entry.action)
                    .push_bind(&entry.message_id)
                    .push_bind(&entry.transaction_id)
                    .push_bind(&entry.domain)
                    .push_bind(&entry.city)
                    .push_bind(&entry.bap_uri)
                    .push_bind(&entry.body)
                    .push_bind(&entry.authorization)
                    .push_bind(&entry.gateway_authorization)
                    .push_bind(entry.received_at)
                    .push_bind(entry.request_timestamp)
                    .push_bind(entry.ttl_ms)
                    .push_bind(i64::from(entry.response_status))
                    .push_bind(String::from_utf8_lossy(&entry.response_body).into_owned())
                    .push_bind(entry.state);
            });
            insert.push(" ON CONFLICT (bap_id, action, message_id) DO NOTHING RETURNING id, bap_id, action, message_id");
            let inserted: Vec<(i64, String, String, String)> = insert.build_query_as().fetch_all(&mut *tx).await?;
            let mut ids: HashMap<(&str, &str, &str), i64> = inserted
                .iter()
                .map(|(id, bap_id, action, message_id)| ((bap_id.as_str(), action.as_str(), message_id.as_str()), *id))
                .collect();
            let mut first_answers: HashMap<(&str, &str, &str), (u16, &[u8])> = HashMap::new();
            let mut outcomes = Vec::with_capacity(entries.len());
            for entry in entries {
                let key = (entry.bap_id.as_str(), entry.action.as_str(), entry.message_id.as_str());
                if let Some(id) = ids.remove(&key) {
                    first_answers.insert(key, (entry.response_status, &entry.response_body));
                    outcomes.push(JournalOutcome::Recorded(id));
                } else if let Some((status, body)) = first_answers.get(&key) {
                    outcomes.push(JournalOutcome::Replay { status: *status, body: body.to_vec() });
                } else {
                    let (status, body): (i64, String) = sqlx::query_as(SELECT_ANSWER)
                        .bind(&entry.bap_id)
                        .bind(&entry.action)
                        .bind(&entry.message_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    outcomes.push(JournalOutcome::Replay { status: status as u16, body: body.into_bytes() });
                }
            }
            tx.commit().await?;
            Ok(outcomes)
        })
    }

    /// Acknowledged requests not processed yet, oldest first (after a restart, or left by a
    /// replica that died). `older_than` keeps the sweep off requests a live worker is handling.
    pub async fn pending_inbound(
        &self,
        older_than: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<PendingInbound>, StoreError> {
        let rows: Vec<(i64, String, Vec<u8>, i64)> = on_reader!(self, pool => {
            sqlx::query_as(
                "SELECT id, action, body, received_at FROM inbound WHERE state = 'pending' AND received_at <= $1 \
                 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(older_than)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, action, body, received_at)| PendingInbound {
                id,
                action,
                body,
                parsed: None,
                received_at,
            })
            .collect())
    }

    /// Marks a request as handled without business effect (`unhandled`) or with a note.
    pub async fn finish_inbound(
        &self,
        id: i64,
        state: &str,
        note: &str,
    ) -> Result<bool, StoreError> {
        let done = on_writer!(self, pool => {
            sqlx::query("UPDATE inbound SET state = $1, processed_at = $2, process_note = $3 WHERE id = $4 AND state = 'pending'")
                .bind(state)
                .bind(now_ms())
                .bind(note)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Marks many pending requests with one state and note, in one statement.
    pub async fn finish_inbound_many(
        &self,
        ids: &[i64],
        state: &str,
        note: &str,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let done = on_writer!(self, pool => {
            let mut update = sqlx::QueryBuilder::new("UPDATE inbound SET state = ");
            update.push_bind(state).push(", processed_at = ").push_bind(now).push(", process_note = ").push_bind(note);
            update.push(" WHERE state = 'pending' AND id IN (");
            let mut list = update.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            update.push(")");
            update.build().execute(pool).await?.rows_affected()
        });
        Ok(done)
    }

    /// Every journaled request of a transaction, in arrival order.
    pub async fn inbound_for_transaction(
        &self,
        transaction_id: &str,
    ) -> Result<Vec<InboundRecord>, StoreError> {
        type Row = (
            i64,
            String,
            String,
            String,
            Option<String>,
            Vec<u8>,
            Option<String>,
            i64,
            i64,
            String,
            String,
            Option<String>,
        );
        let rows: Vec<Row> = on_reader!(self, pool => {
            sqlx::query_as(
                "SELECT id, bap_id, action, message_id, transaction_id, body, authorization_header, received_at, \
                 response_status, response_body, state, process_note FROM inbound WHERE transaction_id = $1 ORDER BY id",
            )
            .bind(transaction_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| InboundRecord {
                id: r.0,
                bap_id: r.1,
                action: r.2,
                message_id: r.3,
                transaction_id: r.4,
                body: r.5,
                authorization: r.6,
                received_at: r.7,
                response_status: r.8,
                response_body: r.9,
                state: r.10,
                process_note: r.11,
            })
            .collect())
    }
}
