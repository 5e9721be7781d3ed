//! Orders end to end: the negotiation (select, init, confirm), the order's life afterwards
//! (status, track, cancel, update from buyer apps; accept, fulfilment states, cancellations,
//! RTO and returns from sellers) and grievances (IGM). Every change is written together with
//! the request it answers and the callbacks it causes (`Store::commit_order_change`), and
//! every change the network must hear about leaves through the outbox.

pub mod igm;
pub mod lifecycle;
pub mod money;
pub mod negotiate;
pub mod record;
pub mod seller;

use std::sync::{Arc, LazyLock};

use chrono::Utc;
use serde_json::{json, Value};

use crate::config::Settings;
use crate::protocol::ack::{ErrorType, WireError};
use crate::protocol::callback::RequestContext;
use crate::protocol::context::Action;
use crate::protocol::json::{object, At};
use crate::protocol::time::{format_timestamp, parse_duration_ms, parse_timestamp};
use crate::store::{now_ms, NewCallback, OrderChange, OrderWrite, Store, StoreError, StoredOrder};
use negotiate::Draft;
use record::{Order, Refusal, ReturnRequest};

/// The cancellation reason lists of retail 1.2.5 (protocol/derived, from ONDC's validator).
pub struct ReasonCodes {
    pub buyer: Vec<String>,
    pub seller: Vec<String>,
    pub rto: Vec<String>,
    pub part_cancel: Vec<String>,
}

pub static REASONS: LazyLock<ReasonCodes> = LazyLock::new(|| {
    let data: Value = serde_json::from_str(include_str!(
        "../../protocol/derived/cancellation-reasons-1.2.5.json"
    ))
    .expect("protocol/derived/cancellation-reasons-1.2.5.json is JSON");
    let list = |name: &str| -> Vec<String> {
        data[name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    ReasonCodes {
        buyer: list("buyer_initiated_ids"),
        seller: list("seller_initiated_ids"),
        rto: list("rto_triggering_ids"),
        part_cancel: vec!["002".into()],
    }
});

/// Buyer cancellation reasons of retail 1.2.0 (errors/cancellation-codes-1.2.0.yaml).
const BUYER_REASONS_1_2_0: [&str; 6] = ["001", "003", "006", "009", "010", "999"];

/// What handling one request decided: the solicited answer (if any) and what to write.
pub struct Handled {
    pub answer: Option<(Value, Option<WireError>)>,
    pub note: String,
    pub change: OrderChange,
    /// The order the change writes, to build unsolicited follow-ups from.
    pub follow_ups: Vec<(&'static str, Value)>,
    /// The time the answer speaks for (its context.timestamp), when the answer's content
    /// depends on it (on_confirm's updated_at); None: when it is sent.
    pub at: Option<chrono::DateTime<Utc>>,
}

impl Handled {
    fn answer(message: Value, error: Option<WireError>, note: impl Into<String>) -> Self {
        Self {
            answer: Some((message, error)),
            note: note.into(),
            change: OrderChange::default(),
            follow_ups: Vec::new(),
            at: None,
        }
    }
}

fn refusal_error(refusal: &Refusal) -> WireError {
    WireError::new(
        ErrorType::Domain,
        refusal.code,
        None,
        refusal.message.clone(),
    )
}

/// The order logic, shared by the processor (buyer apps' requests) and the seller API.
#[derive(Clone)]
pub struct Orders {
    pub store: Store,
    pub settings: Arc<Settings>,
}

/// Reads a stored order.
pub fn read_order(stored: &StoredOrder) -> Result<Order, StoreError> {
    serde_json::from_str(&stored.doc).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("a stored order is not readable: {e}").into(),
        ))
    })
}

/// The row to write for an order.
pub fn order_write(order: &Order, expected_version: Option<i64>) -> OrderWrite {
    OrderWrite {
        id: order.id.clone(),
        transaction_id: order.transaction_id().to_owned(),
        bap_id: order.bap_id().to_owned(),
        provider_id: order.provider_id.clone(),
        state: order.state.clone(),
        fulfillment_state: order.forward.state.clone(),
        doc: serde_json::to_string(order).expect("orders serialize"),
        expected_version,
    }
}

