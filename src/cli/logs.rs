//! `haat logs export`: a transaction's certification logs, one file per message as ONDC's log
//! validation expects them, or one HTTP Archive for debugging. Bodies are written exactly as
//! received or sent (the stored bytes); naming and ordering are `crate::logs`.
//!
//! A callback counts as sent once the buyer app received it and answered with an ACK or a
//! NACK. Callbacks that never got that far (still pending, failed or dead) are left out of
//! the certification files and counted in the report; the HAR shows every attempt made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::logs::{file_names, time_order, Direction, Moment};
use crate::protocol::time::format_timestamp;
use crate::store::{ReceivedRequest, SentCallback, Store, StoreError, TransactionLog};

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct LogExport {
    pub transaction_id: String,
    /// Another transaction whose search and on_search pages go first.
    pub with_search: Option<String>,
    pub out_dir: PathBuf,
    pub format: LogFormat,
    /// Write into a directory that already has files in it.
    pub force: bool,
    /// This node's subscriber_url, the address requests were sent to (for the HAR).
    pub subscriber_url: String,
    /// The store, as error messages name it (credentials redacted).
    pub store_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One file per request and callback, as ONDC's log validation takes them.
    Json,
    /// One HTTP Archive 1.2 file with every request and delivery attempt, for debugging.
    Har,
}

/// One file written.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub direction: Direction,
    pub action: String,
    /// Unix ms: when it was received or first sent.
    pub at: i64,
    pub bytes: usize,
}

/// What an export wrote and what it left out.
#[derive(Debug, Clone, Default)]
pub struct ExportReport {
    pub files: Vec<WrittenFile>,
    /// HAR only: how many entries the archive holds.
    pub har_entries: usize,
    /// Callbacks not exported because no attempt reached the buyer app: (action, state).
    pub not_delivered: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("no request or callback of transaction {transaction} is in the store at {store}; check the id with `haat outbox list --json` (its transaction_id)")]
    UnknownTransaction { transaction: String, store: String },
    #[error("no search or on_search of transaction {transaction} is in the store at {store}; --with-search takes the transaction_id of a catalogue pull")]
    NoSearch { transaction: String, store: String },
    #[error("{0} is not empty; choose a new or empty directory, or pass --force to write into it anyway (files of the same name are replaced, others are left as they are)")]
    DirectoryNotEmpty(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One message of the log, borrowed from what the store returned.
enum Entry<'a> {
    Request(&'a ReceivedRequest),
    Callback(&'a SentCallback),
}

impl Entry<'_> {
    fn action(&self) -> &str {
        match self {
            Entry::Request(r) => &r.action,
            Entry::Callback(c) => &c.action,
        }
    }

    fn body(&self) -> &[u8] {
        match self {
            Entry::Request(r) => &r.body,
            Entry::Callback(c) => &c.body,
        }
    }

    fn moment(&self) -> Moment {
        match self {
            Entry::Request(r) => Moment {
                direction: Direction::Received,
                id: r.id,
                at: r.received_at,
                answers: None,
            },
            Entry::Callback(c) => Moment {
                direction: Direction::Sent,
                id: c.id,
                at: c
                    .attempts
                    .iter()
                    .find(|a| a.was_sent())
                    .map_or(c.created_at, |a| a.started_at),
                answers: c.inbound_id,
            },
        }
    }
}

/// Writes the logs of `export.transaction_id` into `export.out_dir`.
pub async fn export_logs(store: &Store, export: &LogExport) -> Result<ExportReport, LogsError> {
    let log = store.transaction_log(&export.transaction_id).await?;
    if log.is_empty() {
        return Err(LogsError::UnknownTransaction {
            transaction: export.transaction_id.clone(),
            store: export.store_name.clone(),
        });
    }
    let search_log = match &export.with_search {
        Some(transaction) => {
            let mut search = store.transaction_log(transaction).await?;
            search.requests.retain(|r| r.action == "search");
            search.callbacks.retain(|c| c.action == "on_search");
            if search.is_empty() {
                return Err(LogsError::NoSearch {
                    transaction: transaction.clone(),
                    store: export.store_name.clone(),
                });
            }
            search
        }
        None => TransactionLog::default(),
    };
    prepare_directory(&export.out_dir, export.force)?;
    match export.format {
        LogFormat::Json => write_files(&[&search_log, &log], &export.out_dir).await,
        LogFormat::Har => write_har(&[&search_log, &log], export).await,
    }
}

fn prepare_directory(dir: &Path, force: bool) -> Result<(), LogsError> {
    let write_error = |source| LogsError::Write {
        path: dir.to_owned(),
        source,
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(LogsError::DirectoryNotEmpty(dir.to_owned()));
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(write_error)
        }
        Err(_) if dir.exists() => Err(LogsError::NotADirectory(dir.to_owned())),
        Err(error) => Err(write_error(error)),
    }
}

