//! `search` → `on_search` (RETAIL-DIGEST.md §5): the catalogue of the sellers whose stores are
//! in `context.city` (every city for `*`), narrowed by the intent, split into on_search pages;
//! incremental pulls of a time window; and catalog_inc subscriptions, whose pushes
//! `push_increments` sends.

use chrono::Utc;
use serde_json::Value;

use super::Outcome;
use crate::catalog::intent::{serves, Incremental, SearchIntent};
use crate::config::CatalogSettings;
use crate::protocol::ack::{ErrorType, WireError};
use crate::protocol::callback::RequestContext;
use crate::protocol::catalog::{catalog_pages, NetworkParticipant};
use crate::protocol::json::At;
use crate::store::{CatalogQuery, CatalogSlice, Store, StoreError};

pub fn network_participant(settings: &CatalogSettings) -> NetworkParticipant {
    NetworkParticipant {
        name: settings.np_name.clone(),
        short_desc: settings.np_short_desc.clone(),
        long_desc: settings.np_long_desc.clone(),
        symbol: settings.np_symbol.clone(),
        np_type: settings.np_type.clone(),
        provider_ttl: settings.provider_ttl.clone(),
    }
}

/// Checks what can be checked before the ACK: the intent must be readable.
pub fn precheck(body: &Value) -> Result<(), WireError> {
    SearchIntent::read(body, Utc::now().timestamp_millis() + 60_000)
        .map(|_| ())
        .map_err(|e| WireError::new(ErrorType::Domain, "30000", Some(e.path), e.message))
}

/// Keeps only what can serve the intent's drop point and fulfillment type.
pub fn narrow_to_serviceable(slice: &mut CatalogSlice, intent: &SearchIntent) {
    if intent.end_area_code.is_none()
        && intent.end_gps.is_none()
        && intent.fulfillment_type.is_none()
    {
        return;
    }
    let providers = &slice.providers;
    for (provider_id, items) in slice.items.iter_mut() {
        // Providers are sorted by id.
        let locations = providers
            .binary_search_by(|p| p.id().cmp(provider_id))
            .map(|at| providers[at].locations.as_slice())
            .unwrap_or_default();
        items.retain(|item| {
            locations
                .iter()
                .find(|l| l.value.id == item.value.location_id)
                .is_some_and(|l| l.enabled && serves(&l.value, intent))
        });
    }
    slice.items.retain(|_, items| !items.is_empty());
    slice.providers.retain(|p| slice.items.contains_key(p.id()));
}

pub async fn search(
    store: &Store,
    settings: &CatalogSettings,
    body: &Value,
    context: &RequestContext,
) -> Result<Outcome, StoreError> {
    let now = Utc::now();
    let intent = match SearchIntent::read(body, context.timestamp.timestamp_millis()) {
        Ok(intent) => intent,
        Err(e) => {
            return Ok(Outcome::Recorded {
                state: "failed",
                note: format!("unreadable intent: {}", e.message),
            });
        }
    };
    let city = body
        .at("/context/city")
        .and_then(Value::as_str)
        .unwrap_or("*");
    let np = network_participant(settings);
    let mut query = CatalogQuery {
        domain: context.domain.clone(),
        std_code: city.strip_prefix("std:").map(str::to_owned),
        category_id: intent.category_id.clone(),
        provider_id: intent.provider_id.clone(),
        text: intent.text.clone(),
        include_disabled: intent.is_full_pull(),
        changed_between: None,
    };
    match intent.incremental {
        Some(Incremental::Subscribe { since }) => {
            let since = since.unwrap_or_else(|| now.timestamp_millis());
            let raw = serde_json::to_vec(body).unwrap_or_default();
            store
                .subscribe_catalog(
                    &context.bap_id,
                    &context.domain,
                    &context.bap_uri,
                    &context.transaction_id,
                    &raw,
                    since,
                )
                .await?;
            return Ok(Outcome::Recorded {
                state: "processed",
                note: "subscribed to incremental catalogue pushes".into(),
            });
        }
        Some(Incremental::Unsubscribe) => {
            let stopped = store
                .unsubscribe_catalog(&context.bap_id, &context.domain)
                .await?;
            let note = if stopped {
                "incremental pushes stopped"
            } else {
                "no incremental subscription to stop"
            };
            return Ok(Outcome::Recorded {
                state: "processed",
                note: note.into(),
            });
        }
        Some(Incremental::Pull { start, end }) => {
            query.changed_between = Some((start, end));
            query.include_disabled = true;
        }
        None => {}
    }
    let mut error = None;
    if let Some(provider) = &intent.provider_id {
        if !store.provider_exists(provider).await? {
            error = Some(WireError::new(
                ErrorType::Domain,
                "30001",
                Some("message.intent.provider.id"),
                format!("provider {provider} not found"),
            ));
        }
    }
    let mut slice = store.catalog_slice(&query).await?;
    narrow_to_serviceable(&mut slice, &intent);
    let item_count: usize = slice.items.values().map(Vec::len).sum();
    let pages = catalog_pages(&slice, &np, settings.max_on_search_bytes, now);
    let note = format!(
        "{} providers, {item_count} items in {} on_search message(s)",
        slice.providers.len(),
        pages.len()
    );
    Ok(Outcome::Pages {
        messages: pages.into_iter().map(|m| (m, error.clone())).collect(),
        note,
    })
}

/// The catalogue changes since a subscription's last push, as serialized on_search messages.
pub async fn increments(
    store: &Store,
    settings: &CatalogSettings,
    domain: &str,
    from: i64,
    to: i64,
) -> Result<Vec<String>, StoreError> {
    let query = CatalogQuery {
        domain: domain.to_owned(),
        include_disabled: true,
        changed_between: Some((from, to)),
        ..Default::default()
    };
    let slice = store.catalog_slice(&query).await?;
    if slice.providers.is_empty() {
        return Ok(Vec::new());
    }
    Ok(catalog_pages(
        &slice,
        &network_participant(settings),
        settings.max_on_search_bytes,
        Utc::now(),
    ))
}

/// An unsolicited on_search context for a subscription.
pub fn push_context(
    request: &Value,
    bpp_id: &str,
    bpp_uri: &str,
) -> Option<(RequestContext, Value)> {
    let context = RequestContext::read(request, 30_000)?;
    let message_id = uuid::Uuid::new_v4().to_string();
    let value = context.callback_context("on_search", bpp_id, bpp_uri, &message_id, Utc::now());
    Some((context, value))
}

/// The bytes of a callback from its context, its serialized message and an error.
/// Written into a buffer of the exact size: a page is up to 150 KB, and a buffer grown by
/// doubling would hold up to twice that until the callback is sent.
pub fn envelope(context: &Value, message: &str, error: Option<&WireError>) -> Vec<u8> {
    let context = serde_json::to_string(context).expect("contexts serialise");
    let error = error.map(|e| serde_json::to_string(e).expect("errors serialise"));
    let parts: [&str; 6] = [
        "{\"context\":",
        &context,
        ",\"message\":",
        message,
        if error.is_some() { ",\"error\":" } else { "" },
        error.as_deref().unwrap_or(""),
    ];
    let mut body = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 1);
    for part in parts {
        body.extend_from_slice(part.as_bytes());
    }
    body.push(b'}');
    body
}
