//! Order-flow harness: drives a real `haat serve` process the way buyer apps do (signed
//! select → on_select → init → on_init → confirm → on_confirm) and measures the two speed
//! goals of the orders feature:
//!
//! 1. **select round trip** (`--mode select-latency`): from sending a signed `/select` until
//!    the node's signed `on_select` arrives at this harness's callback listener (matched by
//!    `context.message_id`), at low concurrency (`--select-concurrency 1,8`); median, p90, p99.
//!    Goal: under 10 ms at the median.
//! 2. **complete checkouts per second** (`--mode flows`): each flow is select, wait for
//!    on_select, init, wait for on_init, confirm (built from on_init as a well-behaved buyer
//!    app does), wait for an on_confirm without an `error`; many flows at once
//!    (`--concurrency`). Goal: at least 500 flows/s on PostgreSQL with the load generator on
//!    the same machine.
//!
//! ```sh
//! cargo bench --bench orders -- [--db sqlite|postgres] [--mode select-latency|flows|all]
//!     [--selects N] [--select-concurrency 1,8] [--flows N] [--concurrency C] [--buyers B]
//!     [--sqlite-sync normal|full] [--max-secs S] [--env HAAT_NAME=value]... [--keep-store]
//!     [--with-status]
//!
//! cargo bench --bench orders -- --db postgres                       # both goals on PostgreSQL
//! cargo bench --bench orders -- --db sqlite                         # the same on SQLite
//! cargo bench --bench orders -- --db postgres --mode flows --flows 5000 --concurrency 64
//! cargo bench --bench orders -- --mode select-latency --selects 3000 --select-concurrency 1,8
//! ```
//!
//! Defaults: `--db sqlite --mode all --selects 3000 --select-concurrency 1,8 --flows 5000
//! --concurrency 64 --buyers 8 --max-secs 120`. `--env` passes a setting to the node (for
//! experiments such as `--env HAAT_OUTBOX_POLL_MS=20`); without it the node runs with its
//! defaults. `--keep-store` leaves the store (SQLite file or PostgreSQL schema) for inspection.
//! `--with-status` ends each checkout with status → on_status: the mixed order workload
//! (select, init, confirm, status) of BENCHMARKS.md.
//!
//! Set-up: the node gets a fresh store (a temporary SQLite file, or a new schema in
//! `postgres://postgres@127.0.0.1:5432/test`, or `$HAAT_TEST_POSTGRES_URL`), into which the
//! harness first imports the demo catalogue's RET16 sellers, open all hours, delivering
//! pan-India, with "shop" terms (as `tests/api/orders.rs` does) and stock for every flow. The
//! harness serves the registry (knowing `--buyers` simulated buyer apps, each with its own
//! Ed25519 key) and the buyer apps' callback listener, which checks every callback's
//! signature against the node's key (the harness writes the node's key file). Requests go over
//! plain HTTP/1.1 keep-alive connections, one per in-flight checkout, signed as they are sent
//! (a confirm can only be built once on_init is in). Every run is bounded: no new checkout
//! starts after `--max-secs` per phase, and a callback not in within 35 s (the 30 s ttl plus
//! slack) fails its flow. Checkouts are spread over every item of those sellers (one item a
//! checkout, 1 or 2 of it), over the buyer apps in turn; each has a fresh transaction_id, each
//! request a fresh message_id. Before anything is measured, one checkout per item (and per
//! buyer app) warms the node's key cache and schemas.
//!
//! What is printed, per phase: completed and failed (failures grouped by reason: a NACK, an
//! error in the callback, a callback not signed by the node, a timeout); the rate; p50, p90,
//! p99 and max of each step's round trip (request sent → its callback in; it includes the
//! ACK) and of its ACK alone; for flows, the whole checkout; CPU time over the phase of the
//! node (and its peak RSS), of the harness, and on PostgreSQL of every `postgres` process on
//! the machine; and where the node spent the round trip, from the times it records itself
//! (inbound `received_at` and `processed_at`, the first delivery attempt's start and record
//! time: 1 ms resolution). At the end: callbacks no checkout waited for, and the orders and
//! callbacks in the store.

mod harness;

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use haat::catalog::model::{CatalogFile, Provider, Serviceability, Settlement, Terms};
use haat::protocol::keys::{KeyFile, KeyPairs};
use haat::protocol::signing::{digest_b64, SignatureHeader, Signer};
use haat::protocol::time::format_timestamp;
use parking_lot::Mutex;
use serde_json::{json, Value};

use harness::{percentile, proc_stat, stop_node};
use tokio::sync::oneshot;

/// The harness allocates as the node does (jemalloc), so that on the shared cores it leaves
/// the node and PostgreSQL what a lighter buyer app would (BENCHMARKS.md, "jemalloc").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const SELLER_ID: &str = "seller.orders.bench";
const DOMAIN: &str = "ONDC:RET16";
const CITY: &str = "std:080";
const DROP_GPS: &str = "12.9716,77.5946";
const DROP_PINCODE: &str = "560001";
/// How long a flow waits for a callback: the requests' ttl (30 s) plus slack.
const CALLBACK_WAIT: Duration = Duration::from_secs(35);
const ACK: &[u8] = br#"{"message":{"ack":{"status":"ACK"}}}"#;

// ---------------------------------------------------------------------------------------
// Options.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    SelectLatency,
    Flows,
    All,
}

