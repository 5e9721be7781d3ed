//! The development network of `haat dev`: a registry, in the node's own process, that knows
//! exactly two participants, the node and the `haat buyer` tool, so that a newcomer can watch
//! signed requests and callbacks go both ways on one laptop.
//!
//! What must NOT happen here: being used by `haat serve`, or knowing anyone it was not told
//! about at start. It answers lookups the way the ONDC registry's `/v2.0/lookup` and `/lookup`
//! do (SIGNING-AND-REGISTRY.md §3.2), without checking who asks: it is a development aid.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::protocol::keys::KeyPairs;

/// A participant the development registry vouches for.
pub struct Participant<'a> {
    pub subscriber_id: &'a str,
    pub subscriber_url: &'a str,
    /// `BPP` for the node, `BAP` for the buyer tool.
    pub kind: &'a str,
    pub keys: &'a KeyPairs,
    pub domains: &'a [String],
}

/// The registry record of a participant, in the shape ONDC's lookup answers with. One record
/// per domain, as the registry lists one subscription per domain.
pub fn records(participant: &Participant<'_>) -> Vec<Value> {
    participant
        .domains
        .iter()
        .map(|domain| {
            json!({
                "subscriber_id": participant.subscriber_id,
                "subscriber_url": participant.subscriber_url,
                "type": participant.kind,
                "domain": domain,
                "city": "*",
                "country": "IND",
                "status": "SUBSCRIBED",
                "ukId": participant.keys.unique_key_id,
                "signing_public_key": participant.keys.signing_public_b64(),
                "encr_public_key": participant.keys.encryption_public_b64(),
                "valid_from": "2020-01-01T00:00:00.000Z",
                "valid_until": "2099-12-31T23:59:59.000Z",
                "created": "2020-01-01T00:00:00.000Z",
                "updated": "2020-01-01T00:00:00.000Z",
            })
        })
        .collect()
}

/// The records a lookup's filters select: every filter given must match (`subscriber_id`,
/// `ukId`, `type`, `domain`, `city`, `country`); a record of city `*` serves every city.
pub fn matching<'a>(records: &'a [Value], filters: &Value) -> Vec<&'a Value> {
    let wanted = |name: &str| filters.get(name).and_then(Value::as_str);
    records
        .iter()
        .filter(|record| {
            ["subscriber_id", "ukId", "domain", "country"]
                .iter()
                .all(|name| wanted(name).is_none_or(|value| record[*name] == value))
        })
        .filter(|record| {
            wanted("type").is_none_or(|kind| {
                record["type"]
                    .as_str()
                    .is_some_and(|own| own.eq_ignore_ascii_case(kind))
            })
        })
        .filter(|record| {
            wanted("city").is_none_or(|city| record["city"] == "*" || record["city"] == city)
        })
        .collect()
}

/// Starts the development registry on `listener`; the server runs until the process ends.
pub fn serve(listener: TcpListener, records: Vec<Value>) -> std::io::Result<Server> {
    let records = Arc::new(records);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::from(records.clone()))
            .route("/v2.0/lookup", web::post().to(lookup))
            .route("/lookup", web::post().to(lookup))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

async fn lookup(body: web::Bytes, records: web::Data<Vec<Value>>) -> HttpResponse {
    match serde_json::from_slice::<Value>(&body) {
        Ok(filters) if filters.is_object() => {
            let found: Vec<&Value> = matching(&records, &filters);
            HttpResponse::Ok().json(found)
        }
        _ => HttpResponse::BadRequest().json(json!({
            "error": {"code": "1050", "message": "the lookup body must be a JSON object of filters"}
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Vec<Value> {
        let node = KeyPairs::generate("node-key");
        let buyer = KeyPairs::generate("buyer-key");
        let domains = ["ONDC:RET12".to_owned(), "ONDC:RET16".to_owned()];
        let mut all = records(&Participant {
            subscriber_id: "localhost",
            subscriber_url: "http://127.0.0.1:8080",
            kind: "BPP",
            keys: &node,
            domains: &domains,
        });
        all.extend(records(&Participant {
            subscriber_id: "buyer.localhost",
            subscriber_url: "http://127.0.0.1:8082",
            kind: "BAP",
            keys: &buyer,
            domains: &domains[..1],
        }));
        all
    }

    #[test]
    fn a_lookup_by_subscriber_and_key_finds_that_participant_only() {
        let all = registry();
        let found = matching(
            &all,
            &json!({"subscriber_id": "buyer.localhost", "ukId": "buyer-key"}),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["type"], "BAP");
        assert!(matching(
            &all,
            &json!({"subscriber_id": "buyer.localhost", "ukId": "other"})
        )
        .is_empty());
    }

    #[test]
    fn a_lookup_by_type_domain_and_city_lists_the_node_for_every_city() {
        let all = registry();
        let found = matching(
            &all,
            &json!({"type": "bpp", "domain": "ONDC:RET16", "city": "std:080", "country": "IND"}),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["subscriber_id"], "localhost");
        assert!(matching(&all, &json!({"type": "BAP", "domain": "ONDC:RET16"})).is_empty());
    }
}
