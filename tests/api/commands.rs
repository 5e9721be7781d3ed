//! The `haat` command line as an operator uses it: help, bad settings, keys, subscribe.

use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::helpers::*;

#[test]
fn every_command_explains_itself_with_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["keys", "generate", "--help"],
        vec!["keys", "show", "--help"],
        vec!["outbox", "list", "--help"],
        vec!["outbox", "retry", "--help"],
        vec!["registry", "subscribe", "--help"],
        vec!["registry", "lookup", "--help"],
        vec!["sellers", "token", "--help"],
        vec!["sellers", "revoke", "--help"],
        vec!["dev", "--help"],
        vec!["logs", "export", "--help"],
        vec!["buyer", "--help"],
        vec!["buyer", "keys", "--help"],
        vec!["buyer", "search", "--help"],
        vec!["buyer", "select", "--help"],
        vec!["buyer", "init", "--help"],
        vec!["buyer", "confirm", "--help"],
        vec!["buyer", "status", "--help"],
        vec!["buyer", "track", "--help"],
        vec!["buyer", "cancel", "--help"],
        vec!["buyer", "return", "--help"],
        vec!["buyer", "watch", "--help"],
    ] {
        let (ok, out, _) = haat(&args, &[]);
        assert!(ok, "{args:?}");
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

#[test]
fn the_buyer_tool_says_which_step_comes_first() {
    let dir = temp_path("buyer-steps");
    let keys = dir.join("buyer-keys.json");
    let session = dir.join("session.json");
    let env = [
        ("HAAT_BUYER_KEYS_FILE", keys.to_str().unwrap()),
        ("HAAT_BUYER_SESSION_FILE", session.to_str().unwrap()),
    ];
    let (ok, _, error) = haat(&["buyer", "search", "saree"], &env);
    assert!(!ok);
    assert!(
        error.contains("no key file") && error.contains("haat buyer keys"),
        "{error}"
    );
    let (ok, shown, error) = haat(&["buyer", "keys"], &env);
    assert!(ok, "{error}");
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["type"], "BAP");
    assert_eq!(shown["subscriber_id"], "buyer.localhost");
    let (ok, _, error) = haat(&["buyer", "select", "1"], &env);
    assert!(!ok);
    assert!(error.contains("haat buyer search"), "{error}");
    let (ok, _, error) = haat(&["buyer", "confirm"], &env);
    assert!(!ok);
    assert!(error.contains("no order in progress"), "{error}");
}

#[test]
fn a_production_node_will_not_start_with_a_development_registry() {
    let (ok, _, error) = haat(
        &["serve"],
        &[
            ("HAAT_PRODUCTION", "true"),
            ("HAAT_REGISTRY_URL", "http://127.0.0.1:8081"),
        ],
    );
    assert!(!ok);
    assert!(
        error.contains("registry_url") && error.contains("real registry"),
        "{error}"
    );
}

#[tokio::test]
async fn a_seller_token_from_the_command_line_opens_the_seller_api_until_revoked() {
    let database = fresh_database(Db::Sqlite).await;
    let env = [("HAAT_DATABASE_URL", database.as_str())];
    let (ok, _, error) = haat(&["sellers", "token", "no-such-seller"], &env);
    assert!(!ok);
    assert!(
        error.contains("no-such-seller") && error.contains("catalog import"),
        "{error}"
    );

    // The demo catalogue is loaded by a node's first start; load it the same way here.
    let store = haat::store::Store::connect(&database).await.unwrap();
    let demo: haat::catalog::model::CatalogFile =
        serde_json::from_str(haat::catalog::import::DEMO).unwrap();
    store.import_catalog(&demo, "demo").await.unwrap();
    let seller = demo.providers[0].id.clone();
    let (ok, token, error) = haat(&["sellers", "token", &seller, "--label", "counter"], &env);
    assert!(ok, "{error}");
    let token = token.trim().to_owned();
    assert!(token.starts_with("haat_") && token.len() > 40, "{token}");
    let hash = haat::http::seller_api::token_hash(&token);
    assert_eq!(
        store.token_provider(&hash).await.unwrap(),
        Some(seller.clone())
    );

    let (ok, said, _) = haat(&["sellers", "revoke", &seller], &env);
    assert!(ok && said.contains("Revoked 1"), "{said}");
    assert_eq!(store.token_provider(&hash).await.unwrap(), None);
}

#[test]
fn a_bad_setting_stops_start_up_with_a_message_naming_it() {
    let (ok, _, error) = haat(&["serve"], &[("HAAT_LISTEN", "everywhere")]);
    assert!(!ok);
    assert!(
        error.contains("HAAT_LISTEN") && error.contains("everywhere"),
        "{error}"
    );
    let (ok, _, error) = haat(&["serve"], &[("HAAT_REGISTRY_URL", "registry.ondc.org")]);
    assert!(!ok);
    assert!(error.contains("HAAT_REGISTRY_URL"), "{error}");
}

