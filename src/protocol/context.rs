//! The Beckn `context` of an inbound request, checked against the rules of
//! RETAIL-DIGEST.md §3 and turned into typed values.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::ack::{ErrorType, WireError};
use super::time::{parse_duration_ms, parse_timestamp};

/// The actions a seller node serves (RETAIL-DIGEST.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Search,
    Select,
    Init,
    Confirm,
    Status,
    Track,
    Cancel,
    Update,
    Rating,
    Support,
    Issue,
    IssueStatus,
    CatalogRejection,
}

impl Action {
    pub const ALL: [Action; 13] = [
        Action::Search,
        Action::Select,
        Action::Init,
        Action::Confirm,
        Action::Status,
        Action::Track,
        Action::Cancel,
        Action::Update,
        Action::Rating,
        Action::Support,
        Action::Issue,
        Action::IssueStatus,
        Action::CatalogRejection,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Search => "search",
            Action::Select => "select",
            Action::Init => "init",
            Action::Confirm => "confirm",
            Action::Status => "status",
            Action::Track => "track",
            Action::Cancel => "cancel",
            Action::Update => "update",
            Action::Rating => "rating",
            Action::Support => "support",
            Action::Issue => "issue",
            Action::IssueStatus => "issue_status",
            Action::CatalogRejection => "catalog_rejection",
        }
    }

    /// The callback this action is answered with; `catalog_rejection` has none.
    pub fn callback(self) -> Option<&'static str> {
        Some(match self {
            Action::Search => "on_search",
            Action::Select => "on_select",
            Action::Init => "on_init",
            Action::Confirm => "on_confirm",
            Action::Status => "on_status",
            Action::Track => "on_track",
            Action::Cancel => "on_cancel",
            Action::Update => "on_update",
            Action::Rating => "on_rating",
            Action::Support => "on_support",
            Action::Issue => "on_issue",
            Action::IssueStatus => "on_issue_status",
            Action::CatalogRejection => return None,
        })
    }

    /// IGM calls carry `core_version` 1.0.0; retail calls 1.2.5 (or 1.2.0).
    pub fn is_igm(self) -> bool {
        matches!(self, Action::Issue | Action::IssueStatus)
    }
}

/// A transaction id: one per catalogue pull or per order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionId(pub String);

/// A message id: one per request/callback pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(pub String);

/// A checked request context.
#[derive(Debug, Clone)]
pub struct Context {
    pub domain: String,
    pub country: String,
    pub city: String,
    pub action: Action,
    pub core_version: String,
    pub bap_id: String,
    pub bap_uri: String,
    pub bpp_id: Option<String>,
    pub bpp_uri: Option<String>,
    pub transaction_id: TransactionId,
    pub message_id: MessageId,
    pub timestamp: DateTime<Utc>,
    pub ttl_ms: i64,
}

/// The fields a request must carry before it can be journaled, read before any other check so
/// that a replay is recognised even when the request was refused the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayKey {
    pub bap_id: String,
    pub action: String,
    pub message_id: String,
}

impl ReplayKey {
    pub fn read(body: &Value) -> Option<Self> {
        let context = body.get("context")?.as_object()?;
        let text = |name| {
            context
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Some(Self {
            bap_id: text("bap_id")?,
            action: text("action")?,
            message_id: text("message_id")?,
        })
    }
}

/// What the node accepts, from its settings.
pub struct ContextRules<'a> {
    pub own_subscriber_id: &'a str,
    pub domains: &'a [String],
    pub clock_skew_ms: i64,
    pub default_ttl_ms: i64,
    /// Is this STD code a city of the network?
    pub is_known_city: fn(&str) -> bool,
}

const RETAIL_VERSIONS: [&str; 2] = ["1.2.5", "1.2.0"];
const IGM_VERSIONS: [&str; 1] = ["1.0.0"];

fn context_error(path: &str, message: impl Into<String>) -> WireError {
    WireError::new(ErrorType::Context, "30000", Some(path), message)
}

/// The validator's UUID pattern: 8-4-4-4-12 hex, version 1-5, RFC 4122 variant.
pub fn is_ondc_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return false;
    }
    for (i, &b) in bytes.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => b == b'-',
            14 => (b'1'..=b'5').contains(&b),
            19 => matches!(b, b'8' | b'9' | b'a' | b'b' | b'A' | b'B'),
            _ => b.is_ascii_hexdigit(),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A subscriber id is a host name, not a URL.
pub fn is_subscriber_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && !text.contains("://")
        && text.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// An absolute http(s) URL with a host.
pub fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    matches!(rest, Some(host) if !host.is_empty() && !host.starts_with('/'))
}

