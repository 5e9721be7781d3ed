//! Typed settings, loaded once at start-up: `config/default.toml` (compiled in), then an
//! optional `--config FILE`, then `HAAT_*` environment variables. Every setting is checked
//! here, so a bad value stops start-up with a message naming it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::protocol::context::{is_http_url, is_subscriber_id};
use toml::Value;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    /// Share `listen` with other node processes (SO_REUSEPORT).
    pub reuse_port: bool,
    pub database_url: String,
    pub subscriber_id: String,
    pub subscriber_url: String,
    pub unique_key_id: String,
    pub keys_file: PathBuf,
    pub registry_url: String,
    pub domains: Vec<String>,
    /// How SQLite makes commits durable: "normal" or "full".
    pub sqlite_synchronous: crate::store::SqliteSync,
    /// Most connections each node process opens to PostgreSQL.
    pub postgres_connections: u32,
    pub inbound: InboundSettings,
    pub registry: RegistrySettings,
    pub outbox: OutboxSettings,
    pub support: SupportSettings,
    pub catalog: CatalogSettings,
    pub orders: OrderSettings,
    pub telemetry: TelemetrySettings,
    /// Refuse to start without a real registry (`check_production`).
    pub production: bool,
    pub dev: DevSettings,
    pub buyer: BuyerSettings,
}

/// `haat dev`: the development network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevSettings {
    pub registry_listen: String,
}

/// `haat buyer`: the buyer-app client's own identity and where it talks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyerSettings {
    pub subscriber_id: String,
    pub keys_file: PathBuf,
    pub callback_listen: String,
    pub callback_url: String,
    pub node_url: String,
    pub registry_url: String,
    pub session_file: PathBuf,
    pub wait_secs: u64,
    pub finder_fee_percent: String,
    pub gstin: String,
}

