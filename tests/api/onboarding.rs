//! The registry's challenge and site verification, through HTTP, with ONDC's vectors.

use serde_json::{json, Value};

use crate::helpers::*;

fn vectors() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string("protocol/vectors/ondc-crypto-vectors.json").unwrap(),
    )
    .unwrap()
}

/// A node whose key file holds the vector keys.
async fn node_with_vector_keys(overrides: &[(&str, &str)]) -> TestApp {
    let v = vectors();
    let keys_file = temp_path("keys.json");
    std::fs::write(
        &keys_file,
        json!({
            "unique_key_id": "vector-key",
            "signing_private_key": v["keys"]["bpp_signing"]["private_key_b64"],
            "encryption_private_key": v["keys"]["participant_encryption"]["private_key_pkcs8_der_b64"],
        })
        .to_string(),
    )
    .unwrap();
    let registry = MockRegistry::start().await;
    let database = fresh_database(Db::Sqlite).await;
    let keys = keys_file.display().to_string();
    let registry_key = v["keys"]["registry_encryption"]["public_key_spki_der_b64"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut all: Vec<(&str, &str)> = vec![
        ("HAAT_KEYS_FILE", &keys),
        ("HAAT_REGISTRY_ENCRYPTION_KEY", &registry_key),
    ];
    all.extend_from_slice(overrides);
    TestApp::start(test_settings(&database, &registry.url, &all)).await
}

#[tokio::test]
async fn on_subscribe_answers_each_vector_challenge_with_its_plaintext() {
    let v = vectors();
    let app = node_with_vector_keys(&[]).await;
    for case in v["on_subscribe_cases"].as_array().unwrap().iter().take(2) {
        let mut request = case["on_subscribe_request_body"].clone();
        request["subscriber_id"] = json!(SELLER_ID);
        let answer = app
            .post_raw("/on_subscribe", serde_json::to_vec(&request).unwrap(), &[])
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.body, case["expected_response_body"],
            "{}",
            case["id"]
        );
    }
}

#[tokio::test]
async fn on_subscribe_refuses_a_challenge_it_cannot_decrypt() {
    let app = node_with_vector_keys(&[]).await;
    let answer = app
        .post_raw(
            "/on_subscribe",
            br#"{"subscriber_id":"seller.test","challenge":"AAAAAAAAAAAAAAAAAAAAAA=="}"#.to_vec(),
            &[],
        )
        .await;
    assert_eq!(answer.status, 400);
}

#[tokio::test]
async fn the_site_verification_page_carries_the_vector_signature_of_the_request_id() {
    let v = vectors();
    let case = &v["site_verification_cases"][0];
    let request_id = case["request_id"].as_str().unwrap();
    let app = node_with_vector_keys(&[("HAAT_SITE_VERIFICATION_REQUEST_ID", request_id)]).await;
    let response = app
        .http
        .get(format!("{}/ondc-site-verification.html", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    let expected = case["expected_signed_unique_req_id"].as_str().unwrap();
    assert!(
        html.contains(&format!(
            "<meta name='ondc-site-verification' content='{expected}' />"
        )),
        "{html}"
    );
}

#[tokio::test]
async fn the_site_verification_page_signs_the_request_id_of_the_latest_subscribe() {
    let app = node_with_vector_keys(&[]).await;
    let url = format!("{}/ondc-site-verification.html", app.address);
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 404);
    app.store
        .set_value(
            "subscribe.request_id",
            "c0a80101-5e1d-4f2a-9b3c-000000000001",
        )
        .await
        .unwrap();
    let html = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v = vectors();
    assert!(html.contains(
        v["site_verification_cases"][0]["expected_signed_unique_req_id"]
            .as_str()
            .unwrap()
    ));
}