impl Orders {
    pub fn new(store: Store, settings: Arc<Settings>) -> Self {
        Self { store, settings }
    }

    /// An unsolicited callback about `order` (fresh message_id, a timestamp later than any
    /// earlier message of the order). Call before serializing the order.
    pub fn unsolicited(&self, order: &mut Order, action: &str, message: &Value) -> NewCallback {
        let context = order.context.clone();
        self.unsolicited_in(&context, &mut order.last_message_ms, action, message)
    }

    /// An unsolicited callback in the transaction `context` describes; `last_message_ms` is
    /// the time of the previous message, moved on to this one's.
    pub fn unsolicited_in(
        &self,
        source: &serde_json::Map<String, Value>,
        last_message_ms: &mut i64,
        action: &str,
        message: &Value,
    ) -> NewCallback {
        let at_ms = now_ms().max(*last_message_ms + 1);
        *last_message_ms = at_ms;
        let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap_or_else(Utc::now);
        let message_id = uuid::Uuid::new_v4().to_string();
        let mut context = serde_json::Map::new();
        for name in ["domain", "country", "city"] {
            if let Some(v) = source.get(name) {
                context.insert(name.into(), v.clone());
            }
        }
        context.insert("action".into(), json!(action));
        for name in ["core_version", "bap_id", "bap_uri"] {
            if let Some(v) = source.get(name) {
                context.insert(name.into(), v.clone());
            }
        }
        context.insert("bpp_id".into(), json!(self.settings.subscriber_id));
        context.insert("bpp_uri".into(), json!(self.settings.subscriber_url));
        context.insert(
            "transaction_id".into(),
            source.get("transaction_id").cloned().unwrap_or_default(),
        );
        context.insert("message_id".into(), json!(message_id));
        context.insert("timestamp".into(), json!(format_timestamp(at)));
        context.insert("ttl".into(), json!("PT30S"));
        let bap_uri = source
            .get("bap_uri")
            .and_then(Value::as_str)
            .unwrap_or_default();
        NewCallback {
            action: action.to_owned(),
            solicited: false,
            inbound_id: None,
            bap_id: text(source, "bap_id"),
            url: format!("{}/{action}", bap_uri.trim_end_matches('/')),
            transaction_id: text(source, "transaction_id"),
            message_id,
            domain: source
                .get("domain")
                .and_then(Value::as_str)
                .map(str::to_owned),
            body: crate::processing::search::envelope(
                &Value::Object(context),
                &crate::processing::text(message),
                None,
            ),
            deadline_at: now_ms() + (self.settings.outbox.unsolicited_horizon_secs * 1000) as i64,
        }
    }

    /// Handles a buyer app's order request. `sold_out`: a confirm whose stock ran out while it
    /// was being written (answered as a cancelled order).
    pub async fn handle(
        &self,
        action: Action,
        body: &Value,
        context: &RequestContext,
        sold_out: Option<&str>,
    ) -> Result<Handled, StoreError> {
        match action {
            Action::Select => self.select(body, context).await,
            Action::Init => self.init(body, context).await,
            Action::Confirm => self.confirm(body, context, sold_out).await,
            Action::Status => self.status(body, context).await,
            Action::Track => self.track(body, context).await,
            Action::Cancel => self.cancel(body, context).await,
            Action::Update => self.update(body, context).await,
            Action::Issue => igm::issue(self, body, context).await,
            Action::IssueStatus => igm::issue_status(self, body, context).await,
            _ => Ok(Handled {
                answer: None,
                note: format!("{} is not an order action", action.as_str()),
                change: OrderChange::default(),
                follow_ups: Vec::new(),
                at: None,
            }),
        }
    }

