//! `haat buyer`: a small signed buyer-app client, for operators trying their node, for demos
//! and for end-to-end tests. It has its own keys and subscriber id, sends signed requests to a
//! seller node, listens for the callbacks on a local port while a command runs, verifies
//! every callback's signature against the registry, and remembers the search, cart and order
//! between commands in a session file.
//!
//! What must NOT happen here: anything of the node's own (its keys, its store). The buyer tool
//! talks to the node only over HTTP, as any buyer app on the network does.

pub mod messages;
pub mod session;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context as _;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::config::{BuyerSettings, LookupApi};
use crate::metrics::Metrics;
use crate::protocol::keys::{KeyFile, KeyPairs};
use crate::protocol::signing::{digest_b64, SignatureHeader, Signer};
use crate::registry::{KeyDirectory, RegistryClient};

/// A callback the buyer tool heard.
#[derive(Debug, Clone)]
pub struct Heard {
    /// `on_search`, `on_select`, …
    pub action: String,
    /// The bytes as they arrived.
    pub raw: Vec<u8>,
    pub body: Value,
    /// Who signed it, once verified against the registry, or why it could not be.
    pub signed_by: Result<String, String>,
}

impl Heard {
    pub fn message_id(&self) -> &str {
        self.body["context"]["message_id"]
            .as_str()
            .unwrap_or_default()
    }

    pub fn transaction_id(&self) -> &str {
        self.body["context"]["transaction_id"]
            .as_str()
            .unwrap_or_default()
    }
}

/// The buyer tool's identity and connections for one command.
pub struct BuyerClient {
    settings: BuyerSettings,
    signer: Signer,
    http: reqwest::Client,
    heard: mpsc::UnboundedReceiver<Heard>,
    server: ServerHandle,
}

/// Loads the buyer tool's keys, with a message that says how to get them.
pub fn load_keys(settings: &BuyerSettings) -> anyhow::Result<KeyPairs> {
    if !settings.keys_file.exists() {
        anyhow::bail!(
            "the buyer tool has no key file at {}; `haat dev` creates one for the development network, or run `haat buyer keys` and register the keys it prints with your registry",
            settings.keys_file.display()
        );
    }
    Ok(KeyFile::load(&settings.keys_file)?)
}

/// Creates the buyer tool's key file if it is missing; returns its keys.
pub fn load_or_create_keys(settings: &BuyerSettings) -> anyhow::Result<KeyPairs> {
    if settings.keys_file.exists() {
        return load_keys(settings);
    }
    let unique_key_id = format!("buyer-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let keys = KeyPairs::generate(&unique_key_id);
    KeyFile::create(&settings.keys_file, &keys)?;
    Ok(keys)
}

impl BuyerClient {
    /// Loads the keys and starts listening for callbacks on `callback_listen`.
    pub async fn start(settings: &BuyerSettings) -> anyhow::Result<Self> {
        let keys = load_keys(settings)?;
        let signer = Signer::new(
            keys.signing.clone(),
            &settings.subscriber_id,
            &keys.unique_key_id,
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.wait_secs.max(10)))
            .build()
            .context("cannot set up the HTTP client")?;
        let registry = RegistryClient::new(
            http.clone(),
            &settings.registry_url,
            LookupApi::V2,
            signer.clone(),
        );
        let directory = KeyDirectory::new(
            registry,
            Duration::from_secs(300),
            Duration::from_secs(5),
            Metrics::new(),
        );
        let listener = TcpListener::bind(&settings.callback_listen).with_context(|| {
            format!(
                "cannot listen for callbacks on {}: is another `haat buyer` command (such as `haat buyer watch`) running? Stop it, or choose another address with HAAT_BUYER_CALLBACK_LISTEN",
                settings.callback_listen
            )
        })?;
        let (sender, heard) = mpsc::unbounded_channel();
        let listening = Arc::new(Listening { directory, sender });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(listening.clone()))
                .route("/{action}", web::post().to(callback))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            settings: settings.clone(),
            signer,
            http,
            heard,
            server: handle,
        })
    }

    /// (bap_id, bap_uri) for a request's context.
    pub fn bap(&self) -> (String, String) {
        (self.settings.subscriber_id.clone(), self.settings.bap_uri())
    }

    /// Signs and sends a request to `base_url` (the node, or a gateway for search); returns
    /// the synchronous answer, or an error in words when it is not an ACK.
    pub async fn send(&self, base_url: &str, body: &Value) -> anyhow::Result<()> {
        let action = body["context"]["action"].as_str().unwrap_or_default();
        let bytes = serde_json::to_vec(body)?;
        let created = chrono::Utc::now().timestamp() as u64;
        let authorization = self.signer.authorization(&bytes, created, created + 300);
        let url = format!("{}/{action}", base_url.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Authorization", authorization)
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("cannot reach the seller node at {url}; is it running?"))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if answer.pointer("/message/ack/status") == Some(&json!("ACK")) {
            return Ok(());
        }
        let error = &answer["error"];
        anyhow::bail!(
            "the node refused the {action} (HTTP {status}): {} {}{}",
            error["code"].as_str().unwrap_or("no code"),
            error["message"].as_str().unwrap_or("no message"),
            error["path"]
                .as_str()
                .map(|p| format!(" at {p}"))
                .unwrap_or_default()
        )
    }

    /// Collects callbacks until `done` says the wait is over (checked after each one), or
    /// `wait_secs` pass. `quiet` ends the wait that long after the last callback once `done`
    /// holds (on_search pages keep coming).
    pub async fn collect(
        &mut self,
        done: impl Fn(&[Heard]) -> bool,
        quiet: Option<Duration>,
    ) -> Vec<Heard> {
        let deadline = Instant::now() + Duration::from_secs(self.settings.wait_secs);
        let mut heard = Vec::new();
        let mut finished = false;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let limit = match (finished, quiet) {
                (true, Some(quiet)) => quiet.min(deadline - now),
                (true, None) => break,
                (false, _) => deadline - now,
            };
            match tokio::time::timeout(limit, self.heard.recv()).await {
                Ok(Some(callback)) => {
                    heard.push(callback);
                    finished = done(&heard);
                }
                Ok(None) | Err(_) => break,
            }
        }
        heard
    }

    /// Stops listening.
    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