#[test]
fn keys_generate_writes_a_key_file_that_keys_show_reads_back() {
    let file = temp_path("node-keys.json");
    let path = file.display().to_string();
    let env = [
        ("HAAT_KEYS_FILE", path.as_str()),
        ("HAAT_SUBSCRIBER_ID", "seller.example.org"),
    ];
    let (ok, said, error) = haat(&["keys", "generate", "--unique-key-id", "ukid-7"], &env);
    assert!(ok, "{error}");
    assert!(
        said.contains("ukid-7") && said.contains("MCowBQYDK2VuAyEA"),
        "{said}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (ok, shown, _) = haat(&["keys", "show"], &env);
    assert!(ok);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["subscriber_id"], "seller.example.org");
    assert_eq!(shown["unique_key_id"], "ukid-7");
    assert_eq!(shown["signing_public_key"].as_str().unwrap().len(), 44);
    assert!(shown["encryption_public_key"]
        .as_str()
        .unwrap()
        .starts_with("MCowBQYDK2VuAyEA"));
    let (ok, _, error) = haat(&["keys", "generate"], &env);
    assert!(
        !ok && error.contains("already exists"),
        "no silent overwrite: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_subscribe_sends_our_keys_and_the_node_signs_its_request_id() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/subscribe", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let sink = sink.clone();
        App::new().route(
            "/subscribe",
            web::post().to(move |body: web::Json<Value>| {
                let sink = sink.clone();
                async move {
                    sink.lock().push(body.into_inner());
                    HttpResponse::Ok().json(json!({"message": {"ack": {"status": "ACK"}}, "error": {"type": null, "code": null}}))
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);

    let entity = temp_path("entity.json");
    std::fs::write(
        &entity,
        json!({"legal_entity_name": "Varanasi Weavers Producer Co", "business_address": "Lallapura, Varanasi 221001",
            "gst_no": "09AAACV1234F1Z5", "name_as_per_pan": "Varanasi Weavers Producer Co", "pan_no": "AAACV1234F",
            "date_of_incorporation": "12/03/2019", "name_of_authorised_signatory": "A. Ansari",
            "address_of_authorised_signatory": "Lallapura, Varanasi", "email_id": "ops@weavers.example",
            "mobile_no": 9876543210u64})
        .to_string(),
    )
    .unwrap();
    let keys = temp_path("keys.json").display().to_string();
    let database = fresh_database(Db::Sqlite).await;
    let entity_path = entity.display().to_string();
    let env = [
        ("HAAT_KEYS_FILE", keys.as_str()),
        ("HAAT_DATABASE_URL", database.as_str()),
        ("HAAT_SUBSCRIBER_ID", "seller.example.org"),
    ];
    let args = [
        "registry",
        "subscribe",
        "--env",
        &url,
        "--city",
        "std:0542",
        "--domain",
        "ONDC:RET12",
        "--entity",
        &entity_path,
    ];
    // The runtime has a second thread to serve the registry mock while this one waits.
    let (ok, said, error) = haat(&args, &env);
    assert!(ok, "{said}\n{error}");
    let sent = received.lock().pop().expect("the registry got the request");
    assert_eq!(sent["context"]["operation"]["ops_no"], 2);
    let entity = &sent["message"]["entity"];
    assert_eq!(entity["subscriber_id"], "seller.example.org");
    assert_eq!(
        sent["message"]["network_participant"][0]["type"],
        "sellerApp"
    );
    assert_eq!(
        sent["message"]["network_participant"][0]["domain"],
        "ONDC:RET12"
    );
    let env = [
        ("HAAT_KEYS_FILE", keys.as_str()),
        ("HAAT_SUBSCRIBER_ID", "seller.example.org"),
    ];
    let (_, shown, _) = haat(&["keys", "show"], &env);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        entity["key_pair"]["signing_public_key"],
        shown["signing_public_key"]
    );
    assert_eq!(
        entity["key_pair"]["encryption_public_key"],
        shown["encryption_public_key"]
    );
    assert_eq!(entity["unique_key_id"], shown["unique_key_id"]);

    // The node now serves the request id of that subscribe, signed with the registered key.
    let registry = MockRegistry::start().await;
    let app = TestApp::start(test_settings(
        &database,
        &registry.url,
        &[("HAAT_KEYS_FILE", &keys)],
    ))
    .await;
    let html = app
        .http
        .get(format!("{}/ondc-site-verification.html", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request_id = sent["message"]["request_id"].as_str().unwrap();
    let signer = haat::protocol::signing::Signer::new(
        app.app_state.key_pairs.signing.clone(),
        "seller.example.org",
        "k",
    );
    assert!(
        html.contains(&signer.sign_plain(request_id.as_bytes())),
        "{html}"
    );

    // A broken entity file is explained, and nothing is sent.
    std::fs::write(&entity_path, json!({"legal_entity_name": "x"}).to_string()).unwrap();
    let args = [
        "registry",
        "subscribe",
        "--env",
        "staging",
        "--city",
        "std:0542",
        "--entity",
        &entity_path,
    ];
    let env = [
        ("HAAT_KEYS_FILE", keys.as_str()),
        ("HAAT_DATABASE_URL", database.as_str()),
    ];
    let (ok, _, error) = haat(&args, &env);
    assert!(!ok && error.contains("entity file"), "{error}");
}
