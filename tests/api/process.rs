//! The real binary: a node killed with SIGKILL after acknowledging a request still delivers
//! its callback after a restart; one stopped with SIGTERM finishes the delivery under way and
//! frees the callbacks it had not sent; `haat outbox` inspects and replays callbacks.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use haat::store::{OutboxState, Store};
use serde_json::json;

use crate::helpers::*;

struct Node {
    child: Child,
    address: String,
}

fn start_node(env: &[(&str, String)]) -> Node {
    let port = unused_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_haat"));
    command
        .arg("serve")
        .env("HAAT_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().expect("the haat binary starts");
    Node {
        child,
        address: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_healthy(node: &Node) {
    let http = reqwest::Client::new();
    let url = format!("{}/health", node.address);
    let up = eventually(Duration::from_secs(20), || {
        let request = http.get(&url).send();
        async move { matches!(request.await, Ok(r) if r.status() == 200) }
    })
    .await;
    assert!(up, "the node answers /health");
}

/// The settings of a node under test: its store, the registry, and its outbox's own.
fn node_env(
    database: &str,
    registry_url: &str,
    outbox: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("HAAT_DATABASE_URL", database.to_owned()),
        ("HAAT_SUBSCRIBER_ID", SELLER_ID.to_owned()),
        (
            "HAAT_KEYS_FILE",
            temp_path("keys.json").display().to_string(),
        ),
        ("HAAT_REGISTRY_URL", registry_url.to_owned()),
        ("HAAT_OUTBOX_POLL_MS", "50".to_owned()),
        ("HAAT_SUPPORT_PHONE", "9876543210".to_owned()),
    ];
    env.extend(
        outbox
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    env
}

/// Sends a buyer's signed support request to the node; it must be acknowledged.
async fn ask_support(node: &Node, buyer: &Buyer, body: &serde_json::Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/support", node.address))
        .header("Authorization", buyer.sign(&bytes))
        .header("Content-Type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

async fn killed_node_delivers_after_restart(db: Db) {
    let bap_port = unused_port();
    let (registry, buyer) =
        registry_knowing_buyer_at(&format!("http://127.0.0.1:{bap_port}")).await;
    let database = fresh_database(db).await;
    let env = node_env(
        &database,
        &registry.url,
        &[
            ("HAAT_OUTBOX_BACKOFF_INITIAL_MS", "100"),
            ("HAAT_OUTBOX_BACKOFF_MAX_MS", "300"),
            // A short attempt timeout keeps the lease of an attempt cut off by the kill short.
            ("HAAT_OUTBOX_TIMEOUT_MS", "2000"),
        ],
    );
    let mut node = start_node(&env);
    wait_healthy(&node).await;
    let body = buyer.body("support", json!({"ref_id": "O1"}));
    ask_support(&node, &buyer, &body).await;
    node.child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    node.child.wait().unwrap();

    let bap = MockBap::start_on_port(bap_port).await;
    let mut restarted = start_node(&env);
    wait_healthy(&restarted).await;
    assert!(
        eventually(Duration::from_secs(25), || async {
            !bap.received().is_empty()
        })
        .await,
        "the acknowledged request's callback arrives after the restart"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = bap.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0, "/on_support");
    assert_eq!(
        received[0].1["context"]["message_id"],
        body["context"]["message_id"]
    );
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
}

#[tokio::test]
async fn a_node_killed_between_ack_and_callback_delivers_after_restart_on_sqlite() {
    killed_node_delivers_after_restart(Db::Sqlite).await;
}

#[tokio::test]
async fn a_node_killed_between_ack_and_callback_delivers_after_restart_on_postgres() {
    killed_node_delivers_after_restart(Db::Postgres).await;
}

/// Callbacks of the store whose lease some worker holds.
async fn leases_held(database: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM outbox WHERE lease_owner IS NOT NULL";
    if database.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(database).await.unwrap();
        let held = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        held
    } else {
        let pool = sqlx::SqlitePool::connect(database).await.unwrap();
        let held = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        held
    }
}

async fn stopped_node_finishes_its_delivery_and_leaves_the_rest(db: Db) {
    // A buyer app that takes 1.5 s to answer, and a node that delivers one callback at a time:
    // the first callback is under way when the node is told to stop, the second waits.
    let bap = MockBap::start().await;
    bap.set_mode(BapMode::SlowAck(Duration::from_millis(1500)));
    let (registry, buyer) = registry_knowing_buyer_at(&bap.url).await;
    let database = fresh_database(db).await;
    let env = node_env(
        &database,
        &registry.url,
        &[
            ("HAAT_OUTBOX_CONCURRENCY", "1"),
            // A lease lasts an attempt's timeout and 5 s more: 10 s here.
            ("HAAT_OUTBOX_TIMEOUT_MS", "5000"),
        ],
    );
    let mut node = start_node(&env);
    wait_healthy(&node).await;
    let mut message_ids = Vec::new();
    for order in ["O1", "O2"] {
        let body = buyer.body("support", json!({"ref_id": order}));
        message_ids.push(body["context"]["message_id"].as_str().unwrap().to_owned());
        ask_support(&node, &buyer, &body).await;
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            bap.received().len() == 1
        })
        .await,
        "the first callback is under way"
    );

    let stopped_at = std::time::Instant::now();
    let signal = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signal.success());
    let status = loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(20),
            "the node stops within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "a stop on SIGTERM is a clean exit: {status}"
    );

    let store = Store::connect(&database).await.unwrap();
    let callbacks = store.list_callbacks(None, 10).await.unwrap();
    assert_eq!(callbacks.len(), 2);
    // The two requests are processed side by side: either callback may be the first out.
    let first_out = bap.received()[0].1["context"]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let left = message_ids
        .iter()
        .find(|m| **m != first_out)
        .unwrap()
        .clone();
    let state_of = |message_id: &str| {
        let row = callbacks
            .iter()
            .find(|c| c.message_id == message_id)
            .unwrap();
        (row.state.clone(), row.attempts)
    };
    assert_eq!(
        state_of(&first_out),
        ("delivered".to_owned(), 1),
        "the delivery under way ended and was recorded before the node exited"
    );
    assert_eq!(state_of(&left).0, "pending");
    store.close().await;
    assert_eq!(
        leases_held(&database).await,
        0,
        "the node gave up the lease of the callback it did not send"
    );
    assert_eq!(bap.received().len(), 1);

    // Restarted, the node sends the second callback at once, not after its lease would have
    // run out (10 s).
    bap.set_mode(BapMode::Ack);
    let mut restarted = start_node(&env);
    wait_healthy(&restarted).await;
    assert!(
        eventually(Duration::from_secs(4), || async {
            bap.received().len() == 2
        })
        .await,
        "the callback left by the stopped node goes out within 4 s of the restart"
    );
    let received: Vec<String> = bap
        .received()
        .iter()
        .map(|(_, body, _)| body["context"]["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(received, [first_out, left], "each callback once");
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
}

#[tokio::test]
async fn a_node_stopped_with_sigterm_finishes_the_delivery_under_way_and_frees_the_rest_on_sqlite()
{
    stopped_node_finishes_its_delivery_and_leaves_the_rest(Db::Sqlite).await;
}

#[tokio::test]
async fn a_node_stopped_with_sigterm_finishes_the_delivery_under_way_and_frees_the_rest_on_postgres(
) {
    stopped_node_finishes_its_delivery_and_leaves_the_rest(Db::Postgres).await;
}

#[tokio::test]
async fn outbox_list_shows_a_dead_letter_and_outbox_retry_sends_it_again() {
    let bap_port = unused_port();
    let (registry, buyer) =
        registry_knowing_buyer_at(&format!("http://127.0.0.1:{bap_port}")).await;
    let database = fresh_database(Db::Sqlite).await;
    let app = TestApp::start(test_settings(
        &database,
        &registry.url,
        &[("HAAT_CLOCK_SKEW_SECS", "0")],
    ))
    .await;
    let mut body = buyer.body(
        "rating",
        json!({"rating_category": "Item", "id": "I1", "value": 3}),
    );
    body["context"]["ttl"] = json!("PT1S");
    assert!(app.send(&buyer, "rating", &body).await.is_ack());
    assert!(callbacks_reach(&app.store, OutboxState::Dead, 1, Duration::from_secs(5)).await);
    let haat = |args: &[&str]| haat(args, &[("HAAT_DATABASE_URL", database.as_str())]);
    let (ok, listed, _) = haat(&["outbox", "list", "--state", "dead", "--json"]);
    assert!(ok);
    let row: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(row["action"], "on_rating");
    assert_eq!(row["state"], "dead");
    let id = row["id"].as_i64().unwrap().to_string();

    let (ok, _, error) = haat(&["outbox", "list", "--state", "lost"]);
    assert!(!ok && error.contains("not a callback state"), "{error}");

    let bap = MockBap::start_on_port(bap_port).await;
    let (ok, said, error) = haat(&["outbox", "retry", &id]);
    assert!(ok, "{error}");
    assert!(said.contains("queued again"), "{said}");
    assert!(
        eventually(Duration::from_secs(5), || async {
            bap.received().len() == 1
        })
        .await,
        "replayed"
    );
    let (ok, _, error) = haat(&["outbox", "retry", "999999"]);
    assert!(!ok && error.contains("no callback 999999"), "{error}");
    drop(Store::connect(&database).await.unwrap());
}
