//! actix glue: the route table, reading and verifying signed requests, and thin handlers.
//! Every Beckn action goes through `inbound::handle`, which verifies before it parses.

mod inbound;
pub use onboarding::SUBSCRIBE_REQUEST_ID;
mod onboarding;
mod ops;
pub mod seller_api;
pub mod verify;

use actix_web::web;

/// Every route the node serves, in one place.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/health", web::get().to(ops::health))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/on_subscribe", web::post().to(onboarding::on_subscribe))
        .route(
            "/ondc-site-verification.html",
            web::get().to(onboarding::site_verification),
        )
        .configure(seller_api::routes)
        .route("/{action}", web::post().to(inbound::handle));
}
