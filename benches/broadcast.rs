//! Broadcast benchmark: plan one broadcast to a group of 10,000 members
//! (one outbox row each, in one transaction, skipped members counted) on
//! SQLite, and on PostgreSQL when PAMINN_TEST_POSTGRES_URL is set. Prints
//! the planning time; asserts nothing about timing. The issue's target is
//! under 2 s on both databases.
//!
//! Then the fan-out: the dispatcher sends the planned rows through a
//! counting transport, first unlimited (messages per second; the issue's
//! target is 2,000/s on PostgreSQL), then with a 30/s limit for about 12
//! seconds (messages in each whole second; the target is 28.5-30).
//!
//! ```text
//! PAMINN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --bench broadcast
//! ```

use async_trait::async_trait;
use chrono::Utc;
use paminn::channels::{Accepted, Channels, Limits, OutgoingMessage, SendError, Transport};
use paminn::domain::{ChannelKind, GroupId};
use paminn::engine::broadcasts::{Audience, BroadcastRequest};
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::engine::{Actor, Engine};
use paminn::store::{ms, units};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[path = "support/db.rs"]
mod db;
use db::{drop_pg, fresh};

const MEMBERS: usize = 10_000;
const RUNS: usize = 3;

/// A unit with one group of MEMBERS participants, seeded with multi-row
/// SQL (seeding is not what is measured): every fourth speaks English,
/// every tenth prefers Telegram (linked), every fiftieth is in custody,
/// every hundredth has no consent.
async fn seed(e: &Engine) -> GroupId {
    let now = Utc::now();
    let t = ms(now);
    let mut c = e.db.conn().await.unwrap();
    let u = units::create(&mut c, "Bench", now).await.unwrap();
    drop(c);
    let g = e
        .create_group(u.id, "Alla", &Actor::system(), now)
        .await
        .unwrap();
    let mut tx = e.db.begin().await.unwrap();
    for chunk in (0..MEMBERS).collect::<Vec<_>>().chunks(500) {
        let mut sql = String::from(
            "INSERT INTO participants (unit_id, first_name, phone, language, channel_pref, status,
                 time_zone, telegram_chat_id, created_at, updated_at) VALUES ",
        );
        for (k, i) in chunk.iter().enumerate() {
            if k > 0 {
                sql.push(',');
            }
            let lang = if i % 4 == 0 { "en" } else { "sv" };
            let (pref, chat) = if i % 10 == 0 {
                ("telegram", format!("'{}'", 100_000 + i))
            } else {
                ("sms", "NULL".into())
            };
            let status = if i % 50 == 7 { "in_custody" } else { "active" };
            sql.push_str(&format!(
                "({}, 'P{i}', '+4670{:07}', '{lang}', '{pref}', '{status}', 'Europe/Stockholm', {chat}, {t}, {t})",
                u.id.get(),
                i
            ));
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO consents (participant_id, channels, given_at, recorded_by)
         SELECT id, 'sms,telegram', $1, 'bench' FROM participants WHERE unit_id = $2 AND id % 100 <> 3",
    )
    .bind(t)
    .bind(u.id.get())
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO group_members (group_id, participant_id, joined_at)
         SELECT $1, id, $2 FROM participants WHERE unit_id = $3",
    )
    .bind(g.get())
    .bind(t - 1000)
    .bind(u.id.get())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    g
}

async fn run(kind: &str) {
    let (db, pg, _dir) = fresh(kind).await;
    let e = Engine::new(db.clone());
    let g = seed(&e).await;
    let mut times = Vec::new();
    let mut last = None;
    for run in 0..RUNS {
        let req = BroadcastRequest {
            audience: Audience::Group(g),
            text_sv: "Kontoret är stängt idag. Ring om du behöver något.".into(),
            text_en: "The office is closed today. Call if you need anything.".into(),
            send_at: None,
            urgent: false,
            activity: None,
            key: Some(format!("bench-{run}")),
        };
        let t0 = Instant::now();
        let p = e
            .plan_broadcast(&req, &Actor::system(), Utc::now())
            .await
            .unwrap();
        times.push(t0.elapsed());
        last = Some((req, p));
    }
    let (req, p) = last.unwrap();
    let t0 = Instant::now();
    let again = e
        .plan_broadcast(&req, &Actor::system(), Utc::now())
        .await
        .unwrap();
    let repeat = t0.elapsed();
    assert!(!again.created);
    let skipped: i64 = p.broadcast.skipped.values().sum();
    let fmt: Vec<String> = times
        .iter()
        .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1000.0))
        .collect();
    times.sort();
    println!(
        "{kind}: {MEMBERS} members -> {} rows planned, {skipped} skipped {:?}; \
         planning: {} (median {:.0} ms); repeat with the same key: {:.1} ms",
        p.broadcast.recipients,
        p.broadcast.skipped,
        fmt.join(", "),
        times[times.len() / 2].as_secs_f64() * 1000.0,
        repeat.as_secs_f64() * 1000.0,
    );
    fan_out(kind, &e, g).await;
    db.close().await;
    if let Some((admin, name)) = pg {
        drop_pg(&admin, &name).await;
    }
}

