//! Health and metrics for operators and their monitoring.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::startup::AppState;

/// 200 when the store answers, 503 when it does not.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "store": "ok"})),
        Err(error) => {
            tracing::error!(error = %error, "health check: the store does not answer");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "store": "not answering"}))
        }
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
