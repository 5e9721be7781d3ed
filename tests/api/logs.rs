//! `haat logs export`: a real order flow against a running node, exported as certification
//! logs (one file per message, byte for byte) and as an HTTP Archive.

use std::path::{Path, PathBuf};
use std::time::Duration;

use haat::cli::logs::{export_logs, ExportReport, LogExport, LogFormat, LogsError};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::orders::{market, Checkout, Market};

/// Waits until the transaction has callbacks and every one of them was delivered.
async fn all_delivered(m: &Market, transaction: &str) {
    let store = &m.w.app.store;
    let delivered = eventually(Duration::from_secs(10), || async {
        let callbacks = store.callbacks_for_transaction(transaction).await.unwrap();
        !callbacks.is_empty() && callbacks.iter().all(|c| c.state == "delivered")
    })
    .await;
    assert!(
        delivered,
        "every callback of {transaction} reaches the buyer app"
    );
}

/// What the mock buyer app received for a transaction, in arrival order: (action, bytes, Authorization).
fn received_in(m: &Market, transaction: &str) -> Vec<(String, Vec<u8>, String)> {
    m.w.bap
        .received_raw()
        .into_iter()
        .filter(|(_, body, _)| {
            serde_json::from_slice::<Value>(body).unwrap()["context"]["transaction_id"]
                == transaction
        })
        .map(|(path, body, authorization)| {
            (
                path.trim_start_matches('/').to_owned(),
                body,
                authorization.unwrap(),
            )
        })
        .collect()
}

/// A catalogue pull in a transaction of its own: (transaction id, the bytes sent).
async fn catalogue_pull(m: &Market) -> (String, Vec<u8>) {
    let mut body = m.w.buyer.body(
        "search",
        json!({"intent": {"payment": {"@ondc/org/buyer_app_finder_fee_type": "percent",
            "@ondc/org/buyer_app_finder_fee_amount": "3"}}}),
    );
    body["context"]["city"] = json!("*");
    let transaction = body["context"]["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = m.w.app.send(&m.w.buyer, "search", &body).await;
    assert!(answer.is_ack(), "{:?}", answer.body);
    all_delivered(m, &transaction).await;
    (transaction, serde_json::to_vec(&body).unwrap())
}

/// select → init → confirm → accept, a track, the delivery along the hub route, a status.
async fn delivered_order(m: &Market, order_id: &str) -> Checkout {
    let (item, _) = m.items[0].clone();
    let c = Checkout::new();
    c.buy(m, order_id, &[(&item, 2)]).await;
    let (status, body) = m.accept(order_id).await;
    assert_eq!(status, 200, "{body}");
    c.wait_for(m, "on_status", 1).await;
    let id = c.send(m, "track", json!({"order_id": order_id})).await;
    c.answer(m, "on_track", &id).await;
    for step in STEPS {
        let (status, body) = m.move_to(order_id, step).await;
        assert_eq!(status, 200, "{step}: {body}");
    }
    c.wait_for(m, "on_status", 1 + STEPS.len()).await;
    let id = c.send(m, "status", json!({"order_id": order_id})).await;
    c.answer(m, "on_status", &id).await;
    all_delivered(m, &c.transaction_id).await;
    c
}

const STEPS: [&str; 6] = [
    "Packed",
    "Order-picked-up",
    "In-transit",
    "At-destination-hub",
    "Out-for-delivery",
    "Order-delivered",
];

const ORDER_FILES: [&str; 17] = [
    "select",
    "on_select",
    "init",
    "on_init",
    "confirm",
    "on_confirm",
    "on_status_pending",
    "track",
    "on_track",
    "on_status_packed",
    "on_status_picked",
    "on_status_in_transit",
    "on_status_at_destination_hub",
    "on_status_out_for_delivery",
    "on_status_delivered",
    "status",
    "on_status_delivered_2",
];

fn export_request(m: &Market, transaction: &str, out_dir: &Path, format: LogFormat) -> LogExport {
    let settings = &m.w.app.app_state.settings;
    LogExport {
        transaction_id: transaction.to_owned(),
        with_search: None,
        out_dir: out_dir.to_owned(),
        format,
        force: false,
        subscriber_url: settings.subscriber_url.clone(),
        store_name: haat::startup::redact(&settings.database_url),
    }
}

fn new_dir() -> PathBuf {
    temp_path("logs")
}

/// The file names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn numbered(names: &[String]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{:02}_{name}.json", i + 1))
        .collect()
}

