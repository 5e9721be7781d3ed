//! The network registry: looking up peers' keys (with a cache), and subscribing our node.

mod lookup;
mod subscribe;

pub use lookup::{
    Freshness, KeyDirectory, LookupError, RegisteredKey, RegistryClient, SubscriberType,
};
pub use subscribe::{subscribe_body, Entity, SubscribeRequest};

/// An ONDC registry environment as published in developer-docs (SIGNING-AND-REGISTRY.md §3.1).
#[derive(Debug, Clone, Copy)]
pub struct Environment {
    pub name: &'static str,
    pub base_url: &'static str,
    pub subscribe_url: &'static str,
    pub encryption_public_key: &'static str,
}

pub const ENVIRONMENTS: [Environment; 3] = [
    Environment {
        name: "staging",
        base_url: "https://staging.registry.ondc.org",
        subscribe_url: "https://staging.registry.ondc.org/subscribe",
        encryption_public_key: "MCowBQYDK2VuAyEAduMuZgmtpjdCuxv+Nc49K0cB6tL/Dj3HZetvVN7ZekM=",
    },
    Environment {
        name: "pre-prod",
        base_url: "https://preprod.registry.ondc.org",
        subscribe_url: "https://preprod.registry.ondc.org/ondc/subscribe",
        encryption_public_key: "MCowBQYDK2VuAyEAa9Wbpvd9SsrpOZFcynyt/TO3x0Yrqyys4NUGIvyxX2Q=",
    },
    Environment {
        name: "prod",
        base_url: "https://prod.registry.ondc.org",
        subscribe_url: "https://prod.registry.ondc.org/subscribe",
        encryption_public_key: "MCowBQYDK2VuAyEAvVEyZY91O2yV8w8/CAwVDAnqIZDJJUPdLUUKwLo3K0M=",
    },
];

/// The environment a registry URL belongs to, if it is one of ONDC's.
pub fn environment_for_url(url: &str) -> Option<&'static Environment> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    ENVIRONMENTS.iter().find(|env| env.base_url.ends_with(host))
}

/// An environment by name (`staging`, `pre-prod`/`preprod`, `prod`).
pub fn environment_named(name: &str) -> Option<&'static Environment> {
    let wanted = if name == "preprod" { "pre-prod" } else { name };
    ENVIRONMENTS.iter().find(|env| env.name == wanted)
}
