//! What a seller does to its orders (through the seller API): accept, move the delivery on,
//! cancel all or part, send the goods back to origin, and answer returns. Each action is
//! checked against the order's state, written with its history, and told to the buyer app
//! by an unsolicited callback through the outbox (RETAIL-DIGEST.md §2.2).

use crate::protocol::json::object;
use chrono::Utc;
use serde_json::{json, Value};

use super::record::{Order, Refusal};
use super::{lifecycle, order_write, read_order, Orders, REASONS};
use crate::protocol::time::format_timestamp;
use crate::store::{CommitResult, OrderChange, StoreError};

/// Why a seller's action was not done.
#[derive(Debug)]
pub enum SellerError {
    /// No such order for this seller (404).
    NotFound(String),
    /// Not allowed in the order's current state (409).
    Conflict(String),
    /// The request itself is wrong (400): (field, message).
    Invalid(String, String),
    Store(StoreError),
}

impl From<StoreError> for SellerError {
    fn from(error: StoreError) -> Self {
        SellerError::Store(error)
    }
}

/// A change a seller makes: which callback tells the buyer app, the history entry, and stock
/// to give back.
struct Effect {
    action: &'static str,
    kind: String,
    detail: Value,
    restock: Vec<(String, i64)>,
}

impl Orders {
    /// Loads `order_id` if it belongs to `provider_id`, applies `change`, and commits it with
    /// its callback; retried when another change got there first.
    async fn seller_change(
        &self,
        provider_id: &str,
        order_id: &str,
        change: impl Fn(&mut Order, &str) -> Result<Effect, Refusal>,
    ) -> Result<Order, SellerError> {
        for _ in 0..8 {
            let Some(stored) = self.store.load_order(order_id).await? else {
                return Err(SellerError::NotFound(format!(
                    "there is no order {order_id}"
                )));
            };
            let mut order = read_order(&stored)?;
            if order.provider_id != provider_id {
                return Err(SellerError::NotFound(format!(
                    "there is no order {order_id}"
                )));
            }
            let now = format_timestamp(Utc::now());
            let effect = change(&mut order, &now).map_err(|r| SellerError::Conflict(r.message))?;
            let message = object([("order", order.to_ondc())]);
            let callback = self.unsolicited(&mut order, effect.action, &message);
            let write = OrderChange {
                order: Some(order_write(&order, Some(stored.version))),
                stock: effect
                    .restock
                    .iter()
                    .map(|(item, n)| (order.provider_id.clone(), item.clone(), -n))
                    .collect(),
                events: vec![(
                    order.id.clone(),
                    "seller".into(),
                    effect.kind.clone(),
                    json!({"detail": effect.detail, "sent": effect.action, "message_id": callback.message_id}),
                )],
                callbacks: vec![callback],
                ..Default::default()
            };
            match self.store.commit_order_change(&write).await? {
                CommitResult::Done => return Ok(order),
                CommitResult::Conflict => continue,
                other => {
                    return Err(SellerError::Conflict(format!(
                        "the change could not be written ({other:?})"
                    )))
                }
            }
        }
        Err(SellerError::Conflict(
            "the order kept changing while this action was being written; try again".into(),
        ))
    }

    /// Accepts a Created order: Accepted, delivery Pending, on_status.
    pub async fn seller_accept(
        &self,
        provider_id: &str,
        order_id: &str,
    ) -> Result<Order, SellerError> {
        self.seller_change(provider_id, order_id, |order, now| {
            order.accept(now)?;
            Ok(Effect {
                action: "on_status",
                kind: "accepted".into(),
                detail: json!({}),
                restock: Vec::new(),
            })
        })
        .await
    }

    /// Moves the delivery on to `state` (a forward state, RTO-Initiated with a reason, or
    /// RTO-Delivered / RTO-Disposed).
    pub async fn seller_set_state(
        &self,
        provider_id: &str,
        order_id: &str,
        state: &str,
        reason_code: Option<&str>,
    ) -> Result<Order, SellerError> {
        let known =
            lifecycle::FORWARD_STATES.contains(&state) || lifecycle::RTO_STATES.contains(&state);
        if !known {
            return Err(SellerError::Invalid(
                "state".into(),
                format!(
                    "\"{state}\" is not a fulfilment state; use one of {}, {}",
                    lifecycle::FORWARD_STATES.join(", "),
                    lifecycle::RTO_STATES.join(", ")
                ),
            ));
        }
        if state == "RTO-Initiated" {
            let reason = reason_code.unwrap_or_default().to_owned();
            let rto_reasons: Vec<&str> = REASONS
                .rto
                .iter()
                .map(String::as_str)
                .filter(|r| *r != "052")
                .collect();
            if !rto_reasons.contains(&reason.as_str()) {
                return Err(SellerError::Invalid(
                    "reason_code".into(),
                    format!(
                        "a return to origin needs a reason_code, one of {}",
                        rto_reasons.join(", ")
                    ),
                ));
            }
            let bpp_id = self.settings.subscriber_id.clone();
            return self
                .seller_change(provider_id, order_id, |order, now| {
                    let rto_id = order.start_rto(&reason, &bpp_id, now)?;
                    Ok(Effect {
                        action: "on_cancel",
                        kind: "rto_initiated".into(),
                        detail: json!({"reason_code": reason, "rto_id": rto_id}),
                        restock: Vec::new(),
                    })
                })
                .await;
        }
        if state == "RTO-Delivered" || state == "RTO-Disposed" {
            let to = state.to_owned();
            return self
                .seller_change(provider_id, order_id, |order, now| {
                    order.finish_rto(&to, now)?;
                    // Goods back at the store are sellable again.
                    let restock = if to == "RTO-Delivered" {
                        order
                            .extras
                            .iter()
                            .filter(|e| e.kind == "RTO")
                            .flat_map(|e| e.items.clone())
                            .collect()
                    } else {
                        Vec::new()
                    };
                    Ok(Effect {
                        action: "on_status",
                        kind: "rto_state".into(),
                        detail: json!({"state": to}),
                        restock,
                    })
                })
                .await;
        }
        let to = state.to_owned();
        self.seller_change(provider_id, order_id, |order, now| {
            let from = order.forward.state.clone();
            order.advance(&to, now)?;
            Ok(Effect {
                action: "on_status",
                kind: "fulfillment_state".into(),
                detail: json!({"from": from, "to": to}),
                restock: Vec::new(),
            })
        })
        .await
    }

