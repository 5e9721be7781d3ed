//! Checks a catalogue file against ONDC's rules before anything is stored. Every problem is
//! collected (not just the first) with the entity and field it is in, so that a seller can fix
//! a whole file at once; the import layer turns places into CSV lines and columns or JSON paths.

use std::collections::HashSet;

use super::model::{CatalogFile, Item, Location, Provider, Serviceability};
use super::rules::{rules, Constraint, Statutory};
use crate::protocol::time::parse_duration_ms;

/// Which entity a problem is in, by position in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    File,
    Provider(usize),
    Location(usize, usize),
    Item(usize, usize),
    VariantGroup(usize, usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub place: Place,
    pub field: String,
    pub message: String,
}

/// What validation may accept beyond ONDC's strictest rules.
#[derive(Debug, Clone)]
pub struct Policy {
    pub domains: Vec<String>,
    /// Accept `4:<HSN>` or `5:<code>` item codes where the 1.2.5 validator wants an EAN
    /// (RET10, RET13, RET16): most artisan goods have no barcode (RETAIL-DIGEST.md §16).
    pub allow_non_ean_codes: bool,
}

struct Collector {
    problems: Vec<Problem>,
}

impl Collector {
    fn add(&mut self, place: Place, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            place,
            field: field.to_owned(),
            message: message.into(),
        });
    }
    fn require_text(&mut self, place: Place, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(place, field, "is required");
        }
    }
}

/// The delivery categories of `@ondc/org/category` for delivery (RETAIL-DIGEST.md §8.1).
pub const DELIVERY_CATEGORIES: [&str; 5] = [
    "Standard Delivery",
    "Express Delivery",
    "Same Day Delivery",
    "Next Day Delivery",
    "Immediate Delivery",
];

fn check_terms(out: &mut Collector, place: Place, terms: &super::model::Terms) {
    for (field, value) in [
        ("terms.delivery_charge", Some(&terms.delivery_charge)),
        ("terms.packing_charge", Some(&terms.packing_charge)),
        (
            "terms.free_delivery_above",
            terms.free_delivery_above.as_ref(),
        ),
    ] {
        if value.is_some_and(|v| !is_amount(v)) {
            out.add(place, field, "must be an amount such as 50.00");
        }
    }
    if !is_percent(&terms.cancellation_fee_percent) {
        out.add(
            place,
            "terms.cancellation_fee_percent",
            "must be a percentage from 0 to 100, such as 10.00",
        );
    }
    if parse_duration_ms(&terms.delivery_time).is_none_or(|ms| ms <= 0) {
        out.add(
            place,
            "terms.delivery_time",
            "must be an ISO 8601 duration such as P3D or PT48H",
        );
    }
    if !DELIVERY_CATEGORIES.contains(&terms.delivery_category.as_str()) {
        out.add(
            place,
            "terms.delivery_category",
            format!("must be one of {}", DELIVERY_CATEGORIES.join(", ")),
        );
    }
    if !matches!(terms.routing.as_str(), "P2P" | "P2H2P") {
        out.add(
            place,
            "terms.routing",
            "must be P2H2P (through logistics hubs) or P2P (hyperlocal)",
        );
    }
    if let Some(url) = &terms.tracking_url {
        if !crate::protocol::context::is_http_url(url) {
            out.add(
                place,
                "terms.tracking_url",
                "must be an http:// or https:// URL",
            );
        }
    }
    if let Some(settlement) = &terms.settlement {
        let field = "terms.settlement";
        if settlement.beneficiary_name.trim().is_empty() {
            out.add(place, field, "needs the beneficiary's name");
        }
        match settlement.settlement_type.as_str() {
            "upi" => {
                if !settlement
                    .upi_address
                    .as_deref()
                    .is_some_and(|a| a.contains('@') && !a.starts_with('@'))
                {
                    out.add(
                        place,
                        field,
                        "a UPI settlement needs a UPI address such as name@bank",
                    );
                }
            }
            "neft" | "rtgs" => {
                let account_ok = settlement.account_no.as_deref().is_some_and(|a| {
                    (6..=18).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_digit())
                });
                if !account_ok {
                    out.add(
                        place,
                        field,
                        "the bank account number must be 6 to 18 digits",
                    );
                }
                let ifsc_ok = settlement.ifsc_code.as_deref().is_some_and(|c| {
                    let b = c.as_bytes();
                    b.len() == 11
                        && b[..4].iter().all(u8::is_ascii_uppercase)
                        && b[4] == b'0'
                        && b[5..].iter().all(u8::is_ascii_alphanumeric)
                });
                if !ifsc_ok {
                    out.add(place, field, "the IFSC code must look like SBIN0001234");
                }
                if settlement
                    .bank_name
                    .as_deref()
                    .is_none_or(|b| b.trim().is_empty())
                    || settlement
                        .branch_name
                        .as_deref()
                        .is_none_or(|b| b.trim().is_empty())
                {
                    out.add(place, field, "needs the bank's and the branch's names");
                }
            }
            other => out.add(
                place,
                field,
                format!("settlement type \"{other}\" is not upi, neft or rtgs"),
            ),
        }
    }
}

