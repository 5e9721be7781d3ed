//! The order and fulfilment state machines of RETAIL-DIGEST.md §8.5, §10 and §11: which
//! fulfilment state may follow which, per routing (P2P hyperlocal, P2H2P through hubs) and
//! for self-pickup, and what order state each fulfilment state implies.

/// Every forward fulfilment state a seller can set.
pub const FORWARD_STATES: [&str; 14] = [
    "Pending",
    "Packed",
    "Agent-assigned",
    "At-pickup",
    "Out-for-pickup",
    "Pickup-failed",
    "Order-picked-up",
    "In-transit",
    "At-destination-hub",
    "Out-for-delivery",
    "Delivery-failed",
    "At-delivery",
    "Order-delivered",
    "Cancelled",
];

/// States of the RTO fulfilment, created when delivery fails for good.
pub const RTO_STATES: [&str; 3] = ["RTO-Initiated", "RTO-Delivered", "RTO-Disposed"];

/// States of a Return fulfilment.
pub const RETURN_STATES: [&str; 8] = [
    "Return_Initiated",
    "Return_Approved",
    "Return_Rejected",
    "Return_Picked",
    "Return_Pick_Failed",
    "Return_Delivered",
    "Return_Failed",
    "Liquidated",
];

/// How a delivery travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Hyperlocal, store to door.
    P2P,
    /// Through the logistics partner's hubs.
    P2H2P,
    /// The buyer collects it at the store.
    SelfPickup,
}

impl Route {
    pub fn of(fulfillment_type: &str, routing: &str) -> Self {
        match (fulfillment_type, routing) {
            ("Self-Pickup", _) => Route::SelfPickup,
            (_, "P2P") => Route::P2P,
            _ => Route::P2H2P,
        }
    }
}

/// The states that may follow `from` on `route` (Cancelled and RTO are separate actions).
pub fn next_states(route: Route, from: &str) -> &'static [&'static str] {
    match route {
        Route::SelfPickup => match from {
            "Pending" => &["Packed"],
            "Packed" => &["Order-picked-up"],
            _ => &[],
        },
        Route::P2P => match from {
            "Pending" => &["Packed"],
            "Packed" => &["Agent-assigned", "At-pickup", "Order-picked-up"],
            "Agent-assigned" => &["At-pickup", "Order-picked-up"],
            "At-pickup" => &["Order-picked-up"],
            "Order-picked-up" => &["At-delivery", "Out-for-delivery", "Order-delivered"],
            "Out-for-delivery" => &["At-delivery", "Delivery-failed", "Order-delivered"],
            "At-delivery" => &["Delivery-failed", "Order-delivered"],
            "Delivery-failed" => &["Out-for-delivery", "Order-delivered"],
            _ => &[],
        },
        Route::P2H2P => match from {
            "Pending" => &["Packed"],
            "Packed" => &["Agent-assigned", "Out-for-pickup", "Order-picked-up"],
            "Agent-assigned" => &["Out-for-pickup", "Order-picked-up"],
            "Out-for-pickup" => &["Pickup-failed", "Order-picked-up"],
            "Pickup-failed" => &["Out-for-pickup", "Order-picked-up"],
            "Order-picked-up" => &["In-transit"],
            "In-transit" => &["At-destination-hub"],
            "At-destination-hub" => &["Out-for-delivery"],
            "Out-for-delivery" => &["Delivery-failed", "Order-delivered"],
            "Delivery-failed" => &["Out-for-delivery", "Order-delivered"],
            _ => &[],
        },
    }
}

/// Why `to` cannot follow `from`, in words for the seller; Ok when it can.
pub fn check_forward(route: Route, from: &str, to: &str) -> Result<(), String> {
    if !FORWARD_STATES.contains(&to) {
        return Err(format!(
            "\"{to}\" is not a fulfilment state; use one of {}",
            FORWARD_STATES.join(", ")
        ));
    }
    let next = next_states(route, from);
    if next.contains(&to) {
        return Ok(());
    }
    let route_name = match route {
        Route::P2P => "a P2P (hyperlocal) delivery",
        Route::P2H2P => "a P2H2P (through hubs) delivery",
        Route::SelfPickup => "a self-pickup order",
    };
    if next.is_empty() {
        Err(format!(
            "the delivery is {from}, which is final; it cannot become {to}"
        ))
    } else {
        Err(format!(
            "{route_name} that is {from} can only become {}, not {to}",
            next.join(" or ")
        ))
    }
}

