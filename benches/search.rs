//! search → signed on_search bodies on a generated catalogue of 100,000 items from 2,000
//! sellers in 20 cities (5,000 items a city):
//! a filtered search (text + city + drop point) and a full city pull, timed from the journaled
//! request to the signed bodies ready for the outbox (catalogue query, serviceability, pages,
//! serialisation, Ed25519 signature), on SQLite or PostgreSQL.
//!
//! Then, with the real node (`--node-searches N`, 0 to skip): the release `haat serve` is
//! started on that store, timed from its start to the first ACK of a signed search (cold
//! start); simulated buyer apps, each with its own key and its own callback listener, send N
//! filtered searches (`--concurrency C` at once) and time each from sending to the first
//! on_search page arriving at that buyer app, then five full city pulls; the node's CPU time
//! and peak memory (VmHWM) are read from `/proc`. Loopback only; bounded by N.
//!
//!     cargo bench --bench search -- [--db sqlite|postgres] [--sellers 2000] [--items 50] [--runs 30]
//!         [--node-searches 2000] [--concurrency 8] [--buyers 8] [--node-intent broad|selective]
//!         [--keep-store]

mod harness;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{buyers, percentile, proc_stat, serve_callback_listeners, serve_registry, stop_node};
use parking_lot::Mutex;

use haat::catalog::model::*;
use haat::config::Settings;
use haat::processing::search::{envelope, search};
use haat::processing::Outcome;
use haat::protocol::callback::RequestContext;
use haat::protocol::keys::KeyPairs;
use haat::protocol::signing::Signer;
use haat::store::Store;
use serde_json::{json, Value};

const CITIES: [(&str, &str, &str, &str); 20] = [
    ("0542", "221001", "25.317645,82.973915", "Varanasi"),
    ("080", "560001", "12.971599,77.594566", "Bengaluru"),
    ("011", "110001", "28.613939,77.209023", "New Delhi"),
    ("022", "400001", "18.938771,72.835335", "Mumbai"),
    ("033", "700001", "22.572646,88.363895", "Kolkata"),
    ("044", "600001", "13.082680,80.270718", "Chennai"),
    ("040", "500001", "17.385044,78.486671", "Hyderabad"),
    ("079", "380001", "23.022505,72.571365", "Ahmedabad"),
    ("0141", "302001", "26.912434,75.787270", "Jaipur"),
    ("0522", "226001", "26.846694,80.946166", "Lucknow"),
    ("020", "411001", "18.520430,73.856743", "Pune"),
    ("0612", "800001", "25.594095,85.137566", "Patna"),
    ("0361", "781001", "26.144518,91.736237", "Guwahati"),
    ("0674", "751001", "20.296059,85.824539", "Bhubaneswar"),
    ("0755", "462001", "23.259933,77.412615", "Bhopal"),
    ("0172", "160017", "30.733315,76.779419", "Chandigarh"),
    ("0471", "695001", "8.524139,76.936638", "Thiruvananthapuram"),
    ("0191", "180001", "32.726602,74.857026", "Jammu"),
    ("0135", "248001", "30.316496,78.032188", "Dehradun"),
    ("0824", "575001", "12.914142,74.855957", "Mangaluru"),
];
const CRAFTS: [&str; 10] = [
    "banarasi",
    "pashmina",
    "chanderi",
    "ikat",
    "jamdani",
    "kantha",
    "phulkari",
    "bandhani",
    "kalamkari",
    "tussar",
];
const THINGS: [&str; 5] = ["saree", "shawl", "stole", "dupatta", "fabric"];

const USAGE: &str = "\
Search on a generated catalogue of 100,000 items, in process and through the real node.

  cargo bench --bench search -- [OPTIONS]

