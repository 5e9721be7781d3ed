//! End to end with the real binary: `haat dev` runs the node and its development registry,
//! `haat buyer` places and follows orders as a buyer app, the seller acts through the seller
//! API with a token from `haat sellers token`, and `haat logs export` writes the certification
//! logs, which are checked against ONDC's 1.2.5 rules and the cross-call consistency of
//! RETAIL-DIGEST.md §14. Each flow runs on SQLite and on PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use haat::catalog::model::CatalogFile;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::orders::{amount as money, ready_to_sell, trail_sum};
use crate::rules::unexpected_rule_problems;

/// A node started with `haat dev`, and the environment every `haat` command of this network
/// shares.
struct Network {
    node: Child,
    env: Vec<(String, String)>,
    address: String,
    /// The seller's first two item ids.
    items: Vec<String>,
    token: String,
    dir: PathBuf,
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self.node.kill();
        let _ = self.node.wait();
    }
}

/// One home-and-kitchen seller of the demo, ready to sell (`orders::ready_to_sell`): open
/// around the clock, delivering pan-India, with delivery and packing charges, a cancellation
/// fee, a settlement account and tracking off.
fn catalogue() -> (CatalogFile, String, Vec<String>) {
    let demo: CatalogFile = serde_json::from_str(haat::catalog::import::DEMO).unwrap();
    let mut seller = demo
        .providers
        .into_iter()
        .find(|p| p.items.iter().all(|i| i.domain == "ONDC:RET16") && p.items.len() >= 2)
        .expect("the demo has a home-and-kitchen seller with two items");
    ready_to_sell(&mut seller);
    let provider = seller.id.clone();
    let items = seller.items.iter().map(|i| i.id.clone()).collect();
    let file = CatalogFile {
        about: None,
        providers: vec![seller],
    };
    (file, provider, items)
}

/// Runs `haat` with this network's environment; (succeeded, stdout, stderr).
fn run(env: &[(String, String)], args: &[&str]) -> (bool, String, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    haat(args, &env)
}