/// The problems of a set of terms on their own, in words.
pub fn terms_problems(terms: &super::model::Terms) -> Vec<String> {
    let mut out = Collector {
        problems: Vec::new(),
    };
    check_terms(&mut out, Place::File, terms);
    out.problems
        .into_iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect()
}

/// "0" to "100" with up to two decimals.
pub fn is_percent(text: &str) -> bool {
    is_amount(text)
        && text
            .parse::<f64>()
            .is_ok_and(|v| (0.0..=100.0).contains(&v))
}

/// Checks the whole file. Returns every problem; an empty list means it can be imported.
pub fn validate(file: &CatalogFile, policy: &Policy) -> Vec<Problem> {
    let mut out = Collector {
        problems: Vec::new(),
    };
    if file.providers.is_empty() {
        out.add(Place::File, "providers", "the file has no providers");
    }
    let mut provider_ids = HashSet::new();
    for (p, provider) in file.providers.iter().enumerate() {
        if !provider_ids.insert(provider.id.as_str()) {
            out.add(
                Place::Provider(p),
                "id",
                format!("provider id \"{}\" appears twice", provider.id),
            );
        }
        check_provider(&mut out, p, provider, policy);
    }
    out.problems
}

pub fn is_ondc_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn is_gstin(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 15
        && b[..2].iter().all(u8::is_ascii_digit)
        && is_pan(&text[2..12])
        && (b[12].is_ascii_digit() && b[12] != b'0' || b[12].is_ascii_uppercase())
        && b[13] == b'Z'
        && (b[14].is_ascii_digit() || b[14].is_ascii_uppercase())
}

pub fn is_pan(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[..5].iter().all(u8::is_ascii_uppercase)
        && b[5..9].iter().all(u8::is_ascii_digit)
        && b[9].is_ascii_uppercase()
}

