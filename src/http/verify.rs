//! Signature checks on inbound requests (SIGNING-AND-REGISTRY.md §2.6, §2.7): `Authorization`
//! always, and the gateway's `X-Gateway-Authorization` (or the older `Proxy-Authorization`)
//! when present. The digest is computed once over the raw body; keys come from the lookup
//! cache, and a key that fails is looked up once more in case it was rotated.

use std::sync::Arc;

use actix_web::http::header::HeaderMap;

use crate::error::{InboundError, SignedBy};
use crate::protocol::signing::{digest_b64, SignatureError, SignatureHeader};
use crate::registry::{KeyDirectory, LookupError, RegisteredKey, SubscriberType};

/// Who signed a request, once verified.
pub struct Verified {
    pub sender: Arc<RegisteredKey>,
    pub gateway: Option<Arc<RegisteredKey>>,
    pub authorization: String,
    pub gateway_authorization: Option<String>,
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
}

fn refused(by: SignedBy, reason: impl ToString) -> InboundError {
    InboundError::Signature {
        by,
        reason: reason.to_string(),
    }
}

pub async fn verify(
    directory: &KeyDirectory,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
    skew_secs: u64,
) -> Result<Verified, InboundError> {
    let authorization = header_text(headers, "authorization")
        .ok_or_else(|| refused(SignedBy::Sender, SignatureError::Missing("Authorization")))?;
    let (gateway_name, gateway_value) = match header_text(headers, "x-gateway-authorization") {
        Some(value) => ("X-Gateway-Authorization", Some(value)),
        None => (
            "Proxy-Authorization",
            header_text(headers, "proxy-authorization"),
        ),
    };
    let sender_header = SignatureHeader::parse("Authorization", authorization)
        .map_err(|e| refused(SignedBy::Sender, e))?;
    sender_header
        .check_window(now, skew_secs)
        .map_err(|e| refused(SignedBy::Sender, e))?;
    let gateway_header = match gateway_value {
        Some(value) => {
            let parsed = SignatureHeader::parse(gateway_name, value)
                .map_err(|e| refused(SignedBy::Gateway, e))?;
            parsed
                .check_window(now, skew_secs)
                .map_err(|e| refused(SignedBy::Gateway, e))?;
            Some(parsed)
        }
        None => None,
    };
    let digest = digest_b64(body);
    let sender = check_with_directory(directory, &sender_header, &digest, SignedBy::Sender).await?;
    let gateway = match &gateway_header {
        Some(header) => {
            let key = check_with_directory(directory, header, &digest, SignedBy::Gateway).await?;
            if key
                .subscriber_type
                .is_some_and(|t| t != SubscriberType::Gateway)
            {
                return Err(refused(
                    SignedBy::Gateway,
                    format!(
                        "{gateway_name} is signed by {}, which is not registered as a gateway",
                        key.subscriber_id
                    ),
                ));
            }
            Some(key)
        }
        None => None,
    };
    Ok(Verified {
        sender,
        gateway,
        authorization: authorization.to_owned(),
        gateway_authorization: gateway_value.map(str::to_owned),
    })
}

async fn check_with_directory(
    directory: &KeyDirectory,
    header: &SignatureHeader,
    digest: &str,
    by: SignedBy,
) -> Result<Arc<RegisteredKey>, InboundError> {
    let key_ref = header.key_ref();
    let lookup_failed = |error: LookupError| match error {
        LookupError::Unavailable(detail) => {
            tracing::warn!(detail = %detail, "registry lookup failed");
            InboundError::RegistryUnavailable
        }
        other => refused(by, other),
    };
    let (key, freshness) = directory.get(&key_ref).await.map_err(lookup_failed)?;
    match header.verify(digest, &key.verifying_key) {
        Ok(()) => Ok(key),
        Err(error) if freshness == crate::registry::Freshness::Cached => {
            // The key may have been rotated since we cached it: ask the registry once more.
            let (fresh, _) = directory.refresh(&key_ref).await.map_err(lookup_failed)?;
            header
                .verify(digest, &fresh.verifying_key)
                .map_err(|_| refused(by, error))?;
            Ok(fresh)
        }
        Err(error) => Err(refused(by, error)),
    }
}
