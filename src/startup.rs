//! Builds the node: settings → keys → store → shared state → workers → bound HTTP server.
//! Production and every test start the node through `Application::build`.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use tokio::sync::{mpsc, Notify};

use crate::callbacks::OutboxWorker;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::processing::Processor;
use crate::protocol::context::Action;
use crate::protocol::keys::{KeyFile, KeyPairs};
use crate::protocol::schema::Schemas;
use crate::protocol::signing::Signer;
use crate::registry::{KeyDirectory, RegistryClient};
use crate::store::{JournalWriter, Store};

/// Everything a handler needs, cheap to clone and registered once.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub journal: JournalWriter,
    pub keys: KeyDirectory,
    pub signer: Signer,
    pub key_pairs: Arc<KeyPairs>,
    pub schemas: Schemas,
    pub metrics: Metrics,
    /// Hands acknowledged requests to the processor; bounded, so that a backlog waits in the
    /// journal (and is swept from there) rather than in memory.
    pub inbound_ready: mpsc::Sender<crate::store::PendingInbound>,
    pub outbox_wakeup: Arc<Notify>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Keys(#[from] crate::protocol::keys::KeyFileError),
    #[error("cannot open the store at {url}: {source}")]
    Store {
        url: String,
        source: crate::store::StoreError,
    },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Loads the node's keys, creating the key file on first start.
pub fn load_or_create_keys(settings: &Settings) -> Result<KeyPairs, StartupError> {
    let path = &settings.keys_file;
    if path.exists() {
        let mut keys = KeyFile::load(path)?;
        if !settings.unique_key_id.is_empty() {
            keys.unique_key_id = settings.unique_key_id.clone();
        }
        return Ok(keys);
    }
    let unique_key_id = if settings.unique_key_id.is_empty() {
        format!("haat-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
    } else {
        settings.unique_key_id.clone()
    };
    let keys = KeyPairs::generate(&unique_key_id);
    KeyFile::create(path, &keys)?;
    tracing::info!(
        path = %path.display(),
        unique_key_id = %unique_key_id,
        "no key file was found, so new keys were created there; register their public halves with `haat keys show`"
    );
    Ok(keys)
}

/// The HTTP client for callbacks and registry calls.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, StartupError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(64)
        .user_agent(concat!("haat/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StartupError::Http(e.to_string()))
}

/// The node's listening socket: its own, or with `reuse_port` one that other node processes
/// on this machine share (the kernel spreads connections over them).
fn bind(settings: &Settings) -> std::io::Result<TcpListener> {
    if !settings.reuse_port {
        return TcpListener::bind(&settings.listen);
    }
    let address: std::net::SocketAddr = settings
        .listen
        .parse()
        .map_err(|_| std::io::Error::other("not an address"))?;
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(address)?;
    socket.listen(1024)?.into_std()
}

pub struct Application {
    port: u16,
    server: Server,
    pub state: web::Data<AppState>,
    /// Stops the delivery of callbacks once the HTTP server has stopped.
    deliveries: crate::callbacks::Stopper,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let listener = bind(&settings).map_err(|source| StartupError::Listen {
            address: settings.listen.clone(),
            source,
        })?;
        Self::build_with_listener(settings, listener).await
    }

    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        let settings = Arc::new(settings);
        let key_pairs = Arc::new(load_or_create_keys(&settings)?);
        let store = Store::connect_with(&settings.database_url, settings.store_options())
            .await
            .map_err(|source| StartupError::Store {
                url: redact(&settings.database_url),
                source,
            })?;
        let metrics = Metrics::new();
        let signer = Signer::new(
            key_pairs.signing.clone(),
            &settings.subscriber_id,
            &key_pairs.unique_key_id,
        );
        let http = http_client(Duration::from_millis(
            settings.outbox.timeout_ms.max(settings.registry.timeout_ms),
        ))?;
        let registry = RegistryClient::new(
            http.clone(),
            &settings.registry_url,
            settings.registry.lookup_api,
            signer.clone(),
        );
        let keys = KeyDirectory::new(
            registry,
            Duration::from_secs(settings.registry.cache_max_secs),
            Duration::from_secs(settings.registry.negative_cache_secs),
            metrics.clone(),
        );
        let schemas = Schemas::default();
        {
            // Compile the request schemas off the request path.
            let schemas = schemas.clone();
            let domains = settings.domains.clone();
            tokio::task::spawn_blocking(move || {
                let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                schemas.warm_up(&domains, &actions);
            });
        }
        if settings.catalog.load_demo {
            load_demo_catalog(&store, &settings).await;
        }
        let journal = JournalWriter::start(store.clone());
        let outbox_wakeup = Arc::new(Notify::new());
        let (inbound_ready, ready_receiver) = mpsc::channel(4096);

        let mut outbox_worker = OutboxWorker::new(
            store.clone(),
            http,
            signer.clone(),
            settings.outbox.clone(),
            metrics.clone(),
            outbox_wakeup.clone(),
        );
        let handoff = outbox_worker.handoff();
        let deliveries = outbox_worker.stopper();
        tokio::spawn(
            Processor::new(store.clone(), settings.clone(), outbox_wakeup.clone())
                .with_handoff(handoff)
                .run(ready_receiver),
        );
        tokio::spawn(crate::processing::push::run(
            store.clone(),
            settings.clone(),
            outbox_wakeup.clone(),
        ));
        tokio::spawn(outbox_worker.run());

        let state = web::Data::new(AppState {
            settings: settings.clone(),
            store,
            journal,
            keys,
            signer,
            key_pairs,
            schemas,
            metrics,
            inbound_ready,
            outbox_wakeup,
        });
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Listen {
                address: settings.listen.clone(),
                source,
            })?
            .port();
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(settings.inbound.max_body_bytes))
                .configure(crate::http::routes)
        })
        .listen(listener)
        .map_err(|source| StartupError::Listen {
            address: "the given listener".into(),
            source,
        })?
        .run();
        Ok(Self {
            port,
            server,
            state,
            deliveries,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a signal stops the HTTP server (SIGTERM: once the requests in hand are
    /// answered; SIGINT: at once, dropping them unacknowledged). Then stops delivering
    /// callbacks (see `Stopper::stop`): the deliveries under way end and are recorded, and the
    /// callbacks this process had claimed but not sent are left for another replica or the
    /// next start to send at once. Requests acknowledged and not processed yet stay in the
    /// journal, where the next sweep finds them.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let within = Duration::from_millis(self.state.settings.outbox.timeout_ms + 2_000);
        let stopped = self.deliveries.stop(within).await;
        if stopped.finished {
            tracing::info!(
                released = stopped.released,
                "stopped: every callback under way was sent and its outcome recorded"
            );
        } else {
            tracing::warn!(
                released = stopped.released,
                "stopped before every callback under way was recorded; buyer apps may get those again, with the same message_id"
            );
        }
        // Closed here, the pool lets the statements under way finish and closes its
        // connections, rather than have them cut off as the runtime ends.
        if tokio::time::timeout(Duration::from_secs(2), self.state.store.close())
            .await
            .is_err()
        {
            tracing::warn!("the store did not close within 2 s");
        }
        served
    }
}

/// What catalogue validation accepts, from the settings.
pub fn catalog_policy(settings: &Settings) -> crate::catalog::validate::Policy {
    crate::catalog::validate::Policy {
        domains: settings.domains.clone(),
        allow_non_ean_codes: settings.catalog.allow_non_ean_codes,
    }
}

/// Loads the demo catalogue into an empty store, so that a fresh node has something to sell.
async fn load_demo_catalog(store: &Store, settings: &Settings) {
    use crate::catalog::import::{read_catalog, Format, DEMO};
    match store.catalog_is_empty().await {
        Ok(true) => {}
        Ok(false) => return,
        Err(error) => {
            tracing::warn!(error = %error, "cannot tell whether the catalogue is empty; the demo catalogue was not loaded");
            return;
        }
    }
    let file = match read_catalog(DEMO.as_bytes(), Format::Json, &catalog_policy(settings)) {
        Ok(file) => file,
        Err(problems) => {
            tracing::warn!(first = %problems[0], count = problems.len(), "the demo catalogue does not pass this node's settings; not loaded");
            return;
        }
    };
    match store.import_catalog(&file, "demo").await {
        Ok(report) => tracing::info!(
            providers = file.providers.len(),
            added = report.added,
            "loaded the demo ODOP catalogue (sample prices, stock and contacts); turn it off with HAAT_CATALOG_LOAD_DEMO=false"
        ),
        Err(error) => tracing::warn!(error = %error, "the demo catalogue could not be stored"),
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
