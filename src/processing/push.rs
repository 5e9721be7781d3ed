//! Incremental catalogue pushes (RETAIL-DIGEST.md §5 (b)): every `push_interval_secs`, each
//! buyer app subscribed with `catalog_inc` mode=start gets the changes since its last push, as
//! unsolicited on_search messages (same transaction_id, a new message_id), through the outbox.
//! Nothing is sent when nothing changed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::search::{envelope, increments, push_context};
use crate::config::Settings;
use crate::store::{now_ms, NewCallback, Store, StoreError};

pub async fn run(store: Store, settings: Arc<Settings>, outbox_wakeup: Arc<Notify>) {
    let mut ticker =
        tokio::time::interval(Duration::from_secs(settings.catalog.push_interval_secs));
    loop {
        ticker.tick().await;
        if store.is_closed() {
            return;
        }
        match push_once(&store, &settings).await {
            Ok(0) => {}
            Ok(sent) => {
                tracing::info!(messages = sent, "incremental catalogue pushes queued");
                outbox_wakeup.notify_one();
            }
            Err(_) if store.is_closed() => return,
            Err(error) => {
                tracing::warn!(error = %error, "incremental catalogue push failed; it will be tried again")
            }
        }
    }
}

/// Queues one round of pushes; returns how many on_search messages were queued.
pub async fn push_once(store: &Store, settings: &Settings) -> Result<usize, StoreError> {
    let now = now_ms();
    let changed_at = store.catalog_changed_at().await?;
    let mut queued = 0;
    for (bap_id, domain, _transaction_id, request, last_pushed_at) in
        store.catalog_subscriptions().await?
    {
        if changed_at <= last_pushed_at {
            continue;
        }
        let Ok(request) = serde_json::from_slice::<serde_json::Value>(&request) else {
            continue;
        };
        let pages = increments(store, &settings.catalog, &domain, last_pushed_at + 1, now).await?;
        let mut callbacks = Vec::new();
        for page in pages {
            let Some((context, callback_context)) =
                push_context(&request, &settings.subscriber_id, &settings.subscriber_url)
            else {
                continue;
            };
            let message_id = callback_context["message_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let body = envelope(&callback_context, &page, None);
            callbacks.push(NewCallback {
                action: "on_search".into(),
                solicited: false,
                inbound_id: None,
                bap_id: bap_id.clone(),
                url: context.callback_url("on_search"),
                transaction_id: context.transaction_id.clone(),
                message_id,
                domain: Some(domain.clone()),
                body,
                deadline_at: now + (settings.outbox.unsolicited_horizon_secs * 1000) as i64,
            });
        }
        queued += callbacks.len();
        store
            .record_catalog_push(&bap_id, &domain, now, &callbacks)
            .await?;
    }
    Ok(queued)
}