    /// Reads the cart of a select or init, its shop, and prices it; the answer to send
    /// instead when any of that is refused.
    async fn quote_cart(
        &self,
        order: &Value,
        context: &RequestContext,
    ) -> Result<Result<(negotiate::Cart, negotiate::Shop, negotiate::Priced), Handled>, StoreError>
    {
        let refused = |cart: Option<&negotiate::Cart>, refusal: Refusal| {
            let (message, error) = negotiate::refusal_message(cart, &refusal);
            Handled::answer(message, Some(error), refusal.message)
        };
        let cart = match negotiate::read_cart(order) {
            Ok(cart) => cart,
            Err(refusal) => return Ok(Err(refused(None, refusal))),
        };
        let shop = match negotiate::load_shop(&self.store, &context.domain, &cart).await? {
            Ok(shop) => shop,
            Err(refusal) => return Ok(Err(refused(Some(&cart), refusal))),
        };
        match negotiate::price(&shop, &cart, Utc::now()) {
            Ok(priced) => Ok(Ok((cart, shop, priced))),
            Err(refusal) => Ok(Err(refused(Some(&cart), refusal))),
        }
    }

    async fn select(&self, body: &Value, context: &RequestContext) -> Result<Handled, StoreError> {
        let order = message_order(body);
        let (cart, shop, priced) = match self.quote_cart(order, context).await? {
            Ok(quoted) => quoted,
            Err(answer) => return Ok(answer),
        };
        let (message, mut draft) =
            negotiate::on_select(&shop, &cart, &priced, &self.settings.orders, now_ms());
        draft.domain = context.domain.clone();
        let note = match &priced.error {
            Some(error) => format!("quoted with error {}: {}", error.code, error.message),
            None => format!("quoted {}", money::format(priced.total)),
        };
        let mut handled = Handled::answer(message, priced.error.clone(), note);
        handled.change.draft = Some(draft_row(context, &draft, "selected"));
        Ok(handled)
    }

    async fn init(&self, body: &Value, context: &RequestContext) -> Result<Handled, StoreError> {
        let order = message_order(body);
        let (cart, shop, priced) = match self.quote_cart(order, context).await? {
            Ok(quoted) => quoted,
            Err(answer) => return Ok(answer),
        };
        let draft = self.draft(&context.transaction_id).await?.map(|(_, d)| d);
        let (message, error, new_draft) = negotiate::on_init(
            &shop,
            &cart,
            &priced,
            order,
            draft.as_ref(),
            &self.settings.orders,
            &self.settings.catalog.np_type,
            now_ms(),
        );
        let note = match &error {
            Some(error) => format!("init answered with error {}: {}", error.code, error.message),
            None => format!("payment terms sent for {}", money::format(priced.total)),
        };
        let mut handled = Handled::answer(message, error, note);
        if let Some(mut draft) = new_draft {
            draft.domain = context.domain.clone();
            handled.change.draft = Some(draft_row(context, &draft, "initialized"));
        }
        Ok(handled)
    }

    async fn draft(&self, transaction_id: &str) -> Result<Option<(String, Draft)>, StoreError> {
        Ok(parse_draft(self.store.load_draft(transaction_id).await?))
    }

