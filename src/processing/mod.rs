//! Processing of acknowledged requests. The HTTP handler only journals and answers; this
//! worker takes each journaled request, runs the business logic of its action and commits the
//! outcome together with the callbacks it causes, in one transaction
//! (`Store::complete_inbound`). A request is processed once: the commit only succeeds while
//! the request is still `pending`, so replicas and restarts cannot process it twice.
//!
//! Requests left pending by a crash are picked up again by the sweep.

pub mod push;
pub mod search;
mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tracing::Instrument;

use crate::callbacks::Handoff;
use crate::config::Settings;
use crate::protocol::ack::WireError;
use crate::protocol::callback::RequestContext;
use crate::protocol::context::Action;
use crate::store::{now_ms, ClaimedCallback, NewCallback, PendingInbound, Store};

/// What processing one request decided.
pub enum Outcome {
    /// Answer with this callback message (and error, for a business failure).
    Callback {
        message: Value,
        error: Option<WireError>,
        note: String,
    },
    /// Answer with several callbacks of one action (on_search pages).
    Pages {
        /// Serialized `message` objects.
        messages: Vec<(String, Option<WireError>)>,
        note: String,
    },
    /// Nothing to send; recorded with this note.
    Recorded { state: &'static str, note: String },
}

/// What an action can refuse synchronously, before the ACK.
pub fn precheck(action: Action, body: &Value) -> Result<(), WireError> {
    match action {
        Action::Search => search::precheck(body),
        _ => Ok(()),
    }
}

#[derive(Clone)]
pub struct Processor {
    store: Store,
    settings: Arc<Settings>,
    outbox_wakeup: Arc<Notify>,
    /// Commits completed requests in groups (set by `run`).
    completer: Option<mpsc::Sender<Completion>>,
    /// Commits order changes in groups (set by `run`): changes that take or give back stock
    /// through their seller's shard, the rest through the other committers.
    order_committers: Option<OrderCommitters>,
    /// Hands the callbacks that may go out at once straight to this process's delivery
    /// worker.
    handoff: Option<Handoff>,
}

#[derive(Clone)]
struct OrderCommitters {
    /// One per shard of sellers: an order's stock is one seller's, and each seller's items
    /// are only ever locked by its shard's committer.
    stock: Vec<async_channel::Sender<PendingOrderChange>>,
    other: async_channel::Sender<PendingOrderChange>,
}

/// An order change waiting for the group commit, and where its result goes.
type PendingOrderChange = (
    crate::store::OrderChange,
    oneshot::Sender<Result<crate::store::CommitResult, String>>,
);

/// Commits order changes in groups: all that are ready share one transaction, each in its own
/// savepoint, so a busy node pays one commit for many changes. With several committers
/// (`COMMITTERS`) groups overlap (a group's statements are sequential on its connection);
/// changes that touch stock go through the committer of their seller's shard, so that two
/// groups never lock the same items in opposite orders (a deadlock). Two groups may still
/// meet on two orders' rows in opposite orders when a buyer app changes two orders at once;
/// PostgreSQL then refuses one group, whose requests stay pending and are retried by the
/// sweep. SQLite has one writer anyway. Callbacks written under the `handoff`'s lease go to
/// this process's delivery worker with their bodies; the claim loop is woken for the others.
async fn commit_order_changes(
    store: Store,
    outbox_wakeup: Arc<Notify>,
    handoff: Option<Handoff>,
    receiver: async_channel::Receiver<PendingOrderChange>,
) {
    while let Ok(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < ORDER_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (changes, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let lease = handoff.as_ref().and_then(Handoff::lease);
        match store.commit_order_changes(&changes, lease).await {
            Ok(results) => {
                let mut others = false;
                for ((change, reply), (result, leased)) in
                    changes.into_iter().zip(replies).zip(results)
                {
                    if result == crate::store::CommitResult::Done {
                        others |= hand_over(&handoff, lease, change.callbacks, leased);
                    }
                    let _ = reply.send(Ok(result));
                }
                if others {
                    outbox_wakeup.notify_one();
                }
            }
            Err(error) => {
                for reply in replies {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
        }
    }
}

/// Hands the callbacks just written under `lease` to this process's delivery worker, `leased`
/// holding for each callback written its id if it was leased. Returns whether any was left for
/// the claim loop.
fn hand_over(
    handoff: &Option<Handoff>,
    lease: Option<crate::store::WriteLease<'_>>,
    callbacks: Vec<NewCallback>,
    leased: Vec<Option<i64>>,
) -> bool {
    let mut others = false;
    let mut leased = leased.into_iter();
    for callback in callbacks {
        match (handoff, lease, leased.next().flatten()) {
            (Some(handoff), Some(lease), Some(id)) => {
                handoff.deliver(handed(id, callback), lease.until)
            }
            _ => others = true,
        }
    }
    others
}

/// Most order changes one group commit takes.
const ORDER_BATCH: usize = 32;

/// Stock shards, each with its committer, and committers of the other changes. One of each
/// on either database: on PostgreSQL three of each made smaller groups, and each group's
/// transaction costs PostgreSQL CPU, so the two-core machine of BENCHMARKS.md completed fewer
/// checkouts a second with them ("One call per confirm").
const COMMITTERS: usize = 1;

/// A processed request: its id, the note, and the callbacks it causes.
type Completion = (i64, String, Vec<NewCallback>);

/// Commits completions in groups: one transaction for all that finished together. With a
/// `handoff`, the callbacks that need no turn are written leased to this process and handed to
/// its delivery worker with their bodies, while it keeps up; the claim loop is woken for the
/// others.
async fn commit_completions(
    store: Store,
    outbox_wakeup: Arc<Notify>,
    handoff: Option<Handoff>,
    mut receiver: mpsc::Receiver<Completion>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let lease = handoff.as_ref().and_then(Handoff::lease);
        match store.complete_inbound_many(&batch, lease).await {
            Ok((done, leased)) => {
                let mut leased = leased.into_iter();
                let mut others = false;
                for ((_, _, callbacks), done) in batch.drain(..).zip(done) {
                    if !done {
                        continue;
                    }
                    let mine = leased.by_ref().take(callbacks.len()).collect();
                    others |= hand_over(&handoff, lease, callbacks, mine);
                }
                if others {
                    outbox_wakeup.notify_one();
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, requests = batch.len(), "processing could not be committed; the sweep will retry")
            }
        }
        batch.clear();
    }
}

/// A `message` as JSON text. serde_json's writer, not `Display`: `to_string()` goes through
/// `fmt` a piece at a time, which took 3.5% of the node's CPU on the order path.
pub(crate) fn text(message: &Value) -> String {
    serde_json::to_string(message).expect("messages serialise")
}

/// A callback just written under a lease, as its first attempt.
fn handed(id: i64, callback: NewCallback) -> ClaimedCallback {
    ClaimedCallback {
        id,
        action: callback.action,
        bap_id: callback.bap_id,
        url: callback.url,
        transaction_id: callback.transaction_id,
        message_id: callback.message_id,
        body: callback.body,
        attempts: 1,
        deadline_at: callback.deadline_at,
        last_error: None,
    }
}

/// How long a freshly acknowledged request is left to the live worker before a sweep takes it.
const SWEEP_GRACE_MS: i64 = 2_000;
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
const PARALLEL: usize = 4;
/// Order actions mostly wait on the store, so more of them run at once.
const PARALLEL_ORDERS: usize = 32;

/// How many requests are processed at once: searches (CPU-bound) and order actions
/// (store-bound) have their own limits.
struct Permits {
    search: Arc<Semaphore>,
    orders: Arc<Semaphore>,
}
const BATCH: usize = 256;

/// Actions whose business logic this version has; the rest are acknowledged and recorded.
fn has_logic(action: Action) -> bool {
    matches!(action, Action::Rating | Action::Support | Action::Search) || is_order_action(action)
}

/// Actions handled by `orders`, each committed with the order change it makes.
fn is_order_action(action: Action) -> bool {
    matches!(
        action,
        Action::Select
            | Action::Init
            | Action::Confirm
            | Action::Status
            | Action::Track
            | Action::Cancel
            | Action::Update
            | Action::Issue
            | Action::IssueStatus
    )
}

fn unhandled_note(action: Action) -> String {
    format!(
        "recorded; this version of Haat has no business logic for {} yet",
        action.as_str()
    )
}

impl Processor {
    pub fn new(store: Store, settings: Arc<Settings>, outbox_wakeup: Arc<Notify>) -> Self {
        Self {
            store,
            settings,
            outbox_wakeup,
            completer: None,
            order_committers: None,
            handoff: None,
        }
    }

    /// Hands the callbacks that may go out at once straight to this process's delivery worker.
    pub fn with_handoff(mut self, handoff: Handoff) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// Runs until the channel closes: requests from the HTTP handler first, and a sweep every
    /// second for requests a crash or another replica left behind. Requests that arrive
    /// together are handled together, so that recording many of them costs one write.
    pub async fn run(mut self, mut ready: mpsc::Receiver<PendingInbound>) {
        let (sender, receiver) = mpsc::channel(BATCH * 4);
        tokio::spawn(commit_completions(
            self.store.clone(),
            self.outbox_wakeup.clone(),
            self.handoff.clone(),
            receiver,
        ));
        self.completer = Some(sender);
        let committers = COMMITTERS;
        let mut stock = Vec::with_capacity(committers);
        for _ in 0..committers {
            let (sender, receiver) = async_channel::bounded(BATCH * 4);
            tokio::spawn(commit_order_changes(
                self.store.clone(),
                self.outbox_wakeup.clone(),
                self.handoff.clone(),
                receiver,
            ));
            stock.push(sender);
        }
        let (other, other_receiver) = async_channel::bounded(BATCH * 4);
        for _ in 0..committers {
            tokio::spawn(commit_order_changes(
                self.store.clone(),
                self.outbox_wakeup.clone(),
                self.handoff.clone(),
                other_receiver.clone(),
            ));
        }
        self.order_committers = Some(OrderCommitters { stock, other });
        let permits = Permits {
            search: Arc::new(Semaphore::new(PARALLEL)),
            orders: Arc::new(Semaphore::new(PARALLEL_ORDERS)),
        };
        self.sweep(i64::MAX, &permits).await;
        let mut ticker = tokio::time::interval(SWEEP_INTERVAL);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                received = ready.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break;
                    }
                    self.handle_batch(std::mem::take(&mut batch), &permits).await;
                }
                _ = ticker.tick() => {
                    // The node is stopping: what is still pending waits for the next start.
                    if self.store.is_closed() {
                        break;
                    }
                    self.sweep(now_ms() - SWEEP_GRACE_MS, &permits).await;
                }
            }
        }
    }

    /// Records requests without business logic in one statement per action, and hands the
    /// others to parallel workers.
    async fn handle_batch(&self, batch: Vec<PendingInbound>, permits: &Permits) {
        let mut unhandled: Vec<(Action, Vec<i64>)> = Vec::new();
        for request in batch {
            match Action::parse(&request.action) {
                Some(action) if !has_logic(action) => {
                    match unhandled.iter_mut().find(|(a, _)| *a == action) {
                        Some((_, ids)) => ids.push(request.id),
                        None => unhandled.push((action, vec![request.id])),
                    }
                }
                parsed => {
                    let semaphore = if parsed.is_some_and(is_order_action) {
                        &permits.orders
                    } else {
                        &permits.search
                    };
                    let permit = semaphore
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("semaphore never closes");
                    let worker = self.clone();
                    tokio::spawn(async move {
                        worker.process(request).await;
                        drop(permit);
                    });
                }
            }
        }
        for (action, ids) in unhandled {
            if let Err(error) = self
                .store
                .finish_inbound_many(&ids, "unhandled", &unhandled_note(action))
                .await
            {
                tracing::warn!(error = %error, "cannot record requests; the sweep will retry");
            }
        }
    }

    /// Hands every request still pending (and older than `older_than`) to the workers, oldest
    /// first, in batches, so that a backlog drains at the workers' pace.
    async fn sweep(&self, older_than: i64, permits: &Permits) {
        const SWEEP_BATCH: i64 = 200;
        let mut after_id = 0;
        loop {
            let pending = match self
                .store
                .pending_inbound(older_than.min(now_ms()), after_id, SWEEP_BATCH)
                .await
            {
                Ok(pending) => pending,
                Err(_) if self.store.is_closed() => return,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot read pending requests");
                    return;
                }
            };
            let Some(last) = pending.last() else { return };
            after_id = last.id;
            let full = pending.len() as i64 == SWEEP_BATCH;
            self.handle_batch(pending, permits).await;
            if !full {
                return;
            }
        }
    }

    /// Processes one journaled request and commits what it caused.
    pub async fn process(&self, request: PendingInbound) {
        let span = tracing::info_span!(
            "process",
            beckn.action = %request.action,
            beckn.transaction_id = tracing::field::Empty,
            beckn.message_id = tracing::field::Empty,
            bap.id = tracing::field::Empty,
        );
        self.process_in(request, span.clone())
            .instrument(span)
            .await
    }

    async fn process_in(&self, mut request: PendingInbound, span: tracing::Span) {
        let parsed = match request.parsed.take() {
            Some(parsed) => Ok(parsed),
            None => serde_json::from_slice::<Value>(&request.body),
        };
        let Ok(body) = parsed else {
            let _ = self
                .store
                .finish_inbound(request.id, "failed", "journaled body is not JSON")
                .await;
            return;
        };
        let default_ttl = (self.settings.inbound.default_ttl_secs * 1000) as i64;
        let Some(context) = RequestContext::read(&body, default_ttl) else {
            let _ = self
                .store
                .finish_inbound(request.id, "failed", "journaled context is incomplete")
                .await;
            return;
        };
        span.record("beckn.transaction_id", context.transaction_id.as_str());
        span.record("beckn.message_id", context.message_id.as_str());
        span.record("bap.id", context.bap_id.as_str());
        let action = Action::parse(&request.action);
        // A request whose ttl ran out while it waited (a backlog after a burst or an outage)
        // can no longer be answered usefully: the buyer app has given up on it.
        let skew = (self.settings.inbound.clock_skew_secs * 1000) as i64;
        if action.is_some_and(has_logic) && context.expires_at_ms() + skew < now_ms() {
            let note = "its ttl ran out before it could be processed; not answered";
            if let Err(error) = self.store.finish_inbound(request.id, "expired", note).await {
                tracing::warn!(error = %error, "cannot record an expired request");
            }
            tracing::warn!("request expired before it could be processed");
            return;
        }
        if let Some(action) = action.filter(|a| is_order_action(*a)) {
            self.process_order(request.id, action, &body, &context)
                .await;
            return;
        }
        let outcome = match action {
            Some(Action::Rating) => support::rating(&body),
            Some(Action::Support) => support::support(&self.settings.support),
            Some(Action::Search) => {
                match search::search(&self.store, &self.settings.catalog, &body, &context).await {
                    Ok(outcome) => outcome,
                    Err(error) => {
                        tracing::warn!(error = %error, "search could not read the catalogue; the sweep will retry");
                        return;
                    }
                }
            }
            Some(action) => Outcome::Recorded {
                state: "unhandled",
                note: unhandled_note(action),
            },
            None => Outcome::Recorded {
                state: "failed",
                note: format!("unknown action {}", request.action),
            },
        };
        let Some(callback_action) = action.and_then(Action::callback) else {
            return;
        };
        let (messages, note) = match outcome {
            Outcome::Recorded { state, note } => {
                let result = self.store.finish_inbound(request.id, state, &note).await;
                if let Err(error) = result {
                    tracing::warn!(error = %error, "processing could not be recorded; the sweep will retry");
                }
                return;
            }
            Outcome::Callback {
                message,
                error,
                note,
            } => (vec![(text(&message), error)], note),
            Outcome::Pages { messages, note } => (messages, note),
        };
        let callbacks: Vec<NewCallback> = messages
            .into_iter()
            .map(|(message, error)| {
                self.solicited_callback(request.id, &context, callback_action, message, error)
            })
            .collect();
        // Completions are committed in groups by one task (see `run`); without it, here. The
        // callbacks move to the task (a city's on_search pages are megabytes) and come back
        // if it has stopped.
        let (note, callbacks) = match &self.completer {
            Some(completer) => match completer.send((request.id, note, callbacks)).await {
                Ok(()) => return,
                Err(mpsc::error::SendError((_, note, callbacks))) => (note, callbacks),
            },
            None => (note, callbacks),
        };
        match self
            .store
            .complete_inbound(request.id, &note, &callbacks)
            .await
        {
            Ok(true) => self.outbox_wakeup.notify_one(),
            Ok(false) => tracing::debug!("request already processed elsewhere"),
            Err(error) => {
                tracing::warn!(error = %error, "processing could not be committed; the sweep will retry")
            }
        }
    }

    /// Runs an order action and commits its change with the request's completion; a change
    /// that lost a race with another is worked out again from the new state.
    async fn process_order(
        &self,
        inbound_id: i64,
        action: Action,
        body: &Value,
        context: &RequestContext,
    ) {
        let orders = crate::orders::Orders::new(self.store.clone(), self.settings.clone());
        let mut sold_out: Option<String> = None;
        for _ in 0..8 {
            let handled = match orders
                .handle(action, body, context, sold_out.as_deref())
                .await
            {
                Ok(handled) => handled,
                Err(error) => {
                    tracing::warn!(error = %error, "order request could not be processed; the sweep will retry");
                    return;
                }
            };
            let mut change = handled.change;
            change.inbound = Some((inbound_id, handled.note));
            if let (Some((message, error)), Some(callback_action)) =
                (handled.answer, action.callback())
            {
                let solicited = self.solicited_callback_at(
                    inbound_id,
                    context,
                    callback_action,
                    text(&message),
                    error,
                    handled.at.unwrap_or_else(chrono::Utc::now),
                );
                change.callbacks.insert(0, solicited);
            }
            let result = match &self.order_committers {
                Some(committers) => {
                    let committer = match change.stock.first() {
                        None => &committers.other,
                        Some((provider, _, _)) => {
                            use std::hash::{Hash, Hasher};
                            let mut hasher = std::collections::hash_map::DefaultHasher::new();
                            provider.hash(&mut hasher);
                            let shard = hasher.finish() as usize % committers.stock.len();
                            &committers.stock[shard]
                        }
                    };
                    let (reply, answer) = oneshot::channel();
                    if committer.send((change, reply)).await.is_err() {
                        return;
                    }
                    match answer.await {
                        Ok(Ok(result)) => Ok(result),
                        Ok(Err(error)) => Err(error),
                        Err(_) => return,
                    }
                }
                None => self
                    .store
                    .commit_order_change(&change)
                    .await
                    .map_err(|e| e.to_string()),
            };
            match result {
                Ok(crate::store::CommitResult::Done) => {
                    // The committers hand over or wake the claim loop themselves.
                    if self.order_committers.is_none() {
                        self.outbox_wakeup.notify_one();
                    }
                    return;
                }
                Ok(crate::store::CommitResult::AlreadyProcessed) => return,
                Ok(crate::store::CommitResult::Conflict) => continue,
                Ok(crate::store::CommitResult::OutOfStock(item)) => {
                    sold_out = Some(item);
                    continue;
                }
                Err(error) => {
                    tracing::warn!(error = %error, "order change could not be committed; the sweep will retry");
                    return;
                }
            }
        }
        tracing::warn!("order request kept conflicting with other changes; the sweep will retry");
    }

    /// A solicited callback for `context`: same message_id, due until the request's ttl ends.
    /// `message` is the serialized `message` object.
    fn solicited_callback(
        &self,
        inbound_id: i64,
        context: &RequestContext,
        action: &str,
        message: String,
        error: Option<WireError>,
    ) -> NewCallback {
        self.solicited_callback_at(
            inbound_id,
            context,
            action,
            message,
            error,
            chrono::Utc::now(),
        )
    }

    /// A solicited callback whose context.timestamp is `at`.
    fn solicited_callback_at(
        &self,
        inbound_id: i64,
        context: &RequestContext,
        action: &str,
        message: String,
        error: Option<WireError>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> NewCallback {
        let settings = &self.settings;
        let callback_context = context.callback_context(
            action,
            &settings.subscriber_id,
            &settings.subscriber_url,
            &context.message_id,
            at,
        );
        let skew = (settings.inbound.clock_skew_secs * 1000) as i64;
        NewCallback {
            action: action.to_owned(),
            solicited: true,
            inbound_id: Some(inbound_id),
            bap_id: context.bap_id.clone(),
            url: context.callback_url(action),
            transaction_id: context.transaction_id.clone(),
            message_id: context.message_id.clone(),
            domain: Some(context.domain.clone()),
            body: search::envelope(&callback_context, &message, error.as_ref()),
            deadline_at: context.expires_at_ms() + skew,
        }
    }
}
