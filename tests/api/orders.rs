//! Orders end to end against a running node: a mock buyer app places orders, the seller acts
//! through the seller API, and every callback is checked against the pinned 1.2.5 schema and
//! the cross-call rules of RETAIL-DIGEST.md §14.

use std::time::Duration;

use haat::catalog::model::{CatalogFile, Provider, Serviceability, Settlement, Terms};
use haat::protocol::schema::Schemas;
use serde_json::{json, Value};

use crate::helpers::*;

/// A node with two sellers, a buyer app, and the first seller's API token.
pub struct Market {
    pub w: World,
    pub provider: String,
    pub location: String,
    /// (id, unit price) of the first seller's first three items.
    pub items: Vec<(String, String)>,
    pub token: String,
    pub other_token: String,
}

/// Seller "shop" terms: delivery 50, packing 20, prices before 12% GST, a 10% fee for
/// cancelling after packing.
fn shop_terms() -> Terms {
    Terms {
        delivery_charge: "50.00".into(),
        free_delivery_above: None,
        packing_charge: "20.00".into(),
        prices_include_tax: false,
        delivery_time: "P3D".into(),
        cancellation_fee_percent: "10.00".into(),
        settlement: Some(Settlement {
            settlement_type: "neft".into(),
            beneficiary_name: "Molela Terracotta Artisans".into(),
            upi_address: None,
            account_no: Some("123456789012".into()),
            ifsc_code: Some("SBIN0001234".into()),
            bank_name: Some("State Bank of India".into()),
            branch_name: Some("Rajsamand".into()),
        }),
        ..Terms::default()
    }
}

fn open_all_hours(provider: &mut Provider) {
    for location in &mut provider.locations {
        location.days = "1,2,3,4,5,6,7".into();
        location.open = "0000".into();
        location.close = "2359".into();
        location.holidays.clear();
        location.serviceability = Serviceability::PanIndia;
    }
}

/// A demo seller made ready for order tests: open all hours, delivering pan-India, "shop"
/// terms, 50 of each item, at most 5 an order, 12% GST, returnable, cancellable and COD.
pub fn ready_to_sell(seller: &mut Provider) {
    open_all_hours(seller);
    seller.terms = shop_terms();
    for item in &mut seller.items {
        item.stock = 50;
        item.max_per_order = 5;
        item.gst_percent = Some("12".into());
        item.returnable = true;
        item.cancellable = true;
        item.cod = true;
    }
}

pub async fn market(db: Db, tweak: impl FnOnce(&mut Provider)) -> Market {
    let w = world(db, &[("HAAT_CATALOG_LOAD_DEMO", "false")]).await;
    let demo: CatalogFile = serde_json::from_str(haat::catalog::import::DEMO).unwrap();
    let mut sellers: Vec<Provider> = demo
        .providers
        .into_iter()
        .filter(|p| p.items.iter().all(|i| i.domain == "ONDC:RET16") && p.items.len() >= 2)
        .take(2)
        .collect();
    assert_eq!(
        sellers.len(),
        2,
        "the demo has two home-and-kitchen sellers"
    );
    for seller in &mut sellers {
        ready_to_sell(seller);
    }
    tweak(&mut sellers[0]);
    let provider = sellers[0].id.clone();
    let location = sellers[0].locations[0].id.clone();
    let items = sellers[0]
        .items
        .iter()
        .map(|i| (i.id.clone(), i.price.clone()))
        .collect();
    let other = sellers[1].id.clone();
    let file = CatalogFile {
        about: None,
        providers: sellers,
    };
    w.app.store.import_catalog(&file, "test").await.unwrap();
    let token = haat::http::seller_api::new_token();
    w.app
        .store
        .add_seller_token(
            &haat::http::seller_api::token_hash(&token),
            &provider,
            "test",
        )
        .await
        .unwrap();
    let other_token = haat::http::seller_api::new_token();
    w.app
        .store
        .add_seller_token(
            &haat::http::seller_api::token_hash(&other_token),
            &other,
            "test",
        )
        .await
        .unwrap();
    Market {
        w,
        provider,
        location,
        items,
        token,
        other_token,
    }
}

/// One buyer's checkout: a transaction id and the messages exchanged.
pub struct Checkout {
    pub transaction_id: String,
    /// When the buyer "placed" the order: the confirm's created_at and updated_at.
    pub placed_at: String,
    /// Every request sent in this transaction: (action, the exact bytes posted).
    pub sent: parking_lot::Mutex<Vec<(String, Vec<u8>)>>,
}

pub const DROP_GPS: &str = "12.9716,77.5946";
pub const DROP_PINCODE: &str = "560001";

pub fn end() -> Value {
    json!({
        "location": {"gps": DROP_GPS, "address": {"name": "Asha Rao", "building": "12 Lake View",
            "locality": "MG Road", "city": "Bengaluru", "state": "Karnataka", "country": "IND", "area_code": DROP_PINCODE}},
        "contact": {"phone": "9876501234", "email": "asha@example.com"},
    })
}

pub fn billing() -> Value {
    json!({
        "name": "Asha Rao",
        "address": {"name": "Asha Rao", "building": "12 Lake View", "locality": "MG Road", "city": "Bengaluru",
            "state": "Karnataka", "country": "IND", "area_code": DROP_PINCODE},
        "phone": "9876501234", "email": "asha@example.com",
        "created_at": "2026-11-23T04:00:00.000Z", "updated_at": "2026-11-23T04:00:00.000Z",
    })
}

impl Checkout {
    pub fn new() -> Self {
        Self {
            transaction_id: uuid::Uuid::new_v4().to_string(),
            placed_at: haat::protocol::time::format_timestamp(chrono::Utc::now()),
            sent: Default::default(),
        }
    }

    /// Sends a request in this transaction; returns its message_id.
    pub async fn send(&self, m: &Market, action: &str, message: Value) -> String {
        let mut body = m.w.buyer.body(action, message);
        body["context"]["transaction_id"] = json!(self.transaction_id);
        // `TestApp::send` posts exactly these bytes (serializing a value is deterministic).
        let bytes = serde_json::to_vec(&body).unwrap();
        self.sent.lock().push((action.to_owned(), bytes));
        let answer = m.w.app.send(&m.w.buyer, action, &body).await;
        assert!(
            answer.is_ack(),
            "{action} is acknowledged: {:?}",
            answer.body
        );
        body["context"]["message_id"].as_str().unwrap().to_owned()
    }

    /// Waits for the callback answering `message_id`.
    pub async fn answer(&self, m: &Market, callback: &str, message_id: &str) -> Value {
        let path = format!("/{callback}");
        let mut found = None;
        let arrived = eventually(Duration::from_secs(10), || {
            let hit =
                m.w.bap
                    .received()
                    .into_iter()
                    .find(|(p, body, _)| *p == path && body["context"]["message_id"] == message_id);
            found = hit.map(|(_, body, _)| body);
            let ok = found.is_some();
            async move { ok }
        })
        .await;
        assert!(arrived, "{callback} for {message_id} arrives");
        let body = found.unwrap();
        assert_valid(callback, &body);
        body
    }

    /// Every callback of this transaction so far, in arrival order.
    pub fn callbacks(&self, m: &Market) -> Vec<(String, Value)> {
        m.w.bap
            .received()
            .into_iter()
            .filter(|(_, body, _)| body["context"]["transaction_id"] == self.transaction_id)
            .map(|(path, body, _)| (path.trim_start_matches('/').to_owned(), body))
            .collect()
    }