async fn network(db: Db) -> Network {
    let dir = temp_path("e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let database = fresh_database(db).await;
    let (node_port, registry_port, buyer_port) = (unused_port(), unused_port(), unused_port());
    let address = format!("http://127.0.0.1:{node_port}");
    let path = |name: &str| dir.join(name).display().to_string();
    let env: Vec<(String, String)> = [
        ("HAAT_DATABASE_URL", database),
        ("HAAT_LISTEN", format!("127.0.0.1:{node_port}")),
        ("HAAT_SUBSCRIBER_ID", "seller.e2e.test".into()),
        ("HAAT_SUBSCRIBER_URL", address.clone()),
        ("HAAT_KEYS_FILE", path("node-keys.json")),
        ("HAAT_CATALOG_LOAD_DEMO", "false".into()),
        (
            "HAAT_DEV_REGISTRY_LISTEN",
            format!("127.0.0.1:{registry_port}"),
        ),
        ("HAAT_BUYER_SUBSCRIBER_ID", "buyer.e2e.test".into()),
        ("HAAT_BUYER_KEYS_FILE", path("buyer-keys.json")),
        (
            "HAAT_BUYER_CALLBACK_LISTEN",
            format!("127.0.0.1:{buyer_port}"),
        ),
        ("HAAT_BUYER_NODE_URL", address.clone()),
        (
            "HAAT_BUYER_REGISTRY_URL",
            format!("http://127.0.0.1:{registry_port}"),
        ),
        ("HAAT_BUYER_SESSION_FILE", path("session.json")),
        ("HAAT_BUYER_WAIT_SECS", "15".into()),
        // Unsolicited callbacks that find no listener are retried soon.
        ("HAAT_OUTBOX_BACKOFF_INITIAL_MS", "100".into()),
        ("HAAT_OUTBOX_BACKOFF_MAX_MS", "300".into()),
        ("HAAT_OUTBOX_POLL_MS", "50".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let (file, provider, items) = catalogue();
    let catalogue_path = dir.join("catalogue.json");
    std::fs::write(&catalogue_path, serde_json::to_vec(&file).unwrap()).unwrap();
    let (ok, out, err) = run(
        &env,
        &["catalog", "import", &catalogue_path.display().to_string()],
    );
    assert!(ok, "the catalogue imports: {out}{err}");
    let (ok, token, err) = run(&env, &["sellers", "token", &provider]);
    assert!(ok, "a seller token is issued: {err}");

    let mut command = Command::new(env!("CARGO_BIN_EXE_haat"));
    command
        .arg("dev")
        .env("HAAT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in &env {
        command.env(name, value);
    }
    let node = command.spawn().expect("haat dev starts");
    let http = reqwest::Client::new();
    let health = format!("{address}/health");
    let up = eventually(Duration::from_secs(20), || {
        let request = http.get(&health).send();
        async move { matches!(request.await, Ok(r) if r.status() == 200) }
    })
    .await;
    assert!(up, "haat dev answers /health");
    Network {
        node,
        env,
        address,
        items,
        token: token.trim().to_owned(),
        dir,
    }
}

impl Network {
    /// `haat buyer ARGS`; panics with its output unless it succeeds.
    fn buyer(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.buyer_may_fail(args);
        assert!(ok, "haat buyer {args:?} succeeds:\n{out}\n{err}");
        out
    }

    fn buyer_may_fail(&self, args: &[&str]) -> (bool, String, String) {
        let mut all = vec!["buyer"];
        all.extend_from_slice(args);
        run(&self.env, &all)
    }

    /// Starts `haat buyer watch` until `count` callbacks have come.
    fn watch(&self, count: usize) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_haat"));
        let count = count.to_string();
        command
            .args([
                "buyer", "watch", "--json", "--secs", "30", "--count", &count,
            ])
            .env("HAAT_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let child = command.spawn().expect("haat buyer watch starts");
        // Let it bind its port before the seller acts.
        std::thread::sleep(Duration::from_millis(700));
        child
    }

    /// The seller acts through the seller API; returns (status, body).
    async fn seller(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}/api/v1{path}", self.address))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn seller_ok(&self, path: &str, body: Option<Value>) {
        let (status, answer) = self.seller(path, body).await;
        assert_eq!(status, 200, "POST {path}: {answer}");
    }

    /// Waits for a watcher and returns the callbacks it printed.
    fn heard(&self, watcher: Child) -> Vec<Value> {
        let output = watcher.wait_with_output().unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The session's order transaction.
    fn transaction(&self) -> String {
        let session: Value =
            serde_json::from_slice(&std::fs::read(self.dir.join("session.json")).unwrap()).unwrap();
        session["order"]["route"]["transaction_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Searches the seller's domain, then selects the seller's items `which` (index into
    /// `items`, count), inits and confirms `order_id`.
    fn place(&self, order_id: &str, which: &[(usize, i64)]) {
        let out = self.buyer(&["search", "--domain", "ONDC:RET16"]);
        assert!(out.contains("Found"), "{out}");
        let session: Value =
            serde_json::from_slice(&std::fs::read(self.dir.join("session.json")).unwrap()).unwrap();
        let found = session["found"].as_array().unwrap();
        let picks: Vec<String> = which
            .iter()
            .map(|(index, count)| {
                let n = found
                    .iter()
                    .position(|f| f["item_id"] == self.items[*index].as_str())
                    .expect("the search found the seller's item");
                format!("{}:{count}", n + 1)
            })
            .collect();
        let mut select = vec!["select"];
        select.extend(picks.iter().map(String::as_str));
        let out = self.buyer(&select);
        assert!(out.contains("Serviceable"), "{out}");
        self.buyer(&["init"]);
        let out = self.buyer(&["confirm", "--order-id", order_id]);
        assert!(out.contains(&format!("Order {order_id} placed")), "{out}");
    }

    /// The seller accepts `order_id` and moves its delivery through `states` while the buyer
    /// tool listens; every step must be heard.
    async fn accept_and_move(&self, order_id: &str, states: &[&str]) {
        let watcher = self.watch(states.len() + 1);
        self.seller_ok(&format!("/orders/{order_id}/accept"), None)
            .await;
        for state in states {
            self.seller_ok(
                &format!("/orders/{order_id}/state"),
                Some(json!({"state": state})),
            )
            .await;
        }
        let heard = self.heard(watcher);
        assert_eq!(
            heard.len(),
            states.len() + 1,
            "every step is heard: {heard:?}"
        );
    }

    /// Exports the transaction's logs through the binary; (file name, body) in order.
    fn export(&self, transaction: &str) -> Vec<(String, Value)> {
        let out_dir = self.dir.join(format!("logs-{transaction}"));
        let out_text = out_dir.display().to_string();
        let (ok, out, err) = run(
            &self.env,
            &[
                "logs",
                "export",
                "--transaction",
                transaction,
                "--out",
                &out_text,
            ],
        );
        assert!(ok, "the logs export: {out}{err}");
        read_logs(&out_dir)
    }
}

fn read_logs(dir: &Path) -> Vec<(String, Value)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let body = serde_json::from_slice(&std::fs::read(dir.join(&name)).unwrap()).unwrap();
            (name, body)
        })
        .collect()
}

/// The file names without their order prefix.
fn kinds(logs: &[(String, Value)]) -> Vec<String> {
    logs.iter()
        .map(|(name, _)| {
            let (_, rest) = name.split_once('_').unwrap();
            rest.trim_end_matches(".json").to_owned()
        })
        .collect()
}

fn delivery(order: &Value) -> Option<&Value> {
    order["fulfillments"]
        .as_array()?
        .iter()
        .find(|f| f["type"] == "Delivery")
}

fn tag<'a>(tags: &'a Value, code: &str) -> Option<&'a Value> {
    tags.as_array()?.iter().find(|t| t["code"] == code)
}

