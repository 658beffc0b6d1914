//! Pipeline benchmark: prints figures, asserts nothing about timings.
//!
//! ```text
//! PAMINN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --bench pipeline
//! ```
//!
//! Every scenario runs on SQLite (a temp file) and, when
//! `PAMINN_TEST_POSTGRES_URL` is set, on PostgreSQL in a freshly created,
//! randomly named database that is dropped afterwards.
//!
//! 1. **Throughput**: N due rows → claim → gate → render → send through the
//!    real sandbox transport → record, driven by `Dispatcher::drain` (what
//!    the `run` loop calls: batch after batch, streamed) until a drain claims
//!    nothing; then every row is checked to have reached the sandbox phone
//!    exactly once. `PAMINN_BENCH_DRIVE=run_once` drives it one batch at a
//!    time instead, as before streaming, for comparison.
//! 2. **Due-claim latency vs table size**: `store::outbox::claim` of 200 due
//!    rows in a small and a large outbox (mostly sent or pending far ahead).
//! 3. **Lateness under load**: rows falling due at 1,000/s for 10 s, sent by
//!    the real `Dispatcher::run` loop; lateness = sent time − due time.
//!
//! Results and how to read them: `docs/benchmarks.md`.
//!
//! Knobs for quick runs and diagnosis (the documented figures use the
//! defaults): `PAMINN_BENCH_SCENARIOS=1,2,3`, `PAMINN_BENCH_BACKENDS`
//! (`sqlite`, `postgresql` or both), `PAMINN_BENCH_ROWS` (scenario 1's N,
//! 20,000), `PAMINN_BENCH_REPS` (scenario 1's runs per configuration, 3),
//! `PAMINN_BENCH_BIG` (scenario 2's large size in appointments, 1,000,000),
//! `PAMINN_BENCH_PG_SYNCHRONOUS_COMMIT=off` (diagnostic: no WAL flush wait
//! at commit on the benchmark's PostgreSQL database).

use anyhow::{Context, Result, anyhow, ensure};
use chrono::{DateTime, Duration as CDuration, Utc};
use paminn::channels::Channels;
use paminn::channels::sandbox::Sandbox;
use paminn::domain::schedule::QuietHours;
use paminn::domain::{ChannelKind, ChannelSet, Language, OutboxStatus, PhoneNumber, UnitId};
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::engine::{Actor, Engine};
use paminn::store::participants::NewParticipant;
use paminn::store::{Backend, Conn, Db, ms, outbox, sandbox, units};
use rand::RngCore;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const PG_ENV: &str = "PAMINN_TEST_POSTGRES_URL";
const PARTICIPANTS: usize = 200;

// ---------------------------------------------------------------------------
// Databases
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }
}

enum Cleanup {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
    Done,
}

/// A fresh, migrated database. Call [`BenchDb::finish`] to remove it; if it
/// is dropped instead (an error), a PostgreSQL database is still dropped.
struct BenchDb {
    db: Db,
    cleanup: Cleanup,
}

fn random_name() -> String {
    let mut b = [0u8; 6];
    rand::rng().fill_bytes(&mut b);
    format!("paminn_bench_{}", hex::encode(b))
}

/// Replaces the database name in a PostgreSQL URL.
fn with_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

fn pg_admin_url() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|s| !s.trim().is_empty())
}

async fn drop_pg_database(admin_url: &str, name: &str) -> Result<()> {
    let admin = Db::connect(admin_url).await?;
    let r = sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin.pool)
    .await;
    admin.close().await;
    r?;
    Ok(())
}

impl BenchDb {
    async fn new(kind: Kind) -> Result<BenchDb> {
        let (url, cleanup) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}/paminn.db", dir.path().display());
                (url, Cleanup::Sqlite { _dir: dir })
            }
            Kind::Postgres => {
                let admin_url = pg_admin_url().context("PAMINN_TEST_POSTGRES_URL is not set")?;
                let name = random_name();
                let admin = Db::connect(&admin_url)
                    .await
                    .context("connect to PostgreSQL")?;
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin.pool)
                    .await?;
                // Diagnostic only: how much of the cost is waiting for the
                // WAL flush at commit.
                if let Ok(v) = std::env::var("PAMINN_BENCH_PG_SYNCHRONOUS_COMMIT") {
                    let v = if v.trim() == "off" { "off" } else { "on" };
                    sqlx::query(AssertSqlSafe(format!(
                        "ALTER DATABASE {name} SET synchronous_commit = {v}"
                    )))
                    .execute(&admin.pool)
                    .await?;
                }
                admin.close().await;
                (
                    with_db_name(&admin_url, &name),
                    Cleanup::Postgres { admin_url, name },
                )
            }
        };
        let db = match Db::connect(&url).await {
            Ok(db) => db,
            Err(e) => {
                if let Cleanup::Postgres { admin_url, name } = &cleanup {
                    drop_pg_database(admin_url, name).await.ok();
                }
                return Err(e.into());
            }
        };
        let b = BenchDb { db, cleanup };
        b.db.migrate().await?;
        Ok(b)
    }

    /// Closes the pool and removes the database.
    async fn finish(mut self) -> Result<()> {
        self.db.close().await;
        if let Cleanup::Postgres { admin_url, name } =
            std::mem::replace(&mut self.cleanup, Cleanup::Done)
        {
            drop_pg_database(&admin_url, &name).await?;
        }
        Ok(())
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } =
            std::mem::replace(&mut self.cleanup, Cleanup::Done)
        else {
            return;
        };
        // Only on an error path. Drop may run inside the runtime; use a
        // runtime of its own on another thread. FORCE ends our connections.
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                && let Err(e) = rt.block_on(drop_pg_database(&admin_url, &name))
            {
                eprintln!("could not drop database {name}: {e}");
            }
        })
        .join()
        .ok();
    }
}