    async fn confirm(
        &self,
        body: &Value,
        context: &RequestContext,
        sold_out: Option<&str>,
    ) -> Result<Handled, StoreError> {
        let request = message_order(body);
        let order_id = request["id"].as_str().unwrap_or_default().to_owned();
        let (stored, draft) = self
            .store
            .load_order_and_draft(&order_id, &context.transaction_id)
            .await?;
        // A repeated confirm (a new message for the same order) gets the order as it stands.
        if let Some(stored) = stored {
            let existing = read_order(&stored)?;
            if existing.transaction_id() == context.transaction_id {
                return Ok(Handled::answer(
                    object([("order", existing.to_ondc())]),
                    None,
                    "repeated confirm: the order as it stands was sent again",
                ));
            }
            let refusal = Refusal::new(
                "31002",
                format!("order id {order_id} is already used by another transaction"),
            );
            return Ok(Handled::answer(
                object([("order", request.clone())]),
                Some(refusal_error(&refusal)),
                refusal.message,
            ));
        }
        let Some((stage, draft)) = parse_draft(draft) else {
            let refusal =
                Refusal::new("31002", "no select and init were seen for this transaction");
            return Ok(Handled::answer(
                object([("order", request.clone())]),
                Some(refusal_error(&refusal)),
                refusal.message,
            ));
        };
        if stage != "initialized" {
            let refusal = Refusal::new("31002", "confirm came before a successful init");
            return Ok(Handled::answer(
                object([("order", request.clone())]),
                Some(refusal_error(&refusal)),
                refusal.message,
            ));
        }
        if let Err((code, path, message)) = negotiate::check_confirm(request, &draft) {
            let error = WireError::new(ErrorType::Domain, &code, Some(&path), message.clone());
            return Ok(Handled::answer(
                object([("order", request.clone())]),
                Some(error),
                message,
            ));
        }
        let cart = negotiate::read_cart(request).expect("checked by check_confirm");
        let shop = match negotiate::load_shop(&self.store, &context.domain, &cart).await? {
            Ok(shop) => shop,
            Err(refusal) => {
                let (message, error) = negotiate::refusal_message(Some(&cart), &refusal);
                return Ok(Handled::answer(message, Some(error), refusal.message));
            }
        };
        let now = Utc::now();
        let mut order = negotiate::new_order(
            request,
            &draft,
            &shop,
            &context.raw,
            &self.settings.orders,
            now,
        );
        order.tracking_url = order
            .tracking_url
            .as_ref()
            .map(|url| url.replace("{order_id}", &order.id));
        let now_text = format_timestamp(now);
        let bpp_id = self.settings.subscriber_id.clone();
        // A quote past its ttl holds only if the catalogue still prices it the same.
        let expired = parse_duration_ms(&order.quote_ttl)
            .is_some_and(|ttl| now_ms() > draft.quoted_at_ms + ttl);
        let requote = if expired {
            negotiate::price(&shop, &cart, now)
                .ok()
                .filter(|p| p.total != order.total())
                .map(|p| p.total)
        } else {
            None
        };
        let refused: Option<(&str, &str, String)> =
            if !shop.provider_enabled || !shop.location_enabled {
                Some((
                    "30021",
                    "021",
                    format!("{} is not taking orders at present", shop.provider.name),
                ))
            } else if let Some(why) = negotiate::closed_because(&shop.location, now) {
                Some(("30017", "023", format!("{}: {why}", shop.provider.name)))
            } else if let Some(item) = sold_out {
                Some((
                    "40002",
                    "002",
                    json!([{"item_id": item, "error": "40002"}]).to_string(),
                ))
            } else {
                requote.map(|total| {
                    (
                        "40003",
                        "998",
                        format!(
                            "the quote expired and the items now come to {}",
                            money::format(total)
                        ),
                    )
                })
            };
        let mut handled;
        if let Some((code, reason, why)) = refused {
            // Refused as the spec has it: the order is answered Cancelled with the seller's
            // reason (023: received outside the store's hours), and nothing is reserved.
            order
                .cancel(reason, &bpp_id, None, false, &now_text)
                .expect("a new order can be cancelled");
            let message = object([("order", order.to_ondc())]);
            let error = WireError::new(ErrorType::Domain, code, None, why.clone());
            handled = Handled::answer(
                message,
                Some(error),
                format!("order {} refused: {why}", order.id),
            );
            handled.change.events.push((
                order.id.clone(),
                context.bap_id.clone(),
                "refused".into(),
                json!({"code": code, "reason": why}),
            ));
        } else {
            let auto = self.settings.orders.auto_accept || shop.provider.terms.auto_accept;
            if auto {
                order
                    .accept(&now_text)
                    .expect("a new order can be accepted");
            }
            let message = object([("order", order.to_ondc())]);
            handled = Handled::answer(message, None, format!("order {} confirmed", order.id));
            handled.change.stock = order
                .lines
                .iter()
                .map(|l| (order.provider_id.clone(), l.item_id.clone(), l.ordered))
                .collect();
            handled.change.events.push((
                order.id.clone(),
                context.bap_id.clone(),
                "confirmed".into(),
                json!({"total": money::format(order.total()), "state": order.state}),
            ));
            if auto {
                handled.change.events.push((
                    order.id.clone(),
                    "seller".into(),
                    "accepted".into(),
                    json!({"automatically": true}),
                ));
                handled.follow_ups.push(("on_status", Value::Null));
            }
        }
        // on_confirm speaks for `now` (its updated_at); what follows it is later.
        order.last_message_ms = now.timestamp_millis();
        handled.at = Some(now);
        handled.change.order = Some(order_write(&order, None));
        handled.change.draft = None;
        self.attach_follow_ups(&mut handled, &mut order, None);
        Ok(handled)
    }

