//! What the load harnesses share: simulated buyer apps, the registry that knows them, their
//! callback listeners, the node's command line (under a profiler if asked), and measurements of
//! percentiles and of a process's CPU time and peak memory.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use haat::protocol::keys::KeyPairs;
use serde_json::{json, Value};

/// `count` simulated buyer apps, `buyer<i>.<domain>`, each with its own keys.
pub fn buyers(count: usize, domain: &str) -> Vec<(String, KeyPairs)> {
    (0..count)
        .map(|i| {
            (
                format!("buyer{i}.{domain}"),
                KeyPairs::generate(&format!("k{i}")),
            )
        })
        .collect()
}

/// Serves a `/v2.0/lookup` registry that knows `buyers`; returns its URL.
pub fn serve_registry(buyers: &[(String, KeyPairs)]) -> String {
    let records: Arc<Vec<Value>> = Arc::new(
        buyers
            .iter()
            .map(|(id, keys)| json!({"subscriber_id": id, "ukId": keys.unique_key_id, "type": "BAP", "status": "SUBSCRIBED",
                "signing_public_key": keys.signing_public_b64(), "valid_until": "2099-01-01T00:00:00.000Z"}))
            .collect(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let records = records.clone();
        App::new().route(
            "/v2.0/lookup",
            web::post().to(move |body: web::Json<Value>| {
                let records = records.clone();
                async move {
                    let found: Vec<&Value> = records
                        .iter()
                        .filter(|r| r["subscriber_id"] == body["subscriber_id"])
                        .collect();
                    HttpResponse::Ok().json(found)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    url
}

/// `count` callback listeners, one per simulated buyer app, served by one single-threaded
/// server that ACKs every callback after handing its body (and arrival time) to `heard`;
/// returns each listener's URL (a bap_uri). The order bench keeps a listener of its own, which
/// checks every callback's signature.
#[allow(dead_code)]
pub fn serve_callback_listeners<F>(count: usize, heard: F) -> Vec<String>
where
    F: Fn(&[u8], std::time::Instant) + Clone + Send + 'static,
{
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let urls = listeners
        .iter()
        .map(|l| format!("http://{}", l.local_addr().unwrap()))
        .collect();
    let mut server = HttpServer::new(move || {
        let heard = heard.clone();
        App::new()
            .app_data(web::PayloadConfig::new(8 << 20))
            .default_service(web::to(move |body: web::Bytes| {
                heard(&body, std::time::Instant::now());
                async { HttpResponse::Ok().json(json!({"message": {"ack": {"status": "ACK"}}})) }
            }))
    })
    .workers(1);
    for listener in listeners {
        server = server.listen(listener).unwrap();
    }
    tokio::spawn(server.run());
    urls
}

/// The value at fraction `p` of a sorted sample.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU seconds (user + system) and peak RSS in kB of a process (a pid, or "self"), from
/// `/proc`.
pub fn proc_stat(pid: impl std::fmt::Display) -> (f64, u64) {
    let ticks = 100.0; // USER_HZ on Linux
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = field(11) + field(12);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kb = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu / ticks, peak_kb)
}

/// The command that starts the release `haat` binary, wrapped by a profiler when
/// `HAAT_BENCH_NODE_WRAPPER` names one (e.g. `valgrind --tool=callgrind`); the CPU and memory
/// figures are then the wrapper's.
pub fn node_command(haat: &str) -> std::process::Command {
    let wrapper = std::env::var("HAAT_BENCH_NODE_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut command = std::process::Command::new(program);
            command.args(words).arg(haat);
            command
        }
        None => std::process::Command::new(haat),
    }
}

/// Stops the node as an operator would (SIGTERM), so that a profiler wrapping it writes its
/// output; kills it if it has not stopped within a minute.
pub fn stop_node(node: &mut std::process::Child) {
    let asked = std::process::Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status()
        .is_ok_and(|status| status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while asked && std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = node.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    node.kill().ok();
    node.wait().ok();
}