async fn server_version(db: &Db) -> Result<String> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT sqlite_version()",
        Backend::Postgres => "SELECT current_setting('server_version')",
    };
    Ok(sqlx::query_scalar(sql).fetch_one(&db.pool).await?)
}

// ---------------------------------------------------------------------------
// Fixtures and bulk seeding
// ---------------------------------------------------------------------------

/// One unit without quiet hours, and its participants (consent for SMS).
struct Fixture {
    engine: Engine,
    unit: UnitId,
    p_min: i64,
    p_count: i64,
}

async fn fixture(db: &Db, participants: usize, now: DateTime<Utc>) -> Result<Fixture> {
    let engine = Engine::new(db.clone());
    let unit = {
        let mut c = db.conn().await?;
        let u = units::create(&mut c, "Bench", now).await?;
        units::set_quiet_hours(&mut c, u.id, QuietHours::none()).await?;
        u
    };
    let consent: ChannelSet = "sms".parse().map_err(|e: String| anyhow!(e))?;
    for i in 0..participants {
        let phone = format!(
            "070-1{:02} {:02} {:02}",
            i / 10_000,
            (i / 100) % 100,
            i % 100
        );
        let new = NewParticipant {
            unit_id: unit.id,
            first_name: format!("Deltagare{i}"),
            phone: Some(PhoneNumber::parse(&phone).map_err(|e| anyhow!("{phone}: {e:?}"))?),
            language: if i % 4 == 0 {
                Language::En
            } else {
                Language::Sv
            },
            channel_pref: ChannelKind::Sms,
            time_zone: chrono_tz::Europe::Stockholm,
            discreet: i % 2 == 0,
            lots_id: None,
        };
        engine
            .add_participant(&new, Some(consent), &Actor("bench".into()), now)
            .await?;
    }
    let row =
        sqlx::query("SELECT MIN(id) AS lo, COUNT(*) AS n FROM participants WHERE unit_id = $1")
            .bind(unit.id.get())
            .fetch_one(&db.pool)
            .await?;
    let (p_min, p_count): (i64, i64) = (row.try_get("lo")?, row.try_get("n")?);
    ensure!(
        p_count == participants as i64,
        "participants were not all created"
    );
    let span: i64 =
        sqlx::query_scalar("SELECT MAX(id) - MIN(id) + 1 FROM participants WHERE unit_id = $1")
            .bind(unit.id.get())
            .fetch_one(&db.pool)
            .await?;
    ensure!(span == p_count, "participant ids are not contiguous");
    Ok(Fixture {
        engine,
        unit: unit.id,
        p_min,
        p_count,
    })
}

/// `x` running from 1 to `n`: (prefix before INSERT, FROM item).
fn seq(backend: Backend, n: i64) -> (String, String) {
    match backend {
        Backend::Postgres => (
            String::new(),
            format!("generate_series(1::bigint, {n}::bigint) AS seq(x)"),
        ),
        Backend::Sqlite => (
            format!(
                "WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < {n}) "
            ),
            "seq".into(),
        ),
    }
}

/// Inserts `n` appointments of the fixture's unit, spread round-robin over
/// its participants; `starts_at` is an SQL expression in `x` (1..=n).
/// Returns the lowest new id (ids are contiguous: one statement, fresh db).
async fn seed_appointments(
    c: &mut Conn,
    backend: Backend,
    fx: &Fixture,
    n: i64,
    starts_at: &str,
    created: i64,
) -> Result<i64> {
    let (prefix, from) = seq(backend, n);
    let (unit, p_min, p_count) = (fx.unit.get(), fx.p_min, fx.p_count);
    let sql = format!(
        "{prefix}INSERT INTO appointments (unit_id, participant_id, kind, starts_at, duration_min,
                                           location, with_whom, status, created_at, updated_at)
         SELECT {unit}, {p_min} + (x % {p_count}), 'meeting', {starts_at}, 60,
                'Storgatan 1', 'Sara', 'scheduled', {created}, {created}
         FROM {from}"
    );
    let done = sqlx::query(AssertSqlSafe(sql))
        .execute(&mut *c)
        .await?
        .rows_affected();
    ensure!(done == n as u64, "inserted {done} appointments, not {n}");
    let lo: i64 = sqlx::query_scalar("SELECT MIN(id) FROM appointments WHERE unit_id = $1")
        .bind(unit)
        .fetch_one(&mut *c)
        .await?;
    Ok(lo)
}