    /// Cancels the whole order (seller reasons), or some items (reason 002, part-cancel).
    pub async fn seller_cancel(
        &self,
        provider_id: &str,
        order_id: &str,
        reason_code: &str,
        item_ids: Option<&[String]>,
    ) -> Result<Order, SellerError> {
        if !REASONS.seller.iter().any(|r| r == reason_code) {
            return Err(SellerError::Invalid(
                "reason_code".into(),
                format!(
                    "\"{reason_code}\" is not a seller cancellation reason; use one of {}",
                    REASONS.seller.join(", ")
                ),
            ));
        }
        let bpp_id = self.settings.subscriber_id.clone();
        match item_ids {
            Some(ids) if !ids.is_empty() => {
                if !REASONS.part_cancel.iter().any(|r| r == reason_code) {
                    return Err(SellerError::Invalid(
                        "reason_code".into(),
                        "part of an order can only be cancelled with reason 002 (items not available)".into(),
                    ));
                }
                let ids = ids.to_vec();
                self.seller_change(provider_id, order_id, |order, now| {
                    let items: Vec<(String, i64)> = ids
                        .iter()
                        .map(|id| (id.clone(), order.forward_count(id)))
                        .collect();
                    if let Some((id, _)) = items.iter().find(|(_, n)| *n == 0) {
                        return Err(Refusal::new("30004", format!("item {id} is not (or no longer) in this order")));
                    }
                    let cancel_id = order.cancel_part(&items, reason_code, &bpp_id, now)?;
                    Ok(Effect {
                        action: "on_update",
                        kind: "part_cancelled".into(),
                        detail: json!({"reason_code": reason_code, "items": ids, "cancel_id": cancel_id}),
                        // The seller said these are not available: they are not restocked.
                        restock: Vec::new(),
                    })
                })
                .await
            }
            _ => {
                self.seller_change(provider_id, order_id, |order, now| {
                    let before_pickup = lifecycle::before_pickup(&order.forward.state);
                    order.cancel(reason_code, &bpp_id, None, false, now)?;
                    let restock = if before_pickup && reason_code != "002" {
                        order
                            .extras
                            .last()
                            .map(|e| e.items.clone())
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    Ok(Effect {
                        action: "on_cancel",
                        kind: "cancelled".into(),
                        detail: json!({"reason_code": reason_code}),
                        restock,
                    })
                })
                .await
            }
        }
    }

    /// Moves a return on: approve, reject (with a reason), picked, delivered, liquidated.
    pub async fn seller_return(
        &self,
        provider_id: &str,
        order_id: &str,
        return_id: &str,
        state: &str,
        reason: Option<&str>,
    ) -> Result<Order, SellerError> {
        if !lifecycle::RETURN_STATES.contains(&state) || state == "Return_Initiated" {
            return Err(SellerError::Invalid(
                "state".into(),
                format!(
                    "\"{state}\" is not a state a seller can move a return to; use one of {}",
                    lifecycle::RETURN_STATES[1..].join(", ")
                ),
            ));
        }
        let to = state.to_owned();
        let reason = reason.map(str::to_owned);
        self.seller_change(provider_id, order_id, |order, now| {
            order.advance_return(return_id, &to, reason.as_deref(), now)?;
            // Returned goods are sellable again once they are back.
            let restock = if to == "Return_Delivered" {
                order
                    .extras
                    .iter()
                    .find(|e| e.id == return_id)
                    .map(|e| e.items.clone())
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            Ok(Effect {
                action: "on_update",
                kind: "return_state".into(),
                detail: json!({"return_id": return_id, "state": to, "reason": reason}),
                restock,
            })
        })
        .await
    }
}
