//! The store's group writes, on SQLite and PostgreSQL alike: a busy node commits many order
//! changes and delivery attempts together (on PostgreSQL as one statement per table), and
//! each must come out as if written one after the other.

use haat::store::{
    AttemptRecord, CommitResult, DeliveryOutcome, JournalEntry, JournalOutcome, JournalWriter,
    NewCallback, OrderChange, OutboxState, Store, WriteLease,
};
use serde_json::json;

use crate::helpers::*;

async fn journaled(journal: &JournalWriter, message_id: &str, transaction_id: &str) -> i64 {
    let entry = JournalEntry {
        bap_id: "buyer.example".into(),
        action: "select".into(),
        message_id: message_id.into(),
        transaction_id: Some(transaction_id.into()),
        domain: Some("ONDC:RET12".into()),
        city: Some("std:0542".into()),
        bap_uri: Some("http://127.0.0.1:1/bap".into()),
        body: format!("{{\"message_id\":\"{message_id}\"}}").into_bytes(),
        authorization: None,
        gateway_authorization: None,
        received_at: haat::store::now_ms(),
        request_timestamp: None,
        ttl_ms: None,
        response_status: 200,
        response_body: b"{\"message\":{\"ack\":{\"status\":\"ACK\"}}}".to_vec(),
        state: "pending",
    };
    match journal.record(entry).await.expect("journaled") {
        JournalOutcome::Recorded(id) => id,
        other => panic!("expected a new request, got {other:?}"),
    }
}

fn callback(action: &str, transaction_id: &str, message_id: &str) -> NewCallback {
    NewCallback {
        action: action.into(),
        solicited: true,
        inbound_id: None,
        bap_id: "buyer.example".into(),
        url: "http://127.0.0.1:1/bap".into(),
        transaction_id: transaction_id.into(),
        message_id: message_id.into(),
        domain: Some("ONDC:RET12".into()),
        body: format!("{{\"{action}\":\"{message_id}\"}}").into_bytes(),
        deadline_at: haat::store::now_ms() + 60_000,
    }
}

fn answer(inbound_id: i64, transaction_id: &str, stage: &str, actions: &[&str]) -> OrderChange {
    OrderChange {
        inbound: Some((inbound_id, format!("answered {stage}"))),
        draft: Some((
            transaction_id.into(),
            "buyer.example".into(),
            "P1".into(),
            stage.into(),
            json!({ "stage": stage }).to_string(),
        )),
        events: vec![(
            format!("order-{transaction_id}"),
            "buyer".into(),
            stage.into(),
            json!({ "inbound": inbound_id }),
        )],
        callbacks: actions
            .iter()
            .enumerate()
            .map(|(n, action)| callback(action, transaction_id, &format!("{inbound_id}-{n}")))
            .collect(),
        ..OrderChange::default()
    }
}

async fn a_group_of_changes_is_written_as_if_one_after_the_other(db: Db) {
    let store = Store::connect(&fresh_database(db).await).await.unwrap();
    let journal = JournalWriter::start(store.clone());
    let first = journaled(&journal, "m1", "t1").await;
    let second = journaled(&journal, "m2", "t1").await;
    let other = journaled(&journal, "m3", "t2").await;
    let done_before = journaled(&journal, "m4", "t3").await;
    assert!(store
        .finish_inbound(done_before, "processed", "processed earlier")
        .await
        .unwrap());

    let group = vec![
        answer(first, "t1", "selected", &["on_select", "on_status"]),
        // The same request again (a sweep racing the live worker): only its first copy counts.
        answer(first, "t1", "selected-again", &["on_select"]),
        answer(second, "t1", "initialized", &["on_init"]),
        answer(other, "t2", "selected", &["on_select"]),
        answer(done_before, "t3", "selected", &["on_select"]),
    ];
    let results: Vec<CommitResult> = store
        .commit_order_changes(&group, None)
        .await
        .unwrap()
        .into_iter()
        .map(|(result, _)| result)
        .collect();
    assert_eq!(
        results,
        vec![
            CommitResult::Done,
            CommitResult::AlreadyProcessed,
            CommitResult::Done,
            CommitResult::Done,
            CommitResult::AlreadyProcessed,
        ]
    );

    // The later change of a transaction's draft stands; the skipped ones wrote nothing.
    let (stage, _) = store.load_draft("t1").await.unwrap().unwrap();
    assert_eq!(stage, "initialized");
    assert!(store.load_draft("t3").await.unwrap().is_none());
    let t1: Vec<(String, String)> = store
        .callbacks_for_transaction("t1")
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.action, row.message_id))
        .collect();
    let expected: Vec<(String, String)> = [
        ("on_select", format!("{first}-0")),
        ("on_status", format!("{first}-1")),
        ("on_init", format!("{second}-0")),
    ]
    .into_iter()
    .map(|(a, m)| (a.to_owned(), m))
    .collect();
    assert_eq!(t1, expected, "callbacks queued once each, in order");
    assert!(store
        .callbacks_for_transaction("t3")
        .await
        .unwrap()
        .is_empty());
    let history = store.order_events("order-t1").await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["selected", "initialized"]);
    let pending = store.pending_inbound(i64::MAX, 0, 100).await.unwrap();
    let pending: Vec<i64> = pending.iter().map(|p| p.id).collect();
    assert!(
        pending.is_empty(),
        "every request is processed: {pending:?}"
    );
}

