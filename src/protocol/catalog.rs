//! The catalogue in ONDC's wire form (`on_search.message.catalog`, RETAIL-DIGEST.md §6):
//! providers with their descriptor, creds, fulfillments, locations, variant-group categories,
//! items and serviceability/timing tags, and the split of a large catalogue into several
//! on_search messages under a size limit.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::time::format_timestamp;
use crate::catalog::model::{
    Item, Location, PackagedCommodities, Provider, Serviceability, VariantGroup,
};
use crate::store::{CatalogSlice, ProviderHeader, Stored};

/// The seller network participant's own branding and terms (`bpp/descriptor`).
#[derive(Debug, Clone)]
pub struct NetworkParticipant {
    pub name: String,
    pub short_desc: String,
    pub long_desc: String,
    pub symbol: String,
    /// MSN (many sellers) or ISN (one seller).
    pub np_type: String,
    pub provider_ttl: String,
}

/// Fulfillment ids used across the catalogue.
const DELIVERY: &str = "1";
const SELF_PICKUP: &str = "2";

fn fulfillment_id(kind: &str) -> &'static str {
    if kind == "Self-Pickup" {
        SELF_PICKUP
    } else {
        DELIVERY
    }
}

fn label(enabled: bool) -> &'static str {
    if enabled {
        "enable"
    } else {
        "disable"
    }
}

/// A snapshot time no later than the message time, as the validators require.
fn snapshot(updated_at: i64, now: DateTime<Utc>) -> String {
    let at = DateTime::from_timestamp_millis(updated_at)
        .unwrap_or(now)
        .min(now);
    format_timestamp(at)
}

/// An amount with two decimals ("579" → "579.00").
pub fn money(text: &str) -> String {
    match crate::catalog::validate::paise(text) {
        Some(paise) => format!("{}.{:02}", paise / 100, paise % 100),
        None => text.to_owned(),
    }
}

fn tag(code: &str, list: &[(&str, String)]) -> Value {
    json!({"code": code, "list": list.iter().map(|(c, v)| json!({"code": c, "value": v})).collect::<Vec<_>>()})
}

/// An item as ONDC lists it, serialized straight from the catalogue model. Building a
/// `serde_json::Value` per item first spent a quarter of a search's time in malloc and free
/// (BENCHMARKS.md); the keys come out in the same order as before.
pub fn item_text(
    provider: &Provider,
    stored: &Stored<Item>,
    location: Option<&Location>,
    now: DateTime<Utc>,
) -> String {
    let item = &stored.value;
    let kind = location
        .and_then(|l| l.fulfillments.first())
        .map(String::as_str)
        .unwrap_or("Delivery");
    let care = &provider.consumer_care;
    let mut tags = vec![TagOut {
        code: "origin",
        list: vec![TagValue {
            code: "country",
            value: "IND",
        }],
    }];
    if !item.attributes.is_empty() {
        tags.push(TagOut {
            code: "attribute",
            list: item
                .attributes
                .iter()
                .map(|(code, value)| TagValue { code, value })
                .collect(),
        });
    }
    if let Some(veg) = item.veg {
        tags.push(TagOut {
            code: "veg_nonveg",
            list: vec![TagValue {
                code: if veg { "veg" } else { "non_veg" },
                value: "yes",
            }],
        });
    }
    let out = ItemOut {
        id: &item.id,
        time: TimeOut {
            label: label(stored.enabled),
            timestamp: snapshot(stored.updated_at, now),
        },
        parent_item_id: item.parent_item_id.as_deref(),
        descriptor: DescriptorOut {
            name: &item.name,
            code: &item.code,
            short_desc: &item.short_desc,
            long_desc: &item.long_desc,
            images: &item.images,
            symbol: item.images.first().map(String::as_str),
        },
        quantity: QuantityOut {
            unitized: Unitized {
                measure: Measure {
                    unit: &item.unit,
                    value: &item.unit_value,
                },
            },
            available: Count {
                count: if item.stock > 0 && stored.enabled {
                    "99".into()
                } else {
                    "0".into()
                },
            },
            maximum: Count {
                count: item.max_per_order.to_string(),
            },
        },
        price: PriceOut {
            currency: "INR",
            value: money(&item.price),
            maximum_value: money(&item.mrp),
        },
        category_id: &item.category_id,
        fulfillment_id: fulfillment_id(kind),
        location_id: &item.location_id,
        returnable: item.returnable,
        cancellable: item.cancellable,
        return_window: &item.return_window,
        seller_pickup_return: item.seller_pickup_return,
        time_to_ship: &item.time_to_ship,
        available_on_cod: item.cod,
        consumer_care: format!("{},{},{}", care.name, care.email, care.phone),
        packaged_commodities: item.packaged_commodities.as_ref(),
        prepackaged_food: item.prepackaged_food.as_ref().map(|food| FoodOut {
            nutritional_info: &food.nutritional_info,
            additives_info: &food.additives_info,
            brand_owner_fssai_license_no: &food.brand_owner_fssai_license_no,
            other_fssai_license_no: food.other_fssai_license_no.as_deref(),
            importer_fssai_license_no: food.importer_fssai_license_no.as_deref(),
        }),
        tags,
    };
    serde_json::to_string(&out).expect("items serialise")
}