    /// Waits until `count` callbacks of `callback` arrived for this transaction; returns them.
    pub async fn wait_for(&self, m: &Market, callback: &str, count: usize) -> Vec<Value> {
        let arrived = eventually(Duration::from_secs(10), || {
            let n = self
                .callbacks(m)
                .iter()
                .filter(|(a, _)| a == callback)
                .count();
            async move { n >= count }
        })
        .await;
        assert!(arrived, "{count} {callback} callbacks arrive");
        let list: Vec<Value> = self
            .callbacks(m)
            .into_iter()
            .filter(|(a, _)| a == callback)
            .map(|(_, b)| b)
            .collect();
        for body in &list {
            assert_valid(callback, body);
        }
        list
    }

    pub async fn select(&self, m: &Market, items: &[(&str, i64)]) -> Value {
        let message = json!({"order": {
            "provider": {"id": m.provider, "locations": [{"id": m.location}]},
            "items": items.iter().map(|(id, n)| json!({"id": id, "location_id": m.location, "quantity": {"count": n}})).collect::<Vec<_>>(),
            "fulfillments": [{"end": {"location": {"gps": DROP_GPS, "address": {"area_code": DROP_PINCODE}}}}],
        }});
        let id = self.send(m, "select", message).await;
        self.answer(m, "on_select", &id).await
    }

    pub fn init_message(&self, m: &Market, items: &[(&str, i64)], payment: Value) -> Value {
        json!({"order": {
            "provider": {"id": m.provider, "locations": [{"id": m.location}]},
            "items": items.iter().map(|(id, n)| json!({"id": id, "location_id": m.location, "fulfillment_id": "F1", "quantity": {"count": n}})).collect::<Vec<_>>(),
            "billing": billing(),
            "fulfillments": [{"id": "F1", "type": "Delivery", "end": end()}],
            "payment": payment,
        }})
    }

    pub async fn init(&self, m: &Market, items: &[(&str, i64)]) -> Value {
        let message = self.init_message(m, items, finder_fee("3"));
        let id = self.send(m, "init", message).await;
        self.answer(m, "on_init", &id).await
    }

    /// The confirm a well-behaved buyer app sends after `on_init`.
    pub fn confirm_message(&self, order_id: &str, on_init: &Value) -> Value {
        let mut order = on_init["message"]["order"].clone();
        let total = order["quote"]["price"]["value"].clone();
        order["id"] = json!(order_id);
        order["state"] = json!("Created");
        order["fulfillments"][0]["end"]["person"] = json!({"name": "Asha Rao"});
        let payment = order["payment"].as_object_mut().unwrap();
        payment.insert("status".into(), json!("PAID"));
        payment.insert(
            "params".into(),
            json!({"amount": total, "currency": "INR", "transaction_id": "pay_123"}),
        );
        order["tags"].as_array_mut().unwrap().push(json!({"code": "bap_terms", "list": [{"code": "tax_number", "value": "29ABCDE1234F1Z5"}]}));
        // A buyer app stamps the order when it places it; a fixed date would make every
        // time-dependent rule (the promised delivery time, say) depend on when tests run.
        order["created_at"] = json!(self.placed_at);
        order["updated_at"] = json!(self.placed_at);
        json!({"order": order})
    }

    pub async fn confirm(&self, m: &Market, order_id: &str, on_init: &Value) -> Value {
        let id = self
            .send(m, "confirm", self.confirm_message(order_id, on_init))
            .await;
        self.answer(m, "on_confirm", &id).await
    }

    /// select → init → confirm of `items`; returns (on_select, on_init, on_confirm).
    pub async fn buy(
        &self,
        m: &Market,
        order_id: &str,
        items: &[(&str, i64)],
    ) -> (Value, Value, Value) {
        let on_select = self.select(m, items).await;
        assert!(on_select.get("error").is_none(), "{on_select}");
        let on_init = self.init(m, items).await;
        assert!(on_init.get("error").is_none(), "{on_init}");
        let on_confirm = self.confirm(m, order_id, &on_init).await;
        assert!(on_confirm.get("error").is_none(), "{on_confirm}");
        (on_select, on_init, on_confirm)
    }
}

pub fn finder_fee(percent: &str) -> Value {
    json!({"type": "ON-ORDER", "collected_by": "BAP",
        "@ondc/org/buyer_app_finder_fee_type": "percent", "@ondc/org/buyer_app_finder_fee_amount": percent})
}

/// Every callback passes the pinned ONDC 1.2.5 schema of its action.
pub fn assert_valid(action: &str, body: &Value) {
    let domain = body["context"]["domain"].as_str().unwrap_or("ONDC:RET16");
    if let Err(error) = Schemas::default().check(domain, action, body) {
        panic!(
            "{action} fails the 1.2.5 schema: {}\n{body:#}",
            error.message
        );
    }
    let problems = crate::rules::unexpected_rule_problems(domain, action, body);
    if !problems.is_empty() {
        panic!(
            "{action} breaks ONDC's 1.2.5 validator rules:\n{}\n{body:#}",
            problems.join("\n")
        );
    }
}

pub fn amount(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("an amount string, not {value}"));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let whole: i64 = whole.trim_start_matches('-').parse().unwrap();
    let fraction: i64 = format!("{fraction:0<2}")[..2].parse().unwrap();
    sign * (whole * 100 + fraction)
}

/// Σ breakup = total, and item line = unit × count.
pub fn assert_quote_adds_up(quote: &Value) {
    let lines = quote["breakup"].as_array().unwrap();
    let sum: i64 = lines.iter().map(|l| amount(&l["price"]["value"])).sum();
    assert_eq!(
        sum,
        amount(&quote["price"]["value"]),
        "the breakup adds up to the total: {quote:#}"
    );
    for line in lines.iter().filter(|l| l["@ondc/org/title_type"] == "item") {
        let count = line["@ondc/org/item_quantity"]["count"].as_i64().unwrap();
        assert_eq!(
            amount(&line["price"]["value"]),
            amount(&line["item"]["price"]["value"]) * count,
            "item line = unit × count"
        );
    }
}

/// Σ quote_trail over the Cancel/Return/RTO fulfilments.
pub fn trail_sum(order: &Value) -> i64 {
    order["fulfillments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["tags"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["code"] == "quote_trail")
        .map(|t| {
            let value = t["list"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["code"] == "value")
                .unwrap();
            amount(&value["value"])
        })
        .sum()
}

pub fn fulfillment<'a>(order: &'a Value, kind: &str) -> &'a Value {
    order["fulfillments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == kind)
        .unwrap_or_else(|| panic!("a {kind} fulfilment in {order:#}"))
}

impl Market {
    /// Calls the seller API with this market's first seller's token.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api_as(&self.token, method, path, body).await
    }

    pub async fn api_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.w.app.address);
        let http = &self.w.app.http;
        let mut request = match method {
            "GET" => http.get(url),
            "PATCH" => http.patch(url),
            _ => http.post(url),
        }
        .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Moves an order's delivery on through the seller API.
    pub async fn move_to(&self, order_id: &str, state: &str) -> (u16, Value) {
        let path = format!("/api/v1/orders/{order_id}/state");
        self.api("POST", &path, Some(json!({"state": state}))).await
    }

    pub async fn return_to(&self, order_id: &str, return_id: &str, state: &str) -> (u16, Value) {
        let path = format!("/api/v1/orders/{order_id}/returns/{return_id}/state");
        self.api("POST", &path, Some(json!({"state": state}))).await
    }

    pub async fn accept(&self, order_id: &str) -> (u16, Value) {
        let path = format!("/api/v1/orders/{order_id}/accept");
        self.api("POST", &path, None).await
    }

    pub async fn stock(&self, item: &str) -> i64 {
        self.w
            .app
            .store
            .item_doc(&self.provider, item)
            .await
            .unwrap()
            .unwrap()
            .1
    }
}

// ---------------------------------------------------------------------------------------

