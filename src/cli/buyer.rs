//! `haat buyer …`: what each buyer-tool command sends, waits for and prints.

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::buyer::messages::{self, Buyer, Route, SearchQuery, ODOP_DOMAINS};
use crate::buyer::session::{OrderFlow, Session};
use crate::buyer::{load_or_create_keys, BuyerClient, Heard};
use crate::config::Settings;

#[derive(Args)]
pub struct BuyerArgs {
    #[command(subcommand)]
    pub command: BuyerCommand,
    /// Print each callback's raw JSON, as received, instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum BuyerCommand {
    /// Create the buyer tool's key file if it is missing, and print what a registry needs to
    /// know of it.
    Keys,
    /// Search for goods, e.g. `haat buyer search pashmina`. Without --domain, every ODOP
    /// retail domain is searched (RET10, RET12, RET13, RET16).
    Search(SearchArgs),
    /// Put items of the last search in a cart and ask the seller for a quote:
    /// `haat buyer select 1` or `haat buyer select 1:2 3` (item number or id, then :quantity).
    Select(SelectArgs),
    /// Give the billing and delivery details and get the final quote and payment terms.
    Init(InitArgs),
    /// Place the order as the last on_init quoted it (prepaid through the buyer app).
    Confirm(ConfirmArgs),
    /// Ask for the order's current state.
    Status(OrderArgs),
    /// Ask where the order is.
    Track(OrderArgs),
    /// Cancel the order with an ONDC buyer reason code (e.g. 052: not delivered in time).
    Cancel(CancelArgs),
    /// Ask to return a delivered item.
    Return(ReturnArgs),
    /// Listen for callbacks (the seller's status updates, say) and print them as they come.
    Watch(WatchArgs),
}

#[derive(Args)]
pub struct SearchArgs {
    /// Words to look for in item names and descriptions.
    pub text: Option<String>,
    /// The city of the sellers' stores, as std:<STD code> (default: every city, "*").
    #[arg(long)]
    pub city: Option<String>,
    /// An ONDC category, e.g. "Sarees" or "Home Decor".
    #[arg(long)]
    pub category: Option<String>,
    /// Only sellers who deliver to this pincode.
    #[arg(long)]
    pub pincode: Option<String>,
    /// One retail domain, e.g. ONDC:RET12 (fashion); default: every ODOP domain.
    #[arg(long)]
    pub domain: Option<String>,
}

/// Who the buyer is and where the goods go. The defaults are a sample buyer in Bengaluru.
#[derive(Args, Clone)]
pub struct BuyerDetails {
    #[arg(long, default_value = "Asha Rao")]
    pub name: String,
    /// 10 digits.
    #[arg(long, default_value = "9876501234")]
    pub phone: String,
    #[arg(long, default_value = "asha@example.com")]
    pub email: String,
    #[arg(long, default_value = "12 Lake View")]
    pub building: String,
    #[arg(long, default_value = "MG Road")]
    pub locality: String,
    #[arg(long = "town", default_value = "Bengaluru")]
    pub town: String,
    #[arg(long, default_value = "Karnataka")]
    pub state: String,
    /// The delivery pincode (6 digits).
    #[arg(long, default_value = "560001")]
    pub pincode: String,
    /// The delivery point as "latitude,longitude".
    #[arg(long, default_value = "12.9716,77.5946")]
    pub gps: String,
}

impl BuyerDetails {
    fn buyer(&self) -> Buyer {
        Buyer {
            name: self.name.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            building: self.building.clone(),
            locality: self.locality.clone(),
            city: self.town.clone(),
            state: self.state.clone(),
            pincode: self.pincode.clone(),
            gps: self.gps.clone(),
        }
    }
}

#[derive(Args)]
pub struct SelectArgs {
    /// Items: a number from the last search (or an item id), optionally with :quantity.
    #[arg(required = true)]
    pub items: Vec<String>,
    #[command(flatten)]
    pub details: BuyerDetails,
}

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub details: BuyerDetails,
}

#[derive(Args)]
pub struct ConfirmArgs {
    /// The order id to give the order (default: a new one).
    #[arg(long)]
    pub order_id: Option<String>,
    /// The payment reference of the buyer app's payment gateway (default: a sample one).
    #[arg(long)]
    pub payment_ref: Option<String>,
}