struct Options {
    db: String,
    sqlite_sync: String,
    mode: Mode,
    selects: usize,
    select_concurrency: Vec<usize>,
    flows: usize,
    concurrency: usize,
    buyers: usize,
    max_secs: u64,
    env: Vec<(String, String)>,
    keep_store: bool,
    /// Each checkout ends with a status → on_status (the mixed order workload).
    with_status: bool,
}

const USAGE: &str = "\
Order-flow harness: signed select → init → confirm checkouts against a real `haat serve`.

  cargo bench --bench orders -- [OPTIONS]

Options:
  --db sqlite|postgres                 store of the node (default sqlite)
  --mode select-latency|flows|all      what to measure (default all)
  --selects N                          select round trips per concurrency (default 3000)
  --select-concurrency 1,8             selects in flight, one run each (default 1,8)
  --flows N                            checkouts (default 5000)
  --concurrency C                      checkouts in flight (default 64)
  --with-status                        end each checkout with status → on_status
  --buyers B                           simulated buyer apps (default 8)
  --sqlite-sync normal|full            SQLite durability (default normal)
  --max-secs S                         no new checkout after S seconds a phase (default 120)
  --env HAAT_NAME=value                a setting for the node (repeatable)
  --keep-store                         leave the store for inspection
  --help                               this text

HAAT_BENCH_NODE_WRAPPER=\"valgrind --tool=callgrind\" runs the node under a profiler.
";

fn options() -> Options {
    let mut options = Options {
        db: "sqlite".into(),
        sqlite_sync: "normal".into(),
        mode: Mode::All,
        selects: 3000,
        select_concurrency: vec![1, 8],
        flows: 5000,
        concurrency: 64,
        buyers: 8,
        max_secs: 120,
        env: Vec::new(),
        keep_store: false,
        with_status: false,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0)
            }
            "--db" => options.db = value,
            "--sqlite-sync" => options.sqlite_sync = value,
            "--mode" => {
                options.mode = match value.as_str() {
                    "select-latency" => Mode::SelectLatency,
                    "flows" => Mode::Flows,
                    "all" => Mode::All,
                    other => panic!("--mode select-latency|flows|all, not {other}"),
                }
            }
            "--selects" => options.selects = value.parse().expect("--selects N"),
            "--select-concurrency" => {
                options.select_concurrency = value
                    .split(',')
                    .map(|c| c.trim().parse().expect("--select-concurrency 1,8"))
                    .collect()
            }
            "--flows" => options.flows = value.parse().expect("--flows N"),
            "--concurrency" => options.concurrency = value.parse().expect("--concurrency C"),
            "--buyers" => options.buyers = value.parse().expect("--buyers B"),
            "--max-secs" => options.max_secs = value.parse().expect("--max-secs S"),
            "--env" => {
                let (name, setting) = value.split_once('=').expect("--env HAAT_NAME=value");
                options.env.push((name.to_owned(), setting.to_owned()));
            }
            "--keep-store" => {
                options.keep_store = true;
                i += 1;
                continue;
            }
            "--with-status" => {
                options.with_status = true;
                i += 1;
                continue;
            }
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    assert!(
        options.buyers > 0
            && options.concurrency > 0
            && options.select_concurrency.iter().all(|c| *c > 0),
        "--buyers, --concurrency and --select-concurrency must be positive"
    );
    options
}

// ---------------------------------------------------------------------------------------
// The catalogue: the demo's home-and-kitchen sellers, ready to take any number of orders.

/// One thing a checkout can buy: an item of a seller's store.
#[derive(Clone)]
struct Offer {
    provider: String,
    location: String,
    item: String,
}

/// Seller "shop" terms of `tests/api/orders.rs`: delivery 50, packing 20, prices before 12%
/// GST, a settlement account.
fn shop_terms() -> Terms {
    Terms {
        delivery_charge: "50.00".into(),
        free_delivery_above: None,
        packing_charge: "20.00".into(),
        prices_include_tax: false,
        delivery_time: "P3D".into(),
        cancellation_fee_percent: "10.00".into(),
        settlement: Some(Settlement {
            settlement_type: "neft".into(),
            beneficiary_name: "Molela Terracotta Artisans".into(),
            upi_address: None,
            account_no: Some("123456789012".into()),
            ifsc_code: Some("SBIN0001234".into()),
            bank_name: Some("State Bank of India".into()),
            branch_name: Some("Rajsamand".into()),
        }),
        ..Terms::default()
    }
}

/// The demo catalogue's RET16 sellers: open all hours, pan-India, shop terms, stock for
/// every flow, at most 5 of an item per order.
fn bench_catalog() -> (CatalogFile, Vec<Offer>) {
    let demo: CatalogFile = serde_json::from_str(haat::catalog::import::DEMO).unwrap();
    let mut sellers: Vec<Provider> = demo
        .providers
        .into_iter()
        .filter(|p| !p.items.is_empty() && p.items.iter().all(|i| i.domain == DOMAIN))
        .collect();
    assert!(!sellers.is_empty(), "the demo has home-and-kitchen sellers");
    let mut offers = Vec::new();
    for seller in &mut sellers {
        for location in &mut seller.locations {
            location.days = "1,2,3,4,5,6,7".into();
            location.open = "0000".into();
            location.close = "2359".into();
            location.holidays.clear();
            location.serviceability = Serviceability::PanIndia;
        }
        seller.terms = shop_terms();
        seller.min_order_value = None;
        for item in &mut seller.items {
            item.stock = 10_000_000;
            item.max_per_order = 5;
            item.gst_percent = Some("12".into());
            item.returnable = true;
            item.cancellable = true;
            item.cod = true;
            offers.push(Offer {
                provider: seller.id.clone(),
                location: item.location_id.clone(),
                item: item.id.clone(),
            });
        }
    }
    (
        CatalogFile {
            about: None,
            providers: sellers,
        },
        offers,
    )
}

