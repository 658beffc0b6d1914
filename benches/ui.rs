//! Staff web UI benchmark: how long the pages a lots opens between meetings
//! take, server side plus loopback, with a unit of 500 participants (a lots
//! with 40 of them), three appointments each in the next two days, replies
//! and tasks. Also the cost of a login (Argon2id). Prints percentiles;
//! asserts nothing about timing.
//!
//! ```text
//! PAMINN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --bench ui
//! ```
//!
//! Requests are sequential (one person clicking): the figures are latency,
//! not throughput.

use chrono::{Duration, Utc};
use paminn::domain::access::Password;
use paminn::domain::schedule::QuietHours;
use paminn::domain::{AppointmentKind, ChannelKind, ChannelSet, Language, PhoneNumber, Role};
use paminn::engine::{Actor, Engine};
use paminn::store::appointments::NewAppointment;
use paminn::store::participants::NewParticipant;
use paminn::store::staff::NewStaff;
use paminn::store::units;
use paminn::web::{self, AppState};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

#[path = "support/db.rs"]
mod db;
use db::{drop_pg, fresh};

const PARTICIPANTS: usize = 500;
const CASELOAD: usize = 40;
const PASSWORD: &str = "bench password long enough";

/// The unit, its staff, and the first caseload participant's id.
async fn seed(e: &Engine) -> i64 {
    let now = Utc::now();
    let actor = Actor("bench".into());
    let unit = {
        let mut c = e.db.conn().await.unwrap();
        let u = units::create(&mut c, "Bench", now).await.unwrap();
        units::set_quiet_hours(&mut c, u.id, QuietHours::none())
            .await
            .unwrap();
        u
    };
    let password = Password::parse(PASSWORD).unwrap();
    let mut lotsar = Vec::new();
    for (username, role) in [
        ("lisa", Role::Lots),
        ("other", Role::Lots),
        ("kim", Role::Coordinator),
    ] {
        let s = e
            .add_staff(
                &NewStaff {
                    unit: Some(unit.id),
                    name: username.into(),
                    username: username.into(),
                    role,
                    language: Language::Sv,
                },
                &actor,
                now,
            )
            .await
            .unwrap();
        e.set_password(s.id, &password, None, &actor, now)
            .await
            .unwrap();
        lotsar.push(s.id);
    }
    let mut first = 0;
    for i in 0..PARTICIPANTS {
        let phone = PhoneNumber::parse(&format!("+4670{:07}", 1_000_000 + i)).unwrap();
        let p = e
            .add_participant(
                &NewParticipant {
                    unit_id: unit.id,
                    first_name: format!("P{i}"),
                    phone: Some(phone),
                    language: Language::Sv,
                    channel_pref: ChannelKind::Sms,
                    time_zone: unit.time_zone,
                    discreet: true,
                    lots_id: Some(if i < CASELOAD { lotsar[0] } else { lotsar[1] }),
                },
                Some(ChannelSet::NONE.with(ChannelKind::Sms, true)),
                &actor,
                now,
            )
            .await
            .unwrap();
        if i == 0 {
            first = p.id.get();
        }
        for h in [2, 20, 40] {
            e.create_appointment(
                &NewAppointment {
                    participant_id: p.id,
                    series_id: None,
                    kind: AppointmentKind::Meeting,
                    starts_at: now + Duration::hours(h),
                    duration_min: 60,
                    location: None,
                    with_whom: None,
                    internal_note: Some("note".into()),
                    external_ref: None,
                },
                &actor,
                now,
            )
            .await
            .unwrap();
        }
        if i % 2 == 0 {
            e.receive(
                ChannelKind::Sms,
                &format!("bench-in-{i}"),
                p.id,
                "förhinder sjuk",
                now,
            )
            .await
            .unwrap();
        }
    }
    first
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn timed(http: &reqwest::Client, url: &str, n: usize) -> (f64, f64, f64) {
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let res = http.get(url).send().await.unwrap();
        assert!(res.status().is_success(), "{url}: {}", res.status());
        res.bytes().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (pct(&ms, 0.5), pct(&ms, 0.99), ms[ms.len() - 1])
}

async fn login(base: &str, user: &str) -> (reqwest::Client, f64) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The login form's CSRF token (cookie + hidden field).
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = r#"name="_csrf" value=""#;
    let rest = &page[page.find(key).expect("a login token") + key.len()..];
    let token = rest[..rest.find('"').unwrap()].to_string();
    let t = Instant::now();
    let res = http
        .post(format!("{base}/login"))
        .form(&[
            ("username", user),
            ("password", PASSWORD),
            ("_csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    (http, t.elapsed().as_secs_f64() * 1000.0)
}

async fn run(kind: &str) {
    let (db, pg, _dir) = fresh(kind).await;
    let e = Engine::new(db.clone());
    let t = Instant::now();
    let first = seed(&e).await;
    eprintln!("{kind}: seeded in {:.1} s", t.elapsed().as_secs_f64());
    // A bulk load leaves PostgreSQL without statistics until autovacuum
    // gets to it, and its plans for the first minute are poor (5-10x
    // slower pages). A unit that grew over months has them; so does this
    // benchmark, unless PAMINN_BENCH_NO_ANALYZE is set.
    if kind == "postgres" && std::env::var_os("PAMINN_BENCH_NO_ANALYZE").is_none() {
        sqlx::query("ANALYZE").execute(&db.pool).await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(web::serve(
        listener,
        AppState {
            engine: e.clone(),
            demo: false,
            webhooks: Default::default(),
            telegram: None,
            transports: vec![
                ("sms".into(), "sandbox".into()),
                ("telegram".into(), "sandbox".into()),
            ],
            ui: Default::default(),
        },
        stop.clone(),
    ));
    let mut logins = Vec::new();
    for _ in 0..10 {
        logins.push(login(&base, "lisa").await.1);
    }
    logins.sort_by(f64::total_cmp);
    println!(
        "{kind:<8} login (Argon2id)                p50 {:>7.1} ms  max {:>7.1} ms",
        pct(&logins, 0.5),
        logins[logins.len() - 1]
    );
    let (lisa, _) = login(&base, "lisa").await;
    let (kim, _) = login(&base, "kim").await;
    for (who, http, path, n) in [
        ("lots", &lisa, "/today".to_string(), 200),
        ("lots", &lisa, format!("/participants/{first}"), 200),
        ("lots", &lisa, "/participants".to_string(), 200),
        ("lots", &lisa, "/calendar".to_string(), 200),
        ("coord", &kim, "/today".to_string(), 50),
        ("coord", &kim, "/monitoring".to_string(), 50),
    ] {
        let (p50, p99, max) = timed(http, &format!("{base}{path}"), n).await;
        println!(
            "{kind:<8} {who:<5} GET {path:<22}     p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  max {max:>7.1} ms  (n={n})"
        );
    }
    stop.cancel();
    db.close().await;
    if let Some((admin, name)) = pg {
        if std::env::var_os("PAMINN_BENCH_KEEP").is_some() {
            eprintln!("kept database {name}");
        } else {
            drop_pg(&admin, &name).await;
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        run("sqlite").await;
        if std::env::var("PAMINN_TEST_POSTGRES_URL").is_ok() {
            run("postgres").await;
        } else {
            eprintln!("PostgreSQL skipped: set PAMINN_TEST_POSTGRES_URL");
        }
    });
}
