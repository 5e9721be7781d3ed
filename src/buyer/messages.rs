//! The buyer side of ONDC retail 1.2.5 on the wire: the requests `haat buyer` sends, built
//! the way a well-behaved buyer app builds them (RETAIL-DIGEST.md §3, §5, §8, §10, §11), and
//! what it reads back from the callbacks. Pure functions: no I/O.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::protocol::time::format_timestamp;

/// The retail domains of ODOP goods, searched when no domain is named.
pub const ODOP_DOMAINS: [&str; 4] = ["ONDC:RET10", "ONDC:RET12", "ONDC:RET13", "ONDC:RET16"];

/// Who is talking to whom, for a request's context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub domain: String,
    pub city: String,
    pub transaction_id: String,
    /// The seller node, once known (absent in search, which goes through a gateway).
    pub bpp: Option<(String, String)>,
}

/// A request body: the context of `action` and `message`. Every request gets a fresh
/// message_id; IGM actions carry core_version 1.0.0.
pub fn request(action: &str, route: &Route, bap: (&str, &str), message: Value) -> Value {
    let mut context = json!({
        "domain": route.domain,
        "country": "IND",
        "city": route.city,
        "action": action,
        "core_version": if matches!(action, "issue" | "issue_status") { "1.0.0" } else { "1.2.5" },
        "bap_id": bap.0,
        "bap_uri": bap.1,
        "transaction_id": route.transaction_id,
        "message_id": uuid::Uuid::new_v4().to_string(),
        "timestamp": format_timestamp(Utc::now()),
        "ttl": "PT30S",
    });
    if let Some((bpp_id, bpp_uri)) = &route.bpp {
        context["bpp_id"] = json!(bpp_id);
        context["bpp_uri"] = json!(bpp_uri);
    }
    json!({"context": context, "message": message})
}

/// What a search asks for.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: Option<String>,
    pub category: Option<String>,
    pub pincode: Option<String>,
    pub gps: Option<String>,
    pub finder_fee_percent: String,
}

/// `message.intent` of a search (§5): the buyer app's finder fee and terms always; the item
/// text, category and drop point when asked.
pub fn search_message(query: &SearchQuery) -> Value {
    let mut intent = json!({
        "fulfillment": {"type": "Delivery"},
        "payment": {
            "@ondc/org/buyer_app_finder_fee_type": "percent",
            "@ondc/org/buyer_app_finder_fee_amount": query.finder_fee_percent,
        },
        "tags": [{"code": "bap_terms", "list": [
            {"code": "static_terms", "value": ""},
            {"code": "static_terms_new", "value": "https://github.com/ONDC-Official/NP-Static-Terms/buyerNP_BNP/1.0/tc.pdf"},
            {"code": "effective_date", "value": "2025-01-01T00:00:00.000Z"},
        ]}],
    });
    if let Some(text) = &query.text {
        intent["item"] = json!({"descriptor": {"name": text}});
    }
    if let Some(category) = &query.category {
        intent["category"] = json!({"id": category});
    }
    let mut location = serde_json::Map::new();
    if let Some(gps) = &query.gps {
        location.insert("gps".into(), json!(gps));
    }
    if let Some(pincode) = &query.pincode {
        location.insert("address".into(), json!({"area_code": pincode}));
    }
    if !location.is_empty() {
        intent["fulfillment"]["end"] = json!({"location": location});
    }
    json!({"intent": intent})
}

/// An item found in on_search, with what a later select needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundItem {
    pub domain: String,
    pub bpp_id: String,
    pub bpp_uri: String,
    pub provider_id: String,
    pub provider_name: String,
    pub location_id: String,
    /// The city (`std:…`) of the store, which every order call must carry.
    pub city: Option<String>,
    pub item_id: String,
    pub name: String,
    pub price: String,
    pub in_stock: bool,
    pub category_id: String,
}

