//! select → on_select, init → on_init and confirm → on_confirm (RETAIL-DIGEST.md §8.1–§8.4,
//! §9, §14). The quote is priced from the catalogue as it is now; what on_select and on_init
//! answered is kept as the transaction's draft, and init and confirm are checked against it.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::money::{self, Paise};
use super::record::{Charge, Forward, Line, Order, Refusal};
use crate::catalog::model::{Item, Location, Provider, Serviceability, Terms};
use crate::config::OrderSettings;
use crate::protocol::ack::{ErrorType, WireError};
use crate::protocol::json::{object, At};
use crate::protocol::time::{format_duration, format_timestamp, parse_duration_ms};
use crate::store::{Store, StoreError};

/// The forward fulfilment's id in every order.
pub const FORWARD_ID: &str = "F1";

/// What the buyer app asked for in select (and repeats in init and confirm).
#[derive(Debug, Clone)]
pub struct Cart {
    pub provider_id: String,
    pub location_id: Option<String>,
    pub items: Vec<(String, i64)>,
    pub fulfillment_type: String,
    pub end_gps: Option<String>,
    pub end_area_code: Option<String>,
    pub offers: Vec<String>,
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value.at(pointer).and_then(Value::as_str).map(str::to_owned)
}

pub fn read_cart(order: &Value) -> Result<Cart, Refusal> {
    let provider_id = text(order, "/provider/id")
        .ok_or_else(|| Refusal::new("30001", "order.provider.id is missing"))?;
    let location_id = text(order, "/provider/locations/0/id");
    let mut items: Vec<(String, i64)> = Vec::new();
    for item in order
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = text(item, "/id").ok_or_else(|| Refusal::new("30004", "an item has no id"))?;
        let count = item
            .at("/quantity/count")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        match items.iter_mut().find(|(i, _)| *i == id) {
            Some((_, n)) => *n += count,
            None => items.push((id, count)),
        }
    }
    if items.is_empty() {
        return Err(Refusal::new("30004", "the order has no items"));
    }
    let fulfillment = order.at("/fulfillments/0").cloned().unwrap_or(Value::Null);
    let offers = order
        .get("offers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| text(o, "/id"))
        .collect();
    Ok(Cart {
        provider_id,
        location_id,
        items,
        fulfillment_type: text(&fulfillment, "/type").unwrap_or_else(|| "Delivery".into()),
        end_gps: text(&fulfillment, "/end/location/gps"),
        end_area_code: text(&fulfillment, "/end/location/address/area_code"),
        offers,
    })
}

/// A seller's shop as the catalogue has it now.
pub struct Shop {
    pub provider: Provider,
    pub provider_enabled: bool,
    pub location: Location,
    pub location_enabled: bool,
    /// The cart's items that the provider lists, with whether each is enabled.
    pub items: HashMap<String, (Item, bool)>,
}

/// Reads the provider, its location and items; a Refusal when they do not exist.
pub async fn load_shop(
    store: &Store,
    domain: &str,
    cart: &Cart,
) -> Result<Result<Shop, Refusal>, StoreError> {
    let slice = store.provider_catalog(domain, &cart.provider_id).await?;
    let Some(header) = slice.providers.first() else {
        return Ok(Err(Refusal::new(
            "30001",
            format!(
                "provider {} is not in the {domain} catalogue",
                cart.provider_id
            ),
        )));
    };
    let locations = &header.locations;
    let location = match &cart.location_id {
        Some(id) => locations.iter().find(|l| &l.value.id == id),
        None => locations.first(),
    };
    let Some(location) = location else {
        return Ok(Err(Refusal::new(
            "30002",
            format!(
                "location {} of provider {} is not known",
                cart.location_id.clone().unwrap_or_default(),
                cart.provider_id
            ),
        )));
    };
    // Only the cart's items: a seller may list hundreds, and pricing reads none of the rest.
    let items = slice
        .items
        .get(&cart.provider_id)
        .into_iter()
        .flatten()
        .filter(|i| cart.items.iter().any(|(id, _)| *id == i.value.id))
        .map(|i| (i.value.id.clone(), (i.value.clone(), i.enabled)))
        .collect();
    Ok(Ok(Shop {
        provider: header.provider.value.clone(),
        provider_enabled: header.provider.enabled,
        location: location.value.clone(),
        location_enabled: location.enabled,
        items,
    }))
}

/// India Standard Time, in which store hours are written.
fn ist(now: DateTime<Utc>) -> DateTime<FixedOffset> {
    now.with_timezone(&FixedOffset::east_opt(5 * 3600 + 1800).expect("valid offset"))
}

/// Is the store taking orders at `now`? None when open, else why not (for 30017).
pub fn closed_because(location: &Location, now: DateTime<Utc>) -> Option<String> {
    let local = ist(now);
    let date = local.format("%Y-%m-%d").to_string();
    if location.holidays.contains(&date) {
        return Some(format!("the store is closed for a holiday on {date}"));
    }
    let weekday = local.weekday().number_from_monday().to_string();
    if !location.days.split(',').any(|d| d.trim() == weekday) {
        return Some(format!(
            "the store does not take orders on {} (open days {}, 1 = Monday)",
            local.format("%A"),
            location.days
        ));
    }
    let hhmm = local.hour() * 100 + local.minute();
    let open: u32 = location.open.parse().unwrap_or(0);
    let close: u32 = location.close.parse().unwrap_or(2359);
    let inside = if open <= close {
        (open..=close).contains(&hhmm)
    } else {
        hhmm >= open || hhmm <= close
    };
    if !inside {
        return Some(format!(
            "the store takes orders from {} to {} IST; it is {:02}:{:02} now",
            location.open,
            location.close,
            local.hour(),
            local.minute()
        ));
    }
    None
}