/// Plans two reminders (24 h and 2 h before) for every appointment of the
/// unit, as the planner would, with the given SQL expressions over `a`
/// (appointment) and `o.off` (offset in minutes).
struct OutboxPlan<'a> {
    due_at: &'a str,
    status: &'a str,
    attempts: &'a str,
    sent_at: &'a str,
}

async fn seed_outbox(
    c: &mut Conn,
    fx: &Fixture,
    plan: &OutboxPlan<'_>,
    created: i64,
) -> Result<u64> {
    let unit = fx.unit.get();
    let OutboxPlan {
        due_at,
        status,
        attempts,
        sent_at,
    } = plan;
    let sql = format!(
        "INSERT INTO outbox (participant_id, appointment_id, plan_version, purpose, offset_min,
                             channel, ask_reply, due_at, next_attempt_at, status, attempts,
                             sent_at, created_at, updated_at)
         SELECT a.participant_id, a.id, a.plan_version, 'reminder', o.off,
                'sms', CASE WHEN o.off = 1440 THEN 1 ELSE 0 END, {due_at}, {due_at}, {status},
                {attempts}, {sent_at}, {created}, {created}
         FROM appointments a CROSS JOIN (SELECT 1440 AS off UNION ALL SELECT 120) o
         WHERE a.unit_id = {unit}
         ORDER BY a.id, o.off DESC"
    );
    Ok(sqlx::query(AssertSqlSafe(sql))
        .execute(&mut *c)
        .await?
        .rows_affected())
}

/// `n` rows (n/2 appointments starting tomorrow, two reminders each), all
/// pending, the k-th (0-based, in id order) due at `due0 + k * step_ms`.
async fn seed_due_rows(
    b: &BenchDb,
    fx: &Fixture,
    n: i64,
    due0: i64,
    step_ms: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    ensure!(n % 2 == 0, "n must be even");
    let backend = b.db.backend;
    let created = ms(now);
    let tomorrow = ms(now + CDuration::days(1));
    let mut tx = b.db.begin().await?;
    let a_min = seed_appointments(
        &mut tx,
        backend,
        fx,
        n / 2,
        &format!("{tomorrow} + x * 1000"),
        created,
    )
    .await?;
    let due = format!(
        "{due0} + ((a.id - {a_min}) * 2 + CASE WHEN o.off = 1440 THEN 0 ELSE 1 END) * {step_ms}"
    );
    let rows = seed_outbox(
        &mut tx,
        fx,
        &OutboxPlan {
            due_at: &due,
            status: "'pending'",
            attempts: "0",
            sent_at: "NULL",
        },
        created,
    )
    .await?;
    ensure!(rows == n as u64, "planned {rows} rows, not {n}");
    tx.commit().await?;
    analyze(&b.db).await?;
    Ok(())
}

/// Refreshes planner statistics after a bulk load, as autovacuum would on
/// PostgreSQL. SQLite is left as the application leaves it (no ANALYZE).
async fn analyze(db: &Db) -> Result<()> {
    if db.backend == Backend::Postgres {
        sqlx::query("ANALYZE").execute(&db.pool).await?;
    }
    Ok(())
}

fn sandbox_channels(db: &Db) -> Arc<Channels> {
    Arc::new(Channels::new().with(
        ChannelKind::Sms,
        Arc::new(Sandbox::new(db.clone(), Duration::ZERO)),
    ))
}

// ---------------------------------------------------------------------------
// Statistics and printing
// ---------------------------------------------------------------------------

/// Nearest-rank percentile of a sorted slice.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn met(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

/// `/proc/loadavg` (1, 5, 15 min), to tell a busy machine from a slow program.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