#[tokio::main]
async fn main() {
    run("sqlite").await;
    if std::env::var("PAMINN_TEST_POSTGRES_URL").is_ok() {
        run("postgres").await;
    } else {
        println!("postgres: skipped (set PAMINN_TEST_POSTGRES_URL)");
    }
}

/// A gateway that takes everything and notes when, optionally limited.
struct Counter {
    at: Mutex<Vec<Instant>>,
    per_sec: Option<u32>,
}

#[async_trait]
impl Transport for Counter {
    fn name(&self) -> &'static str {
        "counter"
    }
    fn limits(&self) -> Limits {
        Limits {
            global_per_sec: self.per_sec,
            per_recipient_per_sec: None,
        }
    }
    async fn send(&self, _msg: &OutgoingMessage) -> Result<Accepted, SendError> {
        let mut at = self.at.lock().unwrap();
        at.push(Instant::now());
        Ok(Accepted::id(format!("c-{}", at.len())))
    }
}

/// A dispatcher over two counting gateways (SMS, Telegram), each with its
/// own limit as real gateways have.
fn dispatcher(e: &Engine, per_sec: Option<u32>, batch: i64) -> (Dispatcher, [Arc<Counter>; 2]) {
    let counter = || {
        Arc::new(Counter {
            at: Mutex::new(Vec::new()),
            per_sec,
        })
    };
    let (sms, tg) = (counter(), counter());
    let channels = Arc::new(
        Channels::new()
            .with(ChannelKind::Sms, sms.clone())
            .with(ChannelKind::Telegram, tg.clone()),
    );
    let cfg = DispatcherConfig {
        batch_size: batch,
        ..DispatcherConfig::default()
    };
    (Dispatcher::new(e.clone(), channels, cfg), [sms, tg])
}

async fn fan_out(kind: &str, e: &Engine, g: GroupId) {
    // Unlimited: drain what the planning runs queued.
    let (d, [sms, tg]) = dispatcher(e, None, 500);
    let t0 = Instant::now();
    loop {
        let r = d.run_once(Utc::now()).await.unwrap();
        if r.claimed == 0 {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let n = sms.at.lock().unwrap().len() + tg.at.lock().unwrap().len();
    println!(
        "{kind}: fan-out, unlimited gateway: {n} messages in {secs:.2} s = {:.0} messages/s",
        n as f64 / secs
    );
    // Limited to 30/s: a new broadcast, sent for about 12 seconds.
    let req = BroadcastRequest {
        audience: Audience::Group(g),
        text_sv: "Gruppträffen flyttas till 14:00.".into(),
        text_en: "The group meeting moves to 14:00.".into(),
        send_at: None,
        urgent: false,
        activity: None,
        key: Some("bench-limited".into()),
    };
    e.plan_broadcast(&req, &Actor::system(), Utc::now())
        .await
        .unwrap();
    let (d, [sms, _tg]) = dispatcher(e, Some(30), 30);
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < 12.0 {
        d.run_once(Utc::now()).await.unwrap();
    }
    let at = sms.at.lock().unwrap();
    let first = at[0];
    let whole = ((at[at.len() - 1] - first).as_secs_f64()) as usize;
    let mut per_sec = vec![0usize; whole];
    for t in at.iter() {
        let i = (*t - first).as_secs_f64() as usize;
        if i < whole {
            per_sec[i] += 1;
        }
    }
    println!(
        "{kind}: fan-out at 30/s per gateway: SMS messages in each whole second from the first: {per_sec:?} \
         (min {}, max {})",
        per_sec.iter().min().unwrap_or(&0),
        per_sec.iter().max().unwrap_or(&0)
    );
}
