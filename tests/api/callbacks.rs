//! The outbox: signed delivery, retries while the buyer app is down, dead letters after the
//! ttl, NACKs recorded without blind retries, and one delivery per callback with two workers.

use std::collections::HashMap;
use std::time::Duration;

use haat::store::{NewCallback, OutboxState};
use serde_json::json;

use crate::helpers::*;

fn rating() -> serde_json::Value {
    json!({"rating_category": "Provider", "id": "P1", "value": 5})
}

async fn delivered_callback_is_signed_and_echoes_the_request(db: Db) {
    let w = world(db, &[]).await;
    let body = w.buyer.body("support", json!({"ref_id": "O1"}));
    assert!(w.app.send(&w.buyer, "support", &body).await.is_ack());
    assert!(
        eventually(Duration::from_secs(5), || async {
            !w.bap.received().is_empty()
        })
        .await,
        "callback arrives"
    );
    let (path, raw, authorization) = w.bap.received_raw().remove(0);
    assert_eq!(path, "/on_support");
    assert!(
        verify_callback(&raw, authorization.as_deref().unwrap(), &w.app.node_key()),
        "signed by the node"
    );
    let callback: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let (request, answer) = (&body["context"], &callback["context"]);
    assert_eq!(answer["action"], "on_support");
    for field in [
        "domain",
        "country",
        "city",
        "core_version",
        "bap_id",
        "bap_uri",
        "transaction_id",
        "message_id",
    ] {
        assert_eq!(answer[field], request[field], "{field} echoed");
    }
    assert_eq!(answer["bpp_id"], SELLER_ID);
    assert!(answer["timestamp"].as_str().unwrap() > request["timestamp"].as_str().unwrap());
    assert_eq!(
        callback["message"],
        json!({"phone": "9876543210", "email": "help@seller.test"})
    );
    assert!(
        callbacks_reach(
            &w.app.store,
            OutboxState::Delivered,
            1,
            Duration::from_secs(3)
        )
        .await
    );
    // The journal keeps the exact bytes and the header of the attempt.
    let row = &w
        .app
        .store
        .list_callbacks(Some(OutboxState::Delivered), 10)
        .await
        .unwrap()[0];
    assert_eq!(row.body, raw);
    let attempts = w.app.store.attempts_of(row.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(Some(attempts[0].3.as_str()), authorization.as_deref());
}

#[tokio::test]
async fn a_callback_is_delivered_signed_and_echoing_its_request_on_sqlite() {
    delivered_callback_is_signed_and_echoes_the_request(Db::Sqlite).await;
}

#[tokio::test]
async fn a_callback_is_delivered_signed_and_echoing_its_request_on_postgres() {
    delivered_callback_is_signed_and_echoes_the_request(Db::Postgres).await;
}

async fn a_callback_is_retried_until_the_buyer_app_is_back(db: Db) {
    let port = unused_port();
    let (registry, buyer) = registry_knowing_buyer_at(&format!("http://127.0.0.1:{port}")).await;
    let app = TestApp::start(test_settings(&fresh_database(db).await, &registry.url, &[])).await;
    let body = buyer.body("rating", rating());
    assert!(app.send(&buyer, "rating", &body).await.is_ack());
    // Down: connection refused, then 503s, then it answers.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let bap = MockBap::start_on_port(port).await;
    bap.set_mode(BapMode::ServerError);
    tokio::time::sleep(Duration::from_millis(500)).await;
    bap.set_mode(BapMode::Ack);
    assert!(
        callbacks_reach(
            &app.store,
            OutboxState::Delivered,
            1,
            Duration::from_secs(10)
        )
        .await,
        "delivered once the buyer app is back"
    );
    let row = &app.store.list_callbacks(None, 10).await.unwrap()[0];
    assert!(row.attempts >= 3, "retried: {} attempts", row.attempts);
    let outcomes: Vec<String> = app
        .store
        .attempts_of(row.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.1)
        .collect();
    assert_eq!(outcomes.last().map(String::as_str), Some("delivered"));
    assert!(
        outcomes[..outcomes.len() - 1].iter().all(|o| o == "retry"),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_callback_is_retried_until_the_buyer_app_is_back_on_sqlite() {
    a_callback_is_retried_until_the_buyer_app_is_back(Db::Sqlite).await;
}

#[tokio::test]
async fn a_callback_is_retried_until_the_buyer_app_is_back_on_postgres() {
    a_callback_is_retried_until_the_buyer_app_is_back(Db::Postgres).await;
}

async fn a_solicited_callback_is_dead_lettered_when_its_ttl_runs_out(db: Db) {
    let (registry, buyer) =
        registry_knowing_buyer_at(&format!("http://127.0.0.1:{}", unused_port())).await;
    let app = TestApp::start(test_settings(
        &fresh_database(db).await,
        &registry.url,
        &[("HAAT_CLOCK_SKEW_SECS", "0")],
    ))
    .await;
    let mut body = buyer.body("rating", rating());
    body["context"]["ttl"] = json!("PT2S");
    assert!(app.send(&buyer, "rating", &body).await.is_ack());
    assert!(
        callbacks_reach(&app.store, OutboxState::Dead, 1, Duration::from_secs(6)).await,
        "dead-lettered after the ttl"
    );
    let row = &app.store.list_callbacks(None, 10).await.unwrap()[0];
    assert!(row.attempts >= 2);
    assert!(
        row.last_error.as_deref().unwrap().contains("connect"),
        "{:?}",
        row.last_error
    );
}

#[tokio::test]
async fn a_solicited_callback_is_dead_lettered_when_its_ttl_runs_out_on_sqlite() {
    a_solicited_callback_is_dead_lettered_when_its_ttl_runs_out(Db::Sqlite).await;
}

#[tokio::test]
async fn a_solicited_callback_is_dead_lettered_when_its_ttl_runs_out_on_postgres() {
    a_solicited_callback_is_dead_lettered_when_its_ttl_runs_out(Db::Postgres).await;
}

#[tokio::test]
async fn a_nack_from_the_buyer_app_is_recorded_with_its_error_and_not_retried() {
    let w = world(Db::Sqlite, &[]).await;
    w.bap.set_mode(BapMode::Nack);
    let body = w.buyer.body("rating", rating());
    assert!(w.app.send(&w.buyer, "rating", &body).await.is_ack());
    assert!(callbacks_reach(&w.app.store, OutboxState::Nacked, 1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let row = &w.app.store.list_callbacks(None, 10).await.unwrap()[0];
    assert_eq!(row.attempts, 1);
    assert_eq!(row.nack_code.as_deref(), Some("20008"));
    assert_eq!(row.nack_message.as_deref(), Some("out of sequence"));
    assert_eq!(w.bap.received().len(), 1);
}

#[tokio::test]
async fn two_nodes_sharing_postgres_deliver_each_callback_exactly_once() {
    let registry = MockRegistry::start().await;
    let bap = MockBap::start().await;
    let database = fresh_database(Db::Postgres).await;
    let first = TestApp::start(test_settings(&database, &registry.url, &[])).await;
    let second = TestApp::start(test_settings(&database, &registry.url, &[])).await;
    let deadline = haat::store::now_ms() + 60_000;
    let callbacks: Vec<NewCallback> = (0..300)
        .map(|i| NewCallback {
            action: "on_status".into(),
            solicited: false,
            inbound_id: None,
            bap_id: BUYER_ID.into(),
            url: format!("{}/on_status", bap.url),
            transaction_id: uuid::Uuid::new_v4().to_string(),
            message_id: format!("m-{i}"),
            domain: Some("ONDC:RET16".into()),
            body: format!("{{\"n\":{i}}}").into_bytes(),
            deadline_at: deadline,
        })
        .collect();
    for chunk in callbacks.chunks(50) {
        first.store.enqueue_callbacks(chunk).await.unwrap();
        first.app_state.outbox_wakeup.notify_one();
        second.app_state.outbox_wakeup.notify_one();
    }
    assert!(
        callbacks_reach(
            &first.store,
            OutboxState::Delivered,
            300,
            Duration::from_secs(20)
        )
        .await,
        "all delivered"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for (_, body, _) in bap.received_raw() {
        *seen.entry(body).or_default() += 1;
    }
    assert_eq!(seen.len(), 300);
    assert!(
        seen.values().all(|count| *count == 1),
        "a callback was delivered twice"
    );
    let rows = first.store.list_callbacks(None, 1000).await.unwrap();
    assert!(rows.iter().all(|row| row.attempts == 1));
    drop(second);
}