async fn an_order_flow_is_exported_in_time_order_byte_for_byte(db: Db) {
    let m = market(db, |_| {}).await;
    let (search_transaction, search_bytes) = catalogue_pull(&m).await;
    let c = delivered_order(&m, "LOG1").await;

    let out = new_dir();
    let mut export = export_request(&m, &c.transaction_id, &out, LogFormat::Json);
    export.with_search = Some(search_transaction.clone());
    let report = export_logs(&m.w.app.store, &export).await.unwrap();

    // The names and their order: the catalogue pull first, then the order as it happened.
    let pages = received_in(&m, &search_transaction);
    assert!(!pages.is_empty());
    let mut expected = vec!["search".to_owned(), "on_search".to_owned()];
    expected.extend((2..=pages.len()).map(|n| format!("on_search_{n}")));
    expected.extend(ORDER_FILES.iter().map(|name| (*name).to_owned()));
    let expected = numbered(&expected);
    assert_eq!(listing(&out), expected);
    let reported: Vec<String> = report
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(reported, expected, "the report lists the files in order");
    assert!(report.not_delivered.is_empty());

    // Each request file holds the bytes the buyer app sent.
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();
    assert_eq!(read("01_search.json"), search_bytes);
    let requests: Vec<&String> = expected
        .iter()
        .skip(1 + pages.len())
        .filter(|name| !name[3..].starts_with("on_"))
        .collect();
    let sent = c.sent.lock();
    assert_eq!(requests.len(), sent.len(), "{requests:?}");
    for (name, (action, bytes)) in requests.iter().zip(sent.iter()) {
        assert!(name[3..].starts_with(action.as_str()), "{name} is {action}");
        assert_eq!(&read(name), bytes, "{name} is the request as sent");
    }

    // Each callback file holds the bytes the buyer app received, in the order it received them.
    let mut page_files: Vec<Vec<u8>> = (0..pages.len()).map(|i| read(&expected[1 + i])).collect();
    let mut page_bodies: Vec<Vec<u8>> = pages.iter().map(|(_, body, _)| body.clone()).collect();
    page_files.sort();
    page_bodies.sort();
    assert_eq!(page_files, page_bodies, "the on_search pages as received");
    let callbacks: Vec<&String> = expected
        .iter()
        .skip(1 + pages.len())
        .filter(|name| name[3..].starts_with("on_"))
        .collect();
    let received = received_in(&m, &c.transaction_id);
    assert_eq!(callbacks.len(), received.len());
    for (name, (action, bytes, _)) in callbacks.iter().zip(&received) {
        assert!(name[3..].starts_with(action.as_str()), "{name} is {action}");
        assert_eq!(&read(name), bytes, "{name} is the callback as received");
    }
}

#[tokio::test]
async fn an_order_flow_is_exported_in_time_order_byte_for_byte_on_sqlite() {
    an_order_flow_is_exported_in_time_order_byte_for_byte(Db::Sqlite).await;
}

#[tokio::test]
async fn an_order_flow_is_exported_in_time_order_byte_for_byte_on_postgres() {
    an_order_flow_is_exported_in_time_order_byte_for_byte(Db::Postgres).await;
}

/// Runs the `haat` binary off the runtime's thread, so the node under test keeps serving.
async fn run_haat(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        haat(&args, &env)
    })
    .await
    .unwrap()
}

