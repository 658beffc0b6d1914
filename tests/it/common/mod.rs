//! Test support: a fresh database per test, on SQLite (a temp file) or on
//! PostgreSQL (a randomly named database, dropped afterwards).
//!
//! `both_backends!` turns one async test body into two tests, `sqlite` and
//! `postgres`; the PostgreSQL one is ignored (and reported as such) unless
//! PAMINN_TEST_POSTGRES_URL was set when the tests were built.

#![allow(dead_code)]

pub mod oidc_provider;
pub mod server;
pub mod tg_emulator;
pub mod tg_fake;
pub mod ui;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use paminn::domain::schedule::resolve_local;
use paminn::store::Db;
use rand::RngCore;

pub struct TestDb {
    pub db: Db,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Sqlite,
    Postgres,
}

fn random_name() -> String {
    let mut b = [0u8; 6];
    rand::rng().fill_bytes(&mut b);
    format!("paminn_test_{}", hex::encode(b))
}

pub fn postgres_admin_url() -> String {
    std::env::var("PAMINN_TEST_POSTGRES_URL")
        .expect("PAMINN_TEST_POSTGRES_URL must be set at run time as well as build time")
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_db_name(url: &str, name: &str) -> String {
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

impl TestDb {
    pub async fn new(kind: Kind) -> TestDb {
        let (url, cleanup) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/paminn.db", dir.path().display());
                (url, Cleanup::Sqlite(dir))
            }
            Kind::Postgres => {
                let admin_url = postgres_admin_url();
                let name = random_name();
                let admin = Db::connect(&admin_url)
                    .await
                    .expect("connect to PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin.pool)
                    .await
                    .unwrap();
                admin.close().await;
                (
                    with_db_name(&admin_url, &name),
                    Cleanup::Postgres { admin_url, name },
                )
            }
        };
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        TestDb { db, url, cleanup }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            let pool = self.db.pool.clone();
            // Drop runs inside the test's runtime; do the async cleanup on a
            // runtime of its own on another thread.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    pool.close().await;
                    if let Ok(admin) = Db::connect(&admin_url).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&admin.pool)
                        .await;
                        admin.close().await;
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

#[macro_export]
macro_rules! both_backends {
    ($(#[$m:meta])* async fn $name:ident($db:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($db: $crate::common::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$m])*
            async fn sqlite() {
                run($crate::common::TestDb::new($crate::common::Kind::Sqlite).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(pg_tests), ignore = "PostgreSQL: set PAMINN_TEST_POSTGRES_URL to run")]
            $(#[$m])*
            async fn postgres() {
                run($crate::common::TestDb::new($crate::common::Kind::Postgres).await).await
            }
        }
    };
}

/// A Stockholm wall-clock time as an instant.
pub fn sthlm(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    resolve_local(
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap(),
        Stockholm,
    )
}

pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

pub mod fx {
    //! Fixtures: a unit, participants, and a transport that records what
    //! it was asked to send and can be told to fail.

    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use paminn::channels::{Accepted, Channels, OutgoingMessage, SendError, Transport};
    use paminn::domain::{ChannelKind, ChannelSet, Language, PhoneNumber};
    use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
    use paminn::engine::{Actor, Engine};
    use paminn::store::participants::{NewParticipant, Participant};
    use paminn::store::units::{self, Unit};
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// The actor of a test's own writes.
    pub fn actor() -> Actor {
        Actor("test".into())
    }

    /// An engine over the test database with the unit "Chansen", and a
    /// dispatcher whose SMS and Telegram go to one [`Recorder`]. Test files
    /// add their own helpers in an `impl World` of their own.
    pub struct World {
        pub e: Engine,
        pub rec: Arc<Recorder>,
        pub d: Dispatcher,
        pub unit: Unit,
    }

    pub async fn world(t: &super::TestDb, now: DateTime<Utc>) -> World {
        let e = Engine::new(t.db.clone());
        let unit = unit(&e, "Chansen", now).await;
        let rec = Arc::new(Recorder::default());
        let d = Dispatcher::new(
            e.clone(),
            channels(&rec),
            DispatcherConfig {
                owner: "t".into(),
                ..Default::default()
            },
        );
        World { e, rec, d, unit }
    }

    impl World {
        /// A text from the participant by SMS, with a gateway id of its own.
        pub async fn say(
            &self,
            p: paminn::domain::ParticipantId,
            text: &str,
            now: DateTime<Utc>,
        ) -> paminn::engine::replies::Received {
            static GW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            let gw = format!(
                "gw-{}",
                GW.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            );
            self.e
                .receive(ChannelKind::Sms, &gw, p, text, now)
                .await
                .unwrap()
        }
    }

    pub async fn unit(engine: &Engine, name: &str, now: DateTime<Utc>) -> Unit {
        let mut c = engine.db.conn().await.unwrap();
        units::create(&mut c, name, now).await.unwrap()
    }

    pub async fn participant(
        engine: &Engine,
        unit: &Unit,
        name: &str,
        consent: &str,
        now: DateTime<Utc>,
    ) -> Participant {
        let new = NewParticipant {
            unit_id: unit.id,
            first_name: name.into(),
            phone: Some(PhoneNumber::parse("070-123 45 67").unwrap()),
            language: Language::Sv,
            channel_pref: ChannelKind::Sms,
            time_zone: chrono_tz::Europe::Stockholm,
            discreet: true,
            lots_id: None,
        };
        let consent: Option<ChannelSet> = (!consent.is_empty()).then(|| consent.parse().unwrap());
        engine
            .add_participant(&new, consent, &Actor("test".into()), now)
            .await
            .unwrap()
    }

    /// A transport that records messages; scripted results are used first,
    /// then every send succeeds.
    #[derive(Default)]
    pub struct Recorder {
        pub sent: Mutex<Vec<OutgoingMessage>>,
        pub script: Mutex<VecDeque<SendError>>,
        pub always_fail: Mutex<Option<SendError>>,
    }

    #[async_trait]
    impl Transport for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        async fn send(&self, msg: &OutgoingMessage) -> Result<Accepted, SendError> {
            if let Some(e) = self.always_fail.lock().unwrap().clone() {
                return Err(e);
            }
            if let Some(e) = self.script.lock().unwrap().pop_front() {
                return Err(e);
            }
            let mut sent = self.sent.lock().unwrap();
            sent.push(msg.clone());
            Ok(Accepted::id(format!("rec-{}", sent.len())))
        }
    }

    pub fn channels(rec: &Arc<Recorder>) -> Arc<Channels> {
        Arc::new(
            Channels::new()
                .with(ChannelKind::Sms, rec.clone())
                .with(ChannelKind::Telegram, rec.clone()),
        )
    }
}
