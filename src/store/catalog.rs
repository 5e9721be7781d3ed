//! Catalogue storage: imports as one transaction that records what changed, the queries
//! search needs (by city, domain, category, provider, full-text), incremental windows and
//! the buyer apps subscribed to incremental pushes.

use std::collections::HashMap;
use std::sync::Arc;

use super::BeginWrite;
use super::{now_ms, on_reader, on_writer, Backend, Store, StoreError};
use crate::catalog::model::{CatalogFile, Item, Location, Provider, VariantGroup};

/// Provider (doc, enabled, updated_at), location (provider, doc, enabled, updated_at) and
/// variant group (provider, doc) rows.
type HeaderRows = (
    Vec<(String, i64, i64)>,
    Vec<(String, String, i64, i64)>,
    Vec<(String, String)>,
);

/// How long a provider's catalogue (all but stock) is reused for pricing orders. Changes made
/// through this node drop it at once; an import by another process shows within this time.
const PROVIDER_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// (domain, provider id) → when read, and what.
pub type ProviderCache = std::sync::Arc<
    parking_lot::Mutex<
        HashMap<(String, String), (std::time::Instant, std::sync::Arc<CatalogSlice>)>,
    >,
>;

/// Providers' headers and cities' stores as searches last read them, valid for one value of
/// the store's catalogue generation, which every import raises (migration 0005/0006): one
/// small read per search tells whether any process has imported since.
#[derive(Debug, Default)]
pub struct HeaderCacheState {
    generation: i64,
    headers: HashMap<String, Arc<ProviderHeader>>,
    /// std code → (provider id, location id) of the stores in that city.
    cities: HashMap<String, Arc<Vec<(String, String)>>>,
}

pub type HeaderCache = Arc<parking_lot::Mutex<HeaderCacheState>>;

/// Most providers' headers kept; past it the cache starts over. A header takes about 5 KB
/// (BENCHMARKS.md), so the cache stays under about 50 MB.
const HEADER_CACHE_LIMIT: usize = 10_000;

/// What an import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub import_id: String,
    pub added: usize,
    pub updated: usize,
    pub disabled: usize,
    pub unchanged: usize,
    /// (kind, provider id, entity id, change)
    pub changes: Vec<(String, String, String, String)>,
}

/// A stored entity with its state.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub value: T,
    pub enabled: bool,
    pub updated_at: i64,
}

/// What search asks the store for.
#[derive(Debug, Clone, Default)]
pub struct CatalogQuery {
    pub domain: String,
    /// None: every city.
    pub std_code: Option<String>,
    pub category_id: Option<String>,
    pub provider_id: Option<String>,
    /// Words that must all appear in an item's name or descriptions.
    pub text: Option<String>,
    pub include_disabled: bool,
    /// Only entities changed in [from, to] (Unix ms), for incremental catalogues.
    pub changed_between: Option<(i64, i64)>,
}

/// A provider with its locations and variant groups as stored: what every on_search page
/// repeats for the provider. Shared by the searches that find the store unchanged.
#[derive(Debug)]
pub struct ProviderHeader {
    pub provider: Stored<Provider>,
    pub locations: Vec<Stored<Location>>,
    pub variant_groups: Vec<VariantGroup>,
    /// The header in wire form, made by the first search that needs it
    /// (`protocol::catalog::WireHeader`).
    pub(crate) wire: parking_lot::Mutex<Option<Arc<crate::protocol::catalog::WireHeader>>>,
}