fn env_i64(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// Scenario 1: throughput
// ---------------------------------------------------------------------------

struct Throughput {
    kind: Kind,
    batch: i64,
    concurrency: usize,
    rows: i64,
    secs: f64,
    sent: usize,
    other: usize,
    /// CPU time of this process during the run (Linux only).
    bench_cpu_ms: Option<f64>,
    /// CPU time of the PostgreSQL backends serving this database.
    server_cpu_ms: Option<f64>,
    sent_status: i64,
    once: usize,
    twice_or_more: usize,
    never: usize,
}

impl Throughput {
    fn rate(&self) -> f64 {
        self.sent as f64 / self.secs
    }
    /// Issue 22's targets (the default configuration is the one that
    /// counts; the others are printed against the same figure).
    fn target(&self) -> f64 {
        match self.kind {
            Kind::Sqlite => 5_000.0,
            Kind::Postgres => 4_000.0,
        }
    }
    fn verified(&self) -> bool {
        self.once as i64 == self.rows
            && self.twice_or_more == 0
            && self.never == 0
            && self.sent_status == self.rows
    }
}

/// User + system CPU time of a process from `/proc/<pid>/stat`, in ms
/// (assumes the usual 100 clock ticks per second). `None` off Linux.
fn cpu_ms(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}

/// CPU time of each PostgreSQL backend connected to this database (only
/// when the server runs on this machine, as in the documented setup).
async fn server_cpu(db: &Db) -> Result<Vec<(i64, f64)>> {
    if db.backend != Backend::Postgres {
        return Ok(Vec::new());
    }
    let pids: Vec<i64> = sqlx::query_scalar(
        "SELECT pid::bigint FROM pg_stat_activity WHERE datname = current_database()",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(pids
        .into_iter()
        .filter_map(|p| cpu_ms(&p.to_string()).map(|c| (p, c)))
        .collect())
}

async fn server_cpu_delta(db: &Db, before: &[(i64, f64)]) -> Result<Option<f64>> {
    if db.backend != Backend::Postgres {
        return Ok(None);
    }
    let after = server_cpu(db).await?;
    if after.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        after
            .iter()
            .map(|(pid, c)| {
                c - before
                    .iter()
                    .find(|(p, _)| p == pid)
                    .map_or(0.0, |(_, b)| *b)
            })
            .sum(),
    ))
}

/// `PAMINN_BENCH_DRIVE=run_once`: scenario 1 claims and finishes one batch
/// at a time, as the dispatcher did before batches were streamed.
fn one_batch_at_a_time() -> bool {
    std::env::var("PAMINN_BENCH_DRIVE").is_ok_and(|v| v == "run_once")
}

async fn throughput(kind: Kind, rows: i64, batch: i64, concurrency: usize) -> Result<Throughput> {
    let b = BenchDb::new(kind).await?;
    let setup_now = Utc::now() - CDuration::hours(1);
    let fx = fixture(&b.db, PARTICIPANTS, setup_now).await?;
    // All due within the last minute or so, in id order.
    let due0 = ms(Utc::now() - CDuration::minutes(2));
    seed_due_rows(&b, &fx, rows, due0, 1, setup_now).await?;

    let cfg = DispatcherConfig {
        owner: "bench".into(),
        batch_size: batch,
        concurrency,
        ..Default::default()
    };
    let d = Dispatcher::new(fx.engine.clone(), sandbox_channels(&b.db), cfg);
    let (mut sent, mut other) = (0usize, 0usize);
    let server_cpu0 = server_cpu(&b.db).await?;
    let cpu0 = cpu_ms("self");
    let t = Instant::now();
    loop {
        let r = if one_batch_at_a_time() {
            d.run_once(Utc::now()).await?
        } else {
            d.drain(Utc::now()).await?
        };
        if r.claimed == 0 {
            break;
        }
        sent += r.sent;
        other += r.retried + r.deferred + r.failed + r.suppressed + r.lost;
    }
    let secs = t.elapsed().as_secs_f64();
    let bench_cpu_ms = cpu_ms("self").zip(cpu0).map(|(a, b)| a - b);
    let server_cpu_ms = server_cpu_delta(&b.db, &server_cpu0).await?;

    // Exactly once: every row reached the sandbox phone once, and is `sent`.
    let mut c = b.db.conn().await?;
    let deliveries = sandbox::deliveries_per_outbox_row(&mut c).await?;
    let sent_status = outbox::count_by_status(&mut c, OutboxStatus::Sent).await?;
    let all: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox")
        .fetch_all(&mut *c)
        .await?;
    let delivered: HashSet<i64> = deliveries.iter().map(|(id, _)| *id).collect();
    let once = deliveries.iter().filter(|(_, n)| *n == 1).count();
    let twice_or_more = deliveries.iter().filter(|(_, n)| *n > 1).count();
    let never = all.iter().filter(|id| !delivered.contains(id)).count();
    drop(c);
    drop(d);
    drop(fx);
    b.finish().await?;
    Ok(Throughput {
        kind,
        batch,
        concurrency,
        rows,
        secs,
        sent,
        other,
        bench_cpu_ms,
        server_cpu_ms,
        sent_status,
        once,
        twice_or_more,
        never,
    })
}

