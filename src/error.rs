//! The one table from what went wrong with an inbound request to what the peer sees: the
//! HTTP status, the Beckn error type and the ONDC code. Internal causes are logged where
//! they happen and never sent to a peer.

use actix_web::http::StatusCode;

use crate::protocol::ack::{ErrorType, WireError};

/// Which signature header failed, which decides the challenge header we answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedBy {
    Sender,
    Gateway,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum InboundError {
    #[error("/{0} is not an action this seller node serves")]
    UnknownAction(String),
    #[error("the request body is larger than the {limit} bytes this node accepts")]
    BodyTooLarge { limit: usize },
    #[error("the request body could not be read: {0}")]
    BodyUnreadable(String),
    #[error("invalid signature: {reason}")]
    Signature { by: SignedBy, reason: String },
    #[error(
        "the signature cannot be checked now because the registry did not answer; retry shortly"
    )]
    RegistryUnavailable,
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{}", .0.message)]
    Rejected(WireError),
    #[error("internal error; retry shortly")]
    Internal,
}

impl InboundError {
    pub fn status(&self) -> StatusCode {
        match self {
            InboundError::UnknownAction(_) => StatusCode::NOT_FOUND,
            InboundError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            InboundError::BodyUnreadable(_) => StatusCode::BAD_REQUEST,
            InboundError::Signature { .. } => StatusCode::UNAUTHORIZED,
            InboundError::RegistryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            // ONDC answers schema and context problems with a NACK in an HTTP 200 body
            // (RETAIL-DIGEST.md §4); only signature failures change the status.
            InboundError::MalformedJson(_) | InboundError::Rejected(_) => StatusCode::OK,
            InboundError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn wire(&self) -> WireError {
        let message = self.to_string();
        match self {
            InboundError::UnknownAction(_) => {
                WireError::new(ErrorType::Context, "30000", Some("context.action"), message)
            }
            InboundError::BodyTooLarge { .. } | InboundError::BodyUnreadable(_) => {
                WireError::new(ErrorType::Context, "30000", None, message)
            }
            InboundError::Signature { .. } => {
                WireError::new(ErrorType::Context, "30016", None, message)
            }
            InboundError::RegistryUnavailable | InboundError::Internal => {
                WireError::new(ErrorType::Core, "31001", None, message)
            }
            InboundError::MalformedJson(_) => {
                WireError::new(ErrorType::JsonSchema, "30000", None, message)
            }
            InboundError::Rejected(error) => error.clone(),
        }
    }
}