fn parse_gps(text: &str) -> Option<(f64, f64)> {
    let (lat, lng) = text.split_once(',')?;
    Some((lat.trim().parse().ok()?, lng.trim().parse().ok()?))
}

/// Great-circle distance in km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlat = lat2 - lat1;
    let dlng = (b.1 - a.1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

fn pincode_listed(list: &str, pincode: &str) -> bool {
    let Ok(code) = pincode.parse::<u32>() else {
        return false;
    };
    list.split(',').any(|entry| match entry.trim().split_once('-') {
        Some((from, to)) => {
            matches!((from.trim().parse::<u32>(), to.trim().parse::<u32>()), (Ok(f), Ok(t)) if (f..=t).contains(&code))
        }
        None => entry.trim() == pincode,
    })
}

/// Can this location deliver to the cart's drop point? Err: (code, why).
pub fn serviceable(location: &Location, cart: &Cart) -> Result<(), Refusal> {
    if cart.fulfillment_type == "Self-Pickup" {
        return if location.fulfillments.iter().any(|f| f == "Self-Pickup") {
            Ok(())
        } else {
            Err(Refusal::new(
                "30008",
                "this store does not offer self-pickup",
            ))
        };
    }
    if !location.fulfillments.iter().any(|f| f == "Delivery") {
        return Err(Refusal::new(
            "30009",
            "this store does not deliver; it offers self-pickup only",
        ));
    }
    let area = cart.end_area_code.as_deref().unwrap_or_default();
    match &location.serviceability {
        Serviceability::PanIndia => Ok(()),
        Serviceability::Pincodes { pincodes } => {
            if pincode_listed(pincodes, area) {
                Ok(())
            } else {
                Err(Refusal::new(
                    "30009",
                    format!("the store does not deliver to pincode {area}"),
                ))
            }
        }
        Serviceability::Radius { km } => {
            let (Some(store), Some(drop)) = (
                parse_gps(&location.gps),
                cart.end_gps.as_deref().and_then(parse_gps),
            ) else {
                return Err(Refusal::new(
                    "30009",
                    "the drop-off location has no usable gps",
                ));
            };
            let distance = distance_km(store, drop);
            if distance <= *km {
                Ok(())
            } else {
                Err(Refusal::new(
                    "30010",
                    format!(
                        "the drop-off is {distance:.1} km away; the store delivers within {km} km"
                    ),
                ))
            }
        }
    }
}

/// What pricing a cart found.
pub struct Priced {
    pub lines: Vec<Line>,
    pub charges: Vec<Charge>,
    /// The on_select breakup (with `item.quantity`).
    pub select_breakup: Vec<Value>,
    pub total: Paise,
    pub tat: String,
    pub tat_ms: i64,
    pub max_time_to_ship_ms: i64,
    pub serviceable: bool,
    pub error: Option<WireError>,
}

fn price_json(paise: Paise) -> Value {
    json!({"currency": "INR", "value": money::format(paise)})
}

fn domain_error(code: &str, path: Option<&str>, message: String) -> WireError {
    WireError::new(ErrorType::Domain, code, path, message)
}

/// Prices a cart: item lines, tax, delivery and packing per the seller's terms, and every
/// business problem (stock 40002, maximum 40009, minimum order value 30023, serviceability).
pub fn price(shop: &Shop, cart: &Cart, now: DateTime<Utc>) -> Result<Priced, Refusal> {
    let terms: &Terms = &shop.provider.terms;
    if !shop.provider_enabled || !shop.location_enabled {
        return Err(Refusal::new(
            "30021",
            format!("{} is not taking orders at present", shop.provider.name),
        ));
    }
    if let Some(offer) = cart.offers.first() {
        return Err(Refusal::new(
            "30006",
            format!("offer {offer} is not one of this seller's offers"),
        ));
    }
    let mut lines = Vec::new();
    let mut breakup = Vec::new();
    let mut short: Vec<Value> = Vec::new();
    let mut too_many: Vec<String> = Vec::new();
    let mut max_ship = 0;
    for (item_id, count) in &cart.items {
        let Some((item, enabled)) = shop.items.get(item_id) else {
            return Err(Refusal::new(
                "30004",
                format!(
                    "item {item_id} is not in {}'s catalogue",
                    shop.provider.name
                ),
            ));
        };
        if item.location_id != shop.location.id {
            return Err(Refusal::new(
                "30004",
                format!(
                    "item {item_id} is not sold from location {}",
                    shop.location.id
                ),
            ));
        }
        let unit = money::parse(&item.price).unwrap_or(0);
        let available = if *enabled { item.stock.max(0) } else { 0 };
        if *count < 1 {
            return Err(Refusal::new(
                "40012",
                format!("item {item_id}: at least 1 must be ordered"),
            ));
        }
        if *count > available {
            short.push(json!({"item_id": item_id, "error": "40002"}));
        } else if *count > item.max_per_order {
            too_many.push(format!(
                "{}: at most {} per order",
                item.name, item.max_per_order
            ));
        }
        max_ship = max_ship.max(parse_duration_ms(&item.time_to_ship).unwrap_or(0));
        let shown_available = if *count > available {
            available.to_string()
        } else {
            "99".to_owned()
        };
        breakup.push(json!({
            "@ondc/org/item_id": item_id,
            "@ondc/org/item_quantity": {"count": count},
            "title": item.name,
            "@ondc/org/title_type": "item",
            "price": price_json(unit * count),
            "item": {
                "price": price_json(unit),
                "quantity": {
                    "available": {"count": shown_available},
                    "maximum": {"count": item.max_per_order.to_string()},
                },
            },
        }));
        lines.push(Line {
            item_id: item_id.clone(),
            title: item.name.clone(),
            unit,
            ordered: *count,
            tax_rate: if terms.prices_include_tax {
                None
            } else {
                item.gst_percent
                    .clone()
                    .filter(|r| money::parse(r).is_some_and(|v| v > 0))
            },
            cancellable: item.cancellable,
            returnable: item.returnable,
            return_window_ms: parse_duration_ms(&item.return_window).unwrap_or(0),
            parent_item_id: item.parent_item_id.clone(),
        });
    }
    let items_total: Paise = lines.iter().map(|l| l.unit * l.ordered).sum();
    for line in &lines {
        if let Some(rate) = &line.tax_rate {
            breakup.push(json!({
                "@ondc/org/item_id": line.item_id,
                "title": format!("Tax (GST {rate}%)"),
                "@ondc/org/title_type": "tax",
                "price": price_json(money::percent_of(line.unit * line.ordered, rate).unwrap_or(0)),
            }));
        }
    }
    let serviceability = serviceable(&shop.location, cart);
    let is_serviceable = serviceability.is_ok();
    let mut charges = Vec::new();
    let free_above = terms.free_delivery_above.as_deref().and_then(money::parse);
    let delivery = money::parse(&terms.delivery_charge).unwrap_or(0);
    if is_serviceable
        && cart.fulfillment_type == "Delivery"
        && delivery > 0
        && free_above.is_none_or(|limit| items_total < limit)
    {
        charges.push(Charge {
            title_type: "delivery".into(),
            title: "Delivery charges".into(),
            amount: delivery,
            refunded: false,
        });
    }
    let packing = money::parse(&terms.packing_charge).unwrap_or(0);
    if packing > 0 {
        charges.push(Charge {
            title_type: "packing".into(),
            title: "Packing charges".into(),
            amount: packing,
            refunded: false,
        });
    }
    for charge in &charges {
        breakup.push(json!({
            "@ondc/org/item_id": FORWARD_ID,
            "title": charge.title,
            "@ondc/org/title_type": charge.title_type,
            "price": price_json(charge.amount),
        }));
    }
    let total = breakup
        .iter()
        .filter_map(|b| b.at("/price/value").and_then(Value::as_str))
        .filter_map(money::parse)
        .sum();
    let delivery_ms = if cart.fulfillment_type == "Self-Pickup" {
        0
    } else {
        parse_duration_ms(&terms.delivery_time).unwrap_or(0)
    };
    let tat_ms = max_ship + delivery_ms;
    let error = if let Err(refusal) = &serviceability {
        Some(domain_error(refusal.code, None, refusal.message.clone()))
    } else if let Some(why) = closed_because(&shop.location, now) {
        Some(domain_error(
            "30017",
            None,
            format!("{}: {why}", shop.provider.name),
        ))
    } else if !short.is_empty() {
        Some(domain_error("40002", None, Value::Array(short).to_string()))
    } else if !too_many.is_empty() {
        Some(domain_error(
            "40009",
            None,
            format!("maximum order quantity exceeded: {}", too_many.join("; ")),
        ))
    } else {
        match shop
            .provider
            .min_order_value
            .as_deref()
            .and_then(money::parse)
        {
            Some(min) if items_total < min => Some(domain_error(
                "30023",
                None,
                format!(
                    "the items come to {}; {} takes orders of at least {}",
                    money::format(items_total),
                    shop.provider.name,
                    money::format(min)
                ),
            )),
            _ => None,
        }
    };
    Ok(Priced {
        lines,
        charges,
        select_breakup: breakup,
        total,
        tat: format_duration(tat_ms),
        tat_ms,
        max_time_to_ship_ms: max_ship,
        serviceable: is_serviceable,
        error,
    })
}

/// What on_select and on_init answered, per transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Draft {
    pub domain: String,
    pub provider_id: String,
    pub location_id: String,
    pub items: Vec<(String, i64)>,
    pub fulfillment_type: String,
    pub end_gps: Option<String>,
    pub end_area_code: Option<String>,
    pub quote: Value,
    pub lines: Vec<Line>,
    pub charges: Vec<Charge>,
    pub tat: String,
    pub tat_ms: i64,
    pub max_time_to_ship_ms: i64,
    pub category: String,
    pub tracking: bool,
    pub quoted_at_ms: i64,
    pub billing: Option<Value>,
    pub payment: Option<Value>,
    pub bpp_terms: Option<Value>,
    pub end: Option<Value>,
    pub cancellation_terms: Option<Value>,
}