#[tokio::test]
async fn a_group_of_changes_is_written_as_if_one_after_the_other_on_sqlite() {
    a_group_of_changes_is_written_as_if_one_after_the_other(Db::Sqlite).await;
}

#[tokio::test]
async fn a_group_of_changes_is_written_as_if_one_after_the_other_on_postgres() {
    a_group_of_changes_is_written_as_if_one_after_the_other(Db::Postgres).await;
}

async fn attempts_recorded_together_each_keep_their_own_outcome(db: Db) {
    let store = Store::connect(&fresh_database(db).await).await.unwrap();
    let callbacks: Vec<NewCallback> = (0..4)
        .map(|n| callback("on_status", &format!("t{n}"), &format!("m{n}")))
        .collect();
    let ids = store.enqueue_callbacks(&callbacks).await.unwrap();
    let lease = haat::store::now_ms() + 60_000;
    let claimed = store.claim_due_callbacks("me", lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 4);
    let attempt = |status: Option<u16>, error: Option<&str>| AttemptRecord {
        started_at: haat::store::now_ms(),
        authorization: "Signature keyId=\"x\"".into(),
        http_status: status,
        response_body: status.map(|_| "{}".to_owned()),
        error: error.map(str::to_owned),
    };
    let retry_at = haat::store::now_ms() + 30_000;
    let batch = vec![
        (ids[0], attempt(Some(200), None), DeliveryOutcome::Delivered),
        (
            ids[1],
            attempt(Some(200), None),
            DeliveryOutcome::Nacked {
                code: Some("30004".into()),
                message: Some("no such item".into()),
            },
        ),
        (
            ids[2],
            attempt(None, Some("connection refused")),
            DeliveryOutcome::Retry {
                at: retry_at,
                reason: "connection refused".into(),
            },
        ),
        // The same callback twice: its first record releases the lease, so the second has none.
        (ids[0], attempt(Some(200), None), DeliveryOutcome::Delivered),
    ];
    assert_eq!(
        store.record_attempts("me", &batch).await.unwrap(),
        [true, true, true, false]
    );
    // Another owner cannot record over the lease it does not hold.
    let stranger = vec![(ids[3], attempt(Some(200), None), DeliveryOutcome::Delivered)];
    assert_eq!(
        store
            .record_attempts("someone-else", &stranger)
            .await
            .unwrap(),
        [false]
    );

    let rows = store.list_callbacks(None, 10).await.unwrap();
    let row = |id: i64| rows.iter().find(|r| r.id == id).unwrap();
    assert_eq!(row(ids[0]).state, OutboxState::Delivered.as_str());
    assert_eq!(row(ids[1]).state, OutboxState::Nacked.as_str());
    assert_eq!(row(ids[1]).nack_code.as_deref(), Some("30004"));
    assert_eq!(row(ids[2]).state, OutboxState::Pending.as_str());
    assert_eq!(row(ids[2]).next_attempt_at, retry_at);
    assert_eq!(
        row(ids[2]).last_error.as_deref(),
        Some("connection refused")
    );
    assert_eq!(row(ids[3]).state, OutboxState::Pending.as_str());
    assert_eq!(row(ids[3]).attempts, 1, "claimed once, not recorded");
    for id in &ids[..3] {
        let attempts = store.attempts_of(*id).await.unwrap();
        assert_eq!(attempts.len(), 1, "one attempt in the history of {id}");
    }
    assert!(store.attempts_of(ids[3]).await.unwrap().is_empty());
}