    /// Builds the unsolicited follow-ups of a change (placeholders with a null message are
    /// the whole order) and re-serializes the order after them.
    fn attach_follow_ups(&self, handled: &mut Handled, order: &mut Order, version: Option<i64>) {
        if handled.follow_ups.is_empty() {
            return;
        }
        for (action, message) in std::mem::take(&mut handled.follow_ups) {
            let message = if message.is_null() {
                object([("order", order.to_ondc())])
            } else {
                message
            };
            let callback = self.unsolicited(order, action, &message);
            handled.change.callbacks.push(callback);
        }
        handled.change.order = Some(order_write(order, version));
    }

    /// The order a post-order request names, if it is this buyer app's.
    async fn named_order(
        &self,
        order_id: &str,
        context: &RequestContext,
    ) -> Result<Option<(Order, i64)>, StoreError> {
        let Some(stored) = self.store.load_order(order_id).await? else {
            return Ok(None);
        };
        let order = read_order(&stored)?;
        if order.bap_id() != context.bap_id {
            return Ok(None);
        }
        Ok(Some((order, stored.version)))
    }

    fn unknown_order(order_id: &str) -> Handled {
        let refusal = Refusal::new(
            "30018",
            format!("there is no order {order_id} for this buyer app"),
        );
        Handled::answer(
            json!({"order": {"id": order_id}}),
            Some(refusal_error(&refusal)),
            refusal.message,
        )
    }

    async fn status(&self, body: &Value, context: &RequestContext) -> Result<Handled, StoreError> {
        let order_id = body
            .at("/message/order_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match self.named_order(order_id, context).await? {
            Some((order, _)) => Ok(Handled::answer(
                object([("order", order.to_ondc())]),
                None,
                format!(
                    "status of {order_id}: {} / {}",
                    order.state, order.forward.state
                ),
            )),
            None => Ok(Self::unknown_order(order_id)),
        }
    }

    async fn track(&self, body: &Value, context: &RequestContext) -> Result<Handled, StoreError> {
        let order_id = body
            .at("/message/order_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some((order, _)) = self.named_order(order_id, context).await? else {
            return Ok(Self::unknown_order(order_id));
        };
        match (&order.tracking_url, order.forward.tracking) {
            (Some(url), true) => {
                let active = !matches!(order.state.as_str(), "Completed" | "Cancelled");
                Ok(Handled::answer(
                    json!({"tracking": {
                        "id": order.forward.id,
                        "url": url,
                        "status": if active { "active" } else { "inactive" },
                    }}),
                    None,
                    "tracking link sent",
                ))
            }
            _ => {
                let refusal = Refusal::new(
                    "40005",
                    "this seller does not offer tracking for this order",
                );
                Ok(Handled::answer(
                    json!({"tracking": {"id": order.forward.id, "status": "inactive"}}),
                    Some(refusal_error(&refusal)),
                    refusal.message,
                ))
            }
        }
    }

