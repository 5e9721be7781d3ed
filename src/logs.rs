//! Certification logs: which file each message of a transaction goes in, and in what order.
//! ONDC certifies a seller node by the logs of whole flows, one file per message, named as its
//! log validation expects (`on_status_packed.json`, `on_update_part_cancel.json`, …) and
//! numbered in time order (`01_select.json`, `02_on_select.json`, …).
//!
//! Pure: the store reads the messages and `cli::logs` writes them. The bodies are only read
//! here to decide a name; what is written is always the stored bytes.

use std::collections::HashMap;

use serde_json::Value;

/// Which way a message crossed the wire, seen from the node. Requests sort before callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// A request a buyer app (or gateway) sent the node.
    Received,
    /// A callback the node sent.
    Sent,
}

/// When a message crossed the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub direction: Direction,
    /// The journal id of a request, the outbox id of a callback.
    pub id: i64,
    /// Unix milliseconds: when a request was received; when a callback's first delivery
    /// attempt started (or, if it never was attempted, when it was queued).
    pub at: i64,
    /// For a solicited callback, the journal id of the request it answers.
    pub answers: Option<i64>,
}

/// The indexes of `moments` in time order. Ties put requests before callbacks, then go by the
/// store's ids (the order things were written in). A callback never comes before the request
/// it answers, even when two replicas' clocks disagree by a few milliseconds.
pub fn time_order(moments: &[Moment]) -> Vec<usize> {
    let received: HashMap<i64, i64> = moments
        .iter()
        .filter(|m| m.direction == Direction::Received)
        .map(|m| (m.id, m.at))
        .collect();
    let key = |m: &Moment| {
        let request_at = m.answers.and_then(|id| received.get(&id).copied());
        let at = match (m.direction, request_at) {
            (Direction::Sent, Some(request_at)) => m.at.max(request_at),
            _ => m.at,
        };
        (at, m.direction, m.id)
    };
    let mut order: Vec<usize> = (0..moments.len()).collect();
    order.sort_by_key(|&index| key(&moments[index]));
    order
}

/// The file names of a transaction's messages, given in time order as (action, body):
/// `NN_<name>.json`, numbered from 01 (with three digits when there are more than 99 files),
/// a repeated name getting `_2`, `_3` … before `.json`.
pub fn file_names<'a>(messages: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<String> {
    let mut namer = Namer::default();
    let names: Vec<String> = messages
        .into_iter()
        .map(|(action, body)| namer.next(action, body))
        .collect();
    let width = names.len().to_string().len().max(2);
    names
        .iter()
        .enumerate()
        .map(|(index, name)| format!("{:0width$}_{name}.json", index + 1))
        .collect()
}

/// Names messages one after the other, remembering what earlier ones said: the fulfilments'
/// states the node has sent (an on_update is named after the fulfilment it changes) and the
/// names of the requests (a solicited on_update is named after the update it answers).
#[derive(Default)]
struct Namer {
    sent_states: HashMap<String, String>,
    requests: HashMap<String, String>,
    used: HashMap<String, usize>,
}

impl Namer {
    fn next(&mut self, action: &str, body: &[u8]) -> String {
        let name = match serde_json::from_slice::<Value>(body) {
            Ok(body) => {
                let name = self.name(action, &body);
                self.remember(action, &body, &name);
                name
            }
            // A body that is not JSON (a request the node refused) is named after its action.
            Err(_) => snake_case(action),
        };
        let count = self.used.entry(name.clone()).or_default();
        *count += 1;
        match *count {
            1 => name,
            n => format!("{name}_{n}"),
        }
    }

    fn name(&self, action: &str, body: &Value) -> String {
        let order = &body["message"]["order"];
        match action {
            "update" => update_name(&body["message"]),
            "on_status" => on_status_name(order, &self.sent_states),
            "on_update" => {
                let answered = body["context"]["message_id"]
                    .as_str()
                    .and_then(|id| self.requests.get(id))
                    .map(String::as_str);
                let refused = body.get("error").is_some_and(|e| !e.is_null());
                on_update_name(order, &self.sent_states, answered, refused)
            }
            other => snake_case(other),
        }
    }