#[derive(Serialize)]
struct ItemOut<'a> {
    id: &'a str,
    time: TimeOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_item_id: Option<&'a str>,
    descriptor: DescriptorOut<'a>,
    quantity: QuantityOut<'a>,
    price: PriceOut,
    category_id: &'a str,
    fulfillment_id: &'static str,
    location_id: &'a str,
    #[serde(rename = "@ondc/org/returnable")]
    returnable: bool,
    #[serde(rename = "@ondc/org/cancellable")]
    cancellable: bool,
    #[serde(rename = "@ondc/org/return_window")]
    return_window: &'a str,
    #[serde(rename = "@ondc/org/seller_pickup_return")]
    seller_pickup_return: bool,
    #[serde(rename = "@ondc/org/time_to_ship")]
    time_to_ship: &'a str,
    #[serde(rename = "@ondc/org/available_on_cod")]
    available_on_cod: bool,
    #[serde(rename = "@ondc/org/contact_details_consumer_care")]
    consumer_care: String,
    #[serde(
        rename = "@ondc/org/statutory_reqs_packaged_commodities",
        skip_serializing_if = "Option::is_none"
    )]
    packaged_commodities: Option<&'a PackagedCommodities>,
    #[serde(
        rename = "@ondc/org/statutory_reqs_prepackaged_food",
        skip_serializing_if = "Option::is_none"
    )]
    prepackaged_food: Option<FoodOut<'a>>,
    tags: Vec<TagOut<'a>>,
}

#[derive(Serialize)]
struct TimeOut {
    label: &'static str,
    timestamp: String,
}

#[derive(Serialize)]
struct DescriptorOut<'a> {
    name: &'a str,
    code: &'a str,
    short_desc: &'a str,
    long_desc: &'a str,
    images: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    symbol: Option<&'a str>,
}

#[derive(Serialize)]
struct QuantityOut<'a> {
    unitized: Unitized<'a>,
    available: Count,
    maximum: Count,
}

#[derive(Serialize)]
struct Unitized<'a> {
    measure: Measure<'a>,
}

#[derive(Serialize)]
struct Measure<'a> {
    unit: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Count {
    count: String,
}

#[derive(Serialize)]
struct PriceOut {
    currency: &'static str,
    value: String,
    maximum_value: String,
}

#[derive(Serialize)]
struct FoodOut<'a> {
    nutritional_info: &'a str,
    additives_info: &'a str,
    #[serde(rename = "brand_owner_FSSAI_license_no")]
    brand_owner_fssai_license_no: &'a str,
    #[serde(
        rename = "other_FSSAI_license_no",
        skip_serializing_if = "Option::is_none"
    )]
    other_fssai_license_no: Option<&'a str>,
    #[serde(
        rename = "importer_FSSAI_license_no",
        skip_serializing_if = "Option::is_none"
    )]
    importer_fssai_license_no: Option<&'a str>,
}

#[derive(Serialize)]
struct TagOut<'a> {
    code: &'a str,
    list: Vec<TagValue<'a>>,
}

#[derive(Serialize)]
struct TagValue<'a> {
    code: &'a str,
    value: &'a str,
}

fn location_json(stored: &Stored<Location>, now: DateTime<Utc>) -> Value {
    let location = &stored.value;
    let today = now.date_naive();
    let holidays: Vec<&String> = location
        .holidays
        .iter()
        .filter(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok_and(|d| d > today))
        .collect();
    let mut out = json!({
        "id": location.id,
        "gps": location.gps,
        "address": {"locality": location.locality, "street": location.street, "city": location.city,
            "area_code": location.area_code, "state": location.state},
        "time": {"label": label(stored.enabled), "timestamp": snapshot(stored.updated_at, now), "days": location.days,
            "schedule": {"holidays": holidays}, "range": {"start": location.open, "end": location.close}},
    });
    if let Serviceability::Radius { km } = &location.serviceability {
        out["circle"] =
            json!({"gps": location.gps, "radius": {"unit": "km", "value": format_km(*km)}});
    }
    out
}