/// May the goods go back to the store from here (they are with the logistics partner)?
pub fn rto_possible(from: &str) -> bool {
    matches!(
        from,
        "Order-picked-up"
            | "In-transit"
            | "At-destination-hub"
            | "Out-for-delivery"
            | "Delivery-failed"
            | "At-delivery"
    )
}

/// Is the forward delivery still before pickup (buyer may change address or instructions,
/// seller may cancel part of it)?
pub fn before_pickup(state: &str) -> bool {
    matches!(
        state,
        "Pending" | "Packed" | "Agent-assigned" | "At-pickup" | "Out-for-pickup" | "Pickup-failed"
    )
}

/// The order state a forward fulfilment state implies.
pub fn order_state_for(route: Route, fulfillment_state: &str) -> &'static str {
    match fulfillment_state {
        "Pending" => "Accepted",
        "Order-delivered" => "Completed",
        "Order-picked-up" if route == Route::SelfPickup => "Completed",
        "Cancelled" => "Cancelled",
        _ => "In-progress",
    }
}

/// Return fulfilment transitions (§11).
pub fn check_return(from: &str, to: &str) -> Result<(), String> {
    let next: &[&str] = match from {
        "Return_Initiated" => &["Return_Approved", "Return_Rejected", "Liquidated"],
        "Return_Approved" => &["Return_Picked", "Return_Pick_Failed"],
        "Return_Pick_Failed" => &["Return_Picked", "Return_Failed"],
        "Return_Picked" => &["Return_Delivered", "Return_Failed"],
        _ => &[],
    };
    if !RETURN_STATES.contains(&to) {
        return Err(format!(
            "\"{to}\" is not a return state; use one of {}",
            RETURN_STATES.join(", ")
        ));
    }
    if next.contains(&to) {
        Ok(())
    } else if next.is_empty() {
        Err(format!("the return is {from}, which is final"))
    } else {
        Err(format!(
            "a return that is {from} can only become {}, not {to}",
            next.join(" or ")
        ))
    }
}

/// Return states at which the refund is due and the items move to the return (§10.4).
pub fn return_refund_due(state: &str) -> bool {
    matches!(state, "Return_Delivered" | "Liquidated")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hub_delivery_must_pass_through_the_hubs() {
        assert!(check_forward(Route::P2H2P, "Order-picked-up", "In-transit").is_ok());
        let refused = check_forward(Route::P2H2P, "Order-picked-up", "Order-delivered");
        assert!(refused.unwrap_err().contains("In-transit"));
        assert!(check_forward(Route::P2H2P, "Packed", "At-pickup").is_err());
    }

    #[test]
    fn a_hyperlocal_delivery_never_visits_a_hub() {
        assert!(check_forward(Route::P2P, "Order-picked-up", "Order-delivered").is_ok());
        assert!(check_forward(Route::P2P, "Order-picked-up", "In-transit").is_err());
    }

    #[test]
    fn a_delivered_order_is_final_and_unknown_states_are_named() {
        let final_state = check_forward(Route::P2P, "Order-delivered", "Packed").unwrap_err();
        assert!(final_state.contains("final"));
        let unknown = check_forward(Route::P2P, "Pending", "Shipped").unwrap_err();
        assert!(unknown.contains("not a fulfilment state"));
    }

    #[test]
    fn order_states_follow_the_fulfilment() {
        assert_eq!(order_state_for(Route::P2H2P, "Pending"), "Accepted");
        assert_eq!(order_state_for(Route::P2H2P, "Packed"), "In-progress");
        assert_eq!(
            order_state_for(Route::P2H2P, "Order-delivered"),
            "Completed"
        );
        assert_eq!(
            order_state_for(Route::SelfPickup, "Order-picked-up"),
            "Completed"
        );
    }

    #[test]
    fn returns_are_approved_or_rejected_before_pickup() {
        assert!(check_return("Return_Initiated", "Return_Approved").is_ok());
        assert!(check_return("Return_Initiated", "Return_Picked").is_err());
        assert!(check_return("Return_Rejected", "Return_Approved").is_err());
    }
}
