//! Persistence: one `Db` handle over SQLite (embedded default) or
//! PostgreSQL (production, several instances), chosen by the URL.
//!
//! Both backends run the same SQL through sqlx's `Any` driver. The few
//! dialect differences are isolated here and in `outbox.rs` (the claim), and
//! each backend has its own migrations folder. Instants are stored as Unix
//! milliseconds (`Any` has no chrono support), converted by [`ms`] and
//! [`from_ms`].

pub mod appointments;
pub mod audit;
pub mod broadcasts;
pub mod bulk;
pub mod calendar_feeds;
pub mod consents;
pub mod erasure;
pub mod event_hooks;
pub mod export;
pub mod group_commit;
pub mod inbound;
pub mod journal;
pub mod messages;
pub mod outbox;
pub mod outcomes;
pub mod participants;
pub mod protection;
pub mod reports;
pub mod retention;
pub mod review;
pub mod rules;
pub mod sandbox;
pub mod series;
pub mod staff;
pub mod tasks;
pub mod telegram;
pub mod templates;
pub mod tokens;
pub mod trials;
pub mod ui_admin;
pub mod ui_broadcasts;
pub mod ui_monitoring;
pub mod ui_participants;
pub mod ui_today;
pub mod units;
pub mod web;

use crate::error::{Error, Result};
use chrono::{DateTime, TimeZone, Utc};
use rand::RngCore;
use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Transaction};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub type Tx = Transaction<'static, Any>;

impl Db {
    /// Connects to `url` (`sqlite://path/to/file.db` or `postgres://...`).
    /// A SQLite file is created if missing (mode 0600: it holds personal
    /// data) and put in WAL mode; every connection has `secure_delete` on,
    /// so erased and purged texts are overwritten in the file, not only
    /// unlinked from it.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::invalid(format!(
                "database URL must start with sqlite:// or postgres://, not '{}'",
                url.split(':').next().unwrap_or("")
            )));
        };
        let pool = match backend {
            Backend::Sqlite => {
                create_private_file(url)?;
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query(
                                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 15000; \
                                 PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;",
                            )
                            .execute(conn)
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                // WAL is a property of the file; setting it once is enough.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&pool)
                    .await?;
                pool
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?
            }
        };
        Ok(Db { pool, backend })
    }

    /// Applies the embedded migrations of this backend. Safe to run from
    /// several instances at once (sqlx takes an advisory lock on PostgreSQL).
    pub async fn migrate(&self) -> Result<()> {
        let m = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        m.run(&self.pool)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("migration failed: {e}")))?;
        Ok(())
    }

    /// Migrations this binary knows that the database has not applied
    /// successfully (0 when ready). Errors when the database is unreachable.
    pub async fn pending_migrations(&self) -> Result<i64> {
        let m = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await?;
        Ok(m.iter().filter(|x| !applied.contains(&x.version)).count() as i64)
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock up front (`BEGIN IMMEDIATE`), so a read-then-write transaction
    /// cannot fail with a busy snapshot when another connection committed in
    /// between; the busy timeout makes it wait instead.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Any>> {
        Ok(self.pool.acquire().await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The file of a `sqlite://` URL, unless it is in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// Creates a missing SQLite file readable by its owner only (0600), before
/// SQLite would create it with the umask's mode (often 0644). SQLite gives
/// the `-wal` and `-shm` files the database file's mode. An existing file
/// is left as it is.
fn create_private_file(url: &str) -> Result<()> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(&path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Internal(anyhow::anyhow!(
            "creating the database file {}: {e}",
            path.display()
        ))),
    }
}

/// A connection, inside or outside a transaction.
pub type Conn = AnyConnection;

/// The backend behind a connection, for the few statements written per
/// dialect by code that has a connection rather than the [`Db`].
pub fn backend_of(c: &Conn) -> Backend {
    if c.backend_name() == "PostgreSQL" {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// Leases up to `limit` due rows to `owner` until `lease_until`, the way
/// the outbox and the event-hook deliveries are claimed: `claim` marks
/// them with a fresh claim token (binds: owner, token, lease_until, now,
/// limit) and `read` reads the rows that hold it (binds: the token).
/// Nothing is read when nothing was due.
pub(crate) async fn claim_leased<R>(
    db: &Db,
    claim: &'static str,
    read: &'static str,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    let token = hex::encode(b);
    let n = sqlx::query(claim)
        .bind(owner)
        .bind(&token)
        .bind(ms(lease_until))
        .bind(ms(now))
        .bind(limit)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as::<_, R>(read)
        .bind(&token)
        .fetch_all(&db.pool)
        .await?)
}

/// An instant as stored: Unix milliseconds.
pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// An instant as read back.
pub fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub fn opt_from_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(from_ms)
}

/// A row field stored as text and parsed on read (a vocabulary, a channel
/// set): it decodes to the value, or fails naming the column with the
/// parser's message. `#[sqlx(try_from = "String")]` fails too, but sqlx
/// 0.9.0 reports its errors as "unprintable" (see `from_parsed!`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parsed<T>(pub T);

impl<T> sqlx::Type<Any> for Parsed<T> {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <String as sqlx::Type<Any>>::type_info()
    }
}

impl<'r, T: std::str::FromStr<Err = String>> sqlx::Decode<'r, Any> for Parsed<T> {
    fn decode(v: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Parsed(<&str as sqlx::Decode<Any>>::decode(v)?.parse()?))
    }
}

/// For a public row's field, `#[sqlx(try_from = "Parsed<T>")]`: the
/// conversion cannot fail, so an unknown stored word fails in [`Parsed`]'s
/// decoding with its message. (sqlx 0.9.0's own `try_from` error wrapper
/// calls its specialisation on the value, not on a reference, so it always
/// picks the "unprintable" fallback.)
macro_rules! from_parsed {
    ($($t:ty),+) => {$(
        impl From<Parsed<$t>> for $t {
            fn from(p: Parsed<$t>) -> $t {
                p.0
            }
        }
    )+};
}
from_parsed!(
    crate::domain::Language,
    crate::domain::AppointmentKind,
    crate::domain::OutboxStatus,
    crate::domain::calendar_feed::FeedScope,
    messages::Direction
);

/// Parses a stored enum value; a value the code does not know means the
/// database was written by something else and is reported, not guessed.
pub fn parse_col<T: std::str::FromStr<Err = String>>(v: &str) -> Result<T> {
    v.parse()
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored value: {e}")))
}
