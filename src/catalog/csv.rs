//! The catalogue as a spreadsheet: one row per item, with its provider's and location's
//! columns repeated (they must agree between rows), so that a seller can keep the whole
//! catalogue in one sheet. Column names are the JSON field paths (`item.price`,
//! `item.attributes.colour`, `provider.kyc.gstin`), so a problem found by validation points
//! at a line and a column. Lists are separated by `|`.

use std::collections::{BTreeSet, HashMap};

use super::model::*;
use super::validate::{Place, Problem};

/// Every fixed column, in template order. Attribute columns (`item.attributes.<name>`) follow.
pub const COLUMNS: &[&str] = &[
    "provider.id",
    "provider.name",
    "provider.short_desc",
    "provider.long_desc",
    "provider.symbol",
    "provider.images",
    "provider.odop.state",
    "provider.odop.district",
    "provider.odop.product",
    "provider.odop.sector",
    "provider.creds",
    "provider.kyc.gstin",
    "provider.kyc.pan",
    "provider.kyc.fssai",
    "provider.consumer_care.name",
    "provider.consumer_care.email",
    "provider.consumer_care.phone",
    "provider.min_order_value",
    "provider.terms.delivery_charge",
    "provider.terms.free_delivery_above",
    "provider.terms.packing_charge",
    "provider.terms.prices_include_tax",
    "provider.terms.delivery_time",
    "provider.terms.delivery_category",
    "provider.terms.routing",
    "provider.terms.tracking_url",
    "provider.terms.auto_accept",
    "provider.terms.cancellation_fee_percent",
    "provider.terms.settlement",
    "provider.sample",
    "provider.enabled",
    "location.id",
    "location.gps",
    "location.street",
    "location.locality",
    "location.city",
    "location.state",
    "location.area_code",
    "location.std_code",
    "location.days",
    "location.open",
    "location.close",
    "location.holidays",
    "location.serviceability",
    "location.fulfillments",
    "location.enabled",
    "variant_group.name",
    "variant_group.attributes",
    "item.id",
    "item.location_id",
    "item.domain",
    "item.category_id",
    "item.name",
    "item.short_desc",
    "item.long_desc",
    "item.code",
    "item.images",
    "item.price",
    "item.mrp",
    "item.stock",
    "item.max_per_order",
    "item.unit",
    "item.unit_value",
    "item.returnable",
    "item.cancellable",
    "item.return_window",
    "item.seller_pickup_return",
    "item.time_to_ship",
    "item.cod",
    "item.veg",
    "item.parent_item_id",
    "item.gst_percent",
    "item.enabled",
    "item.packaged_commodities.manufacturer_or_packer_name",
    "item.packaged_commodities.manufacturer_or_packer_address",
    "item.packaged_commodities.common_or_generic_name_of_commodity",
    "item.packaged_commodities.month_year_of_manufacture_packing_import",
    "item.prepackaged_food.nutritional_info",
    "item.prepackaged_food.additives_info",
    "item.prepackaged_food.brand_owner_fssai_license_no",
    "item.prepackaged_food.other_fssai_license_no",
    "item.prepackaged_food.importer_fssai_license_no",
];

const ATTRIBUTE_PREFIX: &str = "item.attributes.";

/// Where each entity of a CSV-built catalogue came from.
#[derive(Debug, Default)]
pub struct CsvOrigins {
    providers: Vec<u64>,
    locations: HashMap<(usize, usize), u64>,
    items: HashMap<(usize, usize), u64>,
    groups: HashMap<(usize, usize), u64>,
}

impl CsvOrigins {
    /// "line 7, column item.price"
    pub fn describe(&self, problem: &Problem) -> String {
        let (line, prefix) = match problem.place {
            Place::File => (None, ""),
            Place::Provider(p) => (self.providers.get(p).copied(), "provider."),
            Place::Location(p, l) => (self.locations.get(&(p, l)).copied(), "location."),
            Place::Item(p, i) => (self.items.get(&(p, i)).copied(), "item."),
            Place::VariantGroup(p, g) => (self.groups.get(&(p, g)).copied(), "variant_group."),
        };
        let column = match problem.place {
            Place::File => problem.field.clone(),
            Place::VariantGroup(..) if problem.field == "id" => "item.parent_item_id".to_owned(),
            _ => format!("{prefix}{}", problem.field),
        };
        match line {
            Some(line) => format!("line {line}, column {column}: {}", problem.message),
            None => format!("column {column}: {}", problem.message),
        }
    }
}

