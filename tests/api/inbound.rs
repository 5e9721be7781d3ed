//! Inbound requests: every check before business logic, with the NACK and code each gets.

use serde_json::{json, Value};

use crate::helpers::*;

fn rating() -> Value {
    json!({"rating_category": "Order", "id": "O1", "value": 4})
}

async fn a_valid_request_is_journaled_with_its_exact_bytes(db: Db) {
    let w = world(db, &[]).await;
    let body = w.buyer.body("rating", rating());
    let bytes = serde_json::to_vec_pretty(&body).unwrap();
    let authorization = w.buyer.sign(&bytes);
    let answer = w
        .app
        .post_raw(
            "/rating",
            bytes.clone(),
            &[("Authorization", authorization.clone())],
        )
        .await;
    assert_eq!(answer.status, 200);
    assert!(answer.is_ack(), "{:?}", answer.body);
    let journal = w
        .app
        .store
        .inbound_for_transaction(body["context"]["transaction_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].body, bytes);
    assert_eq!(
        journal[0].authorization.as_deref(),
        Some(authorization.as_str())
    );
    assert_eq!(journal[0].bap_id, BUYER_ID);
    assert_eq!(journal[0].response_status, 200);
}

#[tokio::test]
async fn a_request_without_authorization_gets_401_with_a_challenge_and_code_30016() {
    let w = world(Db::Sqlite, &[]).await;
    let bytes = serde_json::to_vec(&w.buyer.body("rating", rating())).unwrap();
    let answer = w.app.post_raw("/rating", bytes, &[]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.code(), Some("30016"));
    assert_eq!(answer.body["message"]["ack"]["status"], "NACK");
    let challenge = answer
        .headers
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(
        challenge,
        "Signature realm=\"seller.test\",headers=\"(created) (expires) digest\""
    );
}

#[tokio::test]
async fn a_tampered_body_is_refused_with_30016() {
    let w = world(Db::Sqlite, &[]).await;
    let bytes = serde_json::to_vec(&w.buyer.body("rating", rating())).unwrap();
    let authorization = w.buyer.sign(&bytes);
    let mut tampered = bytes.clone();
    tampered.push(b' ');
    let answer = w
        .app
        .post_raw("/rating", tampered, &[("Authorization", authorization)])
        .await;
    assert_eq!((answer.status, answer.code()), (401, Some("30016")));
}

#[tokio::test]
async fn an_expired_or_future_signature_is_refused_with_30016() {
    let w = world(Db::Sqlite, &[]).await;
    let bytes = serde_json::to_vec(&w.buyer.body("rating", rating())).unwrap();
    let now = chrono::Utc::now().timestamp() as u64;
    for (created, expires) in [(now - 600, now - 300), (now + 60, now + 360)] {
        let authorization = w.buyer.signer.authorization(&bytes, created, expires);
        let answer = w
            .app
            .post_raw(
                "/rating",
                bytes.clone(),
                &[("Authorization", authorization)],
            )
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, Some("30016")),
            "{created}..{expires}"
        );
    }
}

#[tokio::test]
async fn a_request_signed_by_someone_other_than_its_bap_id_is_refused() {
    let w = world(Db::Sqlite, &[]).await;
    let other = haat::protocol::keys::KeyPairs::generate("other-1");
    w.registry.register(
        "other.test",
        "other-1",
        "BAP",
        &other.signing,
        "2099-01-01T00:00:00.000Z",
        "SUBSCRIBED",
    );
    let signer =
        haat::protocol::signing::Signer::new(other.signing.clone(), "other.test", "other-1");
    let now = chrono::Utc::now().timestamp() as u64;
    let bytes = serde_json::to_vec(&w.buyer.body("rating", rating())).unwrap();
    let answer = w
        .app
        .post_raw(
            "/rating",
            bytes.clone(),
            &[("Authorization", signer.authorization(&bytes, now, now + 60))],
        )
        .await;
    assert_eq!((answer.status, answer.code()), (401, Some("30016")));
    assert!(answer.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("other.test"));
}