// ---------------------------------------------------------------------------------------
// Buyer-app messages, as `tests/api/orders.rs` builds them.

fn end() -> Value {
    json!({
        "location": {"gps": DROP_GPS, "address": {"name": "Asha Rao", "building": "12 Lake View",
            "locality": "MG Road", "city": "Bengaluru", "state": "Karnataka", "country": "IND", "area_code": DROP_PINCODE}},
        "contact": {"phone": "9876501234", "email": "asha@example.com"},
    })
}

fn billing() -> Value {
    json!({
        "name": "Asha Rao",
        "address": {"name": "Asha Rao", "building": "12 Lake View", "locality": "MG Road", "city": "Bengaluru",
            "state": "Karnataka", "country": "IND", "area_code": DROP_PINCODE},
        "phone": "9876501234", "email": "asha@example.com",
        "created_at": "2026-11-23T04:00:00.000Z", "updated_at": "2026-11-23T04:00:00.000Z",
    })
}

fn select_message(offer: &Offer, count: i64) -> Value {
    json!({"order": {
        "provider": {"id": offer.provider, "locations": [{"id": offer.location}]},
        "items": [{"id": offer.item, "location_id": offer.location, "quantity": {"count": count}}],
        "fulfillments": [{"end": {"location": {"gps": DROP_GPS, "address": {"area_code": DROP_PINCODE}}}}],
    }})
}

fn init_message(offer: &Offer, count: i64) -> Value {
    json!({"order": {
        "provider": {"id": offer.provider, "locations": [{"id": offer.location}]},
        "items": [{"id": offer.item, "location_id": offer.location, "fulfillment_id": "F1", "quantity": {"count": count}}],
        "billing": billing(),
        "fulfillments": [{"id": "F1", "type": "Delivery", "end": end()}],
        "payment": {"type": "ON-ORDER", "collected_by": "BAP",
            "@ondc/org/buyer_app_finder_fee_type": "percent", "@ondc/org/buyer_app_finder_fee_amount": "3"},
    }})
}

/// The confirm a well-behaved buyer app sends after `on_init` (`confirm_message` of
/// `tests/api/orders.rs`).
fn confirm_message(order_id: &str, on_init: &Value) -> Option<Value> {
    let mut order = on_init["message"]["order"].clone();
    let total = order["quote"]["price"]["value"].clone();
    order["id"] = json!(order_id);
    order["state"] = json!("Created");
    order["fulfillments"][0]["end"]["person"] = json!({"name": "Asha Rao"});
    let payment = order.get_mut("payment")?.as_object_mut()?;
    payment.insert("status".into(), json!("PAID"));
    payment.insert(
        "params".into(),
        json!({"amount": total, "currency": "INR", "transaction_id": "pay_123"}),
    );
    order.get_mut("tags")?.as_array_mut()?.push(
        json!({"code": "bap_terms", "list": [{"code": "tax_number", "value": "29ABCDE1234F1Z5"}]}),
    );
    let placed_at = format_timestamp(chrono::Utc::now());
    order["created_at"] = json!(placed_at);
    order["updated_at"] = json!(placed_at);
    Some(json!({"order": order}))
}

// ---------------------------------------------------------------------------------------
// The buyer apps' callback listener: every callback wakes the checkout waiting for it.

/// A callback as it arrived.
struct Arrival {
    at: Instant,
    action: String,
    /// The body as received; parsed by the step that waited for it, as far as it needs.
    body: web::Bytes,
    signed: bool,
}

/// What a waiting step reads of every callback: whether it carries an error, and the order it
/// is about. Anything more (the on_init a confirm is built from) is parsed into a `Value`.
#[derive(serde::Deserialize)]
struct Answer {
    #[serde(default)]
    error: Option<AnswerError>,
    #[serde(default)]
    message: Option<AnswerMessage>,
}

#[derive(serde::Deserialize)]
struct AnswerError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(serde::Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    order: Option<AnswerOrder>,
}

#[derive(serde::Deserialize)]
struct AnswerOrder {
    #[serde(default)]
    id: Option<String>,
}

/// A callback's message_id, read without building the rest of the body.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    context: EnvelopeContext<'a>,
}

#[derive(serde::Deserialize)]
struct EnvelopeContext<'a> {
    #[serde(borrow)]
    message_id: std::borrow::Cow<'a, str>,
}

#[derive(Default)]
struct Listener {
    /// Checkouts waiting for the callback answering a message_id.
    waiting: Mutex<HashMap<String, oneshot::Sender<Arrival>>>,
    /// Callbacks no checkout waited for, by action (unsolicited ones, or late ones).
    unmatched: Mutex<BTreeMap<String, usize>>,
    received: AtomicUsize,
}

