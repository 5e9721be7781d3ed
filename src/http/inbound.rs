//! `POST /{action}` for every action a seller node serves. In order, before any business
//! logic: the body size, the signatures, the JSON, the signer against `context.bap_id`, the
//! schema and the context. The request is journaled with the answer it gets (persist before
//! ACK), and a replayed (bap_id, action, message_id) gets the first answer again.

use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::Value;
use tracing::Instrument;

use crate::error::{InboundError, SignedBy};
use crate::protocol::ack::{nack_body, ACK_BODY};
use crate::protocol::context::{Action, Context, ContextRules, ReplayKey};
use crate::protocol::json::At;
use crate::registry::SubscriberType;
use crate::startup::AppState;
use crate::store::{now_ms, JournalEntry, JournalOutcome, PendingInbound};

pub async fn handle(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let action_name = path.into_inner();
    let span = tracing::info_span!(
        "inbound",
        beckn.action = %action_name,
        beckn.transaction_id = tracing::field::Empty,
        beckn.message_id = tracing::field::Empty,
        bap.id = tracing::field::Empty,
    );
    let result = answer(&request, &action_name, payload, &state, &span)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    let (response, outcome) = match result {
        Ok((response, outcome)) => (response, outcome),
        Err(error) => {
            if matches!(error, InboundError::Internal) {
                tracing::error!("request failed inside the node");
            } else {
                tracing::info!(reason = %error, "request refused");
            }
            state.metrics.nack(&error.wire().code);
            (
                error_response(&error, &state.settings.subscriber_id),
                "nack",
            )
        }
    };
    let label = Action::parse(&action_name)
        .map(Action::as_str)
        .unwrap_or("unknown");
    state.metrics.request(label, outcome);
    state
        .metrics
        .ack_latency(label, started.elapsed().as_secs_f64());
    response
}

/// Requests handed to the processor with their parsed body while fewer than this many wait
/// (a parsed body takes several times the memory of its bytes; past it they carry bytes).
const PARSED_WHILE_QUEUED_BELOW: usize = 256;

