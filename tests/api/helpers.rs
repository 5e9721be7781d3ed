use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use ed25519_dalek::SigningKey;
use haat::config::Settings;
use haat::protocol::keys::KeyPairs;
use haat::protocol::signing::{digest_b64, SignatureHeader, Signer};
use haat::protocol::time::format_timestamp;
use haat::startup::Application;
use haat::store::Store;
use parking_lot::Mutex;
use serde_json::{json, Value};

pub const SELLER_ID: &str = "seller.test";
pub const BUYER_ID: &str = "buyer.test";
pub const BUYER_UKID: &str = "buyer-key-1";
pub const GATEWAY_ID: &str = "gateway.test";
pub const GATEWAY_UKID: &str = "gw-key-1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh, empty database URL of the given kind.
pub async fn fresh_database(db: Db) -> String {
    match db {
        Db::Sqlite => {
            let dir = std::env::temp_dir().join(format!("haat-test-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite://{}/haat.db", dir.display())
        }
        Db::Postgres => {
            let base = std::env::var("HAAT_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let schema = format!("haat_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
                panic!("PostgreSQL tests need a server at {base} (set HAAT_TEST_POSTGRES_URL): {e}")
            });
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let separator = if base.contains('?') { '&' } else { '?' };
            format!("{base}{separator}options[search_path]={schema}")
        }
    }
}