fn format_km(km: f64) -> String {
    if km.fract() == 0.0 {
        format!("{km:.0}")
    } else {
        format!("{km}")
    }
}

/// A location's serviceability (type, value, unit) as ONDC codes it.
fn serviceability(location: &Location) -> (&'static str, String, &'static str) {
    match &location.serviceability {
        Serviceability::Radius { km } => ("10", format_km(*km), "km"),
        Serviceability::Pincodes { pincodes } => ("11", pincodes.clone(), "pincode"),
        Serviceability::PanIndia => ("12", "IND".to_owned(), "country"),
    }
}

/// A location's serviceability tag in wire form, around its category: the tag is
/// `before + category as a JSON string + after`.
fn serviceability_parts(location: &Location) -> (String, String) {
    let text = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let (kind, value, unit) = serviceability(location);
    (
        format!(
            "{{\"code\":\"serviceability\",\"list\":[{{\"code\":\"location\",\"value\":{}}},{{\"code\":\"category\",\"value\":",
            text(&location.id)
        ),
        format!(
            "}},{{\"code\":\"type\",\"value\":{}}},{{\"code\":\"val\",\"value\":{}}},{{\"code\":\"unit\",\"value\":{}}}]}}",
            text(kind),
            text(&value),
            text(unit)
        ),
    )
}

fn variant_group_json(group: &VariantGroup) -> Value {
    let mut tags = vec![tag("type", &[("type", "variant_group".to_owned())])];
    for (seq, path) in group.attributes.iter().enumerate() {
        tags.push(tag(
            "attr",
            &[("name", path.clone()), ("seq", (seq + 1).to_string())],
        ));
    }
    json!({"id": group.id, "descriptor": {"name": group.name}, "tags": tags})
}

/// A provider's header in wire form: everything but its items, which `catalog_pages` adds,
/// and its serviceability tags, which name the (location, category) pairs of each answer's
/// items. Made once per provider and day while the store says the provider is unchanged
/// (`store::ProviderHeader`): building it as a `Value` tree per search took a quarter of a
/// filtered search's time (BENCHMARKS.md).
#[derive(Debug)]
pub struct WireHeader {
    /// Made on this day (a location lists its holidays after it), with this provider ttl.
    day: NaiveDate,
    ttl: String,
    /// `{"id":…,"categories":[…],"tags":[`
    open: String,
    /// Each location's serviceability tag around its category: (location id, before, after).
    serviceability: Vec<(String, String, String)>,
    /// The timing and order-value tags, comma-separated.
    fixed_tags: String,
    /// `]`, then the creds if any; no closing brace.
    close: String,
}

