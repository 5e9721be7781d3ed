//! The catalogue: import with every problem by line and column, re-import recording changes,
//! and search → on_search (full and filtered pulls, Indian-script text search, serviceability,
//! paging, incremental pulls and pushes), every payload checked against the 1.2.5 rules.

use std::time::Duration;

use haat::catalog::import::{read_catalog, Format, DEMO};
use haat::catalog::model::CatalogFile;
use haat::catalog::validate::Policy;
use serde_json::{json, Value};

use crate::conformance::on_search_problems;
use crate::helpers::*;

fn policy() -> Policy {
    Policy {
        domains: vec![
            "ONDC:RET10".into(),
            "ONDC:RET12".into(),
            "ONDC:RET13".into(),
            "ONDC:RET16".into(),
        ],
        allow_non_ean_codes: true,
    }
}

fn demo() -> CatalogFile {
    read_catalog(DEMO.as_bytes(), Format::Json, &policy()).expect("the demo catalogue is valid")
}

fn search_body(buyer: &Buyer, domain: &str, city: &str, intent: Value) -> Value {
    let mut body = buyer.body("search", json!({"intent": intent}));
    body["context"]["domain"] = json!(domain);
    body["context"]["city"] = json!(city);
    body
}

fn payment() -> Value {
    json!({"@ondc/org/buyer_app_finder_fee_type": "percent", "@ondc/org/buyer_app_finder_fee_amount": "3"})
}

/// Sends a search and returns the on_search bodies it caused, once they stop arriving.
async fn on_search(w: &World, body: &Value) -> Vec<Value> {
    let answer = w.app.send(&w.buyer, "search", body).await;
    assert!(answer.is_ack(), "{:?}", answer.body);
    let message_id = body["context"]["message_id"].clone();
    let mine = || {
        w.bap
            .received()
            .into_iter()
            .filter(|(p, b, _)| p == "/on_search" && b["context"]["message_id"] == message_id)
            .map(|(_, b, _)| b)
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(10), || async { !mine().is_empty() }).await,
        "an on_search arrives"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    mine()
}

