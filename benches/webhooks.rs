//! Webhook benchmark: inbound SMS replies through `POST
//! /webhooks/sms/46elks/inbound`, each authenticated, parsed, matched to an
//! appointment and written to the case record (with its receipt queued);
//! and delivery reports through `POST /webhooks/sms/46elks/status`, each
//! moving one sent message to `delivered` (receipts arriving together are
//! committed together, issue 22). Prints throughput and latency
//! percentiles; asserts only that every request was answered 2xx and
//! every write is in the database, nothing about timing.
//!
//! ```text
//! PAMINN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --bench webhooks
//! ```
//!
//! `PAMINN_BENCH_WEBHOOKS=inbound` or `receipts` runs one of the two
//! (default: both).
//!
//! The load generator is a Rust client (reqwest; 16 and 64 connections) in the same
//! process as the server, on loopback: both share the machine's cores, so
//! the figures are a floor for a server with the machine to itself.

use chrono::{Duration, Utc};
use paminn::channels::Channels;
use paminn::channels::sandbox::Sandbox;
use paminn::domain::schedule::QuietHours;
use paminn::domain::{AppointmentKind, ChannelKind, ChannelSet, Language, PhoneNumber};
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::engine::{Actor, Engine};
use paminn::store::appointments::NewAppointment;
use paminn::store::participants::NewParticipant;
use paminn::store::units;
use paminn::web::webhooks::WebhookConfig;
use paminn::web::{self, AppState};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

#[path = "support/db.rs"]
mod db;
use db::{drop_pg, fresh};

const PARTICIPANTS: usize = 500;
const REQUESTS: usize = 10_000;
const SECRET: &str = "bench-secret-bench-secret-bench-secret";

/// Participants with one appointment each, reminded (so a reply has an
/// open question to answer).
async fn seed(e: &Engine) -> Vec<String> {
    let now = Utc::now();
    let unit = {
        let mut c = e.db.conn().await.unwrap();
        let u = units::create(&mut c, "Bench", now).await.unwrap();
        units::set_quiet_hours(&mut c, u.id, QuietHours::none())
            .await
            .unwrap();
        u
    };
    let mut phones = Vec::new();
    for i in 0..PARTICIPANTS {
        let phone = PhoneNumber::parse(&format!("+4670{:07}", 1_000_000 + i)).unwrap();
        let p = e
            .add_participant(
                &NewParticipant {
                    unit_id: unit.id,
                    first_name: format!("P{i}"),
                    phone: Some(phone.clone()),
                    language: Language::Sv,
                    channel_pref: ChannelKind::Sms,
                    time_zone: unit.time_zone,
                    discreet: true,
                    lots_id: None,
                },
                Some(ChannelSet::NONE.with(ChannelKind::Sms, true)),
                &Actor("bench".into()),
                now,
            )
            .await
            .unwrap();
        e.create_appointment(
            &NewAppointment {
                participant_id: p.id,
                series_id: None,
                kind: AppointmentKind::Meeting,
                starts_at: now + Duration::days(20),
                duration_min: 60,
                location: None,
                with_whom: None,
                internal_note: None,
                external_ref: None,
            },
            &Actor("bench".into()),
            now,
        )
        .await
        .unwrap();
        phones.push(phone.as_e164().to_string());
    }
    // Send the reminders (due 24h before) so every participant has an open question.
    let sandbox = Arc::new(Sandbox::new(e.db.clone(), std::time::Duration::ZERO));
    let channels = Arc::new(Channels::new().with(ChannelKind::Sms, sandbox));
    let d = Dispatcher::new(e.clone(), channels, DispatcherConfig::default());
    let at = now + Duration::days(19) + Duration::hours(1);
    while d.run_once(at).await.unwrap().claimed > 0 {}
    phones
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// What the load posts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    /// Participants' replies, to `/inbound`.
    Inbound,
    /// Delivery reports ("delivered") for sent messages, to `/status`.
    Receipts,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Inbound => "inbound",
            Load::Receipts => "receipts",
        }
    }
}

