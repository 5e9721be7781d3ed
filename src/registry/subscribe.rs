//! The `/subscribe` request an operator sends to join the network (SIGNING-AND-REGISTRY.md §3.6).

use serde::Deserialize;
use serde_json::{json, Value};

/// The legal entity behind the node, as the registry wants it. Read from the file given to
/// `haat registry subscribe --entity`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    pub legal_entity_name: String,
    pub business_address: String,
    pub gst_no: String,
    pub name_as_per_pan: String,
    pub pan_no: String,
    /// DD/MM/YYYY
    pub date_of_incorporation: String,
    pub name_of_authorised_signatory: String,
    pub address_of_authorised_signatory: String,
    pub email_id: String,
    pub mobile_no: u64,
}

impl Entity {
    /// Checks the fields the registry rejects most often, with messages an operator can act on.
    pub fn check(&self) -> Result<(), String> {
        if self.gst_no.len() != 15 || !self.gst_no.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "gst_no \"{}\" is not a 15-character GSTIN",
                self.gst_no
            ));
        }
        if self.pan_no.len() != 10 || !self.pan_no.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "pan_no \"{}\" is not a 10-character PAN",
                self.pan_no
            ));
        }
        let date_ok = self.date_of_incorporation.len() == 10
            && chrono::NaiveDate::parse_from_str(&self.date_of_incorporation, "%d/%m/%Y").is_ok();
        if !date_ok {
            return Err(format!(
                "date_of_incorporation \"{}\" must be DD/MM/YYYY",
                self.date_of_incorporation
            ));
        }
        if !(1_000_000_000..10_000_000_000).contains(&self.mobile_no) {
            return Err(format!(
                "mobile_no {} must be a 10-digit number",
                self.mobile_no
            ));
        }
        if !self.email_id.contains('@') {
            return Err(format!(
                "email_id \"{}\" is not an e-mail address",
                self.email_id
            ));
        }
        Ok(())
    }
}

/// Everything one `/subscribe` call says.
pub struct SubscribeRequest<'a> {
    pub request_id: &'a str,
    pub timestamp: &'a str,
    pub entity: &'a Entity,
    pub subscriber_id: &'a str,
    pub unique_key_id: &'a str,
    pub signing_public_key: &'a str,
    pub encryption_public_key: &'a str,
    pub valid_from: &'a str,
    pub valid_until: &'a str,
    pub domains: &'a [String],
    pub cities: &'a [String],
    /// The path of our callback URL relative to `https://<subscriber_id>`, usually "/".
    pub callback_path: &'a str,
}

/// The body of `/subscribe` for a seller app (`ops_no` 2): one network participant per domain.
pub fn subscribe_body(request: &SubscribeRequest<'_>) -> Value {
    let entity = request.entity;
    let participants: Vec<Value> = request
        .domains
        .iter()
        .map(|domain| {
            json!({
                "subscriber_url": request.callback_path,
                "domain": domain,
                "type": "sellerApp",
                "msn": false,
                "city_code": request.cities,
            })
        })
        .collect();
    json!({
        "context": {"operation": {"ops_no": 2}},
        "message": {
            "request_id": request.request_id,
            "timestamp": request.timestamp,
            "entity": {
                "gst": {
                    "legal_entity_name": entity.legal_entity_name,
                    "business_address": entity.business_address,
                    "city_code": request.cities,
                    "gst_no": entity.gst_no,
                },
                "pan": {
                    "name_as_per_pan": entity.name_as_per_pan,
                    "pan_no": entity.pan_no,
                    "date_of_incorporation": entity.date_of_incorporation,
                },
                "name_of_authorised_signatory": entity.name_of_authorised_signatory,
                "address_of_authorised_signatory": entity.address_of_authorised_signatory,
                "email_id": entity.email_id,
                "mobile_no": entity.mobile_no,
                "country": "IND",
                "subscriber_id": request.subscriber_id,
                "unique_key_id": request.unique_key_id,
                "callback_url": request.callback_path,
                "key_pair": {
                    "signing_public_key": request.signing_public_key,
                    "encryption_public_key": request.encryption_public_key,
                    "valid_from": request.valid_from,
                    "valid_until": request.valid_until,
                },
            },
            "network_participant": participants,
        }
    })
}