impl BuyerSettings {
    /// The bap_uri the buyer sends: where its callbacks must reach it.
    pub fn bap_uri(&self) -> String {
        if self.callback_url.is_empty() {
            format!("http://{}", self.callback_listen)
        } else {
            self.callback_url.trim_end_matches('/').to_owned()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSettings {
    pub quote_ttl: String,
    pub max_finder_fee_percent: String,
    pub np_gstin: String,
    pub settlement_basis: String,
    pub settlement_window: String,
    pub withholding_amount: String,
    pub auto_accept: bool,
    pub settlement: SettlementSettings,
}

/// The seller app's own account (`settlement_counterparty: seller-app`). Empty type: each
/// seller's account from its catalogue terms is used.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementSettings {
    pub settlement_type: String,
    pub beneficiary_name: String,
    pub upi_address: String,
    pub account_no: String,
    pub ifsc_code: String,
    pub bank_name: String,
    pub branch_name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    pub load_demo: bool,
    pub allow_non_ean_codes: bool,
    pub max_on_search_bytes: usize,
    pub push_interval_secs: u64,
    pub np_name: String,
    pub np_short_desc: String,
    pub np_long_desc: String,
    pub np_symbol: String,
    pub np_type: String,
    pub provider_ttl: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportSettings {
    pub phone: String,
    pub email: String,
    pub uri: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundSettings {
    pub max_body_bytes: usize,
    pub clock_skew_secs: u64,
    pub default_ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LookupApi {
    V1,
    V2,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    pub lookup_api: LookupApi,
    pub encryption_public_key: String,
    pub cache_max_secs: u64,
    pub negative_cache_secs: u64,
    pub timeout_ms: u64,
    pub site_verification_request_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    pub concurrency: usize,
    pub poll_interval_ms: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    pub unsolicited_horizon_secs: u64,
    pub timeout_ms: u64,
    pub signature_validity_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    pub log_level: String,
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Integer,
    List,
}

/// Every environment variable Haat reads, the setting it sets and how its text is read.
const ENVIRONMENT: &[(&str, &str, Kind)] = &[
    ("HAAT_LISTEN", "listen", Kind::Text),
    ("HAAT_REUSE_PORT", "reuse_port", Kind::Bool),
    ("HAAT_DATABASE_URL", "database_url", Kind::Text),
    ("HAAT_SUBSCRIBER_ID", "subscriber_id", Kind::Text),
    ("HAAT_SUBSCRIBER_URL", "subscriber_url", Kind::Text),
    ("HAAT_UNIQUE_KEY_ID", "unique_key_id", Kind::Text),
    ("HAAT_KEYS_FILE", "keys_file", Kind::Text),
    ("HAAT_REGISTRY_URL", "registry_url", Kind::Text),
    ("HAAT_DOMAINS", "domains", Kind::List),
    ("HAAT_SQLITE_SYNCHRONOUS", "sqlite_synchronous", Kind::Text),
    (
        "HAAT_POSTGRES_CONNECTIONS",
        "postgres_connections",
        Kind::Integer,
    ),
    (
        "HAAT_MAX_BODY_BYTES",
        "inbound.max_body_bytes",
        Kind::Integer,
    ),
    (
        "HAAT_CLOCK_SKEW_SECS",
        "inbound.clock_skew_secs",
        Kind::Integer,
    ),
    (
        "HAAT_DEFAULT_TTL_SECS",
        "inbound.default_ttl_secs",
        Kind::Integer,
    ),
    (
        "HAAT_REGISTRY_LOOKUP_API",
        "registry.lookup_api",
        Kind::Text,
    ),
    (
        "HAAT_REGISTRY_ENCRYPTION_KEY",
        "registry.encryption_public_key",
        Kind::Text,
    ),
    (
        "HAAT_LOOKUP_CACHE_SECS",
        "registry.cache_max_secs",
        Kind::Integer,
    ),
    (
        "HAAT_LOOKUP_NEGATIVE_CACHE_SECS",
        "registry.negative_cache_secs",
        Kind::Integer,
    ),
    (
        "HAAT_REGISTRY_TIMEOUT_MS",
        "registry.timeout_ms",
        Kind::Integer,
    ),
    (
        "HAAT_SITE_VERIFICATION_REQUEST_ID",
        "registry.site_verification_request_id",
        Kind::Text,
    ),
    (
        "HAAT_OUTBOX_CONCURRENCY",
        "outbox.concurrency",
        Kind::Integer,
    ),
    (
        "HAAT_OUTBOX_POLL_MS",
        "outbox.poll_interval_ms",
        Kind::Integer,
    ),
    (
        "HAAT_OUTBOX_BACKOFF_INITIAL_MS",
        "outbox.backoff_initial_ms",
        Kind::Integer,
    ),
    (
        "HAAT_OUTBOX_BACKOFF_MAX_MS",
        "outbox.backoff_max_ms",
        Kind::Integer,
    ),
    (
        "HAAT_OUTBOX_UNSOLICITED_HORIZON_SECS",
        "outbox.unsolicited_horizon_secs",
        Kind::Integer,
    ),
    ("HAAT_OUTBOX_TIMEOUT_MS", "outbox.timeout_ms", Kind::Integer),
    (
        "HAAT_SIGNATURE_VALIDITY_SECS",
        "outbox.signature_validity_secs",
        Kind::Integer,
    ),
    ("HAAT_SUPPORT_PHONE", "support.phone", Kind::Text),
    ("HAAT_SUPPORT_EMAIL", "support.email", Kind::Text),
    ("HAAT_SUPPORT_URI", "support.uri", Kind::Text),
    ("HAAT_CATALOG_LOAD_DEMO", "catalog.load_demo", Kind::Bool),
    (
        "HAAT_CATALOG_ALLOW_NON_EAN",
        "catalog.allow_non_ean_codes",
        Kind::Bool,
    ),
    (
        "HAAT_ON_SEARCH_MAX_BYTES",
        "catalog.max_on_search_bytes",
        Kind::Integer,
    ),
    (
        "HAAT_CATALOG_PUSH_SECS",
        "catalog.push_interval_secs",
        Kind::Integer,
    ),
    ("HAAT_NP_NAME", "catalog.np_name", Kind::Text),
    ("HAAT_NP_SYMBOL", "catalog.np_symbol", Kind::Text),
    ("HAAT_NP_TYPE", "catalog.np_type", Kind::Text),
    ("HAAT_QUOTE_TTL", "orders.quote_ttl", Kind::Text),
    (
        "HAAT_MAX_FINDER_FEE_PERCENT",
        "orders.max_finder_fee_percent",
        Kind::Text,
    ),
    ("HAAT_NP_GSTIN", "orders.np_gstin", Kind::Text),
    ("HAAT_ORDERS_AUTO_ACCEPT", "orders.auto_accept", Kind::Bool),
    (
        "HAAT_SETTLEMENT_TYPE",
        "orders.settlement.settlement_type",
        Kind::Text,
    ),
    (
        "HAAT_SETTLEMENT_BENEFICIARY",
        "orders.settlement.beneficiary_name",
        Kind::Text,
    ),
    (
        "HAAT_SETTLEMENT_UPI",
        "orders.settlement.upi_address",
        Kind::Text,
    ),
    (
        "HAAT_SETTLEMENT_ACCOUNT",
        "orders.settlement.account_no",
        Kind::Text,
    ),
    (
        "HAAT_SETTLEMENT_IFSC",
        "orders.settlement.ifsc_code",
        Kind::Text,
    ),
    (
        "HAAT_SETTLEMENT_BANK",
        "orders.settlement.bank_name",
        Kind::Text,
    ),
    (
        "HAAT_SETTLEMENT_BRANCH",
        "orders.settlement.branch_name",
        Kind::Text,
    ),
    ("HAAT_PRODUCTION", "production", Kind::Bool),
    (
        "HAAT_DEV_REGISTRY_LISTEN",
        "dev.registry_listen",
        Kind::Text,
    ),
    (
        "HAAT_BUYER_SUBSCRIBER_ID",
        "buyer.subscriber_id",
        Kind::Text,
    ),
    ("HAAT_BUYER_KEYS_FILE", "buyer.keys_file", Kind::Text),
    (
        "HAAT_BUYER_CALLBACK_LISTEN",
        "buyer.callback_listen",
        Kind::Text,
    ),
    ("HAAT_BUYER_CALLBACK_URL", "buyer.callback_url", Kind::Text),
    ("HAAT_BUYER_NODE_URL", "buyer.node_url", Kind::Text),
    ("HAAT_BUYER_REGISTRY_URL", "buyer.registry_url", Kind::Text),
    ("HAAT_BUYER_SESSION_FILE", "buyer.session_file", Kind::Text),
    ("HAAT_BUYER_WAIT_SECS", "buyer.wait_secs", Kind::Integer),
    (
        "HAAT_BUYER_FINDER_FEE_PERCENT",
        "buyer.finder_fee_percent",
        Kind::Text,
    ),
    ("HAAT_BUYER_GSTIN", "buyer.gstin", Kind::Text),
    ("HAAT_LOG_FORMAT", "telemetry.log_format", Kind::Text),
    ("HAAT_LOG", "telemetry.log_level", Kind::Text),
];

/// A registry a production node may trust: https, and not on this machine (a development
/// registry is local and knows whatever it is told).
pub fn is_real_registry(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    !host.is_empty() && !local
}

/// The environment variable that sets a setting, for error messages.
pub fn env_name(setting: &str) -> Option<&'static str> {
    ENVIRONMENT
        .iter()
        .find(|(_, path, _)| *path == setting)
        .map(|(name, _, _)| *name)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the settings file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the settings file {path} is not valid TOML: {source}")]
    Toml {
        path: String,
        source: toml::de::Error,
    },
    #[error("{name}={value:?} is not a whole number")]
    NotANumber { name: &'static str, value: String },
    #[error("{name}={value:?} is not true or false")]
    NotABoolean { name: &'static str, value: String },
    #[error("settings: {0}")]
    Shape(String),
    #[error("setting {setting}{env}: {problem}")]
    Invalid {
        setting: &'static str,
        env: String,
        problem: String,
    },
}

fn invalid(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    let env = env_name(setting)
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    ConfigError::Invalid {
        setting,
        env,
        problem: problem.into(),
    }
}

impl Settings {
    /// How the store is opened.
    pub fn store_options(&self) -> crate::store::ConnectOptions {
        crate::store::ConnectOptions {
            sqlite_sync: self.sqlite_synchronous,
            postgres_connections: self.postgres_connections,
        }
    }

    /// Loads the settings from the compiled-in defaults, `file` and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, |name| std::env::var(name).ok())
    }

    /// Loads the settings with `env` standing in for the process environment (for tests).
    pub fn load_with(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut merged: Value = DEFAULTS.parse().expect("config/default.toml is valid TOML");
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: shown.clone(),
                source,
            })?;
            let layer: Value = text.parse().map_err(|source| ConfigError::Toml {
                path: shown,
                source,
            })?;
            merge(&mut merged, layer);
        }
        for (name, path, kind) in ENVIRONMENT {
            let Some(raw) = env(name) else { continue };
            let value = match kind {
                Kind::Text => Value::String(raw),
                Kind::Bool => match raw.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" | "on" => Value::Boolean(true),
                    "false" | "no" | "0" | "off" => Value::Boolean(false),
                    _ => return Err(ConfigError::NotABoolean { name, value: raw }),
                },
                Kind::Integer => {
                    Value::Integer(raw.trim().parse().map_err(|_| ConfigError::NotANumber {
                        name,
                        value: raw.clone(),
                    })?)
                }
                Kind::List => Value::Array(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.into()))
                        .collect(),
                ),
            };
            set_path(&mut merged, path, value);
        }
        let settings: Settings = merged
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Shape(e.message().to_owned()))?;
        settings.check()?;
        Ok(settings)
    }

    fn check_orders(&self) -> Result<(), ConfigError> {
        use crate::catalog::model::{Settlement, Terms};
        let orders = &self.orders;
        for (setting, value) in [
            ("orders.quote_ttl", &orders.quote_ttl),
            ("orders.settlement_window", &orders.settlement_window),
        ] {
            if crate::protocol::time::parse_duration_ms(value).is_none_or(|ms| ms <= 0) {
                return Err(invalid(
                    setting,
                    "must be an ISO 8601 duration such as PT30M or P1D",
                ));
            }
        }
        for (setting, value) in [
            (
                "orders.max_finder_fee_percent",
                &orders.max_finder_fee_percent,
            ),
            ("orders.withholding_amount", &orders.withholding_amount),
        ] {
            if !crate::catalog::validate::is_percent(value) {
                return Err(invalid(
                    setting,
                    "must be a percentage from 0 to 100, such as 3.00",
                ));
            }
        }
        if !matches!(
            orders.settlement_basis.as_str(),
            "delivery" | "shipment" | "return_window_expiry"
        ) {
            return Err(invalid(
                "orders.settlement_basis",
                "must be delivery, shipment or return_window_expiry",
            ));
        }
        if !orders.np_gstin.is_empty() && !crate::catalog::validate::is_gstin(&orders.np_gstin) {
            return Err(invalid("orders.np_gstin", "is not a 15-character GSTIN"));
        }
        let node = &orders.settlement;
        if !node.settlement_type.is_empty() {
            // The same checks as a seller's own account in the catalogue.
            let some = |v: &String| Some(v.clone()).filter(|v| !v.is_empty());
            let settlement = Settlement {
                settlement_type: node.settlement_type.clone(),
                beneficiary_name: node.beneficiary_name.clone(),
                upi_address: some(&node.upi_address),
                account_no: some(&node.account_no),
                ifsc_code: some(&node.ifsc_code),
                bank_name: some(&node.bank_name),
                branch_name: some(&node.branch_name),
            };
            let terms = Terms {
                settlement: Some(settlement),
                ..Terms::default()
            };
            if let Some(problem) = crate::catalog::validate::terms_problems(&terms)
                .into_iter()
                .next()
            {
                return Err(invalid("orders.settlement", problem));
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.check_buyer()?;
        let url = self.database_url.as_str();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                "must start with sqlite:// (embedded) or postgres:// (shared)",
            ));
        }
        if !is_subscriber_id(&self.subscriber_id) {
            return Err(invalid(
                "subscriber_id",
                "must be a host name such as seller.example.com, not a URL",
            ));
        }
        if !is_http_url(&self.subscriber_url) {
            return Err(invalid(
                "subscriber_url",
                "must be an http:// or https:// URL",
            ));
        }
        if !is_http_url(&self.registry_url) {
            return Err(invalid(
                "registry_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.postgres_connections == 0 {
            return Err(invalid("postgres_connections", "must be at least 1"));
        }
        if self.keys_file.as_os_str().is_empty() {
            return Err(invalid("keys_file", "must name a file"));
        }
        if self.domains.is_empty() {
            return Err(invalid(
                "domains",
                "must list at least one domain, e.g. ONDC:RET16",
            ));
        }
        for domain in &self.domains {
            let ok = domain.strip_prefix("ONDC:RET").is_some_and(|rest| {
                rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            });
            if !ok {
                return Err(invalid(
                    "domains",
                    format!("\"{domain}\" is not a retail domain code such as ONDC:RET16"),
                ));
            }
        }
        if self.inbound.max_body_bytes < 1024 {
            return Err(invalid("inbound.max_body_bytes", "must be at least 1024"));
        }
        if self.inbound.clock_skew_secs > 300 {
            return Err(invalid("inbound.clock_skew_secs", "must be at most 300"));
        }
        if self.inbound.default_ttl_secs == 0 {
            return Err(invalid("inbound.default_ttl_secs", "must be positive"));
        }
        if !self.registry.encryption_public_key.is_empty()
            && crate::protocol::keys::x25519_public_from_b64(&self.registry.encryption_public_key)
                .is_err()
        {
            return Err(invalid(
                "registry.encryption_public_key",
                "is not a base64 X25519 key (MCowBQYDK2VuAyEA...)",
            ));
        }
        if self.outbox.concurrency == 0 {
            return Err(invalid("outbox.concurrency", "must be positive"));
        }
        if self.outbox.poll_interval_ms == 0 {
            return Err(invalid("outbox.poll_interval_ms", "must be positive"));
        }
        if self.outbox.backoff_initial_ms == 0
            || self.outbox.backoff_max_ms < self.outbox.backoff_initial_ms
        {
            return Err(invalid(
                "outbox.backoff_max_ms",
                "must be at least outbox.backoff_initial_ms, which must be positive",
            ));
        }
        if self.outbox.signature_validity_secs == 0 {
            return Err(invalid(
                "outbox.signature_validity_secs",
                "must be positive",
            ));
        }
        let phone = &self.support.phone;
        let phone_ok = phone.is_empty()
            || ((10..=11).contains(&phone.len()) && phone.bytes().all(|b| b.is_ascii_digit()));
        if !phone_ok {
            return Err(invalid("support.phone", "must be 10 or 11 digits"));
        }
        if self.catalog.max_on_search_bytes < 8192 {
            return Err(invalid(
                "catalog.max_on_search_bytes",
                "must be at least 8192",
            ));
        }
        if self.catalog.push_interval_secs == 0 {
            return Err(invalid("catalog.push_interval_secs", "must be positive"));
        }
        if self.catalog.np_type != "MSN" && self.catalog.np_type != "ISN" {
            return Err(invalid(
                "catalog.np_type",
                "must be MSN (many sellers) or ISN (one seller)",
            ));
        }
        if !is_http_url(&self.catalog.np_symbol) {
            return Err(invalid(
                "catalog.np_symbol",
                "must be an http(s) URL of the logo",
            ));
        }
        if crate::protocol::time::parse_duration_ms(&self.catalog.provider_ttl).is_none() {
            return Err(invalid(
                "catalog.provider_ttl",
                "must be an ISO 8601 duration such as P1D",
            ));
        }
        self.check_orders()?;
        if tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_level).is_err() {
            return Err(invalid(
                "telemetry.log_level",
                "is not a valid filter such as \"info\" or \"haat=debug\"",
            ));
        }
        Ok(())
    }

    /// The buyer tool's and the development network's settings.
    fn check_buyer(&self) -> Result<(), ConfigError> {
        let buyer = &self.buyer;
        if !is_subscriber_id(&buyer.subscriber_id) {
            return Err(invalid(
                "buyer.subscriber_id",
                "must be a host name such as buyer.example.com, not a URL",
            ));
        }
        if buyer.callback_listen.parse::<SocketAddr>().is_err() {
            return Err(invalid(
                "buyer.callback_listen",
                format!(
                    "\"{}\" is not an address such as 127.0.0.1:8082",
                    buyer.callback_listen
                ),
            ));
        }
        if !buyer.callback_url.is_empty() && !is_http_url(&buyer.callback_url) {
            return Err(invalid(
                "buyer.callback_url",
                "must be empty or an http:// or https:// URL",
            ));
        }
        for (setting, url) in [
            ("buyer.node_url", &buyer.node_url),
            ("buyer.registry_url", &buyer.registry_url),
        ] {
            if !is_http_url(url) {
                return Err(invalid(setting, "must be an http:// or https:// URL"));
            }
        }
        if buyer.wait_secs == 0 || buyer.wait_secs > 300 {
            return Err(invalid("buyer.wait_secs", "must be between 1 and 300"));
        }
        let fee_ok = buyer
            .finder_fee_percent
            .parse::<f64>()
            .is_ok_and(|fee| (0.0..=100.0).contains(&fee));
        if !fee_ok {
            return Err(invalid(
                "buyer.finder_fee_percent",
                "must be a percentage between 0 and 100, e.g. 3",
            ));
        }
        if self.dev.registry_listen.parse::<SocketAddr>().is_err() {
            return Err(invalid(
                "dev.registry_listen",
                format!(
                    "\"{}\" is not an address such as 127.0.0.1:8081",
                    self.dev.registry_listen
                ),
            ));
        }
        if self.production && !is_real_registry(&self.registry_url) {
            return Err(invalid(
                "registry_url",
                format!(
                    "is {}, but a node in production must look peers up in a real registry: an https:// URL of another host, such as https://prod.registry.ondc.org",
                    self.registry_url
                ),
            ));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!(
                    "\"{}\" is not an address such as 127.0.0.1:8080",
                    self.listen
                ),
            )
        })
    }

    /// The registry's encryption key for the challenge: the configured one, or the key ONDC
    /// publishes for the environment `registry_url` points at.
    pub fn registry_encryption_key(&self) -> Option<String> {
        if !self.registry.encryption_public_key.is_empty() {
            return Some(self.registry.encryption_public_key.clone());
        }
        crate::registry::environment_for_url(&self.registry_url)
            .map(|env| env.encryption_public_key.to_owned())
    }

    /// Every environment variable and what it sets, for `--help` texts and the README.
    pub fn environment_variables() -> impl Iterator<Item = (&'static str, &'static str)> {
        ENVIRONMENT.iter().map(|(name, path, _)| (*name, *path))
    }
}