/// `REQUESTS` sent SMS notices with gateway ids `rcpt-1` … `rcpt-N`,
/// spread over the seeded participants: what a gateway reports on after a
/// large broadcast. Written in one statement; the path measured is the
/// receipt's, not the send's.
async fn seed_sent(db: &paminn::store::Db) {
    use paminn::store::Backend;
    let now = Utc::now().timestamp_millis();
    let (prefix, from) = match db.backend {
        Backend::Postgres => (
            String::new(),
            format!("generate_series(1::bigint, {REQUESTS}::bigint) AS seq(x)"),
        ),
        Backend::Sqlite => (
            format!(
                "WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < {REQUESTS}) "
            ),
            "seq".into(),
        ),
    };
    let sql = format!(
        "{prefix}INSERT INTO outbox (participant_id, purpose, channel, due_at, next_attempt_at,
                                     status, attempts, sent_at, gateway_id, created_at, updated_at)
         SELECT (SELECT MIN(id) FROM participants) + (x % {PARTICIPANTS}), 'notice', 'sms',
                {now}, {now}, 'sent', 1, {now}, 'rcpt-' || x, {now}, {now}
         FROM {from}"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&db.pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(done, REQUESTS as u64);
    if db.backend == Backend::Postgres {
        sqlx::query("ANALYZE").execute(&db.pool).await.unwrap();
    }
}