impl Draft {
    /// What a quote answered, before init adds its terms. `domain` is filled in by the caller.
    fn quoted(shop: &Shop, cart: &Cart, priced: &Priced, quote: Value, now_ms: i64) -> Self {
        Self {
            domain: String::new(),
            provider_id: shop.provider.id.clone(),
            location_id: shop.location.id.clone(),
            items: cart.items.clone(),
            fulfillment_type: cart.fulfillment_type.clone(),
            end_gps: cart.end_gps.clone(),
            end_area_code: cart.end_area_code.clone(),
            quote,
            lines: priced.lines.clone(),
            charges: priced.charges.clone(),
            tat: priced.tat.clone(),
            tat_ms: priced.tat_ms,
            max_time_to_ship_ms: priced.max_time_to_ship_ms,
            category: category(shop, cart),
            tracking: shop.provider.terms.tracking_url.is_some(),
            quoted_at_ms: now_ms,
            billing: None,
            payment: None,
            bpp_terms: None,
            end: None,
            cancellation_terms: None,
        }
    }
}

/// The on_* quote without `item.quantity` (only on_select carries it, §8.2).
fn plain_quote(breakup: &[Value], total: Paise, ttl: &str) -> Value {
    let breakup: Vec<Value> = breakup
        .iter()
        .map(|line| {
            let mut line = line.clone();
            if let Some(item) = line.get_mut("item").and_then(Value::as_object_mut) {
                item.remove("quantity");
            }
            line
        })
        .collect();
    object([
        ("price", price_json(total)),
        ("breakup", Value::Array(breakup)),
        ("ttl", json!(ttl)),
    ])
}

