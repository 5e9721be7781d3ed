//! Scale-out: several `haat serve` processes share one address (SO_REUSEPORT) and one
//! PostgreSQL. Orders go through all of them while one is killed with SIGKILL; no order is
//! lost or confirmed twice, stock stays exact, and every callback reaches the buyer app (a
//! repeat, if the killed process had sent it without recording so, carries the same message_id
//! and the same bytes, which is how ONDC buyer apps recognise one: RETAIL-DIGEST.md §13).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haat::buyer::messages::{self, Buyer as Recipient, Route};
use haat::catalog::model::CatalogFile;
use haat::store::Store;
use serde_json::Value;

use crate::helpers::*;
use crate::orders::ready_to_sell;

const STOCK: i64 = 25;
const CHECKOUTS: usize = 20;

/// Starts a replica and waits until it says it is serving.
fn replica(env: &[(String, String)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_haat"));
    command
        .arg("serve")
        .env("HAAT_LOG", "info")
        .env("HAAT_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("haat serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = lines.any(|line| line.is_ok_and(|l| l.contains("Haat is serving")));
    assert!(serving, "the replica starts serving");
    // Keep draining its log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

fn recipient() -> Recipient {
    Recipient {
        name: "Asha Rao".into(),
        phone: "9876501234".into(),
        email: "asha@example.com".into(),
        building: "12 Lake View".into(),
        locality: "MG Road".into(),
        city: "Bengaluru".into(),
        state: "Karnataka".into(),
        pincode: "560001".into(),
        gps: "12.9716,77.5946".into(),
    }
}

struct Shop {
    address: String,
    buyer: Buyer,
    bap: MockBap,
    provider: String,
    location: String,
    item: String,
}

impl Shop {
    /// Sends a signed request over a new connection (so the kernel may pick either replica),
    /// again with the same bytes while no replica answers (the one that had the connection
    /// was killed); returns its message_id.
    async fn send(&self, body: &Value) -> String {
        let bytes = serde_json::to_vec(body).unwrap();
        let action = body["context"]["action"].as_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let answer = client
                .post(format!("{}/{action}", self.address))
                .header("Authorization", self.buyer.sign(&bytes))
                .header("Content-Type", "application/json")
                .body(bytes.clone())
                .send()
                .await;
            if let Ok(response) = answer {
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                assert_eq!(
                    answer["message"]["ack"]["status"], "ACK",
                    "{action}: {answer}"
                );
                return body["context"]["message_id"].as_str().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "{action} is acknowledged");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first callback answering `message_id`.
    async fn answer(&self, message_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            if let Some((_, body, _)) = self
                .bap
                .received()
                .into_iter()
                .find(|(_, b, _)| b["context"]["message_id"] == message_id)
            {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "the answer to {message_id} arrives"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// select → init → confirm; the on_confirm.
    async fn checkout(&self, order_id: &str) -> Value {
        let route = Route {
            domain: "ONDC:RET16".into(),
            city: "std:080".into(),
            transaction_id: uuid::Uuid::new_v4().to_string(),
            bpp: Some((SELLER_ID.into(), self.address.clone())),
        };
        let bap = (BUYER_ID, self.bap.url.as_str());
        let items = vec![(self.item.clone(), 1)];
        let select = messages::request(
            "select",
            &route,
            bap,
            messages::select_message(&self.provider, &self.location, &items, &recipient()),
        );
        let on_select = self.answer(&self.send(&select).await).await;
        assert!(on_select.get("error").is_none(), "{on_select}");
        let init = messages::request(
            "init",
            &route,
            bap,
            messages::init_message(&on_select, &recipient(), "3").unwrap(),
        );
        let on_init = self.answer(&self.send(&init).await).await;
        assert!(on_init.get("error").is_none(), "{on_init}");
        let confirm = messages::request(
            "confirm",
            &route,
            bap,
            messages::confirm_message(
                &on_select,
                &on_init,
                order_id,
                &recipient(),
                "PAY1",
                "29AAACB1234C1Z5",
            )
            .unwrap(),
        );
        self.answer(&self.send(&confirm).await).await
    }
}

#[tokio::test]
async fn replicas_sharing_postgres_lose_no_order_when_one_is_killed() {
    let bap = MockBap::start().await;
    let (registry, buyer) = registry_knowing_buyer_at(&bap.url).await;
    let database = fresh_database(Db::Postgres).await;

    // One seller, open all hours, with STOCK units of one item.
    let demo: CatalogFile = serde_json::from_str(haat::catalog::import::DEMO).unwrap();
    let mut seller = demo
        .providers
        .into_iter()
        .find(|p| p.items.iter().all(|i| i.domain == "ONDC:RET16"))
        .unwrap();
    ready_to_sell(&mut seller);
    seller.items.truncate(1);
    seller.items[0].stock = STOCK;
    seller.items[0].max_per_order = 5;
    let (provider, location, item) = (
        seller.id.clone(),
        seller.locations[0].id.clone(),
        seller.items[0].id.clone(),
    );
    let store = Store::connect(&database).await.unwrap();
    store
        .import_catalog(
            &CatalogFile {
                about: None,
                providers: vec![seller],
            },
            "test",
        )
        .await
        .unwrap();

    let keys = temp_path("replica-keys.json");
    let (ok, _, error) = haat(&["keys", "generate", "--out", keys.to_str().unwrap()], &[]);
    assert!(ok, "{error}");
    let port = unused_port();
    let env: Vec<(String, String)> = [
        ("HAAT_DATABASE_URL", database.clone()),
        ("HAAT_LISTEN", format!("127.0.0.1:{port}")),
        ("HAAT_REUSE_PORT", "true".into()),
        ("HAAT_SUBSCRIBER_ID", SELLER_ID.into()),
        ("HAAT_SUBSCRIBER_URL", format!("http://127.0.0.1:{port}")),
        ("HAAT_KEYS_FILE", keys.display().to_string()),
        ("HAAT_REGISTRY_URL", registry.url.clone()),
        ("HAAT_CATALOG_LOAD_DEMO", "false".into()),
        ("HAAT_OUTBOX_POLL_MS", "50".into()),
        ("HAAT_OUTBOX_BACKOFF_INITIAL_MS", "100".into()),
        ("HAAT_OUTBOX_BACKOFF_MAX_MS", "400".into()),
        // A short attempt timeout keeps the leases the killed replica held short.
        ("HAAT_OUTBOX_TIMEOUT_MS", "2000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut first = replica(&env);
    let mut second = replica(&env);

    let shop = Arc::new(Shop {
        address: format!("http://127.0.0.1:{port}"),
        buyer,
        bap,
        provider,
        location,
        item,
    });
    let mut flows = Vec::new();
    for n in 0..CHECKOUTS {
        let shop = shop.clone();
        flows.push(tokio::spawn(async move {
            // Spread the checkouts over a second or so, so that the kill finds some of them
            // at every step.
            tokio::time::sleep(Duration::from_millis(40 * n as u64)).await;
            let order_id = format!("SCALE{n}");
            (order_id.clone(), shop.checkout(&order_id).await)
        }));
    }
    // Kill one replica mid-flight: once some orders are confirmed and others are not.
    let started = Instant::now();
    let confirmed_at_kill = loop {
        let confirmed = shop
            .bap
            .received()
            .iter()
            .filter(|(path, _, _)| path == "/on_confirm")
            .count();
        if confirmed >= 3 || started.elapsed() > Duration::from_secs(30) {
            break confirmed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        (1..CHECKOUTS).contains(&confirmed_at_kill),
        "the kill comes mid-flight ({confirmed_at_kill} of {CHECKOUTS} confirmed)"
    );
    first.kill().expect("SIGKILL");
    first.wait().unwrap();

    for flow in flows {
        let (order_id, on_confirm) = flow.await.unwrap();
        assert!(
            on_confirm.get("error").is_none(),
            "{order_id}: {on_confirm}"
        );
        assert_eq!(on_confirm["message"]["order"]["id"], order_id.as_str());
    }
    let orders = store.list_orders(&shop.provider, None, 1000).await.unwrap();
    assert_eq!(
        orders.len(),
        CHECKOUTS,
        "one stored order per checkout, none twice"
    );
    let (_, stock) = store
        .item_doc(&shop.provider, &shop.item)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stock, STOCK - CHECKOUTS as i64, "stock stays exact");

    // Every callback is delivered: those the killed replica held once its leases ran out.
    let all_delivered = eventually(Duration::from_secs(30), || async {
        let outbox = store.list_callbacks(None, 1000).await.unwrap();
        outbox.len() == CHECKOUTS * 3 && outbox.iter().all(|c| c.state == "delivered")
    })
    .await;
    let outbox = store.list_callbacks(None, 1000).await.unwrap();
    assert!(
        all_delivered,
        "one callback per request, each delivered: {:?}",
        outbox
            .iter()
            .map(|c| (c.action.as_str(), c.state.as_str()))
            .collect::<Vec<_>>()
    );
    // The buyer app got each of them; a repeat is the same message, byte for byte.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut by_message: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for (_, body, _) in shop.bap.received_raw() {
        let value: Value = serde_json::from_slice(&body).unwrap();
        let id = value["context"]["message_id"].as_str().unwrap().to_owned();
        by_message.entry(id).or_default().push(body);
    }
    let repeats: usize = by_message.values().map(|copies| copies.len() - 1).sum();
    eprintln!("callbacks repeated after the kill: {repeats}");
    for (id, copies) in &by_message {
        assert!(
            copies.windows(2).all(|w| w[0] == w[1]),
            "{id}: a repeated callback is the same message"
        );
    }
    assert_eq!(
        by_message.len(),
        CHECKOUTS * 3,
        "every select, init and confirm is answered ({repeats} repeats)"
    );
    assert!(
        repeats <= 64,
        "only callbacks in flight at the kill can repeat: {repeats}"
    );
    second.kill().unwrap();
    second.wait().unwrap();
}