async fn callback(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<(Arc<Listener>, ed25519_dalek::VerifyingKey)>,
) -> HttpResponse {
    let at = Instant::now();
    let (listener, node_key) = (&state.0, &state.1);
    listener.received.fetch_add(1, Ordering::Relaxed);
    let action = request.path().trim_start_matches('/').to_owned();
    let signed = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| SignatureHeader::parse("Authorization", v).ok())
        .is_some_and(|h| {
            h.subscriber_id == SELLER_ID && h.verify(&digest_b64(&body), node_key).is_ok()
        });
    let message_id = serde_json::from_slice::<Envelope>(&body)
        .map(|e| e.context.message_id.into_owned())
        .unwrap_or_default();
    let waiter = listener.waiting.lock().remove(&message_id);
    match waiter {
        Some(waiter) => {
            let _ = waiter.send(Arrival {
                at,
                action,
                body,
                signed,
            });
        }
        None => *listener.unmatched.lock().entry(action).or_default() += 1,
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ACK)
}

// ---------------------------------------------------------------------------------------
// Talking to the node.

/// One keep-alive HTTP/1.1 connection to the node: the lightest client there is, so that the
/// harness takes as little of the shared CPU as possible.
struct Connection {
    address: String,
    sender: Option<hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>>,
}

impl Connection {
    fn new(address: &str) -> Self {
        Self {
            address: address.to_owned(),
            sender: None,
        }
    }

    async fn open(&mut self) -> Result<(), String> {
        let stream = tokio::net::TcpStream::connect(&self.address)
            .await
            .map_err(|e| format!("cannot connect to the node: {e}"))?;
        stream.set_nodelay(true).ok();
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP/1.1 handshake failed: {e}"))?;
        tokio::spawn(connection);
        self.sender = Some(sender);
        Ok(())
    }

    /// POSTs a signed body; (HTTP status, answer body).
    async fn post(
        &mut self,
        path: &str,
        body: Vec<u8>,
        authorization: String,
    ) -> Result<(u16, bytes::Bytes), String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.open().await?;
        }
        let sender = self.sender.as_mut().expect("opened above");
        sender
            .ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        let request = hyper::Request::post(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("authorization", authorization)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .expect("a valid request");
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(error) => {
                self.sender = None;
                return Err(format!("request failed: {error}"));
            }
        };
        let status = response.status().as_u16();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| format!("reading the answer failed: {e}"))?;
        Ok((status, bytes))
    }
}

/// What the harness shares with every checkout.
struct Bench {
    node_address: String,
    node_url: String,
    bap_uri: String,
    signers: Vec<Signer>,
    offers: Vec<Offer>,
    listener: Arc<Listener>,
    with_status: bool,
}

/// One request answered by its callback: the ACK's latency and the round trip (request sent
/// → callback in), both measured from the moment the request was sent.
struct Step {
    ack: Duration,
    round_trip: Duration,
    /// The callback's body as received.
    answer: web::Bytes,
    /// The id of the order it is about, when it names one.
    order_id: Option<String>,
}

impl Bench {
    /// A request body in `transaction_id` from `signer`'s buyer app, with a fresh message_id.
    fn body(&self, signer: &Signer, action: &str, transaction_id: &str, message: Value) -> Value {
        json!({
            "context": {"domain": DOMAIN, "country": "IND", "city": CITY, "action": action,
                "core_version": "1.2.5", "bap_id": signer.subscriber_id(), "bap_uri": self.bap_uri,
                "bpp_id": SELLER_ID, "bpp_uri": self.node_url,
                "transaction_id": transaction_id, "message_id": uuid::Uuid::new_v4().to_string(),
                "timestamp": format_timestamp(chrono::Utc::now()), "ttl": "PT30S"},
            "message": message,
        })
    }

    /// Sends `action` and waits for its callback. Errors are the reason the checkout failed.
    async fn step(
        &self,
        connection: &mut Connection,
        signer: &Signer,
        action: &str,
        transaction_id: &str,
        message: Value,
    ) -> Result<Step, String> {
        let body = self.body(signer, action, transaction_id, message);
        let message_id = body["context"]["message_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let bytes = serde_json::to_vec(&body).expect("JSON serializes");
        let now = chrono::Utc::now().timestamp() as u64;
        let authorization = signer.authorization(&bytes, now, now + 300);
        // Wait before sending: the callback may well arrive before the ACK is read.
        let (sender, receiver) = oneshot::channel();
        self.listener
            .waiting
            .lock()
            .insert(message_id.clone(), sender);
        let sent = Instant::now();
        let answer = connection
            .post(&format!("/{action}"), bytes, authorization)
            .await;
        let ack = sent.elapsed();
        let refused = match answer {
            Ok((200, body)) if body.as_ref() == ACK => None,
            Ok((status, body)) => {
                let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                Some(format!(
                    "{action} NACKed (HTTP {status}): {} {}",
                    answer["error"]["code"].as_str().unwrap_or("-"),
                    short(answer["error"]["message"].as_str().unwrap_or_default())
                ))
            }
            Err(error) => Some(format!("{action}: {error}")),
        };
        if let Some(reason) = refused {
            self.listener.waiting.lock().remove(&message_id);
            return Err(reason);
        }
        let arrival = match tokio::time::timeout(CALLBACK_WAIT, receiver).await {
            Ok(Ok(arrival)) => arrival,
            _ => {
                self.listener.waiting.lock().remove(&message_id);
                return Err(format!(
                    "no on_{action} within {} s",
                    CALLBACK_WAIT.as_secs()
                ));
            }
        };
        let round_trip = arrival.at.duration_since(sent);
        if arrival.action != format!("on_{action}") {
            return Err(format!("{} answered {action}'s message_id", arrival.action));
        }
        if !arrival.signed {
            return Err(format!("on_{action} is not signed by the node's key"));
        }
        let read: Answer = serde_json::from_slice(&arrival.body)
            .map_err(|e| format!("on_{action} is not a JSON callback: {e}"))?;
        if let Some(error) = read.error {
            return Err(format!(
                "on_{action} with error {}: {}",
                error.code.as_deref().unwrap_or("-"),
                short(error.message.as_deref().unwrap_or_default())
            ));
        }
        Ok(Step {
            ack,
            round_trip,
            answer: arrival.body,
            order_id: read.message.and_then(|m| m.order).and_then(|o| o.id),
        })
    }
}

/// The start of a message, so that failures group by kind rather than by order.
fn short(text: &str) -> String {
    let mut short: String = text.chars().take(90).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

// ---------------------------------------------------------------------------------------
// Measurements.

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// "p50 x ms, p90 y ms, p99 z ms, max w ms" of a sample (sorted here).
fn spread(sample: &mut [Duration]) -> String {
    if sample.is_empty() {
        return "no samples".into();
    }
    sample.sort();
    format!(
        "p50 {:7.2} ms  p90 {:7.2} ms  p99 {:7.2} ms  max {:7.2} ms",
        ms(percentile(sample, 0.50)),
        ms(percentile(sample, 0.90)),
        ms(percentile(sample, 0.99)),
        ms(*sample.last().expect("not empty"))
    )
}

/// CPU seconds of every running `postgres` process (the server's backends and workers).
fn postgres_cpu() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(|pid| proc_stat(&pid).0)
        .sum()
}

/// CPU use over a phase: the node's, the harness's own and PostgreSQL's.
struct CpuMeter {
    node_pid: String,
    postgres: bool,
    began: Instant,
    node: f64,
    harness: f64,
    database: f64,
}

impl CpuMeter {
    fn start(node_pid: u32, postgres: bool) -> Self {
        let node_pid = node_pid.to_string();
        Self {
            node: proc_stat(&node_pid).0,
            harness: proc_stat("self").0,
            database: if postgres { postgres_cpu() } else { 0.0 },
            node_pid,
            postgres,
            began: Instant::now(),
        }
    }

