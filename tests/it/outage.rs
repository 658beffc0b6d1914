//! A database outage: `paminn serve` on PostgreSQL loses its database for 30
//! seconds in the middle of a burst of reminders. It must report not-ready
//! (`/readyz` 503) while the database is gone, keep trying, become ready
//! again by itself, and send every reminder (none lost; duplicates at most
//! what was in flight).
//!
//! The test starts its own throwaway PostgreSQL cluster (initdb into a temp
//! dir, its own port, run as the `postgres` user because initdb refuses
//! root) and stops and starts only that one, never the shared server the
//! other tests use. PostgreSQL only, by its nature; it needs the server
//! binaries (`/usr/lib/postgresql/*/bin`), which CI has.

use crate::common;

use chrono::{Duration, Utc};
use paminn::domain::schedule::QuietHours;
use paminn::domain::{AppointmentKind, ChannelKind, OutboxStatus, Purpose};
use paminn::engine::Engine;
use paminn::store::appointments::{self, NewAppointment};
use paminn::store::outbox::{self, NewMessage};
use paminn::store::{Db, sandbox, units};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

const ROWS: i64 = 600;

fn pg_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL server binaries are needed in {}: {e}",
                root.display()
            )
        })
        .filter_map(|d| d.ok().map(|d| d.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("initdb from the PostgreSQL server package")
}

/// A cluster of our own, run as the `postgres` user.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn as_postgres(cmd: &Path, args: &[&str]) {
    let st = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(cmd)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("runuser");
    assert!(st.success(), "{} {args:?} failed", cmd.display());
}

impl Cluster {
    fn new() -> Cluster {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = dir.path().join("data");
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        let c = Cluster { bin, dir, port };
        c.start();
        c
    }
    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }
    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("pg.log").display().to_string();
        as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }
    fn stop(&self) {
        as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", "fast", "-w", "stop"],
        );
    }
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// ROWS reminders, due over the next 20 seconds, so some are due while the
/// database is gone.
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
    let p = common::fx::participant(&e, &u, "Ali", "sms", now).await.id;
    let mut tx = db.begin().await.unwrap();
    for a in 0..(ROWS / 10) {
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
                ask_reply: false,
                due_at: now + Duration::milliseconds(a * 10 * 33 + off * 33),
                deadline_at: None,
                body: None,
                trial: None,
            };
            outbox::insert(&mut tx, &m, now).await.unwrap().unwrap();
        }
    }
    tx.commit().await.unwrap();
}

async fn ready(http: &reqwest::Client, port: u16) -> Option<u16> {
    http.get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn wait_ready(http: &reqwest::Client, port: u16, want: u16, limit: StdDuration) {
    let end = Instant::now() + limit;
    loop {
        if ready(http, port).await == Some(want) {
            return;
        }
        assert!(
            Instant::now() < end,
            "/readyz did not answer {want} within {limit:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pg_tests),
    ignore = "PostgreSQL: set PAMINN_TEST_POSTGRES_URL to run"
)]
async fn thirty_seconds_without_the_database_lose_nothing_and_it_recovers_by_itself() {
    let cluster = Cluster::new();
    let db = Db::connect(&cluster.url()).await.unwrap();
    db.migrate().await.unwrap();
    seed(&db).await;
    db.close().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paminn"))
        .arg("serve")
        .env("PAMINN_DATABASE_URL", cluster.url())
        .env("PAMINN_LISTEN", format!("127.0.0.1:{port}"))
        .env("PAMINN_DISPATCH_LEASE_SECS", "5")
        .env("PAMINN_DISPATCH_BACKOFF_BASE_SECS", "1")
        .env("PAMINN_DISPATCH_BACKOFF_CAP_SECS", "5")
        .env("PAMINN_DISPATCH_MAX_ATTEMPTS", "20")
        .env("RUST_LOG", "error")
        .env_remove("PAMINN_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder()
        .timeout(StdDuration::from_secs(5))
        .build()
        .unwrap();
    wait_ready(&http, port, 200, StdDuration::from_secs(30)).await;

    // Let the burst start, then take the database away for 30 seconds.
    let check = Db::connect(&cluster.url()).await.unwrap();
    let end = Instant::now() + StdDuration::from_secs(30);
    loop {
        let mut c = check.conn().await.unwrap();
        if outbox::count_by_status(&mut c, OutboxStatus::Sent)
            .await
            .unwrap()
            >= 50
        {
            break;
        }
        assert!(Instant::now() < end, "the burst did not start");
        drop(c);
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    check.close().await;
    cluster.stop();
    let outage = Instant::now();
    wait_ready(&http, port, 503, StdDuration::from_secs(15)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "paminn kept running without its database"
    );
    tokio::time::sleep(StdDuration::from_secs(30).saturating_sub(outage.elapsed())).await;
    cluster.start();
    wait_ready(&http, port, 200, StdDuration::from_secs(60)).await;

    let check = Db::connect(&cluster.url()).await.unwrap();
    let end = Instant::now() + StdDuration::from_secs(120);
    loop {
        let mut c = check.conn().await.unwrap();
        if outbox::count_by_status(&mut c, OutboxStatus::Sent)
            .await
            .unwrap()
            == ROWS
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "not every reminder was sent after the outage"
        );
        drop(c);
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let mut c = check.conn().await.unwrap();
    let deliveries = sandbox::deliveries_per_outbox_row(&mut c).await.unwrap();
    assert_eq!(
        deliveries.len() as i64,
        ROWS,
        "every reminder reached the phone"
    );
    let failed = outbox::count_by_status(&mut c, OutboxStatus::Failed)
        .await
        .unwrap();
    assert_eq!(failed, 0);
}
