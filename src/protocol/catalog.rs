//! The catalogue in ONDC's wire form (`on_search.message.catalog`, RETAIL-DIGEST.md §6):
//! providers with their descriptor, creds, fulfillments, locations, variant-group categories,
//! items and serviceability/timing tags, and the split of a large catalogue into several
//! on_search messages under a size limit.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::time::format_timestamp;
use crate::catalog::model::{
    Item, Location, PackagedCommodities, Provider, Serviceability, VariantGroup,
};
use crate::store::{CatalogSlice, Stored};

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

fn serviceability_tag(location: &Location, category: &str) -> Value {
    let (kind, value, unit) = match &location.serviceability {
        Serviceability::Radius { km } => ("10", format_km(*km), "km"),
        Serviceability::Pincodes { pincodes } => ("11", pincodes.clone(), "pincode"),
        Serviceability::PanIndia => ("12", "IND".to_owned(), "country"),
    };
    tag(
        "serviceability",
        &[
            ("location", location.id.clone()),
            ("category", category.to_owned()),
            ("type", kind.to_owned()),
            ("val", value),
            ("unit", unit.to_owned()),
        ],
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

/// A provider's header: everything but its items, which `catalog_pages` adds.
pub fn provider_json(
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
            tags.push(serviceability_tag(&location.value, category));
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

/// The catalogue-level parts that every page repeats.
pub fn catalog_head(np: &NetworkParticipant, slice: &CatalogSlice) -> (Value, Value) {
    let kinds: BTreeSet<&str> = slice
        .locations
        .values()
        .flatten()
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
    let empty = Vec::new();
    for provider in &slice.providers {
        let id = &provider.value.id;
        let locations = slice.locations.get(id).unwrap_or(&empty);
        let groups = slice.variant_groups.get(id).cloned().unwrap_or_default();
        let items = slice.items.get(id).map(Vec::as_slice).unwrap_or_default();
        let header =
            serde_json::to_string(&provider_json(provider, locations, &groups, items, np, now))
                .expect("JSON values serialise");
        // The header without its closing brace, ready for the items.
        let open = format!("{},\"items\":[", &header[..header.len() - 1]);
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