Options:
  --db sqlite|postgres     store (default sqlite)
  --sellers N              sellers to generate (default 2000)
  --items N                items per seller (default 50)
  --runs N                 in-process runs of each search (default 30)
  --node-searches N        filtered searches through the real node, 0 to skip (default 2000)
  --concurrency C          of those at once (default 8)
  --node-intent broad|selective
                           words matching about 500 items of a city (\"ikat dupatta\"), or
                           about 100 (\"ikat dupatta 12\") (default broad)
  --buyers B               simulated buyer apps (default 8)
  --keep-store             leave the store for inspection
  --help                   this text

HAAT_BENCH_NODE_WRAPPER=\"heaptrack -o FILE\" runs the node under a profiler.
";

fn option(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

/// A seller of handloom in one of the cities, with `items` sarees and shawls.
fn seller(n: usize, items: usize) -> Provider {
    let (std_code, pincode, gps, city) = CITIES[n % CITIES.len()];
    let id = format!("seller-{n:05}");
    let item_list = (0..items)
        .map(|k| {
            let craft = CRAFTS[(n * 7 + k) % CRAFTS.len()];
            let thing = THINGS[(n + k * 3) % THINGS.len()];
            let mut attributes = std::collections::BTreeMap::new();
            for (key, value) in [("gender", "female"), ("colour", "#8B0000"), ("colour_name", "maroon"), ("size", "Free Size"),
                ("brand", "Generated Weavers"), ("size_chart", "https://haat.example/size-charts/free-size.png"), ("fabric", "silk")] {
                attributes.insert(key.to_owned(), value.to_owned());
            }
            Item {
                id: format!("{id}-{k:03}"),
                location_id: format!("{id}-store"),
                domain: "ONDC:RET12".into(),
                category_id: if thing == "saree" { "Sarees".into() } else { "Dupattas & Shawls".into() },
                name: format!("{craft} silk {thing} {k}"),
                short_desc: format!("Handwoven {craft} {thing}"),
                long_desc: format!("A {craft} {thing} woven on a pit loom by the weavers of {city}; generated benchmark data."),
                code: "4:500720".into(),
                images: vec![format!("https://haat.example/images/{id}/{k}.jpg")],
                price: format!("{}.00", 1500 + (k * 37) % 9000),
                mrp: format!("{}.00", 1500 + (k * 37) % 9000 + 500),
                stock: (k % 7) as i64,
                max_per_order: 5,
                unit: "unit".into(),
                unit_value: "1".into(),
                returnable: true,
                cancellable: true,
                return_window: "P7D".into(),
                seller_pickup_return: false,
                time_to_ship: "P2D".into(),
                cod: false,
                veg: None,
                parent_item_id: None,
                gst_percent: None,
                attributes,
                packaged_commodities: Some(PackagedCommodities {
                    manufacturer_or_packer_name: "Generated Weavers".into(),
                    manufacturer_or_packer_address: format!("Weavers Colony, {city} {pincode}"),
                    common_or_generic_name_of_commodity: "Saree".into(),
                    month_year_of_manufacture_packing_import: "10/2026".into(),
                }),
                prepackaged_food: None,
                enabled: true,
            }
        })
        .collect();
    Provider {
        id: id.clone(),
        name: format!("Generated Weavers {n} (benchmark)"),
        short_desc: "Handloom weavers".into(),
        long_desc: "Generated benchmark seller.".into(),
        symbol: Some(format!("https://haat.example/images/{id}/logo.png")),
        images: vec![],
        odop: Odop {
            state: "Uttar Pradesh".into(),
            district: city.into(),
            product: "Handloom".into(),
            sector: "handloom".into(),
        },
        creds: vec![],
        kyc: Kyc {
            gstin: "09AAACG1234F1Z5".into(),
            pan: "AAACG1234F".into(),
            fssai: None,
        },
        consumer_care: Contact {
            name: "Generated Weavers".into(),
            email: "care@generated.example".into(),
            phone: "9876543210".into(),
        },
        min_order_value: None,
        terms: Default::default(),
        sample: true,
        enabled: true,
        locations: vec![Location {
            id: format!("{id}-store"),
            gps: gps.into(),
            street: "Weavers Colony".into(),
            locality: "Old City".into(),
            city: city.into(),
            state: "Uttar Pradesh".into(),
            area_code: pincode.into(),
            std_code: std_code.into(),
            days: "1,2,3,4,5,6".into(),
            open: "1000".into(),
            close: "1900".into(),
            holidays: vec![],
            serviceability: if n % 4 == 0 {
                Serviceability::Radius { km: 15.0 }
            } else {
                Serviceability::PanIndia
            },
            fulfillments: vec!["Delivery".into()],
            enabled: true,
        }],
        variant_groups: vec![],
        items: item_list,
    }
}

fn request(city: &str, intent: Value) -> Value {
    json!({"context": {"domain": "ONDC:RET12", "country": "IND", "city": city, "action": "search", "core_version": "1.2.5",
        "bap_id": "buyer.bench.test", "bap_uri": "https://buyer.bench.test/ondc",
        "transaction_id": uuid::Uuid::new_v4().to_string(), "message_id": uuid::Uuid::new_v4().to_string(),
        "timestamp": haat::protocol::time::format_timestamp(chrono::Utc::now()), "ttl": "PT30S"},
        "message": {"intent": intent}})
}

/// One search all the way to signed bodies; returns (pages, items, bytes).
async fn run_once(
    store: &Store,
    settings: &Settings,
    signer: &Signer,
    body: &Value,
) -> (usize, usize, usize) {
    let context = RequestContext::read(body, 30_000).unwrap();
    let Outcome::Pages { messages, .. } = search(store, &settings.catalog, body, &context)
        .await
        .unwrap()
    else {
        panic!("pages")
    };
    let mut bytes = 0;
    let mut items = 0;
    for (message, error) in &messages {
        items += message.matches("\"@ondc/org/time_to_ship\"").count();
        let callback_context = context.callback_context(
            "on_search",
            &settings.subscriber_id,
            &settings.subscriber_url,
            &context.message_id,
            chrono::Utc::now(),
        );
        let raw = envelope(&callback_context, message, error.as_ref());
        let now = chrono::Utc::now().timestamp() as u64;
        std::hint::black_box(signer.authorization(&raw, now, now + 300));
        bytes += raw.len();
    }
    (messages.len(), items, bytes)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return;
    }
    let db = option(&args, "--db", "sqlite");
    let sellers: usize = option(&args, "--sellers", "2000").parse().unwrap();
    let items: usize = option(&args, "--items", "50").parse().unwrap();
    let runs: usize = option(&args, "--runs", "30").parse().unwrap();
    let dir = std::env::temp_dir().join(format!("haat-search-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = match db.as_str() {
        "sqlite" => format!("sqlite://{}/haat.db", dir.display()),
        _ => {
            let base = std::env::var("HAAT_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&base).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .unwrap();
            format!("{base}?options[search_path]={schema}")
        }
    };
    let env: HashMap<&str, String> = [
        ("HAAT_DATABASE_URL", url.clone()),
        ("HAAT_KEYS_FILE", dir.join("k.json").display().to_string()),
    ]
    .into();
    let settings = Settings::load_with(None, |name| env.get(name).cloned()).unwrap();
    let store = Store::connect(&url).await.unwrap();

    let started = Instant::now();
    let chunk = 100;
    for first in (0..sellers).step_by(chunk) {
        let file = CatalogFile {
            about: None,
            providers: (first..(first + chunk).min(sellers))
                .map(|n| seller(n, items))
                .collect(),
        };
        store.import_catalog(&file, "bench").await.unwrap();
        eprint!(
            "\rgenerating the catalogue: {} of {sellers} sellers ({} items)",
            (first + chunk).min(sellers),
            (first + chunk).min(sellers) * items
        );
    }
    eprintln!(
        "\n{} sellers, {} items loaded in {:.1} s",
        sellers,
        sellers * items,
        started.elapsed().as_secs_f64()
    );
    // The generated data passes the same validation sellers' files do.
    let problems = haat::catalog::validate::validate(
        &CatalogFile {
            about: None,
            providers: vec![seller(0, items)],
        },
        &haat::startup::catalog_policy(&settings),
    );
    assert!(problems.is_empty(), "{problems:?}");

    let signer = Signer::new(
        KeyPairs::generate("bench").signing,
        "seller.bench.test",
        "bench",
    );
    let filtered = || {
        request(
            "std:0542",
            json!({"item": {"descriptor": {"name": "banarasi saree 10"}},
        "fulfillment": {"type": "Delivery", "end": {"location": {"gps": "25.317645,82.973915", "address": {"area_code": "221001"}}}}}),
        )
    };
    let common_words = || {
        request(
            "std:0542",
            json!({"item": {"descriptor": {"name": "banarasi saree"}},
        "fulfillment": {"type": "Delivery", "end": {"location": {"gps": "25.317645,82.973915", "address": {"area_code": "221001"}}}}}),
        )
    };
    let full = || request("std:0542", json!({"fulfillment": {"type": "Delivery"}}));
    for (name, make, runs) in [
        (
            "filtered search (text + city + drop point)",
            &filtered as &dyn Fn() -> Value,
            runs,
        ),
        (
            "filtered search, two common words (\"banarasi saree\": 500 items)",
            &common_words,
            runs,
        ),
        ("full city pull", &full, runs.min(10)),
    ] {
        let (pages, found, bytes) = run_once(&store, &settings, &signer, &make()).await; // warm-up
        let mut times = Vec::new();
        for _ in 0..runs {
            let body = make();
            let began = Instant::now();
            std::hint::black_box(run_once(&store, &settings, &signer, &body).await);
            times.push(began.elapsed());
        }
        println!(
            "{db}: {name}: median {:.2} ms (min {:.2}, max {:.2}) over {runs} runs; {found} items in {pages} signed on_search bodies, {} KB",
            median(times.clone()).as_secs_f64() * 1e3,
            times.iter().min().unwrap().as_secs_f64() * 1e3,
            times.iter().max().unwrap().as_secs_f64() * 1e3,
            bytes / 1024
        );
    }
    store.close().await;
    let node_searches: usize = option(&args, "--node-searches", "2000").parse().unwrap();
    if node_searches > 0 {
        let concurrency: usize = option(&args, "--concurrency", "8").parse().unwrap();
        let buyer_count: usize = option(&args, "--buyers", "8").parse().unwrap();
        let selective = option(&args, "--node-intent", "broad") == "selective";
        through_the_node(
            &db,
            &url,
            &dir,
            node_searches,
            concurrency,
            buyer_count,
            selective,
        )
        .await;
    }
    if args.iter().any(|a| a == "--keep-store") {
        eprintln!("the store is kept: {url}");
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// When each on_search message_id first arrived at a buyer app.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// What the searching buyer apps saw: ACK latencies, round trips, failures by reason.
type Results = Arc<Mutex<(Vec<Duration>, Vec<Duration>, HashMap<String, usize>)>>;

/// The n-th filtered search of the node phase: (city, intent), over the cities the network
/// knows (a search for another is refused with 30000, as it should be).
/// `selective` adds an item number to the words ("ikat dupatta 12"), as a buyer looking for one
/// thing would: about a hundred items of the city match instead of about five hundred.
fn filtered(n: usize, selective: bool) -> (String, Value) {
    let cities: Vec<_> = CITIES
        .iter()
        .filter(|c| haat::catalog::rules::rules().is_city(c.0))
        .collect();
    let (std_code, pincode, gps, _) = *cities[n % cities.len()];
    let text = if selective {
        // The words of an item of the city's first seller (see `seller`): every seller of
        // the city has its item of that number with the same craft and thing.
        let seller = CITIES.iter().position(|c| c.0 == std_code).expect("a city");
        let k = n % 10;
        let craft = CRAFTS[(seller * 7 + k) % CRAFTS.len()];
        let thing = THINGS[(seller + k * 3) % THINGS.len()];
        format!("{craft} {thing} {k}")
    } else {
        format!("{} {}", CRAFTS[n % CRAFTS.len()], THINGS[n % THINGS.len()])
    };
    (
        format!("std:{std_code}"),
        json!({"item": {"descriptor": {"name": text}},
            "fulfillment": {"type": "Delivery", "end": {"location": {"gps": gps, "address": {"area_code": pincode}}}},
            "payment": {"@ondc/org/buyer_app_finder_fee_type": "percent", "@ondc/org/buyer_app_finder_fee_amount": "3"}}),
    )
}

/// A signed search of one buyer app; (message_id, body, Authorization).
fn signed_search(
    buyer: &(String, Signer, String),
    city: &str,
    intent: Value,
) -> (String, Vec<u8>, String) {
    let mut body = request(city, intent);
    body["context"]["bap_id"] = json!(buyer.0);
    body["context"]["bap_uri"] = json!(buyer.2);
    let message_id = body["context"]["message_id"].as_str().unwrap().to_owned();
    let bytes = serde_json::to_vec(&body).unwrap();
    let now = chrono::Utc::now().timestamp() as u64;
    let authorization = buyer.1.authorization(&bytes, now, now + 300);
    (message_id, bytes, authorization)
}

/// Sends one search; Ok(ACK latency) or Err(why).
async fn send(
    http: &reqwest::Client,
    node: &str,
    search: &(String, Vec<u8>, String),
) -> Result<Duration, String> {
    let began = Instant::now();
    let post = || {
        http.post(format!("{node}/search"))
            .header("Content-Type", "application/json")
            .header("Authorization", &search.2)
            .body(search.1.clone())
            .send()
    };
    // A kept-alive connection the node has just closed fails at once; a new one is tried.
    let response = match post().await {
        Ok(response) => response,
        Err(_) => post().await.map_err(|e| e.to_string())?,
    };
    let answer: Value = response.json().await.map_err(|e| e.to_string())?;
    if answer["message"]["ack"]["status"] == "ACK" {
        Ok(began.elapsed())
    } else {
        Err(answer["error"]["code"]
            .as_str()
            .unwrap_or("NACK")
            .to_owned())
    }
}

async fn arrival(arrivals: &Arrivals, message_id: &str, within: Duration) -> Option<Instant> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(at) = arrivals.lock().get(message_id) {
            return Some(*at);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

fn line(name: &str, mut times: Vec<Duration>) {
    if times.is_empty() {
        println!("  {name}: none");
        return;
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "  {name}: p50 {:.2} ms  p90 {:.2}  p99 {:.2}  max {:.2}  ({} samples)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap()),
        times.len()
    );
}

/// The real node on the 100,000-item store: cold start, search → on_search as buyer apps see
/// it, CPU and peak memory.
async fn through_the_node(
    db: &str,
    url: &str,
    dir: &std::path::Path,
    searches: usize,
    concurrency: usize,
    buyer_count: usize,
    selective: bool,
) {
    let apps = buyers(buyer_count, "search.bench.test");
    let registry = serve_registry(&apps);
    let arrivals: Arrivals = Arc::default();
    let heard = arrivals.clone();
    let bap_uris = serve_callback_listeners(apps.len(), move |body, at| {
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            if let Some(id) = value["context"]["message_id"].as_str() {
                heard.lock().entry(id.to_owned()).or_insert(at);
            }
        }
    });
    let apps: Arc<Vec<(String, Signer, String)>> = Arc::new(
        apps.iter()
            .zip(bap_uris)
            .map(|((id, keys), bap_uri)| {
                (
                    id.clone(),
                    Signer::new(keys.signing.clone(), id, &keys.unique_key_id),
                    bap_uri,
                )
            })
            .collect(),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node_url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    // Cold start: from starting the process to the first ACK of a signed search.
    let started = Instant::now();
    // A profiler may wrap the node (`HAAT_BENCH_NODE_WRAPPER`, see `harness::node_command`).
    let mut command = harness::node_command(env!("CARGO_BIN_EXE_haat"));
    let mut node = command
        .arg("serve")
        .env("HAAT_DATABASE_URL", url)
        .env("HAAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("HAAT_SUBSCRIBER_ID", "seller.bench.test")
        .env("HAAT_SUBSCRIBER_URL", &node_url)
        .env("HAAT_KEYS_FILE", dir.join("node-keys.json"))
        .env("HAAT_REGISTRY_URL", &registry)
        .env("HAAT_CATALOG_LOAD_DEMO", "false")
        .env("HAAT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haat serve starts");
    let (city, intent) = filtered(0, selective);
    let first_ack = loop {
        let search = signed_search(&apps[0], &city, intent.clone());
        if send(&http, &node_url, &search).await.is_ok() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the node answers"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    println!("{db}: the real node on {url}");
    println!(
        "  cold start to the first ACK of a signed search: {:.0} ms",
        first_ack.as_secs_f64() * 1e3
    );
    // One search per buyer app first: the node's key cache and the catalogue's pages warm up.
    for app in apps.iter() {
        let search = signed_search(app, &city, intent.clone());
        send(&http, &node_url, &search).await.unwrap();
        arrival(&arrivals, &search.0, Duration::from_secs(10)).await;
    }
    let (cpu_before, _) = proc_stat(node.id());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let results: Results = Arc::default();
    let began = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, node_url, apps, arrivals, next, results) = (
            http.clone(),
            node_url.clone(),
            apps.clone(),
            arrivals.clone(),
            next.clone(),
            results.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= searches {
                    break;
                }
                let (city, intent) = filtered(n, selective);
                let search = signed_search(&apps[n % apps.len()], &city, intent);
                let sent = Instant::now();
                match send(&http, &node_url, &search).await {
                    Ok(ack) => match arrival(&arrivals, &search.0, Duration::from_secs(35)).await {
                        Some(at) => {
                            let mut r = results.lock();
                            r.0.push(ack);
                            r.1.push(at - sent);
                        }
                        None => *results.lock().2.entry("no on_search".into()).or_default() += 1,
                    },
                    Err(why) => *results.lock().2.entry(why).or_default() += 1,
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = began.elapsed();
    let (cpu_after, filtered_peak_kb) = proc_stat(node.id());
    let (acks, round_trips, errors) = std::mem::take(&mut *results.lock());
    println!(
        "  {searches} filtered searches, {concurrency} at once, from {} buyer apps: {:.0}/s, errors {errors:?}; node CPU {:.2} s ({:.2} cores)",
        apps.len(),
        round_trips.len() as f64 / elapsed.as_secs_f64(),
        cpu_after - cpu_before,
        (cpu_after - cpu_before) / elapsed.as_secs_f64()
    );
    line("ACK", acks);
    line("search → first on_search at the buyer app", round_trips);
    println!(
        "  node peak memory (VmHWM) after the filtered searches: {:.1} MB",
        filtered_peak_kb as f64 / 1024.0
    );
    let mut pulls = Vec::new();
    for n in 0..5 {
        let (std_code, _, _, _) = CITIES[n];
        let search = signed_search(
            &apps[n % apps.len()],
            &format!("std:{std_code}"),
            json!({"fulfillment": {"type": "Delivery"},
                "payment": {"@ondc/org/buyer_app_finder_fee_type": "percent", "@ondc/org/buyer_app_finder_fee_amount": "3"}}),
        );
        let sent = Instant::now();
        send(&http, &node_url, &search).await.unwrap();
        if let Some(at) = arrival(&arrivals, &search.0, Duration::from_secs(35)).await {
            pulls.push(at - sent);
        }
        // Let the city's pages finish before the next pull.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    line("full city pull (5,000 items) → first page", pulls);
    let (_, peak_kb) = proc_stat(node.id());
    println!(
        "  node peak memory (VmHWM) with the 100,000-item catalogue, city pulls included: {:.1} MB",
        peak_kb as f64 / 1024.0
    );
    stop_node(&mut node);
}
