//! Crash safety and several instances, through the real binary:
//! * `paminn serve` killed with SIGKILL while 1,000 reminders are due, then
//!   restarted: every reminder is sent at least once, and no more are sent
//!   twice than were in flight when it died.
//! * two `paminn serve` processes on one database: nothing is sent twice.
//! * a rolling restart (SIGTERM mid-burst, then a new process): the old one
//!   exits 0 holding no claim, and every reminder is sent exactly once.

#[path = "it/common/mod.rs"]
mod common;

use chrono::{Duration, Utc};
use paminn::domain::schedule::QuietHours;
use paminn::domain::{AppointmentKind, ChannelKind, OutboxStatus, Purpose};
use paminn::engine::Engine;
use paminn::store::appointments::{self, NewAppointment};
use paminn::store::outbox::{self, NewMessage};
use paminn::store::{Db, sandbox, units};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const ROWS: i64 = 1000;

/// 50 participants, 100 appointments, 1,000 reminders due now.
async fn seed(db: &Db) {
    let e = Engine::new(db.clone());
    let now = Utc::now();
    let u = common::fx::unit(&e, "Chansen", now).await;
    {
        let mut c = db.conn().await.unwrap();
        units::set_quiet_hours(&mut c, u.id, QuietHours::none())
            .await
            .unwrap();
    }
    let mut people = vec![];
    for i in 0..50 {
        people.push(
            common::fx::participant(&e, &u, &format!("P{i}"), "sms", now)
                .await
                .id,
        );
    }
    let mut tx = db.begin().await.unwrap();
    for a in 0..(ROWS / 10) {
        let p = people[(a as usize) % people.len()];
        let new = NewAppointment {
            participant_id: p,
            series_id: None,
            kind: AppointmentKind::Meeting,
            starts_at: now + Duration::days(2) + Duration::minutes(a),
            duration_min: 30,
            location: None,
            with_whom: None,
            internal_note: None,
            external_ref: None,
        };
        let id = appointments::insert(&mut tx, u.id, &new, now)
            .await
            .unwrap()
            .unwrap();
        for off in 1..=10 {
            let m = NewMessage {
                participant_id: p,
                appointment_id: Some(id),
                plan_version: 1,
                purpose: Purpose::Reminder,
                offset_min: off,
                channel: ChannelKind::Sms,
                ask_reply: true,
                due_at: now - Duration::minutes(1),
                deadline_at: None,
                body: None,
                trial: None,
            };
            outbox::insert(&mut tx, &m, now).await.unwrap().unwrap();
        }
    }
    tx.commit().await.unwrap();
}

fn serve(url: &str, extra: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paminn"));
    cmd.arg("serve")
        .env("PAMINN_DATABASE_URL", url)
        .env("PAMINN_LISTEN", "127.0.0.1:0")
        .env("PAMINN_DISPATCH_BATCH_SIZE", "50")
        .env("PAMINN_DISPATCH_CONCURRENCY", "8")
        .env("RUST_LOG", "warn")
        .env_remove("PAMINN_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start paminn serve")
}

async fn count(db: &Db, s: OutboxStatus) -> i64 {
    let mut c = db.conn().await.unwrap();
    outbox::count_by_status(&mut c, s).await.unwrap()
}