pub fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("haat-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Settings for a node under test: fast retries, the mock registry, temporary files.
pub fn test_settings(
    database_url: &str,
    registry_url: &str,
    overrides: &[(&str, &str)],
) -> Settings {
    let keys_file = temp_path("keys.json");
    let mut env: HashMap<String, String> = [
        ("HAAT_LISTEN", "127.0.0.1:0".to_owned()),
        ("HAAT_DATABASE_URL", database_url.to_owned()),
        ("HAAT_SUBSCRIBER_ID", SELLER_ID.to_owned()),
        ("HAAT_SUBSCRIBER_URL", "http://127.0.0.1:1".to_owned()),
        ("HAAT_KEYS_FILE", keys_file.display().to_string()),
        ("HAAT_REGISTRY_URL", registry_url.to_owned()),
        ("HAAT_OUTBOX_POLL_MS", "50".to_owned()),
        ("HAAT_OUTBOX_BACKOFF_INITIAL_MS", "100".to_owned()),
        ("HAAT_OUTBOX_BACKOFF_MAX_MS", "400".to_owned()),
        ("HAAT_OUTBOX_TIMEOUT_MS", "2000".to_owned()),
        ("HAAT_SUPPORT_PHONE", "9876543210".to_owned()),
        ("HAAT_SUPPORT_EMAIL", "help@seller.test".to_owned()),
        ("HAAT_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (name, value) in overrides {
        env.insert((*name).to_owned(), (*value).to_owned());
    }
    Settings::load_with(None, |name| env.get(name).cloned()).expect("test settings are valid")
}

// ---------------------------------------------------------------------------------------
// The mock registry.

#[derive(Default)]
pub struct RegistryState {
    pub records: Mutex<Vec<Value>>,
    pub calls: AtomicUsize,
    pub down: std::sync::atomic::AtomicBool,
    pub delay_ms: std::sync::atomic::AtomicU64,
}

pub struct MockRegistry {
    pub url: String,
    pub state: Arc<RegistryState>,
}

impl MockRegistry {
    pub async fn start() -> Self {
        let state = Arc::new(RegistryState::default());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v2.0/lookup", web::post().to(registry_lookup))
                .route("/lookup", web::post().to(registry_lookup))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// Registers a participant's signing key.
    pub fn register(
        &self,
        subscriber_id: &str,
        ukid: &str,
        kind: &str,
        key: &SigningKey,
        valid_until: &str,
        status: &str,
    ) {
        let public = base64_encode(key.verifying_key().as_bytes());
        let mut records = self.state.records.lock();
        records.retain(|r| !(r["subscriber_id"] == subscriber_id && r["ukId"] == ukid));
        records.push(json!({
            "subscriber_id": subscriber_id, "ukId": ukid, "type": kind, "status": status,
            "signing_public_key": public,
            "encr_public_key": "MCowBQYDK2VuAyEAZ13VdO13iTELPS52gfN5C0ZsdzsVIf7PNld5WDcepS8=",
            "valid_from": "2020-01-01T00:00:00.000Z", "valid_until": valid_until,
            "subscriber_url": format!("https://{subscriber_id}/"),
        }));
    }

    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }
}

async fn registry_lookup(body: web::Json<Value>, state: web::Data<RegistryState>) -> HttpResponse {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if state.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let records = state.records.lock();
    let found: Vec<Value> = records
        .iter()
        .filter(|r| {
            body.get("subscriber_id")
                .is_none_or(|id| r["subscriber_id"] == *id)
        })
        .filter(|r| body.get("ukId").is_none_or(|k| r["ukId"] == *k))
        .cloned()
        .collect();
    HttpResponse::Ok().json(found)
}

pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------
// The mock buyer app: receives callbacks, verifies their signatures with the node's key.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BapMode {
    Ack,
    Nack,
    ServerError,
    /// ACKs after this long.
    SlowAck(Duration),
}

pub struct Received {
    pub path: String,
    pub body: Vec<u8>,
    pub authorization: Option<String>,
}

pub struct BapState {
    pub received: Mutex<Vec<Received>>,
    pub mode: Mutex<BapMode>,
}

pub struct MockBap {
    pub url: String,
    pub state: Arc<BapState>,
}

impl MockBap {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::start_on(listener).await
    }

    /// Starts on a given port (for a buyer app that comes up late).
    pub async fn start_on_port(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        Self::start_on(listener).await
    }

    async fn start_on(listener: TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(BapState {
            received: Mutex::new(Vec::new()),
            mode: Mutex::new(BapMode::Ack),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/{callback}", web::post().to(bap_callback))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    pub fn set_mode(&self, mode: BapMode) {
        *self.state.mode.lock() = mode;
    }

    pub fn received(&self) -> Vec<(String, Value, Option<String>)> {
        self.state
            .received
            .lock()
            .iter()
            .map(|r| {
                (
                    r.path.clone(),
                    serde_json::from_slice(&r.body).unwrap(),
                    r.authorization.clone(),
                )
            })
            .collect()
    }

    pub fn received_raw(&self) -> Vec<(String, Vec<u8>, Option<String>)> {
        self.state
            .received
            .lock()
            .iter()
            .map(|r| (r.path.clone(), r.body.clone(), r.authorization.clone()))
            .collect()
    }
}

/// A port nothing listens on (yet). Chosen below the kernel's ephemeral range (32768 and up),
/// so that no outgoing connection takes it before the test binds it.
pub fn unused_port() -> u16 {
    use rand::Rng;
    loop {
        let port = rand::thread_rng().gen_range(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

async fn bap_callback(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<BapState>,
) -> HttpResponse {
    state.received.lock().push(Received {
        path: request.path().to_owned(),
        body: body.to_vec(),
        authorization: request
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
    });
    let mode = *state.mode.lock();
    match mode {
        BapMode::Ack => HttpResponse::Ok().json(json!({"message": {"ack": {"status": "ACK"}}})),
        BapMode::SlowAck(after) => {
            tokio::time::sleep(after).await;
            HttpResponse::Ok().json(json!({"message": {"ack": {"status": "ACK"}}}))
        }
        BapMode::Nack => HttpResponse::Ok().json(json!({"message": {"ack": {"status": "NACK"}},
            "error": {"type": "CONTEXT-ERROR", "code": "20008", "message": "out of sequence"}})),
        BapMode::ServerError => HttpResponse::ServiceUnavailable().finish(),
    }
}

// ---------------------------------------------------------------------------------------
// The node under test and a buyer that talks to it.

pub struct Buyer {
    pub signer: Signer,
    pub key: SigningKey,
    pub bap_uri: String,
}

impl Buyer {
    pub fn new(bap_uri: &str) -> Self {
        let keys = KeyPairs::generate(BUYER_UKID);
        Self {
            signer: Signer::new(keys.signing.clone(), BUYER_ID, BUYER_UKID),
            key: keys.signing,
            bap_uri: bap_uri.to_owned(),
        }
    }

    /// A request body with a valid context for `action`.
    pub fn body(&self, action: &str, message: Value) -> Value {
        let mut context = json!({
            "domain": "ONDC:RET16", "country": "IND", "city": "std:080", "action": action,
            "core_version": if action == "issue" || action == "issue_status" { "1.0.0" } else { "1.2.5" },
            "bap_id": BUYER_ID, "bap_uri": self.bap_uri,
            "bpp_id": SELLER_ID, "bpp_uri": "https://seller.test",
            "transaction_id": uuid::Uuid::new_v4().to_string(),
            "message_id": uuid::Uuid::new_v4().to_string(),
            "timestamp": format_timestamp(chrono::Utc::now()), "ttl": "PT30S"
        });
        if action == "search" {
            let object = context.as_object_mut().unwrap();
            object.remove("bpp_id");
            object.remove("bpp_uri");
        }
        json!({"context": context, "message": message})
    }

    pub fn sign(&self, body: &[u8]) -> String {
        let now = chrono::Utc::now().timestamp() as u64;
        self.signer.authorization(body, now, now + 300)
    }
}

pub struct TestApp {
    pub address: String,
    pub store: Store,
    pub http: reqwest::Client,
    pub app_state: actix_web::web::Data<haat::startup::AppState>,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(Value::as_str)
    }
    pub fn is_ack(&self) -> bool {
        self.body
            .pointer("/message/ack/status")
            .and_then(Value::as_str)
            == Some("ACK")
    }
    pub fn path(&self) -> Option<&str> {
        self.body.pointer("/error/path").and_then(Value::as_str)
    }
}

impl TestApp {
    pub async fn start(settings: Settings) -> Self {
        let application = Application::build(settings.clone())
            .await
            .expect("the node starts");
        let address = format!("http://127.0.0.1:{}", application.port());
        let store = application.state.store.clone();
        let app_state = application.state.clone();
        tokio::spawn(application.run_until_stopped());
        Self {
            address,
            store,
            http: reqwest::Client::new(),
            app_state,
        }
    }

    /// POSTs raw bytes with the given headers.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>, headers: &[(&str, String)]) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{path}", self.address))
            .header("Content-Type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("the node answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            headers,
        }
    }

    /// Signs `body` as `buyer` and POSTs it to `/{action}`.
    pub async fn send(&self, buyer: &Buyer, action: &str, body: &Value) -> Answer {
        let bytes = serde_json::to_vec(body).unwrap();
        let authorization = buyer.sign(&bytes);
        self.post_raw(
            &format!("/{action}"),
            bytes,
            &[("Authorization", authorization)],
        )
        .await
    }

    /// The node's public signing key, to check its callbacks.
    pub fn node_key(&self) -> ed25519_dalek::VerifyingKey {
        self.app_state.key_pairs.signing.verifying_key()
    }
}

/// Polls `check` until it is true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `count` callbacks are in `state`.
pub async fn callbacks_reach(
    store: &Store,
    state: haat::store::OutboxState,
    count: usize,
    timeout: Duration,
) -> bool {
    eventually(timeout, || async {
        store.list_callbacks(Some(state), 1000).await.unwrap().len() == count
    })
    .await
}

/// Checks a callback's `Authorization` against the node's public key.
pub fn verify_callback(
    body: &[u8],
    authorization: &str,
    node_key: &ed25519_dalek::VerifyingKey,
) -> bool {
    let Ok(header) = SignatureHeader::parse("Authorization", authorization) else {
        return false;
    };
    header.subscriber_id == SELLER_ID && header.verify(&digest_b64(body), node_key).is_ok()
}

/// A standard setup: registry knowing the buyer, a buyer app, a node.
pub struct World {
    pub registry: MockRegistry,
    pub bap: MockBap,
    pub buyer: Buyer,
    pub app: TestApp,
}

/// A mock registry that knows a buyer app whose callbacks go to `bap_uri`.
pub async fn registry_knowing_buyer_at(bap_uri: &str) -> (MockRegistry, Buyer) {
    let registry = MockRegistry::start().await;
    let buyer = Buyer::new(bap_uri);
    registry.register(
        BUYER_ID,
        BUYER_UKID,
        "BAP",
        &buyer.key,
        "2099-01-01T00:00:00.000Z",
        "SUBSCRIBED",
    );
    (registry, buyer)
}

pub async fn world(db: Db, overrides: &[(&str, &str)]) -> World {
    let bap = MockBap::start().await;
    let (registry, buyer) = registry_knowing_buyer_at(&bap.url).await;
    let database = fresh_database(db).await;
    let app = TestApp::start(test_settings(&database, &registry.url, overrides)).await;
    World {
        registry,
        bap,
        buyer,
        app,
    }
}

/// Runs the `haat` binary with `args` and extra environment; (succeeded, stdout, stderr).
pub fn haat(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_haat"));
    command.args(args).env("HAAT_LOG", "error");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