fn item_ids(pages: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = pages
        .iter()
        .flat_map(|p| {
            p["message"]["catalog"]["bpp/providers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|p| p["items"].as_array().cloned().unwrap_or_default())
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn assert_conforms(pages: &[Value], request: &Value) {
    for page in pages {
        let problems = on_search_problems(page, Some(request));
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

async fn full_city_pull_sends_the_sellers_of_that_city(db: Db) {
    let w = world(db, &[]).await;
    let body = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0542",
        json!({"fulfillment": {"type": "Delivery"}, "payment": payment()}),
    );
    let pages = on_search(&w, &body).await;
    assert_conforms(&pages, &body);
    let providers: Vec<&str> = pages[0]["message"]["catalog"]["bpp/providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        vec!["varanasi-banarasi-weavers"],
        "only Varanasi's sellers for std:0542"
    );
    assert!(!item_ids(&pages).is_empty());
}

#[tokio::test]
async fn a_full_city_pull_sends_the_sellers_of_that_city_on_sqlite() {
    full_city_pull_sends_the_sellers_of_that_city(Db::Sqlite).await;
}

#[tokio::test]
async fn a_full_city_pull_sends_the_sellers_of_that_city_on_postgres() {
    full_city_pull_sends_the_sellers_of_that_city(Db::Postgres).await;
}

#[tokio::test]
async fn every_on_search_for_the_demo_catalogue_satisfies_the_rules() {
    let w = world(Db::Sqlite, &[]).await;
    let file = demo();
    let mut total = 0;
    for domain in ["ONDC:RET10", "ONDC:RET12", "ONDC:RET13", "ONDC:RET16"] {
        let body = search_body(&w.buyer, domain, "*", json!({"payment": payment()}));
        let pages = on_search(&w, &body).await;
        assert_conforms(&pages, &body);
        let expected = file
            .providers
            .iter()
            .flat_map(|p| &p.items)
            .filter(|i| i.domain == domain)
            .count();
        assert_eq!(
            item_ids(&pages).len(),
            expected,
            "{domain}: every item of the domain"
        );
        total += expected;
    }
    assert_eq!(total, 56);
    // Each seller's city pull, too: the store pincode must belong to the city searched.
    for provider in &file.providers {
        let location = &provider.locations[0];
        let domain = &provider.items[0].domain;
        let body = search_body(
            &w.buyer,
            domain,
            &format!("std:{}", location.std_code),
            json!({"payment": payment()}),
        );
        let pages = on_search(&w, &body).await;
        assert_conforms(&pages, &body);
        assert!(
            item_ids(&pages)
                .iter()
                .any(|id| id.starts_with(&provider.id)),
            "{}",
            provider.id
        );
    }
}

fn small_catalogue() -> CatalogFile {
    let mut file = demo();
    file.providers
        .retain(|p| p.id == "varanasi-banarasi-weavers");
    let provider = &mut file.providers[0];
    provider.items.truncate(1);
    let mut hindi = provider.items[0].clone();
    hindi.id = "vbw-hindi-1".into();
    hindi.name = "बनारसी रेशमी साड़ी".into();
    hindi.short_desc = "हाथ से बुनी ज़री वाली साड़ी".into();
    provider.items.push(hindi);
    file
}

async fn text_search_matches_english_and_devanagari(db: Db) {
    let w = world(db, &[("HAAT_CATALOG_LOAD_DEMO", "false")]).await;
    w.app
        .store
        .import_catalog(&small_catalogue(), "test")
        .await
        .unwrap();
    let search = |text: &str| {
        search_body(
            &w.buyer,
            "ONDC:RET12",
            "std:0542",
            json!({"item": {"descriptor": {"name": text}}, "payment": payment()}),
        )
    };
    let body = search("साड़ी");
    let pages = on_search(&w, &body).await;
    assert_conforms(&pages, &body);
    assert_eq!(item_ids(&pages), vec!["vbw-hindi-1"]);
    let body = search("BANARASI");
    let found = item_ids(&on_search(&w, &body).await);
    assert!(
        found.contains(&"varanasi-banarasi-weavers-1".to_owned()),
        "case-insensitive: {found:?}"
    );
    let body = search("kanjivaram");
    let pages = on_search(&w, &body).await;
    assert_conforms(&pages, &body);
    assert!(
        item_ids(&pages).is_empty(),
        "a search that matches nothing still gets a valid answer"
    );
    assert_eq!(pages[0]["message"]["catalog"]["bpp/providers"], json!([]));
}

#[tokio::test]
async fn text_search_matches_english_and_devanagari_on_sqlite() {
    text_search_matches_english_and_devanagari(Db::Sqlite).await;
}

#[tokio::test]
async fn text_search_matches_english_and_devanagari_on_postgres() {
    text_search_matches_english_and_devanagari(Db::Postgres).await;
}

#[tokio::test]
async fn category_fulfillment_and_drop_point_narrow_the_answer() {
    let w = world(Db::Sqlite, &[("HAAT_CATALOG_LOAD_DEMO", "false")]).await;
    let mut file = demo();
    file.providers
        .retain(|p| p.id == "varanasi-banarasi-weavers");
    {
        let provider = &mut file.providers[0];
        let mut nearby = provider.locations[0].clone();
        nearby.id = "vbw-lanka".into();
        nearby.serviceability = haat::catalog::model::Serviceability::Radius { km: 5.0 };
        nearby.fulfillments = vec!["Self-Pickup".into()];
        provider.locations.push(nearby);
        let mut local = provider.items[0].clone();
        local.id = "vbw-local-1".into();
        local.location_id = "vbw-lanka".into();
        provider.items.push(local);
    }
    w.app.store.import_catalog(&file, "test").await.unwrap();
    let all = item_ids(
        &on_search(
            &w,
            &search_body(
                &w.buyer,
                "ONDC:RET12",
                "std:0542",
                json!({"payment": payment()}),
            ),
        )
        .await,
    );
    assert!(all.contains(&"vbw-local-1".to_owned()) && all.len() >= 2);

    let pickup = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0542",
        json!({"fulfillment": {"type": "Self-Pickup"}, "payment": payment()}),
    );
    let pages = on_search(&w, &pickup).await;
    assert_conforms(&pages, &pickup);
    assert_eq!(item_ids(&pages), vec!["vbw-local-1"]);

    let far = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0542",
        json!({"fulfillment": {"end": {"location": {"gps": "28.613939,77.209023", "address": {"area_code": "110001"}}}}, "payment": payment()}),
    );
    let found = item_ids(&on_search(&w, &far).await);
    assert!(
        !found.contains(&"vbw-local-1".to_owned()),
        "Delhi is beyond the 5 km radius: {found:?}"
    );
    assert!(!found.is_empty(), "pan-India items still serve Delhi");

    let near = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0542",
        json!({"fulfillment": {"end": {"location": {"gps": "25.3000,82.9900", "address": {"area_code": "221005"}}}}, "payment": payment()}),
    );
    assert!(item_ids(&on_search(&w, &near).await).contains(&"vbw-local-1".to_owned()));

    let category = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0542",
        json!({"category": {"id": "Dupattas & Shawls"}, "payment": payment()}),
    );
    assert!(
        item_ids(&on_search(&w, &category).await).is_empty(),
        "no shawls in Varanasi's demo shop"
    );
}

#[tokio::test]
async fn bad_searches_get_the_right_nack_or_error_code() {
    let w = world(Db::Sqlite, &[]).await;
    let unknown_city = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0000",
        json!({"payment": payment()}),
    );
    let answer = w.app.send(&w.buyer, "search", &unknown_city).await;
    assert_eq!(
        (answer.code(), answer.path()),
        (Some("30000"), Some("context.city"))
    );
    let unknown_domain = search_body(
        &w.buyer,
        "ONDC:RET14",
        "std:0542",
        json!({"payment": payment()}),
    );
    let answer = w.app.send(&w.buyer, "search", &unknown_domain).await;
    assert_eq!(
        (answer.code(), answer.path()),
        (Some("30000"), Some("context.domain"))
    );
    let malformed = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0542",
        json!({"fulfillment": {"end": {"location": {"address": {"area_code": "2210"}}}}, "payment": payment()}),
    );
    let answer = w.app.send(&w.buyer, "search", &malformed).await;
    assert_eq!(answer.code(), Some("30000"));
    assert_eq!(
        answer.path(),
        Some("message.intent.fulfillment.end.location.address.area_code")
    );
    // A provider that does not exist: ACK, then an on_search carrying error 30001.
    let mut nobody = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0542",
        json!({"payment": payment()}),
    );
    nobody["message"]["intent"]["provider"] = json!({"id": "no-such-seller"});
    let pages = on_search(&w, &nobody).await;
    assert_eq!(pages[0]["error"]["code"], "30001");
    assert_eq!(pages[0]["message"]["catalog"]["bpp/providers"], json!([]));
    // And the provider filter narrows to that seller.
    let mut one = search_body(&w.buyer, "ONDC:RET12", "*", json!({"payment": payment()}));
    one["message"]["intent"]["provider"] = json!({"id": "varanasi-banarasi-weavers"});
    let pages = on_search(&w, &one).await;
    assert_conforms(&pages, &one);
    assert!(item_ids(&pages)
        .iter()
        .all(|id| id.starts_with("varanasi-banarasi-weavers")));
}