    fn report(&self) {
        let seconds = self.began.elapsed().as_secs_f64();
        let (node, peak_kb) = proc_stat(&self.node_pid);
        let harness = proc_stat("self").0 - self.harness;
        let node = node - self.node;
        let mut line = format!(
            "  CPU over {seconds:.1} s: node {node:.2} s ({:.2} cores), peak RSS {} MB; harness {harness:.2} s ({:.2} cores)",
            node / seconds,
            peak_kb / 1024,
            harness / seconds
        );
        if self.postgres {
            let database = postgres_cpu() - self.database;
            line.push_str(&format!(
                "; postgres {database:.2} s ({:.2} cores)",
                database / seconds
            ));
        }
        println!("{line}");
    }
}

/// Prints progress every second until `done` is set: `label`, completed, failed, rates.
fn progress(
    label: String,
    completed: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let began = Instant::now();
        let mut last = 0;
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if done.load(Ordering::Relaxed) {
                return;
            }
            let now = completed.load(Ordering::Relaxed);
            eprintln!(
                "  [{label} {:>4.0} s] {now} done, {} failed; {} in the last second, {:.0}/s overall",
                began.elapsed().as_secs_f64(),
                failed.load(Ordering::Relaxed),
                now - last,
                now as f64 / began.elapsed().as_secs_f64()
            );
            last = now;
        }
    })
}

/// Failure reasons and how often each happened.
#[derive(Default)]
struct Failures(BTreeMap<String, usize>);

impl Failures {
    fn add(&mut self, reason: String) {
        *self.0.entry(reason).or_default() += 1;
    }

    fn merge(&mut self, other: Failures) {
        for (reason, n) in other.0 {
            *self.0.entry(reason).or_default() += n;
        }
    }

    fn total(&self) -> usize {
        self.0.values().sum()
    }

