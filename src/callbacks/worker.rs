use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, Notify, Semaphore};
use tracing::Instrument;

use crate::config::OutboxSettings;
use crate::metrics::Metrics;
use crate::protocol::ack::{read_peer_answer, PeerAnswer};
use crate::protocol::signing::Signer;
use crate::store::{now_ms, AttemptRecord, ClaimedCallback, DeliveryOutcome, Store, WriteLease};

#[derive(Clone)]
pub struct OutboxWorker {
    store: Store,
    http: reqwest::Client,
    signer: Signer,
    settings: OutboxSettings,
    metrics: Metrics,
    wakeup: Arc<Notify>,
    /// Who holds a lease: unique per process, so a replica never records another's attempt.
    owner: String,
    /// Attempts are recorded in groups by one task (set by `run`).
    recorder: Option<mpsc::Sender<(i64, AttemptRecord, DeliveryOutcome)>>,
    /// Callbacks handed over by the commits of this process (see `Handoff`), taken by `run`.
    handed: Arc<parking_lot::Mutex<Option<HandedQueue>>>,
    /// One per delivery under way, at most `settings.concurrency`.
    permits: Arc<Semaphore>,
    /// Set when the node stops (see `Stopper`).
    stopping: Arc<AtomicBool>,
    /// Attempts sent to the recorder and not recorded yet.
    recording: Arc<AtomicUsize>,
}

/// A callback written under a `WriteLease`, with the lease's end.
type Handed = (ClaimedCallback, i64);
type HandedReceiver = mpsc::UnboundedReceiver<Handed>;
/// The worker's end of a `Handoff`: the callbacks, and how many wait.
type HandedQueue = (HandedReceiver, Arc<AtomicUsize>);

/// How the commits of this process hand their callbacks to its delivery worker. Callbacks
/// written under `lease()` are already claimed by the worker's owner in the store; handed over
/// with their bodies after the commit, they go out at once, with no claim, no read of the
/// bodies back from the store and no wait for the claim loop. Nothing is lost if the process
/// dies first: the lease runs out and the callbacks are claimed as usual.
#[derive(Clone)]
pub struct Handoff {
    owner: Arc<str>,
    lease_ms: i64,
    sender: mpsc::UnboundedSender<Handed>,
    /// Callbacks handed over and not yet taken by the worker.
    queued: Arc<AtomicUsize>,
    /// Above this many queued, callbacks are written unleased and wait for the claim, so that
    /// buyer apps slower than the commits never pile bodies up in memory.
    most_queued: usize,
    /// Once the node stops, callbacks are written unleased, for whoever delivers next.
    stopping: Arc<AtomicBool>,
}

impl Handoff {
    /// A lease for callbacks about to be written, unless the worker is behind.
    pub fn lease(&self) -> Option<WriteLease<'_>> {
        (self.queued.load(Ordering::Relaxed) < self.most_queued
            && !self.stopping.load(Ordering::Relaxed))
        .then(|| WriteLease {
            owner: &self.owner,
            until: now_ms() + self.lease_ms,
        })
    }

    /// Hands over a callback committed under a lease that ends at `lease_until`.
    pub fn deliver(&self, callback: ClaimedCallback, lease_until: i64) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        // Only fails once the worker has stopped; the lease then runs out and the callback
        // is claimed again.
        let _ = self.sender.send((callback, lease_until));
    }
}

/// How much longer than one attempt's timeout a lease lasts: time to record the attempt.
const LEASE_MARGIN_MS: i64 = 5_000;

/// The delay before attempt `attempts + 1`: `initial * 2^(attempts-1)`, capped, with the upper
/// half jittered so that retries from many callbacks do not arrive together.
pub fn backoff_ms(attempts: i64, initial_ms: u64, max_ms: u64, jitter: f64) -> u64 {
    let exponent = (attempts.max(1) - 1).min(30) as u32;
    let delay = initial_ms.saturating_mul(1u64 << exponent).min(max_ms);
    let half = delay / 2;
    half + (half as f64 * jitter.clamp(0.0, 1.0)) as u64
}