#[tokio::test]
async fn attempts_recorded_together_each_keep_their_own_outcome_on_sqlite() {
    attempts_recorded_together_each_keep_their_own_outcome(Db::Sqlite).await;
}

#[tokio::test]
async fn attempts_recorded_together_each_keep_their_own_outcome_on_postgres() {
    attempts_recorded_together_each_keep_their_own_outcome(Db::Postgres).await;
}

async fn callbacks_written_under_a_lease_wait_for_their_writer_until_it_runs_out(db: Db) {
    let store = Store::connect(&fresh_database(db).await).await.unwrap();
    let journal = JournalWriter::start(store.clone());
    let search = journaled(&journal, "m1", "t1").await;
    let status = journaled(&journal, "m2", "t2").await;
    let now = haat::store::now_ms();
    let lease = WriteLease {
        owner: "me",
        until: now + 60_000,
    };
    let completions = vec![
        (
            search,
            "two pages".to_owned(),
            vec![
                callback("on_search", "t1", "m1"),
                callback("on_search", "t1", "m1"),
            ],
        ),
        (
            status,
            "answered".to_owned(),
            vec![
                callback("on_status", "t2", "m2"),
                callback("on_update", "t2", "m2"),
            ],
        ),
        // Processed a moment ago in the same group: nothing of it is written.
        (
            search,
            "again".to_owned(),
            vec![callback("on_search", "t1", "m1")],
        ),
    ];
    let (done, leased) = store
        .complete_inbound_many(&completions, Some(lease))
        .await
        .unwrap();
    assert_eq!(done, [true, true, false]);
    assert_eq!(leased.len(), 4, "one entry per callback written");
    let rows = store.list_callbacks(None, 10).await.unwrap();
    assert_eq!(rows.len(), 4);
    let id_of = |action: &str| -> Vec<i64> {
        let mut ids: Vec<i64> = rows
            .iter()
            .filter(|r| r.action == action)
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    };
    let pages = id_of("on_search");
    let (on_status, on_update) = (id_of("on_status")[0], id_of("on_update")[0]);
    assert_eq!(
        leased,
        [Some(pages[0]), Some(pages[1]), Some(on_status), None],
        "the pages and the first callback of t2 are leased; the second waits its turn"
    );
    for row in &rows {
        assert_eq!(row.state, OutboxState::Pending.as_str());
        let expected = if row.id == on_update { 0 } else { 1 };
        assert_eq!(
            row.attempts, expected,
            "a leased callback is written as its first attempt"
        );
    }

    // Nobody can claim the leased ones, nor the one that waits for on_status.
    let claimed = store
        .claim_due_callbacks("other", now + 60_000, 10)
        .await
        .unwrap();
    assert!(claimed.is_empty(), "claimed {claimed:?}");
    // The writer records its attempts under the lease; nobody else can.
    let delivered = |id: i64| {
        (
            id,
            AttemptRecord {
                started_at: haat::store::now_ms(),
                authorization: "Signature keyId=\"x\"".into(),
                http_status: Some(200),
                response_body: Some("{}".into()),
                error: None,
            },
            DeliveryOutcome::Delivered,
        )
    };
    assert_eq!(
        store
            .record_attempts("other", &[delivered(pages[0])])
            .await
            .unwrap(),
        [false]
    );
    assert_eq!(
        store
            .record_attempts_noting_waiting("me", &[delivered(pages[0])])
            .await
            .unwrap(),
        (vec![true], false),
        "nothing waits for an on_search page"
    );
    let history = store.attempts_of(pages[0]).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].0, history[0].1.as_str()), (1, "delivered"));
    // Recording on_status says that on_update waits for it, and now any worker claims it.
    assert_eq!(
        store
            .record_attempts_noting_waiting("me", &[delivered(on_status)])
            .await
            .unwrap(),
        (vec![true], true)
    );
    let claimed = store
        .claim_due_callbacks("other", now + 60_000, 10)
        .await
        .unwrap();
    let claimed: Vec<i64> = claimed.iter().map(|c| c.id).collect();
    assert_eq!(claimed, [on_update]);

    // A callback that needs its turn waits for a pending page of its transaction too, even
    // one written by the same statement.
    let both = journaled(&journal, "m5", "t5").await;
    let (_, leased) = store
        .complete_inbound_many(
            &[(
                both,
                "a page and an answer".to_owned(),
                vec![
                    callback("on_search", "t5", "m5"),
                    callback("on_select", "t5", "m5"),
                ],
            )],
            Some(lease),
        )
        .await
        .unwrap();
    let leased: Vec<bool> = leased.iter().map(Option::is_some).collect();
    assert_eq!(leased, [true, false]);

    // A writer that died before delivering: once its lease has run out, any worker claims
    // the page, as its second attempt.
    let orphan = journaled(&journal, "m3", "t3").await;
    let (_, orphaned) = store
        .complete_inbound_many(
            &[(
                orphan,
                "one page".to_owned(),
                vec![callback("on_search", "t3", "m3")],
            )],
            Some(WriteLease {
                owner: "gone",
                until: haat::store::now_ms() - 1,
            }),
        )
        .await
        .unwrap();
    let claimed = store
        .claim_due_callbacks("other", haat::store::now_ms() + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((Some(claimed[0].id), claimed[0].attempts), (orphaned[0], 2));
}