impl WireHeader {
    fn build(header: &ProviderHeader, np: &NetworkParticipant, now: DateTime<Utc>) -> Self {
        let stored = &header.provider;
        let locations = &header.locations;
        let provider = &stored.value;
        let odop = &provider.odop;
        let long_desc = format!(
            "{} One District One Product: {}, {} district, {}.",
            provider.long_desc, odop.product, odop.district, odop.state
        );
        let mut descriptor = json!({"name": provider.name, "short_desc": provider.short_desc, "long_desc": long_desc,
            "images": provider.images});
        descriptor["symbol"] = json!(provider
            .symbol
            .clone()
            .or_else(|| provider.images.first().cloned())
            .unwrap_or_default());
        let kinds: BTreeSet<&str> = locations
            .iter()
            .flat_map(|l| l.value.fulfillments.iter().map(String::as_str))
            .collect();
        let care = &provider.consumer_care;
        let fulfillments: Vec<Value> = kinds
            .iter()
            .map(|kind| json!({"id": fulfillment_id(kind), "type": kind, "contact": {"phone": care.phone, "email": care.email}}))
            .collect();
        let head = json!({
            "id": provider.id,
            "time": {"label": label(stored.enabled), "timestamp": snapshot(stored.updated_at, now)},
            "descriptor": descriptor,
            "ttl": np.provider_ttl,
            "fulfillments": fulfillments,
            "locations": locations.iter().map(|l| location_json(l, now)).collect::<Vec<_>>(),
            "categories": header.variant_groups.iter().map(variant_group_json).collect::<Vec<_>>(),
        });
        let mut open = serde_json::to_string(&head).expect("JSON values serialise");
        open.pop();
        open.push_str(",\"tags\":[");
        let mut fixed = Vec::new();
        for location in locations {
            let l = &location.value;
            let days: Vec<u32> = l
                .days
                .split(',')
                .filter_map(|d| d.trim().parse().ok())
                .collect();
            let (from, to) = (
                days.iter().min().copied().unwrap_or(1),
                days.iter().max().copied().unwrap_or(7),
            );
            fixed.push(tag(
                "timing",
                &[
                    ("type", "Order".to_owned()),
                    ("location", l.id.clone()),
                    ("day_from", from.to_string()),
                    ("day_to", to.to_string()),
                    ("time_from", l.open.clone()),
                    ("time_to", l.close.clone()),
                ],
            ));
        }
        if let Some(min) = &provider.min_order_value {
            fixed.push(tag("order_value", &[("min_value", money(min))]));
        }
        let fixed_tags = fixed
            .iter()
            .map(|t| serde_json::to_string(t).expect("JSON values serialise"))
            .collect::<Vec<_>>()
            .join(",");
        let creds: Vec<Value> = provider
            .creds
            .iter()
            .map(|c| {
                let mut cred = json!({"id": c.id, "descriptor": {"code": c.code, "name": c.name}});
                if let Some(url) = &c.url {
                    cred["url"] = json!(url);
                }
                cred
            })
            .collect();
        let mut close = "]".to_owned();
        if !creds.is_empty() {
            close.push_str(",\"creds\":");
            close.push_str(&serde_json::to_string(&creds).expect("JSON values serialise"));
        }
        let serviceability = locations
            .iter()
            .map(|l| {
                let (before, after) = serviceability_parts(&l.value);
                (l.value.id.clone(), before, after)
            })
            .collect();
        WireHeader {
            day: now.date_naive(),
            ttl: np.provider_ttl.clone(),
            open,
            serviceability,
            fixed_tags,
            close,
        }
    }

    /// The provider's wire header for an answer at `now`, from the provider's cache when it
    /// was made on the same day with the same ttl. Snapshot times are clamped to `now`, so a
    /// header with a time still ahead of it (another machine's clock) is made afresh.
    fn of(header: &ProviderHeader, np: &NetworkParticipant, now: DateTime<Utc>) -> Arc<Self> {
        let mut slot = header.wire.lock();
        if let Some(wire) = slot
            .as_ref()
            .filter(|w| w.day == now.date_naive() && w.ttl == np.provider_ttl)
        {
            return wire.clone();
        }
        let wire = Arc::new(WireHeader::build(header, np, now));
        let settled = |at: i64| DateTime::from_timestamp_millis(at).is_some_and(|at| at <= now);
        if settled(header.provider.updated_at)
            && header.locations.iter().all(|l| settled(l.updated_at))
        {
            *slot = Some(wire.clone());
        }
        wire
    }

    /// The header with the serviceability tags of `items`, open for the items:
    /// `{…,"tags":[…],"creds":[…],"items":[`.
    fn open_for(&self, items: &[Stored<Item>]) -> String {
        let mut pairs = BTreeSet::new();
        for item in items {
            pairs.insert((
                item.value.location_id.as_str(),
                item.value.category_id.as_str(),
            ));
        }
        let mut open = String::with_capacity(
            self.open.len() + 400 * pairs.len() + self.fixed_tags.len() + self.close.len() + 16,
        );
        open.push_str(&self.open);
        let mut first = true;
        for (location_id, category) in &pairs {
            if let Some((_, before, after)) = self
                .serviceability
                .iter()
                .find(|(id, _, _)| id == location_id)
            {
                if !first {
                    open.push(',');
                }
                open.push_str(before);
                open.push_str(&serde_json::to_string(category).expect("strings serialise"));
                open.push_str(after);
                first = false;
            }
        }
        if !self.fixed_tags.is_empty() {
            if !first {
                open.push(',');
            }
            open.push_str(&self.fixed_tags);
        }
        open.push_str(&self.close);
        open.push_str(ITEMS_OPEN);
        open
    }
}

const ITEMS_OPEN: &str = ",\"items\":[";