#[derive(Args)]
pub struct OrderArgs {
    /// The order id (default: the order of this session).
    pub order_id: Option<String>,
}

#[derive(Args)]
pub struct CancelArgs {
    /// The ONDC cancellation reason code, e.g. 052 (not delivered in time) or 053 (buyer wants
    /// to change details).
    #[arg(long)]
    pub reason: String,
    /// Force the cancellation after the seller missed its promised time (1.2.5): "no" asks,
    /// "yes" insists.
    #[arg(long)]
    pub force: Option<String>,
    /// The order id (default: the order of this session).
    #[arg(long)]
    pub order_id: Option<String>,
}

#[derive(Args)]
pub struct ReturnArgs {
    /// The item to return (its id; default: the first item of the order).
    pub item: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub quantity: i64,
    /// The ONDC return reason: 002 cheaper elsewhere, 003 damaged, 004 wrong size or
    /// quantity, 005 not as shown.
    #[arg(long)]
    pub reason: String,
    #[arg(long, default_value = "returned from the haat buyer tool")]
    pub description: String,
}

#[derive(Args)]
pub struct WatchArgs {
    /// Stop after this many seconds (default: when interrupted).
    #[arg(long)]
    pub secs: Option<u64>,
    /// Stop after this many callbacks.
    #[arg(long)]
    pub count: Option<usize>,
}

pub async fn run(settings: Settings, args: BuyerArgs) -> anyhow::Result<()> {
    let json = args.json;
    match args.command {
        BuyerCommand::Keys => keys(&settings),
        BuyerCommand::Search(search_args) => search(&settings, search_args, json).await,
        BuyerCommand::Select(select_args) => select(&settings, select_args, json).await,
        BuyerCommand::Init(init_args) => init(&settings, init_args, json).await,
        BuyerCommand::Confirm(confirm_args) => confirm(&settings, confirm_args, json).await,
        BuyerCommand::Status(order) => status_or_track(&settings, "status", order, json).await,
        BuyerCommand::Track(order) => status_or_track(&settings, "track", order, json).await,
        BuyerCommand::Cancel(cancel_args) => cancel(&settings, cancel_args, json).await,
        BuyerCommand::Return(return_args) => return_item(&settings, return_args, json).await,
        BuyerCommand::Watch(watch_args) => watch(&settings, watch_args, json).await,
    }
}

