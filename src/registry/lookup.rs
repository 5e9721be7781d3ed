//! Registry lookups (`/v2.0/lookup`, signed, or the older `/lookup`) and the cache of peers'
//! signing keys in front of them (SIGNING-AND-REGISTRY.md §3.2-§3.5).
//!
//! A key is cached until the earlier of its `valid_until` and the configured maximum.
//! Concurrent misses for one key share one registry call. An expired or unsubscribed entry is
//! never used, and a failed registry call is not remembered (only "not found" is, briefly).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::config::LookupApi;
use crate::metrics::Metrics;
use crate::protocol::keys::verifying_key_from_b64;
use crate::protocol::signing::{KeyRef, Signer};
use crate::protocol::time::parse_timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberType {
    BuyerApp,
    SellerApp,
    Gateway,
}

impl SubscriberType {
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "bap" | "buyerapp" => Some(Self::BuyerApp),
            "bpp" | "sellerapp" => Some(Self::SellerApp),
            "bg" | "gateway" => Some(Self::Gateway),
            _ => None,
        }
    }
}

/// A peer's registered signing key, as the registry vouched for it.
#[derive(Debug, Clone)]
pub struct RegisteredKey {
    pub subscriber_id: String,
    pub unique_key_id: String,
    pub verifying_key: VerifyingKey,
    pub subscriber_type: Option<SubscriberType>,
    pub subscriber_url: Option<String>,
    pub encryption_public_key: Option<String>,
    pub valid_until: Option<DateTime<Utc>>,
    fresh_until: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("the registry has no key {1} for {0}")]
    NotFound(String, String),
    #[error("the registry lists {0} as {1}, not SUBSCRIBED")]
    NotSubscribed(String, String),
    #[error("the registered key of {0} is not valid now (valid {1})")]
    OutsideValidity(String, String),
    #[error("the registry's key for {0} is not a usable Ed25519 key")]
    BadKey(String),
    #[error("the registry could not be asked: {0}")]
    Unavailable(String),
}

/// Talks to the registry over HTTP.
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base_url: String,
    api: LookupApi,
    signer: Signer,
    signature_validity_secs: u64,
}