/// The catalogue-level parts that every page repeats.
pub fn catalog_head(np: &NetworkParticipant, slice: &CatalogSlice) -> (Value, Value) {
    let kinds: BTreeSet<&str> = slice
        .providers
        .iter()
        .flat_map(|p| p.locations.iter())
        .flat_map(|l| l.value.fulfillments.iter().map(String::as_str))
        .collect();
    let fulfillments: Vec<Value> = if kinds.is_empty() {
        vec![json!({"id": DELIVERY, "type": "Delivery"})]
    } else {
        kinds
            .iter()
            .map(|k| json!({"id": fulfillment_id(k), "type": k}))
            .collect()
    };
    let descriptor = json!({
        "name": np.name, "symbol": np.symbol, "short_desc": np.short_desc, "long_desc": np.long_desc, "images": [np.symbol],
        "tags": [tag("bpp_terms", &[("np_type", np.np_type.clone())])],
    });
    (descriptor, Value::Array(fulfillments))
}

/// Collects serialized providers into pages under a byte budget.
struct Pager {
    head: String,
    budget: usize,
    pages: Vec<String>,
    page: String,
    has_provider: bool,
}

const PAGE_TAIL: &str = "]}}";

impl Pager {
    fn add(&mut self, provider: &str) {
        if self.has_provider && self.page.len() + provider.len() + 1 + PAGE_TAIL.len() > self.budget
        {
            self.close();
        }
        if self.has_provider {
            self.page.push(',');
        }
        self.page.push_str(provider);
        self.has_provider = true;
    }

    fn close(&mut self) {
        let mut page = std::mem::replace(&mut self.page, self.head.clone());
        page.push_str(PAGE_TAIL);
        // A page grew by doubling; a city's hundred pages would otherwise hold up to twice
        // their size until they are sent (heaptrack, BENCHMARKS.md).
        page.shrink_to_fit();
        self.pages.push(page);
        self.has_provider = false;
    }
}