/// The messages of each log in time order, the logs one after the other.
fn ordered<'a>(logs: &[&'a TransactionLog]) -> Vec<Entry<'a>> {
    let mut all = Vec::new();
    for log in logs {
        let entries: Vec<Entry<'a>> = log
            .requests
            .iter()
            .map(Entry::Request)
            .chain(log.callbacks.iter().map(Entry::Callback))
            .collect();
        let moments: Vec<Moment> = entries.iter().map(Entry::moment).collect();
        let mut slots: Vec<Option<Entry<'a>>> = entries.into_iter().map(Some).collect();
        all.extend(
            time_order(&moments)
                .into_iter()
                .filter_map(|index| slots[index].take()),
        );
    }
    all
}

async fn write_files(logs: &[&TransactionLog], dir: &Path) -> Result<ExportReport, LogsError> {
    let mut report = ExportReport::default();
    let entries: Vec<Entry> = ordered(logs)
        .into_iter()
        .filter(|entry| match entry {
            Entry::Request(_) => true,
            Entry::Callback(c) if c.attempts.iter().any(|a| a.reached_the_buyer_app()) => true,
            Entry::Callback(c) => {
                report
                    .not_delivered
                    .push((c.action.clone(), c.state.clone()));
                false
            }
        })
        .collect();
    let names = file_names(entries.iter().map(|e| (e.action(), e.body())));
    for (entry, name) in entries.iter().zip(names) {
        let path = dir.join(name);
        tokio::fs::write(&path, entry.body())
            .await
            .map_err(|source| LogsError::Write {
                path: path.clone(),
                source,
            })?;
        let moment = entry.moment();
        report.files.push(WrittenFile {
            path,
            direction: moment.direction,
            action: entry.action().to_owned(),
            at: moment.at,
            bytes: entry.body().len(),
        });
    }
    Ok(report)
}

/// One HAR entry per request received and per delivery attempt that was sent, by start time.
async fn write_har(
    logs: &[&TransactionLog],
    export: &LogExport,
) -> Result<ExportReport, LogsError> {
    let base = export.subscriber_url.trim_end_matches('/');
    // (group, start, direction, id): the with-search log first, then by time.
    let mut entries: BTreeMap<(usize, i64, Direction, i64, i64), Value> = BTreeMap::new();
    let mut report = ExportReport::default();
    for (group, log) in logs.iter().enumerate() {
        for request in &log.requests {
            let mut headers = vec![json!({"name": "Content-Type", "value": "application/json"})];
            if let Some(value) = &request.authorization {
                headers.push(json!({"name": "Authorization", "value": value}));
            }
            if let Some(value) = &request.gateway_authorization {
                headers.push(json!({"name": "X-Gateway-Authorization", "value": value}));
            }
            let entry = har_entry(HarExchange {
                started_at: request.received_at,
                time_ms: 0,
                url: format!("{base}/{}", request.action),
                headers,
                body: &request.body,
                status: request.response_status,
                answer: &request.response_body,
                comment: format!(
                    "{} received from {}, message_id {}; journal state {}",
                    request.action, request.bap_id, request.message_id, request.state
                ),
            });
            entries.insert(
                (
                    group,
                    request.received_at,
                    Direction::Received,
                    request.id,
                    0,
                ),
                entry,
            );
        }
        for callback in &log.callbacks {
            let sent: Vec<_> = callback.attempts.iter().filter(|a| a.was_sent()).collect();
            if !callback.attempts.iter().any(|a| a.reached_the_buyer_app()) {
                report
                    .not_delivered
                    .push((callback.action.clone(), callback.state.clone()));
            }
            for attempt in sent {
                let outcome = match &attempt.error {
                    Some(error) => format!("{}: {error}", attempt.outcome),
                    None => attempt.outcome.clone(),
                };
                let entry = har_entry(HarExchange {
                    started_at: attempt.started_at,
                    time_ms: (attempt.finished_at - attempt.started_at).max(0),
                    url: callback.url.clone(),
                    headers: vec![
                        json!({"name": "Content-Type", "value": "application/json"}),
                        json!({"name": "Authorization", "value": attempt.authorization}),
                    ],
                    body: &callback.body,
                    status: attempt.http_status.unwrap_or(0),
                    answer: attempt.response_body.as_deref().unwrap_or_default(),
                    comment: format!(
                        "{} sent, message_id {}, attempt {}: {outcome}",
                        callback.action, callback.message_id, attempt.attempt
                    ),
                });
                entries.insert(
                    (
                        group,
                        attempt.started_at,
                        Direction::Sent,
                        callback.id,
                        attempt.attempt,
                    ),
                    entry,
                );
            }
        }
    }
    report.har_entries = entries.len();
    let har = json!({"log": {
        "version": "1.2",
        "creator": {"name": "haat", "version": env!("CARGO_PKG_VERSION")},
        "pages": [],
        "entries": entries.into_values().collect::<Vec<_>>(),
    }});
    let mut bytes = serde_json::to_vec_pretty(&har).expect("a JSON value serializes");
    bytes.push(b'\n');
    let path = export
        .out_dir
        .join(crate::logs::har_file_name(&export.transaction_id));
    tokio::fs::write(&path, &bytes)
        .await
        .map_err(|source| LogsError::Write {
            path: path.clone(),
            source,
        })?;
    report.files.push(WrittenFile {
        path,
        direction: Direction::Sent,
        action: "har".to_owned(),
        at: crate::store::now_ms(),
        bytes: bytes.len(),
    });
    Ok(report)
}