struct Listening {
    directory: KeyDirectory,
    sender: mpsc::UnboundedSender<Heard>,
}

/// A callback arrives: verify who signed it, hand it to the command, answer ACK (or NACK
/// 20001 for a signature that does not hold, as a buyer app must).
async fn callback(
    request: HttpRequest,
    raw: web::Bytes,
    listening: web::Data<Listening>,
) -> HttpResponse {
    let action = request.match_info().query("action").to_owned();
    let body: Value = match serde_json::from_slice(&raw) {
        Ok(body) => body,
        Err(_) => {
            return HttpResponse::BadRequest().json(json!({"message": {"ack": {"status": "NACK"}},
                "error": {"type": "JSON-SCHEMA-ERROR", "code": "20006", "message": "the body is not JSON"}}))
        }
    };
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let signed_by = verify(&listening.directory, header, &raw, &body).await;
    let verified = signed_by.is_ok();
    let _ = listening.sender.send(Heard {
        action,
        raw: raw.to_vec(),
        body,
        signed_by,
    });
    if verified {
        HttpResponse::Ok().json(json!({"message": {"ack": {"status": "ACK"}}}))
    } else {
        HttpResponse::Unauthorized().json(json!({"message": {"ack": {"status": "NACK"}},
            "error": {"type": "CONTEXT-ERROR", "code": "20001", "message": "Invalid signature"}}))
    }
}

/// Checks a callback's Authorization against the registry's key of its signer, who must be
/// the seller node of the context.
async fn verify(
    directory: &KeyDirectory,
    header: &str,
    raw: &[u8],
    body: &Value,
) -> Result<String, String> {
    let parsed = SignatureHeader::parse("Authorization", header).map_err(|e| e.to_string())?;
    let now = chrono::Utc::now().timestamp() as u64;
    parsed.check_window(now, 5).map_err(|e| e.to_string())?;
    let bpp_id = body["context"]["bpp_id"].as_str().unwrap_or_default();
    if parsed.subscriber_id != bpp_id {
        return Err(format!(
            "signed by {}, but the context names the seller node {bpp_id}",
            parsed.subscriber_id
        ));
    }
    let (key, _) = directory
        .get(&parsed.key_ref())
        .await
        .map_err(|e| e.to_string())?;
    parsed
        .verify(&digest_b64(raw), &key.verifying_key)
        .map_err(|e| e.to_string())?;
    Ok(parsed.subscriber_id)
}