async fn run(kind: &str, load: Load, concurrency: usize) {
    let (db, pg, _dir) = fresh(kind).await;
    let e = Engine::new(db.clone());
    let phones = seed(&e).await;
    if load == Load::Receipts {
        seed_sent(&db).await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/webhooks/sms/46elks/{}?secret={SECRET}",
        listener.local_addr().unwrap(),
        match load {
            Load::Inbound => "inbound",
            Load::Receipts => "status",
        }
    );
    let stop = CancellationToken::new();
    let webhooks = WebhookConfig {
        provider: Some(paminn::web::webhooks::SmsProvider::Elks46),
        secret: Some(SECRET.into()),
        ..Default::default()
    };
    tokio::spawn(web::serve(
        listener,
        AppState {
            engine: e.clone(),
            demo: false,
            webhooks,
            telegram: None,
            transports: vec![
                ("sms".into(), "sandbox".into()),
                ("telegram".into(), "sandbox".into()),
            ],
            ui: Default::default(),
        },
        stop.clone(),
    ));
    // What a user would check afterwards: every reply is in the case
    // record, or every reported message is marked delivered.
    let stored_sql = match load {
        Load::Inbound => "SELECT COUNT(*) FROM inbound",
        Load::Receipts => "SELECT COUNT(*) FROM outbox WHERE status = 'delivered'",
    };
    let label = load.name();
    if std::env::var("PAMINN_BENCH_LOADGEN").as_deref() == Ok("wrk") {
        assert!(
            load == Load::Inbound,
            "the wrk load generator posts replies only"
        );
        let (rps, p50, p99, max, errors) = wrk(&url, &phones, concurrency);
        let stored: i64 = sqlx::query_scalar(stored_sql)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        println!(
            "| {label} | {kind} | wrk {WRK_SECS} s | {concurrency} | {rps:.0} | {p50:.1} | {p99:.1} | {max:.1} | {errors} | {stored} |"
        );
        stop.cancel();
        db.close().await;
        if let Some((admin, name)) = pg {
            drop_pg(&admin, &name).await;
        }
        return;
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let replies = [
        "kommer",
        "Kommer!",
        "ja",
        "förhinder, sjuk",
        "ok",
        "kan inte, jobbar",
        "👍",
        "MINA TIDER",
    ];
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, url, next, phones) = (http.clone(), url.clone(), next.clone(), phones.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= REQUESTS {
                    break;
                }
                let form: Vec<(&str, String)> = match load {
                    Load::Inbound => vec![
                        ("id", format!("bench-{i}")),
                        ("from", phones[i % phones.len()].clone()),
                        ("to", "+46766860000".into()),
                        ("message", replies[i % replies.len()].into()),
                        ("direction", "incoming".into()),
                    ],
                    Load::Receipts => vec![
                        ("id", format!("rcpt-{}", i + 1)),
                        ("status", "delivered".into()),
                        ("delivered", "2026-12-07T10:00:00.000000".into()),
                    ],
                };
                let t = Instant::now();
                let ok = http
                    .post(&url)
                    .form(&form)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                errors += usize::from(!ok);
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let stored: i64 = sqlx::query_scalar(stored_sql)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    println!(
        "| {label} | {kind} | {REQUESTS} | {concurrency} | {:.0} | {:.1} | {:.1} | {:.1} | {errors} | {stored} |",
        REQUESTS as f64 / secs,
        pct(&lat, 0.50),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    if load == Load::Receipts {
        assert_eq!(
            (errors, stored),
            (0, REQUESTS as i64),
            "every receipt answered and applied"
        );
    }
    stop.cancel();
    db.close().await;
    if let Some((admin, name)) = pg {
        drop_pg(&admin, &name).await;
    }
}

/// How long a `wrk` run lasts.
const WRK_SECS: u32 = 15;

/// The same replies as the built-in client, form-encoded, from `wrk` (a C
/// load generator, one process, 2 threads) with a Lua script that gives
/// every request its own message id. Returns requests/s, p50, p99 and max
/// in ms, and the non-2xx count.
fn wrk(url: &str, phones: &[String], concurrency: usize) -> (f64, f64, f64, f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("inbound.lua");
    let list = phones
        .iter()
        .map(|p| format!("\"{}\"", p.trim_start_matches('+')))
        .collect::<Vec<_>>()
        .join(",");
    std::fs::write(
        &script,
        format!(
            r#"local phones = {{ {list} }}
local replies = {{ "kommer", "Kommer%21", "ja", "f%C3%B6rhinder%2C+sjuk", "ok", "kan+inte%2C+jobbar", "%F0%9F%91%8D", "MINA+TIDER" }}
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) n = 0 end
function request()
  n = n + 1
  local body = "id=w" .. tid .. "-" .. n .. "&from=%2B" .. phones[(n * 7 + tid) % #phones + 1]
    .. "&to=%2B46766860000&message=" .. replies[n % #replies + 1] .. "&direction=incoming"
  return wrk.format("POST", nil, {{ ["Content-Type"] = "application/x-www-form-urlencoded" }}, body)
end
"#
        ),
    )
    .unwrap();
    let out = std::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{concurrency}"),
            &format!("-d{WRK_SECS}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ms = |v: &str| -> f64 {
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
        let n: f64 = num.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1000.0,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => n,
        }
    };
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(prefix)
                    .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
            })
            .unwrap_or_default()
    };
    let rps: f64 = field("Requests/sec:").parse().unwrap_or(f64::NAN);
    let p50 = ms(&field("50%"));
    let p99 = ms(&field("99%"));
    let max = text
        .lines()
        .find(|l| l.trim().starts_with("Latency") && !l.contains("Distribution"))
        .and_then(|l| l.split_whitespace().nth(3).map(ms))
        .unwrap_or(f64::NAN);
    let errors = field("Non-2xx or 3xx responses:").parse().unwrap_or(0);
    (rps, p50, p99, max, errors)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| load | backend | requests | connections | requests/s | p50 ms | p99 ms | max ms | errors | stored |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let pg = std::env::var("PAMINN_TEST_POSTGRES_URL").is_ok();
    // Knobs for profiling one configuration: PAMINN_BENCH_BACKENDS=sqlite
    // or postgres, PAMINN_BENCH_CONNECTIONS=1,16 (default: both, 16 and 64).
    let backends = std::env::var("PAMINN_BENCH_BACKENDS").unwrap_or_default();
    let wanted = |b: &str| backends.is_empty() || backends.contains(b);
    let connections: Vec<usize> = match std::env::var("PAMINN_BENCH_CONNECTIONS") {
        Ok(v) => v.split(',').filter_map(|c| c.trim().parse().ok()).collect(),
        Err(_) => vec![16, 64],
    };
    let loads = std::env::var("PAMINN_BENCH_WEBHOOKS").unwrap_or_default();
    for load in [Load::Inbound, Load::Receipts] {
        if !loads.is_empty() && !loads.contains(load.name()) {
            continue;
        }
        for &concurrency in &connections {
            if wanted("sqlite") {
                rt.block_on(run("sqlite", load, concurrency));
            }
            if pg && wanted("postgres") {
                rt.block_on(run("postgres", load, concurrency));
            }
        }
    }
    if !pg {
        println!("(PostgreSQL skipped: set PAMINN_TEST_POSTGRES_URL)");
    }
}