/// The enabled items of on_search pages, in the order they came.
pub fn found_items(page: &Value) -> Vec<FoundItem> {
    let context = &page["context"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let providers = page
        .pointer("/message/catalog/bpp~1providers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut found = Vec::new();
    for provider in &providers {
        if provider.pointer("/time/label") == Some(&json!("disable")) {
            continue;
        }
        let locations = provider["locations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for item in provider["items"].as_array().into_iter().flatten() {
            if item.pointer("/time/label") == Some(&json!("disable")) {
                continue;
            }
            let location_id = item["location_id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| locations.first().map(|l| text(&l["id"])))
                .unwrap_or_default();
            let pincode = locations
                .iter()
                .find(|l| l["id"] == location_id.as_str())
                .and_then(|l| l.pointer("/address/area_code"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let city = crate::catalog::rules::rules()
                .std_code_of(pincode)
                .map(|code| format!("std:{code}"));
            found.push(FoundItem {
                domain: text(&context["domain"]),
                bpp_id: text(&context["bpp_id"]),
                bpp_uri: text(&context["bpp_uri"]),
                provider_id: text(&provider["id"]),
                provider_name: text(&provider["descriptor"]["name"]),
                location_id,
                city,
                item_id: text(&item["id"]),
                name: text(&item["descriptor"]["name"]),
                price: text(&item["price"]["value"]),
                in_stock: item.pointer("/quantity/available/count") != Some(&json!("0")),
                category_id: text(&item["category_id"]),
            });
        }
    }
    found
}

/// Where the goods go, and who pays for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub building: String,
    pub locality: String,
    pub city: String,
    pub state: String,
    pub pincode: String,
    pub gps: String,
}

/// `message` of a select (§8.1): the provider, its location, the items and the drop point.
pub fn select_message(
    provider_id: &str,
    location_id: &str,
    items: &[(String, i64)],
    buyer: &Buyer,
) -> Value {
    json!({"order": {
        "provider": {"id": provider_id, "locations": [{"id": location_id}]},
        "items": items.iter().map(|(id, count)| json!({
            "id": id, "location_id": location_id, "quantity": {"count": count}
        })).collect::<Vec<_>>(),
        "fulfillments": [{"end": {"location": {"gps": buyer.gps, "address": {"area_code": buyer.pincode}}}}],
    }})
}

fn address(buyer: &Buyer) -> Value {
    json!({
        "name": buyer.name, "building": buyer.building, "locality": buyer.locality,
        "city": buyer.city, "state": buyer.state, "country": "IND", "area_code": buyer.pincode,
    })
}

/// `message` of an init (§8.3), from the on_select it follows: the items mapped to the
/// fulfillment the seller offered, billing and the delivery address, and the payment terms
/// (prepaid, collected by the buyer app, the finder fee of the search).
pub fn init_message(
    on_select: &Value,
    buyer: &Buyer,
    finder_fee_percent: &str,
) -> Result<Value, String> {
    let order = &on_select["message"]["order"];
    let provider = order
        .get("provider")
        .filter(|p| p.is_object())
        .ok_or("the on_select has no provider")?;
    let fulfillment_id = order
        .pointer("/fulfillments/0/id")
        .and_then(Value::as_str)
        .ok_or("the on_select offers no fulfillment")?;
    let location_id = provider
        .pointer("/locations/0/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let count_of = |item_id: &str| {
        order["quote"]["breakup"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["@ondc/org/item_id"] == item_id && l["@ondc/org/title_type"] == "item")
            .and_then(|l| l.pointer("/@ondc~1org~1item_quantity/count"))
            .cloned()
    };
    let items: Vec<Value> = order["items"]
        .as_array()
        .ok_or("the on_select has no items")?
        .iter()
        .map(|item| {
            let id = item["id"].as_str().unwrap_or_default();
            json!({
                "id": id,
                "location_id": item.get("location_id").and_then(Value::as_str).unwrap_or(location_id),
                "fulfillment_id": item.get("fulfillment_id").and_then(Value::as_str).unwrap_or(fulfillment_id),
                "quantity": {"count": count_of(id).unwrap_or(json!(1))},
            })
        })
        .collect();
    let now = format_timestamp(Utc::now());
    Ok(json!({"order": {
        "provider": {"id": provider["id"], "locations": [{"id": location_id}]},
        "items": items,
        "billing": {
            "name": buyer.name, "address": address(buyer), "phone": buyer.phone, "email": buyer.email,
            "created_at": now, "updated_at": now,
        },
        "fulfillments": [{
            "id": fulfillment_id, "type": "Delivery",
            "end": {
                "location": {"gps": buyer.gps, "address": address(buyer)},
                "contact": {"phone": buyer.phone, "email": buyer.email},
            },
        }],
        "payment": {
            "type": "ON-ORDER", "collected_by": "BAP",
            "@ondc/org/buyer_app_finder_fee_type": "percent",
            "@ondc/org/buyer_app_finder_fee_amount": finder_fee_percent,
        },
    }}))
}

/// A new order id: set by the buyer app, alphanumeric, at most 32 characters (§8.4).
pub fn new_order_id() -> String {
    let id = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .to_ascii_uppercase();
    format!("HB{}", &id[..14])
}

/// `message` of a confirm (§8.4): the order as on_init answered it, unchanged, with the
/// order id, state Created, the recipient, the payment made and the buyer app's GSTIN; each
/// delivery carries the `@ondc/org/TAT` on_select promised.
pub fn confirm_message(
    on_select: &Value,
    on_init: &Value,
    order_id: &str,
    buyer: &Buyer,
    payment_reference: &str,
    gstin: &str,
) -> Result<Value, String> {
    let mut order = on_init["message"]["order"].clone();
    if !order.is_object() {
        return Err("the on_init carries no order".into());
    }
    let total = order
        .pointer("/quote/price/value")
        .cloned()
        .ok_or("the on_init carries no quote")?;
    order["id"] = json!(order_id);
    order["state"] = json!("Created");
    let quoted = on_select["message"]["order"]["fulfillments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for fulfillment in order["fulfillments"].as_array_mut().into_iter().flatten() {
        if fulfillment["type"] == "Delivery" || fulfillment.get("type").is_none() {
            fulfillment["end"]["person"] = json!({"name": buyer.name});
        }
        let promised = quoted
            .iter()
            .find(|q| q["id"] == fulfillment["id"])
            .and_then(|q| q.get("@ondc/org/TAT"));
        if let (Some(tat), None) = (promised, fulfillment.get("@ondc/org/TAT")) {
            fulfillment["@ondc/org/TAT"] = tat.clone();
        }
    }
    let payment = order
        .get_mut("payment")
        .and_then(Value::as_object_mut)
        .ok_or("the on_init carries no payment terms")?;
    payment.insert("status".into(), json!("PAID"));
    payment.insert(
        "params".into(),
        json!({"amount": total, "currency": "INR", "transaction_id": payment_reference}),
    );
    let tags = order
        .as_object_mut()
        .expect("checked above")
        .entry("tags")
        .or_insert_with(|| json!([]));
    if let Some(tags) = tags.as_array_mut() {
        tags.retain(|t| t["code"] != "bap_terms");
        tags.push(json!({"code": "bap_terms", "list": [{"code": "tax_number", "value": gstin}]}));
    }
    let now = format_timestamp(Utc::now());
    order["created_at"] = json!(now);
    order["updated_at"] = json!(now);
    Ok(json!({"order": order}))
}

/// `message` of a buyer's cancel (§10.1); `force` adds the 1.2.5 force-cancel parameters.
pub fn cancel_message(order_id: &str, reason: &str, force: Option<(&str, bool)>) -> Value {
    let mut message = json!({"order_id": order_id, "cancellation_reason_id": reason});
    if let Some((fulfillment_id, force)) = force {
        message["descriptor"] = json!({
            "name": "fulfillment", "short_desc": fulfillment_id,
            "tags": [{"code": "params", "list": [
                {"code": "force", "value": if force { "yes" } else { "no" }},
                {"code": "ttl_response", "value": "PT1H"},
            ]}],
        });
    }
    message
}

/// `message` of a return request (§11): one Return fulfillment, named after the request,
/// with its return_request tag.
pub fn return_message(
    order_id: &str,
    request_id: &str,
    item_id: &str,
    quantity: i64,
    reason: &str,
    description: &str,
) -> Value {
    json!({"update_target": "item", "order": {"id": order_id, "fulfillments": [{
        "id": request_id,
        "type": "Return",
        "tags": [{"code": "return_request", "list": [
            {"code": "id", "value": request_id},
            {"code": "item_id", "value": item_id},
            {"code": "item_quantity", "value": quantity.to_string()},
            {"code": "reason_id", "value": reason},
            {"code": "reason_desc", "value": description},
            {"code": "images", "value": ""},
            {"code": "ttl_approval", "value": "PT24H"},
            {"code": "ttl_reverseqc", "value": "P3D"},
        ]}],
    }]}})
}

/// A return request id that cannot be mistaken for the node's own fulfillment ids.
pub fn new_return_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("R{}", &id[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer() -> Buyer {
        Buyer {
            name: "Asha Rao".into(),
            phone: "9876501234".into(),
            email: "asha@example.com".into(),
            building: "12 Lake View".into(),
            locality: "MG Road".into(),
            city: "Bengaluru".into(),
            state: "Karnataka".into(),
            pincode: "560001".into(),
            gps: "12.9716,77.5946".into(),
        }
    }

    #[test]
    fn a_search_carries_the_finder_fee_and_only_the_filters_asked_for() {
        let message = search_message(&SearchQuery {
            text: Some("pashmina".into()),
            finder_fee_percent: "3".into(),
            ..SearchQuery::default()
        });
        let intent = &message["intent"];
        assert_eq!(intent["item"]["descriptor"]["name"], "pashmina");
        assert_eq!(
            intent["payment"]["@ondc/org/buyer_app_finder_fee_amount"],
            "3"
        );
        assert!(intent.get("category").is_none());
        assert!(intent["fulfillment"].get("end").is_none());
        let with_pincode = search_message(&SearchQuery {
            pincode: Some("190001".into()),
            finder_fee_percent: "3".into(),
            ..SearchQuery::default()
        });
        assert_eq!(
            with_pincode["intent"]["fulfillment"]["end"]["location"]["address"]["area_code"],
            "190001"
        );
    }

    #[test]
    fn a_search_has_no_seller_in_its_context_and_later_calls_do() {
        let mut route = Route {
            domain: "ONDC:RET12".into(),
            city: "*".into(),
            transaction_id: "t".into(),
            bpp: None,
        };
        let search = request("search", &route, ("b.example", "http://b"), json!({}));
        assert!(search["context"].get("bpp_id").is_none());
        route.bpp = Some(("s.example".into(), "http://s".into()));
        let select = request("select", &route, ("b.example", "http://b"), json!({}));
        assert_eq!(select["context"]["bpp_id"], "s.example");
        assert_ne!(
            select["context"]["message_id"],
            search["context"]["message_id"]
        );
        assert_eq!(
            request("issue", &route, ("b", "u"), json!({}))["context"]["core_version"],
            "1.0.0"
        );
    }

    #[test]
    fn init_maps_every_item_to_the_offered_fulfillment_with_its_selected_count() {
        let on_select = json!({"message": {"order": {
            "provider": {"id": "P1", "locations": [{"id": "L1"}]},
            "items": [{"id": "I1", "fulfillment_id": "F1"}],
            "fulfillments": [{"id": "F1", "type": "Delivery"}],
            "quote": {"price": {"currency": "INR", "value": "200.00"}, "breakup": [
                {"@ondc/org/item_id": "I1", "@ondc/org/item_quantity": {"count": 2}, "@ondc/org/title_type": "item"}]},
        }}});
        let message = init_message(&on_select, &buyer(), "3").unwrap();
        let order = &message["order"];
        assert_eq!(order["items"][0]["quantity"]["count"], 2);
        assert_eq!(order["items"][0]["fulfillment_id"], "F1");
        assert_eq!(
            order["billing"]["created_at"],
            order["billing"]["updated_at"]
        );
        assert_eq!(
            order["fulfillments"][0]["end"]["location"]["gps"],
            "12.9716,77.5946"
        );
        assert!(init_message(&json!({}), &buyer(), "3").is_err());
    }

    #[test]
    fn confirm_pays_the_quoted_total_and_keeps_the_rest_of_on_init() {
        let on_init = json!({"message": {"order": {
            "provider": {"id": "P1"},
            "fulfillments": [{"id": "F1", "type": "Delivery", "end": {}}],
            "quote": {"price": {"currency": "INR", "value": "212.00"}},
            "payment": {"type": "ON-ORDER", "collected_by": "BAP"},
            "tags": [{"code": "bpp_terms", "list": []}],
        }}});
        let on_select =
            json!({"message": {"order": {"fulfillments": [{"id": "F1", "@ondc/org/TAT": "P5D"}]}}});
        let message = confirm_message(
            &on_select,
            &on_init,
            "HB1",
            &buyer(),
            "PAY1",
            "29AAACB1234C1Z5",
        )
        .unwrap();
        let order = &message["order"];
        assert_eq!(order["id"], "HB1");
        assert_eq!(order["payment"]["params"]["amount"], "212.00");
        assert_eq!(order["payment"]["status"], "PAID");
        assert_eq!(order["tags"][0]["code"], "bpp_terms");
        assert_eq!(order["tags"][1]["code"], "bap_terms");
        assert_eq!(
            order["fulfillments"][0]["end"]["person"]["name"],
            "Asha Rao"
        );
        assert_eq!(order["fulfillments"][0]["@ondc/org/TAT"], "P5D");
        let id = new_order_id();
        assert!(id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn found_items_skip_disabled_ones_and_know_their_store_city() {
        let page = json!({"context": {"domain": "ONDC:RET12", "bpp_id": "s", "bpp_uri": "http://s"},
        "message": {"catalog": {"bpp/providers": [{
            "id": "P1", "descriptor": {"name": "Weavers"},
            "locations": [{"id": "L1", "address": {"area_code": "560001"}}],
            "items": [
                {"id": "I1", "descriptor": {"name": "Saree"}, "price": {"value": "100.00"}, "location_id": "L1",
                 "quantity": {"available": {"count": "99"}}, "category_id": "Sarees"},
                {"id": "I2", "descriptor": {"name": "Gone"}, "time": {"label": "disable"}},
            ]}]}}});
        let found = found_items(&page);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].item_id, "I1");
        assert_eq!(found[0].city.as_deref(), Some("std:080"));
        assert!(found[0].in_stock);
    }
}