/// What an HTTP answer means for a callback.
pub fn classify(status: Option<u16>, body: &[u8]) -> Classified {
    let Some(status) = status else {
        return Classified::Retry;
    };
    match read_peer_answer(body) {
        PeerAnswer::Ack if (200..300).contains(&status) => Classified::Delivered,
        PeerAnswer::Nack { code, message } if status < 500 => Classified::Nacked { code, message },
        _ if status >= 500 || status == 408 || status == 429 => Classified::Retry,
        _ if (200..300).contains(&status) => Classified::Retry,
        _ => Classified::Failed,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    Delivered,
    Nacked {
        code: Option<String>,
        message: Option<String>,
    },
    Retry,
    Failed,
}

impl OutboxWorker {
    pub fn new(
        store: Store,
        http: reqwest::Client,
        signer: Signer,
        settings: OutboxSettings,
        metrics: Metrics,
        wakeup: Arc<Notify>,
    ) -> Self {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
        Self {
            store,
            http,
            signer,
            metrics,
            wakeup,
            owner,
            recorder: None,
            handed: Arc::default(),
            permits: Arc::new(Semaphore::new(settings.concurrency)),
            stopping: Arc::default(),
            recording: Arc::default(),
            settings,
        }
    }

    /// The way to stop this worker when the node stops; call before `run`.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            store: self.store.clone(),
            owner: self.owner.clone(),
            permits: self.permits.clone(),
            most: self.settings.concurrency,
            stopping: self.stopping.clone(),
            recording: self.recording.clone(),
            wakeup: self.wakeup.clone(),
        }
    }

    /// The way for this process's commits to hand callbacks straight to this worker; call
    /// before `run`.
    pub fn handoff(&mut self) -> Handoff {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        *self.handed.lock() = Some((receiver, queued.clone()));
        Handoff {
            owner: Arc::from(self.owner.as_str()),
            // As long as a claim's lease: one attempt and its recording, with room to wait
            // for a free delivery slot.
            lease_ms: self.settings.timeout_ms as i64 + LEASE_MARGIN_MS,
            sender,
            queued,
            most_queued: self.settings.concurrency.max(1),
            stopping: self.stopping.clone(),
        }
    }

    /// Delivers the callbacks handed over by this process's commits, within the same limit of
    /// attempts at once as claimed ones.
    async fn deliver_handed(self, (mut receiver, queued): HandedQueue, permits: Arc<Semaphore>) {
        while let Some((callback, lease_until)) = receiver.recv().await {
            queued.fetch_sub(1, Ordering::Relaxed);
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore never closes");
            // Too long in the queue for the attempt to end within the lease: leave the
            // callback to be claimed once the lease has run out, rather than risk a second
            // attempt by a claim while this one is in flight. Once the node stops, nothing
            // new starts: the stop gives the lease up.
            if now_ms() + self.settings.timeout_ms as i64 + 1_000 > lease_until
                || self.stopping.load(Ordering::SeqCst)
            {
                continue;
            }
            // With every slot taken, the claim loop waits for a delivery to end.
            let loop_waits = permits.available_permits() == 0;
            let worker = self.clone();
            tokio::spawn(async move {
                worker.deliver(callback).await;
                drop(permit);
                if loop_waits {
                    worker.wakeup.notify_one();
                }
            });
        }
    }

    /// Delivers callbacks until the process ends.
    pub async fn run(mut self) {
        let (sender, receiver) = mpsc::channel(4096);
        let permits = self.permits.clone();
        tokio::spawn(record_attempts(
            self.store.clone(),
            self.owner.clone(),
            receiver,
            self.wakeup.clone(),
            Delivering {
                permits: permits.clone(),
                most: self.settings.concurrency,
            },
            self.recording.clone(),
        ));
        self.recorder = Some(sender);
        if let Some(handed) = self.handed.lock().take() {
            tokio::spawn(self.clone().deliver_handed(handed, permits.clone()));
        }
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let free = permits.available_permits();
            let asked = free.min(128);
            let mut claimed = 0;
            if free > 0 {
                // The lease covers one attempt and its recording. If the process dies holding it, the
                // callback waits until the lease runs out and is then claimed again.
                let lease_until = now_ms() + self.settings.timeout_ms as i64 + LEASE_MARGIN_MS;
                match self
                    .store
                    .claim_due_callbacks(&self.owner, lease_until, asked as i64)
                    .await
                {
                    Ok(due) => {
                        claimed = due.len();
                        for callback in due {
                            let permit = permits
                                .clone()
                                .acquire_owned()
                                .await
                                .expect("semaphore never closes");
                            let worker = self.clone();
                            tokio::spawn(async move {
                                worker.deliver(callback).await;
                                drop(permit);
                                worker.wakeup.notify_one();
                            });
                        }
                    }
                    Err(error) => tracing::warn!(error = %error, "cannot claim callbacks"),
                }
            }
            // Fewer than asked for: nothing else is due now, so wait for news instead of asking
            // the store again at once (under load that was a claim query per callback).
            if claimed < asked || permits.available_permits() == 0 {
                tokio::select! {
                    _ = self.wakeup.notified() => {
                        // Let the news of a busy moment gather: one claim for what a
                        // millisecond brings, rather than one per commit and per delivery.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        }
    }

    /// One attempt at one callback.
    pub async fn deliver(&self, callback: ClaimedCallback) {
        let span = tracing::info_span!(
            "callback",
            beckn.action = %callback.action,
            beckn.transaction_id = %callback.transaction_id,
            beckn.message_id = %callback.message_id,
            bap.id = %callback.bap_id,
        );
        self.attempt(callback).instrument(span).await
    }

    async fn attempt(&self, mut callback: ClaimedCallback) {
        let started_at = now_ms();
        if started_at > callback.deadline_at {
            let reason = match &callback.last_error {
                Some(last) => {
                    format!("its ttl ran out before it could be delivered (last failure: {last})")
                }
                None => "its ttl ran out before it could be delivered".to_owned(),
            };
            let attempt = AttemptRecord {
                started_at,
                authorization: String::new(),
                http_status: None,
                response_body: None,
                error: Some(reason.clone()),
            };
            self.finish(&callback, &attempt, DeliveryOutcome::Dead { reason })
                .await;
            return;
        }
        let created = (started_at / 1000) as u64;
        let authorization = self.signer.authorization(
            &callback.body,
            created,
            created + self.settings.signature_validity_secs,
        );
        // The body moves to the request, uncopied: a city's on_search pages in flight are
        // megabytes.
        let body = bytes::Bytes::from(std::mem::take(&mut callback.body));
        let result = self
            .http
            .post(&callback.url)
            .timeout(Duration::from_millis(self.settings.timeout_ms))
            .header("Content-Type", "application/json")
            .header("Authorization", &authorization)
            .body(body)
            .send()
            .await;
        let (status, response_body, error) = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(bytes) => (Some(status), Some(bytes.to_vec()), None),
                    Err(e) => (
                        Some(status),
                        None,
                        Some(format!("reading the answer failed: {e}")),
                    ),
                }
            }
            Err(e) => (None, None, Some(describe(&e))),
        };
        let classified = if error.is_some() && status.is_none() {
            Classified::Retry
        } else {
            classify(status, response_body.as_deref().unwrap_or_default())
        };
        let response_text = response_body
            .as_deref()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned());
        let outcome = match classified {
            Classified::Delivered => DeliveryOutcome::Delivered,
            Classified::Nacked { code, message } => DeliveryOutcome::Nacked { code, message },
            Classified::Failed => DeliveryOutcome::Failed {
                reason: format!(
                    "the buyer app answered HTTP {} without an ACK or NACK",
                    status.unwrap_or_default()
                ),
            },
            Classified::Retry => {
                let reason = error.clone().unwrap_or_else(|| match status {
                    Some(code) => format!("the buyer app answered HTTP {code}"),
                    None => "no answer".to_owned(),
                });
                let jitter = rand::thread_rng().gen::<f64>();
                let delay = backoff_ms(
                    callback.attempts,
                    self.settings.backoff_initial_ms,
                    self.settings.backoff_max_ms,
                    jitter,
                );
                let at = now_ms() + delay as i64;
                if at > callback.deadline_at {
                    DeliveryOutcome::Dead {
                        reason: format!("{reason}; no time left to retry before its deadline"),
                    }
                } else {
                    DeliveryOutcome::Retry { at, reason }
                }
            }
        };
        let attempt = AttemptRecord {
            started_at,
            authorization,
            http_status: status,
            response_body: response_text,
            error,
        };
        self.finish(&callback, &attempt, outcome).await;
    }

    async fn finish(
        &self,
        callback: &ClaimedCallback,
        attempt: &AttemptRecord,
        outcome: DeliveryOutcome,
    ) {
        let label = match &outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Nacked { .. } => "nacked",
            DeliveryOutcome::Failed { .. } => "failed",
            DeliveryOutcome::Retry { .. } => "retry",
            DeliveryOutcome::Dead { .. } => "dead",
        };
        self.metrics.callback(&callback.action, label);
        match &outcome {
            DeliveryOutcome::Delivered => {
                tracing::info!(attempt = callback.attempts, "callback delivered")
            }
            DeliveryOutcome::Nacked { code, .. } => {
                tracing::warn!(
                    code = code.as_deref().unwrap_or("none"),
                    "the buyer app refused the callback (NACK)"
                )
            }
            DeliveryOutcome::Failed { reason } => {
                tracing::warn!(reason = %reason, "callback rejected")
            }
            DeliveryOutcome::Retry { reason, .. } => {
                tracing::info!(reason = %reason, attempt = callback.attempts, "callback will be retried")
            }
            DeliveryOutcome::Dead { reason } => {
                tracing::warn!(reason = %reason, "callback dead-lettered")
            }
        }
        if let Some(recorder) = &self.recorder {
            self.recording.fetch_add(1, Ordering::SeqCst);
            if recorder
                .send((callback.id, attempt.clone(), outcome.clone()))
                .await
                .is_ok()
            {
                return;
            }
            self.recording.fetch_sub(1, Ordering::SeqCst);
        }
        match self
            .store
            .record_attempt(callback.id, &self.owner, attempt, &outcome)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "the lease on this callback was lost before its attempt was recorded"
            ),
            Err(error) => tracing::error!(error = %error, "cannot record a callback attempt"),
        }
    }
}

