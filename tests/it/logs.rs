//! Logs carry no personal data: `paminn serve` runs a whole reply cycle
//! (a reminder sent, an SMS reply through the webhook, its receipt sent, an
//! SMS from an unknown number) with debug-level JSON logs, and the log is
//! searched for the phone numbers and texts used, in every form. The same
//! run's `/metrics` counts what happened and holds none of them either.

use crate::common;

use chrono::{Duration, Utc};
use paminn::domain::schedule::QuietHours;
use paminn::domain::{AppointmentKind, OutboxStatus};
use paminn::engine::{Actor, Engine};
use paminn::store::appointments::NewAppointment;
use paminn::store::{Db, outbox, units};
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

const SECRET: &str = "log-test-secret-log-test-secret-log";
const ELKS_PASSWORD: &str = "elks-api-password";

/// A 46elks fake: every SMS accepted with an id of its own. The webhook
/// routes exist only for the configured gateway, so the run uses 46elks.
async fn fake_46elks() -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    let server = wiremock::MockServer::start().await;
    let n = std::sync::atomic::AtomicUsize::new(0);
    wiremock::Mock::given(method("POST"))
        .and(path("/a1/sms"))
        .respond_with(move |_: &wiremock::Request| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "id": format!("elks-out-{i}"), "status": "created", "parts": 1, "cost": 3500
            }))
        })
        .mount(&server)
        .await;
    server
}

async fn sent(db: &Db) -> i64 {
    let mut c = db.conn().await.unwrap();
    outbox::count_by_status(&mut c, OutboxStatus::Sent)
        .await
        .unwrap()
}

async fn wait_sent(db: &Db, n: i64) {
    let end = Instant::now() + StdDuration::from_secs(60);
    while sent(db).await < n {
        assert!(
            Instant::now() < end,
            "timed out waiting for {n} sent messages"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

both_backends! {
    async fn a_full_reply_cycle_logs_no_personal_data_and_is_counted_in_the_metrics(t) {
        let now = Utc::now();
        let e = Engine::new(t.db.clone());
        let u = common::fx::unit(&e, "Chansen", now).await;
        {
            let mut c = t.db.conn().await.unwrap();
            units::set_quiet_hours(&mut c, u.id, QuietHours::none()).await.unwrap();
        }
        // fx::participant: Ali, 070-123 45 67, consent to SMS.
        let p = common::fx::participant(&e, &u, "Ali", "sms", now).await;
        e.create_appointment(&NewAppointment {
            participant_id: p.id, series_id: None, kind: AppointmentKind::DrugTest,
            starts_at: now + Duration::minutes(90), duration_min: 15, location: Some("Storgatan 1".into()),
            with_whom: Some("Lena".into()), internal_note: Some("känslig anteckning".into()), external_ref: None,
        }, &Actor("test".into()), now).await.unwrap();

        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("paminn.log");
        let elks = fake_46elks().await;
        let mut child = Command::new(env!("CARGO_BIN_EXE_paminn"))
            .arg("serve")
            .env("PAMINN_SMS_PROVIDER", "46elks")
            .env("PAMINN_46ELKS_API_URL", elks.uri())
            .env("PAMINN_46ELKS_USERNAME", "u-paminn")
            .env("PAMINN_46ELKS_PASSWORD", ELKS_PASSWORD)
            // Quoted: figment reads a bare +4676... from the environment as a number.
            .env("PAMINN_SMS_FROM", "\"+46766861004\"")
            .env("PAMINN_DATABASE_URL", &t.url)
            .env("PAMINN_LISTEN", format!("127.0.0.1:{port}"))
            .env("PAMINN_SMS_WEBHOOK_SECRET", SECRET)
            .env("PAMINN_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .env_remove("PAMINN_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();

        wait_sent(&t.db, 1).await; // the reminder
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/webhooks/sms/46elks/inbound?secret={SECRET}");
        let end = Instant::now() + StdDuration::from_secs(30);
        loop {
            let r = http.post(&url).form(&[("id", "log-1"), ("from", "+46701234567"), ("to", "+46766860000"),
                ("message", "förhinder, sjuk i magen")]).send().await;
            if r.as_ref().is_ok_and(|r| r.status().is_success()) { break; }
            assert!(Instant::now() < end, "the webhook did not answer: {r:?}");
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        let r = http.post(&url).form(&[("id", "log-2"), ("from", "+46709999999"), ("to", "+46766860000"),
            ("message", "hemlig text från okänd")]).send().await.unwrap();
        assert!(r.status().is_success());
        wait_sent(&t.db, 2).await; // the receipt
        // A forged webhook is rejected and counted.
        let forged = format!("http://127.0.0.1:{port}/webhooks/sms/46elks/inbound?secret=wrong");
        let r = http.post(&forged).form(&[("id", "log-3"), ("from", "+46701234567"), ("message", "x")]).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let metrics = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
        let value = |name: &str, labels: &[&str]| -> f64 {
            metrics.lines()
                .find(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{metrics}"))
        };
        assert!(value("paminn_messages_total", &["channel=\"sms\"", "outcome=\"sent\""]) >= 2.0);
        assert_eq!(value("paminn_inbound_total", &["channel=\"sms\"", "intent=\"cannot\""]), 1.0);
        assert_eq!(value("paminn_webhook_rejections_total", &["status=\"401\""]), 1.0);
        assert!(value("paminn_send_seconds_count", &["channel=\"sms\""]) >= 2.0);
        assert!(value("paminn_lateness_seconds_count", &["channel=\"sms\""]) >= 2.0);
        assert!(value("paminn_outbox_depth", &["status=\"pending\""]) >= 0.0);
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "SIGTERM ends paminn with 0, got {status}");

        let log = std::fs::read_to_string(&log_path).unwrap();
        assert!(log.lines().count() > 5 && log.contains("\"sent\""), "the run logged its work:\n{log}");
        let log = format!("{log}\n{metrics}");
        for secret in [
            "701234567", "70 123 45 67", "070-123", "0701234567", "709999999", "6860000",
            "sjuk i magen", "hemlig text", "Påminnelse", "Hej Ali", "Storgatan", "känslig", SECRET, ELKS_PASSWORD,
        ] {
            assert!(!log.contains(secret), "the log contains {secret:?}:\n{log}");
        }
    }
}