#[tokio::test]
async fn a_large_catalogue_is_split_into_pages_under_the_size_limit() {
    let w = world(Db::Sqlite, &[("HAAT_ON_SEARCH_MAX_BYTES", "12000")]).await;
    let body = search_body(&w.buyer, "ONDC:RET16", "*", json!({"payment": payment()}));
    let pages = on_search(&w, &body).await;
    assert!(pages.len() > 1, "split into {} pages", pages.len());
    assert_conforms(&pages, &body);
    for page in &pages {
        assert!(
            serde_json::to_vec(page).unwrap().len() < 16_000,
            "each page stays near the limit"
        );
    }
    let expected = demo()
        .providers
        .iter()
        .flat_map(|p| &p.items)
        .filter(|i| i.domain == "ONDC:RET16")
        .count();
    let ids = item_ids(&pages);
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(
        (ids.len(), unique.len()),
        (expected, expected),
        "every item exactly once"
    );
}

#[tokio::test]
async fn incremental_pulls_and_subscriptions_send_only_what_changed() {
    let w = world(Db::Sqlite, &[]).await;
    let before = haat::store::now_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Subscribe, as buyer apps do with city "*".
    let subscribe = search_body(
        &w.buyer,
        "ONDC:RET12",
        "*",
        json!({"payment": payment(), "tags": [{"code": "catalog_inc", "list": [{"code": "mode", "value": "start"}]}]}),
    );
    assert!(w.app.send(&w.buyer, "search", &subscribe).await.is_ack());
    let store = w.app.store.clone();
    assert!(
        eventually(Duration::from_secs(5), || async {
            !store.catalog_subscriptions().await.unwrap().is_empty()
        })
        .await
    );
    // The seller changes one price and drops one item.
    let mut file = demo();
    file.providers
        .retain(|p| p.id == "varanasi-banarasi-weavers");
    let provider = &mut file.providers[0];
    provider.items[0].price = "1.00".into();
    let dropped = provider.items.pop().unwrap().id;
    let changed = provider.items[0].id.clone();
    let report = w.app.store.import_catalog(&file, "change").await.unwrap();
    assert_eq!((report.updated, report.disabled), (1, 1), "{report:?}");
    let queued = haat::processing::push::push_once(&w.app.store, &w.app.app_state.settings)
        .await
        .unwrap();
    assert_eq!(queued, 1);
    let pushes = || {
        w.bap
            .received()
            .into_iter()
            .filter(|(_, b, _)| {
                b["context"]["transaction_id"] == subscribe["context"]["transaction_id"]
            })
            .map(|(_, b, _)| b)
            .collect::<Vec<_>>()
    };
    assert!(eventually(Duration::from_secs(5), || async { !pushes().is_empty() }).await);
    let push = &pushes()[0];
    assert_ne!(
        push["context"]["message_id"], subscribe["context"]["message_id"],
        "a push has its own message_id"
    );
    assert!(
        on_search_problems(push, None).is_empty(),
        "{:#?}",
        on_search_problems(push, None)
    );
    let items = &push["message"]["catalog"]["bpp/providers"][0]["items"];
    let mut sent: Vec<(&str, &str)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap(),
                i["time"]["label"].as_str().unwrap(),
            )
        })
        .collect();
    sent.sort();
    let mut expected = vec![(changed.as_str(), "enable"), (dropped.as_str(), "disable")];
    expected.sort();
    assert_eq!(
        sent, expected,
        "only what changed, the dropped item as disabled"
    );
    // Nothing new: nothing sent.
    assert_eq!(
        haat::processing::push::push_once(&w.app.store, &w.app.app_state.settings)
            .await
            .unwrap(),
        0
    );

    // A one-time pull of a window gets the same changes, as a solicited answer.
    let until = haat::protocol::time::format_timestamp(chrono::Utc::now());
    let from = haat::protocol::time::format_timestamp(
        chrono::DateTime::from_timestamp_millis(before).unwrap(),
    );
    let pull = search_body(
        &w.buyer,
        "ONDC:RET12",
        "*",
        json!({"payment": payment(), "tags": [{"code": "catalog_inc", "list": [{"code": "start_time", "value": from}, {"code": "end_time", "value": until}]}]}),
    );
    let pages = on_search(&w, &pull).await;
    assert_conforms(&pages, &pull);
    assert_eq!(item_ids(&pages).len(), 2);

    // Unsubscribed: no more pushes.
    let stop = search_body(
        &w.buyer,
        "ONDC:RET12",
        "*",
        json!({"payment": payment(), "tags": [{"code": "catalog_inc", "list": [{"code": "mode", "value": "stop"}]}]}),
    );
    assert!(w.app.send(&w.buyer, "search", &stop).await.is_ack());
    assert!(
        eventually(Duration::from_secs(5), || async {
            store.catalog_subscriptions().await.unwrap().is_empty()
        })
        .await
    );
}