async fn an_order_goes_from_select_to_delivered_with_every_step_heard(db: Db) {
    let m = market(db, |_| {}).await;
    let (a, unit_a) = m.items[0].clone();
    let (b, _) = m.items[1].clone();
    let c = Checkout::new();
    let (on_select, on_init, on_confirm) = c.buy(&m, "ORD1", &[(&a, 2), (&b, 1)]).await;

    // on_select: item lines, 12% tax per item, delivery and packing, TAT, serviceable.
    let quote = &on_select["message"]["order"]["quote"];
    assert_quote_adds_up(quote);
    let breakup = quote["breakup"].as_array().unwrap();
    let item_line = breakup
        .iter()
        .find(|l| l["@ondc/org/item_id"] == a.as_str() && l["@ondc/org/title_type"] == "item")
        .unwrap();
    assert_eq!(
        amount(&item_line["price"]["value"]),
        amount(&json!(unit_a)) * 2
    );
    assert_eq!(item_line["item"]["quantity"]["available"]["count"], "99");
    let tax_a = breakup
        .iter()
        .find(|l| l["@ondc/org/item_id"] == a.as_str() && l["@ondc/org/title_type"] == "tax")
        .unwrap();
    assert_eq!(
        amount(&tax_a["price"]["value"]),
        (amount(&json!(unit_a)) * 2 * 12 + 50) / 100
    );
    assert!(breakup
        .iter()
        .any(|l| l["@ondc/org/title_type"] == "delivery" && l["price"]["value"] == "50.00"));
    assert!(breakup
        .iter()
        .any(|l| l["@ondc/org/title_type"] == "packing" && l["price"]["value"] == "20.00"));
    let f = &on_select["message"]["order"]["fulfillments"][0];
    assert_eq!(f["state"]["descriptor"]["code"], "Serviceable");
    assert_eq!(f["@ondc/org/TAT"], "P5D", "time_to_ship P2D + delivery P3D");
    assert!(quote["ttl"].is_string());

    // on_init: same quote (without item.quantity), payment terms, bpp_terms, cancellation terms.
    let init_order = &on_init["message"]["order"];
    assert_eq!(init_order["quote"]["price"], quote["price"]);
    assert!(init_order["quote"]["breakup"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["item"].get("quantity").is_none()));
    let settlement = &init_order["payment"]["@ondc/org/settlement_details"][0];
    assert_eq!(settlement["settlement_counterparty"], "seller-app");
    assert_eq!(
        init_order["payment"]["@ondc/org/buyer_app_finder_fee_amount"],
        "3"
    );
    let terms = &init_order["tags"][0];
    assert_eq!(terms["code"], "bpp_terms");
    let tax_number = terms["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "tax_number")
        .unwrap();
    assert_eq!(tax_number["value"].as_str().unwrap().len(), 15);
    assert!(init_order["cancellation_terms"].as_array().unwrap().len() >= 2);

    // on_confirm: the order as confirmed, Created, Pending, stock reserved.
    let order = &on_confirm["message"]["order"];
    assert_eq!(order["id"], "ORD1");
    assert_eq!(order["state"], "Created");
    assert_eq!(order["quote"]["price"], quote["price"]);
    assert_eq!(
        order["tags"][0], init_order["tags"][0],
        "bpp_terms unchanged"
    );
    assert_eq!(order["created_at"], c.placed_at.as_str());
    assert_eq!(order["updated_at"], on_confirm["context"]["timestamp"]);
    let forward = fulfillment(order, "Delivery");
    assert_eq!(forward["state"]["descriptor"]["code"], "Pending");
    assert_eq!(forward["tracking"], f["tracking"]);
    assert_eq!(forward["end"]["location"]["gps"], DROP_GPS);
    assert_eq!(forward["@ondc/org/TAT"], f["@ondc/org/TAT"]);
    assert!(forward["start"]["location"]["gps"].is_string());
    let sent_payment = &c.confirm_message("ORD1", &on_init)["order"]["payment"];
    for key in [
        "type",
        "collected_by",
        "status",
        "params",
        "@ondc/org/buyer_app_finder_fee_amount",
    ] {
        assert_eq!(
            order["payment"][key], sent_payment[key],
            "payment.{key} echoed"
        );
    }
    assert_eq!(m.stock(&a).await, 48);
    assert_eq!(m.stock(&b).await, 49);

    // The seller accepts and moves the delivery along the hub route.
    let (status, accepted) = m.accept("ORD1").await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["state"], "Accepted");
    let steps = [
        "Packed",
        "Agent-assigned",
        "Order-picked-up",
        "In-transit",
        "At-destination-hub",
        "Out-for-delivery",
        "Order-delivered",
    ];
    for step in steps {
        let (status, body) = m.move_to("ORD1", step).await;
        assert_eq!(status, 200, "{step}: {body}");
    }
    let statuses = c.wait_for(&m, "on_status", steps.len() + 1).await;
    let codes: Vec<&str> = statuses
        .iter()
        .map(|s| {
            fulfillment(&s["message"]["order"], "Delivery")["state"]["descriptor"]["code"]
                .as_str()
                .unwrap()
        })
        .collect();
    let mut expected = vec!["Pending"];
    expected.extend(steps);
    assert_eq!(codes, expected, "each state is heard once, in order");
    let mut ids = std::collections::HashSet::new();
    let mut last = String::new();
    for s in &statuses {
        let context = &s["context"];
        assert_ne!(context["message_id"], context["transaction_id"]);
        assert!(
            ids.insert(context["message_id"].as_str().unwrap().to_owned()),
            "fresh message_id"
        );
        let at = context["timestamp"].as_str().unwrap().to_owned();
        assert!(at > last, "timestamps move forward");
        last = at;
        let o = &s["message"]["order"];
        assert!(o["updated_at"].as_str().unwrap() <= context["timestamp"].as_str().unwrap());
        assert_eq!(o["created_at"], order["created_at"]);
        assert_eq!(o["quote"]["price"], quote["price"]);
        let delivery = fulfillment(o, "Delivery");
        assert_eq!(
            delivery["end"]["location"]["gps"], DROP_GPS,
            "the drop point never changes"
        );
        let routing = delivery["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["code"] == "routing");
        assert_eq!(
            routing.unwrap()["list"][0]["value"],
            "P2H2P",
            "routing from Accepted on"
        );
    }
    let delivered = &statuses.last().unwrap()["message"]["order"];
    assert_eq!(delivered["state"], "Completed");
    let delivery = fulfillment(delivered, "Delivery");
    assert!(
        delivery["start"]["time"]["timestamp"].is_string(),
        "pickup time"
    );
    assert!(
        delivery["end"]["time"]["timestamp"].is_string(),
        "delivery time"
    );

    // status and the seller's view agree; history has every step.
    let id = c.send(&m, "status", json!({"order_id": "ORD1"})).await;
    let on_status = c.answer(&m, "on_status", &id).await;
    assert_eq!(on_status["message"]["order"]["state"], "Completed");
    let (status, view) = m.api("GET", "/api/v1/orders/ORD1", None).await;
    assert_eq!(status, 200);
    assert_eq!(view["fulfillment_state"], "Order-delivered");
    assert_eq!(
        view["history"].as_array().unwrap().len(),
        1 + 1 + steps.len()
    );
    assert!(view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "confirm" && e["direction"] == "received"));
    let (_, listed) = m.api("GET", "/api/v1/orders?state=Completed", None).await;
    assert_eq!(listed["orders"][0]["id"], "ORD1");
}

#[tokio::test]
async fn an_order_goes_from_select_to_delivered_with_every_step_heard_on_sqlite() {
    an_order_goes_from_select_to_delivered_with_every_step_heard(Db::Sqlite).await;
}

#[tokio::test]
async fn an_order_goes_from_select_to_delivered_with_every_step_heard_on_postgres() {
    an_order_goes_from_select_to_delivered_with_every_step_heard(Db::Postgres).await;
}

