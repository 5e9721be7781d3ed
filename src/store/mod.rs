//! The only place with SQL. One `Store` works on the embedded SQLite file or on a shared
//! PostgreSQL; queries are written once in SQL both accept (`$1` placeholders, `RETURNING`,
//! `ON CONFLICT`), and where the dialects differ the code branches explicitly.
//!
//! Times are stored as Unix milliseconds (BIGINT), bodies as bytes, so every column reads
//! back as the same Rust type on both databases.

mod catalog;
mod journal;
mod logs;
mod orders;
mod outbox;
mod pg_batch;
mod sqlite_batch;
mod values;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use catalog::{fts5_query, CatalogQuery, CatalogSlice, ImportReport, ProviderHeader, Stored};
pub use journal::{InboundRecord, JournalEntry, JournalOutcome, JournalWriter, PendingInbound};
pub use logs::{DeliveryAttempt, ReceivedRequest, SentCallback, TransactionLog};
pub use orders::{
    CommitResult, Committed, IssueWrite, OrderChange, OrderEvent, OrderSummary, OrderWrite,
    StoredOrder,
};
pub use outbox::{
    AttemptRecord, ClaimedCallback, DeliveryOutcome, NewCallback, OutboxRow, OutboxState,
    WriteLease,
};

/// How SQLite makes a commit durable. In WAL mode, `Normal` writes every commit to the WAL
/// before it returns, so a killed or crashed process loses nothing, and leaves the disk sync
/// to checkpoints; `Full` also syncs the WAL on every commit, which survives power loss too
/// at about two thirds of the throughput (BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Normal,
    Full,
}

/// How the store is opened: the settings a node's operator may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    pub sqlite_sync: SqliteSync,
    /// Most connections this process opens to PostgreSQL (ignored on SQLite).
    pub postgres_connections: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            sqlite_sync: SqliteSync::Normal,
            postgres_connections: 8,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the directory for the database file {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("the journal writer has stopped")]
    WriterGone,
}

/// Which database, with its pools. SQLite gets one writer connection (SQLite allows one
/// writer at a time; queuing in the pool beats retrying on SQLITE_BUSY) and several readers.
#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// Providers' catalogues as order pricing reads them, briefly (see `provider_catalog`).
    pub(crate) provider_cache: catalog::ProviderCache,
    /// Providers' headers as searches last read them (see `provider_headers`).
    pub(crate) header_cache: catalog::HeaderCache,
}

/// Begins a write transaction. On SQLite the write lock is taken at BEGIN (`BEGIN IMMEDIATE`),
/// where a busy lock is waited for: a deferred transaction that reads first gets "database is
/// locked" at once, without waiting, if the WAL checkpointer holds the lock when it starts
/// writing. PostgreSQL locks rows, not the database, so its transactions begin plainly.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Runs `$body` with `$pool` bound to the pool that may write, whatever the backend.
macro_rules! on_writer {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { writer: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
/// Runs `$body` with `$pool` bound to a pool for reading.
macro_rules! on_reader {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { reader: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use {on_reader, on_writer};

impl Store {
    /// Opens the database named by `url` (creating a SQLite file and its directory if needed)
    /// and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, ConnectOptions::default()).await
    }

    /// Like `connect`, with the operator's options.
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Self, StoreError> {
        let ConnectOptions {
            sqlite_sync,
            postgres_connections,
        } = options;
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            // No ping before every use of a pooled connection: it doubled the round trips of
            // short queries (BENCHMARKS.md); a broken connection still fails its query.
            // Fewer connections than the node has tasks that may query at once: each backend
            // is a PostgreSQL process, and on two cores 8 of them cost PostgreSQL less CPU per
            // checkout than 16 did (BENCHMARKS.md, "Eight connections").
            let pool = PgPoolOptions::new()
                .max_connections(postgres_connections.max(1))
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            Store {
                backend: Backend::Postgres(pool),
                provider_cache: Default::default(),
                header_cache: Default::default(),
            }
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match sqlite_sync {
                    SqliteSync::Normal => SqliteSynchronous::Normal,
                    SqliteSync::Full => SqliteSynchronous::Full,
                })
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Statement journals of the grouped journal inserts stay in memory instead of
                // spilling to temporary files.
                .pragma("temp_store", "memory")
                .pragma("cache_size", "-16384")
                .pragma("journal_size_limit", "67108864");
            if let Some(parent) = options
                .get_filename()
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::Directory {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            // The writer never checkpoints the WAL itself (a checkpoint inside a commit stalls
            // every request waiting on it); a background task does, off the request path. Its
            // page cache is small: it mostly appends (journal, outbox), and a city's on_search
            // pages, megabytes of new pages, would otherwise stay cached after their commit
            // (peak 117 → 102 MB after 1,000 searches on 100,000 items, BENCHMARKS.md).
            // No ping before each use: an embedded connection cannot drop like a network one,
            // and each ping is a round trip to sqlx's thread for the connection.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(
                    options
                        .clone()
                        .pragma("wal_autocheckpoint", "0")
                        .pragma("cache_size", "-2048"),
                )
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&writer).await?;
            // The checkpointer never waits for a lock: a checkpoint that would have to wait for
            // a writer is skipped until the next round instead of holding writers back.
            let checkpointer = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(options.clone().busy_timeout(Duration::ZERO))
                .await?;
            tokio::spawn(checkpoint_wal(checkpointer));
            // The readers' page caches are 1 MB each, not SQLite's 2 MB: in WAL mode every
            // commit empties them, so they hardly serve a second search, and a city pull filled
            // all four (peak with the city pulls 122-144 → 110-119 MB, BENCHMARKS.md).
            let reader = SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .connect_with(options.read_only(true).pragma("cache_size", "-1024"))
                .await?;
            Store {
                backend: Backend::Sqlite { writer, reader },
                provider_cache: Default::default(),
                header_cache: Default::default(),
            }
        };
        Ok(store)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Does the database answer?
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_reader!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    /// Whether `close` has been called: background loops stop quietly then, instead of
    /// reporting that the store refused them.
    pub fn is_closed(&self) -> bool {
        match &self.backend {
            Backend::Sqlite { writer, .. } => writer.is_closed(),
            Backend::Postgres(pool) => pool.is_closed(),
        }
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

/// Copies the SQLite WAL back into the database file every second, off the commit path, so
/// the WAL stays small and commits do not pay for checkpoints.
async fn checkpoint_wal(pool: SqlitePool) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        if pool.is_closed() {
            return;
        }
        // PASSIVE copies what it can while the writer goes on; RESTART, when no writer is busy,
        // copies the few frames written meanwhile and lets the next commit start the WAL from
        // its beginning, so the file is reused instead of growing.
        let result = async {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await?;
            sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .execute(&pool)
                .await
        }
        .await;
        match result {
            Ok(_) => {}
            Err(_) if pool.is_closed() => return,
            Err(sqlx::Error::Database(error))
                if error.message().contains("locked") || error.message().contains("busy") =>
            {
                tracing::debug!("WAL checkpoint skipped: the database is busy");
            }
            Err(error) => {
                tracing::warn!(error = %error, "WAL checkpoint failed; it will be tried again")
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
