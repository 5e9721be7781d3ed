//! Prometheus counters, served at `/metrics`.

use std::sync::Arc;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    nacks: IntCounterVec,
    callbacks: IntCounterVec,
    lookups: IntCounterVec,
    ack_latency: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "haat_requests_total",
                "Beckn requests received, by action and outcome (ack, nack, replay)",
            ),
            &["action", "outcome"],
        )
        .expect("metric definition");
        let nacks = IntCounterVec::new(
            Opts::new("haat_nacks_total", "NACKs sent, by ONDC error code"),
            &["code"],
        )
        .expect("metric definition");
        let callbacks = IntCounterVec::new(
            Opts::new(
                "haat_callbacks_total",
                "Callback delivery attempts, by action and outcome (delivered, nacked, failed, retry, dead)",
            ),
            &["action", "outcome"],
        )
        .expect("metric definition");
        let lookups = IntCounterVec::new(
            Opts::new(
                "haat_lookup_cache_total",
                "Registry key lookups, by cache result (hit, miss)",
            ),
            &["result"],
        )
        .expect("metric definition");
        let ack_latency = HistogramVec::new(
            HistogramOpts::new(
                "haat_ack_seconds",
                "Time from request received to synchronous answer",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0,
            ]),
            &["action"],
        )
        .expect("metric definition");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(nacks.clone()),
            Box::new(callbacks.clone()),
            Box::new(lookups.clone()),
            Box::new(ack_latency.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                nacks,
                callbacks,
                lookups,
                ack_latency,
            }),
        }
    }

    pub fn request(&self, action: &str, outcome: &str) {
        self.inner
            .requests
            .with_label_values(&[action, outcome])
            .inc();
    }

    pub fn nack(&self, code: &str) {
        self.inner.nacks.with_label_values(&[code]).inc();
    }

    pub fn callback(&self, action: &str, outcome: &str) {
        self.inner
            .callbacks
            .with_label_values(&[action, outcome])
            .inc();
    }

    pub fn lookup(&self, result: &str) {
        self.inner.lookups.with_label_values(&[result]).inc();
    }

    pub fn ack_latency(&self, action: &str, seconds: f64) {
        self.inner
            .ack_latency
            .with_label_values(&[action])
            .observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.inner.registry.gather(), &mut out)
            .expect("metrics encode");
        String::from_utf8(out).expect("metrics are UTF-8")
    }
}