#[tokio::test]
async fn callbacks_written_under_a_lease_wait_for_their_writer_until_it_runs_out_on_sqlite() {
    callbacks_written_under_a_lease_wait_for_their_writer_until_it_runs_out(Db::Sqlite).await;
}

#[tokio::test]
async fn callbacks_written_under_a_lease_wait_for_their_writer_until_it_runs_out_on_postgres() {
    callbacks_written_under_a_lease_wait_for_their_writer_until_it_runs_out(Db::Postgres).await;
}

/// A city's pages are megabytes, which PostgreSQL gets in several statements: they come out
/// whole and in order all the same, and what needs its turn still waits for them.
async fn megabytes_of_pages_are_written_whole_in_order_and_an_answer_after_them_waits(db: Db) {
    let store = Store::connect(&fresh_database(db).await).await.unwrap();
    let journal = JournalWriter::start(store.clone());
    let pull = journaled(&journal, "m1", "t1").await;
    let other = journaled(&journal, "m2", "t2").await;
    let lease = WriteLease {
        owner: "me",
        until: haat::store::now_ms() + 60_000,
    };
    // Twelve pages of 300 KB to 420 KB, each with its own filling, then an answer of the
    // same transaction.
    let mut written = Vec::new();
    for page in 0..12u8 {
        let mut page_callback = callback("on_search", "t1", "m1");
        let size = 300_000 + usize::from(page) * 10_000;
        page_callback.body = format!(
            "{{\"page\":{page},\"items\":\"{}\"}}",
            char::from(b'a' + page).to_string().repeat(size)
        )
        .into_bytes();
        written.push(page_callback);
    }
    written.push(callback("on_select", "t1", "m1"));
    let completions = vec![
        (pull, "a city's pages".to_owned(), written.clone()),
        (
            other,
            "answered".to_owned(),
            vec![callback("on_status", "t2", "m2")],
        ),
    ];
    let (done, leased) = store
        .complete_inbound_many(&completions, Some(lease))
        .await
        .unwrap();
    assert_eq!(done, [true, true]);
    let leased: Vec<bool> = leased.iter().map(Option::is_some).collect();
    let mut expected = vec![true; 12];
    expected.extend([false, true]);
    assert_eq!(
        leased, expected,
        "the pages go out at once, on_select waits for them, t2's answer need not"
    );
    let mut rows = store.list_callbacks(None, 100).await.unwrap();
    rows.sort_by_key(|r| r.id);
    assert_eq!(rows.len(), 14);
    for (row, callback) in rows.iter().zip(&written) {
        assert_eq!(row.action, callback.action);
        assert!(
            row.body == callback.body,
            "callback {} of {} bytes came back as {} bytes",
            row.id,
            callback.body.len(),
            row.body.len()
        );
    }
    assert_eq!(rows[13].action, "on_status");
}

#[tokio::test]
async fn megabytes_of_pages_are_written_whole_in_order_and_an_answer_after_them_waits_on_sqlite() {
    megabytes_of_pages_are_written_whole_in_order_and_an_answer_after_them_waits(Db::Sqlite).await;
}