/// The runs of one backend and configuration.
struct ThroughputGroup<'a> {
    runs: Vec<&'a Throughput>,
    /// Sorted rates of the runs.
    rates: Vec<f64>,
}

impl ThroughputGroup<'_> {
    fn first(&self) -> &Throughput {
        self.runs[0]
    }
    fn median(&self) -> f64 {
        pct(&self.rates, 50.0)
    }
}

fn group_throughput(results: &[Throughput]) -> Vec<ThroughputGroup<'_>> {
    let mut groups: Vec<ThroughputGroup<'_>> = Vec::new();
    for r in results {
        match groups.iter_mut().find(|g| {
            let f = g.first();
            (f.kind, f.batch, f.concurrency) == (r.kind, r.batch, r.concurrency)
        }) {
            Some(g) => g.runs.push(r),
            None => groups.push(ThroughputGroup {
                runs: vec![r],
                rates: Vec::new(),
            }),
        }
    }
    for g in &mut groups {
        g.rates = g.runs.iter().map(|r| r.rate()).collect();
        g.rates.sort_by(f64::total_cmp);
    }
    groups
}

/// CPU time per message, bench process and database server, and how busy
/// that kept the machine's cores.
fn cpu_per_msg(runs: &[&Throughput]) -> String {
    let n: f64 = runs.iter().map(|r| r.sent as f64).sum();
    let wall_ms: f64 = runs.iter().map(|r| r.secs * 1e3).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bench: Option<f64> = runs.iter().map(|r| r.bench_cpu_ms).sum();
    let server: Option<f64> = runs.iter().map(|r| r.server_cpu_ms).sum();
    let busy = |cpu: f64| 100.0 * cpu / (wall_ms * cores as f64);
    match (bench, server) {
        (Some(b), Some(s)) => format!(
            "{:.0} + {:.0} = {:.0} ({:.0}% of {cores} cores)",
            b * 1e3 / n,
            s * 1e3 / n,
            (b + s) * 1e3 / n,
            busy(b + s)
        ),
        (Some(b), None) => format!("{:.0} ({:.0}% of {cores} cores)", b * 1e3 / n, busy(b)),
        _ => "n/a".into(),
    }
}

fn print_throughput(results: &[Throughput]) {
    println!(
        "\n### Scenario 1: pipeline throughput (claim → gate → render → sandbox send → record)\n"
    );
    println!(
        "| backend | batch_size | concurrency | rows per run | runs | messages/s (median) | min – max | target | met | CPU µs/msg: bench + DB server | every row sent exactly once |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|");
    let groups = group_throughput(results);
    for g in &groups {
        let f = g.first();
        let once = g.runs.iter().all(|r| r.verified());
        let detail = g
            .runs
            .iter()
            .map(|r| {
                format!(
                    "{}×1, {}×2+, {} never, {} `sent`",
                    r.once, r.twice_or_more, r.never, r.sent_status
                )
            })
            .collect::<Vec<_>>();
        let cpu = cpu_per_msg(&g.runs);
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.0} – {:.0} | ≥ {:.0}/s | {} | {} | {} |",
            f.kind.name(),
            f.batch,
            f.concurrency,
            f.rows,
            g.runs.len(),
            g.median(),
            g.rates[0],
            g.rates[g.rates.len() - 1],
            f.target(),
            met(g.median() >= f.target()),
            cpu,
            if once {
                format!("yes ({})", detail[0])
            } else {
                format!("**NO** ({})", detail.join("; "))
            },
        );
    }
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let of_kind: Vec<&ThroughputGroup<'_>> =
            groups.iter().filter(|g| g.first().kind == kind).collect();
        let Some(best) = of_kind
            .iter()
            .max_by(|a, b| a.median().total_cmp(&b.median()))
        else {
            continue;
        };
        let default = DispatcherConfig::default();
        let dflt = of_kind.iter().find(|g| {
            (g.first().batch, g.first().concurrency) == (default.batch_size, default.concurrency)
        });
        let runs: Vec<&Throughput> = of_kind.iter().flat_map(|g| g.runs.clone()).collect();
        println!(
            "\n{}: best {:.0} msg/s (batch_size {}, concurrency {}){}. Exactly-once check over all {} runs: {}. Rows the dispatcher did not report as sent: {}.",
            kind.name(),
            best.median(),
            best.first().batch,
            best.first().concurrency,
            dflt.map(|d| format!("; default config {:.0} msg/s", d.median()))
                .unwrap_or_default(),
            runs.len(),
            if runs.iter().all(|r| r.verified()) {
                "passed"
            } else {
                "**FAILED**"
            },
            runs.iter().map(|r| r.other).sum::<usize>(),
        );
    }
}

// ---------------------------------------------------------------------------
// Scenario 2: due-claim latency vs table size
// ---------------------------------------------------------------------------