    fn remember(&mut self, action: &str, body: &Value, name: &str) {
        if action.starts_with("on_") {
            for fulfillment in fulfillments(&body["message"]["order"]) {
                if let Some(id) = fulfillment["id"].as_str() {
                    self.sent_states
                        .insert(id.to_owned(), state_code(fulfillment).to_owned());
                }
            }
        } else if let Some(message_id) = body["context"]["message_id"].as_str() {
            self.requests.insert(message_id.to_owned(), name.to_owned());
        }
    }
}

/// An update is named after what it changes (RETAIL-DIGEST.md §11), with the names of ONDC's
/// log-validation utility where it has one: a return request is `update_reverse_qc`, the
/// refund settlement `update_settlement_part_cancel` or `update_settlement_reverse_qc` (after
/// the fulfilment it settles), the delivery address or instructions `update_address` and
/// `update_instructions`.
pub fn update_name(message: &Value) -> String {
    let order = &message["order"];
    let name = match message["update_target"].as_str().unwrap_or_default() {
        "item"
            if fulfillments(order)
                .iter()
                .any(|f| has_tag(f, "return_request")) =>
        {
            "update_reverse_qc"
        }
        "fulfillment" => {
            let changed = fulfillments(order);
            let end_has = |field: &str| changed.iter().any(|f| !f["end"][field].is_null());
            if end_has("location") {
                "update_address"
            } else if end_has("instructions") {
                "update_instructions"
            } else if end_has("authorization") {
                "update_authorization"
            } else if changed.iter().any(|f| has_tag(f, "reverseqc_output")) {
                "update_reverse_qc_output"
            } else {
                "update"
            }
        }
        "payment" => match fulfillments(order).first().map(|f| &f["type"]) {
            Some(kind) if kind == "Cancel" => "update_settlement_part_cancel",
            Some(kind) if kind == "Return" => "update_settlement_reverse_qc",
            _ => "update_settlement",
        },
        "billing" => "update_billing",
        _ => "update",
    };
    name.to_owned()
}

/// An on_status is named after the state of the delivery (`on_status_packed`,
/// `on_status_in_transit`), or of the RTO fulfilment once there is one
/// (`on_status_rto_delivered`). When several fulfilments of that kind exist (a replacement),
/// the one whose state changed since the node's earlier callbacks counts.
pub fn on_status_name(order: &Value, sent_states: &HashMap<String, String>) -> String {
    let all = fulfillments(order);
    let pick = |is_kind: &dyn Fn(&str) -> bool| {
        let of_kind: Vec<&Value> = all
            .iter()
            .filter(|f| is_kind(f["type"].as_str().unwrap_or_default()))
            .collect();
        of_kind
            .iter()
            .find(|f| changed_since(f, sent_states))
            .or(of_kind.last())
            .copied()
    };
    let fulfillment = pick(&|kind| kind == "RTO")
        .or_else(|| pick(&|kind| !matches!(kind, "RTO" | "Cancel" | "Return")));
    match fulfillment.map(state_code) {
        Some("Order-picked-up") => "on_status_picked".to_owned(),
        Some("Order-delivered") => "on_status_delivered".to_owned(),
        Some(code) if !snake_case(code).is_empty() => format!("on_status_{}", snake_case(code)),
        _ => "on_status".to_owned(),
    }
}

/// An on_update is named after the fulfilment it changes: a new Cancel fulfilment is a
/// seller's part cancel (`on_update_part_cancel`), a Return fulfilment is named after its
/// state as ONDC's log-validation utility names the return steps
/// (`on_update_interim_reverse_qc`, `on_update_approval`, `on_update_picked`,
/// `on_update_delivered`, `on_update_liquidated`; other states `on_update_return_<state>`).
/// One that changes neither and
/// answers an update without an error is named after that update (`on_update_instructions`
/// for `update_instructions`); anything else is `on_update`.
pub fn on_update_name(
    order: &Value,
    sent_states: &HashMap<String, String>,
    answered_request: Option<&str>,
    refused: bool,
) -> String {
    let changed: Vec<&Value> = fulfillments(order)
        .iter()
        .filter(|f| changed_since(f, sent_states))
        .collect();
    let is_new = |f: &Value| {
        !f["id"]
            .as_str()
            .is_some_and(|id| sent_states.contains_key(id))
    };
    if changed.iter().any(|f| f["type"] == "Cancel" && is_new(f)) {
        return "on_update_part_cancel".to_owned();
    }
    if let Some(code) = changed
        .iter()
        .filter(|f| f["type"] == "Return")
        .map(|f| state_code(f))
        .find(|code| !code.is_empty())
    {
        return match code {
            "Return_Initiated" => "on_update_interim_reverse_qc".to_owned(),
            "Return_Approved" => "on_update_approval".to_owned(),
            "Return_Picked" => "on_update_picked".to_owned(),
            "Return_Delivered" => "on_update_delivered".to_owned(),
            "Return_Rejected" => "on_update_rejected".to_owned(),
            "Liquidated" => "on_update_liquidated".to_owned(),
            other => format!("on_update_{}", snake_case(other)),
        };
    }
    match answered_request {
        Some(update) if !refused && update.starts_with("update_") => format!("on_{update}"),
        _ => "on_update".to_owned(),
    }
}