#[tokio::test]
async fn a_gateway_signature_is_verified_as_the_gateways_and_a_bad_one_gets_proxy_authenticate() {
    let w = world(Db::Sqlite, &[]).await;
    let gateway = haat::protocol::keys::KeyPairs::generate(GATEWAY_UKID);
    w.registry.register(
        GATEWAY_ID,
        GATEWAY_UKID,
        "BG",
        &gateway.signing,
        "2099-01-01T00:00:00.000Z",
        "SUBSCRIBED",
    );
    let gateway_signer =
        haat::protocol::signing::Signer::new(gateway.signing.clone(), GATEWAY_ID, GATEWAY_UKID);
    let now = chrono::Utc::now().timestamp() as u64;

    let bytes = serde_json::to_vec(&w.buyer.body("rating", rating())).unwrap();
    let headers = [
        ("Authorization", w.buyer.sign(&bytes)),
        (
            "X-Gateway-Authorization",
            gateway_signer.authorization(&bytes, now, now + 60),
        ),
    ];
    let answer = w.app.post_raw("/rating", bytes, &headers).await;
    assert!(answer.is_ack(), "{:?}", answer.body);

    // The older Proxy-Authorization name, signed over other bytes: refused.
    let bytes = serde_json::to_vec(&w.buyer.body("rating", rating())).unwrap();
    let headers = [
        ("Authorization", w.buyer.sign(&bytes)),
        (
            "Proxy-Authorization",
            gateway_signer.authorization(b"{}", now, now + 60),
        ),
    ];
    let answer = w.app.post_raw("/rating", bytes, &headers).await;
    assert_eq!((answer.status, answer.code()), (401, Some("30016")));
    assert!(answer.headers.get("proxy-authenticate").is_some());

    // A buyer app's key in the gateway header: refused, it is not a gateway.
    let bytes = serde_json::to_vec(&w.buyer.body("rating", rating())).unwrap();
    let headers = [
        ("Authorization", w.buyer.sign(&bytes)),
        ("X-Gateway-Authorization", w.buyer.sign(&bytes)),
    ];
    let answer = w.app.post_raw("/rating", bytes, &headers).await;
    assert_eq!((answer.status, answer.code()), (401, Some("30016")));
}

#[tokio::test]
async fn malformed_json_gets_a_schema_nack_and_never_a_500() {
    let w = world(Db::Sqlite, &[]).await;
    for bytes in [
        b"{\"context\": ".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        vec![0xff, 0xfe],
    ] {
        let authorization = w.buyer.sign(&bytes);
        let answer = w
            .app
            .post_raw("/search", bytes, &[("Authorization", authorization)])
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.code(), Some("30000"));
        assert!(!answer.is_ack());
    }
}

#[tokio::test]
async fn a_schema_violation_is_nacked_with_the_path_of_the_bad_field() {
    let w = world(Db::Sqlite, &[]).await;
    let body = w.buyer.body(
        "search",
        json!({"intent": {"fulfillment": {"type": "Teleport"}}}),
    );
    let answer = w.app.send(&w.buyer, "search", &body).await;
    assert_eq!(answer.code(), Some("30000"));
    assert_eq!(answer.body["error"]["type"], "JSON-SCHEMA-ERROR");
    assert_eq!(answer.path(), Some("message.intent.fulfillment.type"));
}

