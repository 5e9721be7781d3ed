//! A confirmed order as Haat keeps it, and its ONDC form. The record holds what the buyer app
//! confirmed (echoed unchanged in every later callback, RETAIL-DIGEST.md §14) and what has
//! happened since; `to_ondc` derives the whole `order` object from it, so that on_confirm,
//! on_status, on_cancel and on_update always agree with each other.
//!
//! Every change goes through a method here that checks it is allowed, and the money it moves
//! is found by comparing the quote before and after (`quote_lines`), which keeps
//! "on_confirm total + Σ quote_trail = current total" true by construction (§10.4).

use crate::protocol::json::{object, At};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::lifecycle::{self, Route};
use super::money::{self, Paise};

/// Why a change was refused: an ONDC error code and words for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// One ordered item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Line {
    pub item_id: String,
    pub title: String,
    pub unit: Paise,
    pub ordered: i64,
    /// GST rate quoted on top of the price (None when prices include tax).
    pub tax_rate: Option<String>,
    pub cancellable: bool,
    pub returnable: bool,
    pub return_window_ms: i64,
    #[serde(default)]
    pub parent_item_id: Option<String>,
}

/// A charge on the whole order beyond its items.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Charge {
    /// delivery, packing or misc
    pub title_type: String,
    pub title: String,
    pub amount: Paise,
    /// Refunded (shown as 0) after a cancellation.
    pub refunded: bool,
}

/// The forward (delivery or self-pickup) fulfilment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Forward {
    pub id: String,
    /// Delivery or Self-Pickup
    pub kind: String,
    pub state: String,
    /// P2P or P2H2P
    pub routing: String,
    pub tat: String,
    pub category: String,
    pub provider_name: String,
    pub tracking: bool,
    pub start: Value,
    pub end: Value,
    pub tags: Vec<Value>,
    pub picked_at: Option<String>,
    pub delivered_at: Option<String>,
}

/// A Cancel, Return or RTO fulfilment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Extra {
    pub id: String,
    pub kind: String,
    pub state: String,
    /// Items moved here from the forward fulfilment: (item id, count).
    pub items: Vec<(String, i64)>,
    /// For a return: what was asked to be returned (moved into `items` when refunded).
    pub requested: Vec<(String, i64)>,
    /// (type, id, signed amount)
    pub trail: Vec<(String, String, Paise)>,
    pub tags: Vec<Value>,
    pub start: Option<Value>,
    pub end: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Order {
    pub id: String,
    /// domain, country, city, core_version, bap_id, bap_uri, transaction_id of the order.
    pub context: Map<String, Value>,
    pub provider_id: String,
    pub location_id: String,
    pub state: String,
    pub created_at: String,
    pub updated_at: String,
    pub billing: Value,
    pub payment: Value,
    pub bpp_terms: Value,
    pub bap_terms: Option<Value>,
    pub cancellation_terms: Value,
    pub lines: Vec<Line>,
    pub charges: Vec<Charge>,
    pub quote_ttl: String,
    pub forward: Forward,
    pub extras: Vec<Extra>,
    pub cancellation: Option<Value>,
    pub tracking_url: Option<String>,
    /// Share of the order value kept when the buyer cancels after packing.
    pub cancellation_fee_percent: String,
    /// Unix ms of the last callback built for this order, so each is later than the last.
    pub last_message_ms: i64,
}

fn tag(code: &str, list: &[(&str, String)]) -> Value {
    json!({
        "code": code,
        "list": list.iter().map(|(c, v)| json!({"code": c, "value": v})).collect::<Vec<_>>(),
    })
}