#[tokio::test]
async fn megabytes_of_pages_are_written_whole_in_order_and_an_answer_after_them_waits_on_postgres()
{
    megabytes_of_pages_are_written_whole_in_order_and_an_answer_after_them_waits(Db::Postgres)
        .await;
}

/// A confirm-like change: the request it answers, stock taken, an order inserted, its event
/// and callbacks.
fn confirm(
    inbound_id: i64,
    transaction_id: &str,
    order_id: &str,
    take: (&str, &str, i64),
    actions: &[&str],
) -> OrderChange {
    let (provider, item, count) = take;
    OrderChange {
        inbound: Some((inbound_id, "confirmed".into())),
        stock: vec![(provider.into(), item.into(), count)],
        order: Some(haat::store::OrderWrite {
            id: order_id.into(),
            transaction_id: transaction_id.into(),
            bap_id: "buyer.example".into(),
            provider_id: provider.into(),
            state: "Created".into(),
            fulfillment_state: "Pending".into(),
            doc: json!({ "id": order_id }).to_string(),
            expected_version: None,
        }),
        events: vec![(
            order_id.into(),
            "buyer".into(),
            "confirmed".into(),
            json!({ "inbound": inbound_id }),
        )],
        callbacks: actions
            .iter()
            .map(|action| callback(action, transaction_id, &format!("{inbound_id}")))
            .collect(),
        ..OrderChange::default()
    }
}

async fn order_changes_written_together_lease_what_may_go_out_and_leave_nothing_when_they_fail(
    db: Db,
) {
    let store = Store::connect(&fresh_database(db).await).await.unwrap();
    let demo: haat::catalog::model::CatalogFile =
        serde_json::from_str(haat::catalog::import::DEMO).unwrap();
    let seller = demo
        .providers
        .into_iter()
        .find(|p| p.items.iter().all(|i| i.domain == "ONDC:RET16"))
        .expect("the demo has a home-and-kitchen seller");
    let provider = seller.id.clone();
    let item = seller.items[0].id.clone();
    store
        .import_catalog(
            &haat::catalog::model::CatalogFile {
                about: None,
                providers: vec![seller],
            },
            "test",
        )
        .await
        .unwrap();
    assert!(store.set_item_stock(&provider, &item, 3).await.unwrap());
    let journal = JournalWriter::start(store.clone());
    let select = journaled(&journal, "m1", "t1").await;
    let mut requests = Vec::new();
    for (m, t) in [
        ("m2", "t2"),
        ("m3", "t3"),
        ("m4", "t4"),
        ("m5", "t5"),
        ("m6", "t6"),
    ] {
        requests.push(journaled(&journal, m, t).await);
    }
    let done_before = journaled(&journal, "m7", "t7").await;
    assert!(store
        .finish_inbound(done_before, "processed", "processed earlier")
        .await
        .unwrap());
    let take = |n: i64| (provider.as_str(), item.as_str(), n);
    let group = vec![
        answer(select, "t1", "selected", &["on_select", "on_status"]),
        confirm(requests[0], "t2", "o2", take(2), &["on_confirm"]),
        // One left: taking two fails, and so does an order whose id exists, after its stock.
        confirm(requests[1], "t3", "o3", take(2), &["on_confirm"]),
        confirm(requests[2], "t4", "o2", take(1), &["on_confirm"]),
        confirm(done_before, "t7", "o7", take(1), &["on_confirm"]),
        // The one left goes to exactly one confirm.
        confirm(
            requests[3],
            "t5",
            "o5",
            take(1),
            &["on_confirm", "on_status"],
        ),
        confirm(requests[4], "t6", "o6", take(1), &["on_confirm"]),
    ];
    let lease = WriteLease {
        owner: "me",
        until: haat::store::now_ms() + 60_000,
    };
    let results = store
        .commit_order_changes(&group, Some(lease))
        .await
        .unwrap();
    let outcomes: Vec<&CommitResult> = results.iter().map(|(result, _)| result).collect();
    assert_eq!(
        outcomes,
        [
            &CommitResult::Done,
            &CommitResult::Done,
            &CommitResult::OutOfStock(item.clone()),
            &CommitResult::Conflict,
            &CommitResult::AlreadyProcessed,
            &CommitResult::Done,
            &CommitResult::OutOfStock(item.clone()),
        ]
    );
    let leased: Vec<Vec<bool>> = results
        .iter()
        .map(|(_, ids)| ids.iter().map(Option::is_some).collect())
        .collect();
    assert_eq!(
        leased,
        [
            vec![true, false],
            vec![true],
            vec![],
            vec![],
            vec![],
            vec![true, false],
            vec![],
        ],
        "the first callback of each transaction is leased, the next waits its turn"
    );
    for (transaction, written) in [
        ("t1", 2),
        ("t2", 1),
        ("t3", 0),
        ("t4", 0),
        ("t5", 2),
        ("t6", 0),
        ("t7", 0),
    ] {
        let rows = store.callbacks_for_transaction(transaction).await.unwrap();
        assert_eq!(rows.len(), written, "callbacks of {transaction}");
    }
    let on_confirm = store.callbacks_for_transaction("t2").await.unwrap();
    assert_eq!(Some(on_confirm[0].id), results[1].1[0]);
    assert!(store.load_order("o2").await.unwrap().is_some());
    assert!(store.load_order("o5").await.unwrap().is_some());
    for nothing in ["o3", "o6", "o7"] {
        assert!(store.load_order(nothing).await.unwrap().is_none());
        assert!(store.order_events(nothing).await.unwrap().is_empty());
    }
    assert_eq!(store.order_events("o2").await.unwrap().len(), 1);
    // The failed changes gave their requests back: they are still pending, for a retry.
    for failed in [requests[1], requests[2], requests[4]] {
        assert!(store
            .finish_inbound(failed, "processed", "retried")
            .await
            .unwrap());
    }
}

