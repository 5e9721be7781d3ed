//! `haat dev`: a local network in one command. The node on its embedded store with the demo
//! catalogue, plus a development registry in the same process that knows the node and the
//! `haat buyer` tool, so that `haat buyer search pashmina` gets real, signed on_search answers.

use std::net::TcpListener;

use anyhow::Context as _;

use crate::buyer;
use crate::catalog::import::{read_catalog, Format, DEMO};
use crate::config::{LookupApi, Settings};
use crate::dev::{self, Participant};
use crate::startup::{catalog_policy, load_or_create_keys, redact, Application};
use crate::store::Store;

#[derive(clap::Args)]
pub struct DevArgs {
    /// Keep the demo stores' own hours (10:00 to 19:00 IST) instead of taking orders around
    /// the clock, to try what a buyer sees when a store is closed.
    #[arg(long)]
    pub store_hours: bool,
}

/// Loads the demo catalogue into an empty store, its stores open around the clock unless
/// `store_hours`; returns whether it did.
async fn load_demo(settings: &Settings, store_hours: bool) -> anyhow::Result<bool> {
    let store = Store::connect_with(&settings.database_url, settings.store_options())
        .await
        .with_context(|| format!("cannot open the store {}", redact(&settings.database_url)))?;
    if !store.catalog_is_empty().await? {
        return Ok(false);
    }
    let mut file = read_catalog(DEMO.as_bytes(), Format::Json, &catalog_policy(settings)).map_err(
        |problems| {
            anyhow::anyhow!(
                "the demo catalogue does not pass this node's settings: {}",
                problems[0]
            )
        },
    )?;
    if !store_hours {
        for location in file
            .providers
            .iter_mut()
            .flat_map(|p| p.locations.iter_mut())
        {
            location.days = "1,2,3,4,5,6,7".into();
            location.open = "0000".into();
            location.close = "2359".into();
            location.holidays.clear();
        }
    }
    store.import_catalog(&file, "demo").await?;
    Ok(true)
}

pub async fn run(mut settings: Settings, args: DevArgs) -> anyhow::Result<()> {
    let registry_listener =
        TcpListener::bind(&settings.dev.registry_listen).with_context(|| {
            format!(
                "cannot serve the development registry on {}: is another `haat dev` running? Choose another address with HAAT_DEV_REGISTRY_LISTEN",
                settings.dev.registry_listen
            )
        })?;
    let registry_url = format!("http://{}", registry_listener.local_addr()?);
    // The development registry replaces the real one for this process only.
    settings.registry_url = registry_url.clone();
    settings.registry.lookup_api = LookupApi::V2;
    settings.production = false;

    let demo_loaded = if settings.catalog.load_demo {
        let loaded = load_demo(&settings, args.store_hours).await?;
        settings.catalog.load_demo = false;
        loaded
    } else {
        false
    };

    let node_keys = load_or_create_keys(&settings)?;
    let buyer_keys = buyer::load_or_create_keys(&settings.buyer)?;
    let mut records = dev::records(&Participant {
        subscriber_id: &settings.subscriber_id,
        subscriber_url: &settings.subscriber_url,
        kind: "BPP",
        keys: &node_keys,
        domains: &settings.domains,
    });
    records.extend(dev::records(&Participant {
        subscriber_id: &settings.buyer.subscriber_id,
        subscriber_url: &settings.buyer.bap_uri(),
        kind: "BAP",
        keys: &buyer_keys,
        domains: &settings.domains,
    }));
    let registry = dev::serve(registry_listener, records)?;
    tokio::spawn(registry);

    let listen = settings.listen.clone();
    let database = redact(&settings.database_url);
    let node_id = settings.subscriber_id.clone();
    let buyer_id = settings.buyer.subscriber_id.clone();
    let buyer_keys_file = settings.buyer.keys_file.display().to_string();
    let buyer_registry = settings.buyer.registry_url.clone();
    let application = Application::build(settings).await?;
    tracing::info!(listen = %listen, store = %database, registry = %registry_url, "Haat development network is up");
    eprintln!();
    eprintln!("Haat development network");
    eprintln!("  seller node      {node_id} at http://{listen} (store {database})");
    eprintln!(
        "  registry         {registry_url} (development only: it knows {node_id} and {buyer_id})"
    );
    eprintln!("  buyer tool keys  {buyer_keys_file}");
    if demo_loaded {
        let hours = if args.store_hours {
            "with their own hours, 10:00 to 19:00 IST"
        } else {
            "taking orders around the clock (--store-hours keeps their own hours)"
        };
        eprintln!("  catalogue        the demo ODOP catalogue, sample sellers {hours}");
    }
    if buyer_registry != registry_url {
        eprintln!("  note: the buyer tool looks keys up at {buyer_registry}; set HAAT_BUYER_REGISTRY_URL={registry_url} for it");
    }
    eprintln!();
    eprintln!("In another terminal:  haat buyer search pashmina");
    eprintln!();
    application
        .run_until_stopped()
        .await
        .context("the HTTP server stopped with an error")
}