/// A tag's list as (code, value) pairs; the inverse of `tag`.
pub fn tag_entries(tag: &Value) -> Vec<(String, String)> {
    tag["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["code"].as_str().unwrap_or_default().to_owned(),
                e["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn price(paise: Paise) -> Value {
    json!({"currency": "INR", "value": money::format(paise)})
}

impl Order {
    pub fn transaction_id(&self) -> &str {
        self.context
            .get("transaction_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn bap_id(&self) -> &str {
        self.context
            .get("bap_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn route(&self) -> Route {
        Route::of(&self.forward.kind, &self.forward.routing)
    }

    /// How many of `item_id` are still on the forward fulfilment.
    pub fn forward_count(&self, item_id: &str) -> i64 {
        let ordered: i64 = self
            .lines
            .iter()
            .filter(|l| l.item_id == item_id)
            .map(|l| l.ordered)
            .sum();
        let moved: i64 = self
            .extras
            .iter()
            .flat_map(|e| e.items.iter())
            .filter(|(id, _)| id == item_id)
            .map(|(_, n)| n)
            .sum();
        ordered - moved
    }

    /// The quote's lines as (title_type, id, value), from the current counts.
    pub fn quote_lines(&self) -> Vec<(String, String, Paise)> {
        let mut out = Vec::new();
        for line in &self.lines {
            let count = self.forward_count(&line.item_id);
            out.push(("item".into(), line.item_id.clone(), line.unit * count));
        }
        for line in &self.lines {
            if let Some(rate) = &line.tax_rate {
                let count = self.forward_count(&line.item_id);
                let tax = money::percent_of(line.unit * count, rate).unwrap_or(0);
                out.push(("tax".into(), line.item_id.clone(), tax));
            }
        }
        for charge in &self.charges {
            let value = if charge.refunded { 0 } else { charge.amount };
            out.push((charge.title_type.clone(), self.forward.id.clone(), value));
        }
        out
    }

    pub fn total(&self) -> Paise {
        self.quote_lines().iter().map(|(_, _, v)| v).sum()
    }

    /// The money a change moved: each quote line that differs, as a signed amount.
    fn trail_since(&self, before: &[(String, String, Paise)]) -> Vec<(String, String, Paise)> {
        let after = self.quote_lines();
        let mut trail = Vec::new();
        for (kind, id, value) in &after {
            let old = before
                .iter()
                .find(|(k, i, _)| k == kind && i == id)
                .map(|(_, _, v)| *v)
                .unwrap_or(0);
            if *value != old {
                trail.push((kind.clone(), id.clone(), value - old));
            }
        }
        trail
    }

    pub fn quote(&self) -> Value {
        let mut breakup = Vec::new();
        for line in &self.lines {
            let count = self.forward_count(&line.item_id);
            breakup.push(json!({
                "@ondc/org/item_id": line.item_id,
                "@ondc/org/item_quantity": {"count": count},
                "title": line.title,
                "@ondc/org/title_type": "item",
                "price": price(line.unit * count),
                "item": {"price": price(line.unit)},
            }));
        }
        for line in &self.lines {
            if let Some(rate) = &line.tax_rate {
                let count = self.forward_count(&line.item_id);
                let tax = money::percent_of(line.unit * count, rate).unwrap_or(0);
                breakup.push(json!({
                    "@ondc/org/item_id": line.item_id,
                    "title": format!("Tax (GST {rate}%)"),
                    "@ondc/org/title_type": "tax",
                    "price": price(tax),
                }));
            }
        }
        for charge in &self.charges {
            let value = if charge.refunded { 0 } else { charge.amount };
            breakup.push(json!({
                "@ondc/org/item_id": self.forward.id,
                "title": charge.title,
                "@ondc/org/title_type": charge.title_type,
                "price": price(value),
            }));
        }
        object([
            ("price", price(self.total())),
            ("breakup", Value::Array(breakup)),
            ("ttl", json!(self.quote_ttl)),
        ])
    }

    fn items_json(&self) -> Vec<Value> {
        let mut items = Vec::new();
        for line in &self.lines {
            let mut item = json!({
                "id": line.item_id,
                "fulfillment_id": self.forward.id,
                "quantity": {"count": self.forward_count(&line.item_id)},
            });
            if let Some(parent) = &line.parent_item_id {
                item["parent_item_id"] = json!(parent);
            }
            items.push(item);
            for extra in &self.extras {
                for (id, count) in extra.items.iter().filter(|(id, _)| *id == line.item_id) {
                    items.push(
                        json!({"id": id, "fulfillment_id": extra.id, "quantity": {"count": count}}),
                    );
                }
            }
        }
        items
    }

    fn forward_json(&self) -> Value {
        let f = &self.forward;
        let mut start = f.start.clone();
        if let Some(at) = &f.picked_at {
            start["time"]["timestamp"] = json!(at);
        }
        let mut end = f.end.clone();
        if let Some(at) = &f.delivered_at {
            end["time"]["timestamp"] = json!(at);
        }
        let mut tags = f.tags.clone();
        if self.state != "Created" && f.kind == "Delivery" {
            tags.insert(0, tag("routing", &[("type", f.routing.clone())]));
        }
        if let Some(url) = &self.tracking_url {
            tags.push(tag(
                "tracking",
                &[
                    ("gps_enabled", "no".into()),
                    ("url_enabled", "yes".into()),
                    ("url", url.clone()),
                ],
            ));
        }
        let mut out = object([
            ("id", json!(f.id)),
            ("type", json!(f.kind)),
            ("@ondc/org/provider_name", json!(f.provider_name)),
            ("tracking", json!(f.tracking)),
            ("@ondc/org/category", json!(f.category)),
            ("@ondc/org/TAT", json!(f.tat)),
            ("state", json!({"descriptor": {"code": f.state}})),
            ("start", start),
            ("end", end),
        ]);
        if !tags.is_empty() {
            out["tags"] = Value::Array(tags);
        }
        out
    }

    fn extra_json(&self, extra: &Extra) -> Value {
        let mut tags = extra.tags.clone();
        for (kind, id, value) in &extra.trail {
            tags.push(tag(
                "quote_trail",
                &[
                    ("type", kind.clone()),
                    ("id", id.clone()),
                    ("currency", "INR".into()),
                    ("value", money::format(*value)),
                ],
            ));
        }
        let mut out = json!({
            "id": extra.id,
            "type": extra.kind,
            "state": {"descriptor": {"code": extra.state}},
        });
        if extra.kind != "Cancel" {
            out["@ondc/org/provider_name"] = json!(self.forward.provider_name);
        }
        if let Some(start) = &extra.start {
            out["start"] = start.clone();
        }
        if let Some(end) = &extra.end {
            out["end"] = end.clone();
        }
        if !tags.is_empty() {
            out["tags"] = Value::Array(tags);
        }
        out
    }

    /// The ONDC `order` object as it stands.
    pub fn to_ondc(&self) -> Value {
        let mut fulfillments = vec![self.forward_json()];
        fulfillments.extend(self.extras.iter().map(|e| self.extra_json(e)));
        let mut tags = vec![self.bpp_terms.clone()];
        tags.extend(self.bap_terms.clone());
        let mut order = object([
            ("id", json!(self.id)),
            ("state", json!(self.state)),
            (
                "provider",
                json!({"id": self.provider_id, "locations": [{"id": self.location_id}]}),
            ),
            ("items", Value::Array(self.items_json())),
            ("billing", self.billing.clone()),
            ("fulfillments", Value::Array(fulfillments)),
            ("quote", self.quote()),
            ("payment", self.payment.clone()),
        ]);
        if !self.cancellation_terms.is_null() {
            order["cancellation_terms"] = self.cancellation_terms.clone();
        }
        if let Some(cancellation) = &self.cancellation {
            order["cancellation"] = cancellation.clone();
        }
        order["tags"] = Value::Array(tags);
        order["created_at"] = json!(self.created_at);
        order["updated_at"] = json!(self.updated_at);
        order
    }

    // ---- changes ----------------------------------------------------------------------

    /// The seller accepts a Created order.
    pub fn accept(&mut self, now: &str) -> Result<(), Refusal> {
        if self.state != "Created" {
            return Err(Refusal::new(
                "20007",
                format!(
                    "only a Created order can be accepted; this one is {}",
                    self.state
                ),
            ));
        }
        self.state = "Accepted".into();
        self.updated_at = now.to_owned();
        Ok(())
    }

    /// Moves the forward fulfilment on (Packed, Order-picked-up, …).
    pub fn advance(&mut self, to: &str, now: &str) -> Result<(), Refusal> {
        match self.state.as_str() {
            "Created" => {
                return Err(Refusal::new(
                    "20007",
                    "the order is not accepted yet; accept it before moving the delivery on",
                ))
            }
            "Cancelled" => return Err(Refusal::new("50008", "the order is cancelled")),
            _ => {}
        }
        if to == "Cancelled" {
            return Err(Refusal::new(
                "20007",
                "use the cancel action to cancel an order; it needs a reason",
            ));
        }
        lifecycle::check_forward(self.route(), &self.forward.state, to)
            .map_err(|why| Refusal::new("20007", why))?;
        self.forward.state = to.to_owned();
        match to {
            "Order-picked-up" => self.forward.picked_at = Some(now.to_owned()),
            "Order-delivered" => {
                self.forward.delivered_at = Some(now.to_owned());
                // Cash on delivery is paid now.
                if self.payment["type"] == "ON-FULFILLMENT" {
                    self.payment["status"] = json!("PAID");
                    self.payment["time"] = json!({"timestamp": now});
                }
            }
            _ => {}
        }
        self.state = lifecycle::order_state_for(self.route(), to).to_owned();
        self.updated_at = now.to_owned();
        Ok(())
    }

    /// A fulfilment id not used yet in this order: C1, C2… (buyer apps choose return ids, so
    /// any id may already be taken).
    fn next_extra_id(&self, prefix: &str) -> String {
        (1..)
            .map(|n| format!("{prefix}{n}"))
            .find(|id| *id != self.forward.id && self.extras.iter().all(|e| e.id != *id))
            .expect("some number is free")
    }

    /// Cancels the whole order. `fee` keeps that share of the order value (buyer cancels
    /// after packing, per the cancellation terms).
    pub fn cancel(
        &mut self,
        reason_id: &str,
        by: &str,
        fee_percent: Option<&str>,
        force: bool,
        now: &str,
    ) -> Result<(), Refusal> {
        if self.state == "Cancelled" {
            return Err(Refusal::new("50001", "the order is already cancelled"));
        }
        if matches!(self.state.as_str(), "Completed") {
            return Err(Refusal::new(
                "50001",
                "the order is delivered; ask for a return instead of a cancellation",
            ));
        }
        if !force && !lifecycle::before_pickup(&self.forward.state) {
            return Err(Refusal::new(
                "50001",
                format!(
                    "the order is already {}; it can no longer be cancelled (once picked up, only a return to origin can undo it)",
                    self.forward.state
                ),
            ));
        }
        let before = self.quote_lines();
        let precancel = (self.forward.state.clone(), self.updated_at.clone());
        let items: Vec<(String, i64)> = self
            .lines
            .iter()
            .map(|l| (l.item_id.clone(), self.forward_count(&l.item_id)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let fee = match fee_percent {
            Some(percent) => money::percent_of(self.total(), percent).unwrap_or(0),
            None => 0,
        };
        let id = self.next_extra_id("C");
        self.extras.push(Extra {
            id: id.clone(),
            kind: "Cancel".into(),
            state: "Cancelled".into(),
            items,
            requested: Vec::new(),
            trail: Vec::new(),
            tags: Vec::new(),
            start: None,
            end: None,
        });
        for charge in &mut self.charges {
            charge.refunded = true;
        }
        if fee > 0 {
            self.charges.push(Charge {
                title_type: "misc".into(),
                title: "Cancellation charges".into(),
                amount: fee,
                refunded: false,
            });
        }
        let trail = self.trail_since(&before);
        let extra = self.extras.last_mut().expect("just pushed");
        extra.trail = trail;
        self.close_forward(
            reason_id,
            by,
            &[("reason_id", reason_id.into()), ("initiated_by", by.into())],
            precancel,
            now,
        );
        Ok(())
    }

    /// The whole order ends: the delivery is Cancelled with its cancel request and the state
    /// it had before (`precancel`: state, updated_at), and the order records why.
    fn close_forward(
        &mut self,
        reason_id: &str,
        by: &str,
        request: &[(&str, String)],
        precancel: (String, String),
        now: &str,
    ) {
        self.forward.state = "Cancelled".into();
        self.forward.tags.retain(|t| t["code"] != "cancel_request");
        self.forward.tags.push(tag("cancel_request", request));
        self.forward.tags.push(tag(
            "precancel_state",
            &[
                ("fulfillment_state", precancel.0.clone()),
                ("updated_at", precancel.1),
            ],
        ));
        self.state = "Cancelled".into();
        // The 1.2.5 schema requires reason.state: the delivery's state when it was cancelled.
        self.cancellation =
            Some(json!({"cancelled_by": by, "reason": {"id": reason_id, "state": precancel.0}}));
        self.updated_at = now.to_owned();
    }

    /// The seller cancels some items (reason 002), before the order leaves the store.
    pub fn cancel_part(
        &mut self,
        items: &[(String, i64)],
        reason_id: &str,
        by: &str,
        now: &str,
    ) -> Result<String, Refusal> {
        if !matches!(self.state.as_str(), "Created" | "Accepted") || self.forward.state != "Pending"
        {
            return Err(Refusal::new(
                "50001",
                format!(
                    "part of an order can only be cancelled while it is Pending; it is {}",
                    self.forward.state
                ),
            ));
        }
        for (item_id, count) in items {
            let left = self.forward_count(item_id);
            if !self.lines.iter().any(|l| &l.item_id == item_id) {
                return Err(Refusal::new(
                    "30004",
                    format!("item {item_id} is not in this order"),
                ));
            }
            if *count < 1 || *count > left {
                return Err(Refusal::new(
                    "40007",
                    format!("item {item_id}: {count} cannot be cancelled; {left} are left"),
                ));
            }
        }
        let remaining: i64 = self
            .lines
            .iter()
            .map(|l| {
                self.forward_count(&l.item_id)
                    - items
                        .iter()
                        .filter(|(id, _)| *id == l.item_id)
                        .map(|(_, n)| n)
                        .sum::<i64>()
            })
            .sum();
        if remaining == 0 {
            return Err(Refusal::new(
                "40000",
                "that would cancel every item; cancel the whole order instead",
            ));
        }
        let before = self.quote_lines();
        let id = self.next_extra_id("C");
        self.extras.push(Extra {
            id: id.clone(),
            kind: "Cancel".into(),
            state: "Cancelled".into(),
            items: items.to_vec(),
            requested: Vec::new(),
            trail: Vec::new(),
            tags: vec![tag(
                "cancel_request",
                &[("reason_id", reason_id.into()), ("initiated_by", by.into())],
            )],
            start: None,
            end: None,
        });
        let trail = self.trail_since(&before);
        self.extras.last_mut().expect("just pushed").trail = trail;
        self.updated_at = now.to_owned();
        Ok(id)
    }

    /// Delivery failed for good: the goods go back to the store (RTO, §10.2).
    pub fn start_rto(&mut self, reason_id: &str, by: &str, now: &str) -> Result<String, Refusal> {
        if self.state == "Cancelled" || !lifecycle::rto_possible(&self.forward.state) {
            return Err(Refusal::new(
                "20007",
                format!(
                    "an order can go back to the store (RTO) only after pickup and before delivery; it is {}",
                    self.forward.state
                ),
            ));
        }
        let before = self.quote_lines();
        let precancel = (self.forward.state.clone(), self.updated_at.clone());
        let id = self.next_extra_id("RTO");
        let items: Vec<(String, i64)> = self
            .lines
            .iter()
            .map(|l| (l.item_id.clone(), self.forward_count(&l.item_id)))
            .filter(|(_, n)| *n > 0)
            .collect();
        // The buyer pays the delivery when the failure was theirs (not reachable, refused,
        // wrong address, not there); otherwise it is refunded too.
        let buyer_caused = matches!(reason_id, "011" | "012" | "013" | "014" | "015");
        self.extras.push(Extra {
            id: id.clone(),
            kind: "RTO".into(),
            state: "RTO-Initiated".into(),
            items,
            requested: Vec::new(),
            trail: Vec::new(),
            tags: Vec::new(),
            start: Some(json!({"location": self.forward.end["location"].clone(), "time": {"timestamp": now}})),
            end: Some(json!({"location": self.forward.start["location"].clone()})),
        });
        if !buyer_caused {
            for charge in &mut self.charges {
                charge.refunded = true;
            }
        }
        let trail = self.trail_since(&before);
        self.extras.last_mut().expect("just pushed").trail = trail;
        self.close_forward(
            reason_id,
            by,
            &[
                ("reason_id", reason_id.into()),
                ("initiated_by", by.into()),
                ("retry_count", "1".into()),
                ("rto_id", id.clone()),
            ],
            precancel,
            now,
        );
        Ok(id)
    }

    /// The returned goods reached the store (RTO-Delivered) or were disposed of.
    pub fn finish_rto(&mut self, to: &str, now: &str) -> Result<(), Refusal> {
        let Some(rto) = self
            .extras
            .iter_mut()
            .find(|e| e.kind == "RTO" && e.state == "RTO-Initiated")
        else {
            return Err(Refusal::new(
                "50007",
                "this order has no return to origin in progress",
            ));
        };
        rto.state = to.to_owned();
        if let Some(end) = &mut rto.end {
            end["time"] = json!({"timestamp": now});
        }
        self.updated_at = now.to_owned();
        Ok(())
    }

    /// A buyer's return request for delivered items (§11).
    pub fn request_return(
        &mut self,
        request: &ReturnRequest,
        by: &str,
        now_ms: i64,
        now: &str,
    ) -> Result<(), Refusal> {
        if self.state != "Completed" {
            return Err(Refusal::new(
                "50002",
                format!(
                    "only a delivered order can be returned; this one is {}",
                    self.state
                ),
            ));
        }
        if !matches!(
            request.reason_id.as_str(),
            "001" | "002" | "003" | "004" | "005"
        ) {
            return Err(Refusal::new(
                "30005",
                format!("return reason {} is not one of 001-005", request.reason_id),
            ));
        }
        if request.id == self.forward.id || self.extras.iter().any(|e| e.id == request.id) {
            return Err(Refusal::new(
                "30005",
                format!("return request {} already exists", request.id),
            ));
        }
        let Some(line) = self.lines.iter().find(|l| l.item_id == request.item_id) else {
            return Err(Refusal::new(
                "30004",
                format!("item {} is not in this order", request.item_id),
            ));
        };
        if !line.returnable {
            return Err(Refusal::new(
                "50002",
                format!("{} is not returnable", line.title),
            ));
        }
        let delivered_ms = self
            .forward
            .delivered_at
            .as_deref()
            .and_then(crate::protocol::time::parse_timestamp)
            .map(|t| t.timestamp_millis())
            .unwrap_or(now_ms);
        if now_ms > delivered_ms + line.return_window_ms {
            return Err(Refusal::new(
                "50002",
                format!(
                    "the return window of {} ({}) has passed",
                    line.title,
                    crate::protocol::time::format_duration(line.return_window_ms)
                ),
            ));
        }
        let pending: i64 = self
            .extras
            .iter()
            .filter(|e| e.kind == "Return" && e.state != "Return_Rejected" && e.items.is_empty())
            .flat_map(|e| e.requested.iter())
            .filter(|(id, _)| *id == request.item_id)
            .map(|(_, n)| n)
            .sum();
        let left = self.forward_count(&request.item_id) - pending;
        if request.quantity < 1 || request.quantity > left {
            return Err(Refusal::new(
                "30005",
                format!(
                    "{} of {} cannot be returned; {left} can be",
                    request.quantity, line.title
                ),
            ));
        }
        let mut list = vec![
            ("id", request.id.clone()),
            ("item_id", request.item_id.clone()),
            ("item_quantity", request.quantity.to_string()),
            ("reason_id", request.reason_id.clone()),
        ];
        for (code, value) in &request.extra {
            list.push((code.as_str(), value.clone()));
        }
        list.push(("initiated_by", by.into()));
        self.extras.push(Extra {
            id: request.id.clone(),
            kind: "Return".into(),
            state: "Return_Initiated".into(),
            items: Vec::new(),
            requested: vec![(request.item_id.clone(), request.quantity)],
            trail: Vec::new(),
            tags: vec![tag("return_request", &list)],
            start: Some(json!({"location": self.forward.end["location"].clone()})),
            end: Some(json!({"location": self.forward.start["location"].clone()})),
        });
        self.updated_at = now.to_owned();
        Ok(())
    }

    /// Moves a return on; at the refund trigger its items leave the quote (quote_trail).
    pub fn advance_return(
        &mut self,
        return_id: &str,
        to: &str,
        reason: Option<&str>,
        now: &str,
    ) -> Result<(), Refusal> {
        let before = self.quote_lines();
        let Some(index) = self
            .extras
            .iter()
            .position(|e| e.kind == "Return" && e.id == return_id)
        else {
            return Err(Refusal::new(
                "50007",
                format!("this order has no return {return_id}"),
            ));
        };
        lifecycle::check_return(&self.extras[index].state, to)
            .map_err(|why| Refusal::new("50008", why))?;
        {
            let extra = &mut self.extras[index];
            extra.state = to.to_owned();
            match to {
                "Return_Picked" => {
                    if let Some(start) = &mut extra.start {
                        start["time"] = json!({"timestamp": now});
                    }
                }
                "Return_Delivered" => {
                    if let Some(end) = &mut extra.end {
                        end["time"] = json!({"timestamp": now});
                    }
                }
                "Return_Rejected" => {
                    let reason = reason.unwrap_or("rejected by the seller");
                    extra
                        .tags
                        .push(tag("return_rejection", &[("reason", reason.into())]));
                }
                _ => {}
            }
            if lifecycle::return_refund_due(to) {
                extra.items = extra.requested.clone();
            }
        }
        if lifecycle::return_refund_due(to) {
            let trail = self.trail_since(&before);
            self.extras[index].trail = trail;
        }
        self.updated_at = now.to_owned();
        Ok(())
    }

    /// The buyer changes delivery instructions or the address, before pickup (§11).
    pub fn update_delivery(&mut self, end: &Value, now: &str) -> Result<(), Refusal> {
        if self.state == "Cancelled" || !lifecycle::before_pickup(&self.forward.state) {
            return Err(Refusal::new(
                "50002",
                format!(
                    "delivery details can only change before pickup; the order is {}",
                    self.forward.state
                ),
            ));
        }
        if let Some(instructions) = end.get("instructions") {
            self.forward.end["instructions"] = instructions.clone();
        }
        if let Some(location) = end.get("location") {
            let current = &self.forward.end["location"];
            if location.get("gps").is_some_and(|g| *g != current["gps"])
                || location
                    .at("/address/area_code")
                    .is_some_and(|a| *a != current["address"]["area_code"])
            {
                return Err(Refusal::new(
                    "50002",
                    "the delivery point (gps and pincode) cannot change after the quote; only the address text can",
                ));
            }
            if let Some(address) = location.get("address").and_then(Value::as_object) {
                for (key, value) in address {
                    self.forward.end["location"]["address"][key] = value.clone();
                }
            }
        }
        if let Some(contact) = end.get("contact") {
            self.forward.end["contact"] = contact.clone();
        }
        self.updated_at = now.to_owned();
        Ok(())
    }
}

/// A buyer's return request, read from `update` (§11).
#[derive(Debug, Clone)]
pub struct ReturnRequest {
    pub id: String,
    pub item_id: String,
    pub quantity: i64,
    pub reason_id: String,
    /// The other tags (reason_desc, images, ttl_approval, ttl_reverseqc…), echoed.
    pub extra: Vec<(String, String)>,
}
