//! The synchronous answer to every Beckn call: `{"message":{"ack":{"status":"ACK"}}}`, or a
//! NACK with an `error {type, code, path, message}` (RETAIL-DIGEST.md §4).

use crate::protocol::json::At;
use serde::Serialize;

/// ONDC's `error.type`. 1.2.5 dropped POLICY-ERROR, so it is never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorType {
    #[serde(rename = "CONTEXT-ERROR")]
    Context,
    #[serde(rename = "CORE-ERROR")]
    Core,
    #[serde(rename = "DOMAIN-ERROR")]
    Domain,
    #[serde(rename = "JSON-SCHEMA-ERROR")]
    JsonSchema,
}

/// The `error` object of a NACK or of a callback that reports a business failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WireError {
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl WireError {
    pub fn new(
        error_type: ErrorType,
        code: &str,
        path: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            error_type,
            code: code.to_owned(),
            path: path.map(str::to_owned),
            message: message.into(),
        }
    }
}

#[derive(Serialize)]
struct AckStatus<'a> {
    status: &'a str,
}

#[derive(Serialize)]
struct AckMessage<'a> {
    ack: AckStatus<'a>,
}

#[derive(Serialize)]
struct SyncResponse<'a> {
    message: AckMessage<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a WireError>,
}

pub const ACK_BODY: &[u8] = br#"{"message":{"ack":{"status":"ACK"}}}"#;

pub fn nack_body(error: &WireError) -> Vec<u8> {
    serde_json::to_vec(&SyncResponse {
        message: AckMessage {
            ack: AckStatus { status: "NACK" },
        },
        error: Some(error),
    })
    .expect("a NACK always serialises")
}

/// What a peer answered to one of our calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAnswer {
    Ack,
    Nack {
        code: Option<String>,
        message: Option<String>,
    },
    Unreadable,
}

/// Reads a peer's synchronous answer.
pub fn read_peer_answer(body: &[u8]) -> PeerAnswer {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return PeerAnswer::Unreadable;
    };
    let status = value.at("/message/ack/status").and_then(|s| s.as_str());
    let text = |pointer: &str| {
        value.at(pointer).and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    match status {
        Some("ACK") => PeerAnswer::Ack,
        Some("NACK") => PeerAnswer::Nack {
            code: text("/error/code"),
            message: text("/error/message"),
        },
        _ => PeerAnswer::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nack_carries_type_code_path_and_message() {
        let body = nack_body(&WireError::new(
            ErrorType::Context,
            "30022",
            Some("context.timestamp"),
            "stale",
        ));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"message":{"ack":{"status":"NACK"}},"error":{"type":"CONTEXT-ERROR","code":"30022","path":"context.timestamp","message":"stale"}}"#
        );
    }

    #[test]
    fn peer_answers_are_read_whatever_the_code_type() {
        assert_eq!(read_peer_answer(ACK_BODY), PeerAnswer::Ack);
        assert_eq!(
            read_peer_answer(
                br#"{"message":{"ack":{"status":"NACK"}},"error":{"code":20008,"message":"x"}}"#
            ),
            PeerAnswer::Nack {
                code: Some("20008".into()),
                message: Some("x".into())
            }
        );
        assert_eq!(read_peer_answer(b"<html>"), PeerAnswer::Unreadable);
    }
}