const DUE_ROWS: i64 = 200;
const CLAIM_REPS: usize = 30;
const CLAIM_WARMUP: usize = 3;

struct ClaimLatency {
    kind: Kind,
    appointments: i64,
    outbox_rows: i64,
    open_rows: i64,
    build_secs: f64,
    median_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

/// A database for scenario 2, built and checked.
struct ClaimDb {
    b: BenchDb,
    now: DateTime<Utc>,
    stats: ClaimLatency,
    samples: Vec<f64>,
}

async fn build_claim_db(kind: Kind, appointments: i64) -> Result<ClaimDb> {
    let b = BenchDb::new(kind).await?;
    let now = Utc::now();
    let fx = fixture(&b.db, PARTICIPANTS, now - CDuration::days(400)).await?;
    let t_ref = ms(now);
    let created = t_ref - 86_400_000 * 400;
    let built = Instant::now();
    let mut tx = b.db.begin().await?;
    // x <= DUE_ROWS/2: starting in 1 h, so both reminders are due (the 24 h
    // one 23 h ago, the 2 h one 1 h ago). Otherwise odd x: in the past, both
    // reminders sent; even x: from 2 days ahead, both pending. Spread 30 s
    // apart: 1M appointments cover about a year each way.
    let half = DUE_ROWS / 2;
    let starts_at = format!(
        "CASE WHEN x <= {half} THEN {t_ref} + 3600000 + x * 1000
              WHEN x % 2 = 1 THEN {t_ref} - 86400000 - x * 30000
              ELSE {t_ref} + 172800000 + x * 30000 END"
    );
    seed_appointments(
        &mut tx,
        b.db.backend,
        &fx,
        appointments,
        &starts_at,
        created,
    )
    .await?;
    let past = format!("a.starts_at < {t_ref}");
    let due = "a.starts_at - o.off * 60000";
    let rows = seed_outbox(
        &mut tx,
        &fx,
        &OutboxPlan {
            due_at: due,
            status: &format!("CASE WHEN {past} THEN 'sent' ELSE 'pending' END"),
            attempts: &format!("CASE WHEN {past} THEN 1 ELSE 0 END"),
            sent_at: &format!("CASE WHEN {past} THEN {due} END"),
        },
        created,
    )
    .await?;
    ensure!(rows == 2 * appointments as u64, "planned {rows} rows");
    tx.commit().await?;
    analyze(&b.db).await?;
    let build_secs = built.elapsed().as_secs_f64();

    let due_now: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE status IN ('pending','sending') AND next_attempt_at <= $1",
    )
    .bind(t_ref)
    .fetch_one(&b.db.pool)
    .await?;
    ensure!(
        due_now == DUE_ROWS,
        "{due_now} rows due, expected {DUE_ROWS}"
    );
    let open_rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending','sending')")
            .fetch_one(&b.db.pool)
            .await?;
    Ok(ClaimDb {
        b,
        now,
        stats: ClaimLatency {
            kind,
            appointments,
            outbox_rows: 2 * appointments,
            open_rows,
            build_secs,
            median_ms: f64::NAN,
            p95_ms: f64::NAN,
            max_ms: f64::NAN,
        },
        samples: Vec::new(),
    })
}

impl ClaimDb {
    /// One timed claim of the due rows; then puts them back to pending so
    /// that the next repetition finds them again.
    async fn claim_once(&mut self) -> Result<f64> {
        let db = &self.b.db;
        let lease_until = self.now + CDuration::seconds(60);
        let t = Instant::now();
        let claimed = outbox::claim(db, "bench", self.now, lease_until, DUE_ROWS).await?;
        let el = t.elapsed().as_secs_f64() * 1e3;
        ensure!(
            claimed.len() as i64 == DUE_ROWS,
            "claimed {} rows, expected {DUE_ROWS}",
            claimed.len()
        );
        let back = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, lease_owner = NULL,
                    lease_until = NULL, claim_token = NULL, next_attempt_at = due_at
             WHERE claim_token = $1",
        )
        .bind(claimed[0].claim_token.clone())
        .execute(&db.pool)
        .await?
        .rows_affected();
        ensure!(back == DUE_ROWS as u64, "reset {back} rows");
        Ok(el)
    }

    async fn finish(mut self) -> Result<ClaimLatency> {
        self.samples.sort_by(f64::total_cmp);
        self.stats.median_ms = pct(&self.samples, 50.0);
        self.stats.p95_ms = pct(&self.samples, 95.0);
        self.stats.max_ms = pct(&self.samples, 100.0);
        self.b.finish().await?;
        Ok(self.stats)
    }
}

