//! The search intent (RETAIL-DIGEST.md §5), read from a request body into plain values, and
//! the serviceability check of a drop point against a location.

use serde_json::Value;

use super::model::{Location, Serviceability};
use super::validate::parse_pincode_ranges;
use crate::protocol::json::At;
use crate::protocol::time::parse_timestamp;

/// What an incremental search asks for (`tags[catalog_inc]`).
#[derive(Debug, Clone, PartialEq)]
pub enum Incremental {
    /// One pull of what changed in [start, end] (Unix ms).
    Pull {
        start: i64,
        end: i64,
    },
    /// Push changes from `since` on, until stopped.
    Subscribe {
        since: Option<i64>,
    },
    Unsubscribe,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchIntent {
    pub text: Option<String>,
    pub category_id: Option<String>,
    /// Delivery or Self-Pickup ("Pickup" is read as Self-Pickup).
    pub fulfillment_type: Option<String>,
    pub end_area_code: Option<String>,
    pub end_gps: Option<(f64, f64)>,
    pub provider_id: Option<String>,
    pub incremental: Option<Incremental>,
}

/// Why an intent cannot be served; the path names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentError {
    pub path: &'static str,
    pub message: String,
}

fn text_at<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.at(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub fn parse_gps(text: &str) -> Option<(f64, f64)> {
    let (lat, lng) = text.split_once(',')?;
    let (lat, lng) = (
        lat.trim().parse::<f64>().ok()?,
        lng.trim().parse::<f64>().ok()?,
    );
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng)).then_some((lat, lng))
}

impl SearchIntent {
    pub fn read(body: &Value, now_ms: i64) -> Result<Self, IntentError> {
        let intent = "/message/intent";
        let mut out = SearchIntent {
            text: text_at(body, &format!("{intent}/item/descriptor/name")).map(str::to_owned),
            category_id: text_at(body, &format!("{intent}/category/id")).map(str::to_owned),
            provider_id: text_at(body, &format!("{intent}/provider/id")).map(str::to_owned),
            ..Default::default()
        };
        out.fulfillment_type =
            text_at(body, &format!("{intent}/fulfillment/type")).map(|kind| match kind {
                "Pickup" | "Self-Pickup" => "Self-Pickup".to_owned(),
                "Delivery and Pickup" | "Delivery and Self-Pickup" => {
                    "Delivery and Self-Pickup".to_owned()
                }
                other => other.to_owned(),
            });
        if let Some(area) = text_at(
            body,
            &format!("{intent}/fulfillment/end/location/address/area_code"),
        ) {
            if area.len() != 6 || !area.bytes().all(|b| b.is_ascii_digit()) {
                return Err(IntentError {
                    path: "message.intent.fulfillment.end.location.address.area_code",
                    message: format!("\"{area}\" is not a 6-digit pincode"),
                });
            }
            out.end_area_code = Some(area.to_owned());
        }
        if let Some(gps) = text_at(body, &format!("{intent}/fulfillment/end/location/gps")) {
            out.end_gps = Some(parse_gps(gps).ok_or(IntentError {
                path: "message.intent.fulfillment.end.location.gps",
                message: format!("\"{gps}\" is not \"latitude,longitude\""),
            })?);
        }
        let tags = body.at(&format!("{intent}/tags")).and_then(Value::as_array);
        if let Some(tag) = tags
            .into_iter()
            .flatten()
            .find(|t| t.get("code").and_then(Value::as_str) == Some("catalog_inc"))
        {
            let value = |code: &str| {
                tag.get("list")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|entry| entry.get("code").and_then(Value::as_str) == Some(code))
                    .and_then(|entry| entry.get("value").and_then(Value::as_str))
            };
            let time = |code: &'static str| -> Result<Option<i64>, IntentError> {
                match value(code) {
                    None => Ok(None),
                    Some(text) => parse_timestamp(text)
                        .map(|t| Some(t.timestamp_millis()))
                        .ok_or(IntentError {
                            path: "message.intent.tags",
                            message: format!(
                                "catalog_inc {code} \"{text}\" is not an RFC 3339 time"
                            ),
                        }),
                }
            };
            out.incremental =
                Some(
                    match (value("mode"), time("start_time")?, time("end_time")?) {
                        (Some("start"), since, _) => Incremental::Subscribe { since },
                        (Some("stop"), _, _) => Incremental::Unsubscribe,
                        (Some(other), _, _) => {
                            return Err(IntentError {
                                path: "message.intent.tags",
                                message: format!(
                                    "catalog_inc mode \"{other}\" is not start or stop"
                                ),
                            })
                        }
                        (None, Some(start), Some(end)) if start < end && end <= now_ms + 5_000 => {
                            Incremental::Pull { start, end }
                        }
                        (None, Some(_), Some(_)) => return Err(IntentError {
                            path: "message.intent.tags",
                            message:
                                "catalog_inc needs start_time < end_time <= the request's timestamp"
                                    .into(),
                        }),
                        _ => return Err(IntentError {
                            path: "message.intent.tags",
                            message:
                                "catalog_inc needs mode (start or stop) or start_time and end_time"
                                    .into(),
                        }),
                    },
                );
        }
        Ok(out)
    }

    /// A plain pull of the whole catalogue (or of one category), which also carries disabled
    /// entries so that buyer apps can drop them; narrower intents leave disabled ones out.
    pub fn is_full_pull(&self) -> bool {
        self.text.is_none()
            && self.provider_id.is_none()
            && self.end_area_code.is_none()
            && self.end_gps.is_none()
            && self.fulfillment_type.is_none()
    }
}