#[tokio::test]
async fn order_changes_written_together_lease_what_may_go_out_and_leave_nothing_when_they_fail_on_sqlite(
) {
    order_changes_written_together_lease_what_may_go_out_and_leave_nothing_when_they_fail(
        Db::Sqlite,
    )
    .await;
}

#[tokio::test]
async fn order_changes_written_together_lease_what_may_go_out_and_leave_nothing_when_they_fail_on_postgres(
) {
    order_changes_written_together_lease_what_may_go_out_and_leave_nothing_when_they_fail(
        Db::Postgres,
    )
    .await;
}

async fn an_order_and_a_draft_are_read_together_each_or_neither(db: Db) {
    let store = Store::connect(&fresh_database(db).await).await.unwrap();
    assert!(matches!(
        store.load_order_and_draft("o1", "t1").await.unwrap(),
        (None, None)
    ));
    let journal = JournalWriter::start(store.clone());
    let select = journaled(&journal, "m1", "t1").await;
    let mut change = answer(select, "t1", "initialized", &[]);
    change.order = Some(haat::store::OrderWrite {
        id: "o2".into(),
        transaction_id: "t2".into(),
        bap_id: "buyer.example".into(),
        provider_id: "p".into(),
        state: "Created".into(),
        fulfillment_state: "Pending".into(),
        doc: json!({ "id": "o2" }).to_string(),
        expected_version: None,
    });
    let results = store.commit_order_changes(&[change], None).await.unwrap();
    assert_eq!(results[0].0, CommitResult::Done);

    let (order, draft) = store.load_order_and_draft("o1", "t1").await.unwrap();
    assert!(order.is_none());
    let (stage, doc) = draft.expect("t1's draft");
    assert_eq!(stage, "initialized");
    assert_eq!(doc, json!({ "stage": "initialized" }).to_string());

    let (order, draft) = store.load_order_and_draft("o2", "t9").await.unwrap();
    let order = order.expect("order o2");
    assert_eq!((order.doc.as_str(), order.version), (r#"{"id":"o2"}"#, 1));
    assert!(draft.is_none());

    let (order, draft) = store.load_order_and_draft("o2", "t1").await.unwrap();
    assert!(order.is_some() && draft.is_some());
}

#[tokio::test]
async fn an_order_and_a_draft_are_read_together_each_or_neither_on_sqlite() {
    an_order_and_a_draft_are_read_together_each_or_neither(Db::Sqlite).await;
}

#[tokio::test]
async fn an_order_and_a_draft_are_read_together_each_or_neither_on_postgres() {
    an_order_and_a_draft_are_read_together_each_or_neither(Db::Postgres).await;
}