fn category(shop: &Shop, cart: &Cart) -> String {
    if cart.fulfillment_type == "Self-Pickup" {
        "Takeaway".into()
    } else {
        shop.provider.terms.delivery_category.clone()
    }
}

fn fulfillment_summary(shop: &Shop, cart: &Cart, priced: &Priced) -> Value {
    json!({
        "id": FORWARD_ID,
        "type": cart.fulfillment_type,
        "@ondc/org/provider_name": shop.provider.name,
        "tracking": shop.provider.terms.tracking_url.is_some(),
        "@ondc/org/category": category(shop, cart),
        "@ondc/org/TAT": priced.tat,
        "state": {"descriptor": {"code": if priced.serviceable { "Serviceable" } else { "Non-serviceable" }}},
    })
}

fn provider_ref(shop: &Shop) -> Value {
    json!({"id": shop.provider.id, "locations": [{"id": shop.location.id}]})
}

/// A business answer to select/init/confirm that could not even be priced.
pub fn refusal_message(cart: Option<&Cart>, refusal: &Refusal) -> (Value, WireError) {
    let order = match cart {
        Some(cart) => json!({
            "provider": {"id": cart.provider_id},
            "items": cart.items.iter().map(|(id, count)| json!({"id": id, "quantity": {"count": count}})).collect::<Vec<_>>(),
        }),
        None => json!({}),
    };
    (
        object([("order", order)]),
        domain_error(refusal.code, None, refusal.message.clone()),
    )
}

/// on_select: the quote, with what the cart can and cannot have.
pub fn on_select(
    shop: &Shop,
    cart: &Cart,
    priced: &Priced,
    settings: &OrderSettings,
    now_ms: i64,
) -> (Value, Draft) {
    let mut quote = object([
        ("price", price_json(priced.total)),
        ("breakup", Value::Array(priced.select_breakup.clone())),
        ("ttl", json!(settings.quote_ttl)),
    ]);
    if !priced.serviceable {
        quote["breakup"] = Value::Array(
            priced
                .select_breakup
                .iter()
                .filter(|b| b["@ondc/org/title_type"] != "delivery")
                .cloned()
                .collect(),
        );
    }
    let items = cart
        .items
        .iter()
        .map(|(id, _)| json!({"id": id, "fulfillment_id": FORWARD_ID}))
        .collect();
    let message = object([(
        "order",
        object([
            ("provider", provider_ref(shop)),
            ("items", Value::Array(items)),
            (
                "fulfillments",
                Value::Array(vec![fulfillment_summary(shop, cart, priced)]),
            ),
            ("quote", quote),
        ]),
    )]);
    let quote = plain_quote(&priced.select_breakup, priced.total, &settings.quote_ttl);
    let draft = Draft::quoted(shop, cart, priced, quote, now_ms);
    (message, draft)
}

/// Compares two quotes line by line; None when they agree, else the first difference.
pub fn quote_difference(ours: &Value, theirs: &Value) -> Option<String> {
    let amount = |v: &Value, p: &str| v.at(p).and_then(Value::as_str).and_then(money::parse);
    if amount(ours, "/price/value") != amount(theirs, "/price/value") {
        return Some(format!(
            "quote.price.value is {} but was quoted as {}",
            theirs
                .at("/price/value")
                .and_then(Value::as_str)
                .unwrap_or("missing"),
            ours.at("/price/value")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ));
    }
    let lines = |v: &Value| -> Vec<(String, String, Option<Paise>, i64)> {
        let mut out: Vec<_> = v
            .at("/breakup")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|b| {
                (
                    b["@ondc/org/title_type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    b["@ondc/org/item_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    amount(b, "/price/value"),
                    b.at("/@ondc~1org~1item_quantity/count")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                )
            })
            .collect();
        out.sort();
        out
    };
    let (a, b) = (lines(ours), lines(theirs));
    if a != b {
        for line in &a {
            if !b.contains(line) {
                return Some(format!(
                    "the {} line for {} differs from the quote",
                    line.0, line.1
                ));
            }
        }
        return Some("quote.breakup has lines that were not quoted".into());
    }
    None
}