impl Context {
    /// Checks the context of a request that arrived at `POST /{path_action}`.
    pub fn check(
        body: &Value,
        path_action: Action,
        rules: &ContextRules<'_>,
        now: DateTime<Utc>,
    ) -> Result<Context, WireError> {
        let context = body
            .get("context")
            .and_then(Value::as_object)
            .ok_or_else(|| context_error("context", "the request has no context object"))?;
        let text = |name: &str| -> Result<String, WireError> {
            match context.get(name) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(Value::String(_)) | None => Err(context_error(
                    &format!("context.{name}"),
                    format!("context.{name} is required"),
                )),
                Some(_) => Err(context_error(
                    &format!("context.{name}"),
                    format!("context.{name} must be a string"),
                )),
            }
        };
        let optional = |name: &str| optional_text(context, name);

        let action_text = text("action")?;
        if action_text != path_action.as_str() {
            return Err(context_error(
                "context.action",
                format!(
                    "context.action is \"{action_text}\" but the request was sent to /{}",
                    path_action.as_str()
                ),
            ));
        }

        let core_version = text("core_version")?;
        let versions: &[&str] = if path_action.is_igm() {
            &IGM_VERSIONS
        } else {
            &RETAIL_VERSIONS
        };
        if !versions.contains(&core_version.as_str()) {
            return Err(context_error(
                "context.core_version",
                format!(
                    "core_version \"{core_version}\" is not supported for {}; use {}",
                    path_action.as_str(),
                    versions.join(" or ")
                ),
            ));
        }

        let domain = text("domain")?;
        if !rules.domains.contains(&domain) {
            return Err(context_error(
                "context.domain",
                format!(
                    "domain \"{domain}\" is not served by this node; it serves {}",
                    rules.domains.join(", ")
                ),
            ));
        }

        let country = text("country")?;
        if country != "IND" {
            return Err(context_error(
                "context.country",
                format!("country must be \"IND\", not \"{country}\""),
            ));
        }

        let city = text("city")?;
        let city_ok = if city == "*" {
            path_action == Action::Search
        } else {
            city.strip_prefix("std:")
                .is_some_and(|code| !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()))
        };
        if !city_ok {
            return Err(context_error(
                "context.city",
                format!("city \"{city}\" is not a city code; use \"std:<STD code>\" (\"*\" only for incremental search)"),
            ));
        }
        if let Some(code) = city.strip_prefix("std:") {
            if !(rules.is_known_city)(code) {
                return Err(context_error(
                    "context.city",
                    format!("{city} is not a city code of the ONDC network"),
                ));
            }
        }

        let bap_id = text("bap_id")?;
        if !is_subscriber_id(&bap_id) {
            return Err(context_error(
                "context.bap_id",
                "bap_id must be the buyer app's subscriber id (a host name, not a URL)",
            ));
        }
        let bap_uri = text("bap_uri")?;
        if !is_http_url(&bap_uri) {
            return Err(context_error(
                "context.bap_uri",
                "bap_uri must be an http(s) URL",
            ));
        }

        let bpp_id = optional("bpp_id");
        let bpp_uri = optional("bpp_uri");
        if path_action != Action::Search {
            if bpp_id.is_none() {
                return Err(context_error(
                    "context.bpp_id",
                    "context.bpp_id is required on every call except search",
                ));
            }
            if bpp_uri.is_none() {
                return Err(context_error(
                    "context.bpp_uri",
                    "context.bpp_uri is required on every call except search",
                ));
            }
        }
        if let Some(bpp_id) = &bpp_id {
            if bpp_id != rules.own_subscriber_id {
                return Err(context_error(
                    "context.bpp_id",
                    format!(
                        "this request is addressed to \"{bpp_id}\" but this node is \"{}\"",
                        rules.own_subscriber_id
                    ),
                ));
            }
        }

        let transaction_id = text("transaction_id")?;
        if !is_ondc_uuid(&transaction_id) {
            return Err(context_error(
                "context.transaction_id",
                "transaction_id must be a UUID (version 1-5)",
            ));
        }
        let message_id = text("message_id")?;
        if !is_ondc_uuid(&message_id) {
            return Err(context_error(
                "context.message_id",
                "message_id must be a UUID (version 1-5)",
            ));
        }
        if message_id == transaction_id {
            return Err(context_error(
                "context.message_id",
                "message_id must differ from transaction_id",
            ));
        }

        let timestamp_text = text("timestamp")?;
        let timestamp = parse_timestamp(&timestamp_text).ok_or_else(|| {
            context_error(
                "context.timestamp",
                "timestamp must be RFC 3339 UTC, e.g. 2024-01-31T10:00:00.000Z",
            )
        })?;
        let ttl_ms = match optional("ttl") {
            Some(ttl) => parse_duration_ms(&ttl)
                .filter(|ms| *ms > 0)
                .ok_or_else(|| {
                    context_error(
                        "context.ttl",
                        format!("ttl \"{ttl}\" is not an ISO 8601 duration such as PT30S"),
                    )
                })?,
            None => rules.default_ttl_ms,
        };
        let age_ms = (now - timestamp).num_milliseconds();
        if age_ms < -rules.clock_skew_ms {
            return Err(context_error(
                "context.timestamp",
                format!(
                    "timestamp {timestamp_text} is in the future (this node's clock says {})",
                    super::time::format_timestamp(now)
                ),
            ));
        }
        if age_ms > ttl_ms + rules.clock_skew_ms {
            return Err(WireError::new(
                ErrorType::Context,
                "30022",
                Some("context.timestamp"),
                format!(
                    "stale request: timestamp {timestamp_text} plus ttl is in the past (now {})",
                    super::time::format_timestamp(now)
                ),
            ));
        }

        Ok(Context {
            domain,
            country,
            city,
            action: path_action,
            core_version,
            bap_id,
            bap_uri,
            bpp_id,
            bpp_uri,
            transaction_id: TransactionId(transaction_id),
            message_id: MessageId(message_id),
            timestamp,
            ttl_ms,
        })
    }
}