fn merge(base: &mut Value, layer: Value) {
    match (base, layer) {
        (Value::Table(base), Value::Table(layer)) => {
            for (key, value) in layer {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let table = node
            .as_table_mut()
            .expect("settings paths go through tables");
        if parts.peek().is_none() {
            table.insert(part.to_owned(), value);
            return;
        }
        node = table
            .entry(part.to_owned())
            .or_insert_with(|| Value::Table(Default::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with(None, |name| env.get(name).cloned())
    }

    #[test]
    fn the_compiled_in_defaults_load() {
        let settings = load(&[]).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:8080");
        assert!(settings.database_url.starts_with("sqlite://"));
    }

    #[test]
    fn environment_variables_override_the_defaults() {
        let settings = load(&[
            ("HAAT_LISTEN", "0.0.0.0:9000"),
            ("HAAT_MAX_BODY_BYTES", "4096"),
            ("HAAT_DOMAINS", "ONDC:RET16, ONDC:RET12"),
        ])
        .unwrap();
        assert_eq!(settings.listen, "0.0.0.0:9000");
        assert_eq!(settings.inbound.max_body_bytes, 4096);
        assert_eq!(settings.domains, vec!["ONDC:RET16", "ONDC:RET12"]);
    }

    #[test]
    fn a_bad_setting_is_refused_with_its_name_and_variable() {
        let error = load(&[("HAAT_LISTEN", "nowhere")]).unwrap_err().to_string();
        assert!(
            error.contains("listen") && error.contains("HAAT_LISTEN"),
            "{error}"
        );
        let error = load(&[("HAAT_DATABASE_URL", "mysql://x")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("HAAT_DATABASE_URL"), "{error}");
        let error = load(&[("HAAT_SUBSCRIBER_ID", "https://seller.example.com")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("HAAT_SUBSCRIBER_ID"), "{error}");
        let error = load(&[("HAAT_OUTBOX_CONCURRENCY", "many")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("HAAT_OUTBOX_CONCURRENCY"), "{error}");
        let error = load(&[("HAAT_POSTGRES_CONNECTIONS", "0")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("HAAT_POSTGRES_CONNECTIONS"), "{error}");
    }

    #[test]
    fn the_store_is_opened_with_the_operators_connection_count() {
        assert_eq!(load(&[]).unwrap().store_options().postgres_connections, 8);
        let settings = load(&[("HAAT_POSTGRES_CONNECTIONS", "20")]).unwrap();
        assert_eq!(settings.store_options().postgres_connections, 20);
    }

    #[test]
    fn a_settings_file_is_laid_over_the_defaults() {
        let dir = std::env::temp_dir().join(format!("haat-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("node.toml");
        std::fs::write(
            &file,
            "subscriber_id = \"seller.example.com\"\n[outbox]\nconcurrency = 3\n",
        )
        .unwrap();
        let settings = Settings::load_with(Some(&file), |_| None).unwrap();
        assert_eq!(settings.subscriber_id, "seller.example.com");
        assert_eq!(settings.outbox.concurrency, 3);
        assert_eq!(settings.outbox.poll_interval_ms, 200);
    }

    #[test]
    fn a_production_node_refuses_a_registry_on_this_machine() {
        for url in [
            "http://127.0.0.1:8081",
            "https://localhost:8081",
            "https://127.0.0.1",
            "https://[::1]:8443/lookup",
            "http://prod.registry.ondc.org",
        ] {
            let error = load(&[("HAAT_PRODUCTION", "true"), ("HAAT_REGISTRY_URL", url)])
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("registry_url") && error.contains("production"),
                "{url}: {error}"
            );
        }
        let settings = load(&[
            ("HAAT_PRODUCTION", "true"),
            ("HAAT_REGISTRY_URL", "https://prod.registry.ondc.org"),
        ])
        .unwrap();
        assert!(settings.production);
        assert!(load(&[("HAAT_REGISTRY_URL", "http://127.0.0.1:8081")]).is_ok());
    }

    #[test]
    fn the_buyer_tool_sends_its_callback_address_as_bap_uri() {
        let settings = load(&[]).unwrap();
        assert_eq!(settings.buyer.bap_uri(), "http://127.0.0.1:8082");
        let settings =
            load(&[("HAAT_BUYER_CALLBACK_URL", "https://buyer.example.com/ondc/")]).unwrap();
        assert_eq!(settings.buyer.bap_uri(), "https://buyer.example.com/ondc");
        let error = load(&[("HAAT_BUYER_CALLBACK_LISTEN", "here")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("HAAT_BUYER_CALLBACK_LISTEN"), "{error}");
    }
}
