//! Haat: an ONDC retail seller network node (BPP) for One District One Product sellers.
//!
//! Modules in reading order: settings and start-up, the wire protocol, the HTTP edge, the
//! registry, processing of accepted requests, orders, callback delivery, and the store.

pub mod buyer;
pub mod callbacks;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dev;
pub mod error;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod orders;
pub mod processing;
pub mod protocol;
pub mod registry;
pub mod startup;
pub mod store;
pub mod telemetry;