/// Checks an address and contact for init (§8.3); the first problem as (path, message).
fn check_billing(billing: &Value) -> Result<(), (String, String)> {
    let field = |p: &str| billing.at(p).and_then(Value::as_str).unwrap_or_default();
    let problem = |path: &str, message: &str| {
        Err((format!("message.order.billing.{path}"), message.to_owned()))
    };
    if field("/name").trim().is_empty() {
        return problem("name", "the billing name is missing");
    }
    let phone = field("/phone");
    if !(phone.len() == 10 && phone.bytes().all(|b| b.is_ascii_digit())) {
        return problem("phone", "the billing phone must be 10 digits");
    }
    for part in ["locality", "city", "state", "area_code"] {
        if field(&format!("/address/{part}")).trim().is_empty() {
            return problem(&format!("address.{part}"), "is missing");
        }
    }
    let area = field("/address/area_code");
    if !(area.len() == 6 && area.bytes().all(|b| b.is_ascii_digit())) {
        return problem("address.area_code", "the pincode must be 6 digits");
    }
    check_address_text(billing.get("address").unwrap_or(&Value::Null))
        .map_err(|m| ("message.order.billing.address".to_owned(), m))?;
    if billing.get("created_at") != billing.get("updated_at") {
        return problem(
            "updated_at",
            "billing created_at and updated_at must be equal",
        );
    }
    Ok(())
}

fn check_address_text(address: &Value) -> Result<(), String> {
    let field = |n: &str| address.get(n).and_then(Value::as_str).unwrap_or_default();
    let (name, building, locality) = (field("name"), field("building"), field("locality"));
    if !name.is_empty() && name == locality {
        return Err("the address name must differ from its locality".into());
    }
    if name.chars().count() + building.chars().count() + locality.chars().count() >= 190 {
        return Err("name, building and locality together must be under 190 characters".into());
    }
    Ok(())
}

/// The seller app's settlement account: the node's, else the seller's own.
fn settlement_details(shop: &Shop, settings: &OrderSettings) -> Option<Value> {
    let mut entry = Map::new();
    entry.insert("settlement_counterparty".into(), json!("seller-app"));
    entry.insert("settlement_phase".into(), json!("sale-amount"));
    let node = &settings.settlement;
    let (kind, beneficiary, upi, account, ifsc, bank, branch) = if !node.settlement_type.is_empty()
    {
        (
            node.settlement_type.clone(),
            node.beneficiary_name.clone(),
            Some(node.upi_address.clone()).filter(|v| !v.is_empty()),
            Some(node.account_no.clone()).filter(|v| !v.is_empty()),
            Some(node.ifsc_code.clone()).filter(|v| !v.is_empty()),
            Some(node.bank_name.clone()).filter(|v| !v.is_empty()),
            Some(node.branch_name.clone()).filter(|v| !v.is_empty()),
        )
    } else {
        let own = shop.provider.terms.settlement.as_ref()?;
        (
            own.settlement_type.clone(),
            own.beneficiary_name.clone(),
            own.upi_address.clone(),
            own.account_no.clone(),
            own.ifsc_code.clone(),
            own.bank_name.clone(),
            own.branch_name.clone(),
        )
    };
    entry.insert("settlement_type".into(), json!(kind));
    entry.insert("beneficiary_name".into(), json!(beneficiary));
    for (name, value) in [
        ("upi_address", upi),
        ("settlement_bank_account_no", account),
        ("settlement_ifsc_code", ifsc),
        ("bank_name", bank),
        ("branch_name", branch),
    ] {
        if let Some(value) = value {
            entry.insert(name.into(), json!(value));
        }
    }
    Some(Value::Array(vec![Value::Object(entry)]))
}

/// Is the buyer app's finder fee within what the seller app accepts? Err: the 41001 message.
fn check_finder_fee(payment: &Value, total: Paise, settings: &OrderSettings) -> Result<(), String> {
    let kind = payment
        .get("@ondc/org/buyer_app_finder_fee_type")
        .and_then(Value::as_str)
        .unwrap_or("percent");
    let amount = payment
        .get("@ondc/org/buyer_app_finder_fee_amount")
        .and_then(Value::as_str)
        .unwrap_or("0");
    let Some(value) = money::parse(amount) else {
        return Err(format!("finder fee amount \"{amount}\" is not a number"));
    };
    let max = money::parse(&settings.max_finder_fee_percent).unwrap_or(0);
    let percent = match kind.to_ascii_lowercase().as_str() {
        "percent" => value,
        "amount" if total > 0 => value * 10_000 / total,
        "amount" => 0,
        other => {
            return Err(format!(
                "finder fee type \"{other}\" is neither percent nor amount"
            ))
        }
    };
    if percent > max {
        return Err(format!(
            "a finder fee of {amount} ({kind}) is above the {}% this seller app accepts",
            settings.max_finder_fee_percent
        ));
    }
    Ok(())
}