#[tokio::test]
async fn select_answers_stock_maximum_minimum_value_and_reach_with_their_codes() {
    let m = market(Db::Sqlite, |p| {
        p.items[0].stock = 2;
        p.min_order_value = Some("100000.00".into());
        p.locations[0].serviceability = Serviceability::Pincodes {
            pincodes: "110001-110099".into(),
        };
    })
    .await;
    let (a, _) = m.items[0].clone();
    let (b, _) = m.items[1].clone();

    // Out of reach: Non-serviceable, no delivery line, 30009.
    let c = Checkout::new();
    let answer = c.select(&m, &[(&b, 1)]).await;
    assert_eq!(answer["error"]["code"], "30009");
    let order = &answer["message"]["order"];
    assert_eq!(
        order["fulfillments"][0]["state"]["descriptor"]["code"],
        "Non-serviceable"
    );
    assert!(order["quote"]["breakup"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["@ondc/org/title_type"] != "delivery"));
    assert_quote_adds_up(&order["quote"]);
    drop(m);

    let m = market(Db::Sqlite, |p| {
        p.items[0].stock = 2;
        p.min_order_value = Some("100000.00".into());
    })
    .await;
    // Stock: 40002 with what is available.
    let c = Checkout::new();
    let answer = c.select(&m, &[(&a, 3)]).await;
    assert_eq!(answer["error"]["code"], "40002");
    let listed: Value = serde_json::from_str(answer["error"]["message"].as_str().unwrap()).unwrap();
    assert_eq!(listed, json!([{"item_id": a, "error": "40002"}]));
    let line = answer["message"]["order"]["quote"]["breakup"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["@ondc/org/item_id"] == a.as_str())
        .unwrap()
        .clone();
    assert_eq!(line["item"]["quantity"]["available"]["count"], "2");
    // Per-order maximum: 40009.
    let answer = Checkout::new().select(&m, &[(&b, 6)]).await;
    assert_eq!(answer["error"]["code"], "40009");
    // Minimum order value: 30023.
    let answer = Checkout::new().select(&m, &[(&b, 1)]).await;
    assert_eq!(answer["error"]["code"], "30023");
    // Unknown item: 30004.
    let answer = Checkout::new().select(&m, &[("no-such-item", 1)]).await;
    assert_eq!(answer["error"]["code"], "30004");
}

#[tokio::test]
async fn a_store_far_beyond_its_delivery_radius_answers_30010() {
    let m = market(Db::Sqlite, |p| {
        p.locations[0].serviceability = Serviceability::Radius { km: 5.0 };
    })
    .await;
    let (a, _) = m.items[0].clone();
    let answer = Checkout::new().select(&m, &[(&a, 1)]).await;
    assert_eq!(answer["error"]["code"], "30010");
}

#[tokio::test]
async fn init_refuses_a_finder_fee_above_the_seller_apps_limit_with_41001() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.select(&m, &[(&a, 1)]).await;
    let id = c
        .send(&m, "init", c.init_message(&m, &[(&a, 1)], finder_fee("40")))
        .await;
    let answer = c.answer(&m, "on_init", &id).await;
    assert_eq!(answer["error"]["code"], "41001");
    // A bad billing phone names the field.
    let mut message = c.init_message(&m, &[(&a, 1)], finder_fee("3"));
    message["order"]["billing"]["phone"] = json!("12345");
    let id = c.send(&m, "init", message).await;
    let answer = c.answer(&m, "on_init", &id).await;
    assert_eq!(answer["error"]["code"], "31002");
    assert_eq!(answer["error"]["path"], "message.order.billing.phone");
}

#[tokio::test]
async fn a_confirm_whose_quote_or_payment_differs_from_on_init_is_refused() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.select(&m, &[(&a, 1)]).await;
    let on_init = c.init(&m, &[(&a, 1)]).await;

    let mut cheaper = c.confirm_message("CHEAP1", &on_init);
    cheaper["order"]["quote"]["price"]["value"] = json!("1.00");
    let id = c.send(&m, "confirm", cheaper).await;
    let answer = c.answer(&m, "on_confirm", &id).await;
    assert_eq!(answer["error"]["code"], "31002");
    assert_eq!(answer["error"]["path"], "message.order.quote");

    let mut underpaid = c.confirm_message("CHEAP2", &on_init);
    underpaid["order"]["payment"]["params"]["amount"] = json!("1.00");
    let id = c.send(&m, "confirm", underpaid).await;
    let answer = c.answer(&m, "on_confirm", &id).await;
    assert_eq!(answer["error"]["code"], "31002");
    assert_eq!(
        answer["error"]["path"],
        "message.order.payment.params.amount"
    );
    assert!(m.w.app.store.load_order("CHEAP1").await.unwrap().is_none());
    assert_eq!(m.stock(&a).await, 50, "nothing was reserved");
}

async fn a_confirm_reusing_another_transactions_order_id_or_without_init_is_refused(db: Db) {
    let m = market(db, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let first = Checkout::new();
    first.buy(&m, "TAKEN1", &[(&a, 1)]).await;

    let second = Checkout::new();
    second.select(&m, &[(&a, 1)]).await;
    let on_init = second.init(&m, &[(&a, 1)]).await;
    let answer = second.confirm(&m, "TAKEN1", &on_init).await;
    assert_eq!(answer["error"]["code"], "31002");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already used by another transaction"));

    // A confirm in a transaction that never had an init.
    let third = Checkout::new();
    let answer = third.confirm(&m, "NOINIT1", &on_init).await;
    assert_eq!(answer["error"]["code"], "31002");
    assert!(m.w.app.store.load_order("NOINIT1").await.unwrap().is_none());
    assert_eq!(m.stock(&a).await, 49, "only the first order took stock");
}

#[tokio::test]
async fn a_confirm_reusing_another_transactions_order_id_or_without_init_is_refused_on_sqlite() {
    a_confirm_reusing_another_transactions_order_id_or_without_init_is_refused(Db::Sqlite).await;
}

#[tokio::test]
async fn a_confirm_reusing_another_transactions_order_id_or_without_init_is_refused_on_postgres() {
    a_confirm_reusing_another_transactions_order_id_or_without_init_is_refused(Db::Postgres).await;
}

#[tokio::test]
async fn a_repeated_confirm_answers_the_same_order_and_reserves_stock_once() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    let (_, on_init, first) = c.buy(&m, "TWICE1", &[(&a, 2)]).await;
    let again = c.confirm(&m, "TWICE1", &on_init).await;
    assert!(again.get("error").is_none());
    assert_eq!(
        again["message"]["order"]["id"],
        first["message"]["order"]["id"]
    );
    assert_eq!(
        again["message"]["order"]["quote"],
        first["message"]["order"]["quote"]
    );
    assert_eq!(m.stock(&a).await, 48);
}

async fn concurrent_confirms_for_the_last_units_never_oversell(db: Db) {
    let m = market(db, |p| p.items[0].stock = 3).await;
    let (a, _) = m.items[0].clone();
    let mut ready = Vec::new();
    for n in 0..8 {
        let c = Checkout::new();
        c.select(&m, &[(&a, 1)]).await;
        let on_init = c.init(&m, &[(&a, 1)]).await;
        ready.push((c, format!("RACE{n}"), on_init));
    }
    let sends = ready.iter().map(|(c, id, on_init)| {
        let m = &m;
        async move {
            let message_id = c.send(m, "confirm", c.confirm_message(id, on_init)).await;
            c.answer(m, "on_confirm", &message_id).await
        }
    });
    let answers = futures_util::future::join_all(sends).await;
    let confirmed = answers.iter().filter(|a| a.get("error").is_none()).count();
    let sold_out = answers
        .iter()
        .filter(|a| a["error"]["code"] == "40002")
        .count();
    assert_eq!(confirmed, 3, "exactly the last three units are sold");
    assert_eq!(sold_out, 5, "the others hear the item is gone");
    for answer in answers.iter().filter(|a| a.get("error").is_some()) {
        assert_eq!(answer["message"]["order"]["state"], "Cancelled");
    }
    assert_eq!(m.stock(&a).await, 0);
}