/// Builds both sizes, then alternates claims between them so that a busy
/// moment on the machine affects both sizes alike.
async fn claim_latency(kind: Kind, small: i64, big: i64) -> Result<(ClaimLatency, ClaimLatency)> {
    let mut s = build_claim_db(kind, small).await?;
    eprintln!(
        "[2] {} built {small} appointments in {:.1} s",
        kind.name(),
        s.stats.build_secs
    );
    let mut l = build_claim_db(kind, big).await?;
    eprintln!(
        "[2] {} built {big} appointments in {:.1} s",
        kind.name(),
        l.stats.build_secs
    );
    for rep in 0..CLAIM_WARMUP + CLAIM_REPS {
        let a = s.claim_once().await?;
        let b = l.claim_once().await?;
        if rep >= CLAIM_WARMUP {
            s.samples.push(a);
            l.samples.push(b);
        }
    }
    Ok((s.finish().await?, l.finish().await?))
}

fn print_claim(results: &[(ClaimLatency, ClaimLatency)]) {
    println!(
        "\n### Scenario 2: `outbox::claim` of {DUE_ROWS} due rows vs table size ({CLAIM_REPS} runs per size after {CLAIM_WARMUP} warm-up, alternating between the sizes)\n"
    );
    println!(
        "| backend | appointments | outbox rows | open (pending) rows | build (s) | claim median (ms) | claim p95 (ms) | claim max (ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (small, big) in results {
        for r in [small, big] {
            println!(
                "| {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} |",
                r.kind.name(),
                r.appointments,
                r.outbox_rows,
                r.open_rows,
                r.build_secs,
                r.median_ms,
                r.p95_ms,
                r.max_ms,
            );
        }
    }
    println!();
    println!("| backend | sizes | median ratio (big/small) | p95 ratio | target | met |");
    println!("|---|---|---:|---:|---:|---|");
    for (small, big) in results {
        let ratio = big.median_ms / small.median_ms;
        println!(
            "| {} | {} / {} appointments | {:.2} | {:.2} | ≤ 1.5 | {} |",
            small.kind.name(),
            big.appointments,
            small.appointments,
            ratio,
            big.p95_ms / small.p95_ms,
            met(ratio <= 1.5),
        );
    }
}

// ---------------------------------------------------------------------------
// Scenario 3: lateness under load
// ---------------------------------------------------------------------------

const LATE_ROWS: i64 = 10_000;

struct Lateness {
    kind: Kind,
    rows: i64,
    sent: i64,
    poll_ms: u128,
    batch: i64,
    concurrency: usize,
    /// `outbox.sent_at - due_at` (ms)
    recorded: [f64; 3],
    /// `sandbox_messages.at - due_at` (ms): when the gateway actually had it
    gateway: [f64; 3],
    lead_ok: bool,
}

