//! Verifying a signed 1.5 KiB search: Haat's whole path (header parse, BLAKE2b-512 digest,
//! Ed25519 verify, key from the lookup cache) against the raw crates doing the same digest and
//! verification, in the same criterion run.
//!
//!     cargo bench --bench crypto

use std::net::TcpListener;
use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{web, App, HttpResponse, HttpServer};
use blake2::{Blake2b512, Digest};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ed25519_dalek::Signature;
use haat::config::LookupApi;
use haat::metrics::Metrics;
use haat::protocol::keys::KeyPairs;
use haat::protocol::signing::{signing_string, Signer};
use haat::registry::{KeyDirectory, RegistryClient};
use serde_json::json;

/// A realistic search body padded to 1.5 KiB.
fn search_body() -> Vec<u8> {
    let mut body = json!({
        "context": {"domain": "ONDC:RET12", "action": "search", "country": "IND", "city": "std:0542",
            "core_version": "1.2.5", "bap_id": "buyer.example.com", "bap_uri": "https://buyer.example.com/ondc",
            "transaction_id": "3f1c9a52-6b0e-4d7a-8c21-9e4f5a6b7c8d", "message_id": "a7b8c9d0-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
            "timestamp": "2026-11-23T10:00:00.000Z", "ttl": "PT30S"},
        "message": {"intent": {
            "item": {"descriptor": {"name": "banarasi silk saree"}},
            "fulfillment": {"type": "Delivery", "end": {"location": {"gps": "25.317645,82.973915", "address": {"area_code": "221001"}}}},
            "payment": {"@ondc/org/buyer_app_finder_fee_type": "percent", "@ondc/org/buyer_app_finder_fee_amount": "3"},
            "tags": [{"code": "bap_terms", "list": [{"code": "static_terms", "value": ""},
                {"code": "static_terms_new", "value": "https://github.com/ONDC-Official/NP-Static-Terms/buyerNP_BNP/1.0/tc.pdf"},
                {"code": "effective_date", "value": "2026-01-01T00:00:00.000Z"}]}]
        }}
    });
    let mut bytes = serde_json::to_vec(&body).unwrap();
    let pad = 1536usize.saturating_sub(bytes.len() + 20);
    body["message"]["intent"]["tags"][0]["list"][0]["value"] = json!("x".repeat(pad));
    bytes = serde_json::to_vec(&body).unwrap();
    bytes
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let keys = KeyPairs::generate("bench-key");
    let public = keys.signing.verifying_key();
    let signer = Signer::new(keys.signing.clone(), "buyer.example.com", "bench-key");
    let body = search_body();
    let now = chrono::Utc::now().timestamp() as u64;
    let header = signer.authorization(&body, now, now + 3600);

    // A registry with the buyer's key, so the directory's cache is warmed by a real lookup.
    let record = json!([{"subscriber_id": "buyer.example.com", "ukId": "bench-key", "type": "BAP", "status": "SUBSCRIBED",
        "signing_public_key": keys.signing_public_b64(), "valid_until": "2099-01-01T00:00:00.000Z"}]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let registry_url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let record = record.clone();
        App::new().route(
            "/v2.0/lookup",
            web::post().to(move || {
                let record = record.clone();
                async move { HttpResponse::Ok().json(record) }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    runtime.spawn(server);
    let client = RegistryClient::new(
        reqwest::Client::new(),
        &registry_url,
        LookupApi::V2,
        signer.clone(),
    );
    let directory = KeyDirectory::new(
        client,
        Duration::from_secs(3600),
        Duration::from_secs(30),
        Metrics::new(),
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("authorization"),
        HeaderValue::from_str(&header).unwrap(),
    );
    runtime
        .block_on(haat::http::verify::verify(
            &directory,
            &headers,
            &body,
            now + 1,
            5,
        ))
        .expect("the signed search verifies");

    // The raw crates: the digest, the signing string and the strict Ed25519 verification.
    let signature_b64 = header
        .rsplit("signature=\"")
        .next()
        .unwrap()
        .trim_end_matches('"');
    let signature = {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(signature_b64)
            .unwrap();
        Signature::from_slice(&bytes).unwrap()
    };
    let (created, expires) = (now.to_string(), (now + 3600).to_string());

    let mut group = c.benchmark_group("verify a signed 1.5 KiB search");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("raw crates (blake2 + ed25519-dalek)", |b| {
        b.iter(|| {
            use base64::Engine;
            let digest =
                base64::engine::general_purpose::STANDARD.encode(Blake2b512::digest(&body));
            let signing = signing_string(&created, &expires, &digest);
            public
                .verify_strict(signing.as_bytes(), &signature)
                .unwrap();
        })
    });
    group.bench_function("haat (parse, digest, verify, key from cache)", |b| {
        b.to_async(&runtime).iter(|| async {
            haat::http::verify::verify(&directory, &headers, &body, now + 1, 5)
                .await
                .unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
