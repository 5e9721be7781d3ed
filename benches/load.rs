//! Load harness: drives a real `haat serve` process with valid signed searches from many
//! simulated buyer apps, each with its own Ed25519 key and its own callback listener, and
//! reports ACK throughput and latency, search → first on_search page latency as each buyer
//! app sees it, errors, and the node's CPU time and peak memory. Loopback only; bounded in
//! requests and in time.
//!
//!     cargo bench --bench load -- [--db sqlite|postgres] [--sqlite-sync normal|full]
//!         [--requests N] [--concurrency C] [--rate R] [--secs S] [--buyers B]
//!
//! Without `--rate`, C connections send back to back (closed loop: the most the node takes).
//! With `--rate R`, searches are sent on a fixed schedule of R a second over at most C
//! connections (open loop: what a given load feels like); each request's context timestamp
//! is its scheduled time, and latency counts from the scheduled time, so a node that falls
//! behind shows it in the latency instead of slowing the schedule down.
//!
//! The node runs with its own store in a temporary directory (or a fresh PostgreSQL schema)
//! and a registry served by this harness that knows every simulated buyer app.

mod harness;

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haat::protocol::signing::Signer;
use haat::protocol::time::format_timestamp;
use serde_json::{json, Value};

use harness::{percentile, proc_stat, stop_node};

const USAGE: &str = "\
Load harness: signed searches from simulated buyer apps against a real `haat serve`.

  cargo bench --bench load -- [OPTIONS]

Options:
  --db sqlite|postgres          store of the node (default sqlite; PostgreSQL from
                                $HAAT_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test)
  --sqlite-sync normal|full     SQLite durability (default normal)
  --requests N                  searches to send at most (default 100000)
  --concurrency C               connections (default 64)
  --rate R                      send R searches a second on a fixed schedule (default: as fast
                                as C connections go)
  --secs S                      stop sending after S seconds (default 120; 25 at most
                                without --rate, as searches signed beforehand expire)
  --buyers B                    simulated buyer apps, each with its own key and listener (default 20)
  --help                        this text

HAAT_BENCH_NODE_WRAPPER=\"valgrind --tool=callgrind --callgrind-out-file=FILE\" runs the node
under a profiler; the node is stopped with SIGTERM at the end, so the profiler writes FILE.
";

/// Longest back-to-back run: searches signed before it starts stay within their 30 s ttl.
const CLOSED_LOOP_SECS: u64 = 25;

struct Options {
    db: String,
    sqlite_sync: String,
    requests: usize,
    concurrency: usize,
    rate: Option<f64>,
    secs: u64,
    buyers: usize,
}

fn options() -> Options {
    let mut options = Options {
        db: "sqlite".into(),
        sqlite_sync: "normal".into(),
        requests: 100_000,
        concurrency: 64,
        rate: None,
        secs: 120,
        buyers: 20,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    let fail = |message: String| -> ! {
        eprintln!("{message}\n\n{USAGE}");
        std::process::exit(2)
    };
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        let number = |name: &str| -> f64 {
            value
                .parse::<f64>()
                .ok()
                .filter(|n| *n > 0.0)
                .unwrap_or_else(|| fail(format!("{name} needs a positive number, not {value:?}")))
        };
        match args[i].as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0)
            }
            "--db" => options.db = value,
            "--sqlite-sync" => options.sqlite_sync = value,
            "--requests" => options.requests = number("--requests") as usize,
            "--concurrency" => options.concurrency = number("--concurrency") as usize,
            "--rate" => options.rate = Some(number("--rate")),
            "--secs" => options.secs = number("--secs") as u64,
            "--buyers" => options.buyers = number("--buyers") as usize,
            "--bench" => {
                i += 1;
                continue;
            }
            other => fail(format!("unknown option {other}")),
        }
        i += 2;
    }
    match options.rate {
        // Bounded in time: no more than the schedule fits in --secs.
        Some(rate) => {
            options.requests = options
                .requests
                .min((rate * options.secs as f64).ceil() as usize)
        }
        // Back to back, searches are signed before the clock starts, so each must be sent
        // within its ttl (30 s) or the node rightly refuses it as stale (30022).
        None if options.secs > CLOSED_LOOP_SECS => {
            eprintln!("back to back, a run stops after {CLOSED_LOOP_SECS} s: the searches were signed before it began and their ttl is 30 s");
            options.secs = CLOSED_LOOP_SECS;
        }
        None => {}
    }
    options
}