fn bpp_terms(shop: &Shop, settings: &OrderSettings, np_type: &str) -> Value {
    let gstin = if settings.np_gstin.is_empty() {
        shop.provider.kyc.gstin.clone()
    } else {
        settings.np_gstin.clone()
    };
    json!({"code": "bpp_terms", "list": [
        {"code": "np_type", "value": np_type},
        {"code": "tax_number", "value": gstin},
        {"code": "provider_tax_number", "value": shop.provider.kyc.pan},
        {"code": "accept_bap_terms", "value": "Y"},
    ]})
}

fn cancellation_terms(shop: &Shop, priced: &Priced) -> Value {
    let fee = &shop.provider.terms.cancellation_fee_percent;
    let fee_amount = money::percent_of(priced.total, fee).unwrap_or(0);
    let term = |state: &str, percent: &str, amount: Paise| {
        json!({
            "fulfillment_state": {"descriptor": {"code": state, "short_desc": "001,003,006,009,010,052,053"}},
            "cancellation_fee": {"percentage": percent, "amount": price_json(amount)},
        })
    };
    Value::Array(vec![
        term("Pending", "0.00", 0),
        term("Packed", fee, fee_amount),
    ])
}

/// on_init: billing and delivery checked, the same quote (or the new one with 40008),
/// payment terms, bpp_terms and cancellation terms.
#[allow(clippy::too_many_arguments)]
pub fn on_init(
    shop: &Shop,
    cart: &Cart,
    priced: &Priced,
    request_order: &Value,
    draft: Option<&Draft>,
    settings: &OrderSettings,
    np_type: &str,
    now_ms: i64,
) -> (Value, Option<WireError>, Option<Draft>) {
    let quote = plain_quote(&priced.select_breakup, priced.total, &settings.quote_ttl);
    let billing = request_order.get("billing").cloned().unwrap_or(Value::Null);
    let mut end = request_order
        .at("/fulfillments/0/end")
        .cloned()
        .unwrap_or(Value::Null);
    let fulfillment = json!({
        "id": FORWARD_ID,
        "type": cart.fulfillment_type,
        "tracking": shop.provider.terms.tracking_url.is_some(),
        "end": end.clone(),
    });
    let mut payment = request_order.get("payment").cloned().unwrap_or(json!({}));
    if !payment.is_object() {
        payment = json!({});
    }
    let fail = |error: WireError| {
        let message = json!({"order": {
            "provider": provider_ref(shop),
            "items": cart.items.iter().map(|(id, n)| json!({"id": id, "fulfillment_id": FORWARD_ID, "quantity": {"count": n}})).collect::<Vec<_>>(),
            "billing": billing,
            "fulfillments": [fulfillment],
            "quote": quote,
            "payment": payment,
        }});
        (message, Some(error), None)
    };
    if let Some(error) = &priced.error {
        return fail(error.clone());
    }
    if let Err((path, message)) = check_billing(&billing) {
        return fail(domain_error("31002", Some(&path), message));
    }
    if cart.fulfillment_type == "Delivery" {
        let phone = end
            .at("/contact/phone")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !(phone.len() == 10 && phone.bytes().all(|b| b.is_ascii_digit())) {
            return fail(domain_error(
                "31002",
                Some("message.order.fulfillments.0.end.contact.phone"),
                "the delivery phone must be 10 digits".into(),
            ));
        }
        if let Err(message) =
            check_address_text(end.at("/location/address").unwrap_or(&Value::Null))
        {
            return fail(domain_error(
                "31002",
                Some("message.order.fulfillments.0.end.location.address"),
                message,
            ));
        }
    }
    if let Some(draft) = draft {
        if draft.end_gps != cart.end_gps || draft.end_area_code != cart.end_area_code {
            return fail(domain_error(
                "31002",
                Some("message.order.fulfillments.0.end.location"),
                "the delivery gps and pincode must be those of the select".into(),
            ));
        }
    }
    let payment_type = payment
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ON-ORDER")
        .to_owned();
    let collected_by = payment
        .get("collected_by")
        .and_then(Value::as_str)
        .unwrap_or("BAP")
        .to_owned();
    if collected_by == "BPP" {
        return fail(domain_error(
            "40004",
            Some("message.order.payment.collected_by"),
            "this seller app does not collect payments itself; the buyer app collects (collected_by BAP)".into(),
        ));
    }
    if payment_type == "ON-FULFILLMENT" {
        if let Some((_, (item, _))) = shop
            .items
            .iter()
            .find(|(id, (item, _))| cart.items.iter().any(|(c, _)| c == *id) && !item.cod)
        {
            return fail(domain_error(
                "40004",
                Some("message.order.payment.type"),
                format!("{} cannot be paid on delivery", item.name),
            ));
        }
    } else if payment_type == "POST-FULFILLMENT" {
        return fail(domain_error(
            "40004",
            Some("message.order.payment.type"),
            "payment after fulfilment is not offered".into(),
        ));
    }
    if let Err(message) = check_finder_fee(&payment, priced.total, settings) {
        return fail(domain_error(
            "41001",
            Some("message.order.payment"),
            message,
        ));
    }
    let Some(settlement) = settlement_details(shop, settings) else {
        return fail(domain_error(
            "40000",
            None,
            "the seller app has no settlement account configured; it cannot take orders yet".into(),
        ));
    };
    let mut out_payment = Map::new();
    out_payment.insert("type".into(), json!(payment_type));
    out_payment.insert("collected_by".into(), json!(collected_by));
    for name in [
        "@ondc/org/buyer_app_finder_fee_type",
        "@ondc/org/buyer_app_finder_fee_amount",
    ] {
        out_payment.insert(
            name.into(),
            payment
                .get(name)
                .cloned()
                .unwrap_or(json!(if name.ends_with("type") {
                    "percent"
                } else {
                    "0"
                })),
        );
    }
    out_payment.insert(
        "@ondc/org/settlement_basis".into(),
        json!(settings.settlement_basis),
    );
    out_payment.insert(
        "@ondc/org/settlement_window".into(),
        json!(settings.settlement_window),
    );
    out_payment.insert(
        "@ondc/org/withholding_amount".into(),
        json!(settings.withholding_amount),
    );
    let return_window = priced
        .lines
        .iter()
        .map(|l| l.return_window_ms)
        .max()
        .unwrap_or(0);
    out_payment.insert(
        "@ondc/org/return_window".into(),
        json!(format_duration(return_window)),
    );
    out_payment.insert("@ondc/org/settlement_details".into(), settlement);
    let out_payment = Value::Object(out_payment);
    if end.is_object() && end.get("person").is_none() {
        // name for the parcel label, from the billing when the buyer app gives none
        if let Some(name) = billing.get("name") {
            end["person"] = json!({"name": name});
        }
    }
    let terms = bpp_terms(shop, settings, np_type);
    let cancellation = cancellation_terms(shop, priced);
    let error = draft
        .and_then(|d| quote_difference(&d.quote, &quote))
        .map(|why| {
            domain_error(
                "40008",
                Some("message.order.quote"),
                format!("the quote changed since on_select: {why}"),
            )
        });
    let items = cart
        .items
        .iter()
        .map(|(id, n)| json!({"id": id, "fulfillment_id": FORWARD_ID, "quantity": {"count": n}}))
        .collect();
    let message = object([(
        "order",
        object([
            ("provider", provider_ref(shop)),
            ("items", Value::Array(items)),
            ("billing", billing.clone()),
            ("fulfillments", Value::Array(vec![fulfillment])),
            ("quote", quote.clone()),
            ("payment", out_payment.clone()),
            ("cancellation_terms", cancellation.clone()),
            ("tags", Value::Array(vec![terms.clone()])),
        ]),
    )]);
    let draft = Draft {
        billing: Some(billing),
        payment: Some(out_payment),
        bpp_terms: Some(terms),
        end: Some(end),
        cancellation_terms: Some(cancellation),
        ..Draft::quoted(shop, cart, priced, quote, now_ms)
    };
    (message, error, Some(draft))
}