/// Great-circle distance in km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lng1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lng2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lng2 - lng1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// Can this location serve the intent's drop point and fulfillment type?
pub fn serves(location: &Location, intent: &SearchIntent) -> bool {
    if let Some(kind) = &intent.fulfillment_type {
        let wanted: &[&str] = match kind.as_str() {
            "Delivery and Self-Pickup" => &["Delivery", "Self-Pickup"],
            "Self-Pickup" => &["Self-Pickup"],
            "Buyer-Delivery" => &["Self-Pickup"],
            _ => &["Delivery"],
        };
        if !wanted
            .iter()
            .any(|w| location.fulfillments.iter().any(|f| f == w))
        {
            return false;
        }
    }
    match &location.serviceability {
        Serviceability::PanIndia => true,
        Serviceability::Pincodes { pincodes } => match &intent.end_area_code {
            Some(area) => {
                let pin: u32 = area.parse().unwrap_or(0);
                parse_pincode_ranges(pincodes).is_some_and(|ranges| {
                    ranges.iter().any(|(from, to)| (*from..=*to).contains(&pin))
                })
            }
            None => true,
        },
        Serviceability::Radius { km } => match (intent.end_gps, parse_gps(&location.gps)) {
            (Some(end), Some(store)) => distance_km(end, store) <= *km,
            // Without the drop point's coordinates only the store's own pincode is known to be in reach.
            (None, _) => intent
                .end_area_code
                .as_ref()
                .is_none_or(|area| *area == location.area_code),
            (Some(_), None) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_intent_is_read_with_its_filters_and_incremental_mode() {
        let body = json!({"message": {"intent": {
            "item": {"descriptor": {"name": "pashmina shawl"}}, "category": {"id": "Dupattas & Shawls"},
            "fulfillment": {"type": "Pickup", "end": {"location": {"gps": "34.152588,77.577049", "address": {"area_code": "194101"}}}},
            "tags": [{"code": "catalog_inc", "list": [{"code": "mode", "value": "start"}]}]}}});
        let intent = SearchIntent::read(&body, 0).unwrap();
        assert_eq!(intent.text.as_deref(), Some("pashmina shawl"));
        assert_eq!(intent.fulfillment_type.as_deref(), Some("Self-Pickup"));
        assert_eq!(intent.end_area_code.as_deref(), Some("194101"));
        assert_eq!(
            intent.incremental,
            Some(Incremental::Subscribe { since: None })
        );
    }

    #[test]
    fn a_malformed_intent_names_its_field() {
        let body = json!({"message": {"intent": {"fulfillment": {"end": {"location": {"address": {"area_code": "19410"}}}}}}});
        assert_eq!(
            SearchIntent::read(&body, 0).unwrap_err().path,
            "message.intent.fulfillment.end.location.address.area_code"
        );
        let body = json!({"message": {"intent": {"tags": [{"code": "catalog_inc", "list": [{"code": "mode", "value": "pause"}]}]}}});
        assert!(SearchIntent::read(&body, 0).is_err());
    }

    #[test]
    fn distances_are_great_circle_kilometres() {
        let varanasi = (25.317645, 82.973915);
        let sarnath = (25.376165, 83.022713);
        let d = distance_km(varanasi, sarnath);
        assert!((7.0..9.0).contains(&d), "{d}");
    }
}