#[test]
fn a_bad_csv_is_rejected_whole_with_every_problem_by_line_and_column() {
    let csv = String::from_utf8(haat::catalog::csv::write_csv(&small_catalogue())).unwrap();
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let price = header.iter().position(|h| *h == "item.price").unwrap();
    let colour = header
        .iter()
        .position(|h| *h == "item.attributes.colour")
        .unwrap();
    let mut row = csv_fields(&lines[2]);
    row[price] = "abc".into();
    row[colour] = "maroon".into();
    lines[2] = to_csv_line(&row);
    let bytes = (lines.join("\n") + "\n").into_bytes();
    let problems = read_catalog(&bytes, Format::Csv, &policy()).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("line 3, column item.price:")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("line 3, column item.attributes.colour:")),
        "{problems:#?}"
    );
}

fn csv_fields(line: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    reader
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect()
}

fn to_csv_line(fields: &[String]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(fields).unwrap();
    String::from_utf8(writer.into_inner().unwrap())
        .unwrap()
        .trim_end()
        .to_owned()
}

#[tokio::test]
async fn a_bad_file_changes_nothing_and_a_good_reimport_records_its_changes() {
    let database = fresh_database(Db::Sqlite).await;
    let dir = temp_path("catalogue");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.csv");
    std::fs::write(&good, haat::catalog::csv::write_csv(&small_catalogue())).unwrap();
    let run = |args: &[&str]| haat(args, &[("HAAT_DATABASE_URL", database.as_str())]);
    let (ok, said, error) = run(&["catalog", "import", good.to_str().unwrap()]);
    assert!(ok, "{error}");
    assert!(said.contains("added"), "{said}");
    // Change a price in the sheet and break a GSTIN on another row: rejected whole.
    let text = std::fs::read_to_string(&good).unwrap();
    let gstin = small_catalogue().providers[0].kyc.gstin.clone();
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, text.replace(&gstin, &gstin[1..])).unwrap();
    let (ok, _, error) = run(&["catalog", "import", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        error.contains("column provider.kyc.gstin") && error.contains("nothing was changed"),
        "{error}"
    );
    let store = haat::store::Store::connect(&database).await.unwrap();
    let before = store.export_catalog().await.unwrap();
    assert_eq!(before.providers[0].kyc, small_catalogue().providers[0].kyc);
    // A re-import with one item fewer disables that item and says so.
    let mut fewer = small_catalogue();
    fewer.providers[0].items.pop();
    let fewer_path = dir.join("fewer.json");
    std::fs::write(&fewer_path, serde_json::to_vec(&fewer).unwrap()).unwrap();
    let (ok, said, error) = run(&["catalog", "import", fewer_path.to_str().unwrap()]);
    assert!(ok, "{error}");
    assert!(
        said.contains("1 disabled") && said.contains("vbw-hindi-1"),
        "{said}"
    );
    let (ok, exported, _) = run(&["catalog", "export", "--format", "json"]);
    assert!(ok);
    let exported: CatalogFile = serde_json::from_str(&exported).unwrap();
    let hindi = exported.providers[0]
        .items
        .iter()
        .find(|i| i.id == "vbw-hindi-1")
        .unwrap();
    assert!(!hindi.enabled, "kept, disabled");
}

