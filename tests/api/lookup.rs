//! The registry lookup cache: one call per key, expiry, rotation, and never trusting an
//! expired or unsubscribed entry.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

fn rating() -> serde_json::Value {
    json!({"rating_category": "Order", "id": "O1", "value": 5})
}

#[tokio::test]
async fn many_requests_from_one_buyer_app_make_one_registry_call() {
    let w = world(Db::Sqlite, &[]).await;
    for _ in 0..5 {
        let body = w.buyer.body("rating", rating());
        assert!(w.app.send(&w.buyer, "rating", &body).await.is_ack());
    }
    assert_eq!(w.registry.calls(), 1);
}

#[tokio::test]
async fn concurrent_first_requests_share_one_registry_call() {
    let w = world(Db::Sqlite, &[]).await;
    w.registry.state.delay_ms.store(300, Ordering::SeqCst);
    let sends = (0..8).map(|_| {
        let body = w.buyer.body("rating", rating());
        let app = &w.app;
        let buyer = &w.buyer;
        async move { app.send(buyer, "rating", &body).await }
    });
    let answers = futures_util::future::join_all(sends).await;
    assert!(answers.iter().all(|a| a.is_ack()));
    assert_eq!(w.registry.calls(), 1);
}

#[tokio::test]
async fn a_cached_key_is_looked_up_again_once_its_cache_time_is_over() {
    let w = world(Db::Sqlite, &[("HAAT_LOOKUP_CACHE_SECS", "1")]).await;
    let body = w.buyer.body("rating", rating());
    assert!(w.app.send(&w.buyer, "rating", &body).await.is_ack());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let body = w.buyer.body("rating", rating());
    assert!(w.app.send(&w.buyer, "rating", &body).await.is_ack());
    assert_eq!(w.registry.calls(), 2);
}

#[tokio::test]
async fn a_key_is_cached_no_longer_than_its_valid_until() {
    let w = world(Db::Sqlite, &[]).await;
    let until = haat::protocol::time::format_timestamp(
        chrono::Utc::now() + chrono::Duration::milliseconds(1500),
    );
    w.registry.register(
        BUYER_ID,
        BUYER_UKID,
        "BAP",
        &w.buyer.key,
        &until,
        "SUBSCRIBED",
    );
    let body = w.buyer.body("rating", rating());
    assert!(w.app.send(&w.buyer, "rating", &body).await.is_ack());
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let body = w.buyer.body("rating", rating());
    let answer = w.app.send(&w.buyer, "rating", &body).await;
    assert_eq!(
        (answer.status, answer.code()),
        (401, Some("30016")),
        "the expired key is not trusted"
    );
    assert_eq!(w.registry.calls(), 2);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_with_one_fresh_lookup() {
    let mut w = world(Db::Sqlite, &[]).await;
    let body = w.buyer.body("rating", rating());
    assert!(w.app.send(&w.buyer, "rating", &body).await.is_ack());
    // The buyer app rotates its key under the same unique_key_id.
    let rotated = haat::protocol::keys::KeyPairs::generate(BUYER_UKID);
    w.registry.register(
        BUYER_ID,
        BUYER_UKID,
        "BAP",
        &rotated.signing,
        "2099-01-01T00:00:00.000Z",
        "SUBSCRIBED",
    );
    w.buyer.signer =
        haat::protocol::signing::Signer::new(rotated.signing.clone(), BUYER_ID, BUYER_UKID);
    w.buyer.key = rotated.signing;
    let body = w.buyer.body("rating", rating());
    assert!(w.app.send(&w.buyer, "rating", &body).await.is_ack());
    assert_eq!(w.registry.calls(), 2);
}

#[tokio::test]
async fn an_unsubscribed_or_expired_entry_is_never_trusted() {
    for (status, until) in [
        ("UNSUBSCRIBED", "2099-01-01T00:00:00.000Z"),
        ("SUBSCRIBED", "2021-01-01T00:00:00.000Z"),
    ] {
        let w = world(Db::Sqlite, &[]).await;
        w.registry
            .register(BUYER_ID, BUYER_UKID, "BAP", &w.buyer.key, until, status);
        let body = w.buyer.body("rating", rating());
        let answer = w.app.send(&w.buyer, "rating", &body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, Some("30016")),
            "{status} {until}"
        );
    }
}

#[tokio::test]
async fn an_unknown_signer_is_refused_and_a_registry_outage_asks_to_retry() {
    let w = world(Db::Sqlite, &[]).await;
    w.registry.state.records.lock().clear();
    let body = w.buyer.body("rating", rating());
    let answer = w.app.send(&w.buyer, "rating", &body).await;
    assert_eq!((answer.status, answer.code()), (401, Some("30016")));

    let w = world(Db::Sqlite, &[]).await;
    w.registry.state.down.store(true, Ordering::SeqCst);
    let body = w.buyer.body("rating", rating());
    let answer = w.app.send(&w.buyer, "rating", &body).await;
    assert_eq!((answer.status, answer.code()), (503, Some("31001")));
    // The outage is not remembered: once the registry is back, the same buyer is served.
    w.registry.state.down.store(false, Ordering::SeqCst);
    let body = w.buyer.body("rating", rating());
    assert!(w.app.send(&w.buyer, "rating", &body).await.is_ack());
}
