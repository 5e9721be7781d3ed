//! Delivery of queued callbacks: the worker claims due callbacks from the outbox, signs the
//! exact bytes it sends, POSTs them to the buyer app and records the answer. Network failures,
//! 5xx, 408 and 429 are retried with capped exponential backoff and jitter until the
//! callback's deadline, then dead-lettered. A NACK is recorded, not retried. Callbacks that
//! need no turn (on_search pages) are written already leased to this process and handed to
//! the worker with their bodies (`Handoff`), so they go out as soon as they are committed.

mod worker;

pub use worker::{backoff_ms, classify, Handoff, OutboxWorker, Stopped, Stopper};
