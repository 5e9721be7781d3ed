//! Beckn/ONDC on the wire: signing, keys, onboarding proofs, the context, ACK/NACK bodies and
//! schema validation. No actix, no SQL: everything here is pure and testable on its own.

pub mod ack;
pub mod callback;
pub mod catalog;
pub mod context;
pub mod json;
pub mod keys;
pub mod onboarding;
pub mod schema;
pub mod signing;
pub mod time;
#[cfg(test)]
mod vectors;