fn optional_text(context: &Map<String, Value>, name: &str) -> Option<String> {
    context
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> (Vec<String>, &'static str) {
        (vec!["ONDC:RET10".to_owned()], "seller.example.com")
    }

    fn request(now: DateTime<Utc>) -> Value {
        json!({"context": {
            "domain": "ONDC:RET10", "country": "IND", "city": "std:080", "action": "select",
            "core_version": "1.2.5", "bap_id": "buyer.example.com", "bap_uri": "https://buyer.example.com/ondc",
            "bpp_id": "seller.example.com", "bpp_uri": "https://seller.example.com",
            "transaction_id": "3f1c9a52-6b0e-4d7a-8c21-9e4f5a6b7c8d",
            "message_id": "a7b8c9d0-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
            "timestamp": super::super::time::format_timestamp(now), "ttl": "PT30S"
        }, "message": {}})
    }

    fn check(body: &Value, now: DateTime<Utc>) -> Result<Context, WireError> {
        let (domains, own) = rules();
        let rules = ContextRules {
            own_subscriber_id: own,
            domains: &domains,
            clock_skew_ms: 5000,
            default_ttl_ms: 30_000,
            is_known_city: |code| code != "0000",
        };
        Context::check(body, Action::Select, &rules, now)
    }

    #[test]
    fn a_well_formed_context_is_accepted() {
        let now = Utc::now();
        let context = check(&request(now), now).unwrap();
        assert_eq!(context.bap_id, "buyer.example.com");
        assert_eq!(context.ttl_ms, 30_000);
    }

    #[test]
    fn each_broken_field_is_named_in_the_error() {
        let now = Utc::now();
        let cases = [
            ("action", json!("init"), "context.action", "30000"),
            (
                "core_version",
                json!("1.1.0"),
                "context.core_version",
                "30000",
            ),
            ("domain", json!("ONDC:RET14"), "context.domain", "30000"),
            ("city", json!("Bengaluru"), "context.city", "30000"),
            ("city", json!("std:0000"), "context.city", "30000"),
            (
                "bap_id",
                json!("https://buyer.example.com"),
                "context.bap_id",
                "30000",
            ),
            (
                "bpp_id",
                json!("other.example.com"),
                "context.bpp_id",
                "30000",
            ),
            (
                "transaction_id",
                json!("not-a-uuid"),
                "context.transaction_id",
                "30000",
            ),
            (
                "message_id",
                json!("3f1c9a52-6b0e-4d7a-8c21-9e4f5a6b7c8d"),
                "context.message_id",
                "30000",
            ),
            (
                "timestamp",
                json!("yesterday"),
                "context.timestamp",
                "30000",
            ),
            (
                "timestamp",
                json!("2020-01-01T00:00:00.000Z"),
                "context.timestamp",
                "30022",
            ),
            ("ttl", json!("30 seconds"), "context.ttl", "30000"),
        ];
        for (field, value, path, code) in cases {
            let mut body = request(now);
            body["context"][field] = value;
            let error = check(&body, now).unwrap_err();
            assert_eq!(error.path.as_deref(), Some(path), "{field}");
            assert_eq!(error.code, code, "{field}");
        }
    }

    #[test]
    fn uuids_follow_the_validator_pattern() {
        assert!(is_ondc_uuid("3f1c9a52-6b0e-4d7a-8c21-9e4f5a6b7c8d"));
        assert!(!is_ondc_uuid("3f1c9a52-6b0e-0d7a-8c21-9e4f5a6b7c8d"));
        assert!(!is_ondc_uuid("3f1c9a52-6b0e-4d7a-7c21-9e4f5a6b7c8d"));
    }
}