#[tokio::test]
async fn concurrent_confirms_for_the_last_units_never_oversell_on_sqlite() {
    concurrent_confirms_for_the_last_units_never_oversell(Db::Sqlite).await;
}

#[tokio::test]
async fn concurrent_confirms_for_the_last_units_never_oversell_on_postgres() {
    concurrent_confirms_for_the_last_units_never_oversell(Db::Postgres).await;
}

#[tokio::test]
async fn an_order_outside_the_stores_hours_is_refused_as_received_in_non_operational_hours() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.select(&m, &[(&a, 1)]).await;
    let on_init = c.init(&m, &[(&a, 1)]).await;
    // The store closes for today before the confirm arrives.
    let mut file = m.w.app.store.export_catalog().await.unwrap();
    let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(19_800).unwrap());
    file.providers.retain(|p| p.id == m.provider);
    file.providers[0].locations[0].holidays = vec![today.format("%Y-%m-%d").to_string()];
    m.w.app
        .store
        .import_catalog(&file, "closing")
        .await
        .unwrap();
    let answer = c.confirm(&m, "LATE1", &on_init).await;
    assert_eq!(answer["error"]["code"], "30017");
    let order = &answer["message"]["order"];
    assert_eq!(order["state"], "Cancelled");
    assert_eq!(order["cancellation"]["reason"]["id"], "023");
    assert_eq!(m.stock(&a).await, 50);
}