/// Checks a confirm against the on_init draft (§8.4, §14). Err: (code, path, message).
pub fn check_confirm(order: &Value, draft: &Draft) -> Result<(), (String, String, String)> {
    let refuse = |path: &str, message: String| {
        Err(("31002".to_owned(), format!("message.order.{path}"), message))
    };
    let id = order.get("id").and_then(Value::as_str).unwrap_or_default();
    if id.is_empty()
        || id.len() > 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return refuse(
            "id",
            "the order id must be 1-32 letters, digits, '-' or '_'".into(),
        );
    }
    if let Some(why) = order
        .get("quote")
        .and_then(|q| quote_difference(&draft.quote, q))
    {
        return refuse("quote", format!("the quote differs from on_init: {why}"));
    }
    if order.get("quote").is_none() {
        return refuse("quote", "the quote is missing".into());
    }
    let cart = read_cart(order).map_err(|r| {
        (
            r.code.to_owned(),
            "message.order.items".to_owned(),
            r.message,
        )
    })?;
    let mut items = cart.items.clone();
    items.sort();
    let mut expected = draft.items.clone();
    expected.sort();
    if items != expected {
        return refuse("items", "the items differ from those of the init".into());
    }
    if let Some(billing) = &draft.billing {
        if order.get("billing") != Some(billing) {
            return refuse(
                "billing",
                "the billing differs from the init's (it must be unchanged, timestamps too)".into(),
            );
        }
    }
    let payment = order.get("payment").cloned().unwrap_or(Value::Null);
    let ours = draft.payment.clone().unwrap_or(Value::Null);
    let total = draft
        .quote
        .at("/price/value")
        .and_then(Value::as_str)
        .and_then(money::parse);
    let amount = payment
        .at("/params/amount")
        .and_then(Value::as_str)
        .and_then(money::parse);
    if amount != total {
        return refuse(
            "payment.params.amount",
            format!(
                "the payment amount {} does not equal the quote total {}",
                payment
                    .at("/params/amount")
                    .and_then(Value::as_str)
                    .unwrap_or("(missing)"),
                total.map(money::format).unwrap_or_default()
            ),
        );
    }
    for name in [
        "type",
        "collected_by",
        "@ondc/org/buyer_app_finder_fee_type",
    ] {
        if payment
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            != ours
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
        {
            return refuse(
                &format!("payment.{name}"),
                format!("payment {name} differs from on_init"),
            );
        }
    }
    let fee = |p: &Value| {
        p.get("@ondc/org/buyer_app_finder_fee_amount")
            .and_then(Value::as_str)
            .and_then(money::parse)
    };
    if fee(&payment) != fee(&ours) {
        return refuse(
            "payment.@ondc/org/buyer_app_finder_fee_amount",
            "the finder fee differs from on_init".into(),
        );
    }
    let status = payment
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if payment.get("type").and_then(Value::as_str) == Some("ON-ORDER") {
        if status != "PAID" {
            return refuse(
                "payment.status",
                "a prepaid (ON-ORDER) order must be PAID when it is confirmed".into(),
            );
        }
        if payment
            .at("/params/transaction_id")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return refuse(
                "payment.params.transaction_id",
                "a PAID order needs the payment's transaction_id".into(),
            );
        }
    }
    if let Some(theirs) = order
        .get("tags")
        .and_then(Value::as_array)
        .and_then(|tags| tags.iter().find(|t| t["code"] == "bpp_terms"))
    {
        let values = |t: &Value| -> Vec<(String, String)> {
            let mut v = super::record::tag_entries(t);
            v.sort();
            v
        };
        let ours = draft.bpp_terms.as_ref().map(values).unwrap_or_default();
        for entry in values(theirs) {
            if !ours.contains(&entry) {
                return refuse(
                    "tags",
                    format!("bpp_terms {} differs from on_init", entry.0),
                );
            }
        }
    }
    Ok(())
}