/// Searches reuse a provider's header (its store, locations and variant groups) while the
/// store says it is unchanged; a change by another process must show in the very next search.
async fn a_store_change_by_another_process_shows_in_the_next_search(db: Db) {
    let database = fresh_database(db).await;
    let searching = haat::store::Store::connect(&database).await.unwrap();
    let importing = haat::store::Store::connect(&database).await.unwrap();
    let file = demo();
    importing.import_catalog(&file, "first").await.unwrap();
    let query = haat::store::CatalogQuery {
        domain: "ONDC:RET12".into(),
        std_code: Some("0542".into()),
        ..Default::default()
    };
    let header = |slice: &haat::store::CatalogSlice| {
        let header = slice.providers[0].clone();
        (
            header.provider.value.name.clone(),
            header.provider.enabled,
            header
                .locations
                .iter()
                .map(|l| (l.value.close.clone(), l.enabled))
                .collect::<Vec<_>>(),
            header.variant_groups.len(),
        )
    };
    let first = searching.catalog_slice(&query).await.unwrap();
    let again = searching.catalog_slice(&query).await.unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&first.providers[0], &again.providers[0]),
        "an unchanged provider's header is reused"
    );
    let (name, enabled, locations, groups) = header(&first);
    assert!(enabled);

    // Another process renames the seller, shortens a store's hours and adds a variant group.
    let mut changed = file.clone();
    let seller = changed
        .providers
        .iter_mut()
        .find(|p| p.id == first.providers[0].id())
        .unwrap();
    seller.name = format!("{name} (renamed)");
    seller.locations[0].close = "1700".into();
    let mut group = seller.variant_groups.first().cloned().unwrap_or_else(|| {
        serde_json::from_value(
            json!({"id": "vg-new", "name": "Colour", "attributes": ["item.tags.colour"]}),
        )
        .unwrap()
    });
    group.id = "vg-added".into();
    seller.variant_groups.push(group);
    importing.import_catalog(&changed, "second").await.unwrap();
    let after = searching.catalog_slice(&query).await.unwrap();
    let (new_name, _, new_locations, new_groups) = header(&after);
    assert_eq!(new_name, format!("{name} (renamed)"));
    assert_eq!(new_locations[0].0, "1700");
    assert_ne!(new_locations, locations);
    assert_eq!(new_groups, groups + 1);

    // The seller stops trading: the provider is disabled.
    let seller = changed
        .providers
        .iter_mut()
        .find(|p| p.id == first.providers[0].id())
        .unwrap();
    seller.enabled = false;
    importing.import_catalog(&changed, "third").await.unwrap();
    let closed = searching
        .catalog_slice(&haat::store::CatalogQuery {
            include_disabled: true,
            ..query.clone()
        })
        .await
        .unwrap();
    assert!(!header(&closed).1, "the provider is disabled");
}