/// What the buyer apps' listeners heard: when each search was sent (or scheduled), and the
/// time to its first on_search page.
#[derive(Default)]
struct Answers {
    sent: HashMap<String, Instant>,
    first_page: Vec<Duration>,
    pages: usize,
    last: Option<Instant>,
}

/// The transaction id of a callback body, without parsing a body of up to 150 KB.
fn transaction_id(body: &[u8]) -> Option<&str> {
    let key = br#""transaction_id":""#;
    let start = body.windows(key.len()).position(|w| w == key)? + key.len();
    let end = body[start..].iter().position(|b| *b == b'"')? + start;
    std::str::from_utf8(&body[start..end]).ok()
}

fn search(
    buyer: &str,
    bap_uri: &str,
    n: usize,
    transaction_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Value {
    json!({
        "context": {"domain": "ONDC:RET12", "action": "search", "country": "IND", "city": "std:0542",
            "core_version": "1.2.5", "bap_id": buyer, "bap_uri": bap_uri,
            "transaction_id": transaction_id, "message_id": uuid::Uuid::new_v4().to_string(),
            "timestamp": format_timestamp(at), "ttl": "PT30S"},
        "message": {"intent": {
            "item": {"descriptor": {"name": format!("banarasi silk saree {}", n % 97)}},
            "fulfillment": {"type": "Delivery", "end": {"location": {"gps": "25.317645,82.973915", "address": {"area_code": "221001"}}}},
            "payment": {"@ondc/org/buyer_app_finder_fee_type": "percent", "@ondc/org/buyer_app_finder_fee_amount": "3"},
            "tags": [{"code": "bap_terms", "list": [{"code": "static_terms", "value": ""},
                {"code": "static_terms_new", "value": "https://github.com/ONDC-Official/NP-Static-Terms/buyerNP_BNP/1.0/tc.pdf"},
                {"code": "effective_date", "value": "2026-01-01T00:00:00.000Z"}]}]
        }}
    })
}

/// A signed search ready to send.
struct Prepared {
    transaction_id: String,
    body: Vec<u8>,
    header: String,
    /// When to send it (rate mode), as an offset from the start.
    offset: Duration,
}

async fn fresh_database(options: &Options, dir: &std::path::Path) -> String {
    match options.db.as_str() {
        "sqlite" => format!("sqlite://{}/haat.db", dir.display()),
        "postgres" => {
            let base = std::env::var("HAAT_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let schema = format!("load_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
                eprintln!("PostgreSQL is not reachable at {base}: {e}");
                std::process::exit(1)
            });
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .unwrap();
            format!("{base}?options[search_path]={schema}")
        }
        other => {
            eprintln!("--db takes sqlite or postgres, not {other}\n\n{USAGE}");
            std::process::exit(2)
        }
    }
}