/// Every message of the exported logs passes ONDC's 1.2.5 rules (requests the buyer tool
/// sent included), and together they keep the cross-call rules of RETAIL-DIGEST.md §14.
fn assert_certifiable(logs: &[(String, Value)]) {
    let mut problems = Vec::new();
    for (name, body) in logs {
        let action = body["context"]["action"].as_str().unwrap();
        let domain = body["context"]["domain"].as_str().unwrap();
        for problem in unexpected_rule_problems(domain, action, body) {
            problems.push(format!("{name}: {problem}"));
        }
    }
    assert!(
        problems.is_empty(),
        "rule problems:\n{}",
        problems.join("\n")
    );

    let first = &logs[0].1["context"];
    let mut message_ids = std::collections::HashMap::new();
    let mut last_status_time = String::new();
    let mut select_drop: Option<(Value, Value)> = None;
    let mut quotes: Vec<(String, Value)> = Vec::new();
    let mut confirmed_total = None;
    let mut on_init_terms = None;
    let mut confirm_payment = None;
    let mut tracking = None;
    for (name, body) in logs {
        let context = &body["context"];
        let action = context["action"].as_str().unwrap();
        for field in ["domain", "city", "transaction_id", "bap_id", "bap_uri"] {
            assert_eq!(
                context[field], first[field],
                "{name}: context.{field} stays the same"
            );
        }
        let order = &body["message"]["order"];
        if action.starts_with("on_") {
            assert_eq!(
                context["bpp_id"], logs[1].1["context"]["bpp_id"],
                "{name}: bpp_id"
            );
        }
        if !action.starts_with("on_") {
            assert!(
                message_ids
                    .insert(context["message_id"].as_str().unwrap().to_owned(), action)
                    .is_none(),
                "{name}: a request's message_id is new"
            );
        } else if let Some(request) = message_ids.get(context["message_id"].as_str().unwrap()) {
            assert_eq!(
                format!("on_{request}"),
                action,
                "{name}: answers its own request"
            );
        }
        if order.is_object() {
            if let Some(provider) = order["provider"]["id"].as_str() {
                assert_eq!(
                    Some(provider),
                    logs[0].1["message"]["order"]["provider"]["id"].as_str(),
                    "{name}: provider"
                );
            }
            if let Some(quote) = order.get("quote") {
                let sum: i64 = quote["breakup"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| money(&l["price"]["value"]))
                    .sum();
                assert_eq!(
                    sum,
                    money(&quote["price"]["value"]),
                    "{name}: Σ breakup = total"
                );
                quotes.push((action.to_owned(), quote["price"].clone()));
            }
        }
        match action {
            "select" => {
                let location = &order["fulfillments"][0]["end"]["location"];
                select_drop = Some((
                    location["gps"].clone(),
                    location["address"]["area_code"].clone(),
                ));
            }
            "on_select" => tracking = delivery(order).map(|f| f["tracking"].clone()),
            "on_init" => on_init_terms = tag(&order["tags"], "bpp_terms").cloned(),
            "confirm" => confirm_payment = Some(order["payment"].clone()),
            "on_confirm" => {
                assert_eq!(
                    Some(&order["payment"]),
                    confirm_payment.as_ref(),
                    "{name}: payment unchanged"
                );
                assert_eq!(
                    tag(&order["tags"], "bpp_terms"),
                    on_init_terms.as_ref(),
                    "{name}: bpp_terms unchanged"
                );
                confirmed_total = Some(money(&order["quote"]["price"]["value"]));
            }
            _ => {}
        }
        if action.starts_with("on_") && !matches!(action, "on_select" | "on_track") {
            if let (Some(forward), Some((gps, area_code))) = (delivery(order), &select_drop) {
                assert_eq!(&forward["end"]["location"]["gps"], gps, "{name}: drop gps");
                assert_eq!(
                    &forward["end"]["location"]["address"]["area_code"], area_code,
                    "{name}: drop pincode"
                );
                if !matches!(action, "on_init") {
                    assert_eq!(
                        Some(&forward["tracking"]),
                        tracking.as_ref(),
                        "{name}: tracking as quoted"
                    );
                }
            }
        }
        if action == "on_status" {
            let at = context["timestamp"].as_str().unwrap().to_owned();
            assert!(
                at > last_status_time,
                "{name}: each on_status is later than the last"
            );
            last_status_time = at;
        }
    }
    // The quote is the same from on_select to on_confirm.
    let agreed: Vec<&Value> = quotes
        .iter()
        .filter(|(a, _)| {
            matches!(
                a.as_str(),
                "on_select" | "on_init" | "confirm" | "on_confirm"
            )
        })
        .map(|(_, q)| q)
        .collect();
    assert!(agreed.len() >= 4, "the flow has its four quotes");
    assert!(
        agreed.windows(2).all(|w| w[0] == w[1]),
        "one quote from on_select to on_confirm: {agreed:?}"
    );
    // Money moved after the order: on_confirm total + Σ quote_trail = the latest total.
    let last = logs
        .iter()
        .rev()
        .map(|(_, b)| &b["message"]["order"])
        .find(|o| o.get("quote").is_some())
        .unwrap();
    assert_eq!(
        confirmed_total.unwrap() + trail_sum(last),
        money(&last["quote"]["price"]["value"]),
        "on_confirm total + Σ quote_trail = the last quote"
    );
}