async fn lateness(kind: Kind) -> Result<Lateness> {
    let b = BenchDb::new(kind).await?;
    let setup_now = Utc::now() - CDuration::hours(1);
    let fx = fixture(&b.db, PARTICIPANTS, setup_now).await?;
    let lead = CDuration::seconds(3);
    let start = Utc::now() + lead;
    seed_due_rows(&b, &fx, LATE_ROWS, ms(start), 1, setup_now).await?;
    let lead_ok = Utc::now() < start;

    let cfg = DispatcherConfig {
        owner: "bench".into(),
        ..Default::default()
    };
    let (poll_ms, batch, concurrency) = (cfg.poll.as_millis(), cfg.batch_size, cfg.concurrency);
    let d = Arc::new(Dispatcher::new(
        fx.engine.clone(),
        sandbox_channels(&b.db),
        cfg,
    ));
    let stop = CancellationToken::new();
    let worker = tokio::spawn({
        let (d, stop) = (d.clone(), stop.clone());
        async move { d.run(stop).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10 + 3 + 120);
    let mut sent = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut c = b.db.conn().await?;
        sent = outbox::count_by_status(&mut c, OutboxStatus::Sent).await?;
        if sent >= LATE_ROWS {
            break;
        }
    }
    stop.cancel();
    worker.await?;

    let rows = sqlx::query(
        "SELECT o.due_at, o.sent_at, s.at FROM outbox o
         JOIN sandbox_messages s ON s.outbox_id = o.id AND s.direction = 'out'
         WHERE o.status = 'sent'",
    )
    .fetch_all(&b.db.pool)
    .await?;
    let (mut rec, mut gw) = (Vec::new(), Vec::new());
    for r in &rows {
        let due: i64 = r.try_get("due_at")?;
        let sent_at: i64 = r.try_get("sent_at")?;
        let at: i64 = r.try_get("at")?;
        rec.push((sent_at - due) as f64);
        gw.push((at - due) as f64);
    }
    rec.sort_by(f64::total_cmp);
    gw.sort_by(f64::total_cmp);
    let three = |v: &[f64]| [pct(v, 50.0), pct(v, 99.0), pct(v, 100.0)];
    drop(d);
    drop(fx);
    b.finish().await?;
    Ok(Lateness {
        kind,
        rows: LATE_ROWS,
        sent,
        poll_ms,
        batch,
        concurrency,
        recorded: three(&rec),
        gateway: three(&gw),
        lead_ok,
    })
}

fn print_lateness(results: &[Lateness]) {
    println!(
        "\n### Scenario 3: lateness under load ({LATE_ROWS} rows due 1 ms apart = 1,000/s for 10 s, `Dispatcher::run`)\n"
    );
    println!(
        "| backend | config | sent | lateness measured as | p50 (ms) | p99 (ms) | max (ms) | target p99 | met |"
    );
    println!("|---|---|---:|---|---:|---:|---:|---:|---|");
    for r in results {
        let cfg = format!(
            "batch {} / conc. {} / poll {} ms",
            r.batch, r.concurrency, r.poll_ms
        );
        let sent = format!("{}/{}", r.sent, r.rows);
        println!(
            "| {} | {} | {} | `outbox.sent_at − due_at` | {:.0} | {:.0} | {:.0} | ≤ 1000 ms | {} |",
            r.kind.name(),
            cfg,
            sent,
            r.recorded[0],
            r.recorded[1],
            r.recorded[2],
            met(r.recorded[1] <= 1000.0 && r.sent == r.rows),
        );
        println!(
            "| {} | {} | {} | `sandbox_messages.at − due_at` | {:.0} | {:.0} | {:.0} | ≤ 1000 ms | {} |",
            r.kind.name(),
            cfg,
            sent,
            r.gateway[0],
            r.gateway[1],
            r.gateway[2],
            met(r.gateway[1] <= 1000.0 && r.sent == r.rows),
        );
        if !r.lead_ok {
            println!(
                "\n(warning: seeding {} took longer than the 3 s lead; the first rows were already due when the dispatcher started)",
                r.kind.name()
            );
        }
    }
}

// ---------------------------------------------------------------------------

async fn run() -> Result<()> {
    let mut kinds = vec![Kind::Sqlite];
    if pg_admin_url().is_some() {
        kinds.push(Kind::Postgres);
    } else {
        println!("({PG_ENV} is not set: PostgreSQL is skipped)");
    }
    if let Ok(only) = std::env::var("PAMINN_BENCH_BACKENDS") {
        kinds.retain(|k| only.to_lowercase().contains(&k.name().to_lowercase()));
    }
    let scenarios: Vec<u32> = std::env::var("PAMINN_BENCH_SCENARIOS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3]);
    let started = Instant::now();

    println!("## paminn pipeline benchmark\n");
    for &kind in &kinds {
        let b = BenchDb::new(kind).await?;
        println!("- {}: {}", kind.name(), server_version(&b.db).await?);
        b.finish().await?;
    }
    println!(
        "- tokio multi-thread runtime, {} worker threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("- load average at start: {}", loadavg());

    if scenarios.contains(&1) {
        let rows = env_i64("PAMINN_BENCH_ROWS", 20_000);
        let d = DispatcherConfig::default();
        let mut configs = vec![
            (d.batch_size, d.concurrency),
            (500, 32),
            (500, 64),
            (1000, 64),
        ];
        configs.dedup();
        let reps = env_i64("PAMINN_BENCH_REPS", 3).max(1);
        let mut results = Vec::new();
        for &kind in &kinds {
            // Repetitions outermost, so that a noisy moment on the machine
            // does not hit all runs of one configuration.
            for rep in 1..=reps {
                for &(batch, conc) in &configs {
                    let r = throughput(kind, rows, batch, conc).await?;
                    eprintln!(
                        "[1] {} run {rep} batch {batch} conc {conc}: {:.0} msg/s",
                        kind.name(),
                        r.rate()
                    );
                    results.push(r);
                }
            }
        }
        print_throughput(&results);
    }

    if scenarios.contains(&2) {
        let small = 10_000;
        let big = env_i64("PAMINN_BENCH_BIG", 1_000_000);
        let mut results = Vec::new();
        for &kind in &kinds {
            let (s, l) = claim_latency(kind, small, big).await?;
            eprintln!(
                "[2] {}: median {:.2} ms ({small}), {:.2} ms ({big})",
                kind.name(),
                s.median_ms,
                l.median_ms
            );
            results.push((s, l));
        }
        print_claim(&results);
    }

    if scenarios.contains(&3) {
        let mut results = Vec::new();
        for &kind in &kinds {
            let r = lateness(kind).await?;
            eprintln!(
                "[3] {}: p99 {:.0} ms (recorded), {:.0} ms (gateway)",
                kind.name(),
                r.recorded[1],
                r.gateway[1]
            );
            results.push(r);
        }
        print_lateness(&results);
    }

    println!(
        "\nTotal bench time: {:.0} s; load average at the end: {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    Ok(())
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}