/// Sends searches over one keep-alive HTTP/1.1 connection (the lightest client there is, so
/// that the harness takes as little of the shared CPU as possible) until the queue is empty.
/// Each ACK's latency counts from the request's start: its send, or its scheduled time.
async fn connection(
    address: String,
    queue: async_channel::Receiver<(Prepared, Instant)>,
    answers: Arc<parking_lot::Mutex<Answers>>,
    acks: Arc<AtomicUsize>,
    errors: Arc<AtomicUsize>,
    closed_loop: bool,
) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect to the node");
    stream.set_nodelay(true).ok();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    while let Ok((prepared, scheduled)) = queue.recv().await {
        let start = if closed_loop {
            Instant::now()
        } else {
            scheduled
        };
        answers.lock().sent.insert(prepared.transaction_id, start);
        let request = hyper::Request::post("/search")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("authorization", prepared.header)
            .body(http_body_util::Full::new(bytes::Bytes::from(prepared.body)))
            .unwrap();
        match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status() == 200;
                let bytes = http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if ok && bytes.as_ref() == br#"{"message":{"ack":{"status":"ACK"}}}"# {
                    latencies.push(start.elapsed());
                    acks.fetch_add(1, Ordering::Relaxed);
                } else {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("first refusal: {}", String::from_utf8_lossy(&bytes));
                    }
                }
            }
            Err(error) => {
                eprintln!("request failed: {error}");
                errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    latencies
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn spread(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "none".into();
    }
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(sorted, 0.50)),
        ms(percentile(sorted, 0.90)),
        ms(percentile(sorted, 0.99)),
        ms(*sorted.last().unwrap())
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    let dir = std::env::temp_dir().join(format!("haat-load-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();

    // Simulated buyer apps, the registry that knows them, and their callback listeners.
    let buyers = harness::buyers(options.buyers, "load.test");
    let registry_url = harness::serve_registry(&buyers);
    let answers = Arc::new(parking_lot::Mutex::new(Answers::default()));
    let heard = answers.clone();
    let bap_uris = harness::serve_callback_listeners(options.buyers, move |body, arrived| {
        let mut answers = heard.lock();
        answers.pages += 1;
        answers.last = Some(arrived);
        if let Some(sent) = transaction_id(body).and_then(|t| answers.sent.remove(t)) {
            answers
                .first_page
                .push(arrived.saturating_duration_since(sent));
        }
    });

    let database_url = fresh_database(&options, &dir).await;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node_url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    // A profiler may wrap the node (`HAAT_BENCH_NODE_WRAPPER`, see `harness::node_command`).
    let mut node = harness::node_command(env!("CARGO_BIN_EXE_haat"))
        .arg("serve")
        .env("HAAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("HAAT_DATABASE_URL", &database_url)
        .env("HAAT_SQLITE_SYNCHRONOUS", &options.sqlite_sync)
        .env("HAAT_KEYS_FILE", dir.join("keys.json"))
        .env("HAAT_REGISTRY_URL", &registry_url)
        .env("HAAT_SUBSCRIBER_ID", "seller.load.test")
        .env("HAAT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the haat binary starts");
    let http = reqwest::Client::new();
    loop {
        if let Ok(response) = http.get(format!("{node_url}/health")).send().await {
            if response.status() == 200 {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the node did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("node up after {:?}", started.elapsed());

    let signers: Vec<Signer> = buyers
        .iter()
        .map(|(id, keys)| Signer::new(keys.signing.clone(), id, &keys.unique_key_id))
        .collect();
    let prepare = |n: usize, at: chrono::DateTime<chrono::Utc>, offset: Duration| {
        let buyer = n % signers.len();
        let signer = &signers[buyer];
        let transaction_id = uuid::Uuid::new_v4().to_string();
        let body = serde_json::to_vec(&search(
            signer.subscriber_id(),
            &bap_uris[buyer],
            n,
            &transaction_id,
            at,
        ))
        .unwrap();
        let created = at.timestamp() as u64;
        let header = signer.authorization(&body, created, created + 600);
        Prepared {
            transaction_id,
            body,
            header,
            offset,
        }
    };

    // Warm the node's lookup cache for every buyer (one request each), outside the measurement.
    for n in 0..signers.len() {
        let warm = prepare(n, chrono::Utc::now(), Duration::ZERO);
        http.post(format!("{node_url}/search"))
            .header("Authorization", warm.header)
            .body(warm.body)
            .send()
            .await
            .unwrap();
    }

    // Sign every request before the clock starts: the harness's own signing is not the node's
    // cost. On a schedule, each is stamped with its scheduled time, so the start is planned
    // after the signing is done (estimated from a sample).
    eprintln!(
        "signing {} searches from {} buyer apps...",
        options.requests, options.buyers
    );
    let sample = Instant::now();
    for n in 0..200 {
        std::hint::black_box(prepare(n, chrono::Utc::now(), Duration::ZERO));
    }
    let estimate = sample.elapsed() * (options.requests as u32 / 200 + 1);
    let planned_start = chrono::Utc::now()
        + chrono::Duration::from_std(estimate * 3 / 2 + Duration::from_secs(1)).unwrap();
    let signing_done = Instant::now() + estimate * 3 / 2 + Duration::from_secs(1);
    let requests: Vec<Prepared> = (0..options.requests)
        .map(|n| match options.rate {
            Some(rate) => {
                let offset = Duration::from_secs_f64(n as f64 / rate);
                prepare(
                    n,
                    planned_start + chrono::Duration::from_std(offset).unwrap(),
                    offset,
                )
            }
            None => prepare(n, chrono::Utc::now(), Duration::ZERO),
        })
        .collect();
    let average = requests.iter().map(|r| r.body.len()).sum::<usize>() / requests.len().max(1);
    eprintln!("average body {average} bytes");
    if options.rate.is_some() {
        tokio::time::sleep_until(signing_done.into()).await;
    }

    let (node_cpu_before, _) = proc_stat(node.id());
    let (own_cpu_before, _) = proc_stat("self");
    let acks = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let (queue, receiver) = async_channel::unbounded();
    let begin = Instant::now();
    let deadline = begin + Duration::from_secs(options.secs);
    let connections: Vec<_> = (0..options.concurrency)
        .map(|_| {
            tokio::spawn(connection(
                format!("127.0.0.1:{port}"),
                receiver.clone(),
                answers.clone(),
                acks.clone(),
                errors.clone(),
                options.rate.is_none(),
            ))
        })
        .collect();
    drop(receiver);
    let progress = {
        let (acks, errors, answers) = (acks.clone(), errors.clone(), answers.clone());
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = acks.load(Ordering::Relaxed);
                let answered = answers.lock().first_page.len();
                eprintln!(
                    "  [load {:3.0} s] {now} ACKs ({} in the last second), {} errors; {answered} searches answered",
                    begin.elapsed().as_secs_f64(),
                    now - last,
                    errors.load(Ordering::Relaxed),
                );
                last = now;
            }
        })
    };
    let mut sent = 0;
    for prepared in requests {
        let scheduled = begin + prepared.offset;
        if scheduled >= deadline || Instant::now() >= deadline {
            break;
        }
        if options.rate.is_some() {
            tokio::time::sleep_until(scheduled.into()).await;
        } else if queue.len() > options.concurrency * 2 {
            // Closed loop: keep the queue short, so that the time bound stops the run promptly.
            while queue.len() > options.concurrency && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        queue.send((prepared, scheduled)).await.unwrap();
        sent += 1;
    }
    queue.close();
    let mut latencies = Vec::new();
    for connection in connections {
        latencies.extend(connection.await.unwrap());
    }
    let elapsed = begin.elapsed();
    let (node_cpu_after, node_peak_kb) = proc_stat(node.id());
    let (own_cpu_after, _) = proc_stat("self");
    latencies.sort();
    let acks = latencies.len();
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "load: {sent} signed searches sent, {} buyer apps, {} connections, {}, store {}",
        options.buyers,
        options.concurrency,
        match options.rate {
            Some(rate) => format!("scheduled at {rate:.0}/s"),
            None => "back to back".into(),
        },
        options.db
    );
    println!(
        "  ACKs: {acks}, errors/NACKs: {errors}, in {:.2} s: {:.0} ACKs/s",
        elapsed.as_secs_f64(),
        acks as f64 / elapsed.as_secs_f64()
    );
    println!("  ACK latency: {}", spread(&latencies));
    println!(
        "  CPU while sending: node {:.2} s ({:.2} cores), peak RSS {} MB; harness {:.2} s ({:.2} cores)",
        node_cpu_after - node_cpu_before,
        (node_cpu_after - node_cpu_before) / elapsed.as_secs_f64(),
        node_peak_kb / 1024,
        own_cpu_after - own_cpu_before,
        (own_cpu_after - own_cpu_before) / elapsed.as_secs_f64(),
    );
    // Every acknowledged search is answered with an on_search within its ttl (30 s) or not at
    // all; wait until answers stop coming (5 s of silence), at most 90 s.
    let answer_wait = Instant::now();
    loop {
        let (answered, last) = {
            let answers = answers.lock();
            (answers.first_page.len(), answers.last)
        };
        let quiet = last.is_none_or(|l| l.elapsed() > Duration::from_secs(5));
        if answered >= acks || (quiet && answer_wait.elapsed() > Duration::from_secs(5)) {
            break;
        }
        if answer_wait.elapsed() > Duration::from_secs(90) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    progress.abort();
    let mut answers = answers.lock();
    let span = answers
        .last
        .map(|l| l.duration_since(begin))
        .unwrap_or_default();
    answers.first_page.sort();
    println!(
        "  on_search: {} of {acks} searches answered ({:.0}%, {} pages), the last {:.1} s after the start: {:.0} answered/s",
        answers.first_page.len(),
        answers.first_page.len() as f64 * 100.0 / acks.max(1) as f64,
        answers.pages,
        span.as_secs_f64(),
        answers.first_page.len() as f64 / span.as_secs_f64().max(1e-9)
    );
    println!(
        "  search → first on_search page at the buyer app: {}",
        spread(&answers.first_page)
    );
    stop_node(&mut node);
    let _ = std::fs::remove_dir_all(&dir);
}
