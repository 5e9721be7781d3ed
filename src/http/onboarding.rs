//! The registry's two checks during `/subscribe`: the `/on_subscribe` challenge and the
//! site-verification page (SIGNING-AND-REGISTRY.md §3.7, §3.8).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::protocol::keys::x25519_public_from_b64;
use crate::protocol::onboarding::{decrypt_challenge, signed_request_id, site_verification_html};
use crate::startup::AppState;

/// Where `haat registry subscribe` leaves the request id of its latest attempt.
pub const SUBSCRIBE_REQUEST_ID: &str = "subscribe.request_id";

#[derive(Deserialize)]
pub struct OnSubscribe {
    #[serde(default)]
    subscriber_id: Option<String>,
    challenge: String,
}

pub async fn on_subscribe(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let bad =
        |message: &str| HttpResponse::BadRequest().json(json!({"error": {"message": message}}));
    let Ok(request) = serde_json::from_slice::<OnSubscribe>(&body) else {
        return bad("expected {\"subscriber_id\": ..., \"challenge\": \"<base64>\"}");
    };
    if let Some(id) = &request.subscriber_id {
        if id != &state.settings.subscriber_id {
            tracing::warn!(subscriber_id = %id, "on_subscribe challenge for another subscriber id");
            return bad("this node is not that subscriber");
        }
    }
    let Some(registry_key) = state.settings.registry_encryption_key() else {
        tracing::error!(
            "on_subscribe: no registry encryption key is configured for this registry URL"
        );
        return HttpResponse::ServiceUnavailable().json(
            json!({"error": {"message": "the node does not know the registry's encryption key"}}),
        );
    };
    let Ok(registry_public) = x25519_public_from_b64(&registry_key) else {
        return HttpResponse::ServiceUnavailable()
            .json(json!({"error": {"message": "the registry key is unusable"}}));
    };
    match decrypt_challenge(
        &state.key_pairs.encryption,
        &registry_public,
        &request.challenge,
    ) {
        Ok(answer) => {
            tracing::info!("answered the registry's on_subscribe challenge");
            HttpResponse::Ok().json(json!({"answer": answer}))
        }
        Err(error) => {
            tracing::warn!(reason = %error, "on_subscribe challenge could not be answered");
            bad(&error.to_string())
        }
    }
}

pub async fn site_verification(state: web::Data<AppState>) -> HttpResponse {
    let configured = state.settings.registry.site_verification_request_id.clone();
    let request_id = if configured.is_empty() {
        match state.store.value(SUBSCRIBE_REQUEST_ID).await {
            Ok(found) => found.unwrap_or_default(),
            Err(error) => {
                tracing::error!(error = %error, "cannot read the subscribe request id");
                return HttpResponse::ServiceUnavailable().finish();
            }
        }
    } else {
        configured
    };
    if request_id.is_empty() {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("No /subscribe is in progress: run `haat registry subscribe` or set HAAT_SITE_VERIFICATION_REQUEST_ID.\n");
    }
    let html = site_verification_html(&signed_request_id(&state.signer, &request_id));
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}