    fn print(&self) {
        let mut list: Vec<_> = self.0.iter().collect();
        list.sort_by(|a, b| b.1.cmp(a.1));
        for (reason, n) in list {
            println!("    {n:>7}  {reason}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Goal 1: select → on_select round trips at low concurrency.

#[derive(Default)]
struct SelectSample {
    ack: Vec<Duration>,
    round_trip: Vec<Duration>,
    failures: Failures,
}

async fn select_latency(
    bench: &Arc<Bench>,
    selects: usize,
    concurrency: usize,
    deadline: Instant,
) -> (SelectSample, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let completed = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let ticker = progress(
        format!("select c={concurrency}"),
        completed.clone(),
        failed.clone(),
        done.clone(),
    );
    let began = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (bench, next, completed, failed) = (
                bench.clone(),
                next.clone(),
                completed.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                let mut sample = SelectSample::default();
                let mut connection = Connection::new(&bench.node_address);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= selects || Instant::now() > deadline {
                        break;
                    }
                    let signer = &bench.signers[n % bench.signers.len()];
                    let offer = &bench.offers[n % bench.offers.len()];
                    let transaction_id = uuid::Uuid::new_v4().to_string();
                    let count = 1 + (n / bench.offers.len()) as i64 % 2;
                    match bench
                        .step(
                            &mut connection,
                            signer,
                            "select",
                            &transaction_id,
                            select_message(offer, count),
                        )
                        .await
                    {
                        Ok(step) => {
                            sample.ack.push(step.ack);
                            sample.round_trip.push(step.round_trip);
                            completed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(reason) => {
                            sample.failures.add(reason);
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                sample
            })
        })
        .collect();
    let mut all = SelectSample::default();
    for worker in workers {
        let sample = worker.await.expect("a select worker");
        all.ack.extend(sample.ack);
        all.round_trip.extend(sample.round_trip);
        all.failures.merge(sample.failures);
    }
    let elapsed = began.elapsed();
    done.store(true, Ordering::Relaxed);
    ticker.abort();
    (all, elapsed)
}

// ---------------------------------------------------------------------------------------
// Goal 2: complete checkouts.

#[derive(Default)]
struct FlowSample {
    /// Per action: ACK latencies and round trips of the steps that succeeded.
    acks: BTreeMap<&'static str, Vec<Duration>>,
    round_trips: BTreeMap<&'static str, Vec<Duration>>,
    /// Whole checkouts, first request sent → on_confirm in.
    flows: Vec<Duration>,
    failures: Failures,
}

impl FlowSample {
    fn record(&mut self, action: &'static str, step: &Step) {
        self.acks.entry(action).or_default().push(step.ack);
        self.round_trips
            .entry(action)
            .or_default()
            .push(step.round_trip);
    }

    fn merge(&mut self, other: FlowSample) {
        for (action, list) in other.acks {
            self.acks.entry(action).or_default().extend(list);
        }
        for (action, list) in other.round_trips {
            self.round_trips.entry(action).or_default().extend(list);
        }
        self.flows.extend(other.flows);
        self.failures.merge(other.failures);
    }
}

/// One checkout, select to on_confirm.
async fn checkout(
    bench: &Bench,
    connection: &mut Connection,
    n: usize,
    sample: &mut FlowSample,
) -> Result<(), String> {
    let signer = &bench.signers[n % bench.signers.len()];
    let offer = &bench.offers[n % bench.offers.len()];
    let count = 1 + (n / bench.offers.len()) as i64 % 2;
    let transaction_id = uuid::Uuid::new_v4().to_string();
    let order_id = uuid::Uuid::new_v4().simple().to_string();
    let began = Instant::now();
    let step = bench
        .step(
            connection,
            signer,
            "select",
            &transaction_id,
            select_message(offer, count),
        )
        .await?;
    sample.record("select", &step);
    let step = bench
        .step(
            connection,
            signer,
            "init",
            &transaction_id,
            init_message(offer, count),
        )
        .await?;
    sample.record("init", &step);
    let on_init: Value = serde_json::from_slice(&step.answer).unwrap_or(Value::Null);
    let confirm = confirm_message(&order_id, &on_init).ok_or_else(|| {
        "on_init has no order.payment or order.tags to build a confirm from".to_owned()
    })?;
    let step = bench
        .step(connection, signer, "confirm", &transaction_id, confirm)
        .await?;
    if step.order_id.as_deref() != Some(order_id.as_str()) {
        return Err("on_confirm is not about the confirmed order".into());
    }
    sample.record("confirm", &step);
    if bench.with_status {
        let step = bench
            .step(
                connection,
                signer,
                "status",
                &transaction_id,
                json!({"order_id": order_id}),
            )
            .await?;
        if step.order_id.as_deref() != Some(order_id.as_str()) {
            return Err("on_status is not about the order".into());
        }
        sample.record("status", &step);
    }
    sample.flows.push(began.elapsed());
    Ok(())
}

async fn flows(
    bench: &Arc<Bench>,
    flows: usize,
    concurrency: usize,
    deadline: Instant,
) -> (FlowSample, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let completed = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let ticker = progress(
        format!("flows c={concurrency}"),
        completed.clone(),
        failed.clone(),
        done.clone(),
    );
    let began = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (bench, next, completed, failed) = (
                bench.clone(),
                next.clone(),
                completed.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                let mut sample = FlowSample::default();
                let mut connection = Connection::new(&bench.node_address);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= flows || Instant::now() > deadline {
                        break;
                    }
                    match checkout(&bench, &mut connection, n, &mut sample).await {
                        Ok(()) => {
                            completed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(reason) => {
                            sample.failures.add(reason);
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                sample
            })
        })
        .collect();
    let mut all = FlowSample::default();
    for worker in workers {
        all.merge(worker.await.expect("a flow worker"));
    }
    let elapsed = began.elapsed();
    done.store(true, Ordering::Relaxed);
    ticker.abort();
    (all, elapsed)
}

// ---------------------------------------------------------------------------------------
// The node and its store.

async fn fresh_database(db: &str, dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match db {
        "sqlite" => (format!("sqlite://{}/haat.db", dir.display()), None),
        "postgres" => {
            let base = std::env::var("HAAT_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let schema = format!("orders_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&base)
                .await
                .expect("PostgreSQL reachable");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .expect("a fresh schema");
            pool.close().await;
            let separator = if base.contains('?') { '&' } else { '?' };
            (
                format!("{base}{separator}options[search_path]={schema}"),
                Some((base, schema)),
            )
        }
        other => panic!("--db sqlite|postgres, not {other}"),
    }
}

/// What the store holds after the run: orders, and callbacks by state.
async fn store_check(database_url: &str) -> String {
    let orders = "SELECT COUNT(*) FROM orders";
    let outbox = "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state";
    let (orders, outbox): (i64, Vec<(String, i64)>) = if database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(database_url)
            .await
            .expect("the store");
        let counts = (
            sqlx::query_scalar(orders)
                .fetch_one(&pool)
                .await
                .unwrap_or(-1),
            sqlx::query_as(outbox)
                .fetch_all(&pool)
                .await
                .unwrap_or_default(),
        );
        pool.close().await;
        counts
    } else {
        let pool = sqlx::SqlitePool::connect(database_url)
            .await
            .expect("the store");
        let counts = (
            sqlx::query_scalar(orders)
                .fetch_one(&pool)
                .await
                .unwrap_or(-1),
            sqlx::query_as(outbox)
                .fetch_all(&pool)
                .await
                .unwrap_or_default(),
        );
        pool.close().await;
        counts
    };
    let outbox: Vec<String> = outbox.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!(
        "orders in the store: {orders}; callbacks: {}",
        outbox.join(", ")
    )
}

/// Where the node spent a request's round trip, from the times it records (milliseconds):
/// received → the business logic is done and its commit begins (journal, hand-over to the
/// processor, reading the catalogue and the draft); commit begins → the callback's delivery
/// starts (the commit, the outbox claim); delivery start → the attempt is recorded.
async fn node_split(database_url: &str, since_ms: i64) {
    let sql = "SELECT i.action, i.received_at, i.processed_at, a.started_at, a.finished_at FROM inbound i \
               JOIN outbox o ON o.inbound_id = i.id JOIN outbox_attempts a ON a.outbox_id = o.id \
               WHERE i.received_at >= $1 AND a.attempt = 1";
    type Row = (String, i64, Option<i64>, i64, i64);
    let rows: Vec<Row> = if database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(database_url)
            .await
            .expect("the store");
        let rows = sqlx::query_as(sql).bind(since_ms).fetch_all(&pool).await;
        pool.close().await;
        rows.unwrap_or_default()
    } else {
        let pool = sqlx::SqlitePool::connect(database_url)
            .await
            .expect("the store");
        let rows = sqlx::query_as(sql).bind(since_ms).fetch_all(&pool).await;
        pool.close().await;
        rows.unwrap_or_default()
    };
    println!("  inside the node (its own records, 1 ms resolution):");
    for action in ["select", "init", "confirm"] {
        let mut logic = Vec::new();
        let mut commit = Vec::new();
        let mut record = Vec::new();
        for (_, received, processed, started, finished) in rows.iter().filter(|r| r.0 == action) {
            let Some(processed) = processed else { continue };
            let span = |from: i64, to: i64| Duration::from_millis((to - from).max(0) as u64);
            logic.push(span(*received, *processed));
            commit.push(span(*processed, *started));
            record.push(span(*started, *finished));
        }
        if logic.is_empty() {
            continue;
        }
        println!(
            "    {action:<8} received → commit begins:      {}",
            spread(&mut logic)
        );
        println!(
            "    {action:<8} commit begins → delivery:     {}",
            spread(&mut commit)
        );
        println!(
            "    {action:<8} delivery → attempt recorded:  {}",
            spread(&mut record)
        );
    }
}

fn start_node(
    options: &Options,
    dir: &std::path::Path,
    database_url: &str,
    registry_url: &str,
    port: u16,
) -> Child {
    // A profiler may wrap the node (`HAAT_BENCH_NODE_WRAPPER`, see `harness::node_command`).
    let mut command = harness::node_command(env!("CARGO_BIN_EXE_haat"));
    command
        .arg("serve")
        .env("HAAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("HAAT_DATABASE_URL", database_url)
        .env("HAAT_SQLITE_SYNCHRONOUS", &options.sqlite_sync)
        .env("HAAT_KEYS_FILE", dir.join("keys.json"))
        .env("HAAT_REGISTRY_URL", registry_url)
        .env("HAAT_SUBSCRIBER_ID", SELLER_ID)
        .env("HAAT_SUBSCRIBER_URL", format!("http://127.0.0.1:{port}"))
        .env("HAAT_DOMAINS", DOMAIN)
        .env("HAAT_CATALOG_LOAD_DEMO", "false")
        .env("HAAT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in &options.env {
        command.env(name, value);
    }
    command.spawn().expect("the haat binary starts")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    let dir = std::env::temp_dir().join(format!("haat-orders-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();

    // The node's keys, written where it will find them, so that callbacks can be checked.
    let node_keys = KeyPairs::generate("orders-bench-node");
    KeyFile::create(&dir.join("keys.json"), &node_keys).expect("the node's key file");
    let node_key = node_keys.signing.verifying_key();

    // Simulated buyer apps and the registry that knows them.
    let buyers = harness::buyers(options.buyers, "orders.test");
    let registry_url = harness::serve_registry(&buyers);

    // The buyer apps' callback listener.
    let listener = Arc::new(Listener::default());
    let callback_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let bap_uri = format!("http://{}", callback_listener.local_addr().unwrap());
    let state = web::Data::new((listener.clone(), node_key));
    let callbacks = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
            .route("/{callback}", web::post().to(callback))
    })
    .workers(1)
    .backlog(1024)
    .listen(callback_listener)
    .unwrap()
    .run();
    tokio::spawn(callbacks);

    // The store, with the catalogue in it before the node starts.
    let (database_url, schema) = fresh_database(&options.db, &dir).await;
    let (catalog, offers) = bench_catalog();
    {
        let store = haat::store::Store::connect(&database_url)
            .await
            .expect("the store opens");
        store
            .import_catalog(&catalog, "bench")
            .await
            .expect("the catalogue imports");
        store.close().await;
    }
    eprintln!(
        "catalogue: {} RET16 sellers, {} items, stock 10,000,000 each",
        catalog.providers.len(),
        offers.len()
    );

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node_address = format!("127.0.0.1:{port}");
    let node_url = format!("http://{node_address}");
    let started = Instant::now();
    let mut node = start_node(&options, &dir, &database_url, &registry_url, port);
    let http = reqwest::Client::new();
    loop {
        if let Ok(response) = http.get(format!("{node_url}/health")).send().await {
            if response.status() == 200 {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(30) || node.try_wait().ok().flatten().is_some() {
            node.kill().ok();
            panic!("the node did not start");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("node up after {:?} (pid {})", started.elapsed(), node.id());

    let bench = Arc::new(Bench {
        node_address,
        node_url,
        bap_uri,
        signers: buyers
            .iter()
            .map(|(id, keys)| Signer::new(keys.signing.clone(), id, &keys.unique_key_id))
            .collect(),
        offers,
        listener: listener.clone(),
        with_status: options.with_status,
    });
    println!(
        "orders bench: store {}{}, {} buyer apps, {} items of {} sellers{}",
        options.db,
        if options.db == "sqlite" {
            format!(" (synchronous={})", options.sqlite_sync)
        } else {
            String::new()
        },
        options.buyers,
        bench.offers.len(),
        catalog.providers.len(),
        if options.env.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = options
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(", node env {}", list.join(" "))
        }
    );

    // Warm-up, not measured: one whole checkout per buyer app (the node looks up each app's
    // key once and compiles the schemas it needs), then a few more.
    {
        let mut connection = Connection::new(&bench.node_address);
        let mut sample = FlowSample::default();
        for n in 0..options.buyers.max(bench.offers.len()) + 20 {
            if let Err(reason) = checkout(&bench, &mut connection, n, &mut sample).await {
                panic!("warm-up checkout {n} failed: {reason}");
            }
        }
    }
    let postgres = options.db == "postgres";

    if options.mode != Mode::Flows {
        for &concurrency in &options.select_concurrency {
            let since_ms = haat::store::now_ms();
            let cpu = CpuMeter::start(node.id(), postgres);
            let deadline = Instant::now() + Duration::from_secs(options.max_secs);
            let (mut sample, elapsed) =
                select_latency(&bench, options.selects, concurrency, deadline).await;
            println!(
                "select → on_select, {concurrency} in flight: {} of {} answered in {:.2} s ({:.0}/s), {} failed",
                sample.round_trip.len(),
                options.selects,
                elapsed.as_secs_f64(),
                sample.round_trip.len() as f64 / elapsed.as_secs_f64(),
                sample.failures.total()
            );
            println!("  round trip: {}", spread(&mut sample.round_trip));
            println!("  ACK:        {}", spread(&mut sample.ack));
            if !sample.round_trip.is_empty() {
                let median = percentile(&sample.round_trip, 0.5);
                println!(
                    "  goal: median under 10 ms: {} ({:.2} ms)",
                    if median < Duration::from_millis(10) {
                        "met"
                    } else {
                        "MISSED"
                    },
                    ms(median)
                );
            }
            sample.failures.print();
            cpu.report();
            node_split(&database_url, since_ms).await;
        }
    }

    if options.mode != Mode::SelectLatency {
        let since_ms = haat::store::now_ms();
        let cpu = CpuMeter::start(node.id(), postgres);
        let deadline = Instant::now() + Duration::from_secs(options.max_secs);
        let (mut sample, elapsed) =
            flows(&bench, options.flows, options.concurrency, deadline).await;
        let completed = sample.flows.len();
        let rate = completed as f64 / elapsed.as_secs_f64();
        println!(
            "select → init → confirm{}, {} in flight: {completed} of {} checkouts completed in {:.2} s: {rate:.0} flows/s, {} failed",
            if options.with_status { " → status" } else { "" },
            options.concurrency,
            options.flows,
            elapsed.as_secs_f64(),
            sample.failures.total()
        );
        for action in ["select", "init", "confirm", "status"] {
            if !sample.acks.contains_key(action) {
                continue;
            }
            let mut acks = sample.acks.remove(action).unwrap_or_default();
            let mut trips = sample.round_trips.remove(action).unwrap_or_default();
            println!("  {action:<8} round trip: {}", spread(&mut trips));
            println!("  {action:<8} ACK:        {}", spread(&mut acks));
        }
        println!("  whole checkout:      {}", spread(&mut sample.flows));
        // The goal is for select → init → confirm; with status each flow is a third longer.
        if !options.with_status {
            println!(
                "  goal: at least 500 flows/s{}: {} ({rate:.0}/s)",
                if postgres {
                    " on PostgreSQL"
                } else {
                    " (set for PostgreSQL)"
                },
                if rate >= 500.0 { "met" } else { "MISSED" }
            );
        }
        if sample.failures.total() > 0 {
            println!("  failures by reason:");
            sample.failures.print();
        }
        cpu.report();
        node_split(&database_url, since_ms).await;
    }

    // Anything that arrived late or unasked, then what the store says.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let unmatched = listener.unmatched.lock().clone();
    println!(
        "  callbacks received: {}; not waited for: {}",
        listener.received.load(Ordering::Relaxed),
        if unmatched.is_empty() {
            "none".to_owned()
        } else {
            unmatched
                .iter()
                .map(|(a, n)| format!("{a} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    println!("  {}", store_check(&database_url).await);

    stop_node(&mut node);
    if options.keep_store {
        println!("  the store is kept: {database_url}");
        return;
    }
    if let Some((base, schema)) = schema {
        if let Ok(pool) = sqlx::PgPool::connect(&base).await {
            let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&pool)
                .await;
            pool.close().await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