fn keys(settings: &Settings) -> anyhow::Result<()> {
    let buyer = &settings.buyer;
    let existed = buyer.keys_file.exists();
    let keys = load_or_create_keys(buyer)?;
    if !existed {
        eprintln!(
            "Wrote new buyer-tool keys to {} (keep it secret).",
            buyer.keys_file.display()
        );
    }
    let shown = serde_json::json!({
        "subscriber_id": buyer.subscriber_id,
        "subscriber_url": buyer.bap_uri(),
        "type": "BAP",
        "unique_key_id": keys.unique_key_id,
        "signing_public_key": keys.signing_public_b64(),
        "encryption_public_key": keys.encryption_public_b64(),
    });
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

/// Prints callbacks: raw bytes with --json, else a summary each; says when a signature
/// could not be verified.
fn show(heard: &[Heard], json: bool) {
    for callback in heard {
        if json {
            println!("{}", String::from_utf8_lossy(&callback.raw));
            continue;
        }
        match &callback.signed_by {
            Ok(signer) => println!("{} (signed by {signer}, verified)", callback.action),
            Err(why) => println!(
                "{} — SIGNATURE NOT VERIFIED ({why}); answered with NACK 20001",
                callback.action
            ),
        }
        for line in summary(&callback.action, &callback.body) {
            println!("  {line}");
        }
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// A readable account of a callback.
pub fn summary(action: &str, body: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(error) = body.get("error").filter(|e| e.is_object()) {
        lines.push(format!(
            "error {}: {}",
            text(&error["code"]),
            text(&error["message"])
        ));
    }
    let order = &body["message"]["order"];
    match action {
        "on_select" | "on_init" | "on_confirm" | "on_status" | "on_cancel" | "on_update" => {
            if let Some(id) = order["id"].as_str() {
                lines.push(format!(
                    "order {id}: {}",
                    order["state"].as_str().unwrap_or("(no state)")
                ));
            }
            for fulfillment in order["fulfillments"].as_array().into_iter().flatten() {
                let state = fulfillment
                    .pointer("/state/descriptor/code")
                    .and_then(Value::as_str)
                    .unwrap_or("-");
                let tat = fulfillment["@ondc/org/TAT"]
                    .as_str()
                    .map(|t| format!(", delivery within {t}"))
                    .unwrap_or_default();
                lines.push(format!(
                    "fulfillment {} ({}): {state}{tat}",
                    text(&fulfillment["id"]),
                    fulfillment["type"].as_str().unwrap_or("Delivery"),
                ));
            }
            for line in order["quote"]["breakup"].as_array().into_iter().flatten() {
                let count = line
                    .pointer("/@ondc~1org~1item_quantity/count")
                    .map(|c| format!(" × {c}"))
                    .unwrap_or_default();
                lines.push(format!(
                    "  {:<9} {}{count}: ₹{}",
                    text(&line["@ondc/org/title_type"]),
                    text(&line["title"]),
                    text(&line["price"]["value"])
                ));
            }
            if let Some(total) = order.pointer("/quote/price/value").and_then(Value::as_str) {
                lines.push(format!("total ₹{total}"));
            }
            if let Some(reason) = order.pointer("/cancellation/reason/id") {
                lines.push(format!("cancelled, reason {}", text(reason)));
            }
        }
        "on_track" => {
            let tracking = &body["message"]["tracking"];
            lines.push(format!(
                "tracking {}: {}",
                text(&tracking["status"]),
                tracking["url"].as_str().unwrap_or("(no link)")
            ));
        }
        "on_search" => {
            let items = messages::found_items(body);
            lines.push(format!("{} item(s)", items.len()));
        }
        _ => {}
    }
    lines
}

async fn search(settings: &Settings, args: SearchArgs, json: bool) -> anyhow::Result<()> {
    let domains: Vec<String> = match &args.domain {
        Some(domain) => vec![domain.clone()],
        None => ODOP_DOMAINS.iter().map(|d| d.to_string()).collect(),
    };
    let query = SearchQuery {
        text: args.text.clone(),
        category: args.category.clone(),
        pincode: args.pincode.clone(),
        gps: None,
        finder_fee_percent: settings.buyer.finder_fee_percent.clone(),
    };
    let mut client = BuyerClient::start(&settings.buyer).await?;
    let (bap_id, bap_uri) = client.bap();
    let mut message_ids = Vec::new();
    for domain in &domains {
        let route = Route {
            domain: domain.clone(),
            city: args.city.clone().unwrap_or_else(|| "*".into()),
            transaction_id: uuid::Uuid::new_v4().to_string(),
            bpp: None,
        };
        let body = messages::request(
            "search",
            &route,
            (&bap_id, &bap_uri),
            messages::search_message(&query),
        );
        client.send(&settings.buyer.node_url, &body).await?;
        message_ids.push(text(&body["context"]["message_id"]).to_owned());
    }
    // Every search gets at least one on_search (an empty catalogue when nothing matches);
    // pages keep coming for a moment after the first.
    let wanted = message_ids.clone();
    let heard = client
        .collect(
            move |heard| {
                wanted
                    .iter()
                    .all(|id| heard.iter().any(|h| h.message_id() == id))
            },
            Some(Duration::from_millis(800)),
        )
        .await;
    client.stop().await;
    let answers: Vec<&Heard> = heard
        .iter()
        .filter(|h| h.action == "on_search" && message_ids.iter().any(|id| id == h.message_id()))
        .collect();
    if answers.is_empty() {
        bail!(
            "no on_search arrived within {} s; is the node able to reach {}? (see its log)",
            settings.buyer.wait_secs,
            settings.buyer.bap_uri()
        );
    }
    let mut session = Session::load(&settings.buyer.session_file)?;
    session.found = answers
        .iter()
        .filter(|h| h.signed_by.is_ok())
        .flat_map(|h| messages::found_items(&h.body))
        .collect();
    session.save(&settings.buyer.session_file)?;
    if json {
        show(&answers.into_iter().cloned().collect::<Vec<_>>(), true);
        return Ok(());
    }
    for answer in &answers {
        if let Err(why) = &answer.signed_by {
            println!(
                "an on_search from {} was NOT verified ({why}) and is ignored",
                text(&answer.body["context"]["bpp_id"])
            );
        }
    }
    if session.found.is_empty() {
        println!("Nothing found.");
        return Ok(());
    }
    println!(
        "Found {} item(s) (signed on_search from {}):",
        session.found.len(),
        session.found[0].bpp_id
    );
    for (n, item) in session.found.iter().enumerate() {
        println!(
            "{:>3}. {} — ₹{}{}\n     {} (seller {}) · {} · {} · item {}",
            n + 1,
            item.name,
            item.price,
            if item.in_stock { "" } else { " (out of stock)" },
            item.provider_name,
            item.provider_id,
            item.category_id,
            item.domain,
            item.item_id
        );
    }
    println!("Next: `haat buyer select N` (or N:QUANTITY) to ask for a quote.");
    Ok(())
}

fn parse_pick(pick: &str) -> anyhow::Result<(&str, i64)> {
    match pick.rsplit_once(':') {
        Some((item, count)) => {
            let count: i64 = count.parse().ok().filter(|c| *c > 0).with_context(|| {
                format!("\"{pick}\": the quantity after ':' must be a whole number above 0")
            })?;
            Ok((item, count))
        }
        None => Ok((pick, 1)),
    }
}

/// Sends `body` and waits for its callback; prints what came (and any other callback of the
/// transaction heard meanwhile). Returns the answer.
async fn exchange(
    settings: &Settings,
    body: &Value,
    callback_action: &str,
    json: bool,
) -> anyhow::Result<Heard> {
    let mut client = BuyerClient::start(&settings.buyer).await?;
    client.send(&settings.buyer.node_url, body).await?;
    let message_id = text(&body["context"]["message_id"]).to_owned();
    let heard = client
        .collect(
            |heard| heard.iter().any(|h| h.message_id() == message_id),
            Some(Duration::from_millis(300)),
        )
        .await;
    client.stop().await;
    show(&heard, json);
    let answer = heard
        .into_iter()
        .find(|h| h.message_id() == message_id && h.action == callback_action)
        .with_context(|| {
            format!(
                "no {callback_action} arrived within {} s; is the node able to reach {}? (see its log)",
                settings.buyer.wait_secs,
                settings.buyer.bap_uri()
            )
        })?;
    if let Err(why) = &answer.signed_by {
        bail!("the {callback_action} could not be verified ({why}); nothing was kept");
    }
    Ok(answer)
}

fn has_error(answer: &Heard) -> bool {
    answer.body.get("error").is_some_and(Value::is_object)
}

/// A callback that carries an error ends the command with it, so scripts see the refusal.
fn outcome(answer: &Heard) -> anyhow::Result<()> {
    match answer.body.get("error").filter(|e| e.is_object()) {
        Some(error) => bail!(
            "the seller answered {} with error {}: {}",
            answer.action,
            text(&error["code"]),
            text(&error["message"])
        ),
        None => Ok(()),
    }
}

async fn select(settings: &Settings, args: SelectArgs, json: bool) -> anyhow::Result<()> {
    let mut session = Session::load(&settings.buyer.session_file)?;
    let mut picked = Vec::new();
    for pick in &args.items {
        let (wanted, count) = parse_pick(pick)?;
        picked.push((session.found_item(wanted)?.clone(), count));
    }
    let first = picked[0].0.clone();
    if let Some((other, _)) = picked
        .iter()
        .find(|(item, _)| item.provider_id != first.provider_id || item.bpp_id != first.bpp_id)
    {
        bail!(
            "one order is from one seller: {} is sold by {}, {} by {}",
            first.name,
            first.provider_name,
            other.name,
            other.provider_name
        );
    }
    let city = first.city.clone().with_context(|| {
        format!(
            "the store of {} has a pincode no ONDC city code covers; it cannot be ordered",
            first.provider_name
        )
    })?;
    let route = Route {
        domain: first.domain.clone(),
        city,
        transaction_id: uuid::Uuid::new_v4().to_string(),
        bpp: Some((first.bpp_id.clone(), first.bpp_uri.clone())),
    };
    let items: Vec<(String, i64)> = picked
        .iter()
        .map(|(item, count)| (item.item_id.clone(), *count))
        .collect();
    let buyer = args.details.buyer();
    let message = messages::select_message(&first.provider_id, &first.location_id, &items, &buyer);
    let (bap_id, bap_uri) = (
        settings.buyer.subscriber_id.clone(),
        settings.buyer.bap_uri(),
    );
    let body = messages::request("select", &route, (&bap_id, &bap_uri), message);
    let answer = exchange(settings, &body, "on_select", json).await?;
    let failed = has_error(&answer);
    session.order = Some(OrderFlow {
        route,
        provider_id: first.provider_id.clone(),
        location_id: first.location_id.clone(),
        items,
        buyer,
        on_select: Some(answer.body.clone()),
        on_init: None,
        order_id: None,
        order: None,
    });
    session.save(&settings.buyer.session_file)?;
    if !json && !failed {
        println!("Next: `haat buyer init` with your billing and delivery details.");
    }
    outcome(&answer)
}

async fn init(settings: &Settings, args: InitArgs, json: bool) -> anyhow::Result<()> {
    let mut session = Session::load(&settings.buyer.session_file)?;
    let flow = session.order("select items first")?;
    let on_select = flow
        .on_select
        .clone()
        .context("the cart has no quote yet; run `haat buyer select` again")?;
    let mut buyer = args.details.buyer();
    // The drop point was fixed at select; the seller checks that it did not move.
    buyer.pincode = flow.buyer.pincode.clone();
    buyer.gps = flow.buyer.gps.clone();
    let message = messages::init_message(&on_select, &buyer, &settings.buyer.finder_fee_percent)
        .map_err(anyhow::Error::msg)?;
    let body = messages::request(
        "init",
        &flow.route,
        (&settings.buyer.subscriber_id, &settings.buyer.bap_uri()),
        message,
    );
    let answer = exchange(settings, &body, "on_init", json).await?;
    let failed = has_error(&answer);
    flow.buyer = buyer;
    flow.on_init = Some(answer.body.clone());
    session.save(&settings.buyer.session_file)?;
    if !json && !failed {
        println!("Next: `haat buyer confirm` to place the order.");
    }
    outcome(&answer)
}

async fn confirm(settings: &Settings, args: ConfirmArgs, json: bool) -> anyhow::Result<()> {
    let mut session = Session::load(&settings.buyer.session_file)?;
    let flow = session.order("select and init first")?;
    let on_init = flow
        .on_init
        .clone()
        .context("the order has no payment terms yet; run `haat buyer init` first")?;
    if on_init.get("error").is_some_and(Value::is_object) {
        bail!("the last on_init refused the order; run `haat buyer init` again");
    }
    let order_id = args
        .order_id
        .or_else(|| flow.order_id.clone())
        .unwrap_or_else(messages::new_order_id);
    // ONDC's rules want payment references of letters and digits.
    let payment_ref = args
        .payment_ref
        .unwrap_or_else(|| format!("SAMPLEPAY{order_id}"));
    let on_select = flow.on_select.clone().unwrap_or_default();
    let message = messages::confirm_message(
        &on_select,
        &on_init,
        &order_id,
        &flow.buyer,
        &payment_ref,
        &settings.buyer.gstin,
    )
    .map_err(anyhow::Error::msg)?;
    let body = messages::request(
        "confirm",
        &flow.route,
        (&settings.buyer.subscriber_id, &settings.buyer.bap_uri()),
        message,
    );
    let answer = exchange(settings, &body, "on_confirm", json).await?;
    let transaction_id = flow.route.transaction_id.clone();
    flow.order_id = Some(order_id.clone());
    if !has_error(&answer) {
        flow.order = Some(answer.body["message"]["order"].clone());
    }
    session.save(&settings.buyer.session_file)?;
    if !json && !has_error(&answer) {
        println!(
            "Order {order_id} placed (transaction {transaction_id}). Follow it with `haat buyer status`, `haat buyer track` or `haat buyer watch`."
        );
    }
    outcome(&answer)
}

/// The order a post-order command is about: the one named, else the session's.
fn order_route(session: &mut Session, named: Option<String>) -> anyhow::Result<(Route, String)> {
    let flow = session.order("confirm an order first")?;
    let order_id = named
        .or_else(|| flow.order_id.clone())
        .context("the order of this session is not confirmed yet; run `haat buyer confirm`")?;
    Ok((flow.route.clone(), order_id))
}

fn remember(session: &mut Session, answer: &Heard) {
    if let Some(flow) = session.order.as_mut() {
        if answer.body["message"]["order"].is_object() && !has_error(answer) {
            flow.order = Some(answer.body["message"]["order"].clone());
        }
    }
}

async fn status_or_track(
    settings: &Settings,
    action: &str,
    args: OrderArgs,
    json: bool,
) -> anyhow::Result<()> {
    let mut session = Session::load(&settings.buyer.session_file)?;
    let (route, order_id) = order_route(&mut session, args.order_id)?;
    let body = messages::request(
        action,
        &route,
        (&settings.buyer.subscriber_id, &settings.buyer.bap_uri()),
        serde_json::json!({"order_id": order_id}),
    );
    let answer = exchange(settings, &body, &format!("on_{action}"), json).await?;
    remember(&mut session, &answer);
    session.save(&settings.buyer.session_file)?;
    outcome(&answer)
}

async fn cancel(settings: &Settings, args: CancelArgs, json: bool) -> anyhow::Result<()> {
    let mut session = Session::load(&settings.buyer.session_file)?;
    let (route, order_id) = order_route(&mut session, args.order_id)?;
    let force = match args.force.as_deref() {
        None => None,
        Some(value @ ("yes" | "no")) => {
            let fulfillment_id = session
                .order
                .as_ref()
                .and_then(|f| f.order.as_ref())
                .and_then(|o| o.pointer("/fulfillments/0/id"))
                .and_then(Value::as_str)
                .unwrap_or("F1")
                .to_owned();
            Some((fulfillment_id, value == "yes"))
        }
        Some(other) => bail!("--force takes yes or no, not \"{other}\""),
    };
    let message = messages::cancel_message(
        &order_id,
        &args.reason,
        force.as_ref().map(|(id, yes)| (id.as_str(), *yes)),
    );
    let body = messages::request(
        "cancel",
        &route,
        (&settings.buyer.subscriber_id, &settings.buyer.bap_uri()),
        message,
    );
    let answer = exchange(settings, &body, "on_cancel", json).await?;
    remember(&mut session, &answer);
    session.save(&settings.buyer.session_file)?;
    outcome(&answer)
}

async fn return_item(settings: &Settings, args: ReturnArgs, json: bool) -> anyhow::Result<()> {
    let mut session = Session::load(&settings.buyer.session_file)?;
    let (route, order_id) = order_route(&mut session, None)?;
    let item = match args.item {
        Some(item) => item,
        None => session
            .order
            .as_ref()
            .and_then(|f| f.items.first())
            .map(|(id, _)| id.clone())
            .context("the order has no items")?,
    };
    let message = messages::return_message(
        &order_id,
        &messages::new_return_id(),
        &item,
        args.quantity,
        &args.reason,
        &args.description,
    );
    let body = messages::request(
        "update",
        &route,
        (&settings.buyer.subscriber_id, &settings.buyer.bap_uri()),
        message,
    );
    let answer = exchange(settings, &body, "on_update", json).await?;
    remember(&mut session, &answer);
    session.save(&settings.buyer.session_file)?;
    outcome(&answer)
}

async fn watch(settings: &Settings, args: WatchArgs, json: bool) -> anyhow::Result<()> {
    let mut client = BuyerClient::start(&settings.buyer).await?;
    eprintln!(
        "Listening for callbacks at {} (Ctrl-C to stop).",
        settings.buyer.bap_uri()
    );
    let until = args
        .secs
        .map(|secs| tokio::time::Instant::now() + Duration::from_secs(secs));
    let mut session = Session::load(&settings.buyer.session_file)?;
    let mut seen = 0;
    while args.count.is_none_or(|count| seen < count) {
        let next = async { client.collect(|heard| !heard.is_empty(), None).await };
        let heard = tokio::select! {
            heard = next => heard,
            _ = tokio::signal::ctrl_c() => break,
            _ = async {
                match until {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => break,
        };
        seen += heard.len();
        show(&heard, json);
        for callback in &heard {
            let ours = session
                .order
                .as_ref()
                .is_some_and(|f| f.route.transaction_id == callback.transaction_id());
            if ours && callback.signed_by.is_ok() {
                remember(&mut session, callback);
            }
        }
        session.save(&settings.buyer.session_file)?;
    }
    client.stop().await;
    Ok(())
}
