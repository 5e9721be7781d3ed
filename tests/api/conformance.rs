//! ONDC 1.2.5 rules for on_search payloads (RETAIL-DIGEST.md §5, §6, §14), as code: what the
//! log validators check for a seller's catalogue, applied to everything Haat sends.

use std::collections::HashSet;

use haat::catalog::rules::{rules, Statutory};
use haat::protocol::schema::Schemas;
use serde_json::Value;

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn two_decimals(text: &str) -> bool {
    text.split_once('.').is_some_and(|(w, f)| {
        !w.is_empty()
            && w.bytes().all(|b| b.is_ascii_digit())
            && f.len() == 2
            && f.bytes().all(|b| b.is_ascii_digit())
    })
}

fn tag_list<'a>(tags: &'a Value, code: &str) -> Vec<&'a Value> {
    tags.as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["code"] == code)
        .flat_map(|t| t["list"].as_array().into_iter().flatten())
        .collect()
}

/// Every rule an on_search body breaks; empty when it conforms. `request` is the search it
/// answers (None for an unsolicited push).
pub fn on_search_problems(body: &Value, request: Option<&Value>) -> Vec<String> {
    let mut problems = Vec::new();
    let domain = text(body, "/context/domain").to_owned();
    if let Err(error) = Schemas::default().check(&domain, "on_search", body) {
        problems.push(format!("schema: {}", error.message));
    }
    let context = &body["context"];
    if context["action"] != "on_search" {
        problems.push("context.action is not on_search".into());
    }
    for field in ["bpp_id", "bpp_uri", "ttl"] {
        if text(context, &format!("/{field}")).is_empty() {
            problems.push(format!("context.{field} is missing"));
        }
    }
    let stamp = text(context, "/timestamp").to_owned();
    if stamp.len() != 24 || !stamp.ends_with('Z') {
        problems.push(format!(
            "context.timestamp {stamp} is not YYYY-MM-DDTHH:MM:SS.sssZ"
        ));
    }
    if let Some(request) = request {
        for field in [
            "domain",
            "country",
            "city",
            "core_version",
            "bap_id",
            "bap_uri",
            "transaction_id",
            "message_id",
        ] {
            if context[field] != request["context"][field] {
                problems.push(format!("context.{field} differs from the search"));
            }
        }
        if stamp.as_str() <= text(request, "/context/timestamp") {
            problems.push("the callback is not later than the search".into());
        }
    }
    let catalog = &body["message"]["catalog"];
    let descriptor = &catalog["bpp/descriptor"];
    for field in ["name", "symbol", "short_desc", "long_desc"] {
        if text(descriptor, &format!("/{field}")).is_empty() {
            problems.push(format!("bpp/descriptor.{field} is missing"));
        }
    }
    if !tag_list(&descriptor["tags"], "bpp_terms")
        .iter()
        .any(|t| t["code"] == "np_type" && (t["value"] == "MSN" || t["value"] == "ISN"))
    {
        problems.push("bpp/descriptor has no bpp_terms np_type".into());
    }
    let city = text(context, "/city")
        .strip_prefix("std:")
        .map(str::to_owned);
    let mut provider_ids = HashSet::new();
    for provider in catalog["bpp/providers"].as_array().into_iter().flatten() {
        let id = text(provider, "/id").to_owned();
        let at = |what: &str| format!("provider {id}: {what}");
        let valid_id = (1..=36).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_id {
            problems.push(at("id does not match ^[0-9a-zA-Z_-]{1,36}$"));
        }
        // One provider may be split over pages, never repeated within one message.
        if !provider_ids.insert(id.clone()) {
            problems.push(at("appears twice in one message"));
        }
        if !matches!(text(provider, "/time/label"), "enable" | "disable")
            || text(provider, "/time/timestamp") > stamp.as_str()
        {
            problems.push(at("time.label or time.timestamp is wrong"));
        }
        for field in ["name", "symbol", "short_desc", "long_desc"] {
            if text(provider, &format!("/descriptor/{field}")).is_empty() {
                problems.push(at(&format!("descriptor.{field} is missing")));
            }
        }
        if text(provider, "/ttl").is_empty() {
            problems.push(at("ttl is missing"));
        }
        let fulfillment_ids: HashSet<&str> = provider["fulfillments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["id"].as_str())
            .collect();
        for fulfillment in provider["fulfillments"].as_array().into_iter().flatten() {
            let phone = text(fulfillment, "/contact/phone");
            if !(10..=11).contains(&phone.len()) || !phone.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(at("fulfillment contact phone is not 10-11 digits"));
            }
        }
        let mut location_ids = HashSet::new();
        for location in provider["locations"].as_array().into_iter().flatten() {
            location_ids.insert(text(location, "/id"));
            let gps = text(location, "/gps");
            let decimals_ok = gps.split(',').all(|part| {
                part.trim()
                    .split_once('.')
                    .is_some_and(|(_, f)| f.len() >= 4)
            });
            if !decimals_ok {
                problems.push(at(&format!("location gps {gps} has fewer than 4 decimals")));
            }
            let area = text(location, "/address/area_code");
            if area.len() != 6 {
                problems.push(at("location area_code is not 6 digits"));
            }
            if let Some(code) = &city {
                if !rules().pincode_in_city(code, area) {
                    problems.push(at(&format!(
                        "store pincode {area} is not in city std:{code}"
                    )));
                }
            }
            if text(location, "/time/timestamp") > stamp.as_str() {
                problems.push(at("location time.timestamp is after the message"));
            }
        }
        let groups: HashSet<&str> = provider["categories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["id"].as_str())
            .collect();
        let serviceable: HashSet<(String, String)> =
            tag_list_groups(&provider["tags"], "serviceability")
                .into_iter()
                .map(|list| (value_of(&list, "location"), value_of(&list, "category")))
                .collect();
        let mut item_ids = HashSet::new();
        for item in provider["items"].as_array().into_iter().flatten() {
            let item_id = text(item, "/id");
            let at = |what: &str| format!("provider {id} item {item_id}: {what}");
            if !item_ids.insert(item_id.to_owned()) {
                problems.push(at("duplicate item id"));
            }
            if !matches!(text(item, "/time/label"), "enable" | "disable")
                || text(item, "/time/timestamp") > stamp.as_str()
            {
                problems.push(at("time.label or time.timestamp is wrong"));
            }
            for field in ["name", "short_desc", "long_desc"] {
                if text(item, &format!("/descriptor/{field}")).is_empty() {
                    problems.push(at(&format!("descriptor.{field} is empty")));
                }
            }
            let code = text(item, "/descriptor/code");
            let code_ok = match domain.as_str() {
                "ONDC:RET12" => code.strip_prefix("4:").is_some_and(|h| {
                    [4, 6, 8, 10].contains(&h.len()) && h.bytes().all(|b| b.is_ascii_digit())
                }),
                _ => ["1:", "4:", "5:"].iter().any(|p| code.starts_with(p)),
            };
            if !code_ok {
                problems.push(at(&format!(
                    "descriptor.code {code} breaks the {domain} rule"
                )));
            }
            let (value, maximum) = (
                text(item, "/price/value"),
                text(item, "/price/maximum_value"),
            );
            if !two_decimals(value) || !two_decimals(maximum) {
                problems.push(at("prices are not decimal strings with two decimals"));
            } else if value.parse::<f64>().unwrap() > maximum.parse::<f64>().unwrap() {
                problems.push(at("price is above MRP"));
            }
            if text(item, "/price/currency") != "INR" {
                problems.push(at("currency is not INR"));
            }
            if !matches!(text(item, "/quantity/available/count"), "99" | "0") {
                problems.push(at("available.count is not the masked 99 or 0"));
            }
            if text(item, "/quantity/maximum/count")
                .parse::<u32>()
                .is_err()
            {
                problems.push(at("maximum.count is not a number"));
            }
            for field in [
                "@ondc/org/returnable",
                "@ondc/org/cancellable",
                "@ondc/org/seller_pickup_return",
                "@ondc/org/available_on_cod",
            ] {
                if !item[field].is_boolean() {
                    problems.push(at(&format!("{field} is not a boolean")));
                }
            }
            for field in ["@ondc/org/return_window", "@ondc/org/time_to_ship"] {
                if haat::protocol::time::parse_duration_ms(text(
                    item,
                    &format!("/{}", field.replace('/', "~1")),
                ))
                .is_none()
                {
                    problems.push(at(&format!("{field} is not an ISO duration")));
                }
            }
            let care: Vec<&str> = text(item, "/@ondc~1org~1contact_details_consumer_care")
                .split(',')
                .collect();
            if care.len() != 3 || !care[1].contains('@') || !(10..=11).contains(&care[2].len()) {
                problems.push(at("contact_details_consumer_care is not name,email,phone"));
            }
            if !location_ids.contains(text(item, "/location_id")) {
                problems.push(at("location_id is not a provider location"));
            }
            if !fulfillment_ids.contains(text(item, "/fulfillment_id")) {
                problems.push(at("fulfillment_id is not a provider fulfillment"));
            }
            if let Some(parent) = item["parent_item_id"].as_str() {
                if !groups.contains(parent) {
                    problems.push(at("parent_item_id is not a variant group"));
                }
            }
            let category = text(item, "/category_id").to_owned();
            if !serviceable.contains(&(text(item, "/location_id").to_owned(), category.clone())) {
                problems.push(at("no serviceability tag for its location and category"));
            }
            if !tag_list(&item["tags"], "origin")
                .iter()
                .any(|t| t["code"] == "country" && t["value"] == "IND")
            {
                problems.push(at("tags.origin country IND is missing"));
            }
            let attributes: Vec<(String, String)> = tag_list(&item["tags"], "attribute")
                .into_iter()
                .map(|t| {
                    (
                        t["code"].as_str().unwrap_or("").to_owned(),
                        t["value"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            if domain != "ONDC:RET10" {
                if let Some(rule) = rules().category(&domain, &category) {
                    for mandatory in &rule.mandatory {
                        if mandatory == "size_chart" && category == "Unstitched Fabrics" {
                            continue;
                        }
                        if !attributes
                            .iter()
                            .any(|(code, value)| code == mandatory && !value.is_empty())
                        {
                            problems.push(at(&format!(
                                "attribute {mandatory} is missing for {category}"
                            )));
                        }
                    }
                }
            }
            if let Some((_, colour)) = attributes.iter().find(|(c, _)| c == "colour") {
                if colour.len() != 7 || !colour.starts_with('#') {
                    problems.push(at("colour is not #RRGGBB"));
                }
            }
            let statutory = match domain.as_str() {
                "ONDC:RET10" => rules().statutory(&category),
                "ONDC:RET12" => Some(Statutory::PackagedCommodities),
                _ => None,
            };
            match statutory {
                Some(Statutory::PackagedCommodities)
                    if item["@ondc/org/statutory_reqs_packaged_commodities"].is_null() =>
                {
                    problems.push(at("the packaged commodities block is missing"))
                }
                Some(Statutory::PrepackagedFood)
                    if item["@ondc/org/statutory_reqs_prepackaged_food"].is_null() =>
                {
                    problems.push(at("the prepackaged food block is missing"))
                }
                _ => {}
            }
            if domain == "ONDC:RET10" && tag_list(&item["tags"], "veg_nonveg").is_empty() {
                problems.push(at("veg_nonveg is missing"));
            }
        }
    }
    problems
}

fn tag_list_groups(tags: &Value, code: &str) -> Vec<Vec<Value>> {
    tags.as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["code"] == code)
        .map(|t| t["list"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn value_of(list: &[Value], code: &str) -> String {
    list.iter()
        .find(|e| e["code"] == code)
        .and_then(|e| e["value"].as_str())
        .unwrap_or("")
        .to_owned()
}
