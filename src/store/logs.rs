//! What a transaction's certification log is made of: every request the journal holds for it,
//! with the headers it came with and the answer it got, and every callback with each of its
//! delivery attempts (the exact `Authorization` sent and what the buyer app answered).
//! Bodies are read back as the stored bytes, never re-encoded.

use super::{on_reader, Store, StoreError};

/// A journaled request, as received.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReceivedRequest {
    pub id: i64,
    pub bap_id: String,
    pub action: String,
    pub message_id: String,
    /// The bytes as received.
    pub body: Vec<u8>,
    #[sqlx(rename = "authorization_header")]
    pub authorization: Option<String>,
    pub gateway_authorization: Option<String>,
    pub received_at: i64,
    /// The synchronous answer the node gave: HTTP status and ACK/NACK body.
    pub response_status: i64,
    pub response_body: String,
    pub state: String,
}

/// A callback with its delivery attempts, oldest first.
#[derive(Debug, Clone)]
pub struct SentCallback {
    pub id: i64,
    pub action: String,
    /// The journaled request it answers, if solicited.
    pub inbound_id: Option<i64>,
    pub url: String,
    pub message_id: String,
    /// The bytes signed and sent.
    pub body: Vec<u8>,
    pub created_at: i64,
    pub state: String,
    pub attempts: Vec<DeliveryAttempt>,
}

/// One delivery attempt of a callback.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryAttempt {
    pub outbox_id: i64,
    pub attempt: i64,
    pub started_at: i64,
    pub finished_at: i64,
    /// The header sent; empty when no request was made (the callback's ttl ran out first).
    #[sqlx(rename = "authorization_header")]
    pub authorization: String,
    pub http_status: Option<i64>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// delivered, nacked, failed, retry or dead.
    pub outcome: String,
}

impl DeliveryAttempt {
    /// Did this attempt put the bytes on the wire?
    pub fn was_sent(&self) -> bool {
        !self.authorization.is_empty()
    }

    /// Did the buyer app receive the callback and answer it with an ACK or a NACK?
    pub fn reached_the_buyer_app(&self) -> bool {
        matches!(self.outcome.as_str(), "delivered" | "nacked")
    }
}

#[derive(sqlx::FromRow)]
struct CallbackRow {
    id: i64,
    action: String,
    inbound_id: Option<i64>,
    url: String,
    message_id: String,
    body: Vec<u8>,
    created_at: i64,
    state: String,
}

/// Everything stored of one transaction, in the order it was written.
#[derive(Debug, Clone, Default)]
pub struct TransactionLog {
    pub requests: Vec<ReceivedRequest>,
    pub callbacks: Vec<SentCallback>,
}

impl TransactionLog {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.callbacks.is_empty()
    }
}

impl Store {
    /// The requests and callbacks of a transaction, each callback with its attempts.
    pub async fn transaction_log(
        &self,
        transaction_id: &str,
    ) -> Result<TransactionLog, StoreError> {
        let (requests, callbacks, attempts): (
            Vec<ReceivedRequest>,
            Vec<CallbackRow>,
            Vec<DeliveryAttempt>,
        ) = on_reader!(self, pool => {
            let requests = sqlx::query_as(
                "SELECT id, bap_id, action, message_id, body, authorization_header, gateway_authorization, \
                 received_at, response_status, response_body, state FROM inbound WHERE transaction_id = $1 ORDER BY id",
            )
            .bind(transaction_id)
            .fetch_all(pool)
            .await?;
            let callbacks = sqlx::query_as(
                "SELECT id, action, inbound_id, url, message_id, body, created_at, state FROM outbox \
                 WHERE transaction_id = $1 ORDER BY id",
            )
            .bind(transaction_id)
            .fetch_all(pool)
            .await?;
            let attempts = sqlx::query_as(
                "SELECT a.outbox_id, a.attempt, a.started_at, a.finished_at, a.authorization_header, a.http_status, \
                 a.response_body, a.error, a.outcome FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id \
                 WHERE o.transaction_id = $1 ORDER BY a.outbox_id, a.id",
            )
            .bind(transaction_id)
            .fetch_all(pool)
            .await?;
            (requests, callbacks, attempts)
        });
        let mut attempts = attempts.into_iter().peekable();
        let callbacks = callbacks
            .into_iter()
            .map(|row| {
                let mut mine = Vec::new();
                while let Some(attempt) = attempts.next_if(|a| a.outbox_id <= row.id) {
                    if attempt.outbox_id == row.id {
                        mine.push(attempt);
                    }
                }
                SentCallback {
                    id: row.id,
                    action: row.action,
                    inbound_id: row.inbound_id,
                    url: row.url,
                    message_id: row.message_id,
                    body: row.body,
                    created_at: row.created_at,
                    state: row.state,
                    attempts: mine,
                }
            })
            .collect();
        Ok(TransactionLog {
            requests,
            callbacks,
        })
    }
}