#[tokio::test]
async fn each_context_error_is_nacked_with_its_code_and_path() {
    let w = world(Db::Sqlite, &[]).await;
    let stale =
        haat::protocol::time::format_timestamp(chrono::Utc::now() - chrono::Duration::seconds(120));
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("action", json!("select"), "30000", "context.action"),
        (
            "core_version",
            json!("9.9.9"),
            "30000",
            "context.core_version",
        ),
        (
            "transaction_id",
            json!("txn-1"),
            "30000",
            "context.transaction_id",
        ),
        (
            "message_id",
            json!("not-a-uuid"),
            "30000",
            "context.message_id",
        ),
        ("domain", json!("ONDC:RET14"), "30000", "context.domain"),
        ("timestamp", json!(stale), "30022", "context.timestamp"),
    ];
    for (field, value, code, path) in cases {
        let mut body = w.buyer.body("rating", rating());
        body["context"][field] = value;
        let answer = w.app.send(&w.buyer, "rating", &body).await;
        assert_eq!(answer.status, 200, "{field}");
        assert_eq!(answer.code(), Some(code), "{field}: {:?}", answer.body);
        assert_eq!(answer.path(), Some(path), "{field}");
        assert_eq!(answer.body["error"]["type"], "CONTEXT-ERROR", "{field}");
    }
    let mut body = w.buyer.body("rating", rating());
    body["context"]["message_id"] = body["context"]["transaction_id"].clone();
    let answer = w.app.send(&w.buyer, "rating", &body).await;
    assert_eq!(
        (answer.code(), answer.path()),
        (Some("30000"), Some("context.message_id"))
    );
}

async fn a_replay_gets_the_first_answer(db: Db) {
    let w = world(db, &[]).await;
    let body = w.buyer.body("rating", rating());
    let first = w.app.send(&w.buyer, "rating", &body).await;
    let second = w.app.send(&w.buyer, "rating", &body).await;
    assert!(first.is_ack() && second.is_ack());
    assert_journaled_and_answered_once(&w, &body).await;

    // A request refused the first time is refused the same way again.
    let mut refused = w.buyer.body("rating", rating());
    refused["context"]["core_version"] = json!("0.1");
    let first = w.app.send(&w.buyer, "rating", &refused).await;
    refused["context"]["core_version"] = json!("1.2.5");
    let second = w.app.send(&w.buyer, "rating", &refused).await;
    assert_eq!(first.body, second.body);
    assert_eq!(second.code(), Some("30000"));
}

#[tokio::test]
async fn a_body_over_the_size_cap_gets_413_with_a_clear_message() {
    let w = world(Db::Sqlite, &[("HAAT_MAX_BODY_BYTES", "2048")]).await;
    let body = w.buyer.body(
        "rating",
        json!({"rating_category": "Order", "id": "x".repeat(4000), "value": 4}),
    );
    let answer = w.app.send(&w.buyer, "rating", &body).await;
    assert_eq!(answer.status, 413);
    assert!(answer.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2048 bytes"));
}

#[tokio::test]
async fn an_action_a_seller_node_does_not_serve_gets_404() {
    let w = world(Db::Sqlite, &[]).await;
    let body = w.buyer.body("on_search", json!({}));
    let answer = w.app.send(&w.buyer, "on_search", &body).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.code(), Some("30000"));
}