#[tokio::test]
async fn a_store_change_by_another_process_shows_in_the_next_search_on_sqlite() {
    a_store_change_by_another_process_shows_in_the_next_search(Db::Sqlite).await;
}

#[tokio::test]
async fn a_store_change_by_another_process_shows_in_the_next_search_on_postgres() {
    a_store_change_by_another_process_shows_in_the_next_search(Db::Postgres).await;
}

/// How many segments SQLite's FTS5 index of item words has: the count in its structure record
/// (row 10 of the `_data` table: a 4-byte cookie, then varints for the levels and segments).
async fn text_index_segments(database: &str) -> u64 {
    let pool = sqlx::SqlitePool::connect(database).await.unwrap();
    let record: Vec<u8> =
        sqlx::query_scalar("SELECT block FROM catalog_items_fts_data WHERE id = 10")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    // SQLite's varint: big-endian groups of 7 bits, the high bit set on all but the last.
    let varint = |at: &mut usize| {
        let mut value = 0u64;
        loop {
            let byte = record[*at];
            *at += 1;
            value = (value << 7) | u64::from(byte & 0x7f);
            if byte & 0x80 == 0 {
                return value;
            }
        }
    };
    let mut at = 4;
    let _levels = varint(&mut at);
    varint(&mut at)
}

/// Each import used to leave its words in FTS5 segments of their own, and every text search
/// read all of them for each of its words (the demo catalogue alone left eleven). An import
/// now merges the index into one segment, and the words of the last import are still found.
#[tokio::test]
async fn every_import_leaves_the_text_index_in_one_segment_on_sqlite() {
    let database = fresh_database(Db::Sqlite).await;
    let store = haat::store::Store::connect(&database).await.unwrap();
    let mut file = demo();
    store.import_catalog(&file, "first").await.unwrap();
    assert_eq!(
        text_index_segments(&database).await,
        1,
        "after the first import"
    );

    for (n, provider) in file.providers.iter_mut().enumerate() {
        for item in provider.items.iter_mut() {
            item.name = format!("{} reimagined{n}", item.name);
        }
    }
    store.import_catalog(&file, "second").await.unwrap();
    assert_eq!(text_index_segments(&database).await, 1, "after a re-import");

    let (n, weavers) = file
        .providers
        .iter()
        .enumerate()
        .find(|(_, p)| p.id == "varanasi-banarasi-weavers")
        .unwrap();
    let query = haat::store::CatalogQuery {
        domain: "ONDC:RET12".into(),
        std_code: Some("0542".into()),
        text: Some(format!("reimagined{n}")),
        ..Default::default()
    };
    let slice = store.catalog_slice(&query).await.unwrap();
    let mut found: Vec<&str> = slice
        .items
        .values()
        .flatten()
        .map(|i| i.value.id.as_str())
        .collect();
    found.sort();
    let mut expected: Vec<&str> = weavers
        .items
        .iter()
        .filter(|i| i.enabled && i.domain == "ONDC:RET12")
        .map(|i| i.id.as_str())
        .collect();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(found, expected, "the renamed items of the Varanasi weavers");
    store.close().await;
}

