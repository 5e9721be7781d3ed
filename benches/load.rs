//! Load harness: drives a real `haat serve` process with valid signed searches from many
//! simulated buyer apps and reports ACK throughput and latency, and the node's CPU time and
//! peak memory. Loopback only; bounded in requests and time.
//!
//!     cargo bench --bench load -- [--db sqlite|postgres] [--sqlite-sync normal|full] [--requests N]
//!         [--concurrency C] [--buyers B]
//!
//! The node runs with its own store in a temporary directory (or a fresh PostgreSQL schema)
//! and a registry served by this harness that knows every simulated buyer app.

mod harness;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use haat::protocol::signing::Signer;
use haat::protocol::time::format_timestamp;
use serde_json::{json, Value};

use harness::{percentile, proc_stat};

struct Options {
    db: String,
    sqlite_sync: String,
    requests: usize,
    concurrency: usize,
    buyers: usize,
}

fn options() -> Options {
    let mut options = Options {
        db: "sqlite".into(),
        sqlite_sync: "normal".into(),
        requests: 100_000,
        concurrency: 64,
        buyers: 20,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--db" => options.db = value,
            "--sqlite-sync" => options.sqlite_sync = value,
            "--requests" => options.requests = value.parse().expect("--requests N"),
            "--concurrency" => options.concurrency = value.parse().expect("--concurrency C"),
            "--buyers" => options.buyers = value.parse().expect("--buyers B"),
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    options
}

fn search(buyer: &str, bap_uri: &str, n: usize) -> Value {
    json!({
        "context": {"domain": "ONDC:RET12", "action": "search", "country": "IND", "city": "std:0542",
            "core_version": "1.2.5", "bap_id": buyer, "bap_uri": bap_uri,
            "transaction_id": uuid::Uuid::new_v4().to_string(), "message_id": uuid::Uuid::new_v4().to_string(),
            "timestamp": format_timestamp(chrono::Utc::now()), "ttl": "PT30S"},
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    let dir = std::env::temp_dir().join(format!("haat-load-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();

    // Simulated buyer apps and the registry that knows them.
    let buyers = harness::buyers(options.buyers, "load.test");
    let registry_url = harness::serve_registry(&buyers);

    // A sink for the callbacks the node may send.
    let sink_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let bap_uri = format!("http://{}", sink_listener.local_addr().unwrap());
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let last_answer = Arc::new(parking_lot::Mutex::new(Instant::now()));
    let counter = answered.clone();
    let last = last_answer.clone();
    let sink = HttpServer::new(move || {
        let counter = counter.clone();
        let last = last.clone();
        App::new().default_service(web::to(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            *last.lock() = Instant::now();
            async { HttpResponse::Ok().json(json!({"message": {"ack": {"status": "ACK"}}})) }
        }))
    })
    .workers(1)
    .listen(sink_listener)
    .unwrap()
    .run();
    tokio::spawn(sink);

    let database_url = match options.db.as_str() {
        "sqlite" => format!("sqlite://{}/haat.db", dir.display()),
        "postgres" => {
            let base = std::env::var("HAAT_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let schema = format!("load_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&base)
                .await
                .expect("PostgreSQL reachable");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .unwrap();
            format!("{base}?options[search_path]={schema}")
        }
        other => panic!("--db sqlite|postgres, not {other}"),
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node_url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut node = Command::new(env!("CARGO_BIN_EXE_haat"))
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
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .unwrap();
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

    // Sign every request before the clock starts: the harness's own signing is not the node's cost.
    eprintln!(
        "signing {} searches from {} buyer apps...",
        options.requests, options.buyers
    );
    let signers: Vec<Signer> = buyers
        .iter()
        .map(|(id, keys)| Signer::new(keys.signing.clone(), id, &keys.unique_key_id))
        .collect();
    let now = chrono::Utc::now().timestamp() as u64;
    let requests: Vec<(Vec<u8>, String)> = (0..options.requests)
        .map(|n| {
            let signer = &signers[n % signers.len()];
            let body = serde_json::to_vec(&search(signer.subscriber_id(), &bap_uri, n)).unwrap();
            let header = signer.authorization(&body, now, now + 600);
            (body, header)
        })
        .collect();
    let average = requests.iter().map(|(b, _)| b.len()).sum::<usize>() / requests.len();
    eprintln!("average body {average} bytes");

    // Warm the node's lookup cache for every buyer (one request each), outside the measurement.
    for (i, signer) in signers.iter().enumerate() {
        let body = serde_json::to_vec(&search(signer.subscriber_id(), &bap_uri, i)).unwrap();
        let header = signer.authorization(&body, now, now + 600);
        http.post(format!("{node_url}/search"))
            .header("Authorization", header)
            .body(body)
            .send()
            .await
            .unwrap();
    }

    let (cpu_before, _) = proc_stat(node.id());
    let queue = Arc::new(parking_lot::Mutex::new(requests.into_iter()));
    let begin = Instant::now();
    // Plain HTTP/1.1 keep-alive connections, one per worker: the lightest client there is, so
    // that the harness takes as little of the shared CPU as possible.
    let workers: Vec<_> = (0..options.concurrency)
        .map(|_| {
            let queue = queue.clone();
            let address = format!("127.0.0.1:{port}");
            tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(&address)
                    .await
                    .expect("connect to the node");
                stream.set_nodelay(true).ok();
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .expect("HTTP/1.1 handshake");
                tokio::spawn(connection);
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                loop {
                    let next = queue.lock().next();
                    let Some((body, header)) = next else { break };
                    let request = hyper::Request::post("/search")
                        .header("host", "127.0.0.1")
                        .header("content-type", "application/json")
                        .header("authorization", header)
                        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                        .unwrap();
                    let sent = Instant::now();
                    match sender.send_request(request).await {
                        Ok(response) => {
                            let ok = response.status() == 200;
                            let bytes = http_body_util::BodyExt::collect(response.into_body())
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if ok && bytes.as_ref() == br#"{"message":{"ack":{"status":"ACK"}}}"# {
                                latencies.push(sent.elapsed());
                            } else {
                                if errors == 0 {
                                    eprintln!("first refusal: {}", String::from_utf8_lossy(&bytes));
                                }
                                errors += 1;
                            }
                        }
                        Err(error) => {
                            eprintln!("request failed: {error}");
                            errors += 1;
                            break;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = begin.elapsed();
    let (cpu_after, peak_kb) = proc_stat(node.id());
    latencies.sort();
    let acks = latencies.len();
    println!(
        "load: {} signed searches, {} buyer apps, concurrency {}, store {}",
        options.requests, options.buyers, options.concurrency, options.db
    );
    println!(
        "  ACKs: {acks}, errors/NACKs: {errors}, in {:.2} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  throughput: {:.0} ACKs/s",
        acks as f64 / elapsed.as_secs_f64()
    );
    if !latencies.is_empty() {
        println!(
            "  ACK latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.90).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3
        );
    }
    println!(
        "  node CPU during the run: {:.2} s ({:.0}% of one core); peak RSS {} MB",
        cpu_after - cpu_before,
        (cpu_after - cpu_before) / elapsed.as_secs_f64() * 100.0,
        peak_kb / 1024
    );
    // Every acknowledged search is answered with an on_search within its ttl (30 s) or not at
    // all; wait until answers stop coming (5 s of silence), at most 60 s after the ttl.
    let answer_wait = Instant::now();
    while answered.load(std::sync::atomic::Ordering::Relaxed) < acks + options.buyers
        && last_answer.lock().elapsed() < Duration::from_secs(5)
        && answer_wait.elapsed() < Duration::from_secs(90)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = answered
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(options.buyers);
    let span = last_answer.lock().duration_since(begin);
    println!(
        "  on_search answers received: {got} of {acks} ({:.0}%), the last {:.1} s after the first search: {:.0} answered/s",
        got as f64 * 100.0 / acks.max(1) as f64,
        span.as_secs_f64(),
        got as f64 / span.as_secs_f64()
    );
    node.kill().ok();
    node.wait().ok();
    let _ = std::fs::remove_dir_all(&dir);
}
