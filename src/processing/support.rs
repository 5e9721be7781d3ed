//! `rating` and `support`, inherited from Beckn 0.9.3 / retail 1.2.0 and kept simple, as the
//! digest advises (RETAIL-DIGEST.md §2.1): the rating is acknowledged, the support desk is
//! the node's configured one.

use serde_json::{json, Value};

use super::Outcome;
use crate::config::SupportSettings;
use crate::protocol::ack::{ErrorType, WireError};
use crate::protocol::json::At;

/// The rating categories of retail 1.2.0 (`/get_rating_categories`).
const RATING_CATEGORIES: [&str; 5] = ["Order", "Provider", "Item", "Fulfillment", "Agent"];

pub fn rating(body: &Value) -> Outcome {
    let category = body
        .at("/message/rating_category")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !RATING_CATEGORIES.contains(&category) {
        return Outcome::Callback {
            message: json!({"rating_ack": false, "feedback_ack": false}),
            error: Some(WireError::new(
                ErrorType::Domain,
                "50003",
                Some("message.rating_category"),
                format!(
                    "rating category \"{category}\" is not supported; use one of {}",
                    RATING_CATEGORIES.join(", ")
                ),
            )),
            note: format!("rating refused: unsupported category {category}"),
        };
    }
    let value = body
        .at("/message/value")
        .map(Value::to_string)
        .unwrap_or_default();
    Outcome::Callback {
        message: json!({"rating_ack": true, "feedback_ack": false}),
        error: None,
        note: format!("rating {value} for {category} recorded"),
    }
}

pub fn support(settings: &SupportSettings) -> Outcome {
    if settings.phone.is_empty() && settings.email.is_empty() && settings.uri.is_empty() {
        return Outcome::Callback {
            message: json!({}),
            error: Some(WireError::new(
                ErrorType::Domain,
                "50004",
                None,
                "support is not available from this seller node",
            )),
            note: "no support desk configured".into(),
        };
    }
    let mut message = serde_json::Map::new();
    for (name, value) in [
        ("phone", &settings.phone),
        ("email", &settings.email),
        ("uri", &settings.uri),
    ] {
        if !value.is_empty() {
            message.insert(name.into(), Value::String(value.clone()));
        }
    }
    Outcome::Callback {
        message: Value::Object(message),
        error: None,
        note: "support desk sent".into(),
    }
}
