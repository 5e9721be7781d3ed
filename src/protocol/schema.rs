//! Validation of request bodies against the pinned ONDC retail 1.2.5 schemas
//! (`protocol/schemas/`, generated from `protocol/openapi/` by `protocol/tools/build_schemas.py`).
//! Domains without a schema of their own (RET13 and the rest) use the RET16 one: the three
//! pinned files differ only in comments and the IGM block.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use jsonschema::{Draft, Registry, Validator};
use parking_lot::Mutex;
use serde_json::Value;

use super::ack::{ErrorType, WireError};

const RET10: &str = include_str!("../../protocol/schemas/ret-1.2.5-RET10.json");
const RET12: &str = include_str!("../../protocol/schemas/ret-1.2.5-RET12.json");
const RET16: &str = include_str!("../../protocol/schemas/ret-1.2.5-RET16.json");

/// How many schema errors one NACK reports.
const MAX_REPORTED: usize = 3;

/// Where a family's document sits in its registry.
fn family_uri(family: &str) -> String {
    format!("urn:haat:schemas:{family}")
}

/// A schema family's document, held once by a registry that the validators of all its
/// actions share: each validator used to carry its own copy of the document's components,
/// 39 copies that made a third of the node's heap at its peak (heaptrack, BENCHMARKS.md).
struct Family {
    registry: Registry,
    /// The actions the document has a request schema for.
    actions: HashSet<String>,
}

fn family(domain: &str) -> &'static Family {
    static FAMILIES: OnceLock<[Family; 3]> = OnceLock::new();
    let families = FAMILIES.get_or_init(|| {
        [("RET10", RET10), ("RET12", RET12), ("RET16", RET16)].map(|(name, text)| {
            let document: Value =
                serde_json::from_str(text).expect("pinned schema documents are JSON");
            let actions = document["requests"]
                .as_object()
                .map(|requests| requests.keys().cloned().collect())
                .unwrap_or_default();
            let registry = Registry::options()
                .draft(Draft::Draft4)
                .build([(family_uri(name), Draft::Draft4.create_resource(document))])
                .expect("pinned schema documents make a registry");
            Family { registry, actions }
        })
    });
    match schema_family(domain) {
        "RET10" => &families[0],
        "RET12" => &families[1],
        _ => &families[2],
    }
}

fn schema_family(domain: &str) -> &'static str {
    match domain {
        "ONDC:RET10" => "RET10",
        "ONDC:RET12" => "RET12",
        _ => "RET16",
    }
}