fn digits(text: &str, count: usize) -> bool {
    text.len() == count && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_phone(text: &str) -> bool {
    (10..=11).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_url(text: &str) -> bool {
    crate::protocol::context::is_http_url(text)
}

/// A money amount: digits, optionally a point and one or two decimals.
pub fn is_amount(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && (text.contains('.') && (1..=2).contains(&fraction.len()) || !text.contains('.'))
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// Parses an amount into paise.
pub fn paise(text: &str) -> Option<i64> {
    if !is_amount(text) {
        return None;
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

fn is_gps(text: &str) -> bool {
    let Some((lat, lng)) = text.split_once(',') else {
        return false;
    };
    let (lat, lng) = (lat.trim(), lng.trim());
    let decimals = |s: &str| s.split_once('.').map(|(_, f)| f.len()).unwrap_or(0);
    match (lat.parse::<f64>(), lng.parse::<f64>()) {
        (Ok(a), Ok(b)) => {
            (-90.0..=90.0).contains(&a)
                && (-180.0..=180.0).contains(&b)
                && decimals(lat) >= 4
                && decimals(lng) >= 4
        }
        _ => false,
    }
}

fn is_hhmm(text: &str) -> bool {
    digits(text, 4)
        && text[..2].parse::<u32>().is_ok_and(|h| h < 24)
        && text[2..].parse::<u32>().is_ok_and(|m| m < 60)
}

/// "560001-560076,560083"
pub fn parse_pincode_ranges(text: &str) -> Option<Vec<(u32, u32)>> {
    let mut ranges = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        if !digits(from.trim(), 6) || !digits(to.trim(), 6) {
            return None;
        }
        let (from, to): (u32, u32) = (from.trim().parse().ok()?, to.trim().parse().ok()?);
        if from > to {
            return None;
        }
        ranges.push((from, to));
    }
    (!ranges.is_empty()).then_some(ranges)
}

fn check_provider(out: &mut Collector, p: usize, provider: &Provider, policy: &Policy) {
    let place = Place::Provider(p);
    if !is_ondc_id(&provider.id) {
        out.add(place, "id", "must be 1-36 letters, digits, '_' or '-'");
    }
    out.require_text(place, "name", &provider.name);
    out.require_text(place, "short_desc", &provider.short_desc);
    out.require_text(place, "long_desc", &provider.long_desc);
    if let Some(symbol) = &provider.symbol {
        if !is_url(symbol) {
            out.add(place, "symbol", "must be an http(s) URL of the logo");
        }
    }
    for image in &provider.images {
        if !is_url(image) {
            out.add(
                place,
                "images",
                format!("\"{image}\" is not an http(s) URL"),
            );
        }
    }
    out.require_text(place, "odop.state", &provider.odop.state);
    out.require_text(place, "odop.district", &provider.odop.district);
    out.require_text(place, "odop.product", &provider.odop.product);
    if !["handloom", "handicraft", "agri", "food processing"]
        .contains(&provider.odop.sector.as_str())
    {
        out.add(
            place,
            "odop.sector",
            "must be handloom, handicraft, agri or food processing",
        );
    }
    for cred in &provider.creds {
        if cred.id.trim().is_empty() || cred.code.trim().is_empty() || cred.name.trim().is_empty() {
            out.add(
                place,
                "creds",
                "each credential needs an id, a code and a name",
            );
        }
        if cred.url.as_deref().is_some_and(|u| !is_url(u)) {
            out.add(
                place,
                "creds",
                format!("the URL of credential {} is not an http(s) URL", cred.id),
            );
        }
    }
    if !is_gstin(&provider.kyc.gstin) {
        out.add(
            place,
            "kyc.gstin",
            format!("\"{}\" is not a 15-character GSTIN", provider.kyc.gstin),
        );
    }
    if !is_pan(&provider.kyc.pan) {
        out.add(
            place,
            "kyc.pan",
            format!("\"{}\" is not a 10-character PAN", provider.kyc.pan),
        );
    } else if provider.kyc.gstin.len() == 15
        && provider.kyc.gstin.get(2..12) != Some(provider.kyc.pan.as_str())
    {
        out.add(place, "kyc.pan", "does not match the PAN inside the GSTIN");
    }
    match &provider.kyc.fssai {
        Some(fssai) if !digits(fssai, 14) => out.add(
            place,
            "kyc.fssai",
            format!("\"{fssai}\" is not a 14-digit FSSAI licence number"),
        ),
        None if provider.items.iter().any(|i| i.domain == "ONDC:RET10") => out.add(
            place,
            "kyc.fssai",
            "a seller of grocery (ONDC:RET10) items needs its 14-digit FSSAI licence number",
        ),
        _ => {}
    }
    out.require_text(place, "consumer_care.name", &provider.consumer_care.name);
    if !provider.consumer_care.email.contains('@') {
        out.add(place, "consumer_care.email", "is not an e-mail address");
    }
    if !is_phone(&provider.consumer_care.phone) {
        out.add(place, "consumer_care.phone", "must be 10 or 11 digits");
    }
    if let Some(min) = &provider.min_order_value {
        if !is_amount(min) {
            out.add(place, "min_order_value", "must be an amount such as 250.00");
        }
    }
    check_terms(out, place, &provider.terms);
    if provider.locations.is_empty() {
        out.add(place, "locations", "a provider needs at least one location");
    }
    let mut location_ids = HashSet::new();
    for (l, location) in provider.locations.iter().enumerate() {
        if !location_ids.insert(location.id.as_str()) {
            out.add(
                Place::Location(p, l),
                "id",
                format!("location id \"{}\" appears twice", location.id),
            );
        }
        check_location(out, Place::Location(p, l), location);
    }
    let mut group_ids = HashSet::new();
    for (g, group) in provider.variant_groups.iter().enumerate() {
        let place = Place::VariantGroup(p, g);
        if !is_ondc_id(&group.id) || !group_ids.insert(group.id.as_str()) {
            out.add(
                place,
                "id",
                "must be a unique id of 1-36 letters, digits, '_' or '-'",
            );
        }
        out.require_text(place, "name", &group.name);
        if group.attributes.is_empty() || group.attributes.iter().any(|a| !a.starts_with("item.")) {
            out.add(
                place,
                "attributes",
                "list the paths the variants differ in, e.g. item.tags.attribute.colour",
            );
        }
    }
    let mut item_ids = HashSet::new();
    let mut variants = HashSet::new();
    for (i, item) in provider.items.iter().enumerate() {
        let place = Place::Item(p, i);
        if !item_ids.insert(item.id.as_str()) {
            out.add(
                place,
                "id",
                format!(
                    "item id \"{}\" appears twice in provider {}",
                    item.id, provider.id
                ),
            );
        }
        if !location_ids.contains(item.location_id.as_str()) {
            out.add(
                place,
                "location_id",
                format!(
                    "\"{}\" is not a location of provider {}",
                    item.location_id, provider.id
                ),
            );
        }
        if let Some(parent) = &item.parent_item_id {
            if !group_ids.contains(parent.as_str()) {
                out.add(
                    place,
                    "parent_item_id",
                    format!(
                        "\"{parent}\" is not a variant group of provider {}",
                        provider.id
                    ),
                );
            } else if !variants.insert((
                parent.clone(),
                item.attributes.clone(),
                item.unit.clone(),
                item.unit_value.clone(),
            )) {
                out.add(
                    place,
                    "parent_item_id",
                    "another item of this variant group has the same attributes",
                );
            }
        }
        check_item(out, place, item, policy);
    }
}

fn check_location(out: &mut Collector, place: Place, location: &Location) {
    if !is_ondc_id(&location.id) {
        out.add(place, "id", "must be 1-36 letters, digits, '_' or '-'");
    }
    if !is_gps(&location.gps) {
        out.add(
            place,
            "gps",
            "must be \"latitude,longitude\" with at least 4 decimals, e.g. 25.317645,82.973915",
        );
    }
    out.require_text(place, "street", &location.street);
    out.require_text(place, "locality", &location.locality);
    out.require_text(place, "city", &location.city);
    out.require_text(place, "state", &location.state);
    if !digits(&location.area_code, 6) {
        out.add(place, "area_code", "must be a 6-digit pincode");
    } else if !rules().is_city(&location.std_code) {
        out.add(
            place,
            "std_code",
            format!(
                "\"{}\" is not an STD code the network knows",
                location.std_code
            ),
        );
    } else if !rules().pincode_in_city(&location.std_code, &location.area_code) {
        out.add(
            place,
            "area_code",
            format!(
                "pincode {} is not served under STD code {} in ONDC's city map",
                location.area_code, location.std_code
            ),
        );
    }
    let days: Vec<&str> = location.days.split(',').map(str::trim).collect();
    let mut seen = HashSet::new();
    if days.is_empty()
        || days
            .iter()
            .any(|d| !matches!(*d, "1" | "2" | "3" | "4" | "5" | "6" | "7") || !seen.insert(*d))
    {
        out.add(
            place,
            "days",
            "must list days 1-7 (1 = Monday) separated by commas, e.g. 1,2,3,4,5,6",
        );
    }
    if !is_hhmm(&location.open) {
        out.add(place, "open", "must be a time HHMM, e.g. 0930");
    }
    if !is_hhmm(&location.close) {
        out.add(place, "close", "must be a time HHMM, e.g. 1900");
    } else if is_hhmm(&location.open) && location.close <= location.open {
        out.add(place, "close", "must be after the opening time");
    }
    for holiday in &location.holidays {
        if chrono::NaiveDate::parse_from_str(holiday, "%Y-%m-%d").is_err() {
            out.add(
                place,
                "holidays",
                format!("\"{holiday}\" is not a date YYYY-MM-DD"),
            );
        }
    }
    match &location.serviceability {
        Serviceability::PanIndia => {}
        Serviceability::Radius { km } if *km > 0.0 && *km <= 1000.0 => {}
        Serviceability::Radius { .. } => out.add(
            place,
            "serviceability",
            "the delivery radius must be between 0 and 1000 km",
        ),
        Serviceability::Pincodes { pincodes } => {
            if parse_pincode_ranges(pincodes).is_none() {
                out.add(
                    place,
                    "serviceability",
                    "pincodes must look like 560001-560076,560083",
                );
            }
        }
    }
    if location.fulfillments.is_empty()
        || location
            .fulfillments
            .iter()
            .any(|f| f != "Delivery" && f != "Self-Pickup")
    {
        out.add(
            place,
            "fulfillments",
            "must list Delivery and/or Self-Pickup",
        );
    }
}

fn check_item(out: &mut Collector, place: Place, item: &Item, policy: &Policy) {
    if !is_ondc_id(&item.id) {
        out.add(place, "id", "must be 1-36 letters, digits, '_' or '-'");
    }
    if !policy.domains.contains(&item.domain) {
        out.add(
            place,
            "domain",
            format!(
                "\"{}\" is not a domain this node serves ({})",
                item.domain,
                policy.domains.join(", ")
            ),
        );
        return;
    }
    let rules = rules();
    if !rules.is_known_category(&item.domain, &item.category_id) {
        let known = rules.categories_of(&item.domain);
        let hint: Vec<&str> = known.iter().copied().take(12).collect();
        out.add(
            place,
            "category_id",
            format!(
                "\"{}\" is not an ONDC category of {} (e.g. {})",
                item.category_id,
                item.domain,
                hint.join(", ")
            ),
        );
    }
    out.require_text(place, "name", &item.name);
    out.require_text(place, "short_desc", &item.short_desc);
    out.require_text(place, "long_desc", &item.long_desc);
    check_code(out, place, item, policy);
    for image in &item.images {
        if !is_url(image) {
            out.add(
                place,
                "images",
                format!("\"{image}\" is not an http(s) URL"),
            );
        }
    }
    let price = paise(&item.price);
    let mrp = paise(&item.mrp);
    match price {
        None => out.add(
            place,
            "price",
            format!("\"{}\" is not an amount such as 579.00", item.price),
        ),
        Some(0) => out.add(place, "price", "must be more than zero"),
        _ => {}
    }
    if mrp.is_none() {
        out.add(
            place,
            "mrp",
            format!("\"{}\" is not an amount such as 599.00", item.mrp),
        );
    }
    if let (Some(price), Some(mrp)) = (price, mrp) {
        if price > mrp {
            out.add(
                place,
                "price",
                format!("the price {} is more than the MRP {}", item.price, item.mrp),
            );
        }
    }
    if item.stock < 0 {
        out.add(place, "stock", "cannot be negative");
    }
    if !(1..=99).contains(&item.max_per_order) {
        out.add(place, "max_per_order", "must be between 1 and 99");
    }
    if ![
        "unit",
        "dozen",
        "gram",
        "kilogram",
        "tonne",
        "litre",
        "millilitre",
    ]
    .contains(&item.unit.as_str())
    {
        out.add(
            place,
            "unit",
            "must be unit, dozen, gram, kilogram, tonne, litre or millilitre",
        );
    }
    if !item.unit_value.parse::<f64>().is_ok_and(|v| v > 0.0) {
        out.add(place, "unit_value", "must be a positive number");
    }
    if parse_duration_ms(&item.return_window).is_none() {
        out.add(
            place,
            "return_window",
            "must be an ISO 8601 duration such as P7D",
        );
    }
    if let Some(rate) = &item.gst_percent {
        if !is_percent(rate) || rate.parse::<f64>().is_ok_and(|v| v > 28.0) {
            out.add(
                place,
                "gst_percent",
                "must be a GST rate in percent: 0, 0.25, 3, 5, 12, 18 or 28",
            );
        }
    }
    if parse_duration_ms(&item.time_to_ship).is_none() {
        out.add(
            place,
            "time_to_ship",
            "must be an ISO 8601 duration such as P2D",
        );
    }
    check_attributes(out, place, item);
    check_statutory(out, place, item);
}

fn check_code(out: &mut Collector, place: Place, item: &Item, policy: &Policy) {
    let Some((kind, value)) = item.code.split_once(':') else {
        out.add(
            place,
            "code",
            "must be \"<type>:<value>\": 1 EAN, 2 ISBN, 3 GTIN, 4 HSN, 5 other",
        );
        return;
    };
    let hsn_ok = value.bytes().all(|b| b.is_ascii_digit()) && [4, 6, 8, 10].contains(&value.len());
    let ean_ok = value.bytes().all(|b| b.is_ascii_digit()) && [8, 13].contains(&value.len());
    match (item.domain.as_str(), kind) {
        ("ONDC:RET12", "4") if hsn_ok => {}
        ("ONDC:RET12", _) => out.add(
            place,
            "code",
            "fashion items need their HSN code as 4:<4, 6, 8 or 10 digits>",
        ),
        (_, "1") if ean_ok => {}
        (_, "1") => out.add(place, "code", "an EAN must be 8 or 13 digits"),
        (_, "4") if policy.allow_non_ean_codes && hsn_ok => {}
        (_, "5") if policy.allow_non_ean_codes && !value.trim().is_empty() => {}
        _ if policy.allow_non_ean_codes => out.add(
            place,
            "code",
            "must be 1:<EAN>, 4:<HSN of 4-10 digits> or 5:<other code>",
        ),
        _ => out.add(
            place,
            "code",
            format!("{} items need their EAN as 1:<8 or 13 digits>", item.domain),
        ),
    }
}

fn check_attributes(out: &mut Collector, place: Place, item: &Item) {
    let colour_ok = |value: &str| {
        value.len() == 7
            && value.starts_with('#')
            && value[1..].bytes().all(|b| b.is_ascii_hexdigit())
    };
    if let Some(colour) = item.attributes.get("colour") {
        if !colour_ok(colour) {
            out.add(
                place,
                "attributes.colour",
                format!("\"{colour}\" is not a hex colour such as #8B0000"),
            );
        }
    }
    if let Some(name) = item.attributes.get("colour_name") {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b' ') {
            out.add(
                place,
                "attributes.colour_name",
                "must be lower-case words, e.g. maroon",
            );
        }
    }
    if item.domain == "ONDC:RET10" {
        if !item.attributes.is_empty() && !item.attributes.contains_key("brand") {
            out.add(
                place,
                "attributes.brand",
                "is required when a grocery item has attributes",
            );
        }
        if item.veg.is_none() {
            out.add(
                place,
                "veg",
                "say whether the food is vegetarian (true or false)",
            );
        }
        return;
    }
    let Some(rule) = rules().category(&item.domain, &item.category_id) else {
        return;
    };
    for attribute in &rule.mandatory {
        // Unstitched fabric has no size chart (RETAIL-DIGEST.md §7.1).
        if attribute == "size_chart" && item.category_id == "Unstitched Fabrics" {
            continue;
        }
        if item
            .attributes
            .get(attribute)
            .is_none_or(|v| v.trim().is_empty())
        {
            out.add(
                place,
                &format!("attributes.{attribute}"),
                format!("is required for {}", item.category_id),
            );
        }
    }
    for (attribute, value) in &item.attributes {
        match rule.constraints.get(attribute) {
            Some(Constraint::Pattern(pattern)) if !pattern.is_match(value) => out.add(
                place,
                &format!("attributes.{attribute}"),
                format!("\"{value}\" does not have the form ONDC requires"),
            ),
            Some(Constraint::OneOf(values)) if !values.contains(value) => {
                let mut some: Vec<&String> = values.iter().collect();
                some.sort();
                let hint: Vec<&str> = some.iter().take(8).map(|s| s.as_str()).collect();
                out.add(
                    place,
                    &format!("attributes.{attribute}"),
                    format!(
                        "\"{value}\" is not an allowed value (e.g. {})",
                        hint.join(", ")
                    ),
                )
            }
            _ => {}
        }
    }
}

fn check_statutory(out: &mut Collector, place: Place, item: &Item) {
    let needed = match item.domain.as_str() {
        "ONDC:RET10" => rules().statutory(&item.category_id),
        // The 1.2.5 fashion validator requires the Legal Metrology block.
        "ONDC:RET12" => Some(Statutory::PackagedCommodities),
        _ => None,
    };
    match needed {
        Some(Statutory::PackagedCommodities) if item.packaged_commodities.is_none() => out.add(
            place,
            "packaged_commodities",
            format!("{} items need the Legal Metrology declarations (manufacturer or packer, address, generic name, month and year)", item.category_id),
        ),
        Some(Statutory::PrepackagedFood) if item.prepackaged_food.is_none() => out.add(
            place,
            "prepackaged_food",
            format!("{} items need the FSSAI declarations (nutrition, additives, brand owner's FSSAI licence)", item.category_id),
        ),
        _ => {}
    }
    if let Some(block) = &item.packaged_commodities {
        for (field, value) in [
            (
                "manufacturer_or_packer_name",
                &block.manufacturer_or_packer_name,
            ),
            (
                "manufacturer_or_packer_address",
                &block.manufacturer_or_packer_address,
            ),
            (
                "common_or_generic_name_of_commodity",
                &block.common_or_generic_name_of_commodity,
            ),
        ] {
            out.require_text(place, &format!("packaged_commodities.{field}"), value);
        }
        let date = &block.month_year_of_manufacture_packing_import;
        let date_ok = date == "NA"
            || chrono::NaiveDate::parse_from_str(&format!("01/{date}"), "%d/%m/%Y").is_ok()
                && date.len() == 7;
        if !date_ok {
            out.add(
                place,
                "packaged_commodities.month_year_of_manufacture_packing_import",
                "must be MM/YYYY or NA",
            );
        }
    }
    if let Some(food) = &item.prepackaged_food {
        if !digits(&food.brand_owner_fssai_license_no, 14) {
            out.add(
                place,
                "prepackaged_food.brand_owner_fssai_license_no",
                "must be a 14-digit FSSAI licence number",
            );
        }
        out.require_text(
            place,
            "prepackaged_food.nutritional_info",
            &food.nutritional_info,
        );
        out.require_text(
            place,
            "prepackaged_food.additives_info",
            &food.additives_info,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_amounts_follow_the_network_formats() {
        assert!(is_gstin("09AAACV1234F1Z5"));
        assert!(!is_gstin("09AAACV1234F1X5"));
        assert!(is_pan("AAACV1234F"));
        assert_eq!(paise("579.00"), Some(57900));
        assert_eq!(paise("579.5"), Some(57950));
        assert_eq!(paise("579"), Some(57900));
        assert_eq!(paise("5.795"), None);
        assert!(is_gps("25.317645,82.973915"));
        assert!(!is_gps("25.31,82.97"));
        assert_eq!(
            parse_pincode_ranges("560001-560076,560083"),
            Some(vec![(560001, 560076), (560083, 560083)])
        );
        assert_eq!(parse_pincode_ranges("56001"), None);
    }
}
