//! The real binary: a node killed with SIGKILL after acknowledging a request still delivers
//! its callback after a restart, and `haat outbox` inspects and replays callbacks.

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

async fn killed_node_delivers_after_restart(db: Db) {
    let bap_port = unused_port();
    let (registry, buyer) =
        registry_knowing_buyer_at(&format!("http://127.0.0.1:{bap_port}")).await;
    let database = fresh_database(db).await;
    let env = vec![
        ("HAAT_DATABASE_URL", database.clone()),
        ("HAAT_SUBSCRIBER_ID", SELLER_ID.to_owned()),
        (
            "HAAT_KEYS_FILE",
            temp_path("keys.json").display().to_string(),
        ),
        ("HAAT_REGISTRY_URL", registry.url.clone()),
        ("HAAT_OUTBOX_POLL_MS", "50".to_owned()),
        ("HAAT_OUTBOX_BACKOFF_INITIAL_MS", "100".to_owned()),
        ("HAAT_OUTBOX_BACKOFF_MAX_MS", "300".to_owned()),
        ("HAAT_SUPPORT_PHONE", "9876543210".to_owned()),
        // A short attempt timeout keeps the lease of an attempt cut off by the kill short.
        ("HAAT_OUTBOX_TIMEOUT_MS", "2000".to_owned()),
    ];
    let mut node = start_node(&env);
    wait_healthy(&node).await;
    let body = buyer.body("support", json!({"ref_id": "O1"}));
    let bytes = serde_json::to_vec(&body).unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/support", node.address))
        .header("Authorization", buyer.sign(&bytes))
        .header("Content-Type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
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
