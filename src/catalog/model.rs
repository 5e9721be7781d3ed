//! The catalogue as sellers write it (the JSON import format, which the CSV columns mirror)
//! and as the store keeps it: providers (one per seller), their locations, variant groups and
//! items. Validation lives in `validate`; the ONDC wire form in `protocol::catalog`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(rename = "_about", default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    pub providers: Vec<Provider>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub short_desc: String,
    pub long_desc: String,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub images: Vec<String>,
    pub odop: Odop,
    #[serde(default)]
    pub creds: Vec<Credential>,
    pub kyc: Kyc,
    pub consumer_care: Contact,
    #[serde(default)]
    pub min_order_value: Option<String>,
    /// How the seller charges, delivers and gets paid; every part has a default.
    #[serde(default, skip_serializing_if = "Terms::is_default")]
    pub terms: Terms,
    /// Sample data (demo catalogue): prices, stock, contacts and tax numbers are invented.
    #[serde(default)]
    pub sample: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub locations: Vec<Location>,
    #[serde(default)]
    pub variant_groups: Vec<VariantGroup>,
    #[serde(default)]
    pub items: Vec<Item>,
}

fn yes() -> bool {
    true
}

/// The seller's place in the One District One Product programme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Odop {
    pub state: String,
    pub district: String,
    pub product: String,
    /// handloom, handicraft, agri, food processing
    pub sector: String,
}

/// A certificate the seller holds: GI tag, Craftmark, Handloom Mark and the like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub id: String,
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kyc {
    pub gstin: String,
    pub pan: String,
    #[serde(default)]
    pub fssai: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub id: String,
    /// "lat,lng"
    pub gps: String,
    pub street: String,
    pub locality: String,
    pub city: String,
    pub state: String,
    /// The 6-digit pincode.
    pub area_code: String,
    /// The STD code the store is served under (`context.city` = `std:<this>`).
    pub std_code: String,
    /// Days open, "1,...,7" with 1 = Monday.
    pub days: String,
    /// Opening and closing time, "HHMM".
    pub open: String,
    pub close: String,
    #[serde(default)]
    pub holidays: Vec<String>,
    pub serviceability: Serviceability,
    /// Delivery, Self-Pickup
    pub fulfillments: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// Where a location delivers (RETAIL-DIGEST.md §6.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Serviceability {
    /// Type 12: anywhere in India.
    PanIndia,
    /// Type 10: within `km` of the store.
    Radius { km: f64 },
    /// Type 11: these pincodes and ranges, e.g. "560001-560076,560083".
    Pincodes { pincodes: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantGroup {
    pub id: String,
    pub name: String,
    /// e.g. item.tags.attribute.colour, item.quantity.unitized.measure
    pub attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub location_id: String,
    pub domain: String,
    pub category_id: String,
    pub name: String,
    pub short_desc: String,
    pub long_desc: String,
    /// "<type>:<value>": 1 EAN, 2 ISBN, 3 GTIN, 4 HSN, 5 other.
    pub code: String,
    #[serde(default)]
    pub images: Vec<String>,
    pub price: String,
    pub mrp: String,
    /// Real stock; published only as "99" (in stock) or "0".
    pub stock: i64,
    pub max_per_order: i64,
    /// unit, dozen, gram, kilogram, tonne, litre, millilitre
    pub unit: String,
    pub unit_value: String,
    pub returnable: bool,
    pub cancellable: bool,
    pub return_window: String,
    pub seller_pickup_return: bool,
    pub time_to_ship: String,
    pub cod: bool,
    #[serde(default)]
    pub veg: Option<bool>,
    #[serde(default)]
    pub parent_item_id: Option<String>,
    /// GST rate in percent, e.g. "5" or "12". A tax line is quoted for it when the
    /// seller's prices exclude tax (`terms.prices_include_tax = false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gst_percent: Option<String>,
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub packaged_commodities: Option<PackagedCommodities>,
    #[serde(default)]
    pub prepackaged_food: Option<PrepackagedFood>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// Legal Metrology declarations for packaged goods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagedCommodities {
    pub manufacturer_or_packer_name: String,
    pub manufacturer_or_packer_address: String,
    pub common_or_generic_name_of_commodity: String,
    /// "MM/YYYY" or "NA"
    pub month_year_of_manufacture_packing_import: String,
}

/// FSSAI declarations for packaged food.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepackagedFood {
    pub nutritional_info: String,
    pub additives_info: String,
    pub brand_owner_fssai_license_no: String,
    #[serde(default)]
    pub other_fssai_license_no: Option<String>,
    #[serde(default)]
    pub importer_fssai_license_no: Option<String>,
}

/// A seller's commercial terms: what an order costs beyond its items, how long delivery takes,
/// how the seller is paid and what cancelling costs (RETAIL-DIGEST.md §8–§10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Terms {
    /// Delivery charge per order, e.g. "50.00"; "0.00" means free delivery.
    pub delivery_charge: String,
    /// Orders whose items come to at least this much are delivered free.
    pub free_delivery_above: Option<String>,
    /// Packing charge per order.
    pub packing_charge: String,
    /// Whether item prices include GST (the usual case in Indian retail).
    pub prices_include_tax: bool,
    /// How long the logistics partner takes from pickup to the buyer (ISO 8601 duration).
    pub delivery_time: String,
    /// Standard Delivery, Express Delivery, Same Day Delivery, Next Day Delivery or
    /// Immediate Delivery.
    pub delivery_category: String,
    /// P2H2P (through hubs, the default outside food) or P2P (hyperlocal).
    pub routing: String,
    /// Where a buyer can track an order; `{order_id}` is replaced. None: tracking is off.
    pub tracking_url: Option<String>,
    /// Accept every new order without waiting for the seller.
    pub auto_accept: bool,
    /// Share of the order value kept when the buyer cancels after the order is packed.
    pub cancellation_fee_percent: String,
    /// The account the seller app settles to, when it differs from the node's.
    pub settlement: Option<Settlement>,
}

impl Default for Terms {
    fn default() -> Self {
        Self {
            delivery_charge: "0.00".into(),
            free_delivery_above: None,
            packing_charge: "0.00".into(),
            prices_include_tax: true,
            delivery_time: "P5D".into(),
            delivery_category: "Standard Delivery".into(),
            routing: "P2H2P".into(),
            tracking_url: None,
            auto_accept: false,
            cancellation_fee_percent: "0.00".into(),
            settlement: None,
        }
    }
}

impl Terms {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A bank account or UPI address settlements are paid to (`@ondc/org/settlement_details`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settlement {
    /// upi, neft or rtgs
    pub settlement_type: String,
    pub beneficiary_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upi_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifsc_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_name: Option<String>,
}