/// Replaces what changes from run to run (ids, times, the mock buyer app's port) so that the
/// rest can be compared byte for byte.
fn normalized(page: &Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if key == "timestamp" {
                        *child = json!("<timestamp>");
                    } else {
                        walk(child);
                    }
                }
            }
            Value::Array(list) => list.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut page = page.clone();
    for field in ["transaction_id", "message_id", "bap_uri"] {
        page["context"][field] = json!(format!("<{field}>"));
    }
    walk(&mut page);
    page
}

#[tokio::test]
async fn golden_files_pin_the_exact_on_search_for_a_few_intents() {
    let w = world(Db::Sqlite, &[]).await;
    let cases = [
        (
            "ret12-varanasi-full",
            "ONDC:RET12",
            "std:0542",
            json!({"fulfillment": {"type": "Delivery"}, "payment": payment()}),
        ),
        (
            "ret10-turmeric-text",
            "ONDC:RET10",
            "*",
            json!({"item": {"descriptor": {"name": "turmeric"}}, "payment": payment()}),
        ),
        (
            "ret16-toys-category",
            "ONDC:RET16",
            "*",
            json!({"category": {"id": "Toys and Games"}, "payment": payment()}),
        ),
    ];
    let update = std::env::var("UPDATE_GOLDEN").is_ok();
    for (name, domain, city, intent) in cases {
        let body = search_body(&w.buyer, domain, city, intent);
        let pages = on_search(&w, &body).await;
        assert_conforms(&pages, &body);
        let actual =
            serde_json::to_string_pretty(&pages.iter().map(normalized).collect::<Vec<_>>())
                .unwrap()
                + "\n";
        let path = std::path::Path::new("tests/golden").join(format!("on_search-{name}.json"));
        if update {
            std::fs::create_dir_all("tests/golden").unwrap();
            std::fs::write(&path, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1", path.display()));
        assert_eq!(actual, expected, "{name} differs from {}", path.display());
    }
}

#[tokio::test]
async fn the_conformance_checks_catch_a_broken_catalogue() {
    let w = world(Db::Sqlite, &[]).await;
    let body = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0542",
        json!({"payment": payment()}),
    );
    let page = on_search(&w, &body).await.remove(0);
    assert!(on_search_problems(&page, Some(&body)).is_empty());
    let item = "/message/catalog/bpp~1providers/0/items/0";
    let breakages: Vec<(&str, Value, &str)> = vec![
        ("/price/value", json!("99999.00"), "price is above MRP"),
        ("/quantity/available/count", json!("7"), "masked"),
        (
            "/descriptor/code",
            json!("1:8901234567890"),
            "descriptor.code",
        ),
        ("/tags", json!([]), "origin"),
    ];
    for (pointer, value, expected) in breakages {
        let mut broken = page.clone();
        *broken.pointer_mut(&format!("{item}{pointer}")).unwrap() = value;
        let problems = on_search_problems(&broken, Some(&body));
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{pointer}: {problems:#?}"
        );
    }
    let mut broken = page.clone();
    broken["message"]["catalog"]["bpp/providers"][0]["locations"][0]["address"]["area_code"] =
        json!("110001");
    assert!(on_search_problems(&broken, Some(&body))
        .iter()
        .any(|p| p.contains("not in city")));
    let mut broken = page.clone();
    broken["message"]["catalog"]["bpp/providers"][0]["items"][0]["price"]["value"] = json!(579);
    assert!(
        on_search_problems(&broken, Some(&body))
            .iter()
            .any(|p| p.starts_with("schema")),
        "the schema check runs"
    );
}

#[test]
fn the_csv_template_that_ships_with_haat_imports_cleanly() {
    let bytes = std::fs::read("catalog/template.csv").unwrap();
    let file = read_catalog(&bytes, Format::Csv, &policy())
        .unwrap_or_else(|problems| panic!("{problems:#?}"));
    assert_eq!(file.providers.len(), 1);
    assert!(
        file.providers[0].sample,
        "the template's example seller is marked as sample data"
    );
}

#[tokio::test]
async fn variant_groups_reach_buyer_apps_as_categories_with_parent_item_ids() {
    let w = world(Db::Sqlite, &[("HAAT_CATALOG_LOAD_DEMO", "false")]).await;
    let mut file = small_catalogue();
    let provider = &mut file.providers[0];
    provider.items.truncate(1);
    provider
        .variant_groups
        .push(haat::catalog::model::VariantGroup {
            id: "vg-katan-colours".into(),
            name: "Katan saree colours".into(),
            attributes: vec!["item.tags.attribute.colour".into()],
        });
    let mut second = provider.items[0].clone();
    second.id = "vbw-katan-green".into();
    second.attributes.insert("colour".into(), "#006400".into());
    second
        .attributes
        .insert("colour_name".into(), "dark green".into());
    provider.items[0].parent_item_id = Some("vg-katan-colours".into());
    second.parent_item_id = Some("vg-katan-colours".into());
    provider.items.push(second.clone());
    let problems = haat::catalog::validate::validate(&file, &policy());
    assert!(problems.is_empty(), "{problems:?}");
    // Two variants with the same attributes are refused.
    let mut duplicate = file.clone();
    duplicate.providers[0]
        .items
        .push(haat::catalog::model::Item {
            id: "vbw-katan-green-2".into(),
            ..second
        });
    let problems = haat::catalog::validate::validate(&duplicate, &policy());
    assert!(
        problems.iter().any(|p| p.field == "parent_item_id"),
        "{problems:?}"
    );

    w.app.store.import_catalog(&file, "variants").await.unwrap();
    let body = search_body(
        &w.buyer,
        "ONDC:RET12",
        "std:0542",
        json!({"payment": payment()}),
    );
    let pages = on_search(&w, &body).await;
    assert_conforms(&pages, &body);
    let provider = &pages[0]["message"]["catalog"]["bpp/providers"][0];
    let group = &provider["categories"][0];
    assert_eq!(group["id"], "vg-katan-colours");
    assert!(
        group["tags"].to_string().contains("variant_group")
            && group["tags"]
                .to_string()
                .contains("item.tags.attribute.colour")
    );
    assert!(provider["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["parent_item_id"] == "vg-katan-colours"));
}

#[tokio::test]
async fn a_stock_change_reaches_subscribed_buyer_apps_as_availability() {
    let w = world(Db::Sqlite, &[]).await;
    let subscribe = search_body(
        &w.buyer,
        "ONDC:RET16",
        "*",
        json!({"payment": payment(), "tags": [{"code": "catalog_inc", "list": [{"code": "mode", "value": "start"}]}]}),
    );
    assert!(w.app.send(&w.buyer, "search", &subscribe).await.is_ack());
    let store = w.app.store.clone();
    assert!(
        eventually(Duration::from_secs(5), || async {
            !store.catalog_subscriptions().await.unwrap().is_empty()
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let item = demo()
        .providers
        .iter()
        .flat_map(|p| p.items.iter().map(move |i| (p.id.clone(), i.clone())))
        .find(|(_, i)| i.domain == "ONDC:RET16")
        .unwrap();
    assert!(w
        .app
        .store
        .set_item_stock(&item.0, &item.1.id, 0)
        .await
        .unwrap());
    assert_eq!(
        haat::processing::push::push_once(&w.app.store, &w.app.app_state.settings)
            .await
            .unwrap(),
        1
    );
    let pushed = || {
        w.bap
            .received()
            .into_iter()
            .filter(|(_, b, _)| {
                b["context"]["transaction_id"] == subscribe["context"]["transaction_id"]
            })
            .map(|(_, b, _)| b)
            .collect::<Vec<_>>()
    };
    assert!(eventually(Duration::from_secs(5), || async { !pushed().is_empty() }).await);
    let items = pushed()[0]["message"]["catalog"]["bpp/providers"][0]["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1);
    assert_eq!(items[0]["id"], json!(item.1.id));
    assert_eq!(
        items[0]["quantity"]["available"]["count"], "0",
        "sold out is published as 0"
    );
}