fn fulfillments(order: &Value) -> &[Value] {
    order["fulfillments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn state_code(fulfillment: &Value) -> &str {
    fulfillment["state"]["descriptor"]["code"]
        .as_str()
        .unwrap_or_default()
}

fn has_tag(fulfillment: &Value, code: &str) -> bool {
    fulfillment["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t["code"] == code))
}

/// Is this fulfilment new, or in another state than the node last said?
fn changed_since(fulfillment: &Value, sent_states: &HashMap<String, String>) -> bool {
    match fulfillment["id"]
        .as_str()
        .and_then(|id| sent_states.get(id))
    {
        Some(state) => state != state_code(fulfillment),
        None => true,
    }
}

/// `Out-for-delivery` → `out_for_delivery`, `Return_Approved` → `return_approved`: lower case,
/// anything but letters and digits one underscore, none at either end. Safe in a file name.
pub fn snake_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// `<transaction>.har`, with anything but letters, digits, `-` and `_` in the id made `_` so
/// that an id can never name a path outside the directory.
pub fn har_file_name(transaction_id: &str) -> String {
    let safe: String = transaction_id
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    if safe.is_empty() {
        "transaction.har".to_owned()
    } else {
        format!("{safe}.har")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn order(fulfillments: &[(&str, &str, &str)]) -> Value {
        let list: Vec<Value> = fulfillments
            .iter()
            .map(|(id, kind, state)| {
                json!({"id": id, "type": kind, "state": {"descriptor": {"code": state}}})
            })
            .collect();
        json!({"fulfillments": list})
    }

    fn states(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(id, state)| ((*id).to_owned(), (*state).to_owned()))
            .collect()
    }

    #[test]
    fn state_codes_become_snake_case() {
        for (code, expected) in [
            ("Pending", "pending"),
            ("Out-for-delivery", "out_for_delivery"),
            ("At-destination-hub", "at_destination_hub"),
            ("RTO-Delivered", "rto_delivered"),
            ("Return_Pick_Failed", "return_pick_failed"),
            ("  Odd -- text ", "odd_text"),
            ("../etc", "etc"),
            ("", ""),
        ] {
            assert_eq!(snake_case(code), expected, "{code}");
        }
    }

    #[test]
    fn an_on_status_is_named_after_the_delivery_or_the_rto_state() {
        for (fulfillments, expected) in [
            (vec![("F1", "Delivery", "Pending")], "on_status_pending"),
            (vec![("F1", "Delivery", "Packed")], "on_status_packed"),
            (
                vec![("F1", "Delivery", "Order-picked-up")],
                "on_status_picked",
            ),
            (
                vec![("F1", "Delivery", "Out-for-delivery")],
                "on_status_out_for_delivery",
            ),
            (
                vec![("F1", "Delivery", "Order-delivered")],
                "on_status_delivered",
            ),
            (
                vec![("F1", "Delivery", "Agent-assigned")],
                "on_status_agent_assigned",
            ),
            (
                vec![("F1", "Delivery", "In-transit")],
                "on_status_in_transit",
            ),
            (
                vec![("F1", "Delivery", "At-destination-hub")],
                "on_status_at_destination_hub",
            ),
            (
                vec![("F1", "Self-Pickup", "Order-picked-up")],
                "on_status_picked",
            ),
            (
                vec![
                    ("F1", "Delivery", "Cancelled"),
                    ("C1", "Cancel", "Cancelled"),
                ],
                "on_status_cancelled",
            ),
            (
                vec![
                    ("F1", "Delivery", "Cancelled"),
                    ("RTO1", "RTO", "RTO-Delivered"),
                ],
                "on_status_rto_delivered",
            ),
            (
                vec![
                    ("F1", "Delivery", "Cancelled"),
                    ("RTO1", "RTO", "RTO-Disposed"),
                ],
                "on_status_rto_disposed",
            ),
            (vec![("F1", "Delivery", "")], "on_status"),
            (vec![], "on_status"),
        ] {
            assert_eq!(
                on_status_name(&order(&fulfillments), &HashMap::new()),
                expected,
                "{fulfillments:?}"
            );
        }
    }

    #[test]
    fn with_two_deliveries_the_one_that_moved_names_the_on_status() {
        let replaced = order(&[
            ("F1", "Delivery", "Order-delivered"),
            ("R1", "Return", "Return_Delivered"),
            ("F2", "Delivery", "Packed"),
        ]);
        let earlier = states(&[("F1", "Order-delivered"), ("F2", "Pending")]);
        assert_eq!(on_status_name(&replaced, &earlier), "on_status_packed");
        let nothing_moved = states(&[("F1", "Order-delivered"), ("F2", "Packed")]);
        assert_eq!(
            on_status_name(&replaced, &nothing_moved),
            "on_status_packed",
            "the last delivery when none moved"
        );
    }

    #[test]
    fn an_on_update_is_named_after_the_fulfilment_it_changes() {
        let cases = [
            (
                vec![("F1", "Delivery", "Pending"), ("C1", "Cancel", "Cancelled")],
                vec![("F1", "Pending")],
                None,
                "on_update_part_cancel",
            ),
            (
                vec![
                    ("F1", "Delivery", "Order-delivered"),
                    ("R1", "Return", "Return_Initiated"),
                ],
                vec![("F1", "Order-delivered")],
                Some("update_reverse_qc"),
                "on_update_interim_reverse_qc",
            ),
            (
                vec![
                    ("F1", "Delivery", "Order-delivered"),
                    ("R1", "Return", "Return_Approved"),
                ],
                vec![("F1", "Order-delivered"), ("R1", "Return_Initiated")],
                None,
                "on_update_approval",
            ),
            (
                vec![("R1", "Return", "Return_Rejected")],
                vec![("R1", "Return_Initiated")],
                None,
                "on_update_rejected",
            ),
            (
                vec![("R1", "Return", "Return_Picked")],
                vec![("R1", "Return_Approved")],
                None,
                "on_update_picked",
            ),
            (
                vec![("R1", "Return", "Return_Delivered")],
                vec![("R1", "Return_Picked")],
                None,
                "on_update_delivered",
            ),
            (
                vec![("R1", "Return", "Liquidated")],
                vec![("R1", "Return_Initiated")],
                None,
                "on_update_liquidated",
            ),
            (
                // R1 finished earlier; R2 is the one that moved.
                vec![
                    ("R1", "Return", "Return_Delivered"),
                    ("R2", "Return", "Return_Rejected"),
                ],
                vec![("R1", "Return_Delivered"), ("R2", "Return_Initiated")],
                None,
                "on_update_rejected",
            ),
            (
                // A part cancel sent earlier does not name a later return.
                vec![
                    ("C1", "Cancel", "Cancelled"),
                    ("R1", "Return", "Return_Approved"),
                ],
                vec![("C1", "Cancelled"), ("R1", "Return_Initiated")],
                None,
                "on_update_approval",
            ),
            (
                vec![("C1", "Cancel", "Cancelled"), ("C2", "Cancel", "Cancelled")],
                vec![("C1", "Cancelled")],
                None,
                "on_update_part_cancel",
            ),
            (
                vec![("F1", "Delivery", "Pending")],
                vec![("F1", "Pending")],
                Some("update_instructions"),
                "on_update_instructions",
            ),
            (
                vec![("F1", "Delivery", "Pending")],
                vec![("F1", "Pending")],
                Some("update_address"),
                "on_update_address",
            ),
            (
                vec![("F1", "Delivery", "Pending")],
                vec![("F1", "Pending")],
                Some("update"),
                "on_update",
            ),
            (
                vec![("F1", "Delivery", "Pending")],
                vec![("F1", "Pending")],
                None,
                "on_update",
            ),
        ];
        for (fulfillments, earlier, answered, expected) in cases {
            assert_eq!(
                on_update_name(&order(&fulfillments), &states(&earlier), answered, false),
                expected,
                "{fulfillments:?} after {earlier:?}"
            );
        }
    }

    #[test]
    fn a_refused_update_answer_is_plain_on_update() {
        let unchanged = order(&[("F1", "Delivery", "Order-picked-up")]);
        let earlier = states(&[("F1", "Order-picked-up")]);
        assert_eq!(
            on_update_name(&unchanged, &earlier, Some("update_instructions"), true),
            "on_update"
        );
    }

    #[test]
    fn an_update_is_named_after_what_it_carries() {
        let return_request = json!({"update_target": "item", "order": {"id": "O1", "fulfillments": [
            {"type": "Return", "tags": [{"code": "return_request", "list": [{"code": "id", "value": "R1"}]}]}]}});
        let instructions = json!({"update_target": "fulfillment", "order": {"id": "O1", "fulfillments": [
            {"id": "F1", "type": "Delivery", "end": {"instructions": {"short_desc": "ring twice"}}}]}});
        let address = json!({"update_target": "fulfillment", "order": {"id": "O1", "fulfillments": [
            {"id": "F1", "type": "Delivery", "end": {"location": {"gps": "12.9,77.5"}, "instructions": {"short_desc": "x"}}}]}});
        let authorization = json!({"update_target": "fulfillment", "order": {"fulfillments": [
            {"id": "F1", "end": {"authorization": {"type": "OTP", "token": "1234"}}}]}});
        let reverse_qc = json!({"update_target": "fulfillment", "order": {"fulfillments": [
            {"id": "R1", "type": "Return", "tags": [{"code": "reverseqc_output", "list": []}]}]}});
        let payment = json!({"update_target": "payment", "order": {"id": "O1", "payment": {}}});
        let part_cancel_refund = json!({"update_target": "payment", "order": {"id": "O1",
            "fulfillments": [{"id": "C1", "type": "Cancel"}], "payment": {}}});
        let return_refund = json!({"update_target": "payment", "order": {"id": "O1",
            "fulfillments": [{"id": "R1", "type": "Return"}], "payment": {}}});
        let billing = json!({"update_target": "billing", "order": {"id": "O1", "billing": {}}});
        let bare_item = json!({"update_target": "item", "order": {"id": "O1"}});
        let unknown = json!({"update_target": "quote"});
        for (message, expected) in [
            (return_request, "update_reverse_qc"),
            (instructions, "update_instructions"),
            (address, "update_address"),
            (authorization, "update_authorization"),
            (reverse_qc, "update_reverse_qc_output"),
            (payment, "update_settlement"),
            (part_cancel_refund, "update_settlement_part_cancel"),
            (return_refund, "update_settlement_reverse_qc"),
            (billing, "update_billing"),
            (bare_item, "update"),
            (unknown, "update"),
            (json!(null), "update"),
        ] {
            assert_eq!(update_name(&message), expected, "{message}");
        }
    }

    fn message(action: &str, message_id: &str, order: Value) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"context": {"action": action, "message_id": message_id},
            "message": {"order": order}}),
        )
        .unwrap()
    }

    #[test]
    fn a_flow_is_numbered_in_order_and_repeated_names_are_counted() {
        let delivery = |state: &str| order(&[("F1", "Delivery", state)]);
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            ("search", b"{\"context\":{\"message_id\":\"s\"}}".to_vec()),
            ("on_search", b"{}".to_vec()),
            ("on_search", b"{}".to_vec()),
            ("select", message("select", "m1", json!({}))),
            ("on_select", message("on_select", "m1", json!({}))),
            ("confirm", message("confirm", "m2", json!({}))),
            (
                "on_confirm",
                message("on_confirm", "m2", delivery("Pending")),
            ),
            ("on_status", message("on_status", "u1", delivery("Pending"))),
            ("on_status", message("on_status", "u2", delivery("Packed"))),
            ("status", message("status", "m3", json!(null))),
            ("on_status", message("on_status", "m3", delivery("Packed"))),
            (
                "on_status",
                message("on_status", "u3", delivery("Order-picked-up")),
            ),
            ("on_search", b"not json".to_vec()),
        ];
        let names = file_names(bodies.iter().map(|(a, b)| (*a, b.as_slice())));
        assert_eq!(
            names,
            vec![
                "01_search.json",
                "02_on_search.json",
                "03_on_search_2.json",
                "04_select.json",
                "05_on_select.json",
                "06_confirm.json",
                "07_on_confirm.json",
                "08_on_status_pending.json",
                "09_on_status_packed.json",
                "10_status.json",
                "11_on_status_packed_2.json",
                "12_on_status_picked.json",
                "13_on_search_3.json",
            ]
        );
    }

    #[test]
    fn a_solicited_on_update_is_named_after_the_update_it_answers() {
        let pending = order(&[("F1", "Delivery", "Pending")]);
        let update = serde_json::to_vec(&json!({"context": {"message_id": "m9"}, "message": {
            "update_target": "fulfillment", "order": {"fulfillments": [{"id": "F1", "end": {"instructions": {"short_desc": "x"}}}]}}}))
        .unwrap();
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            ("on_confirm", message("on_confirm", "m1", pending.clone())),
            ("update", update),
            ("on_update", message("on_update", "m9", pending.clone())),
            ("on_update", message("on_update", "u1", pending)),
        ];
        let names = file_names(bodies.iter().map(|(a, b)| (*a, b.as_slice())));
        assert_eq!(
            names,
            vec![
                "01_on_confirm.json",
                "02_update_instructions.json",
                "03_on_update_instructions.json",
                "04_on_update.json",
            ]
        );
    }

    #[test]
    fn more_than_ninety_nine_files_get_three_digits() {
        let bodies = vec![(String::from("on_search"), b"{}".to_vec()); 100];
        let names = file_names(bodies.iter().map(|(a, b)| (a.as_str(), b.as_slice())));
        assert_eq!(names[0], "001_on_search.json");
        assert_eq!(names[99], "100_on_search_100.json");
        let few = file_names([("search", b"{}".as_slice())]);
        assert_eq!(few, vec!["01_search.json"]);
    }

    #[test]
    fn a_har_file_is_named_after_the_transaction_and_stays_in_its_directory() {
        for (id, expected) in [
            (
                "0b6a1d2e-5c1f-4d7e-9a53-2f1e7c0d9b11",
                "0b6a1d2e-5c1f-4d7e-9a53-2f1e7c0d9b11.har",
            ),
            ("T_1", "T_1.har"),
            ("../../etc/passwd", "______etc_passwd.har"),
            ("", "transaction.har"),
        ] {
            assert_eq!(har_file_name(id), expected, "{id}");
        }
    }

    #[test]
    fn time_order_puts_requests_before_their_callbacks() {
        use Direction::{Received, Sent};
        let moment = |direction, id, at, answers| Moment {
            direction,
            id,
            at,
            answers,
        };
        let cases = [
            (
                "by time",
                vec![
                    moment(Sent, 1, 30, Some(1)),
                    moment(Received, 1, 10, None),
                    moment(Received, 2, 40, None),
                ],
                vec![1, 0, 2],
            ),
            (
                "a tie goes to the request",
                vec![moment(Sent, 5, 10, Some(7)), moment(Received, 7, 10, None)],
                vec![1, 0],
            ),
            (
                "ties among callbacks go by outbox id",
                vec![
                    moment(Sent, 9, 10, None),
                    moment(Sent, 8, 10, Some(1)),
                    moment(Received, 1, 5, None),
                ],
                vec![2, 1, 0],
            ),
            (
                "a callback stamped before its request (another replica's clock) follows it",
                vec![
                    moment(Received, 3, 100, None),
                    moment(Sent, 4, 98, Some(3)),
                    moment(Sent, 2, 99, None),
                ],
                vec![2, 0, 1],
            ),
            ("nothing", vec![], vec![]),
        ];
        for (what, moments, expected) in cases {
            assert_eq!(time_order(&moments), expected, "{what}");
        }
    }
}