impl ProviderHeader {
    pub fn new(
        provider: Stored<Provider>,
        locations: Vec<Stored<Location>>,
        variant_groups: Vec<VariantGroup>,
    ) -> Self {
        ProviderHeader {
            provider,
            locations,
            variant_groups,
            wire: Default::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.provider.value.id
    }
}

/// The part of the catalogue a query selects: providers, sorted by id, with their items.
#[derive(Debug, Clone, Default)]
pub struct CatalogSlice {
    pub providers: Vec<Arc<ProviderHeader>>,
    pub items: HashMap<String, Vec<Stored<Item>>>,
}

fn provider_header(provider: &Provider) -> Provider {
    Provider {
        locations: Vec::new(),
        variant_groups: Vec::new(),
        items: Vec::new(),
        ..provider.clone()
    }
}

fn search_text(item: &Item) -> String {
    format!("{} {} {}", item.name, item.short_desc, item.long_desc)
}

/// Quotes each word for an FTS5 MATCH, so that user text is never read as query syntax;
/// FTS5 tokenizes inside the quotes with the table's Unicode tokenizer.
pub fn fts5_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || (c.is_ascii_punctuation() && c != '\''))
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" AND "))
}

macro_rules! upsert_doc {
    ($tx:expr, $report:expr, $import_id:expr, $now:expr, $kind:expr, $provider_id:expr, $entity_id:expr,
     $select:expr, $select_binds:expr, $insert:expr, $update:expr, $doc:expr, $enabled:expr, $extra:expr) => {{
        let existing: Option<(String, i64)> = {
            let mut query = sqlx::query_as($select);
            for bind in $select_binds {
                query = query.bind(bind);
            }
            query.fetch_optional(&mut *$tx).await?
        };
        let enabled_flag: i64 = if $enabled { 1 } else { 0 };
        let change = match &existing {
            None => Some("added"),
            Some((doc, was)) if *doc != $doc || *was != enabled_flag => {
                Some(if *was == 1 && enabled_flag == 0 { "disabled" } else { "updated" })
            }
            Some(_) => None,
        };
        match change {
            Some(change) => {
                let statement = if existing.is_none() { $insert } else { $update };
                let extra: Vec<String> = $extra;
                let mut query = sqlx::query(statement).bind($provider_id).bind($entity_id).bind(&$doc).bind(enabled_flag).bind($now);
                for value in extra {
                    query = query.bind(value);
                }
                query.execute(&mut *$tx).await?;
                sqlx::query(
                    "INSERT INTO catalog_changes (import_id, provider_id, kind, entity_id, change, changed_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind($import_id)
                .bind($provider_id)
                .bind($kind)
                .bind($entity_id)
                .bind(change)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
                match change {
                    "added" => $report.added += 1,
                    "disabled" => $report.disabled += 1,
                    _ => $report.updated += 1,
                }
                $report.changes.push(($kind.to_owned(), $provider_id.to_owned(), $entity_id.to_owned(), change.to_owned()));
            }
            None => $report.unchanged += 1,
        }
    }};
}

impl Store {
    /// Imports a validated catalogue in one transaction. The providers in the file are
    /// authoritative: their locations and items missing from it are disabled (not deleted),
    /// so buyer apps hear about it. Providers not in the file are left as they are.
    pub async fn import_catalog(
        &self,
        file: &CatalogFile,
        import_id: &str,
    ) -> Result<ImportReport, StoreError> {
        self.import_catalog_with_progress(file, import_id, |_, _| {})
            .await
    }

    /// `import_catalog`, calling `progress(sellers done, sellers in all)` after each seller.
    pub async fn import_catalog_with_progress(
        &self,
        file: &CatalogFile,
        import_id: &str,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ImportReport, StoreError> {
        self.forget_cached_catalogs();
        let now = now_ms();
        let total = file.providers.len();
        let mut report = ImportReport {
            import_id: import_id.to_owned(),
            ..Default::default()
        };
        on_writer!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (done, provider) in file.providers.iter().enumerate() {
                progress(done, total);
                let doc = serde_json::to_string(&provider_header(provider)).expect("providers serialise");
                upsert_doc!(tx, report, import_id, now, "provider", &provider.id, &provider.id,
                    "SELECT doc, enabled FROM catalog_providers WHERE id = $1", [&provider.id],
                    "INSERT INTO catalog_providers (id, doc, enabled, updated_at) VALUES ($1, $3, $4, $5)",
                    "UPDATE catalog_providers SET doc = $3, enabled = $4, updated_at = $5 WHERE id = $1",
                    doc, provider.enabled, Vec::new());
                for location in &provider.locations {
                    let doc = serde_json::to_string(location).expect("locations serialise");
                    upsert_doc!(tx, report, import_id, now, "location", &provider.id, &location.id,
                        "SELECT doc, enabled FROM catalog_locations WHERE provider_id = $1 AND id = $2", [&provider.id, &location.id],
                        "INSERT INTO catalog_locations (provider_id, id, doc, enabled, updated_at, std_code) VALUES ($1, $2, $3, $4, $5, $6)",
                        "UPDATE catalog_locations SET doc = $3, enabled = $4, updated_at = $5, std_code = $6 WHERE provider_id = $1 AND id = $2",
                        doc, location.enabled, vec![location.std_code.clone()]);
                }
                for group in &provider.variant_groups {
                    let doc = serde_json::to_string(group).expect("groups serialise");
                    upsert_doc!(tx, report, import_id, now, "variant_group", &provider.id, &group.id,
                        "SELECT doc, CAST(1 AS BIGINT) FROM catalog_variant_groups WHERE provider_id = $1 AND id = $2", [&provider.id, &group.id],
                        "INSERT INTO catalog_variant_groups (provider_id, id, doc, updated_at) VALUES ($1, $2, $3, $5)",
                        "UPDATE catalog_variant_groups SET doc = $3, updated_at = $5 WHERE provider_id = $1 AND id = $2",
                        doc, true, Vec::new());
                }
                for item in &provider.items {
                    let doc = serde_json::to_string(item).expect("items serialise");
                    upsert_doc!(tx, report, import_id, now, "item", &provider.id, &item.id,
                        "SELECT doc, enabled FROM catalog_items WHERE provider_id = $1 AND id = $2", [&provider.id, &item.id],
                        "INSERT INTO catalog_items (provider_id, id, doc, enabled, updated_at, location_id, domain, category_id, search_text, stock) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CAST($10 AS BIGINT))",
                        "UPDATE catalog_items SET doc = $3, enabled = $4, updated_at = $5, location_id = $6, domain = $7, category_id = $8, \
                         search_text = $9, stock = CAST($10 AS BIGINT) WHERE provider_id = $1 AND id = $2",
                        doc, item.enabled,
                        vec![item.location_id.clone(), item.domain.clone(), item.category_id.clone(), search_text(item), item.stock.to_string()]);
                }
                // Whatever this provider had that the file no longer lists is disabled.
                for (table, kind, listed) in [
                    ("catalog_locations", "location", provider.locations.iter().map(|l| l.id.clone()).collect::<Vec<_>>()),
                    ("catalog_items", "item", provider.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>()),
                ] {
                    let present: Vec<String> = sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE provider_id = $1 AND enabled = 1"))
                        .bind(&provider.id)
                        .fetch_all(&mut *tx)
                        .await?;
                    for id in present.into_iter().filter(|id| !listed.contains(id)) {
                        sqlx::query(&format!("UPDATE {table} SET enabled = 0, updated_at = $1 WHERE provider_id = $2 AND id = $3"))
                            .bind(now)
                            .bind(&provider.id)
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(
                            "INSERT INTO catalog_changes (import_id, provider_id, kind, entity_id, change, changed_at) VALUES ($1, $2, $3, $4, 'disabled', $5)",
                        )
                        .bind(import_id)
                        .bind(&provider.id)
                        .bind(kind)
                        .bind(&id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        report.disabled += 1;
                        report.changes.push((kind.to_owned(), provider.id.clone(), id, "disabled".to_owned()));
                    }
                }
            }
            progress(total, total);
            if report.added + report.updated + report.disabled > 0 {
                // Searches keep providers' headers while this stays as it is.
                sqlx::query("UPDATE catalog_generation SET n = n + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        if report.added + report.updated + report.disabled > 0 {
            // The import is stored either way; a search over more segments is only slower.
            if let Err(error) = self.merge_text_index().await {
                tracing::warn!(error = %error, "the text index of item words was not merged; searches stay correct but slower until the next import");
            }
        }
        Ok(report)
    }

    /// Merges SQLite's FTS5 index of item words into one segment. FTS5 writes an import's
    /// words as new segments, and a text search reads every segment once per word: the demo
    /// catalogue alone left eleven, and its searches spent 330,000 instructions each in FTS5
    /// (BENCHMARKS.md). Merged a few hundred pages per step, each step a transaction of its
    /// own, so that requests journaled meanwhile wait for one step at most. PostgreSQL's GIN
    /// index has no such segments (and its pending list is off, migration 0007).
    async fn merge_text_index(&self) -> Result<(), StoreError> {
        /// Pages of about 4 KB merged per step.
        const STEP_PAGES: i64 = 256;
        let Backend::Sqlite { writer, .. } = &self.backend else {
            return Ok(());
        };
        // A negative count starts merging every segment, whatever its level; positive counts
        // go on with it. A step that merged nothing changes one row, the command's own.
        let mut pages = -STEP_PAGES;
        for _ in 0..100_000 {
            let mut connection = writer.acquire().await?;
            let before: i64 = sqlx::query_scalar("SELECT total_changes()")
                .fetch_one(&mut *connection)
                .await?;
            sqlx::query(
                "INSERT INTO catalog_items_fts (catalog_items_fts, rank) VALUES ('merge', $1)",
            )
            .bind(pages)
            .execute(&mut *connection)
            .await?;
            let after: i64 = sqlx::query_scalar("SELECT total_changes()")
                .fetch_one(&mut *connection)
                .await?;
            if after - before <= 1 {
                break;
            }
            pages = STEP_PAGES;
        }
        Ok(())
    }

    pub async fn catalog_is_empty(&self) -> Result<bool, StoreError> {
        let count: i64 = on_reader!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM catalog_providers").fetch_one(pool).await?
        });
        Ok(count == 0)
    }

    /// The whole catalogue in the import format, for `haat catalog export`.
    pub async fn export_catalog(&self) -> Result<CatalogFile, StoreError> {
        let query = CatalogQuery {
            include_disabled: true,
            ..Default::default()
        };
        let slice = self.catalog_slice(&query).await?;
        let mut file = CatalogFile::default();
        for header in &slice.providers {
            let mut value = header.provider.value.clone();
            value.enabled = header.provider.enabled;
            value.locations = header
                .locations
                .iter()
                .map(|l| Location {
                    enabled: l.enabled,
                    ..l.value.clone()
                })
                .collect();
            value.variant_groups = header.variant_groups.clone();
            value.items = slice
                .items
                .get(&value.id)
                .into_iter()
                .flatten()
                .map(|i| Item {
                    enabled: i.enabled,
                    ..i.value.clone()
                })
                .collect();
            file.providers.push(value);
        }
        Ok(file)
    }

    /// The providers, locations, variant groups and items a query selects. With no domain,
    /// every domain; with no city, every city.
    pub async fn catalog_slice(&self, query: &CatalogQuery) -> Result<CatalogSlice, StoreError> {
        let postgres = self.is_postgres();
        // The city's stores first (a few rows), then only their providers' items: far cheaper
        // than checking every item of the domain against the city.
        let generation = self.catalog_generation().await?;
        let city_locations: Option<Arc<Vec<(String, String)>>> = match &query.std_code {
            Some(code) => {
                let cached = self.cached(generation, |c| c.cities.get(code).cloned());
                match cached {
                    Some(list) => Some(list),
                    None => {
                        let list: Vec<(String, String)> = on_reader!(self, pool => {
                            sqlx::query_as("SELECT provider_id, id FROM catalog_locations WHERE std_code = $1")
                                .bind(code)
                                .fetch_all(pool)
                                .await?
                        });
                        let list = Arc::new(list);
                        self.keep(generation, |c| {
                            c.cities.insert(code.clone(), list.clone());
                        });
                        Some(list)
                    }
                }
            }
            None => None,
        };
        if city_locations.as_ref().is_some_and(|l| l.is_empty()) {
            return Ok(CatalogSlice::default());
        }
        let mut city_providers: Vec<String> = city_locations
            .iter()
            .flat_map(|l| l.iter())
            .map(|(provider, _)| provider.clone())
            .collect();
        city_providers.sort();
        city_providers.dedup();
        let items: Vec<(String, String, i64, i64, i64, String)> = on_reader!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new(
                "SELECT i.provider_id, i.doc, i.enabled, i.updated_at, i.stock, i.location_id FROM catalog_items i WHERE 1 = 1",
            );
            if !query.domain.is_empty() {
                sql.push(" AND i.domain = ").push_bind(query.domain.clone());
            }
            if city_locations.is_some() {
                sql.push(" AND i.provider_id IN (");
                let mut list = sql.separated(", ");
                for provider in &city_providers {
                    list.push_bind(provider.clone());
                }
                sql.push(")");
            }
            if let Some(category) = &query.category_id {
                sql.push(" AND i.category_id = ").push_bind(category.clone());
            }
            if let Some(provider) = &query.provider_id {
                sql.push(" AND i.provider_id = ").push_bind(provider.clone());
            }
            if let Some(text) = &query.text {
                if postgres {
                    sql.push(" AND i.search_vector @@ plainto_tsquery('simple', ").push_bind(text.clone()).push(")");
                } else if let Some(matcher) = fts5_query(text) {
                    // Within a city, the city's providers lead and the words only filter: the
                    // unary `+` keeps SQLite from seeking every matching item of the country
                    // once per provider (two common words in a city took 600 ms; now 9 ms).
                    let seq = if city_locations.is_some() { " AND +i.seq" } else { " AND i.seq" };
                    sql.push(seq)
                        .push(" IN (SELECT rowid FROM catalog_items_fts WHERE catalog_items_fts MATCH ")
                        .push_bind(matcher)
                        .push(")");
                }
            }
            if !query.include_disabled {
                sql.push(" AND i.enabled = 1");
            }
            if let Some((from, to)) = query.changed_between {
                sql.push(" AND i.updated_at >= ").push_bind(from).push(" AND i.updated_at <= ").push_bind(to);
            }
            sql.push(" ORDER BY i.provider_id, i.seq");
            sql.build_query_as().fetch_all(pool).await?
        });
        let in_city = |provider: &str, location: &str| {
            city_locations
                .as_ref()
                .is_none_or(|list| list.iter().any(|(p, l)| p == provider && l == location))
        };
        let mut slice = CatalogSlice::default();
        for (provider_id, doc, enabled, updated_at, stock, location_id) in items {
            if !in_city(&provider_id, &location_id) {
                continue;
            }
            let Ok(mut item) = serde_json::from_str::<Item>(&doc) else {
                continue;
            };
            item.stock = stock;
            slice.items.entry(provider_id).or_default().push(Stored {
                value: item,
                enabled: enabled == 1,
                updated_at,
            });
        }
        let mut provider_ids: Vec<String> = slice.items.keys().cloned().collect();
        if query.changed_between.is_some() || query.domain.is_empty() {
            // Providers and locations changed in the window matter even without item changes,
            // and an export wants providers that have no items yet.
            let extra: Vec<String> = on_reader!(self, pool => {
                match query.changed_between {
                    Some((from, to)) => sqlx::query_scalar(
                        "SELECT id FROM catalog_providers WHERE updated_at >= $1 AND updated_at <= $2 \
                         UNION SELECT provider_id FROM catalog_locations WHERE updated_at >= $1 AND updated_at <= $2",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_all(pool)
                    .await?,
                    None => sqlx::query_scalar("SELECT id FROM catalog_providers").fetch_all(pool).await?,
                }
            });
            for id in extra {
                if !provider_ids.contains(&id) {
                    provider_ids.push(id);
                }
            }
        }
        if let Some(only) = &query.provider_id {
            provider_ids.retain(|id| id == only);
        }
        provider_ids.sort();
        if provider_ids.is_empty() {
            return Ok(slice);
        }
        slice.providers = self.provider_headers(generation, &provider_ids).await?;
        Ok(slice)
    }

    /// The catalogue's generation: raised by every import, in its transaction.
    pub async fn catalog_generation(&self) -> Result<i64, StoreError> {
        Ok(on_reader!(self, pool => {
            sqlx::query_scalar("SELECT n FROM catalog_generation WHERE id = 1").fetch_one(pool).await?
        }))
    }

    /// Reads the header cache for `generation`, after dropping it if it held another. Around
    /// an import, searches that read the old and the new generation may drop it in turn;
    /// each keeps only what it read after its generation, so nothing stale survives.
    fn cached<T>(&self, generation: i64, read: impl FnOnce(&HeaderCacheState) -> T) -> T {
        let mut cache = self.header_cache.lock();
        if generation != cache.generation {
            // Usually an import; a smaller value (a restored database) must not let old
            // headers pass for new ones once the counter climbs back.
            *cache = HeaderCacheState {
                generation,
                ..Default::default()
            };
        }
        read(&cache)
    }

    /// Adds to the header cache what was read after `generation` was, if the cache still
    /// holds that generation.
    fn keep(&self, generation: i64, add: impl FnOnce(&mut HeaderCacheState)) {
        let mut cache = self.header_cache.lock();
        if cache.generation != generation {
            return;
        }
        add(&mut cache);
    }

    /// The headers of these providers (sorted ids), from the cache where it holds them for
    /// this generation, else read and kept.
    async fn provider_headers(
        &self,
        generation: i64,
        provider_ids: &[String],
    ) -> Result<Vec<Arc<ProviderHeader>>, StoreError> {
        let headers: Vec<(&String, Option<Arc<ProviderHeader>>)> =
            self.cached(generation, |cache| {
                provider_ids
                    .iter()
                    .map(|id| (id, cache.headers.get(id).cloned()))
                    .collect()
            });
        let ids: Vec<&String> = headers
            .iter()
            .filter(|(_, h)| h.is_none())
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return Ok(headers.into_iter().filter_map(|(_, h)| h).collect());
        }
        let (providers, locations, groups): HeaderRows = on_reader!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new("SELECT doc, enabled, updated_at FROM catalog_providers WHERE id IN (");
            let mut list = sql.separated(", ");
            for id in &ids {
                list.push_bind((*id).clone());
            }
            sql.push(") ORDER BY id");
            let providers = sql.build_query_as().fetch_all(pool).await?;
            let mut sql = sqlx::QueryBuilder::new("SELECT provider_id, doc, enabled, updated_at FROM catalog_locations WHERE provider_id IN (");
            let mut list = sql.separated(", ");
            for id in &ids {
                list.push_bind((*id).clone());
            }
            sql.push(") ORDER BY provider_id, id");
            let locations = sql.build_query_as().fetch_all(pool).await?;
            let mut sql = sqlx::QueryBuilder::new("SELECT provider_id, doc FROM catalog_variant_groups WHERE provider_id IN (");
            let mut list = sql.separated(", ");
            for id in &ids {
                list.push_bind((*id).clone());
            }
            sql.push(") ORDER BY provider_id, id");
            let groups = sql.build_query_as().fetch_all(pool).await?;
            (providers, locations, groups)
        });
        let mut location_rows: HashMap<String, Vec<Stored<Location>>> = HashMap::new();
        for (provider_id, doc, enabled, updated_at) in locations {
            if let Ok(location) = serde_json::from_str::<Location>(&doc) {
                location_rows.entry(provider_id).or_default().push(Stored {
                    value: location,
                    enabled: enabled == 1,
                    updated_at,
                });
            }
        }
        let mut group_rows: HashMap<String, Vec<VariantGroup>> = HashMap::new();
        for (provider_id, doc) in groups {
            if let Ok(group) = serde_json::from_str::<VariantGroup>(&doc) {
                group_rows.entry(provider_id).or_default().push(group);
            }
        }
        let mut fresh: HashMap<String, Arc<ProviderHeader>> = HashMap::new();
        for (doc, enabled, updated_at) in providers {
            let Ok(provider) = serde_json::from_str::<Provider>(&doc) else {
                continue;
            };
            let id = provider.id.clone();
            let header = ProviderHeader::new(
                Stored {
                    value: provider,
                    enabled: enabled == 1,
                    updated_at,
                },
                location_rows.remove(&id).unwrap_or_default(),
                group_rows.remove(&id).unwrap_or_default(),
            );
            fresh.insert(id, Arc::new(header));
        }
        self.keep(generation, |cache| {
            for (id, header) in &fresh {
                if cache.headers.len() >= HEADER_CACHE_LIMIT {
                    cache.headers.clear();
                }
                cache.headers.insert(id.clone(), header.clone());
            }
        });
        // In id order; a provider whose document no longer parses is left out, as before.
        let out = headers
            .into_iter()
            .filter_map(|(id, cached)| cached.or_else(|| fresh.get(id).cloned()))
            .collect();
        Ok(out)
    }

    pub async fn provider_exists(&self, provider_id: &str) -> Result<bool, StoreError> {
        let found: Option<String> = on_reader!(self, pool => {
            sqlx::query_scalar("SELECT id FROM catalog_providers WHERE id = $1").bind(provider_id).fetch_optional(pool).await?
        });
        Ok(found.is_some())
    }

    /// Starts or renews a buyer app's incremental subscription.
    pub async fn subscribe_catalog(
        &self,
        bap_id: &str,
        domain: &str,
        bap_uri: &str,
        transaction_id: &str,
        request_body: &[u8],
        since: i64,
    ) -> Result<(), StoreError> {
        on_writer!(self, pool => {
            sqlx::query(
                "INSERT INTO catalog_subscriptions (bap_id, domain, bap_uri, transaction_id, request_body, since, last_pushed_at, active) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, 1) ON CONFLICT (bap_id, domain) DO UPDATE SET bap_uri = excluded.bap_uri, \
                 transaction_id = excluded.transaction_id, request_body = excluded.request_body, since = excluded.since, \
                 last_pushed_at = excluded.last_pushed_at, active = 1",
            )
            .bind(bap_id)
            .bind(domain)
            .bind(bap_uri)
            .bind(transaction_id)
            .bind(request_body)
            .bind(since)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn unsubscribe_catalog(
        &self,
        bap_id: &str,
        domain: &str,
    ) -> Result<bool, StoreError> {
        let done = on_writer!(self, pool => {
            sqlx::query("UPDATE catalog_subscriptions SET active = 0 WHERE bap_id = $1 AND domain = $2 AND active = 1")
                .bind(bap_id)
                .bind(domain)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Active subscriptions: (bap_id, domain, transaction_id, request body, last pushed at).
    pub async fn catalog_subscriptions(
        &self,
    ) -> Result<Vec<(String, String, String, Vec<u8>, i64)>, StoreError> {
        let rows = on_reader!(self, pool => {
            sqlx::query_as(
                "SELECT bap_id, domain, transaction_id, request_body, last_pushed_at FROM catalog_subscriptions WHERE active = 1 ORDER BY bap_id",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Queues an incremental push and moves the subscription's window on, in one transaction.
    pub async fn record_catalog_push(
        &self,
        bap_id: &str,
        domain: &str,
        pushed_until: i64,
        callbacks: &[super::NewCallback],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_writer!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for callback in callbacks {
                super::outbox::insert_callback!(&mut *tx, callback, now);
            }
            sqlx::query("UPDATE catalog_subscriptions SET last_pushed_at = $1 WHERE bap_id = $2 AND domain = $3")
                .bind(pushed_until)
                .bind(bap_id)
                .bind(domain)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The latest change to the catalogue (Unix ms), or 0.
    pub async fn catalog_changed_at(&self) -> Result<i64, StoreError> {
        let at: Option<i64> = on_reader!(self, pool => {
            sqlx::query_scalar("SELECT MAX(changed_at) FROM catalog_changes").fetch_one(pool).await?
        });
        Ok(at.unwrap_or(0))
    }

    /// One provider's catalogue in a domain (disabled entities included) for pricing an order,
    /// from a cache at most 2 s old. Stock in it may be that old too: quotes are a promise the
    /// confirm keeps or breaks with the stock as stored at that moment, which it takes
    /// atomically (`commit_order_changes`).
    pub async fn provider_catalog(
        &self,
        domain: &str,
        provider_id: &str,
    ) -> Result<std::sync::Arc<CatalogSlice>, StoreError> {
        let key = (domain.to_owned(), provider_id.to_owned());
        let cached = self
            .provider_cache
            .lock()
            .get(&key)
            .filter(|(at, _)| at.elapsed() < PROVIDER_CACHE_TTL)
            .map(|(_, slice)| slice.clone());
        if let Some(slice) = cached {
            return Ok(slice);
        }
        let slice = std::sync::Arc::new(
            self.catalog_slice(&CatalogQuery {
                domain: domain.to_owned(),
                provider_id: Some(provider_id.to_owned()),
                include_disabled: true,
                ..Default::default()
            })
            .await?,
        );
        self.provider_cache
            .lock()
            .insert(key, (std::time::Instant::now(), slice.clone()));
        Ok(slice)
    }

    /// Forgets the provider catalogues cached for pricing (after this node changed the
    /// catalogue). Search's headers follow the catalogue generation instead.
    pub fn forget_cached_catalogs(&self) {
        self.provider_cache.lock().clear();
    }

    /// Sets an item's stock (the seller's API uses this). Returns false when the item does
    /// not exist.
    pub async fn set_item_stock(
        &self,
        provider_id: &str,
        item_id: &str,
        stock: i64,
    ) -> Result<bool, StoreError> {
        update_item!(self, "stock = $1", stock, "stock", provider_id, item_id)
    }

    /// Replaces an item's document (a price change from the seller's API). Returns false when
    /// the item does not exist.
    pub async fn set_item_doc(
        &self,
        provider_id: &str,
        item_id: &str,
        doc: &str,
    ) -> Result<bool, StoreError> {
        update_item!(self, "doc = $1", doc, "price", provider_id, item_id)
    }
}

/// Records that an item changed, so that incremental catalogues carry it: `$import_id` says
/// what changed it (an import's id, "stock", "price", "order").
macro_rules! insert_item_change {
    ($tx:expr, $import_id:expr, $provider_id:expr, $item_id:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO catalog_changes (import_id, provider_id, kind, entity_id, change, changed_at) VALUES ($1, $2, 'item', $3, 'updated', $4)",
        )
        .bind($import_id)
        .bind($provider_id)
        .bind($item_id)
        .bind($now)
        .execute($tx)
        .await?
    };
}
pub(crate) use insert_item_change;

/// Sets one column of an item (`$set` binds `$value` as $1) and records the change, in one
/// transaction; evaluates to whether the item exists.
macro_rules! update_item {
    ($store:expr, $set:literal, $value:expr, $import_id:expr, $provider_id:expr, $item_id:expr) => {{
        let now = now_ms();
        $store.forget_cached_catalogs();
        let done = on_writer!($store, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(concat!("UPDATE catalog_items SET ", $set, ", updated_at = $2 WHERE provider_id = $3 AND id = $4"))
                .bind($value)
                .bind(now)
                .bind($provider_id)
                .bind($item_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done == 1 {
                insert_item_change!(&mut *tx, $import_id, $provider_id, $item_id, now);
            }
            tx.commit().await?;
            done
        });
        Ok(done == 1)
    }};
}
use update_item;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_becomes_quoted_fts5_words() {
        assert_eq!(
            fts5_query("Banarasi silk").as_deref(),
            Some("\"Banarasi\" AND \"silk\"")
        );
        assert_eq!(
            fts5_query("बनारसी साड़ी").as_deref(),
            Some("\"बनारसी\" AND \"साड़ी\"")
        );
        assert_eq!(
            fts5_query("a\" OR b").as_deref(),
            Some("\"a\" AND \"OR\" AND \"b\"")
        );
        assert_eq!(fts5_query("  ,, "), None);
    }
}