struct HarExchange<'a> {
    started_at: i64,
    time_ms: i64,
    url: String,
    headers: Vec<Value>,
    body: &'a [u8],
    /// 0 when no answer came.
    status: i64,
    answer: &'a str,
    comment: String,
}

fn har_entry(exchange: HarExchange) -> Value {
    let started = chrono::DateTime::from_timestamp_millis(exchange.started_at)
        .map(format_timestamp)
        .unwrap_or_default();
    let status_text = u16::try_from(exchange.status)
        .ok()
        .and_then(|code| reqwest::StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or_default();
    json!({
        "startedDateTime": started,
        "time": exchange.time_ms,
        "request": {
            "method": "POST",
            "url": exchange.url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": exchange.headers,
            "queryString": [],
            "postData": {"mimeType": "application/json", "text": String::from_utf8_lossy(exchange.body)},
            "headersSize": -1,
            "bodySize": exchange.body.len(),
        },
        "response": {
            "status": exchange.status,
            "statusText": status_text,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": exchange.answer.len(), "mimeType": "application/json", "text": exchange.answer},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": exchange.answer.len(),
        },
        "cache": {},
        "timings": {"send": 0, "wait": exchange.time_ms, "receive": 0},
        "comment": exchange.comment,
    })
}

/// Prints what an export wrote, one line per file, and what it left out.
pub fn print_report(report: &ExportReport, export: &LogExport) {
    for file in &report.files {
        let name = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let what = match (export.format, file.direction) {
            (LogFormat::Har, _) => format!("{} entries", report.har_entries),
            (LogFormat::Json, Direction::Received) => format!("{} received", file.action),
            (LogFormat::Json, Direction::Sent) => format!("{} sent", file.action),
        };
        let at = chrono::DateTime::from_timestamp_millis(file.at)
            .map(format_timestamp)
            .unwrap_or_default();
        println!("{name:<40} {what:<24} {at}  {} bytes", file.bytes);
    }
    eprintln!(
        "Wrote {} file{} for transaction {} into {}.",
        report.files.len(),
        if report.files.len() == 1 { "" } else { "s" },
        export.transaction_id,
        export.out_dir.display()
    );
    if !report.not_delivered.is_empty() {
        let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, state) in &report.not_delivered {
            *by_state.entry(state.as_str()).or_default() += 1;
        }
        let states: Vec<String> = by_state
            .iter()
            .map(|(state, count)| format!("{count} {state}"))
            .collect();
        let left_out = match export.format {
            LogFormat::Json => "are not in the files",
            LogFormat::Har => "show only the attempts made",
        };
        eprintln!(
            "{} callback{} never reached the buyer app ({}) and {left_out}; `haat outbox list` shows them.",
            report.not_delivered.len(),
            if report.not_delivered.len() == 1 { "" } else { "s" },
            states.join(", ")
        );
    }
}
