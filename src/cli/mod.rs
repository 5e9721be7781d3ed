//! The `haat` command line: every command has `--help`, and failures are explained in words
//! an operator can act on.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "haat",
    version,
    about = "Haat: an ONDC seller node that makes One District One Product sellers orderable from every buyer app",
    long_about = None,
    after_help = "Settings come from config/default.toml (built in), then --config FILE, then HAAT_* environment variables.\nRun `haat serve` to start the node; `haat <command> --help` explains each command."
)]
pub struct Cli {
    /// A TOML settings file laid over the built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the node: serve buyer apps' requests and deliver callbacks.
    ///
    /// SIGTERM stops it gently: the requests in hand are answered, the callbacks being sent
    /// are finished and recorded, and those not sent yet are left for another replica or the
    /// next start to send at once. Ctrl-C does the same without waiting for the requests in
    /// hand, which buyer apps then send again.
    Serve,
    /// Start a local ONDC network for trying Haat: the node with the demo catalogue, plus a
    /// development registry that knows it and the `haat buyer` tool. Never for production.
    Dev(dev::DevArgs),
    /// A signed buyer-app client: search, order and follow an order as a buyer app would.
    Buyer(buyer::BuyerArgs),
    /// Create or show the node's signing and encryption keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect and replay callbacks waiting in, or finished in, the outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Load, check and export the sellers' catalogue.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Join the ONDC network and look participants up in its registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Give sellers access to the seller API (/api/v1), or take it away.
    #[command(subcommand)]
    Sellers(SellersCommand),
    /// Export a transaction's requests and callbacks as ONDC certification logs.
    #[command(subcommand)]
    Logs(LogsCommand),
}

#[derive(Subcommand)]
pub enum LogsCommand {
    /// Write every request the node received and every callback it delivered for one
    /// transaction, byte for byte, one file each, named and numbered in time order as ONDC's
    /// log validation expects (01_select.json, 02_on_select.json, …, on_status_packed.json, …).
    /// Callbacks that never reached the buyer app (pending, failed, dead) are left out and
    /// counted. With --format har, one HTTP Archive of every request and delivery attempt
    /// instead, with headers and answers, for debugging.
    Export(ExportLogsArgs),
}

#[derive(Args)]
pub struct ExportLogsArgs {
    /// The transaction_id of the flow (`haat outbox list --json` shows them).
    #[arg(long = "transaction", value_name = "ID")]
    pub transaction: String,
    /// The directory to write into; created if missing. It must be empty unless --force.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Put the catalogue pull (search and its on_search pages) of this other transaction first.
    #[arg(long, value_name = "TXN")]
    pub with_search: Option<String>,
    /// json: one file per message; har: one DIR/<transaction>.har.
    #[arg(long, value_enum, default_value = "json")]
    pub format: logs::LogFormat,
    /// Write into a directory that already has files (files of the same name are replaced).
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum SellersCommand {
    /// Issue a new API token for a seller (a provider id of the catalogue). The token is shown
    /// once; only its hash is stored. The seller sends it as `Authorization: Bearer <token>`.
    Token(TokenArgs),
    /// Revoke every API token of a seller.
    Revoke(RevokeArgs),
}

#[derive(Args)]
pub struct TokenArgs {
    /// The seller's provider id, as in the catalogue.
    pub provider_id: String,
    /// A note to remember the token by, e.g. "shop counter tablet".
    #[arg(long, default_value = "")]
    pub label: String,
}

#[derive(Args)]
pub struct RevokeArgs {
    /// The seller's provider id.
    pub provider_id: String,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Write a new key file and print the public keys the registry needs.
    Generate(GenerateArgs),
    /// Print the public keys as JSON: subscriber_id, unique_key_id, signing_public_key, encryption_public_key.
    Show,
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Where to write the key file (default: the keys_file setting, HAAT_KEYS_FILE).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The unique_key_id to register the keys under (default: a new random one).
    #[arg(long, value_name = "ID")]
    pub unique_key_id: Option<String>,
}

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Import a catalogue from CSV (one row per item; see catalog/template.csv) or JSON. The
    /// whole file is checked first: any problem rejects it, with every problem listed by line
    /// and column. Providers in the file replace their earlier catalogue; what they no longer
    /// list is disabled (buyer apps are told).
    Import(ImportArgs),
    /// Write the catalogue in the import format.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    /// The catalogue file (.csv or .json).
    pub file: PathBuf,
    /// Check the file and report, without storing anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// csv or json.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Where to write (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// List callbacks, newest first.
    List(ListArgs),
    /// Send a finished (dead, failed or refused) callback again.
    Retry(RetryArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Only callbacks in this state: pending, delivered, nacked, failed or dead.
    #[arg(long)]
    pub state: Option<String>,
    /// How many to show.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RetryArgs {
    /// The callback's id, as `haat outbox list` shows it.
    pub id: i64,
    /// How long to keep retrying it, in seconds (default: the unsolicited horizon setting).
    #[arg(long, value_name = "SECONDS")]
    pub horizon: Option<u64>,
}

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Send /subscribe to an ONDC registry for this node as a seller app.
    Subscribe(SubscribeArgs),
    /// Look a participant's keys up in the configured registry.
    Lookup(LookupArgs),
}

#[derive(Args)]
pub struct SubscribeArgs {
    /// staging, pre-prod, prod, or the full URL of a registry's /subscribe.
    #[arg(long, value_name = "ENV|URL")]
    pub env: String,
    /// A domain to subscribe for, e.g. ONDC:RET16 (repeat for several; default: the domains setting).
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// A city code to serve, e.g. std:080 (repeat for several).
    #[arg(long = "city", value_name = "std:CODE", required = true)]
    pub cities: Vec<String>,
    /// JSON file with the legal entity: legal_entity_name, business_address, gst_no, name_as_per_pan,
    /// pan_no, date_of_incorporation (DD/MM/YYYY), name_of_authorised_signatory,
    /// address_of_authorised_signatory, email_id, mobile_no.
    #[arg(long, value_name = "FILE")]
    pub entity: PathBuf,
    /// How many days the registered keys stay valid.
    #[arg(long, default_value_t = 365)]
    pub valid_days: i64,
    /// Print the request instead of sending it.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args)]
pub struct LookupArgs {
    /// The participant's subscriber id.
    pub subscriber_id: String,
    /// Its unique_key_id, if known.
    #[arg(long)]
    pub ukid: Option<String>,
    /// Filter by domain, e.g. ONDC:RET16.
    #[arg(long)]
    pub domain: Option<String>,
    /// Filter by type: BAP, BPP or BG.
    #[arg(long = "type")]
    pub subscriber_type: Option<String>,
}

pub mod buyer;
mod commands;
pub mod dev;
pub mod logs;
pub use commands::run;