struct Row<'a> {
    line: u64,
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
}

impl Row<'_> {
    fn get(&self, column: &str) -> &str {
        self.columns
            .get(column)
            .and_then(|i| self.record.get(*i))
            .map(str::trim)
            .unwrap_or("")
    }
    fn optional(&self, column: &str) -> Option<String> {
        Some(self.get(column))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
    fn list(&self, column: &str) -> Vec<String> {
        self.get(column)
            .split('|')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn problem_at(line: u64, column: &str, message: impl Into<String>) -> String {
    format!("line {line}, column {column}: {}", message.into())
}

fn flag(row: &Row, column: &str, default: bool, problems: &mut Vec<String>) -> bool {
    match row.get(column).to_ascii_lowercase().as_str() {
        "" => default,
        "true" | "yes" | "y" | "1" => true,
        "false" | "no" | "n" | "0" => false,
        other => {
            problems.push(problem_at(
                row.line,
                column,
                format!("\"{other}\" is not yes or no"),
            ));
            default
        }
    }
}

fn number(row: &Row, column: &str, problems: &mut Vec<String>) -> i64 {
    match row.get(column).parse::<i64>() {
        Ok(n) => n,
        Err(_) => {
            problems.push(problem_at(
                row.line,
                column,
                format!("\"{}\" is not a whole number", row.get(column)),
            ));
            0
        }
    }
}

fn serviceability(row: &Row, problems: &mut Vec<String>) -> Serviceability {
    let text = row.get("location.serviceability");
    if text.eq_ignore_ascii_case("pan-india") || text.is_empty() {
        return Serviceability::PanIndia;
    }
    if let Some(km) = text.strip_prefix("radius:") {
        if let Ok(km) = km.trim().parse() {
            return Serviceability::Radius { km };
        }
    }
    if let Some(pincodes) = text.strip_prefix("pincodes:") {
        return Serviceability::Pincodes {
            pincodes: pincodes.trim().to_owned(),
        };
    }
    problems.push(problem_at(
        row.line,
        "location.serviceability",
        "must be pan-india, radius:<km> or pincodes:<560001-560076,560083>",
    ));
    Serviceability::PanIndia
}

/// Reads a catalogue CSV: the catalogue, where each entity came from, and the problems met
/// while reading rows (validation comes after, on the result). `Err` when the file cannot be
/// read as a catalogue sheet at all.
pub fn read_csv(bytes: &[u8]) -> Result<(CatalogFile, CsvOrigins, Vec<String>), Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| vec![format!("the first line is not a CSV header: {e}")])?
        .clone();
    let columns: HashMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_owned(), i))
        .collect();
    let mut problems = Vec::new();
    for name in columns.keys() {
        if !COLUMNS.contains(&name.as_str()) && !name.starts_with(ATTRIBUTE_PREFIX) {
            problems.push(format!(
                "line 1, column {name}: unknown column (see catalog/template.csv for the columns)"
            ));
        }
    }
    for required in ["provider.id", "location.id", "item.id"] {
        if !columns.contains_key(required) {
            problems.push(format!("line 1: the column {required} is missing"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut file = CatalogFile::default();
    let mut origins = CsvOrigins::default();
    let mut provider_index: HashMap<String, usize> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let line = error.position().map(|p| p.line()).unwrap_or(0);
                problems.push(format!("line {line}: {error}"));
                break;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let row = Row {
            line,
            record: &record,
            columns: &columns,
        };
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let provider_id = row.get("provider.id").to_owned();
        let p = match provider_index.get(&provider_id) {
            Some(p) => *p,
            None => {
                let provider = read_provider(&row, &mut problems);
                file.providers.push(provider);
                origins.providers.push(line);
                provider_index.insert(provider_id.clone(), file.providers.len() - 1);
                file.providers.len() - 1
            }
        };
        if p != file.providers.len() - 1 || origins.providers[p] != line {
            let again = read_provider(&row, &mut Vec::new());
            if again != provider_header(&file.providers[p]) {
                problems.push(problem_at(
                    line,
                    "provider.*",
                    format!(
                        "the details of provider {provider_id} differ from line {}",
                        origins.providers[p]
                    ),
                ));
            }
        }
        let location_id = row.get("location.id").to_owned();
        let provider = &mut file.providers[p];
        if !location_id.is_empty() {
            let location = read_location(&row, &mut problems);
            match provider.locations.iter().position(|l| l.id == location_id) {
                Some(l) => {
                    if provider.locations[l] != location {
                        let first = origins.locations.get(&(p, l)).copied().unwrap_or(0);
                        problems.push(problem_at(
                            line,
                            "location.*",
                            format!(
                                "the details of location {location_id} differ from line {first}"
                            ),
                        ));
                    }
                }
                None => {
                    provider.locations.push(location);
                    origins
                        .locations
                        .insert((p, provider.locations.len() - 1), line);
                }
            }
        }
        if let Some(group_id) = row.optional("item.parent_item_id") {
            if row.optional("variant_group.name").is_some()
                && !provider.variant_groups.iter().any(|g| g.id == group_id)
            {
                provider.variant_groups.push(VariantGroup {
                    id: group_id,
                    name: row.get("variant_group.name").to_owned(),
                    attributes: row.list("variant_group.attributes"),
                });
                origins
                    .groups
                    .insert((p, provider.variant_groups.len() - 1), line);
            }
        }
        if row.optional("item.id").is_some() {
            let item = read_item(&row, &columns, &location_id, &mut problems);
            provider.items.push(item);
            origins.items.insert((p, provider.items.len() - 1), line);
        }
    }
    Ok((file, origins, problems))
}

fn provider_header(provider: &Provider) -> Provider {
    Provider {
        locations: Vec::new(),
        variant_groups: Vec::new(),
        items: Vec::new(),
        ..provider.clone()
    }
}

fn read_provider(row: &Row, problems: &mut Vec<String>) -> Provider {
    let creds = row
        .list("provider.creds")
        .into_iter()
        .map(|text| {
            let mut parts = text.splitn(4, ';').map(str::trim);
            let (id, code, name, url) = (parts.next(), parts.next(), parts.next(), parts.next());
            if name.is_none() {
                problems.push(problem_at(
                    row.line,
                    "provider.creds",
                    "each credential is id;code;name;url, separated by |",
                ));
            }
            Credential {
                id: id.unwrap_or_default().to_owned(),
                code: code.unwrap_or_default().to_owned(),
                name: name.unwrap_or_default().to_owned(),
                url: url.filter(|u| !u.is_empty()).map(str::to_owned),
            }
        })
        .collect();
    Provider {
        id: row.get("provider.id").to_owned(),
        name: row.get("provider.name").to_owned(),
        short_desc: row.get("provider.short_desc").to_owned(),
        long_desc: row.get("provider.long_desc").to_owned(),
        symbol: row.optional("provider.symbol"),
        images: row.list("provider.images"),
        odop: Odop {
            state: row.get("provider.odop.state").to_owned(),
            district: row.get("provider.odop.district").to_owned(),
            product: row.get("provider.odop.product").to_owned(),
            sector: row.get("provider.odop.sector").to_owned(),
        },
        creds,
        kyc: Kyc {
            gstin: row.get("provider.kyc.gstin").to_owned(),
            pan: row.get("provider.kyc.pan").to_owned(),
            fssai: row.optional("provider.kyc.fssai"),
        },
        consumer_care: Contact {
            name: row.get("provider.consumer_care.name").to_owned(),
            email: row.get("provider.consumer_care.email").to_owned(),
            phone: row.get("provider.consumer_care.phone").to_owned(),
        },
        min_order_value: row.optional("provider.min_order_value"),
        terms: read_terms(row, problems),
        sample: flag(row, "provider.sample", false, problems),
        enabled: flag(row, "provider.enabled", true, problems),
        locations: Vec::new(),
        variant_groups: Vec::new(),
        items: Vec::new(),
    }
}

/// Terms columns; an empty cell keeps the default.
fn read_terms(row: &Row, problems: &mut Vec<String>) -> Terms {
    let defaults = Terms::default();
    let text = |column: &str, default: String| row.optional(column).unwrap_or(default);
    let settlement = row.optional("provider.terms.settlement").map(|cell| {
        let parts: Vec<String> = cell.split(';').map(|p| p.trim().to_owned()).collect();
        let part = |i: usize| parts.get(i).filter(|p| !p.is_empty()).cloned();
        match parts[0].as_str() {
            "upi" => Settlement {
                settlement_type: "upi".into(),
                upi_address: part(1),
                beneficiary_name: part(2).unwrap_or_default(),
                account_no: None,
                ifsc_code: None,
                bank_name: None,
                branch_name: None,
            },
            kind => {
                if !matches!(kind, "neft" | "rtgs") || parts.len() != 6 {
                    problems.push(problem_at(
                        row.line,
                        "provider.terms.settlement",
                        "write upi;ADDRESS@BANK;BENEFICIARY or neft;ACCOUNT;IFSC;BANK;BRANCH;BENEFICIARY (rtgs likewise)",
                    ));
                }
                Settlement {
                    settlement_type: kind.to_owned(),
                    account_no: part(1),
                    ifsc_code: part(2),
                    bank_name: part(3),
                    branch_name: part(4),
                    beneficiary_name: part(5).unwrap_or_default(),
                    upi_address: None,
                }
            }
        }
    });
    Terms {
        delivery_charge: text("provider.terms.delivery_charge", defaults.delivery_charge),
        free_delivery_above: row.optional("provider.terms.free_delivery_above"),
        packing_charge: text("provider.terms.packing_charge", defaults.packing_charge),
        prices_include_tax: flag(row, "provider.terms.prices_include_tax", true, problems),
        delivery_time: text("provider.terms.delivery_time", defaults.delivery_time),
        delivery_category: text(
            "provider.terms.delivery_category",
            defaults.delivery_category,
        ),
        routing: text("provider.terms.routing", defaults.routing),
        tracking_url: row.optional("provider.terms.tracking_url"),
        auto_accept: flag(row, "provider.terms.auto_accept", false, problems),
        cancellation_fee_percent: text(
            "provider.terms.cancellation_fee_percent",
            defaults.cancellation_fee_percent,
        ),
        settlement,
    }
}

fn settlement_cell(settlement: &Settlement) -> String {
    let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
    if settlement.settlement_type == "upi" {
        format!(
            "upi;{};{}",
            or_empty(&settlement.upi_address),
            settlement.beneficiary_name
        )
    } else {
        format!(
            "{};{};{};{};{};{}",
            settlement.settlement_type,
            or_empty(&settlement.account_no),
            or_empty(&settlement.ifsc_code),
            or_empty(&settlement.bank_name),
            or_empty(&settlement.branch_name),
            settlement.beneficiary_name
        )
    }
}

fn read_location(row: &Row, problems: &mut Vec<String>) -> Location {
    Location {
        id: row.get("location.id").to_owned(),
        gps: row.get("location.gps").to_owned(),
        street: row.get("location.street").to_owned(),
        locality: row.get("location.locality").to_owned(),
        city: row.get("location.city").to_owned(),
        state: row.get("location.state").to_owned(),
        area_code: row.get("location.area_code").to_owned(),
        std_code: row.get("location.std_code").to_owned(),
        days: row.get("location.days").to_owned(),
        open: row.get("location.open").to_owned(),
        close: row.get("location.close").to_owned(),
        holidays: row.list("location.holidays"),
        serviceability: serviceability(row, problems),
        fulfillments: row.list("location.fulfillments"),
        enabled: flag(row, "location.enabled", true, problems),
    }
}

fn read_item(
    row: &Row,
    columns: &HashMap<String, usize>,
    location_id: &str,
    problems: &mut Vec<String>,
) -> Item {
    let mut attributes = std::collections::BTreeMap::new();
    for name in columns.keys().filter(|c| c.starts_with(ATTRIBUTE_PREFIX)) {
        if let Some(value) = row.optional(name) {
            attributes.insert(name[ATTRIBUTE_PREFIX.len()..].to_owned(), value);
        }
    }
    let packaged = row
        .optional("item.packaged_commodities.manufacturer_or_packer_name")
        .map(|name| PackagedCommodities {
            manufacturer_or_packer_name: name,
            manufacturer_or_packer_address: row
                .get("item.packaged_commodities.manufacturer_or_packer_address")
                .to_owned(),
            common_or_generic_name_of_commodity: row
                .get("item.packaged_commodities.common_or_generic_name_of_commodity")
                .to_owned(),
            month_year_of_manufacture_packing_import: row
                .get("item.packaged_commodities.month_year_of_manufacture_packing_import")
                .to_owned(),
        });
    let food = row
        .optional("item.prepackaged_food.brand_owner_fssai_license_no")
        .map(|licence| PrepackagedFood {
            nutritional_info: row.get("item.prepackaged_food.nutritional_info").to_owned(),
            additives_info: row.get("item.prepackaged_food.additives_info").to_owned(),
            brand_owner_fssai_license_no: licence,
            other_fssai_license_no: row.optional("item.prepackaged_food.other_fssai_license_no"),
            importer_fssai_license_no: row
                .optional("item.prepackaged_food.importer_fssai_license_no"),
        });
    let veg = match row.get("item.veg") {
        "" => None,
        _ => Some(flag(row, "item.veg", true, problems)),
    };
    Item {
        id: row.get("item.id").to_owned(),
        location_id: row
            .optional("item.location_id")
            .unwrap_or_else(|| location_id.to_owned()),
        domain: row.get("item.domain").to_owned(),
        category_id: row.get("item.category_id").to_owned(),
        name: row.get("item.name").to_owned(),
        short_desc: row.get("item.short_desc").to_owned(),
        long_desc: row.get("item.long_desc").to_owned(),
        code: row.get("item.code").to_owned(),
        images: row.list("item.images"),
        price: row.get("item.price").to_owned(),
        mrp: row.get("item.mrp").to_owned(),
        stock: number(row, "item.stock", problems),
        max_per_order: number(row, "item.max_per_order", problems),
        unit: row.get("item.unit").to_owned(),
        unit_value: row.get("item.unit_value").to_owned(),
        returnable: flag(row, "item.returnable", false, problems),
        cancellable: flag(row, "item.cancellable", true, problems),
        return_window: row
            .optional("item.return_window")
            .unwrap_or_else(|| "P7D".to_owned()),
        seller_pickup_return: flag(row, "item.seller_pickup_return", false, problems),
        time_to_ship: row.get("item.time_to_ship").to_owned(),
        cod: flag(row, "item.cod", false, problems),
        veg,
        parent_item_id: row.optional("item.parent_item_id"),
        gst_percent: row.optional("item.gst_percent"),
        attributes,
        packaged_commodities: packaged,
        prepackaged_food: food,
        enabled: flag(row, "item.enabled", true, problems),
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

/// Writes a catalogue in the CSV form `read_csv` reads.
pub fn write_csv(file: &CatalogFile) -> Vec<u8> {
    let attributes: BTreeSet<String> = file
        .providers
        .iter()
        .flat_map(|p| p.items.iter().flat_map(|i| i.attributes.keys().cloned()))
        .collect();
    let mut header: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    header.extend(attributes.iter().map(|a| format!("{ATTRIBUTE_PREFIX}{a}")));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header).expect("writing to memory");
    for provider in &file.providers {
        let provider_cells = |row: &mut HashMap<&str, String>| {
            row.insert("provider.id", provider.id.clone());
            row.insert("provider.name", provider.name.clone());
            row.insert("provider.short_desc", provider.short_desc.clone());
            row.insert("provider.long_desc", provider.long_desc.clone());
            row.insert(
                "provider.symbol",
                provider.symbol.clone().unwrap_or_default(),
            );
            row.insert("provider.images", provider.images.join("|"));
            row.insert("provider.odop.state", provider.odop.state.clone());
            row.insert("provider.odop.district", provider.odop.district.clone());
            row.insert("provider.odop.product", provider.odop.product.clone());
            row.insert("provider.odop.sector", provider.odop.sector.clone());
            row.insert(
                "provider.creds",
                provider
                    .creds
                    .iter()
                    .map(|c| {
                        format!(
                            "{};{};{};{}",
                            c.id,
                            c.code,
                            c.name,
                            c.url.clone().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("|"),
            );
            row.insert("provider.kyc.gstin", provider.kyc.gstin.clone());
            row.insert("provider.kyc.pan", provider.kyc.pan.clone());
            row.insert(
                "provider.kyc.fssai",
                provider.kyc.fssai.clone().unwrap_or_default(),
            );
            row.insert(
                "provider.consumer_care.name",
                provider.consumer_care.name.clone(),
            );
            row.insert(
                "provider.consumer_care.email",
                provider.consumer_care.email.clone(),
            );
            row.insert(
                "provider.consumer_care.phone",
                provider.consumer_care.phone.clone(),
            );
            row.insert(
                "provider.min_order_value",
                provider.min_order_value.clone().unwrap_or_default(),
            );
            let terms = &provider.terms;
            row.insert(
                "provider.terms.delivery_charge",
                terms.delivery_charge.clone(),
            );
            row.insert(
                "provider.terms.free_delivery_above",
                terms.free_delivery_above.clone().unwrap_or_default(),
            );
            row.insert(
                "provider.terms.packing_charge",
                terms.packing_charge.clone(),
            );
            row.insert(
                "provider.terms.prices_include_tax",
                yes_no(terms.prices_include_tax),
            );
            row.insert("provider.terms.delivery_time", terms.delivery_time.clone());
            row.insert(
                "provider.terms.delivery_category",
                terms.delivery_category.clone(),
            );
            row.insert("provider.terms.routing", terms.routing.clone());
            row.insert(
                "provider.terms.tracking_url",
                terms.tracking_url.clone().unwrap_or_default(),
            );
            row.insert("provider.terms.auto_accept", yes_no(terms.auto_accept));
            row.insert(
                "provider.terms.cancellation_fee_percent",
                terms.cancellation_fee_percent.clone(),
            );
            row.insert(
                "provider.terms.settlement",
                terms
                    .settlement
                    .as_ref()
                    .map(settlement_cell)
                    .unwrap_or_default(),
            );
            row.insert("provider.sample", yes_no(provider.sample));
            row.insert("provider.enabled", yes_no(provider.enabled));
        };
        let location_cells = |row: &mut HashMap<&str, String>, location: &Location| {
            row.insert("location.id", location.id.clone());
            row.insert("location.gps", location.gps.clone());
            row.insert("location.street", location.street.clone());
            row.insert("location.locality", location.locality.clone());
            row.insert("location.city", location.city.clone());
            row.insert("location.state", location.state.clone());
            row.insert("location.area_code", location.area_code.clone());
            row.insert("location.std_code", location.std_code.clone());
            row.insert("location.days", location.days.clone());
            row.insert("location.open", location.open.clone());
            row.insert("location.close", location.close.clone());
            row.insert("location.holidays", location.holidays.join("|"));
            row.insert(
                "location.serviceability",
                match &location.serviceability {
                    Serviceability::PanIndia => "pan-india".to_owned(),
                    Serviceability::Radius { km } => format!("radius:{km}"),
                    Serviceability::Pincodes { pincodes } => format!("pincodes:{pincodes}"),
                },
            );
            row.insert("location.fulfillments", location.fulfillments.join("|"));
            row.insert("location.enabled", yes_no(location.enabled));
        };
        let mut rows: Vec<HashMap<&str, String>> = Vec::new();
        let mut used_locations = BTreeSet::new();
        let mut described_groups = BTreeSet::new();
        for item in &provider.items {
            let mut row = HashMap::new();
            provider_cells(&mut row);
            if let Some(location) = provider.locations.iter().find(|l| l.id == item.location_id) {
                location_cells(&mut row, location);
                used_locations.insert(location.id.clone());
            }
            if let Some(parent) = &item.parent_item_id {
                if let Some(group) = provider.variant_groups.iter().find(|g| &g.id == parent) {
                    if described_groups.insert(group.id.clone()) {
                        row.insert("variant_group.name", group.name.clone());
                        row.insert("variant_group.attributes", group.attributes.join("|"));
                    }
                }
            }
            row.insert("item.id", item.id.clone());
            row.insert("item.location_id", item.location_id.clone());
            row.insert("item.domain", item.domain.clone());
            row.insert("item.category_id", item.category_id.clone());
            row.insert("item.name", item.name.clone());
            row.insert("item.short_desc", item.short_desc.clone());
            row.insert("item.long_desc", item.long_desc.clone());
            row.insert("item.code", item.code.clone());
            row.insert("item.images", item.images.join("|"));
            row.insert("item.price", item.price.clone());
            row.insert("item.mrp", item.mrp.clone());
            row.insert("item.stock", item.stock.to_string());
            row.insert("item.max_per_order", item.max_per_order.to_string());
            row.insert("item.unit", item.unit.clone());
            row.insert("item.unit_value", item.unit_value.clone());
            row.insert("item.returnable", yes_no(item.returnable));
            row.insert("item.cancellable", yes_no(item.cancellable));
            row.insert("item.return_window", item.return_window.clone());
            row.insert(
                "item.seller_pickup_return",
                yes_no(item.seller_pickup_return),
            );
            row.insert("item.time_to_ship", item.time_to_ship.clone());
            row.insert("item.cod", yes_no(item.cod));
            row.insert("item.veg", item.veg.map(yes_no).unwrap_or_default());
            row.insert(
                "item.parent_item_id",
                item.parent_item_id.clone().unwrap_or_default(),
            );
            row.insert(
                "item.gst_percent",
                item.gst_percent.clone().unwrap_or_default(),
            );
            row.insert("item.enabled", yes_no(item.enabled));
            if let Some(block) = &item.packaged_commodities {
                row.insert(
                    "item.packaged_commodities.manufacturer_or_packer_name",
                    block.manufacturer_or_packer_name.clone(),
                );
                row.insert(
                    "item.packaged_commodities.manufacturer_or_packer_address",
                    block.manufacturer_or_packer_address.clone(),
                );
                row.insert(
                    "item.packaged_commodities.common_or_generic_name_of_commodity",
                    block.common_or_generic_name_of_commodity.clone(),
                );
                row.insert(
                    "item.packaged_commodities.month_year_of_manufacture_packing_import",
                    block.month_year_of_manufacture_packing_import.clone(),
                );
            }
            if let Some(food) = &item.prepackaged_food {
                row.insert(
                    "item.prepackaged_food.nutritional_info",
                    food.nutritional_info.clone(),
                );
                row.insert(
                    "item.prepackaged_food.additives_info",
                    food.additives_info.clone(),
                );
                row.insert(
                    "item.prepackaged_food.brand_owner_fssai_license_no",
                    food.brand_owner_fssai_license_no.clone(),
                );
                row.insert(
                    "item.prepackaged_food.other_fssai_license_no",
                    food.other_fssai_license_no.clone().unwrap_or_default(),
                );
                row.insert(
                    "item.prepackaged_food.importer_fssai_license_no",
                    food.importer_fssai_license_no.clone().unwrap_or_default(),
                );
            }
            let mut cells: Vec<String> = header
                .iter()
                .map(|h| row.get(h.as_str()).cloned().unwrap_or_default())
                .collect();
            for (i, name) in header.iter().enumerate() {
                if let Some(attribute) = name.strip_prefix(ATTRIBUTE_PREFIX) {
                    cells[i] = item.attributes.get(attribute).cloned().unwrap_or_default();
                }
            }
            writer.write_record(&cells).expect("writing to memory");
            rows.push(row);
        }
        // Locations without items (and providers without any) still get a row.
        let unused: Vec<&Location> = provider
            .locations
            .iter()
            .filter(|l| !used_locations.contains(&l.id))
            .collect();
        for location in unused {
            let mut row = HashMap::new();
            provider_cells(&mut row);
            location_cells(&mut row, location);
            let cells: Vec<String> = header
                .iter()
                .map(|h| row.get(h.as_str()).cloned().unwrap_or_default())
                .collect();
            writer.write_record(&cells).expect("writing to memory");
        }
    }
    writer.into_inner().expect("writing to memory")
}
