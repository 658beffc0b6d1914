//! Event webhooks out (issue 19): 10,000 events delivered by the worker
//! (`EventHookWorker::run_once`, claim → sign → POST → record) to a
//! receiver in the same process that verifies every signature, with an
//! outage of the receiver in the middle (503 for a second of wall time).
//! Prints events/s per run and their spread; checks that all 10,000 were
//! delivered and none lost (each `webhook-id` verified at least once).
//!
//! ```text
//! PAMINN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --bench event_hooks
//! ```
//!
//! The events are queued as the engine queues them: journal rows of
//! `appointment_created` written through `store::journal::append`, which
//! the migration's trigger turns into deliveries. The queueing is not
//! timed. The retries after the outage are due 30 s later by the backoff:
//! the bench moves the worker's clock forward when nothing is due rather
//! than sleep (the clock is the worker's argument), so the figure is the
//! worker's throughput, outage included, not the backoff's wait.

use base64::Engine as _;
use chrono::{Duration, Utc};
use hmac::{Hmac, Mac};
use paminn::domain::event_hooks::HookEvent;
use paminn::domain::journal::JournalEvent;
use paminn::domain::{AppointmentKind, ChannelKind, Language};
use paminn::engine::event_hooks::{EndpointForm, EventHookWorker, EventHooksConfig};
use paminn::engine::{Actor, Engine};
use paminn::store::participants::NewParticipant;
use paminn::store::{event_hooks as store, journal, units};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[path = "support/db.rs"]
mod db;
use db::{drop_pg, fresh};

const EVENTS: usize = 10_000;
const PARTICIPANTS: usize = 1_000;
const OUTAGE_AFTER: usize = 4_000;

struct Receiver {
    key: Mutex<Vec<u8>>,
    ids: Mutex<HashSet<String>>,
    ok: AtomicUsize,
    refused: AtomicUsize,
    bad: AtomicUsize,
    down: AtomicBool,
    outage_done: AtomicBool,
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Arc<Receiver>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&r.key.lock().unwrap()).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&body);
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if sig.strip_prefix("v1,") != Some(want.as_str()) {
        r.bad.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    if r.down.load(Ordering::SeqCst) {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    r.ids.lock().unwrap().insert(id.to_string());
    let n = r.ok.fetch_add(1, Ordering::SeqCst) + 1;
    if n == OUTAGE_AFTER && !r.outage_done.swap(true, Ordering::SeqCst) {
        r.down.store(true, Ordering::SeqCst);
        let r2 = r.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            r2.down.store(false, Ordering::SeqCst);
        });
    }
    StatusCode::OK
}

/// One run: returns (events/s, seconds, attempts refused in the outage).
async fn run(kind: &str) -> (f64, f64, usize) {
    let (db, pg, _dir) = fresh(kind).await;
    let e = Engine::new(db.clone()).with_event_hooks_local_http(true);
    let now = Utc::now();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let r = Arc::new(Receiver {
        key: Mutex::new(Vec::new()),
        ids: Mutex::new(HashSet::new()),
        ok: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
        bad: AtomicUsize::new(0),
        down: AtomicBool::new(false),
        outage_done: AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.ok() });

    let unit = {
        let mut c = db.conn().await.unwrap();
        units::create(&mut c, "Bench", now).await.unwrap()
    };
    let actor = Actor("bench".into());
    let (endpoint, secret) = e
        .create_event_hook(
            &actor,
            now,
            unit.id,
            &EndpointForm {
                url: &url,
                events: vec![HookEvent::AppointmentChanged],
                include_text: false,
            },
        )
        .await
        .unwrap();
    *r.key.lock().unwrap() = base64::engine::general_purpose::STANDARD
        .decode(secret.expose().strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut ps = Vec::new();
    for i in 0..PARTICIPANTS {
        let p = e
            .add_participant(
                &NewParticipant {
                    unit_id: unit.id,
                    first_name: format!("P{i}"),
                    phone: None,
                    language: Language::Sv,
                    channel_pref: ChannelKind::Sms,
                    time_zone: unit.time_zone,
                    discreet: true,
                    lots_id: None,
                },
                None,
                &actor,
                now,
            )
            .await
            .unwrap();
        ps.push(p.id);
    }
    // The events, queued by the trigger as the engine's journal writes
    // queue them (not timed).
    let mut tx = db.begin().await.unwrap();
    for n in 0..EVENTS {
        let ev = JournalEvent::AppointmentCreated {
            kind: Some(AppointmentKind::Meeting),
            starts_at: Some(now + Duration::days(2)),
            external_ref: None,
            series_id: None,
        };
        journal::append(&mut tx, ps[n % PARTICIPANTS], None, now, "bench", &ev)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let w = EventHookWorker::new(
        e.clone(),
        EventHooksConfig {
            owner: "bench".into(),
            ..Default::default()
        },
    );
    let started = Instant::now();
    // The worker's clock: real time plus what was skipped of the backoff.
    let mut skipped = Duration::zero();
    loop {
        let report = w.run_once(Utc::now() + skipped).await.unwrap();
        if report.claimed > 0 {
            continue;
        }
        let mut c = db.conn().await.unwrap();
        let counts = store::counts(&mut c, endpoint).await.unwrap();
        if counts.iter().all(|(s, _)| s != "pending") {
            break;
        }
        skipped += Duration::seconds(30);
    }
    let secs = started.elapsed().as_secs_f64();
    let mut c = db.conn().await.unwrap();
    let counts = store::counts(&mut c, endpoint).await.unwrap();
    drop(c);
    assert_eq!(
        counts,
        [("delivered".to_string(), EVENTS as i64)],
        "{kind}: {counts:?}"
    );
    assert_eq!(
        r.ids.lock().unwrap().len(),
        EVENTS,
        "{kind}: an event was lost"
    );
    assert_eq!(
        r.bad.load(Ordering::SeqCst),
        0,
        "{kind}: a signature did not verify"
    );
    assert!(r.outage_done.load(Ordering::SeqCst));
    server.abort();
    db.close().await;
    if let Some((admin, name)) = pg {
        drop_pg(&admin, &name).await;
    }
    (EVENTS as f64 / secs, secs, r.refused.load(Ordering::SeqCst))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let reps: usize = std::env::var("PAMINN_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut kinds = vec!["sqlite"];
    if std::env::var("PAMINN_TEST_POSTGRES_URL").is_ok() {
        kinds.push("postgresql");
    }
    println!(
        "| backend | run | events | seconds | events/s | refused in outage | load average (1, 5, 15 min) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for kind in kinds {
        let mut rates = Vec::new();
        for n in 1..=reps {
            let (rate, secs, refused) = rt.block_on(run(kind));
            println!(
                "| {kind} | {n} | {EVENTS} | {secs:.2} | {rate:.0} | {refused} | {} |",
                loadavg()
            );
            rates.push(rate);
        }
        rates.sort_by(f64::total_cmp);
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        println!(
            "| {kind} | mean of {reps} | | | {mean:.0} (min {:.0}, max {:.0}) | | |",
            rates[0],
            rates[rates.len() - 1]
        );
    }
}