/// Turns a catalogue slice into serialized `message` bodies of at most about `max_bytes`
/// each (the context and envelope included). Pages split between providers when they can,
/// and inside a provider's items when one provider is too large for a page; every page
/// repeats the provider's header. Each item is serialized once. An empty slice still gives
/// one page, with no providers.
pub fn catalog_pages(
    slice: &CatalogSlice,
    np: &NetworkParticipant,
    max_bytes: usize,
    now: DateTime<Utc>,
) -> Vec<String> {
    let (descriptor, fulfillments) = catalog_head(np, slice);
    let head = format!(
        "{{\"catalog\":{{\"bpp/fulfillments\":{},\"bpp/descriptor\":{},\"bpp/providers\":[",
        serde_json::to_string(&fulfillments).expect("JSON values serialise"),
        serde_json::to_string(&descriptor).expect("JSON values serialise"),
    );
    // Room for the context and the envelope around the message.
    let budget = max_bytes.saturating_sub(1200).max(head.len() + 4096);
    let mut pager = Pager {
        head: head.clone(),
        budget,
        pages: Vec::new(),
        page: head,
        has_provider: false,
    };
    for header in &slice.providers {
        let provider = &header.provider;
        let locations = &header.locations;
        let items = slice
            .items
            .get(header.id())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let open = WireHeader::of(header, np, now).open_for(items);
        let mut part = open.clone();
        let mut count = 0;
        for item in items {
            let location = locations
                .iter()
                .find(|l| l.value.id == item.value.location_id)
                .map(|l| &l.value);
            let text = item_text(&provider.value, item, location, now);
            if count > 0 && pager.head.len() + part.len() + text.len() + 8 > budget {
                part.push_str("]}");
                pager.add(&part);
                part = open.clone();
                count = 0;
            }
            if count > 0 {
                part.push(',');
            }
            part.push_str(&text);
            count += 1;
        }
        part.push_str("]}");
        pager.add(&part);
    }
    pager.close();
    pager.pages
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `Value` tree the catalogue's items were built as before `item_text`, kept as the
    /// oracle that the direct serialization says the same.
    fn item_as_value(
        provider: &Provider,
        stored: &Stored<Item>,
        location: Option<&Location>,
        now: DateTime<Utc>,
    ) -> Value {
        let item = &stored.value;
        let mut descriptor = json!({"name": item.name, "code": item.code, "short_desc": item.short_desc,
            "long_desc": item.long_desc, "images": item.images});
        if let Some(first) = item.images.first() {
            descriptor["symbol"] = json!(first);
        }
        let kind = location
            .and_then(|l| l.fulfillments.first())
            .map(String::as_str)
            .unwrap_or("Delivery");
        let care = &provider.consumer_care;
        let mut out = json!({
            "id": item.id,
            "time": {"label": label(stored.enabled), "timestamp": snapshot(stored.updated_at, now)},
            "descriptor": descriptor,
            "quantity": {"unitized": {"measure": {"unit": item.unit, "value": item.unit_value}},
                "available": {"count": if item.stock > 0 && stored.enabled { "99" } else { "0" }},
                "maximum": {"count": item.max_per_order.to_string()}},
            "price": {"currency": "INR", "value": money(&item.price), "maximum_value": money(&item.mrp)},
            "category_id": item.category_id,
            "fulfillment_id": fulfillment_id(kind),
            "location_id": item.location_id,
            "@ondc/org/returnable": item.returnable,
            "@ondc/org/cancellable": item.cancellable,
            "@ondc/org/return_window": item.return_window,
            "@ondc/org/seller_pickup_return": item.seller_pickup_return,
            "@ondc/org/time_to_ship": item.time_to_ship,
            "@ondc/org/available_on_cod": item.cod,
            "@ondc/org/contact_details_consumer_care": format!("{},{},{}", care.name, care.email, care.phone),
        });
        if let Some(parent) = &item.parent_item_id {
            out["parent_item_id"] = json!(parent);
        }
        if let Some(block) = &item.packaged_commodities {
            out["@ondc/org/statutory_reqs_packaged_commodities"] = json!({
                "manufacturer_or_packer_name": block.manufacturer_or_packer_name,
                "manufacturer_or_packer_address": block.manufacturer_or_packer_address,
                "common_or_generic_name_of_commodity": block.common_or_generic_name_of_commodity,
                "month_year_of_manufacture_packing_import": block.month_year_of_manufacture_packing_import,
            });
        }
        if let Some(food) = &item.prepackaged_food {
            let mut block = json!({"nutritional_info": food.nutritional_info, "additives_info": food.additives_info,
                "brand_owner_FSSAI_license_no": food.brand_owner_fssai_license_no});
            if let Some(other) = &food.other_fssai_license_no {
                block["other_FSSAI_license_no"] = json!(other);
            }
            if let Some(importer) = &food.importer_fssai_license_no {
                block["importer_FSSAI_license_no"] = json!(importer);
            }
            out["@ondc/org/statutory_reqs_prepackaged_food"] = block;
        }
        let mut tags = vec![tag("origin", &[("country", "IND".to_owned())])];
        if !item.attributes.is_empty() {
            let list: Vec<(&str, String)> = item
                .attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            tags.push(tag("attribute", &list));
        }
        if let Some(veg) = item.veg {
            tags.push(tag(
                "veg_nonveg",
                &[(if veg { "veg" } else { "non_veg" }, "yes".to_owned())],
            ));
        }
        out["tags"] = Value::Array(tags);
        out
    }

    /// A provider's header as it was built before `WireHeader`, kept as the oracle that the
    /// cached parts say the same.
    fn provider_json(
        stored: &Stored<Provider>,
        locations: &[Stored<Location>],
        groups: &[VariantGroup],
        items: &[Stored<Item>],
        np: &NetworkParticipant,
        now: DateTime<Utc>,
    ) -> Value {
        let provider = &stored.value;
        let odop = &provider.odop;
        let long_desc = format!(
            "{} One District One Product: {}, {} district, {}.",
            provider.long_desc, odop.product, odop.district, odop.state
        );
        let mut descriptor = json!({"name": provider.name, "short_desc": provider.short_desc, "long_desc": long_desc,
            "images": provider.images});
        descriptor["symbol"] = json!(provider
            .symbol
            .clone()
            .or_else(|| provider.images.first().cloned())
            .unwrap_or_default());
        let kinds: BTreeSet<&str> = locations
            .iter()
            .flat_map(|l| l.value.fulfillments.iter().map(String::as_str))
            .collect();
        let care = &provider.consumer_care;
        let fulfillments: Vec<Value> = kinds
            .iter()
            .map(|kind| json!({"id": fulfillment_id(kind), "type": kind, "contact": {"phone": care.phone, "email": care.email}}))
            .collect();
        let mut tags = Vec::new();
        let mut pairs = BTreeSet::new();
        for item in items {
            pairs.insert((
                item.value.location_id.as_str(),
                item.value.category_id.as_str(),
            ));
        }
        for (location_id, category) in &pairs {
            if let Some(location) = locations.iter().find(|l| l.value.id == *location_id) {
                let (kind, value, unit) = serviceability(&location.value);
                tags.push(tag(
                    "serviceability",
                    &[
                        ("location", location.value.id.clone()),
                        ("category", category.to_string()),
                        ("type", kind.to_owned()),
                        ("val", value),
                        ("unit", unit.to_owned()),
                    ],
                ));
            }
        }
        for location in locations {
            let l = &location.value;
            let days: Vec<u32> = l
                .days
                .split(',')
                .filter_map(|d| d.trim().parse().ok())
                .collect();
            let (from, to) = (
                days.iter().min().copied().unwrap_or(1),
                days.iter().max().copied().unwrap_or(7),
            );
            tags.push(tag(
                "timing",
                &[
                    ("type", "Order".to_owned()),
                    ("location", l.id.clone()),
                    ("day_from", from.to_string()),
                    ("day_to", to.to_string()),
                    ("time_from", l.open.clone()),
                    ("time_to", l.close.clone()),
                ],
            ));
        }
        if let Some(min) = &provider.min_order_value {
            tags.push(tag("order_value", &[("min_value", money(min))]));
        }
        let creds: Vec<Value> = provider
            .creds
            .iter()
            .map(|c| {
                let mut cred = json!({"id": c.id, "descriptor": {"code": c.code, "name": c.name}});
                if let Some(url) = &c.url {
                    cred["url"] = json!(url);
                }
                cred
            })
            .collect();
        let mut out = json!({
            "id": provider.id,
            "time": {"label": label(stored.enabled), "timestamp": snapshot(stored.updated_at, now)},
            "descriptor": descriptor,
            "ttl": np.provider_ttl,
            "fulfillments": fulfillments,
            "locations": locations.iter().map(|l| location_json(l, now)).collect::<Vec<_>>(),
            "categories": groups.iter().map(variant_group_json).collect::<Vec<_>>(),
            "tags": tags,
        });
        if !creds.is_empty() {
            out["creds"] = Value::Array(creds);
        }
        out
    }

    fn demo_headers() -> Vec<(ProviderHeader, Vec<Stored<Item>>)> {
        let file: crate::catalog::model::CatalogFile =
            serde_json::from_str(crate::catalog::import::DEMO).unwrap();
        fn stored<T>(value: T, enabled: bool) -> Stored<T> {
            Stored {
                value,
                enabled,
                updated_at: Utc::now().timestamp_millis() - 60_000,
            }
        }
        let mut out = Vec::new();
        for (n, provider) in file.providers.into_iter().enumerate() {
            let mut provider = provider;
            // Vary what the demo leaves constant: no creds, a minimum order, a disabled
            // store, holidays past and to come, a second store (radius or pincodes, with
            // Self-Pickup) holding half the items in another category, variant groups.
            if n % 2 == 1 {
                provider.creds.clear();
            } else {
                provider.min_order_value = Some("499".into());
            }
            if let Some(location) = provider.locations.first_mut() {
                location.holidays = vec!["2001-01-26".into(), "2999-08-15".into()];
                let mut second = location.clone();
                second.id = format!("{}-second", location.id);
                second.serviceability = if n % 2 == 0 {
                    Serviceability::Radius { km: 7.5 }
                } else {
                    Serviceability::Pincodes {
                        pincodes: "560001-560076,560083".into(),
                    }
                };
                second.fulfillments = vec!["Delivery".into(), "Self-Pickup".into()];
                second.close = "1830".into();
                second.days = "1,2,3,4,5".into();
                for item in provider.items.iter_mut().skip(1).step_by(2) {
                    item.location_id = second.id.clone();
                    item.category_id = format!("{} \"special\"", item.category_id);
                }
                provider.locations.push(second);
            }
            if n % 3 == 2 {
                provider.variant_groups.push(VariantGroup {
                    id: "vg-1".into(),
                    name: "Colour & size".into(),
                    attributes: vec![
                        "item.tags.attribute.colour".into(),
                        "item.tags.attribute.size".into(),
                    ],
                });
            }
            let items = provider
                .items
                .iter()
                .map(|i| stored(i.clone(), true))
                .collect();
            let locations = provider
                .locations
                .iter()
                .enumerate()
                .map(|(k, l)| stored(l.clone(), n % 3 != 0 || k > 0))
                .collect();
            let groups = provider.variant_groups.clone();
            out.push((
                ProviderHeader::new(stored(provider, n % 4 != 3), locations, groups),
                items,
            ));
        }
        out
    }

    fn np() -> NetworkParticipant {
        NetworkParticipant {
            name: "Haat".into(),
            short_desc: "s".into(),
            long_desc: "l".into(),
            symbol: "https://haat.example/s.png".into(),
            np_type: "MSN".into(),
            provider_ttl: "P1D".into(),
        }
    }

    #[test]
    fn a_cached_wire_header_says_what_the_value_tree_said_for_any_items() {
        let np = np();
        let now = Utc::now();
        let mut checked = 0;
        for (header, items) in demo_headers() {
            for chosen in [&items[..], &items[..1.min(items.len())], &[]] {
                let tree = provider_json(
                    &header.provider,
                    &header.locations,
                    &header.variant_groups,
                    chosen,
                    &np,
                    now,
                );
                let text = serde_json::to_string(&tree).unwrap();
                let expected = format!("{},\"items\":[", &text[..text.len() - 1]);
                // Twice: made, then from the provider's cache.
                for _ in 0..2 {
                    let open = WireHeader::of(&header, &np, now).open_for(chosen);
                    assert_eq!(open, expected);
                }
                checked += 1;
            }
        }
        assert!(checked >= 9, "{checked}");
    }

    #[test]
    fn a_wire_header_is_made_again_on_another_day_or_ttl_and_never_kept_with_a_future_time() {
        let np = np();
        let now = Utc::now();
        let (header, _) = demo_headers().remove(0);
        let first = WireHeader::of(&header, &np, now);
        assert!(Arc::ptr_eq(&first, &WireHeader::of(&header, &np, now)));
        let tomorrow = now + chrono::Duration::days(1);
        let next_day = WireHeader::of(&header, &np, tomorrow);
        assert!(!Arc::ptr_eq(&first, &next_day));
        assert_eq!(next_day.day, tomorrow.date_naive());
        let other_ttl = NetworkParticipant {
            provider_ttl: "PT30M".into(),
            ..np.clone()
        };
        assert!(WireHeader::of(&header, &other_ttl, tomorrow)
            .open
            .contains("\"ttl\":\"PT30M\""));

        // Changed a second from now by a machine whose clock is ahead: the snapshot time is
        // clamped to each answer's time, so nothing is kept.
        let ahead = ProviderHeader::new(
            Stored {
                updated_at: now.timestamp_millis() + 1_000,
                ..header.provider.clone()
            },
            header.locations.clone(),
            header.variant_groups.clone(),
        );
        let one = WireHeader::of(&ahead, &np, now);
        let later = now + chrono::Duration::milliseconds(500);
        let two = WireHeader::of(&ahead, &np, later);
        assert!(!Arc::ptr_eq(&one, &two));
        assert!(one.open.contains(&format_timestamp(now)));
        assert!(two.open.contains(&format_timestamp(later)));

        // The same for a store (location) changed ahead of now.
        let mut locations = header.locations.clone();
        locations[0].updated_at = now.timestamp_millis() + 1_000;
        let ahead = ProviderHeader::new(
            header.provider.clone(),
            locations,
            header.variant_groups.clone(),
        );
        let one = WireHeader::of(&ahead, &np, now);
        assert!(!Arc::ptr_eq(&one, &WireHeader::of(&ahead, &np, later)));
    }

    #[test]
    fn every_demo_item_serializes_to_what_its_value_tree_said() {
        let file: crate::catalog::model::CatalogFile =
            serde_json::from_str(crate::catalog::import::DEMO).unwrap();
        let now = Utc::now();
        let mut checked = 0;
        for provider in &file.providers {
            for (n, item) in provider.items.iter().enumerate() {
                let mut item = item.clone();
                // Vary what the demo leaves constant: out of stock, a parent, no veg flag.
                if n % 3 == 1 {
                    item.stock = 0;
                    item.parent_item_id = Some("parent-1".into());
                    item.veg = item.veg.map(|v| !v);
                }
                let stored = Stored {
                    value: item,
                    enabled: n % 4 != 2,
                    updated_at: now.timestamp_millis() - 1_000,
                };
                let location = provider
                    .locations
                    .iter()
                    .find(|l| l.id == stored.value.location_id);
                let text = item_text(provider, &stored, location, now);
                let parsed: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    parsed,
                    item_as_value(provider, &stored, location, now),
                    "{text}"
                );
                checked += 1;
            }
        }
        assert!(
            checked > 20,
            "the demo has items of every domain: {checked}"
        );
        let foods = file
            .providers
            .iter()
            .flat_map(|p| &p.items)
            .filter(|i| i.prepackaged_food.is_some())
            .count();
        let packaged = file
            .providers
            .iter()
            .flat_map(|p| &p.items)
            .filter(|i| i.packaged_commodities.is_some())
            .count();
        assert!(
            foods > 0 && packaged > 0,
            "food {foods}, packaged {packaged}"
        );
    }
}