/// Compiled validators by (schema family, action).
type Compiled = HashMap<(&'static str, String), Arc<Validator>>;

/// Compiled validators, built on first use (or ahead of time by `warm_up`).
#[derive(Default, Clone)]
pub struct Schemas {
    compiled: Arc<Mutex<Compiled>>,
}

impl Schemas {
    fn validator(&self, domain: &str, action: &str) -> Option<Arc<Validator>> {
        let family = schema_family(domain);
        let key = (family, action.to_owned());
        if let Some(found) = self.compiled.lock().get(&key) {
            return Some(found.clone());
        }
        let shared = self::family(domain);
        if !shared.actions.contains(action) {
            return None;
        }
        // The action's schema inside its family's document, which the registry holds once.
        let schema =
            serde_json::json!({ "$ref": format!("{}#/requests/{action}", family_uri(family)) });
        let validator = jsonschema::options()
            .with_draft(Draft::Draft4)
            .should_validate_formats(false)
            .with_registry(shared.registry.clone())
            .build(&schema)
            .expect("pinned request schemas compile");
        let validator = Arc::new(validator);
        self.compiled.lock().insert(key, validator.clone());
        Some(validator)
    }

    /// Compiles every request schema the node may need, so the first requests do not pay for it.
    pub fn warm_up(&self, domains: &[String], actions: &[&str]) {
        for domain in domains {
            for action in actions {
                self.validator(domain, action);
            }
        }
    }

    /// Checks `body` against the schema of `action` in `domain`. An action with no schema
    /// passes (there is none to check against).
    pub fn check(&self, domain: &str, action: &str, body: &Value) -> Result<(), WireError> {
        let Some(validator) = self.validator(domain, action) else {
            return Ok(());
        };
        if validator.is_valid(body) {
            return Ok(());
        }
        let mut problems = Vec::new();
        let mut first_path = None;
        for error in validator.iter_errors(body).take(MAX_REPORTED) {
            let path = dotted(error.instance_path.as_str());
            let mut text = error.to_string();
            if text.len() > 240 {
                let cut = (0..=240)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                text.truncate(cut);
                text.push('…');
            }
            problems.push(format!(
                "{}: {text}",
                if path.is_empty() { "(body)" } else { &path }
            ));
            first_path.get_or_insert(path);
        }
        Err(WireError::new(
            ErrorType::JsonSchema,
            "30000",
            first_path.as_deref(),
            format!(
                "the {action} body does not match the ONDC 1.2.5 schema: {}",
                problems.join("; ")
            ),
        ))
    }
}

/// `/message/intent/0/x` → `message.intent[0].x`
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_pointers_read_as_dotted_paths() {
        assert_eq!(
            dotted("/message/order/items/0/quantity/count"),
            "message.order.items[0].quantity.count"
        );
        assert_eq!(dotted(""), "");
    }

    #[test]
    fn an_unknown_field_in_the_intent_is_a_schema_error_naming_its_place() {
        let schemas = Schemas::default();
        let body = json!({"context": {"domain": "ONDC:RET10", "action": "search", "country": "IND", "city": "std:080",
            "core_version": "1.2.5", "bap_id": "b", "bap_uri": "https://b", "transaction_id": "t", "message_id": "m",
            "timestamp": "2024-01-01T00:00:00.000Z"},
            "message": {"intent": {"fulfillment": {"type": "Teleport"}}}});
        let error = schemas.check("ONDC:RET10", "search", &body).unwrap_err();
        assert_eq!(error.code, "30000");
        assert_eq!(
            error.path.as_deref(),
            Some("message.intent.fulfillment.type")
        );
    }

    #[test]
    fn every_action_of_every_family_is_checked_against_its_shared_document() {
        let schemas = Schemas::default();
        let actions: Vec<&str> = crate::protocol::context::Action::ALL
            .iter()
            .map(|a| a.as_str())
            .collect();
        schemas.warm_up(
            &["ONDC:RET10", "ONDC:RET12", "ONDC:RET13", "ONDC:RET16"].map(String::from),
            &actions,
        );
        // Three families, each action once, whatever the number of domains.
        assert_eq!(schemas.compiled.lock().len(), 3 * actions.len());
        for domain in ["ONDC:RET10", "ONDC:RET12", "ONDC:RET16"] {
            for action in &actions {
                let error = schemas
                    .check(domain, action, &json!({}))
                    .expect_err("an empty body is refused");
                assert_eq!(error.code, "30000", "{domain} {action}");
                assert!(
                    error.message.contains("context"),
                    "{domain} {action}: {}",
                    error.message
                );
            }
        }
    }
}

#[cfg(test)]
mod example_logs {
    //! The buyer-side requests of the real seller-app logs in `protocol/examples` pass the
    //! pinned schemas, except where the logs break the spec (listed with the reason; the spec
    //! wins, so those stay refused).
    use super::*;

    const KNOWN_DEVIATIONS: [(&str, &str); 3] = [
        // settlement_type "paylater" is not in the spec's upi/neft/rtgs enum.
        (
            "flow6-part-cancel-and-return/11_update_settlement_part_cancel.json",
            "settlement_type",
        ),
        (
            "flow6-part-cancel-and-return/20_update_settlement_reverse_qc.json",
            "settlement_type",
        ),
        // IGM 1.0.0 requires order_details.fulfillments[].type; the log leaves it out.
        (
            "igm-1.0.0-flow1/01_issue.json",
            "order_details.fulfillments[0]",
        ),
    ];

    fn requests() -> Vec<(String, Value)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("protocol/examples/sabhyasha-RET16-1.2.0");
        let mut found = Vec::new();
        for flow in std::fs::read_dir(&root).unwrap() {
            let flow = flow.unwrap().path();
            for file in std::fs::read_dir(&flow).unwrap() {
                let file = file.unwrap().path();
                let body: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
                let action = body
                    .pointer("/context/action")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if [
                    "search",
                    "select",
                    "init",
                    "confirm",
                    "status",
                    "track",
                    "cancel",
                    "update",
                    "issue",
                    "issue_status",
                ]
                .contains(&action)
                {
                    let name = format!(
                        "{}/{}",
                        flow.file_name().unwrap().to_string_lossy(),
                        file.file_name().unwrap().to_string_lossy()
                    );
                    found.push((name, body));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    #[test]
    fn the_requests_of_a_real_seller_apps_logs_pass_except_the_documented_deviations() {
        let schemas = Schemas::default();
        let all = requests();
        assert!(all.len() >= 20, "found {} requests", all.len());
        for (name, body) in all {
            let action = body["context"]["action"].as_str().unwrap();
            let result = schemas.check(body["context"]["domain"].as_str().unwrap(), action, &body);
            match KNOWN_DEVIATIONS.iter().find(|(file, _)| *file == name) {
                Some((_, path)) => {
                    let error = result.expect_err(&name);
                    assert!(error.message.contains(path), "{name}: {}", error.message);
                }
                None => assert!(result.is_ok(), "{name}: {:?}", result.err()),
            }
        }
    }
}