#[tokio::test]
async fn every_bpp_action_is_served_and_answered_with_the_business_error_it_deserves() {
    let w = world(Db::Sqlite, &[]).await;
    // Requests about things that do not exist: each is acknowledged, then answered with the
    // ONDC code for what is missing.
    let messages = [
        (
            "select",
            json!({"order": {"provider": {"id": "P1"}, "items": [{"id": "I1", "quantity": {"count": 1}}]}}),
            "30001",
        ),
        (
            "init",
            json!({"order": {"provider": {"id": "P1"}, "items": [{"id": "I1", "quantity": {"count": 1}}]}}),
            "30001",
        ),
        (
            "confirm",
            json!({"order": {"id": "O1", "provider": {"id": "P1"}, "items": [{"id": "I1", "quantity": {"count": 1}}]}}),
            "31002",
        ),
        ("status", json!({"order_id": "O1"}), "30018"),
        ("track", json!({"order_id": "O1"}), "30018"),
        (
            "cancel",
            json!({"order_id": "O1", "cancellation_reason_id": "052"}),
            "30018",
        ),
        (
            "update",
            json!({"update_target": "item", "order": {"id": "O1"}}),
            "30018",
        ),
        ("issue_status", json!({"issue_id": "I1"}), "40000"),
    ];
    for (action, message, code) in messages {
        let body = w.buyer.body(action, message);
        let answer = w.app.send(&w.buyer, action, &body).await;
        assert!(answer.is_ack(), "{action}: {:?}", answer.body);
        let message_id = body["context"]["message_id"].as_str().unwrap().to_owned();
        let callback = format!("/on_{action}");
        let bap = &w.bap;
        let answered = eventually(std::time::Duration::from_secs(5), || {
            let found = bap.received().into_iter().any(|(path, body, _)| {
                path == callback
                    && body["context"]["message_id"] == message_id
                    && body["error"]["code"] == code
            });
            async move { found }
        })
        .await;
        assert!(answered, "{action} is answered with error {code}");
    }
    // A catalogue rejection has no callback: it is recorded for the seller.
    let body = w.buyer.body(
        "catalog_rejection",
        json!({"errors": [{"code": "91001", "type": "ITEM-ERROR", "path": "x", "message": "price"}]}),
    );
    assert!(w
        .app
        .send(&w.buyer, "catalog_rejection", &body)
        .await
        .is_ack());
    let transaction = body["context"]["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = w.app.store.clone();
    assert!(
        eventually(std::time::Duration::from_secs(5), || {
            let store = store.clone();
            let transaction = transaction.clone();
            async move {
                store.inbound_for_transaction(&transaction).await.unwrap()[0].state == "unhandled"
            }
        })
        .await,
        "catalog_rejection is recorded"
    );
}

#[tokio::test]
async fn health_and_metrics_report_the_node() {
    let w = world(Db::Sqlite, &[]).await;
    let body = w.buyer.body("rating", rating());
    w.app.send(&w.buyer, "rating", &body).await;
    let mut stale = w.buyer.body("rating", rating());
    stale["context"]["timestamp"] = json!("2020-01-01T00:00:00.000Z");
    w.app.send(&w.buyer, "rating", &stale).await;
    let unsigned = serde_json::to_vec(&w.buyer.body("rating", rating())).unwrap();
    w.app.post_raw("/rating", unsigned, &[]).await;
    let health = w
        .app
        .http
        .get(format!("{}/health", w.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = w
        .app
        .http
        .get(format!("{}/metrics", w.app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("haat_requests_total{action=\"rating\",outcome=\"ack\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("haat_lookup_cache_total{result=\"miss\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("haat_nacks_total{code=\"30022\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("haat_nacks_total{code=\"30016\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_valid_signed_request_is_acknowledged_and_journaled_with_its_exact_bytes_on_sqlite() {
    a_valid_request_is_journaled_with_its_exact_bytes(Db::Sqlite).await;
}

#[tokio::test]
async fn a_valid_signed_request_is_acknowledged_and_journaled_with_its_exact_bytes_on_postgres() {
    a_valid_request_is_journaled_with_its_exact_bytes(Db::Postgres).await;
}

#[tokio::test]
async fn a_replayed_request_is_not_processed_twice_and_gets_the_first_answer_on_sqlite() {
    a_replay_gets_the_first_answer(Db::Sqlite).await;
}

#[tokio::test]
async fn a_replayed_request_is_not_processed_twice_and_gets_the_first_answer_on_postgres() {
    a_replay_gets_the_first_answer(Db::Postgres).await;
}

#[tokio::test]
async fn concurrent_copies_of_one_request_are_journaled_once_on_postgres() {
    let w = world(Db::Postgres, &[]).await;
    let body = w.buyer.body("rating", rating());
    let sends = (0..6).map(|_| w.app.send(&w.buyer, "rating", &body));
    let answers = futures_util::future::join_all(sends).await;
    assert!(answers.iter().all(|a| a.is_ack()));
    assert_journaled_and_answered_once(&w, &body).await;
}

/// The request is journaled once and answered with exactly one callback.
async fn assert_journaled_and_answered_once(w: &World, body: &Value) {
    let transaction = body["context"]["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        w.app
            .store
            .inbound_for_transaction(&transaction)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        eventually(std::time::Duration::from_secs(5), || async {
            !w.bap.received().is_empty()
        })
        .await
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.bap.received().len(), 1, "one callback for one request");
}