impl RegistryClient {
    pub fn new(http: reqwest::Client, base_url: &str, api: LookupApi, signer: Signer) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api,
            signer,
            signature_validity_secs: 300,
        }
    }

    /// Raw lookup: the records the registry returns for these filters.
    pub async fn lookup(&self, filters: &Value) -> Result<Vec<Value>, LookupError> {
        let body = serde_json::to_vec(filters).expect("filters serialise");
        let (url, authorization) = match self.api {
            LookupApi::V2 => {
                let created = Utc::now().timestamp() as u64;
                let header = self.signer.authorization(
                    &body,
                    created,
                    created + self.signature_validity_secs,
                );
                (format!("{}/v2.0/lookup", self.base_url), Some(header))
            }
            LookupApi::V1 => (format!("{}/lookup", self.base_url), None),
        };
        let mut request = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(header) = authorization {
            request = request.header("Authorization", header);
        }
        let response = request
            .send()
            .await
            .map_err(|e| LookupError::Unavailable(format!("{url}: {e}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| LookupError::Unavailable(format!("{url}: {e}")))?;
        if !status.is_success() {
            return Err(LookupError::Unavailable(format!(
                "{url} answered HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(records)) => Ok(records),
            Ok(Value::Object(map)) if map.contains_key("message") || map.contains_key("error") => {
                Err(LookupError::Unavailable(format!(
                    "{url} refused the lookup: {}",
                    Value::Object(map)
                )))
            }
            _ => Err(LookupError::Unavailable(format!(
                "{url} did not answer with a JSON array of records"
            ))),
        }
    }

    /// Looks up one subscriber's key by `subscriber_id` and `unique_key_id`.
    pub async fn lookup_key(
        &self,
        key: &KeyRef,
        now: DateTime<Utc>,
    ) -> Result<RegisteredKey, LookupError> {
        let records = self
            .lookup(&json!({"subscriber_id": key.subscriber_id, "ukId": key.unique_key_id}))
            .await?;
        select_record(key, &records, now)
    }
}

fn text<'a>(record: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| record.get(*name).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// Picks the record for `key` and checks that it may be trusted now.
fn select_record(
    key: &KeyRef,
    records: &[Value],
    now: DateTime<Utc>,
) -> Result<RegisteredKey, LookupError> {
    let shown = || (key.subscriber_id.clone(), key.unique_key_id.clone());
    let candidates: Vec<&Value> = records
        .iter()
        .filter(|r| text(r, &["subscriber_id"]) == Some(key.subscriber_id.as_str()))
        .filter(|r| match text(r, &["ukId", "unique_key_id", "ukid"]) {
            Some(ukid) => ukid == key.unique_key_id,
            None => true,
        })
        .collect();
    let Some(record) = candidates
        .iter()
        .find(|r| text(r, &["signing_public_key"]).is_some())
    else {
        let (s, k) = shown();
        return Err(LookupError::NotFound(s, k));
    };
    if let Some(status) = text(record, &["status"]) {
        if !status.eq_ignore_ascii_case("SUBSCRIBED") {
            return Err(LookupError::NotSubscribed(
                key.subscriber_id.clone(),
                status.to_owned(),
            ));
        }
    }
    let valid_from = text(record, &["valid_from"]).and_then(parse_timestamp);
    let valid_until = text(record, &["valid_until"]).and_then(parse_timestamp);
    let outside =
        valid_from.is_some_and(|from| now < from) || valid_until.is_some_and(|until| now > until);
    if outside {
        let range = format!(
            "from {} until {}",
            text(record, &["valid_from"]).unwrap_or("?"),
            text(record, &["valid_until"]).unwrap_or("?")
        );
        return Err(LookupError::OutsideValidity(
            key.subscriber_id.clone(),
            range,
        ));
    }
    let verifying_key =
        verifying_key_from_b64(text(record, &["signing_public_key"]).unwrap_or_default())
            .map_err(|_| LookupError::BadKey(key.subscriber_id.clone()))?;
    let participant = record.get("network_participant").and_then(|p| p.get(0));
    let subscriber_type = text(record, &["type"])
        .or_else(|| participant.and_then(|p| text(p, &["type"])))
        .and_then(SubscriberType::parse);
    let subscriber_url = text(record, &["subscriber_url"])
        .map(str::to_owned)
        .or_else(|| {
            participant
                .and_then(|p| text(p, &["subscriber_url"]))
                .map(|path| format!("https://{}{path}", key.subscriber_id))
        });
    Ok(RegisteredKey {
        subscriber_id: key.subscriber_id.clone(),
        unique_key_id: key.unique_key_id.clone(),
        verifying_key,
        subscriber_type,
        subscriber_url,
        encryption_public_key: text(record, &["encr_public_key", "encryption_public_key"])
            .map(str::to_owned),
        valid_until,
        fresh_until: Instant::now(),
    })
}

type Slot = Arc<OnceCell<(Result<Arc<RegisteredKey>, LookupError>, Instant)>>;

/// Peers' keys: the cache in front of the registry.
#[derive(Clone)]
pub struct KeyDirectory {
    client: RegistryClient,
    slots: Arc<Mutex<HashMap<KeyRef, Slot>>>,
    max_age: Duration,
    negative_age: Duration,
    metrics: Metrics,
}

/// Whether a key came from the cache or was just fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Cached,
    Fetched,
}

impl KeyDirectory {
    pub fn new(
        client: RegistryClient,
        max_age: Duration,
        negative_age: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            client,
            slots: Default::default(),
            max_age,
            negative_age,
            metrics,
        }
    }

    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The key for `key`, from the cache when it is still good there.
    pub async fn get(&self, key: &KeyRef) -> Result<(Arc<RegisteredKey>, Freshness), LookupError> {
        let slot = {
            let mut slots = self.slots.lock();
            let usable = slots.get(key).filter(|slot| match slot.get() {
                None => true,
                Some((Err(LookupError::Unavailable(_)), _)) => false,
                Some((_, until)) => Instant::now() < *until,
            });
            match usable {
                Some(slot) => slot.clone(),
                None => {
                    let slot: Slot = Default::default();
                    slots.insert(key.clone(), slot.clone());
                    slot
                }
            }
        };
        let mut fetched = false;
        let (result, _) = slot
            .get_or_init(|| async {
                fetched = true;
                self.metrics.lookup("miss");
                let now = Utc::now();
                let result = self.client.lookup_key(key, now).await.map(|mut found| {
                    let mut age = self.max_age;
                    if let Some(until) = found.valid_until {
                        let left = (until - now).to_std().unwrap_or_default();
                        age = age.min(left);
                    }
                    found.fresh_until = Instant::now() + age;
                    Arc::new(found)
                });
                let until = match &result {
                    Ok(found) => found.fresh_until,
                    Err(_) => Instant::now() + self.negative_age,
                };
                (result, until)
            })
            .await;
        if !fetched {
            self.metrics.lookup("hit");
        }
        let freshness = if fetched {
            Freshness::Fetched
        } else {
            Freshness::Cached
        };
        result.clone().map(|found| (found, freshness))
    }

    /// Forgets a cached key (after a signature failed with it) and looks it up again.
    pub async fn refresh(
        &self,
        key: &KeyRef,
    ) -> Result<(Arc<RegisteredKey>, Freshness), LookupError> {
        self.slots.lock().remove(key);
        self.get(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyRef {
        KeyRef {
            subscriber_id: "buyer.example.com".into(),
            unique_key_id: "k1".into(),
        }
    }

    fn record(status: &str, until: &str) -> Value {
        json!({"subscriber_id": "buyer.example.com", "ukId": "k1", "status": status, "type": "BAP",
            "signing_public_key": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=",
            "valid_from": "2020-01-01T00:00:00.000Z", "valid_until": until})
    }

    #[test]
    fn a_subscribed_record_inside_its_validity_is_trusted() {
        let found = select_record(
            &key(),
            &[record("SUBSCRIBED", "2099-01-01T00:00:00.000Z")],
            Utc::now(),
        )
        .unwrap();
        assert_eq!(found.subscriber_type, Some(SubscriberType::BuyerApp));
    }

    #[test]
    fn an_unsubscribed_or_expired_record_is_never_trusted() {
        let now = Utc::now();
        assert!(matches!(
            select_record(
                &key(),
                &[record("UNSUBSCRIBED", "2099-01-01T00:00:00.000Z")],
                now
            ),
            Err(LookupError::NotSubscribed(..))
        ));
        assert!(matches!(
            select_record(
                &key(),
                &[record("SUBSCRIBED", "2021-01-01T00:00:00.000Z")],
                now
            ),
            Err(LookupError::OutsideValidity(..))
        ));
    }

    #[test]
    fn a_record_for_another_key_id_is_not_taken() {
        let mut other = record("SUBSCRIBED", "2099-01-01T00:00:00.000Z");
        other["ukId"] = json!("k2");
        assert!(matches!(
            select_record(&key(), &[other], Utc::now()),
            Err(LookupError::NotFound(..))
        ));
    }
}