async fn the_command_writes_the_files_and_an_archive_with_every_exchange(db: Db) {
    let m = market(db, |_| {}).await;
    let c = confirmed_order(&m).await;
    let settings = &m.w.app.app_state.settings;
    let env = [
        ("HAAT_DATABASE_URL", settings.database_url.as_str()),
        ("HAAT_SUBSCRIBER_URL", settings.subscriber_url.as_str()),
    ];

    // The certification files, through the binary.
    let out = new_dir();
    let out_text = out.display().to_string();
    let (ok, printed, said) = run_haat(
        &[
            "logs",
            "export",
            "--transaction",
            &c.transaction_id,
            "--out",
            &out_text,
        ],
        &env,
    )
    .await;
    assert!(ok, "{said}");
    let files = listing(&out);
    assert_eq!(
        files,
        numbered(
            &[
                "select",
                "on_select",
                "init",
                "on_init",
                "confirm",
                "on_confirm"
            ]
            .map(String::from)
        )
    );
    for file in &files {
        assert!(
            printed.contains(file.as_str()),
            "{file} is listed: {printed}"
        );
    }
    assert!(said.contains("Wrote 6 files"), "{said}");

    // A second export into the same directory is refused, in words, unless forced.
    let (ok, _, said) = run_haat(
        &[
            "logs",
            "export",
            "--transaction",
            &c.transaction_id,
            "--out",
            &out_text,
        ],
        &env,
    )
    .await;
    assert!(!ok);
    assert!(
        said.contains("is not empty") && said.contains("--force"),
        "{said}"
    );
    let (ok, _, said) = run_haat(
        &[
            "logs",
            "export",
            "--transaction",
            &c.transaction_id,
            "--out",
            &out_text,
            "--force",
        ],
        &env,
    )
    .await;
    assert!(ok, "{said}");
    assert_eq!(listing(&out), files);

    // The HTTP Archive: one entry per request and per delivery attempt, with the headers.
    let har_dir = new_dir();
    let har_dir_text = har_dir.display().to_string();
    let (ok, printed, said) = run_haat(
        &[
            "logs",
            "export",
            "--transaction",
            &c.transaction_id,
            "--out",
            &har_dir_text,
            "--format",
            "har",
        ],
        &env,
    )
    .await;
    assert!(ok, "{said}");
    let har_name = format!("{}.har", c.transaction_id);
    assert_eq!(listing(&har_dir), vec![har_name.clone()]);
    assert!(printed.contains(&har_name), "{printed}");
    let har: Value = serde_json::from_slice(&std::fs::read(har_dir.join(&har_name)).unwrap())
        .expect("the archive is JSON");
    assert_eq!(har["log"]["version"], "1.2");
    let entries = har["log"]["entries"].as_array().unwrap();
    let received = received_in(&m, &c.transaction_id);
    assert_eq!(entries.len(), 3 + received.len(), "3 requests, 3 callbacks");
    let header = |entry: &Value, name: &str| {
        entry["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["value"].as_str().unwrap().to_owned())
    };
    let ours =
        m.w.app
            .app_state
            .settings
            .subscriber_url
            .trim_end_matches('/')
            .to_owned();
    let (requests, callbacks): (Vec<&Value>, Vec<&Value>) = entries.iter().partition(|e| {
        e["request"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ours}/"))
    });
    assert_eq!(requests.len(), 3);
    for (entry, (action, bytes)) in requests.iter().zip(c.sent.lock().iter()) {
        assert_eq!(entry["request"]["url"], format!("{ours}/{action}"));
        assert_eq!(entry["request"]["method"], "POST");
        assert!(header(entry, "Authorization")
            .unwrap()
            .contains(&format!("keyId=\"{BUYER_ID}|")));
        assert_eq!(
            entry["request"]["postData"]["text"]
                .as_str()
                .unwrap()
                .as_bytes(),
            bytes.as_slice()
        );
        assert_eq!(entry["response"]["status"], 200);
        let answer: Value =
            serde_json::from_str(entry["response"]["content"]["text"].as_str().unwrap()).unwrap();
        assert_eq!(answer["message"]["ack"]["status"], "ACK");
    }
    for (entry, (action, bytes, authorization)) in callbacks.iter().zip(&received) {
        assert_eq!(entry["request"]["url"], format!("{}/{action}", m.w.bap.url));
        assert_eq!(
            header(entry, "Authorization").as_ref(),
            Some(authorization),
            "the Authorization the buyer app got"
        );
        assert_eq!(
            entry["request"]["postData"]["text"]
                .as_str()
                .unwrap()
                .as_bytes(),
            bytes.as_slice()
        );
        assert_eq!(entry["response"]["status"], 200);
        assert!(entry["response"]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("ACK"));
    }
    for entry in entries {
        let started = entry["startedDateTime"].as_str().unwrap();
        assert!(
            haat::protocol::time::parse_timestamp(started).is_some(),
            "{started}"
        );
        assert!(entry["time"].as_i64().unwrap() >= 0);
    }
}

/// select → init → confirm, nothing after.
async fn confirmed_order(m: &Market) -> Checkout {
    let (item, _) = m.items[0].clone();
    let c = Checkout::new();
    c.buy(m, "LOG2", &[(&item, 1)]).await;
    all_delivered(m, &c.transaction_id).await;
    c
}

#[tokio::test]
async fn the_command_writes_the_files_and_an_archive_with_every_exchange_on_sqlite() {
    the_command_writes_the_files_and_an_archive_with_every_exchange(Db::Sqlite).await;
}

#[tokio::test]
async fn the_command_writes_the_files_and_an_archive_with_every_exchange_on_postgres() {
    the_command_writes_the_files_and_an_archive_with_every_exchange(Db::Postgres).await;
}

#[tokio::test]
async fn an_unknown_transaction_is_refused_in_words_and_nothing_is_written() {
    let database = fresh_database(Db::Sqlite).await;
    let out = new_dir();
    let out_text = out.display().to_string();
    let (ok, printed, said) = haat(
        &[
            "logs",
            "export",
            "--transaction",
            "no-such-transaction",
            "--out",
            &out_text,
        ],
        &[("HAAT_DATABASE_URL", &database)],
    );
    assert!(!ok);
    assert!(printed.is_empty(), "{printed}");
    assert!(
        said.contains(
            "no request or callback of transaction no-such-transaction is in the store at"
        ) && said.contains("haat outbox list"),
        "{said}"
    );
    assert!(!out.exists(), "no directory is made for nothing");

    let (ok, help, _) = haat(&["logs", "export", "--help"], &[]);
    assert!(ok);
    for option in [
        "--transaction",
        "--out",
        "--with-search",
        "--format",
        "--force",
    ] {
        assert!(help.contains(option), "{option}: {help}");
    }
}

#[tokio::test]
async fn a_callback_the_buyer_app_never_took_is_left_out_and_counted() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (item, _) = m.items[0].clone();
    let c = Checkout::new();
    c.select(&m, &[(&item, 1)]).await;
    m.w.bap.set_mode(BapMode::ServerError);
    c.send(
        &m,
        "init",
        c.init_message(&m, &[(&item, 1)], crate::orders::finder_fee("3")),
    )
    .await;
    let store = &m.w.app.store;
    let tried = eventually(Duration::from_secs(10), || async {
        let log = store.transaction_log(&c.transaction_id).await.unwrap();
        log.callbacks
            .iter()
            .any(|cb| cb.action == "on_init" && !cb.attempts.is_empty())
    })
    .await;
    assert!(tried, "the node tries to deliver on_init");

    let out = new_dir();
    let export = export_request(&m, &c.transaction_id, &out, LogFormat::Json);
    let report: ExportReport = export_logs(store, &export).await.unwrap();
    assert_eq!(
        listing(&out),
        numbered(&["select", "on_select", "init"].map(String::from))
    );
    assert_eq!(report.not_delivered.len(), 1);
    assert_eq!(report.not_delivered[0].0, "on_init");
    assert_ne!(report.not_delivered[0].1, "delivered");

    // The archive shows the failed attempts with the buyer app's answer.
    let har_dir = new_dir();
    let export = export_request(&m, &c.transaction_id, &har_dir, LogFormat::Har);
    export_logs(store, &export).await.unwrap();
    let har: Value = serde_json::from_slice(
        &std::fs::read(har_dir.join(format!("{}.har", c.transaction_id))).unwrap(),
    )
    .unwrap();
    let failed: Vec<&Value> = har["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["response"]["status"] == 503)
        .collect();
    assert!(!failed.is_empty(), "{har:#}");
    assert!(failed[0]["comment"].as_str().unwrap().contains("on_init"));

    // Writing into a directory that has files is refused unless forced.
    match export_logs(store, &export).await {
        Err(LogsError::DirectoryNotEmpty(dir)) => assert_eq!(dir, har_dir),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let forced = LogExport {
        force: true,
        ..export
    };
    assert!(export_logs(store, &forced).await.is_ok());
}

#[tokio::test]
async fn part_cancels_updates_and_returns_are_named_after_what_they_carry() {
    let m = market(Db::Sqlite, |_| {}).await;
    let (a, _) = m.items[0].clone();
    let (b, _) = m.items[1].clone();
    let c = Checkout::new();
    c.buy(&m, "RTN1", &[(&a, 2), (&b, 1)]).await;
    m.accept("RTN1").await;
    c.wait_for(&m, "on_status", 1).await;
    let (status, body) = m
        .api(
            "POST",
            "/api/v1/orders/RTN1/cancel",
            Some(json!({"reason_code": "002", "item_ids": [b]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    c.wait_for(&m, "on_update", 1).await;
    let instructions = json!({"update_target": "fulfillment", "order": {"id": "RTN1", "fulfillments": [
        {"id": "F1", "type": "Delivery", "end": {"instructions": {"name": "special_instructions", "short_desc": "ring twice"}}}]}});
    let id = c.send(&m, "update", instructions).await;
    c.answer(&m, "on_update", &id).await;
    for step in STEPS {
        let (status, body) = m.move_to("RTN1", step).await;
        assert_eq!(status, 200, "{step}: {body}");
    }
    c.wait_for(&m, "on_status", 1 + STEPS.len()).await;
    let return_request = json!({"update_target": "item", "order": {"id": "RTN1", "fulfillments": [{"type": "Return", "tags": [
        {"code": "return_request", "list": [{"code": "id", "value": "R1"}, {"code": "item_id", "value": a},
        {"code": "item_quantity", "value": "1"}, {"code": "reason_id", "value": "005"},
        {"code": "reason_desc", "value": "not as shown"}, {"code": "images", "value": "https://buyer.test/r.png"},
        {"code": "ttl_approval", "value": "PT24H"}, {"code": "ttl_reverseqc", "value": "P3D"}]}]}]}});
    let id = c.send(&m, "update", return_request).await;
    c.answer(&m, "on_update", &id).await;
    let (status, body) = m
        .api("POST", "/api/v1/orders/RTN1/returns/R1/approve", None)
        .await;
    assert_eq!(status, 200, "{body}");
    for state in ["Return_Picked", "Return_Delivered"] {
        let (status, body) = m.return_to("RTN1", "R1", state).await;
        assert_eq!(status, 200, "{state}: {body}");
    }
    c.wait_for(&m, "on_update", 6).await;
    all_delivered(&m, &c.transaction_id).await;

    let out = new_dir();
    let export = export_request(&m, &c.transaction_id, &out, LogFormat::Json);
    export_logs(&m.w.app.store, &export).await.unwrap();
    let expected = [
        "select",
        "on_select",
        "init",
        "on_init",
        "confirm",
        "on_confirm",
        "on_status_pending",
        "on_update_part_cancel",
        "update_instructions",
        "on_update_instructions",
        "on_status_packed",
        "on_status_picked",
        "on_status_in_transit",
        "on_status_at_destination_hub",
        "on_status_out_for_delivery",
        "on_status_delivered",
        "update_reverse_qc",
        "on_update_interim_reverse_qc",
        "on_update_approval",
        "on_update_picked",
        "on_update_delivered",
    ]
    .map(String::from);
    assert_eq!(listing(&out), numbered(&expected));
}