/// Polls the database until `done` holds, failing after `limit`.
async fn wait_for(db: &Db, what: &str, limit: std::time::Duration, done: impl Fn(i64) -> bool) {
    let start = Instant::now();
    loop {
        let sent = count(db, OutboxStatus::Sent).await;
        if done(sent) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {what}: {sent} sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

both_backends! {
    async fn sigkill_during_a_burst_loses_nothing_and_duplicates_at_most_what_was_in_flight(t) {
        seed(&t.db).await;
        // 10 ms per message at the "gateway", so the kill lands mid-burst;
        // a short lease so the restart takes the orphaned rows back soon.
        let slow = [("PAMINN_SANDBOX_LATENCY_MS", "10"), ("PAMINN_DISPATCH_LEASE_SECS", "5")];
        let mut first = serve(&t.url, &slow);
        wait_for(&t.db, "the first 100 sends", std::time::Duration::from_secs(60), |n| n >= 100).await;
        first.kill().unwrap(); // SIGKILL
        first.wait().unwrap();
        let in_flight = count(&t.db, OutboxStatus::Sending).await;
        let sent_before = count(&t.db, OutboxStatus::Sent).await;
        assert!(sent_before < ROWS, "the burst finished before the kill; nothing was tested");
        let mut second = serve(&t.url, &slow);
        wait_for(&t.db, "all reminders", std::time::Duration::from_secs(120), |n| n == ROWS).await;
        second.kill().unwrap();
        second.wait().unwrap();

        let mut c = t.db.conn().await.unwrap();
        let deliveries = sandbox::deliveries_per_outbox_row(&mut c).await.unwrap();
        assert_eq!(deliveries.len() as i64, ROWS, "every reminder reached the phone");
        let duplicates: i64 = deliveries.iter().map(|(_, n)| n - 1).sum();
        eprintln!("killed with {in_flight} in flight after {sent_before} sent; {duplicates} duplicates");
        assert!(duplicates <= in_flight, "{duplicates} duplicates but only {in_flight} were in flight");
        assert_eq!(count(&t.db, OutboxStatus::Sending).await, 0);
    }
}

both_backends! {
    async fn two_instances_on_one_database_never_send_a_reminder_twice(t) {
        seed(&t.db).await;
        let env = [("PAMINN_SANDBOX_LATENCY_MS", "2")];
        let mut a = serve(&t.url, &env);
        let mut b = serve(&t.url, &env);
        wait_for(&t.db, "all reminders", std::time::Duration::from_secs(120), |n| n == ROWS).await;
        a.kill().unwrap();
        b.kill().unwrap();
        a.wait().unwrap();
        b.wait().unwrap();
        let mut c = t.db.conn().await.unwrap();
        let deliveries = sandbox::deliveries_per_outbox_row(&mut c).await.unwrap();
        assert_eq!(deliveries.len() as i64, ROWS);
        let twice: Vec<_> = deliveries.iter().filter(|(_, n)| *n > 1).collect();
        assert!(twice.is_empty(), "sent more than once: {twice:?}");
        // Both instances did part of the work.
        let owners: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT lease_owner) FROM outbox")
            .fetch_one(&t.db.pool).await.unwrap();
        assert_eq!(owners, 2, "one instance did all the work; the test proved nothing");
    }
}

both_backends! {
    async fn a_rolling_restart_with_sigterm_loses_nothing_and_sends_nothing_twice(t) {
        seed(&t.db).await;
        let slow = [("PAMINN_SANDBOX_LATENCY_MS", "10")];
        let first = serve(&t.url, &slow);
        wait_for(&t.db, "the first 100 sends", std::time::Duration::from_secs(60), |n| n >= 100).await;
        Command::new("kill").args(["-TERM", &first.id().to_string()]).status().unwrap();
        let out = first.wait_with_output().unwrap();
        assert!(out.status.success(), "SIGTERM ends paminn with 0, got {}", out.status);
        let sent_before = count(&t.db, OutboxStatus::Sent).await;
        assert!(sent_before < ROWS, "the burst finished before the stop; nothing was tested");
        assert_eq!(count(&t.db, OutboxStatus::Sending).await, 0, "a clean stop leaves no claim behind");
        let mut second = serve(&t.url, &slow);
        wait_for(&t.db, "all reminders", std::time::Duration::from_secs(120), |n| n == ROWS).await;
        second.kill().unwrap();
        second.wait().unwrap();
        let mut c = t.db.conn().await.unwrap();
        let deliveries = sandbox::deliveries_per_outbox_row(&mut c).await.unwrap();
        assert_eq!(deliveries.len() as i64, ROWS, "every reminder reached the phone");
        let twice: Vec<_> = deliveries.iter().filter(|(_, n)| *n > 1).collect();
        assert!(twice.is_empty(), "sent more than once: {twice:?}");
    }
}