/// How many deliveries are under way: the slots taken of the worker's semaphore.
struct Delivering {
    permits: Arc<Semaphore>,
    most: usize,
}

impl Delivering {
    fn now(&self) -> usize {
        self.most.saturating_sub(self.permits.available_permits())
    }
}

/// Most attempts one group records.
const ATTEMPT_GROUP: usize = 256;

/// How long the recorder waits for more attempts when more deliveries are under way than it
/// has attempts in hand. On PostgreSQL each group is one call, and a busy node's groups held
/// about five attempts each, so much of a call's cost was its own; gathering for a
/// millisecond took about 8% off PostgreSQL's CPU per checkout (BENCHMARKS.md, "Attempts
/// gathered for a millisecond"). A lone delivery is recorded at once, so that the work stays
/// out of the way of the buyer app's next request.
const ATTEMPT_GATHER: Duration = Duration::from_millis(1);

/// Writes attempts in groups: one transaction for all that finished together.
async fn record_attempts(
    store: Store,
    owner: String,
    mut receiver: mpsc::Receiver<(i64, AttemptRecord, DeliveryOutcome)>,
    wakeup: Arc<Notify>,
    delivering: Delivering,
    recording: Arc<AtomicUsize>,
) {
    let mut batch = Vec::with_capacity(ATTEMPT_GROUP);
    while receiver.recv_many(&mut batch, ATTEMPT_GROUP).await > 0 {
        if delivering.now() > batch.len() {
            tokio::time::sleep(ATTEMPT_GATHER).await;
            while batch.len() < ATTEMPT_GROUP {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        match store.record_attempts_noting_waiting(&owner, &batch).await {
            Ok((done, waiting)) => {
                // A recorded delivery may free the next callback of its transaction, which
                // waits for it (callbacks of one transaction go out in order). Retries wait
                // for their time, which the poll finds.
                if waiting {
                    wakeup.notify_one();
                }
                let lost = done.iter().filter(|d| !**d).count();
                if lost > 0 {
                    tracing::warn!(
                        callbacks = lost,
                        "leases were lost before their attempts were recorded"
                    );
                }
            }
            Err(error) => {
                tracing::error!(error = %error, attempts = batch.len(), "cannot record callback attempts")
            }
        }
        recording.fetch_sub(batch.len(), Ordering::SeqCst);
        batch.clear();
    }
}

/// Stops a worker when the node stops (see `Stopper::stop`).
pub struct Stopper {
    store: Store,
    owner: String,
    permits: Arc<Semaphore>,
    most: usize,
    stopping: Arc<AtomicBool>,
    recording: Arc<AtomicUsize>,
    wakeup: Arc<Notify>,
}

/// What stopping the worker came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Every delivery under way ended and its attempt was recorded in time.
    pub finished: bool,
    /// Callbacks this process had claimed but not sent, now free for any replica.
    pub released: u64,
}

impl Stopper {
    /// Stops claiming and handing over callbacks, lets the deliveries under way end and their
    /// attempts be recorded (for at most `within`), then gives up the leases on the callbacks
    /// this process holds but will not send, so that another replica, or this node once
    /// restarted, sends them at once instead of after their leases run out.
    pub async fn stop(self, within: Duration) -> Stopped {
        self.stopping.store(true, Ordering::SeqCst);
        self.wakeup.notify_one();
        let deadline = tokio::time::Instant::now() + within;
        // Every slot, held to the end: no delivery starts once these are taken.
        let most = u32::try_from(self.most).unwrap_or(u32::MAX);
        let slots = tokio::time::timeout_at(deadline, self.permits.acquire_many(most)).await;
        let mut finished = matches!(slots, Ok(Ok(_)));
        while finished && self.recording.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                finished = false;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let released = match self.store.release_leases(&self.owner).await {
            Ok(released) => released,
            Err(error) => {
                tracing::warn!(error = %error, "cannot give up this node's leases on callbacks; they are sent once the leases run out");
                0
            }
        };
        drop(slots);
        Stopped { finished, released }
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the buyer app did not answer in time".to_owned()
    } else if error.is_connect() {
        "cannot connect to the buyer app".to_owned()
    } else {
        format!("request failed: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_jitters_the_upper_half() {
        assert_eq!(backoff_ms(1, 500, 30_000, 1.0), 500);
        assert_eq!(backoff_ms(2, 500, 30_000, 1.0), 1000);
        assert_eq!(backoff_ms(3, 500, 30_000, 0.0), 1000);
        assert_eq!(backoff_ms(20, 500, 30_000, 1.0), 30_000);
        assert_eq!(backoff_ms(20, 500, 30_000, 0.0), 15_000);
    }

    /// A hand-over to a worker "me" that takes two callbacks waiting at most.
    fn handoff(sender: mpsc::UnboundedSender<Handed>, stopping: Arc<AtomicBool>) -> Handoff {
        Handoff {
            owner: Arc::from("me"),
            lease_ms: 15_000,
            sender,
            queued: Arc::new(AtomicUsize::new(0)),
            most_queued: 2,
            stopping,
        }
    }

    #[test]
    fn a_worker_that_is_behind_is_handed_no_more_callbacks() {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let handoff = handoff(sender, Arc::default());
        let page = |id: i64| ClaimedCallback {
            id,
            action: "on_search".into(),
            bap_id: "buyer.example".into(),
            url: "http://127.0.0.1:1/on_search".into(),
            transaction_id: "t".into(),
            message_id: "m".into(),
            body: b"{}".to_vec(),
            attempts: 1,
            deadline_at: now_ms() + 30_000,
            last_error: None,
        };
        let lease = handoff.lease().expect("an idle worker takes pages");
        assert_eq!(lease.owner, "me");
        assert!(lease.until > now_ms() + 10_000);
        handoff.deliver(page(1), lease.until);
        handoff.deliver(page(2), lease.until);
        assert!(handoff.lease().is_none(), "two waiting: write unleased");
        assert_eq!(receiver.try_recv().unwrap().0.id, 1);
        assert_eq!(receiver.try_recv().unwrap().0.id, 2);
    }

    #[test]
    fn a_stopping_worker_is_handed_no_more_callbacks() {
        let (sender, _receiver) = mpsc::unbounded_channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let handoff = handoff(sender, stopping.clone());
        assert!(handoff.lease().is_some());
        stopping.store(true, Ordering::SeqCst);
        assert!(handoff.lease().is_none(), "stopping: write unleased");
    }

    #[test]
    fn answers_are_classified_as_the_outbox_needs() {
        let ack = br#"{"message":{"ack":{"status":"ACK"}}}"#;
        let nack = br#"{"message":{"ack":{"status":"NACK"}},"error":{"code":"20008"}}"#;
        assert_eq!(classify(Some(200), ack), Classified::Delivered);
        assert!(matches!(
            classify(Some(200), nack),
            Classified::Nacked { .. }
        ));
        assert!(matches!(
            classify(Some(400), nack),
            Classified::Nacked { .. }
        ));
        assert_eq!(classify(Some(503), b""), Classified::Retry);
        assert_eq!(classify(Some(429), b""), Classified::Retry);
        assert_eq!(classify(None, b""), Classified::Retry);
        assert_eq!(classify(Some(404), b"not found"), Classified::Failed);
    }
}
