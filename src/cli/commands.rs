//! What each `haat` command does.

use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::json;

use super::{CatalogCommand, Command, KeysCommand, OutboxCommand, RegistryCommand, SellersCommand};
use crate::config::Settings;
use crate::http::SUBSCRIBE_REQUEST_ID;
use crate::protocol::keys::{KeyFile, KeyPairs};
use crate::protocol::signing::Signer;
use crate::protocol::time::format_timestamp;
use crate::registry::{
    environment_named, subscribe_body, Entity, RegistryClient, SubscribeRequest,
};
use crate::startup::{http_client, load_or_create_keys, redact, Application};
use crate::store::{OutboxState, Store};

pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Dev(args) => super::dev::run(settings, args).await,
        Command::Buyer(args) => super::buyer::run(settings, args).await,
        Command::Keys(KeysCommand::Generate(args)) => keys_generate(settings, args),
        Command::Keys(KeysCommand::Show) => keys_show(settings),
        Command::Outbox(command) => outbox(settings, command).await,
        Command::Catalog(CatalogCommand::Import(args)) => catalog_import(settings, args).await,
        Command::Catalog(CatalogCommand::Export(args)) => catalog_export(settings, args).await,
        Command::Registry(RegistryCommand::Subscribe(args)) => subscribe(settings, args).await,
        Command::Registry(RegistryCommand::Lookup(args)) => lookup(settings, args).await,
        Command::Sellers(SellersCommand::Token(args)) => seller_token(settings, args).await,
        Command::Sellers(SellersCommand::Revoke(args)) => seller_revoke(settings, args).await,
        Command::Logs(super::LogsCommand::Export(args)) => export_logs(settings, args).await,
    }
}

async fn export_logs(settings: Settings, args: super::ExportLogsArgs) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let export = super::logs::LogExport {
        transaction_id: args.transaction,
        with_search: args.with_search,
        out_dir: args.out,
        format: args.format,
        force: args.force,
        subscriber_url: settings.subscriber_url.clone(),
        store_name: redact(&settings.database_url),
    };
    let report = super::logs::export_logs(&store, &export).await;
    store.close().await;
    super::logs::print_report(&report?, &export);
    Ok(())
}

async fn seller_token(settings: Settings, args: super::TokenArgs) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    if !store.provider_exists(&args.provider_id).await? {
        bail!(
            "there is no seller {} in the catalogue; import its catalogue first (`haat catalog import FILE`)",
            args.provider_id
        );
    }
    let token = crate::http::seller_api::new_token();
    store
        .add_seller_token(
            &crate::http::seller_api::token_hash(&token),
            &args.provider_id,
            &args.label,
        )
        .await?;
    eprintln!(
        "A new seller API token for {} (shown only now; keep it secret, and revoke it with `haat sellers revoke {}`):",
        args.provider_id, args.provider_id
    );
    println!("{token}");
    Ok(())
}

async fn seller_revoke(settings: Settings, args: super::RevokeArgs) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let revoked = store.revoke_seller_tokens(&args.provider_id).await?;
    println!("Revoked {revoked} token(s) of {}.", args.provider_id);
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen.clone();
    let database = redact(&settings.database_url);
    let application = Application::build(settings).await?;
    tracing::info!(listen = %listen, port = application.port(), store = %database, "Haat is serving");
    application
        .run_until_stopped()
        .await
        .context("the HTTP server stopped with an error")
}

