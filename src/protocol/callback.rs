//! Building the `context` of a callback from the request it answers (RETAIL-DIGEST.md §3:
//! echo domain, country, city, core_version, bap_id, bap_uri and transaction_id; add our
//! bpp_id and bpp_uri; our own timestamp, later than the request's; the request's message_id
//! when solicited, a fresh one otherwise).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use super::time::{format_timestamp, parse_duration_ms, parse_timestamp};

/// The parts of a journaled request a callback needs. Read from a body that already passed
/// the context checks, so nothing here re-checks freshness.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub raw: Map<String, Value>,
    pub action: String,
    pub bap_id: String,
    pub bap_uri: String,
    pub domain: String,
    pub transaction_id: String,
    pub message_id: String,
    pub timestamp: DateTime<Utc>,
    pub ttl_ms: i64,
}

impl RequestContext {
    pub fn read(body: &Value, default_ttl_ms: i64) -> Option<Self> {
        let raw = body.get("context")?.as_object()?.clone();
        let text = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            action: text("action")?,
            bap_id: text("bap_id")?,
            bap_uri: text("bap_uri")?,
            domain: text("domain")?,
            transaction_id: text("transaction_id")?,
            message_id: text("message_id")?,
            timestamp: text("timestamp").as_deref().and_then(parse_timestamp)?,
            ttl_ms: text("ttl")
                .as_deref()
                .and_then(parse_duration_ms)
                .unwrap_or(default_ttl_ms),
            raw,
        })
    }

    /// Where the callback `action` of this request goes: `{bap_uri}/{action}`.
    pub fn callback_url(&self, action: &str) -> String {
        format!("{}/{action}", self.bap_uri.trim_end_matches('/'))
    }

    /// When the request's ttl runs out (Unix ms).
    pub fn expires_at_ms(&self) -> i64 {
        self.timestamp.timestamp_millis() + self.ttl_ms
    }

    /// The context of a callback. `message_id` is the request's for a solicited answer.
    pub fn callback_context(
        &self,
        action: &str,
        bpp_id: &str,
        bpp_uri: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Value {
        let mut context = Map::new();
        for name in ["domain", "country", "city"] {
            if let Some(value) = self.raw.get(name) {
                context.insert(name.into(), value.clone());
            }
        }
        context.insert("action".into(), Value::String(action.to_owned()));
        for name in ["core_version", "bap_id", "bap_uri"] {
            if let Some(value) = self.raw.get(name) {
                context.insert(name.into(), value.clone());
            }
        }
        context.insert("bpp_id".into(), Value::String(bpp_id.to_owned()));
        context.insert("bpp_uri".into(), Value::String(bpp_uri.to_owned()));
        if let Some(value) = self.raw.get("transaction_id") {
            context.insert("transaction_id".into(), value.clone());
        }
        context.insert("message_id".into(), Value::String(message_id.to_owned()));
        // A callback must be later than its request even when the buyer app's clock runs ahead.
        let at = if now > self.timestamp {
            now
        } else {
            self.timestamp + Duration::milliseconds(1)
        };
        context.insert("timestamp".into(), Value::String(format_timestamp(at)));
        context.insert("ttl".into(), Value::String("PT30S".into()));
        Value::Object(context)
    }
}