/// The order a successful confirm creates.
#[allow(clippy::too_many_arguments)]
pub fn new_order(
    order: &Value,
    draft: &Draft,
    shop: &Shop,
    context: &Map<String, Value>,
    settings: &OrderSettings,
    now: DateTime<Utc>,
) -> Order {
    let now_text = format_timestamp(now);
    let ship_by = now + chrono::Duration::milliseconds(draft.max_time_to_ship_ms.max(3_600_000));
    let deliver_by = now + chrono::Duration::milliseconds(draft.tat_ms.max(3_600_000));
    let location = &shop.location;
    let start = json!({
        "location": {
            "id": location.id,
            "descriptor": {"name": shop.provider.name},
            "gps": location.gps,
            "address": {"locality": location.locality, "building": location.street, "city": location.city,
                "state": location.state, "country": "IND", "area_code": location.area_code},
        },
        "time": {"range": {"start": now_text, "end": format_timestamp(ship_by)}},
        "contact": {"phone": shop.provider.consumer_care.phone, "email": shop.provider.consumer_care.email},
    });
    let mut end = order
        .at("/fulfillments/0/end")
        .cloned()
        .or_else(|| draft.end.clone())
        .unwrap_or(json!({}));
    end["time"] =
        json!({"range": {"start": format_timestamp(ship_by), "end": format_timestamp(deliver_by)}});
    let mut payment = order.get("payment").cloned().unwrap_or(Value::Null);
    // The settlement terms are the seller app's, as on_init gave them.
    if let (Some(ours), Some(out)) = (draft.payment.as_ref(), payment.as_object_mut()) {
        for name in [
            "@ondc/org/settlement_details",
            "@ondc/org/settlement_basis",
            "@ondc/org/settlement_window",
            "@ondc/org/withholding_amount",
        ] {
            if !out.contains_key(name) {
                if let Some(value) = ours.get(name) {
                    out.insert(name.into(), value.clone());
                }
            }
        }
    }
    let bap_terms = order
        .get("tags")
        .and_then(Value::as_array)
        .and_then(|tags| tags.iter().find(|t| t["code"] == "bap_terms"))
        .cloned();
    let mut keep = Map::new();
    for name in [
        "domain",
        "country",
        "city",
        "core_version",
        "bap_id",
        "bap_uri",
        "transaction_id",
    ] {
        if let Some(value) = context.get(name) {
            keep.insert(name.into(), value.clone());
        }
    }
    Order {
        id: order["id"].as_str().unwrap_or_default().to_owned(),
        context: keep,
        provider_id: shop.provider.id.clone(),
        location_id: shop.location.id.clone(),
        state: "Created".into(),
        created_at: order
            .get("created_at")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| now_text.clone()),
        updated_at: now_text.clone(),
        billing: order.get("billing").cloned().unwrap_or(Value::Null),
        payment,
        bpp_terms: draft.bpp_terms.clone().unwrap_or(Value::Null),
        bap_terms,
        cancellation_terms: draft.cancellation_terms.clone().unwrap_or(Value::Null),
        lines: draft.lines.clone(),
        charges: draft.charges.clone(),
        quote_ttl: draft
            .quote
            .at("/ttl")
            .and_then(Value::as_str)
            .unwrap_or(&settings.quote_ttl)
            .to_owned(),
        forward: Forward {
            id: FORWARD_ID.into(),
            kind: draft.fulfillment_type.clone(),
            state: "Pending".into(),
            routing: shop.provider.terms.routing.clone(),
            tat: draft.tat.clone(),
            category: draft.category.clone(),
            provider_name: shop.provider.name.clone(),
            tracking: draft.tracking,
            start,
            end,
            tags: Vec::new(),
            picked_at: None,
            delivered_at: None,
        },
        extras: Vec::new(),
        cancellation: None,
        tracking_url: shop.provider.terms.tracking_url.clone(),
        cancellation_fee_percent: shop.provider.terms.cancellation_fee_percent.clone(),
        last_message_ms: 0,
    }
}