    async fn cancel(&self, body: &Value, context: &RequestContext) -> Result<Handled, StoreError> {
        let message = body.get("message").cloned().unwrap_or_default();
        let order_id = message["order_id"].as_str().unwrap_or_default();
        let reason = message["cancellation_reason_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Some((mut order, version)) = self.named_order(order_id, context).await? else {
            return Ok(Self::unknown_order(order_id));
        };
        let answer_refusal = |order: &Order, refusal: Refusal| {
            Handled::answer(
                object([("order", order.to_ondc())]),
                Some(refusal_error(&refusal)),
                refusal.message,
            )
        };
        let core = context
            .raw
            .get("core_version")
            .and_then(Value::as_str)
            .unwrap_or("1.2.5");
        let allowed = if core == "1.2.0" {
            BUYER_REASONS_1_2_0.contains(&reason.as_str())
        } else {
            REASONS.buyer.contains(&reason)
        };
        if !allowed {
            let list = if core == "1.2.0" {
                BUYER_REASONS_1_2_0.join(", ")
            } else {
                REASONS.buyer.join(", ")
            };
            return Ok(answer_refusal(&order, Refusal::new("30012", format!("cancellation reason \"{reason}\" is not a buyer reason of retail {core} ({list})"))));
        }
        let force = message
            .at("/descriptor/tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|t| t["list"].as_array().cloned().unwrap_or_default())
            .any(|e| {
                e["code"] == "force"
                    && e["value"]
                        .as_str()
                        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
            });
        // 052/006: not delivered within the promised time; only once that time has passed.
        if matches!(reason.as_str(), "052" | "006") && !force {
            let created = parse_timestamp(&order.created_at)
                .map(|t| t.timestamp_millis())
                .unwrap_or(0);
            let tat = parse_duration_ms(&order.forward.tat).unwrap_or(0);
            if now_ms() < created + tat {
                return Ok(answer_refusal(
                    &order,
                    Refusal::new(
                        "30014",
                        format!(
                            "the promised delivery time ({}) has not passed yet",
                            order.forward.tat
                        ),
                    ),
                ));
            }
        }
        if !force {
            if let Some(line) = order.lines.iter().find(|l| !l.cancellable) {
                return Ok(answer_refusal(
                    &order,
                    Refusal::new("50001", format!("{} cannot be cancelled", line.title)),
                ));
            }
        }
        let before_pickup = lifecycle::before_pickup(&order.forward.state);
        let fee = (!force
            && order.forward.state != "Pending"
            && !matches!(reason.as_str(), "052" | "006"))
        .then(|| order.cancellation_fee_percent.clone());
        let now = format_timestamp(Utc::now());
        let mut changed = order.clone();
        match changed.cancel(&reason, &context.bap_id, fee.as_deref(), force, &now) {
            Err(refusal) => Ok(answer_refusal(&order, refusal)),
            Ok(()) => {
                order = changed;
                let mut handled = Handled::answer(
                    object([("order", order.to_ondc())]),
                    None,
                    format!("order {order_id} cancelled by the buyer app (reason {reason})"),
                );
                if before_pickup {
                    // What was still on the forward fulfilment goes back on the shelf.
                    let cancel = order.extras.last().expect("cancel fulfilment");
                    handled.change.stock = cancel
                        .items
                        .iter()
                        .map(|(id, n)| (order.provider_id.clone(), id.clone(), -n))
                        .collect();
                }
                handled.change.events.push((
                    order.id.clone(),
                    context.bap_id.clone(),
                    "cancelled".into(),
                    json!({"reason_id": reason, "force": force}),
                ));
                handled.change.order = Some(order_write(&order, Some(version)));
                Ok(handled)
            }
        }
    }

    async fn update(&self, body: &Value, context: &RequestContext) -> Result<Handled, StoreError> {
        let message = body.get("message").cloned().unwrap_or_default();
        let target = message["update_target"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let request = message.get("order").cloned().unwrap_or_default();
        let order_id = request["id"].as_str().unwrap_or_default();
        let Some((mut order, version)) = self.named_order(order_id, context).await? else {
            return Ok(Self::unknown_order(order_id));
        };
        let now_ms_value = now_ms();
        let now = format_timestamp(Utc::now());
        let mut changed = order.clone();
        let mut event = json!({"update_target": target});
        let result: Result<(), Refusal> = match target.as_str() {
            "item" => {
                let mut result = Ok(());
                let returns: Vec<Value> = request["fulfillments"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|f| f["type"] == "Return")
                    .collect();
                if returns.is_empty() {
                    result = Err(Refusal::new(
                        "50002",
                        "an item update must carry a Return fulfillment with a return_request",
                    ));
                }
                for fulfillment in returns {
                    for tag in fulfillment["tags"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|t| t["code"] == "return_request")
                    {
                        let entries = record::tag_entries(tag);
                        let get = |code: &str| {
                            entries
                                .iter()
                                .find(|(c, _)| c == code)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default()
                        };
                        let request = ReturnRequest {
                            id: get("id"),
                            item_id: get("item_id"),
                            quantity: get("item_quantity").parse().unwrap_or(0),
                            reason_id: get("reason_id"),
                            extra: entries
                                .iter()
                                .filter(|(c, v)| {
                                    !matches!(
                                        c.as_str(),
                                        "id" | "item_id"
                                            | "item_quantity"
                                            | "reason_id"
                                            | "initiated_by"
                                    ) && !v.is_empty()
                                })
                                .cloned()
                                .collect(),
                        };
                        if request.id.is_empty() {
                            result = Err(Refusal::new("30005", "a return_request needs an id"));
                            break;
                        }
                        event["return_id"] = json!(request.id);
                        if let Err(refusal) =
                            changed.request_return(&request, &context.bap_id, now_ms_value, &now)
                        {
                            result = Err(refusal);
                            break;
                        }
                    }
                }
                result
            }
            "fulfillment" => {
                let forward = request["fulfillments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|f| f["id"] == order.forward.id || f["type"] == "Delivery")
                    .cloned();
                match forward {
                    Some(f) => changed.update_delivery(&f["end"], &now),
                    None => Err(Refusal::new(
                        "50007",
                        format!("the update names no fulfilment of order {order_id}"),
                    )),
                }
            }
            "payment" => {
                // The buyer app reports the refund it paid (§9); recorded, nothing to answer.
                let mut handled = Handled {
                    answer: None,
                    note: format!("refund settlement recorded for order {order_id}"),
                    change: OrderChange::default(),
                    follow_ups: Vec::new(),
                    at: None,
                };
                handled.change.events.push((
                    order.id.clone(),
                    context.bap_id.clone(),
                    "refund_settled".into(),
                    request["payment"].clone(),
                ));
                return Ok(handled);
            }
            other => Err(Refusal::new(
                "50002",
                format!("update_target \"{other}\" cannot be changed after confirmation"),
            )),
        };
        match result {
            Err(refusal) => Ok(Handled::answer(
                object([("order", order.to_ondc())]),
                Some(refusal_error(&refusal)),
                refusal.message,
            )),
            Ok(()) => {
                order = changed;
                let mut handled = Handled::answer(
                    object([("order", order.to_ondc())]),
                    None,
                    format!("order {order_id}: {target} updated"),
                );
                handled.change.events.push((
                    order.id.clone(),
                    context.bap_id.clone(),
                    format!("{target}_updated"),
                    event,
                ));
                handled.change.order = Some(order_write(&order, Some(version)));
                Ok(handled)
            }
        }
    }
}

/// The request's `message.order`, or null when it has none.
fn message_order(body: &Value) -> &Value {
    static NULL: Value = Value::Null;
    body.at("/message/order").unwrap_or(&NULL)
}

fn text(map: &serde_json::Map<String, Value>, name: &str) -> String {
    map.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A stored draft (stage, document), if its document reads.
fn parse_draft(row: Option<(String, String)>) -> Option<(String, Draft)> {
    row.and_then(|(stage, doc)| serde_json::from_str(&doc).ok().map(|d| (stage, d)))
}

fn draft_row(
    context: &RequestContext,
    draft: &Draft,
    stage: &str,
) -> (String, String, String, String, String) {
    (
        context.transaction_id.clone(),
        context.bap_id.clone(),
        draft.provider_id.clone(),
        stage.to_owned(),
        serde_json::to_string(draft).expect("drafts serialize"),
    )
}