fn keys_generate(settings: Settings, args: super::GenerateArgs) -> anyhow::Result<()> {
    let path = args.out.unwrap_or(settings.keys_file.clone());
    let unique_key_id = args
        .unique_key_id
        .or_else(|| Some(settings.unique_key_id.clone()).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| format!("haat-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let keys = KeyPairs::generate(&unique_key_id);
    KeyFile::create(&path, &keys)?;
    println!(
        "Wrote new keys to {} (readable only by you; keep it secret and backed up).",
        path.display()
    );
    println!();
    println!("Register these with the ONDC registry (haat registry subscribe sends them for you):");
    println!("  subscriber_id:          {}", settings.subscriber_id);
    println!("  unique_key_id:          {unique_key_id}");
    println!("  signing_public_key:     {}", keys.signing_public_b64());
    println!("  encryption_public_key:  {}", keys.encryption_public_b64());
    Ok(())
}

fn keys_show(settings: Settings) -> anyhow::Result<()> {
    if !settings.keys_file.exists() {
        bail!(
            "there is no key file at {}; create one with `haat keys generate` (or start the node once)",
            settings.keys_file.display()
        );
    }
    let mut keys = KeyFile::load(&settings.keys_file)?;
    if !settings.unique_key_id.is_empty() {
        keys.unique_key_id = settings.unique_key_id.clone();
    }
    let shown = json!({
        "subscriber_id": settings.subscriber_id,
        "unique_key_id": keys.unique_key_id,
        "signing_public_key": keys.signing_public_b64(),
        "encryption_public_key": keys.encryption_public_b64(),
    });
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    Store::connect_with(&settings.database_url, settings.store_options())
        .await
        .with_context(|| {
            format!(
                "cannot open the store at {}",
                redact(&settings.database_url)
            )
        })
}

async fn outbox(settings: Settings, command: OutboxCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    match command {
        OutboxCommand::List(args) => {
            let state = match args.state.as_deref() {
                Some(text) => Some(OutboxState::parse(text).with_context(|| {
                    format!("\"{text}\" is not a callback state; use pending, delivered, nacked, failed or dead")
                })?),
                None => None,
            };
            let rows = store.list_callbacks(state, args.limit).await?;
            if args.json {
                for row in rows {
                    println!(
                        "{}",
                        json!({
                            "id": row.id, "action": row.action, "kind": row.kind, "bap_id": row.bap_id, "url": row.url,
                            "transaction_id": row.transaction_id, "message_id": row.message_id, "state": row.state,
                            "attempts": row.attempts, "created_at": ms_text(row.created_at),
                            "next_attempt_at": ms_text(row.next_attempt_at), "deadline_at": ms_text(row.deadline_at),
                            "last_http_status": row.last_http_status, "last_error": row.last_error,
                            "nack_code": row.nack_code, "nack_message": row.nack_message,
                        })
                    );
                }
            } else if rows.is_empty() {
                println!(
                    "No callbacks{}.",
                    state
                        .map(|s| format!(" in state {}", s.as_str()))
                        .unwrap_or_default()
                );
            } else {
                println!(
                    "{:>6}  {:<16} {:<10} {:>8}  {:<24}  {:<30}  note",
                    "id", "action", "state", "attempts", "created", "buyer app"
                );
                for row in rows {
                    let note = row
                        .nack_code
                        .map(|code| format!("NACK {code} {}", row.nack_message.unwrap_or_default()))
                        .or(row.last_error)
                        .unwrap_or_default();
                    println!(
                        "{:>6}  {:<16} {:<10} {:>8}  {:<24}  {:<30}  {}",
                        row.id,
                        row.action,
                        row.state,
                        row.attempts,
                        ms_text(row.created_at),
                        row.bap_id,
                        note
                    );
                }
            }
        }
        OutboxCommand::Retry(args) => {
            let horizon = args
                .horizon
                .unwrap_or(settings.outbox.unsolicited_horizon_secs);
            let Some(row) = store.callback(args.id).await? else {
                bail!(
                    "there is no callback {}; `haat outbox list` shows their ids",
                    args.id
                );
            };
            if row.state == "pending" {
                bail!(
                    "callback {} is still pending; the node delivers it on its own",
                    args.id
                );
            }
            store
                .retry_callback(args.id, (horizon * 1000) as i64)
                .await?;
            println!(
                "Callback {} ({} to {}) is queued again; a running node sends it within {} ms.",
                args.id, row.action, row.bap_id, settings.outbox.poll_interval_ms
            );
        }
    }
    store.close().await;
    Ok(())
}

fn ms_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(format_timestamp)
        .unwrap_or_default()
}

async fn subscribe(settings: Settings, args: super::SubscribeArgs) -> anyhow::Result<()> {
    let url = match environment_named(&args.env) {
        Some(env) => env.subscribe_url.to_owned(),
        None if args.env.starts_with("https://") || args.env.starts_with("http://") => {
            args.env.clone()
        }
        None => bail!(
            "--env must be staging, pre-prod, prod or a URL, not \"{}\"",
            args.env
        ),
    };
    let entity_text = std::fs::read_to_string(&args.entity)
        .with_context(|| format!("cannot read the entity file {}", args.entity.display()))?;
    let entity: Entity = serde_json::from_str(&entity_text).with_context(|| {
        format!(
            "the entity file {} is not the JSON this command expects (see --help)",
            args.entity.display()
        )
    })?;
    if let Err(problem) = entity.check() {
        bail!("the entity file {}: {problem}", args.entity.display());
    }
    for city in &args.cities {
        if !city
            .strip_prefix("std:")
            .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
        {
            bail!("--city \"{city}\" is not a city code such as std:080");
        }
    }
    let domains = if args.domains.is_empty() {
        settings.domains.clone()
    } else {
        args.domains.clone()
    };
    let keys = load_or_create_keys(&settings)?;
    let now = chrono::Utc::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = subscribe_body(&SubscribeRequest {
        request_id: &request_id,
        timestamp: &format_timestamp(now),
        entity: &entity,
        subscriber_id: &settings.subscriber_id,
        unique_key_id: &keys.unique_key_id,
        signing_public_key: &keys.signing_public_b64(),
        encryption_public_key: &keys.encryption_public_b64(),
        valid_from: &format_timestamp(now),
        valid_until: &format_timestamp(now + chrono::Duration::days(args.valid_days)),
        domains: &domains,
        cities: &args.cities,
        callback_path: "/",
    });
    if args.dry_run {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    // The running node signs this request id into /ondc-site-verification.html.
    let store = open_store(&settings).await?;
    store.set_value(SUBSCRIBE_REQUEST_ID, &request_id).await?;
    store.close().await;
    println!("Subscribing {} at {url}", settings.subscriber_id);
    println!(
        "The registry will now fetch https://{}/ondc-site-verification.html and call",
        settings.subscriber_id
    );
    println!(
        "https://{}/on_subscribe: the node (haat serve) must be reachable there.",
        settings.subscriber_id
    );
    let http = http_client(Duration::from_secs(60))?;
    let response = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("The registry answered HTTP {status}:");
    println!("{text}");
    match crate::protocol::ack::read_peer_answer(text.as_bytes()) {
        crate::protocol::ack::PeerAnswer::Ack => {
            println!(
                "Subscribed. Check the status with `haat registry lookup {}`.",
                settings.subscriber_id
            );
            Ok(())
        }
        _ => bail!("the registry did not accept the subscription (its answer is above)"),
    }
}

async fn lookup(settings: Settings, args: super::LookupArgs) -> anyhow::Result<()> {
    let keys = load_or_create_keys(&settings)?;
    let signer = Signer::new(
        keys.signing.clone(),
        &settings.subscriber_id,
        &keys.unique_key_id,
    );
    let http = http_client(Duration::from_millis(settings.registry.timeout_ms))?;
    let client = RegistryClient::new(
        http,
        &settings.registry_url,
        settings.registry.lookup_api,
        signer,
    );
    let mut filters = json!({"subscriber_id": args.subscriber_id, "country": "IND"});
    if let Some(ukid) = args.ukid {
        filters["ukId"] = json!(ukid);
    }
    if let Some(domain) = args.domain {
        filters["domain"] = json!(domain);
    }
    if let Some(kind) = args.subscriber_type {
        filters["type"] = json!(kind);
    }
    let records = client.lookup(&filters).await?;
    println!("{}", serde_json::to_string_pretty(&records)?);
    if records.is_empty() {
        bail!(
            "the registry at {} has no record matching {filters}",
            settings.registry_url
        );
    }
    Ok(())
}

async fn catalog_import(settings: Settings, args: super::ImportArgs) -> anyhow::Result<()> {
    use crate::catalog::import::{read_catalog, Format};
    let Some(format) = Format::from_path(&args.file) else {
        bail!("{} is neither a .csv nor a .json file", args.file.display());
    };
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    eprintln!("Checking {} ...", args.file.display());
    let file = match read_catalog(&bytes, format, &crate::startup::catalog_policy(&settings)) {
        Ok(file) => file,
        Err(problems) => {
            for problem in &problems {
                eprintln!("  {problem}");
            }
            bail!(
                "{} was not imported: {} problem{} to fix (nothing was changed)",
                args.file.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
        }
    };
    let items: usize = file.providers.iter().map(|p| p.items.len()).sum();
    eprintln!(
        "  {} providers and {items} items pass ONDC's catalogue rules.",
        file.providers.len()
    );
    if args.dry_run {
        println!("Dry run: nothing was stored.");
        return Ok(());
    }
    let store = open_store(&settings).await?;
    eprintln!("Storing ...");
    let import_id = uuid::Uuid::new_v4().to_string();
    let report = store
        .import_catalog_with_progress(&file, &import_id, |done, total| {
            if done % 50 == 0 || done == total {
                eprint!("\r  {done} of {total} sellers");
            }
        })
        .await?;
    eprintln!();
    store.close().await;
    println!(
        "Imported {}: {} added, {} updated, {} disabled, {} unchanged.",
        args.file.display(),
        report.added,
        report.updated,
        report.disabled,
        report.unchanged
    );
    for (kind, provider, id, change) in report.changes.iter().take(50) {
        println!("  {change:<9} {kind:<13} {provider} / {id}");
    }
    if report.changes.len() > 50 {
        println!("  ... and {} more changes", report.changes.len() - 50);
    }
    Ok(())
}

async fn catalog_export(settings: Settings, args: super::ExportArgs) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let file = store.export_catalog().await?;
    store.close().await;
    let bytes = match args.format.as_str() {
        "csv" => crate::catalog::csv::write_csv(&file),
        "json" => {
            let mut bytes = serde_json::to_vec_pretty(&file)?;
            bytes.push(b'\n');
            bytes
        }
        other => bail!("--format must be csv or json, not \"{other}\""),
    };
    match args.out {
        Some(path) => {
            std::fs::write(&path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let items: usize = file.providers.iter().map(|p| p.items.len()).sum();
            eprintln!(
                "Wrote {} providers and {items} items to {}.",
                file.providers.len(),
                path.display()
            );
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}