/// The forward states of a delivery through hubs (P2H2P), after Pending.
const DELIVERY: [&str; 6] = [
    "Packed",
    "Order-picked-up",
    "In-transit",
    "At-destination-hub",
    "Out-for-delivery",
    "Order-delivered",
];

async fn an_order_is_delivered(db: Db) {
    let n = network(db).await;
    n.place("E2EDELIVER1", &[(0, 2)]);
    n.accept_and_move("E2EDELIVER1", &DELIVERY).await;
    let out = n.buyer(&["status"]);
    assert!(out.contains("Order-delivered"), "{out}");
    let (ok, out, err) = n.buyer_may_fail(&["track"]);
    assert!(
        !ok && err.contains("40005"),
        "tracking is off for this seller: {out}{err}"
    );

    let logs = n.export(&n.transaction());
    assert_eq!(
        kinds(&logs),
        [
            "select",
            "on_select",
            "init",
            "on_init",
            "confirm",
            "on_confirm",
            "on_status_pending",
            "on_status_packed",
            "on_status_picked",
            "on_status_in_transit",
            "on_status_at_destination_hub",
            "on_status_out_for_delivery",
            "on_status_delivered",
            "status",
            "on_status_delivered_2",
            "track",
            "on_track",
        ]
        .map(String::from),
        "{:?}",
        logs.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    // The track was refused (40005): an error callback is not checked as a certifiable step.
    assert_certifiable(&logs[..logs.len() - 2]);
}

#[tokio::test]
async fn an_order_placed_with_the_buyer_tool_is_delivered_and_its_logs_certify_on_sqlite() {
    an_order_is_delivered(Db::Sqlite).await;
}

#[tokio::test]
async fn an_order_placed_with_the_buyer_tool_is_delivered_and_its_logs_certify_on_postgres() {
    an_order_is_delivered(Db::Postgres).await;
}

async fn the_buyer_cancels(db: Db) {
    let n = network(db).await;
    n.place("E2ECANCEL1", &[(0, 1)]);
    let out = n.buyer(&["cancel", "--reason", "053"]);
    assert!(out.contains("Cancelled"), "{out}");
    let logs = n.export(&n.transaction());
    assert_eq!(kinds(&logs)[6..], ["cancel", "on_cancel"].map(String::from),);
    let order = &logs.last().unwrap().1["message"]["order"];
    assert_eq!(order["state"], "Cancelled");
    assert_eq!(
        money(&order["quote"]["price"]["value"]),
        0,
        "all is refunded before packing"
    );
    assert_certifiable(&logs);
}

#[tokio::test]
async fn a_buyer_cancels_with_the_buyer_tool_and_gets_everything_back_on_sqlite() {
    the_buyer_cancels(Db::Sqlite).await;
}

#[tokio::test]
async fn a_buyer_cancels_with_the_buyer_tool_and_gets_everything_back_on_postgres() {
    the_buyer_cancels(Db::Postgres).await;
}

async fn the_seller_cancels_part(db: Db) {
    let n = network(db).await;
    n.place("E2EPART1", &[(0, 1), (1, 2)]);
    let watcher = n.watch(2);
    n.seller_ok("/orders/E2EPART1/accept", None).await;
    n.seller_ok(
        "/orders/E2EPART1/cancel",
        Some(json!({"reason_code": "002", "item_ids": [n.items[0]]})),
    )
    .await;
    let heard = n.heard(watcher);
    assert_eq!(heard.len(), 2, "{heard:?}");
    let logs = n.export(&n.transaction());
    assert_eq!(
        kinds(&logs)[6..],
        ["on_status_pending", "on_update_part_cancel"].map(String::from),
    );
    let order = &logs.last().unwrap().1["message"]["order"];
    assert_eq!(order["state"], "Accepted", "the rest of the order goes on");
    assert!(trail_sum(order) < 0, "the cancelled item is refunded");
    assert_certifiable(&logs);
}

#[tokio::test]
async fn a_seller_cancels_part_of_an_order_and_the_buyer_tool_hears_it_on_sqlite() {
    the_seller_cancels_part(Db::Sqlite).await;
}

#[tokio::test]
async fn a_seller_cancels_part_of_an_order_and_the_buyer_tool_hears_it_on_postgres() {
    the_seller_cancels_part(Db::Postgres).await;
}

async fn the_delivery_fails(db: Db) {
    let n = network(db).await;
    n.place("E2ERTO1", &[(0, 1)]);
    n.accept_and_move("E2ERTO1", &DELIVERY[..5]).await;
    let watcher = n.watch(2);
    n.seller_ok(
        "/orders/E2ERTO1/state",
        Some(json!({"state": "RTO-Initiated", "reason_code": "013"})),
    )
    .await;
    n.seller_ok(
        "/orders/E2ERTO1/state",
        Some(json!({"state": "RTO-Delivered"})),
    )
    .await;
    let heard = n.heard(watcher);
    assert_eq!(heard.len(), 2, "{heard:?}");
    let logs = n.export(&n.transaction());
    assert_eq!(
        kinds(&logs)[6..],
        [
            "on_status_pending",
            "on_status_packed",
            "on_status_picked",
            "on_status_in_transit",
            "on_status_at_destination_hub",
            "on_status_out_for_delivery",
            "on_cancel",
            "on_status_rto_delivered",
        ]
        .map(String::from),
    );
    assert_eq!(logs[12].1["message"]["order"]["state"], "Cancelled");
    assert_certifiable(&logs);
}

#[tokio::test]
async fn an_undeliverable_order_goes_back_to_the_seller_on_sqlite() {
    the_delivery_fails(Db::Sqlite).await;
}

#[tokio::test]
async fn an_undeliverable_order_goes_back_to_the_seller_on_postgres() {
    the_delivery_fails(Db::Postgres).await;
}

async fn an_item_is_returned(db: Db) {
    let n = network(db).await;
    n.place("E2ERETURN1", &[(0, 2)]);
    n.accept_and_move("E2ERETURN1", &DELIVERY).await;
    let out = n.buyer(&["return", &n.items[0], "--reason", "005"]);
    assert!(out.contains("Return_Initiated"), "{out}");
    let session: Value =
        serde_json::from_slice(&std::fs::read(n.dir.join("session.json")).unwrap()).unwrap();
    let return_id = session["order"]["order"]["fulfillments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "Return")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let watcher = n.watch(3);
    n.seller_ok(
        &format!("/orders/E2ERETURN1/returns/{return_id}/approve"),
        None,
    )
    .await;
    for state in ["Return_Picked", "Return_Delivered"] {
        n.seller_ok(
            &format!("/orders/E2ERETURN1/returns/{return_id}/state"),
            Some(json!({"state": state})),
        )
        .await;
    }
    assert_eq!(n.heard(watcher).len(), 3);
    let logs = n.export(&n.transaction());
    assert_eq!(
        kinds(&logs)[13..],
        [
            "update_reverse_qc",
            "on_update_interim_reverse_qc",
            "on_update_approval",
            "on_update_picked",
            "on_update_delivered",
        ]
        .map(String::from),
    );
    assert!(
        trail_sum(&logs.last().unwrap().1["message"]["order"]) < 0,
        "the return is refunded"
    );
    assert_certifiable(&logs);
}

#[tokio::test]
async fn a_delivered_item_is_returned_with_the_buyer_tool_on_sqlite() {
    an_item_is_returned(Db::Sqlite).await;
}

#[tokio::test]
async fn a_delivered_item_is_returned_with_the_buyer_tool_on_postgres() {
    an_item_is_returned(Db::Postgres).await;
}

#[test]
fn the_buyer_tools_searches_pass_ondcs_search_rules() {
    use haat::buyer::messages::{request, search_message, Route, SearchQuery};
    // RET16's rules carry the fashion category list (RETAIL-DIGEST.md §16.5), so the category
    // search is a RET12 one.
    for (domain, city, query) in [
        (
            "ONDC:RET16",
            "std:080",
            SearchQuery {
                text: Some("terracotta".into()),
                finder_fee_percent: "3".into(),
                ..SearchQuery::default()
            },
        ),
        (
            "ONDC:RET12",
            "std:0542",
            SearchQuery {
                category: Some("Sarees".into()),
                pincode: Some("221001".into()),
                gps: Some("25.3176,82.9739".into()),
                finder_fee_percent: "3".into(),
                ..SearchQuery::default()
            },
        ),
        // Without --city the tool asks every city's sellers.
        (
            "ONDC:RET16",
            "*",
            SearchQuery {
                text: Some("brass".into()),
                finder_fee_percent: "3".into(),
                ..SearchQuery::default()
            },
        ),
    ] {
        let route = Route {
            domain: domain.into(),
            city: city.into(),
            transaction_id: uuid::Uuid::new_v4().to_string(),
            bpp: None,
        };
        let body = request(
            "search",
            &route,
            ("buyer.example.com", "https://buyer.example.com/ondc"),
            search_message(&query),
        );
        let problems = unexpected_rule_problems(domain, "search", &body);
        assert!(problems.is_empty(), "{city}: {problems:#?}");
    }
}