/// The whole check-journal-answer sequence; errors become NACKs in `handle`.
async fn answer(
    request: &HttpRequest,
    action_name: &str,
    payload: web::Payload,
    state: &AppState,
    span: &tracing::Span,
) -> Result<(HttpResponse, &'static str), InboundError> {
    let action = Action::parse(action_name)
        .ok_or_else(|| InboundError::UnknownAction(action_name.to_owned()))?;
    let received_at = now_ms();
    let body = read_body(request, payload, state.settings.inbound.max_body_bytes).await?;

    let now_secs = (received_at / 1000) as u64;
    let verified = super::verify::verify(
        &state.keys,
        request.headers(),
        &body,
        now_secs,
        state.settings.inbound.clock_skew_secs,
    )
    .await?;

    let json: Value =
        serde_json::from_slice(&body).map_err(|e| InboundError::MalformedJson(e.to_string()))?;
    let replay_key = ReplayKey::read(&json);
    if let Some(key) = &replay_key {
        span.record("beckn.message_id", key.message_id.as_str());
        span.record("bap.id", key.bap_id.as_str());
    }
    if let Some(transaction_id) = json.at("/context/transaction_id").and_then(Value::as_str) {
        span.record("beckn.transaction_id", transaction_id);
    }

    // The signer must be the buyer app named in the context, or a registered gateway. A body
    // without a context.bap_id is a body problem, answered by the context check below.
    let bap_id = json.at("/context/bap_id").and_then(Value::as_str);
    let signer = &verified.sender;
    if let Some(bap_id) = bap_id {
        if signer.subscriber_id != bap_id && signer.subscriber_type != Some(SubscriberType::Gateway)
        {
            return Err(InboundError::Signature {
                by: SignedBy::Sender,
                reason: format!(
                    "the request is signed by {} but context.bap_id is \"{bap_id}\"; a buyer app signs its own requests",
                    signer.subscriber_id
                ),
            });
        }
    }

    // Context, then schema (the context says which domain's schema applies). Either failure
    // is a NACK that is journaled too, so that a replay gets the same NACK.
    let domain = json
        .at("/context/domain")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let rules = ContextRules {
        own_subscriber_id: &state.settings.subscriber_id,
        domains: &state.settings.domains,
        clock_skew_ms: (state.settings.inbound.clock_skew_secs * 1000) as i64,
        default_ttl_ms: (state.settings.inbound.default_ttl_secs * 1000) as i64,
        is_known_city: |code| crate::catalog::rules::rules().is_city(code),
    };
    // Context, schema, then what the action itself can tell synchronously (a malformed intent).
    let checked = Context::check(&json, action, &rules, chrono::Utc::now())
        .and_then(|context| {
            state
                .schemas
                .check(&domain, action.as_str(), &json)
                .map(|()| context)
        })
        .and_then(|context| crate::processing::precheck(action, &json).map(|()| context));
    let (status, response_body, journal_state, context) = match checked {
        Ok(context) => (200u16, ACK_BODY.to_vec(), "pending", Some(context)),
        Err(wire) => {
            state.metrics.nack(&wire.code);
            tracing::info!(code = %wire.code, reason = %wire.message, "request refused");
            let error = InboundError::Rejected(wire);
            (
                error.status().as_u16(),
                nack_body(&error.wire()),
                "refused",
                None,
            )
        }
    };

    let Some(key) = replay_key else {
        // Without bap_id, action and message_id the request cannot be journaled or replayed;
        // the context check has refused it already.
        return Ok((raw_response(status, response_body), "nack"));
    };
    let entry = JournalEntry {
        bap_id: key.bap_id,
        action: key.action,
        message_id: key.message_id,
        transaction_id: context
            .as_ref()
            .map(|c| c.transaction_id.0.clone())
            .or_else(|| text_at(&json, "/context/transaction_id")),
        domain: Some(domain),
        city: text_at(&json, "/context/city"),
        bap_uri: text_at(&json, "/context/bap_uri"),
        body: body.to_vec(),
        authorization: Some(verified.authorization),
        gateway_authorization: verified.gateway_authorization,
        received_at,
        request_timestamp: context.as_ref().map(|c| c.timestamp.timestamp_millis()),
        ttl_ms: context.as_ref().map(|c| c.ttl_ms),
        response_status: status,
        response_body: response_body.clone(),
        state: journal_state,
    };
    match state.journal.record(entry).await {
        Ok(JournalOutcome::Recorded(id)) => {
            if journal_state == "pending" {
                // When the processor is behind, the request waits in the journal for the sweep.
                // The parsed body goes along while few requests wait; a long queue holds bytes.
                let ready = &state.inbound_ready;
                let queued = ready.max_capacity() - ready.capacity();
                let (body, parsed) = if queued < PARSED_WHILE_QUEUED_BELOW {
                    (Vec::new(), Some(json))
                } else {
                    (body.to_vec(), None)
                };
                let _ = ready.try_send(PendingInbound {
                    id,
                    action: action.as_str().to_owned(),
                    body,
                    parsed,
                    received_at,
                });
                Ok((raw_response(status, response_body), "ack"))
            } else {
                Ok((raw_response(status, response_body), "nack"))
            }
        }
        Ok(JournalOutcome::Replay { status, body }) => {
            tracing::info!("replayed request answered with its first answer");
            Ok((raw_response(status, body), "replay"))
        }
        Err(error) => {
            tracing::error!(error = %error, "cannot journal the request");
            Err(InboundError::Internal)
        }
    }
}

fn text_at(json: &Value, pointer: &str) -> Option<String> {
    json.at(pointer).and_then(Value::as_str).map(str::to_owned)
}

async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, InboundError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(InboundError::BodyTooLarge { limit });
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(2048).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| InboundError::BodyUnreadable(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(InboundError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn raw_response(status: u16, body: Vec<u8>) -> HttpResponse {
    let status =
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK);
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

/// The NACK for an error, with the challenge header a signature failure calls for.
fn error_response(error: &InboundError, own_subscriber_id: &str) -> HttpResponse {
    let mut response = HttpResponse::build(error.status());
    response.content_type("application/json");
    if let InboundError::Signature { by, .. } = error {
        let challenge = format!(
            "Signature realm=\"{own_subscriber_id}\",headers=\"(created) (expires) digest\""
        );
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            let name = match by {
                SignedBy::Sender => header::WWW_AUTHENTICATE,
                SignedBy::Gateway => header::PROXY_AUTHENTICATE,
            };
            response.insert_header((name, value));
        }
    }
    response.body(nack_body(&error.wire()))
}