#[tokio::test]
async fn a_buyer_cancels_before_shipping_and_gets_everything_back() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    let (_, _, on_confirm) = c.buy(&m, "BC1", &[(&a, 2)]).await;
    let confirmed_total = amount(&on_confirm["message"]["order"]["quote"]["price"]["value"]);

    // A reason of retail 1.2.0 only is refused under 1.2.5.
    let id = c
        .send(
            &m,
            "cancel",
            json!({"order_id": "BC1", "cancellation_reason_id": "003"}),
        )
        .await;
    let refused = c.answer(&m, "on_cancel", &id).await;
    assert_eq!(refused["error"]["code"], "30012");
    // Not delivered in time is refused while the promised time has not passed.
    let id = c
        .send(
            &m,
            "cancel",
            json!({"order_id": "BC1", "cancellation_reason_id": "052"}),
        )
        .await;
    assert_eq!(
        c.answer(&m, "on_cancel", &id).await["error"]["code"],
        "30014"
    );

    let id = c
        .send(
            &m,
            "cancel",
            json!({"order_id": "BC1", "cancellation_reason_id": "053"}),
        )
        .await;
    let cancelled = c.answer(&m, "on_cancel", &id).await;
    assert!(cancelled.get("error").is_none(), "{cancelled}");
    let order = &cancelled["message"]["order"];
    assert_eq!(order["state"], "Cancelled");
    assert_eq!(order["cancellation"]["cancelled_by"], BUYER_ID);
    let forward = fulfillment(order, "Delivery");
    assert_eq!(forward["state"]["descriptor"]["code"], "Cancelled");
    let tags: Vec<&str> = forward["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap())
        .collect();
    assert!(tags.contains(&"cancel_request") && tags.contains(&"precancel_state"));
    let cancel = fulfillment(order, "Cancel");
    assert_eq!(cancel["state"]["descriptor"]["code"], "Cancelled");
    assert_quote_adds_up(&order["quote"]);
    assert_eq!(
        amount(&order["quote"]["price"]["value"]),
        0,
        "a Pending order is cancelled free"
    );
    assert_eq!(
        confirmed_total + trail_sum(order),
        0,
        "on_confirm total + Σ quote_trail = new total"
    );
    assert!(order["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["fulfillment_id"] == cancel["id"] && i["quantity"]["count"] == 2));
    assert_eq!(m.stock(&a).await, 50, "the units are back on the shelf");
    let (status, _) = m.move_to("BC1", "Packed").await;
    assert_eq!(status, 409, "a cancelled order cannot move on");
}

#[tokio::test]
async fn a_buyer_cancelling_a_packed_order_pays_the_cancellation_fee() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    let (_, _, on_confirm) = c.buy(&m, "BC2", &[(&a, 1)]).await;
    let total = amount(&on_confirm["message"]["order"]["quote"]["price"]["value"]);
    assert_eq!(m.accept("BC2").await.0, 200);
    assert_eq!(m.move_to("BC2", "Packed").await.0, 200);
    c.wait_for(&m, "on_status", 2).await;
    let id = c
        .send(
            &m,
            "cancel",
            json!({"order_id": "BC2", "cancellation_reason_id": "053"}),
        )
        .await;
    let order = c.answer(&m, "on_cancel", &id).await["message"]["order"].clone();
    let fee = (total * 10 + 50) / 100;
    assert_eq!(
        amount(&order["quote"]["price"]["value"]),
        fee,
        "10% of the order is kept"
    );
    assert_eq!(total + trail_sum(&order), fee);
    assert_quote_adds_up(&order["quote"]);
}

#[tokio::test]
async fn a_seller_cancels_part_of_an_order_then_the_rest() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, unit_a) = m.items[0].clone();
    let (b, _) = m.items[1].clone();
    let c = Checkout::new();
    let (_, _, on_confirm) = c.buy(&m, "SC1", &[(&a, 1), (&b, 2)]).await;
    let total = amount(&on_confirm["message"]["order"]["quote"]["price"]["value"]);
    m.accept("SC1").await;

    let (status, body) = m
        .api(
            "POST",
            "/api/v1/orders/SC1/cancel",
            Some(json!({"reason_code": "005", "item_ids": [a]})),
        )
        .await;
    assert_eq!(status, 400, "a reason that is not a seller's: {body}");
    assert_eq!(body["error"]["field"], "reason_code");
    let (status, body) = m
        .api(
            "POST",
            "/api/v1/orders/SC1/cancel",
            Some(json!({"reason_code": "002", "item_ids": [a]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let update = &c.wait_for(&m, "on_update", 1).await[0]["message"]["order"];
    assert_eq!(update["state"], "Accepted", "the rest of the order goes on");
    let cancel = fulfillment(update, "Cancel");
    let request = cancel["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "cancel_request")
        .unwrap();
    assert_eq!(request["list"][0]["value"], "002");
    assert_eq!(request["list"][1]["value"], SELLER_ID);
    let item_tax = (amount(&json!(unit_a)) * 12 + 50) / 100;
    assert_eq!(trail_sum(update), -(amount(&json!(unit_a)) + item_tax));
    assert_eq!(
        total + trail_sum(update),
        amount(&update["quote"]["price"]["value"])
    );
    assert_quote_adds_up(&update["quote"]);

    let (status, _) = m
        .api(
            "POST",
            "/api/v1/orders/SC1/cancel",
            Some(json!({"reason_code": "024"})),
        )
        .await;
    assert_eq!(status, 200);
    let cancelled = &c.wait_for(&m, "on_cancel", 1).await[0]["message"]["order"];
    assert_eq!(cancelled["state"], "Cancelled");
    assert_eq!(cancelled["cancellation"]["cancelled_by"], SELLER_ID);
    assert_eq!(amount(&cancelled["quote"]["price"]["value"]), 0);
    assert_eq!(total + trail_sum(cancelled), 0);
    assert_eq!(m.stock(&b).await, 50, "cancelled units return to stock");
    assert_eq!(
        m.stock(&a).await,
        49,
        "the unavailable item is not restocked"
    );
}

#[tokio::test]
async fn an_undeliverable_order_returns_to_origin() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.buy(&m, "RTO1", &[(&a, 1)]).await;
    m.accept("RTO1").await;
    let (status, body) = m
        .api(
            "POST",
            "/api/v1/orders/RTO1/state",
            Some(json!({"state": "RTO-Initiated", "reason_code": "013"})),
        )
        .await;
    assert_eq!(status, 409, "nothing to return before pickup: {body}");
    for step in [
        "Packed",
        "Order-picked-up",
        "In-transit",
        "At-destination-hub",
        "Out-for-delivery",
        "Delivery-failed",
    ] {
        assert_eq!(m.move_to("RTO1", step).await.0, 200, "{step}");
    }
    let (status, body) = m.move_to("RTO1", "RTO-Initiated").await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("reason_code"))
    );
    let (status, _) = m
        .api(
            "POST",
            "/api/v1/orders/RTO1/state",
            Some(json!({"state": "RTO-Initiated", "reason_code": "013"})),
        )
        .await;
    assert_eq!(status, 200);
    let on_cancel = &c.wait_for(&m, "on_cancel", 1).await[0]["message"]["order"];
    assert_eq!(on_cancel["state"], "Cancelled");
    let rto = fulfillment(on_cancel, "RTO");
    assert_eq!(rto["state"]["descriptor"]["code"], "RTO-Initiated");
    let forward = fulfillment(on_cancel, "Delivery");
    let request = forward["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "cancel_request")
        .unwrap();
    assert!(request["list"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["code"] == "rto_id" && e["value"] == rto["id"]));
    assert_quote_adds_up(&on_cancel["quote"]);
    assert_eq!(m.move_to("RTO1", "RTO-Delivered").await.0, 200);
    let statuses = c.wait_for(&m, "on_status", 8).await;
    let last = &statuses.last().unwrap()["message"]["order"];
    assert_eq!(
        fulfillment(last, "RTO")["state"]["descriptor"]["code"],
        "RTO-Delivered"
    );
    assert_eq!(m.stock(&a).await, 50, "the goods are back");
}

async fn deliver(m: &Market, c: &Checkout, order_id: &str, items: &[(&str, i64)]) -> Value {
    let (_, _, on_confirm) = c.buy(m, order_id, items).await;
    m.api("POST", &format!("/api/v1/orders/{order_id}/accept"), None)
        .await;
    for step in [
        "Packed",
        "Order-picked-up",
        "In-transit",
        "At-destination-hub",
        "Out-for-delivery",
        "Order-delivered",
    ] {
        let (status, body) = m
            .api(
                "POST",
                &format!("/api/v1/orders/{order_id}/state"),
                Some(json!({"state": step})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    c.wait_for(m, "on_status", 7).await;
    on_confirm
}

fn return_request(order_id: &str, id: &str, item: &str, count: i64, reason: &str) -> Value {
    json!({"update_target": "item", "order": {"id": order_id, "fulfillments": [{"type": "Return", "tags": [{"code": "return_request", "list": [
        {"code": "id", "value": id}, {"code": "item_id", "value": item}, {"code": "item_quantity", "value": count.to_string()},
        {"code": "reason_id", "value": reason}, {"code": "reason_desc", "value": "the colour is not as shown"},
        {"code": "images", "value": "https://buyer.test/r.png"}, {"code": "ttl_approval", "value": "PT24H"}, {"code": "ttl_reverseqc", "value": "P3D"}]}]}]}})
}

#[tokio::test]
async fn a_delivered_item_is_returned_and_refunded() {
    let m = market(Db::Sqlite, |p| p.items[1].returnable = false).await;
    let (a, unit_a) = m.items[0].clone();
    let (b, _) = m.items[1].clone();
    let c = Checkout::new();
    let on_confirm = deliver(&m, &c, "RET1", &[(&a, 2), (&b, 1)]).await;
    let total = amount(&on_confirm["message"]["order"]["quote"]["price"]["value"]);

    let id = c
        .send(&m, "update", return_request("RET1", "R0", &b, 1, "003"))
        .await;
    assert_eq!(
        c.answer(&m, "on_update", &id).await["error"]["code"],
        "50002",
        "not returnable"
    );
    let id = c
        .send(&m, "update", return_request("RET1", "R0", &a, 1, "009"))
        .await;
    assert_eq!(
        c.answer(&m, "on_update", &id).await["error"]["code"],
        "30005",
        "not a return reason"
    );

    let id = c
        .send(&m, "update", return_request("RET1", "R1", &a, 1, "005"))
        .await;
    let interim = c.answer(&m, "on_update", &id).await;
    assert!(interim.get("error").is_none(), "{interim}");
    let order = &interim["message"]["order"];
    assert_eq!(
        fulfillment(order, "Return")["state"]["descriptor"]["code"],
        "Return_Initiated"
    );
    assert_eq!(order["state"], "Completed");

    let (status, _) = m
        .api(
            "POST",
            "/api/v1/orders/RET1/returns/R1/state",
            Some(json!({"state": "Return_Picked"})),
        )
        .await;
    assert_eq!(status, 409, "a return is approved before it is picked");
    assert_eq!(
        m.api("POST", "/api/v1/orders/RET1/returns/R1/approve", None)
            .await
            .0,
        200
    );
    assert_eq!(m.return_to("RET1", "R1", "Return_Picked").await.0, 200);
    assert_eq!(m.return_to("RET1", "R1", "Return_Delivered").await.0, 200);
    let updates = c.wait_for(&m, "on_update", 6).await;
    let codes: Vec<Value> = updates
        .iter()
        .skip(3)
        .map(|u| {
            fulfillment(&u["message"]["order"], "Return")["state"]["descriptor"]["code"].clone()
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            json!("Return_Approved"),
            json!("Return_Picked"),
            json!("Return_Delivered")
        ]
    );
    let done = &updates.last().unwrap()["message"]["order"];
    let refund = amount(&json!(unit_a)) + (amount(&json!(unit_a)) * 12 + 50) / 100;
    assert_eq!(
        trail_sum(done),
        -refund,
        "the returned unit and its tax are refunded"
    );
    assert_eq!(
        total + trail_sum(done),
        amount(&done["quote"]["price"]["value"])
    );
    assert_quote_adds_up(&done["quote"]);

    let id = c
        .send(&m, "update", return_request("RET1", "R2", &a, 1, "004"))
        .await;
    assert!(c.answer(&m, "on_update", &id).await.get("error").is_none());
    let (status, body) = m
        .api(
            "POST",
            "/api/v1/orders/RET1/returns/R2/reject",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("reason"))
    );
    assert_eq!(
        m.api(
            "POST",
            "/api/v1/orders/RET1/returns/R2/reject",
            Some(json!({"reason": "used item"}))
        )
        .await
        .0,
        200
    );
    let rejected = &c.wait_for(&m, "on_update", 8).await[7]["message"]["order"];
    let r2 = rejected["fulfillments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "R2")
        .unwrap();
    assert_eq!(r2["state"]["descriptor"]["code"], "Return_Rejected");
}

#[tokio::test]
async fn the_buyer_changes_delivery_instructions_before_pickup_only() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.buy(&m, "UPD1", &[(&a, 1)]).await;
    let update = |text: &str| {
        json!({"update_target": "fulfillment", "order": {"id": "UPD1", "fulfillments": [{"id": "F1", "type": "Delivery",
        "end": {"instructions": {"name": "special_instructions", "short_desc": text}}}]}})
    };
    let id = c.send(&m, "update", update("ring the bell twice")).await;
    let answer = c.answer(&m, "on_update", &id).await;
    assert!(answer.get("error").is_none(), "{answer}");
    assert_eq!(
        fulfillment(&answer["message"]["order"], "Delivery")["end"]["instructions"]["short_desc"],
        "ring the bell twice"
    );
    m.accept("UPD1").await;
    for step in ["Packed", "Order-picked-up"] {
        m.move_to("UPD1", step).await;
    }
    let id = c
        .send(&m, "update", update("leave it with the guard"))
        .await;
    assert_eq!(
        c.answer(&m, "on_update", &id).await["error"]["code"],
        "50002"
    );
}

#[tokio::test]
async fn track_answers_a_link_when_the_seller_has_one_and_40005_otherwise() {
    let m = market(Db::Sqlite, |p| {
        p.terms.tracking_url = Some("https://track.example/{order_id}".into())
    })
    .await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.buy(&m, "TRK1", &[(&a, 1)]).await;
    let id = c.send(&m, "track", json!({"order_id": "TRK1"})).await;
    let answer = c.answer(&m, "on_track", &id).await;
    assert_eq!(
        answer["message"]["tracking"]["url"],
        "https://track.example/TRK1"
    );
    assert_eq!(answer["message"]["tracking"]["status"], "active");

    let m = market(Db::Sqlite, |_| {}).await;
    let c = Checkout::new();
    c.buy(&m, "TRK2", &[(&a, 1)]).await;
    let id = c.send(&m, "track", json!({"order_id": "TRK2"})).await;
    assert_eq!(
        c.answer(&m, "on_track", &id).await["error"]["code"],
        "40005"
    );
    let id = c.send(&m, "status", json!({"order_id": "NOPE"})).await;
    assert_eq!(
        c.answer(&m, "on_status", &id).await["error"]["code"],
        "30018"
    );
}

fn issue_message(id: &str, order_id: &str, provider: &str, status: &str) -> Value {
    json!({"issue": {
        "id": id, "category": "ITEM", "sub_category": "ITM02",
        "complainant_info": {"person": {"name": "Asha Rao"}, "contact": {"phone": "9876501234", "email": "asha@example.com"}},
        "order_details": {"id": order_id, "state": "Completed", "items": [{"id": "x", "quantity": 1}], "fulfillments": [{"id": "F1", "type": "Delivery", "state": "Order-delivered"}], "provider_id": provider},
        "description": {"short_desc": "Broken on arrival", "long_desc": "The lid is cracked", "additional_desc": {"url": "https://buyer.test/d", "content_type": "text/plain"}, "images": ["https://buyer.test/i.png"]},
        "source": {"network_participant_id": BUYER_ID, "type": "CONSUMER"},
        "expected_response_time": {"duration": "PT2H"}, "expected_resolution_time": {"duration": "P1D"},
        "status": status, "issue_type": "ISSUE",
        "issue_actions": {"complainant_actions": [{"complainant_action": if status == "CLOSED" { "CLOSE" } else { "OPEN" }, "short_desc": "Complaint", "updated_at": "2026-11-23T04:10:00.000Z",
            "updated_by": {"org": {"name": format!("{BUYER_ID}::ONDC:RET16")}, "contact": {"phone": "9876501234", "email": "asha@example.com"}, "person": {"name": "Asha Rao"}}}]},
        "rating": if status == "CLOSED" { json!("THUMBS-UP") } else { Value::Null },
        "created_at": "2026-11-23T04:10:00.000Z", "updated_at": "2026-11-23T04:10:00.000Z",
    }})
}

#[tokio::test]
async fn a_grievance_is_processed_resolved_by_the_seller_and_closed() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    deliver(&m, &c, "IGM1", &[(&a, 1)]).await;
    let mut message = issue_message("ISS1", "IGM1", &m.provider, "OPEN");
    message["issue"].as_object_mut().unwrap().remove("rating");
    let id = c.send(&m, "issue", message).await;
    let on_issue = c.answer(&m, "on_issue", &id).await;
    let actions = &on_issue["message"]["issue"]["issue_actions"]["respondent_actions"];
    assert_eq!(actions[0]["respondent_action"], "PROCESSING");
    assert_eq!(
        actions[0]["updated_by"]["org"]["name"],
        format!("{SELLER_ID}::ONDC:RET16")
    );

    let (status, listed) = m.api("GET", "/api/v1/issues", None).await;
    assert_eq!(status, 200);
    let issue = &listed["issues"][0];
    assert_eq!(issue["id"], "ISS1");
    let (respond_by, resolve_by) = (
        issue["respond_by"].as_i64().unwrap(),
        issue["resolve_by"].as_i64().unwrap(),
    );
    assert_eq!(
        resolve_by - respond_by,
        22 * 3_600_000,
        "P1D to resolve, PT2H to respond"
    );
    assert_eq!(issue["overdue"], false);
    let (status, _) = m
        .api_as(&m.other_token, "GET", "/api/v1/issues/ISS1", None)
        .await;
    assert_eq!(status, 404, "another seller does not see it");

    let (status, body) = m
        .api(
            "POST",
            "/api/v1/issues/ISS1/resolve",
            Some(json!({"action": "REFUND", "short_desc": "Refund initiated"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("refund_amount"))
    );
    let (status, body) = m.api("POST", "/api/v1/issues/ISS1/resolve", Some(json!({"action": "REFUND", "short_desc": "Refund initiated", "refund_amount": "100.00"}))).await;
    assert_eq!(status, 200, "{body}");
    let resolved = &c.wait_for(&m, "on_issue_status", 1).await[0]["message"]["issue"];
    assert_eq!(resolved["resolution"]["action_triggered"], "REFUND");
    assert_eq!(resolved["resolution"]["refund_amount"], "100.00");
    assert!(resolved["resolution_provider"]["respondent_info"]["organization"].is_object());
    let actions = resolved["issue_actions"]["respondent_actions"]
        .as_array()
        .unwrap();
    assert_eq!(actions.last().unwrap()["respondent_action"], "RESOLVED");

    let id = c
        .send(&m, "issue_status", json!({"issue_id": "ISS1"}))
        .await;
    let status_answer = c.answer(&m, "on_issue_status", &id).await;
    assert_eq!(
        status_answer["message"]["issue"]["resolution"]["action_triggered"],
        "REFUND"
    );

    c.send(
        &m,
        "issue",
        issue_message("ISS1", "IGM1", &m.provider, "CLOSED"),
    )
    .await;
    let closed = eventually(Duration::from_secs(5), || async {
        m.api("GET", "/api/v1/issues/ISS1", None).await.1["status"] == "CLOSED"
    })
    .await;
    assert!(closed, "the buyer app's close is recorded");
    let (_, issue) = m.api("GET", "/api/v1/issues/ISS1", None).await;
    assert_eq!(issue["rating"], "THUMBS-UP");
}

#[tokio::test]
async fn a_seller_cannot_see_or_touch_another_sellers_order() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.buy(&m, "MINE1", &[(&a, 1)]).await;
    for (method, path) in [
        ("GET", "/api/v1/orders/MINE1"),
        ("POST", "/api/v1/orders/MINE1/accept"),
    ] {
        let (status, _) = m.api_as(&m.other_token, method, path, None).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let (_, listed) = m
        .api_as(&m.other_token, "GET", "/api/v1/orders", None)
        .await;
    assert_eq!(listed["orders"], json!([]));
    let (status, _) = m
        .api_as(
            &m.other_token,
            "PATCH",
            &format!("/api/v1/catalog/items/{a}"),
            Some(json!({"stock": 0})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(m.stock(&a).await, 49);
    let (status, body) = m
        .api_as("haat_not-a-token", "GET", "/api/v1/orders", None)
        .await;
    assert_eq!(status, 401, "{body}");
    let (_, view) = m.api("GET", "/api/v1/orders/MINE1", None).await;
    assert_eq!(view["state"], "Created", "untouched");
}

#[tokio::test]
async fn the_seller_api_answers_409_for_a_step_out_of_order_and_400_naming_a_bad_field() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.buy(&m, "API1", &[(&a, 1)]).await;
    let (status, body) = m.move_to("API1", "Packed").await;
    assert_eq!(status, 409);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("accept"),
        "{body}"
    );
    m.accept("API1").await;
    let (status, body) = m.move_to("API1", "Order-delivered").await;
    assert_eq!(status, 409);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Packed"),
        "{body}"
    );
    let (status, body) = m
        .api(
            "POST",
            "/api/v1/orders/API1/state",
            Some(json!({"state": 5})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("state"))
    );
    let (status, body) = m.move_to("API1", "Shipped").await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("state"))
    );
    let (status, _) = m.accept("API1").await;
    assert_eq!(status, 409, "accepted once");

    // Price and stock changes feed the catalogue.
    let (status, body) = m
        .api(
            "PATCH",
            &format!("/api/v1/catalog/items/{a}"),
            Some(json!({"price": "999999.00"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("price")),
        "above MRP"
    );
    let (status, body) = m
        .api(
            "PATCH",
            &format!("/api/v1/catalog/items/{a}"),
            Some(json!({"stock": 7, "price": "100.00"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["stock"].clone(), body["price"].clone()),
        (json!(7), json!("100.00"))
    );
    let answer = Checkout::new().select(&m, &[(&a, 1)]).await;
    let line = &answer["message"]["order"]["quote"]["breakup"][0];
    assert_eq!(line["item"]["price"]["value"], "100.00");

    let response =
        m.w.app
            .http
            .get(format!("{}/api/v1/openapi.json", m.w.app.address))
            .send()
            .await
            .unwrap();
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.0.3");
    for path in [
        "/api/v1/orders/{order_id}/accept",
        "/api/v1/orders/{order_id}/state",
        "/api/v1/orders/{order_id}/cancel",
        "/api/v1/issues/{issue_id}/resolve",
    ] {
        assert!(
            document["paths"].get(path).is_some(),
            "{path} is documented"
        );
    }
}

#[tokio::test]
async fn the_seller_api_refuses_a_list_filter_it_does_not_know_naming_the_parameter() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.buy(&m, "LIST1", &[(&a, 1)]).await;
    let (status, listed) = m
        .api("GET", "/api/v1/orders?state=Created&limit=5", None)
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["orders"][0]["id"], "LIST1");
    let (_, listed) = m.api("GET", "/api/v1/orders?state=Packed", None).await;
    assert_eq!(
        listed["orders"],
        json!([]),
        "a known filter that matches nothing"
    );
    for (path, parameter) in [
        ("/api/v1/orders?state=Shipped", "state"),
        ("/api/v1/orders?limit=0", "limit"),
        ("/api/v1/orders?limit=1001", "limit"),
        ("/api/v1/orders?limit=ten", "limit"),
        ("/api/v1/orders?stat=Created", "stat"),
        ("/api/v1/orders?state=Created&state=Accepted", "state"),
        ("/api/v1/issues?status=OPEN", "status"),
        ("/api/v1/issues?limit=-3", "limit"),
    ] {
        let (status, body) = m.api("GET", path, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_parameter", "{path}");
        assert_eq!(body["error"]["field"], parameter, "{path}: {body}");
    }
    let (status, body) = m
        .api_as("haat_not-a-token", "GET", "/api/v1/orders?limit=0", None)
        .await;
    assert_eq!(status, 401, "the token is checked first: {body}");
}

#[tokio::test]
async fn the_seller_api_answers_405_with_the_allowed_method_for_a_method_an_endpoint_does_not_take()
{
    let m = market(Db::Sqlite, |_| {}).await;
    let http = &m.w.app.http;
    let response = http
        .delete(format!("{}/api/v1/orders/ORD1", m.w.app.address))
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let (status, _) = m.api("GET", "/api/v1/orders/ORD1/accept", None).await;
    assert_eq!(status, 405, "accept is a POST");
    let (status, body) = m.api("GET", "/api/v1/no-such-thing", None).await;
    assert_eq!(status, 404, "{body}");

    // The document and the routes agree: every documented operation is served, and every
    // other method of a documented path is 405.
    let (_, document) = m.api("GET", "/api/v1/openapi.json", None).await;
    for (path, operations) in document["paths"].as_object().unwrap() {
        let url = format!(
            "{}{}",
            m.w.app.address,
            path.replace('{', "X").replace('}', "")
        );
        for method in ["GET", "POST", "PATCH", "PUT", "DELETE"] {
            let response = http
                .request(method.parse().unwrap(), &url)
                .bearer_auth(&m.token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if operations.get(method.to_lowercase()).is_some() {
                assert_ne!(status, 405, "{method} {path} is documented: {body}");
                let unrouted = status == 404
                    && body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("no such seller API endpoint"));
                assert!(!unrouted, "{method} {path} is documented and served");
            } else {
                assert_eq!(status, 405, "{method} {path} is not documented: {body}");
            }
        }
    }
}

#[tokio::test]
async fn an_auto_accepting_seller_accepts_at_confirm_and_says_so() {
    let m = market(Db::Sqlite, |p| p.terms.auto_accept = true).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    let (_, _, on_confirm) = c.buy(&m, "AUTO1", &[(&a, 1)]).await;
    assert_eq!(on_confirm["message"]["order"]["state"], "Accepted");
    let status = &c.wait_for(&m, "on_status", 1).await[0];
    assert_eq!(status["message"]["order"]["state"], "Accepted");
    assert!(
        status["context"]["timestamp"].as_str().unwrap()
            > on_confirm["context"]["timestamp"].as_str().unwrap()
    );
}

#[tokio::test]
async fn only_selling_the_last_unit_changes_what_incremental_catalogues_carry() {
    let m = market(Db::Sqlite, |p| p.items[0].stock = 2).await;
    let (a, _) = m.items[0].clone();
    let store = &m.w.app.store;
    let before = store.catalog_changed_at().await.unwrap();
    Checkout::new().buy(&m, "LAST1", &[(&a, 1)]).await;
    assert_eq!(
        store.catalog_changed_at().await.unwrap(),
        before,
        "still in stock: buyer apps see no change"
    );
    Checkout::new().buy(&m, "LAST2", &[(&a, 1)]).await;
    assert!(
        store.catalog_changed_at().await.unwrap() > before,
        "sold out: the item's availability changed"
    );
    assert_eq!(m.stock(&a).await, 0);
}

#[tokio::test]
async fn a_forced_cancel_after_pickup_is_carried_out() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let c = Checkout::new();
    c.buy(&m, "FORCE1", &[(&a, 1)]).await;
    m.accept("FORCE1").await;
    for step in ["Packed", "Order-picked-up"] {
        assert_eq!(m.move_to("FORCE1", step).await.0, 200);
    }
    let cancel = |force: &str| {
        json!({"order_id": "FORCE1", "cancellation_reason_id": "052", "descriptor": {
            "name": "fulfillment", "short_desc": "F1",
            "tags": [{"code": "params", "list": [{"code": "force", "value": force}, {"code": "ttl_response", "value": "PT1H"}]}]}})
    };
    // Without force, a picked-up order cannot be cancelled (and its TAT has not passed).
    let id = c.send(&m, "cancel", cancel("no")).await;
    assert!(c.answer(&m, "on_cancel", &id).await.get("error").is_some());
    let id = c.send(&m, "cancel", cancel("yes")).await;
    let forced = c.answer(&m, "on_cancel", &id).await;
    assert!(forced.get("error").is_none(), "{forced}");
    let order = &forced["message"]["order"];
    assert_eq!(order["state"], "Cancelled");
    assert_eq!(order["cancellation"]["reason"]["id"], "052");
    assert_eq!(
        amount(&order["quote"]["price"]["value"]),
        0,
        "no fee when the buyer forces it"
    );
    assert_eq!(
        m.stock(&a).await,
        49,
        "picked-up goods are not back on the shelf"
    );
}
