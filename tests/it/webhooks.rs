//! SMS gateway webhooks over HTTP on both databases: authentication,
//! idempotency, status ordering, bad input; and SMS-specific sending
//! (GSM-7 bookkeeping, cost, Telegram → SMS fallback).

use crate::common;

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{Duration, Utc};
use common::fx::{self, Recorder};
use common::sthlm;
use paminn::channels::sms::twilio::webhook::signature as twilio_signature;
use paminn::channels::{Accepted, Channels, OutgoingMessage, SendError, Transport};
use paminn::domain::{
    AppointmentKind, ChannelKind, OutboxStatus, ParticipantStatus, ReplyState, TaskKind,
};
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::engine::{Actor, Engine};
use paminn::store::appointments::{self, NewAppointment};
use paminn::store::{journal, outbox, participants, reports, tasks};
use paminn::web::AppState;
use paminn::web::webhooks::{SmsProvider, WebhookConfig};
use reqwest::StatusCode;
use std::sync::Arc;

const SECRET: &str = "s3cret-for-tests-at-least-32-chars";
const TWILIO_TOKEN: &str = "twilio-token";

/// One server per SMS provider on the same database: only the configured
/// provider's routes exist on each.
struct App {
    base: String,
    twilio_base: String,
    sinch_base: String,
    http: reqwest::Client,
    e: Engine,
    _servers: [common::server::Server; 3],
}

impl App {
    fn base_of(&self, provider: &str) -> &str {
        match provider {
            "twilio" => &self.twilio_base,
            "sinch" => &self.sinch_base,
            _ => &self.base,
        }
    }
}

async fn serve_one(e: &Engine, provider: SmsProvider) -> common::server::Server {
    common::server::serve_with(|base| AppState {
        webhooks: WebhookConfig {
            provider: Some(provider),
            secret: Some(SECRET.into()),
            twilio_auth_token: Some(TWILIO_TOKEN.into()),
            public_url: Some(base.to_string()),
        },
        ..common::server::state(e)
    })
    .await
}

async fn spawn(t: &common::TestDb) -> App {
    let e = Engine::new(t.db.clone());
    let servers = [
        serve_one(&e, SmsProvider::Elks46).await,
        serve_one(&e, SmsProvider::Twilio).await,
        serve_one(&e, SmsProvider::Sinch).await,
    ];
    App {
        base: servers[0].base.clone(),
        twilio_base: servers[1].base.clone(),
        sinch_base: servers[2].base.clone(),
        http: reqwest::Client::new(),
        e,
        _servers: servers,
    }
}

fn basic(password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("paminn:{password}"))
    )
}

impl App {
    async fn elks(&self, kind: &str, form: &[(&str, &str)], password: &str) -> StatusCode {
        self.http
            .post(format!("{}/webhooks/sms/46elks/{kind}", self.base))
            .header("authorization", basic(password))
            .form(form)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn twilio(&self, kind: &str, form: &[(&str, &str)], token: &str) -> (StatusCode, String) {
        let path = format!("/webhooks/sms/twilio/{kind}");
        let params: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sig = twilio_signature(token, &format!("{}{path}", self.twilio_base), &params);
        let r = self
            .http
            .post(format!("{}{path}", self.twilio_base))
            .header("x-twilio-signature", sig)
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

/// One participant with an SMS reminder already sent (gateway id rec-1).
async fn reminded(
    app: &App,
) -> (
    paminn::domain::ParticipantId,
    paminn::domain::AppointmentId,
    Arc<Recorder>,
) {
    // Webhooks handle replies at the real current time, so the appointment
    // is a month ahead of it, at 11:00 local, reminded 24h before.
    let now = Utc::now();
    let day = (now + Duration::days(30))
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive();
    let start = paminn::domain::schedule::resolve_local(
        day.and_hms_opt(11, 0, 0).unwrap(),
        chrono_tz::Europe::Stockholm,
    );
    let u = fx::unit(&app.e, "Chansen", now).await;
    let p = fx::participant(&app.e, &u, "Ali", "sms", now).await;
    let a = app
        .e
        .create_appointment(
            &NewAppointment {
                participant_id: p.id,
                series_id: None,
                kind: AppointmentKind::Meeting,
                starts_at: start,
                duration_min: 60,
                location: None,
                with_whom: None,
                internal_note: None,
                external_ref: None,
            },
            &Actor("test".into()),
            now,
        )
        .await
        .unwrap();
    let rec = Arc::new(Recorder::default());
    let d = Dispatcher::new(
        app.e.clone(),
        fx::channels(&rec),
        DispatcherConfig::default(),
    );
    d.run_once(start - Duration::hours(24)).await.unwrap();
    assert_eq!(rec.sent.lock().unwrap().len(), 1);
    (p.id, a.id, rec)
}

async fn inbound_count(app: &App) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM inbound")
        .fetch_one(&app.e.db.pool)
        .await
        .unwrap()
}

both_backends! {
    async fn each_provider_delivers_a_reply_once_and_forgeries_store_nothing(t) {
        let app = spawn(&t).await;
        let (p, a, _) = reminded(&app).await;
        // 46elks, Basic auth with the secret as password; then a replay.
        let form = [("id", "elks-1"), ("from", "+46701234567"), ("to", "+46766860000"),
                    ("message", "Kommer!"), ("direction", "incoming"), ("created", "2026-12-09 10:00:00")];
        assert_eq!(app.elks("inbound", &form, SECRET).await, StatusCode::OK);
        assert_eq!(app.elks("inbound", &form, SECRET).await, StatusCode::OK);
        let mut c = app.e.db.conn().await.unwrap();
        assert_eq!(appointments::get(&mut c, a).await.unwrap().reply, ReplyState::Coming);
        assert_eq!(inbound_count(&app).await, 1, "a replayed webhook is recorded once");
        // Forged: wrong secret, no secret, wrong Twilio signature.
        let forged = [("id", "elks-2"), ("from", "+46701234567"), ("message", "förhinder")];
        assert_eq!(app.elks("inbound", &forged, "guess").await, StatusCode::UNAUTHORIZED);
        let r = app.http.post(format!("{}/webhooks/sms/46elks/inbound", app.base_of("46elks"))).form(&forged).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let tw = [("MessageSid", "SM1"), ("From", "+46701234567"), ("To", "+46766860000"), ("Body", "förhinder, sjuk")];
        assert_eq!(app.twilio("inbound", &tw, "wrong-token").await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(inbound_count(&app).await, 1, "nothing stored from forgeries");
        // 46elks with ?secret= in the URL.
        let r = app.http.post(format!("{}/webhooks/sms/46elks/inbound?secret={SECRET}", app.base_of("46elks")))
            .form(&[("id", "elks-3"), ("from", "+46701234567"), ("message", "ja")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // Twilio, correctly signed: answered with empty TwiML.
        let (s, body) = app.twilio("inbound", &tw, TWILIO_TOKEN).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains("<Response></Response>"));
        let a_now = appointments::get(&mut c, a).await.unwrap();
        assert_eq!((a_now.reply, a_now.reply_reason.as_deref()), (ReplyState::Cannot, Some("sjuk")));
        // Sinch, JSON, number without +.
        let r = app.http.post(format!("{}/webhooks/sms/sinch/inbound", app.base_of("sinch")))
            .header("authorization", basic(SECRET))
            .json(&serde_json::json!({"type": "mo_text", "id": "01SINCH", "from": "46701234567",
                "to": "46766860000", "body": "kommer", "received_at": "2026-12-09T10:00:00Z"}))
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(appointments::get(&mut c, a).await.unwrap().reply, ReplyState::Coming);
        let replies = journal::list(&mut c, p).await.unwrap().into_iter().filter(|e| e.kind == "inbound_message").count();
        assert_eq!(replies, 4);
    }
}

both_backends! {
    async fn statuses_only_move_forward_and_a_failure_becomes_a_task(t) {
        let app = spawn(&t).await;
        let (p, _, _) = reminded(&app).await;
        let status = |app: &App| {
            let db = app.e.db.clone();
            async move {
                let mut c = db.conn().await.unwrap();
                outbox::list(&mut c, None).await.unwrap().into_iter().find(|r| r.gateway_id.as_deref() == Some("rec-1")).unwrap().status
            }
        };
        assert_eq!(app.elks("status", &[("id", "rec-1"), ("status", "delivered"), ("delivered", "2026-12-09 10:00:01")], SECRET).await, StatusCode::OK);
        assert_eq!(status(&app).await, OutboxStatus::Delivered);
        // A late "sent" arrives after "delivered": ignored. A replay too.
        assert_eq!(app.elks("status", &[("id", "rec-1"), ("status", "sent")], SECRET).await, StatusCode::OK);
        assert_eq!(app.elks("status", &[("id", "rec-1"), ("status", "delivered")], SECRET).await, StatusCode::OK);
        assert_eq!(status(&app).await, OutboxStatus::Delivered);
        // Twilio reports a failure on a row that was only sent: final, and a task.
        sqlx::query("UPDATE outbox SET gateway_id = 'SM-fail', status = 'sent' WHERE gateway_id = 'rec-1'")
            .execute(&app.e.db.pool).await.unwrap();
        let (s, _) = app.twilio("status", &[("MessageSid", "SM-fail"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")], TWILIO_TOKEN).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.twilio("status", &[("MessageSid", "SM-fail"), ("MessageStatus", "delivered")], TWILIO_TOKEN).await;
        assert_eq!(s, StatusCode::OK);
        let mut c = app.e.db.conn().await.unwrap();
        let row = outbox::list(&mut c, None).await.unwrap().into_iter().find(|r| r.gateway_id.as_deref() == Some("SM-fail")).unwrap();
        assert_eq!(row.status, OutboxStatus::Failed, "failed is final");
        let t = tasks::list(&mut c, Some(p), true).await.unwrap();
        assert_eq!(t.iter().filter(|t| t.kind == TaskKind::DeliveryFailed).count(), 1);
        // Sinch delivery report for an unknown batch: accepted, nothing changes.
        let r = app.http.post(format!("{}/webhooks/sms/sinch/status?secret={SECRET}", app.base_of("sinch")))
            .json(&serde_json::json!({"type": "recipient_delivery_report_sms", "batch_id": "nope", "recipient": "46701234567", "status": "Delivered", "code": 0}))
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

both_backends! {
    async fn a_delivery_report_that_says_why_is_stored_with_its_kind(t) {
        let app = spawn(&t).await;
        let (p, _, _) = reminded(&app).await;
        // The reminder went out by Twilio and comes back undelivered: 30006,
        // a landline. The lots sees the number among the number issues.
        sqlx::query("UPDATE outbox SET gateway_id = 'SM-land', status = 'sent', sent_at = 1 WHERE gateway_id = 'rec-1'")
            .execute(&app.e.db.pool).await.unwrap();
        let (s, _) = app.twilio("status", &[("MessageSid", "SM-land"), ("MessageStatus", "undelivered"), ("ErrorCode", "30006")], TWILIO_TOKEN).await;
        assert_eq!(s, StatusCode::OK);
        let kind: Option<String> = sqlx::query_scalar("SELECT error_kind FROM outbox WHERE gateway_id = 'SM-land'")
            .fetch_one(&app.e.db.pool).await.unwrap();
        assert_eq!(kind.as_deref(), Some("invalid_number"));
        let mut c = app.e.db.conn().await.unwrap();
        let issues = paminn::store::ui_monitoring::number_issues(&mut c, None).await.unwrap();
        assert_eq!(issues.iter().map(|i| i.participant_id).collect::<Vec<_>>(), [p]);
        // 30003 (handset off) says nothing of the number: an ordinary failure.
        sqlx::query("UPDATE outbox SET gateway_id = 'SM-off', status = 'sent', error_kind = NULL WHERE gateway_id = 'SM-land'")
            .execute(&app.e.db.pool).await.unwrap();
        app.twilio("status", &[("MessageSid", "SM-off"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")], TWILIO_TOKEN).await;
        let kind: Option<String> = sqlx::query_scalar("SELECT error_kind FROM outbox WHERE gateway_id = 'SM-off'")
            .fetch_one(&app.e.db.pool).await.unwrap();
        assert_eq!(kind, None);
        // 21610: the recipient sent STOP to the gateway. Honoured like STOPP,
        // once, with a line in the case record.
        sqlx::query("UPDATE outbox SET gateway_id = 'SM-stop', status = 'sent' WHERE gateway_id = 'SM-off'")
            .execute(&app.e.db.pool).await.unwrap();
        for _ in 0..2 {
            app.twilio("status", &[("MessageSid", "SM-stop"), ("MessageStatus", "failed"), ("ErrorCode", "21610")], TWILIO_TOKEN).await;
        }
        let part = participants::get(&mut c, p).await.unwrap();
        assert!(part.opted_out.contains(ChannelKind::Sms));
        let lines = journal::list(&mut c, p).await.unwrap();
        assert_eq!(lines.iter().filter(|e| e.kind == "opted_out_at_gateway").count(), 1);
    }
}

both_backends! {
    async fn malformed_webhooks_get_a_4xx_with_the_reason(t) {
        let app = spawn(&t).await;
        reminded(&app).await;
        // Missing field, named.
        let r = app.http.post(format!("{}/webhooks/sms/46elks/inbound", app.base_of("46elks"))).header("authorization", basic(SECRET))
            .form(&[("id", "x1"), ("message", "kommer")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("'from'"));
        let r = app.http.post(format!("{}/webhooks/sms/sinch/status", app.base_of("sinch"))).header("authorization", basic(SECRET))
            .json(&serde_json::json!({"batch_id": "b"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("'status'"));
        // Over 64 KB.
        let big = "a".repeat(70 * 1024);
        let r = app.http.post(format!("{}/webhooks/sms/46elks/inbound", app.base_of("46elks"))).header("authorization", basic(SECRET))
            .form(&[("id", "x2"), ("from", "+46701234567"), ("message", big.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Invalid UTF-8.
        let r = app.http.post(format!("{}/webhooks/sms/46elks/inbound", app.base_of("46elks"))).header("authorization", basic(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'i', b'd', b'=', 0xff, 0xfe]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("UTF-8"));
        // Sinch body that is not JSON.
        let r = app.http.post(format!("{}/webhooks/sms/sinch/inbound", app.base_of("sinch"))).header("authorization", basic(SECRET))
            .body("id=1").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = app.http.post(format!("{}/webhooks/sms/fax/inbound", app.base_of("fax"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(inbound_count(&app).await, 0);
    }
}

both_backends! {
    async fn an_sms_from_an_unknown_number_is_only_counted(t) {
        let app = spawn(&t).await;
        reminded(&app).await;
        let form = [("id", "elks-u1"), ("from", "+46709999999"), ("message", "hej, vem är du? mitt namn är Kim")];
        assert_eq!(app.elks("inbound", &form, SECRET).await, StatusCode::OK);
        assert_eq!(app.elks("inbound", &form, SECRET).await, StatusCode::OK);
        let (body, pid): (Option<String>, Option<i64>) = sqlx::query_as("SELECT body, participant_id FROM inbound")
            .fetch_one(&app.e.db.pool).await.unwrap();
        assert_eq!((body, pid), (None, None));
        let mut c = app.e.db.conn().await.unwrap();
        let n = reports::unknown_senders(&mut c, Utc::now() - Duration::days(1), Utc::now() + Duration::days(1)).await.unwrap();
        assert_eq!(n, 1);
    }
}

/// An SMS gateway that reports parts and cost, like 46elks.
struct Costly;

#[async_trait]
impl Transport for Costly {
    fn name(&self) -> &'static str {
        "costly"
    }
    async fn send(&self, msg: &OutgoingMessage) -> Result<Accepted, SendError> {
        Ok(Accepted {
            gateway_id: format!("c-{}", msg.outbox_id),
            parts: Some(1),
            cost: Some(3500),
            currency: Some("SEK".into()),
        })
    }
}

both_backends! {
    async fn sms_bookkeeping_cost_report_and_telegram_fallback(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 1, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let ali = fx::participant(&e, &u, "Ali", "sms,telegram", now).await;
        let bea = fx::participant(&e, &u, "Bea", "telegram", now).await;
        {
            let mut c = e.db.conn().await.unwrap();
            for p in [ali.id, bea.id] {
                participants::set_telegram_chat(&mut c, p, Some("12345"), now).await.unwrap();
                sqlx::query("UPDATE participants SET channel_pref = 'telegram' WHERE id = $1").bind(p.get()).execute(&mut *c).await.unwrap();
            }
        }
        let book = |p| NewAppointment { participant_id: p, series_id: None, kind: AppointmentKind::Meeting,
            starts_at: sthlm(2026, 12, 10, 11, 0), duration_min: 60, location: None, with_whom: None,
            internal_note: None, external_ref: None };
        e.create_appointment(&book(ali.id), &Actor("t".into()), now).await.unwrap();
        e.create_appointment(&book(bea.id), &Actor("t".into()), now).await.unwrap();
        let tg = Arc::new(Recorder::default());
        *tg.always_fail.lock().unwrap() = Some(SendError::Permanent("Forbidden: bot was blocked by the user".into()));
        let channels = Arc::new(Channels::new().with(ChannelKind::Telegram, tg.clone()).with(ChannelKind::Sms, Arc::new(Costly)));
        let d = Dispatcher::new(e.clone(), channels, DispatcherConfig::default());
        let at = sthlm(2026, 12, 9, 11, 0);
        d.run_once(at).await.unwrap();
        // The fallback rows, due at the failure (a few ms after `at`).
        d.run_once(at + Duration::seconds(1)).await.unwrap();
        let mut c = e.db.conn().await.unwrap();
        let ali_rows = outbox::list(&mut c, Some(ali.id)).await.unwrap();
        let sms = ali_rows.iter().find(|r| r.channel == ChannelKind::Sms && r.status == OutboxStatus::Sent).expect("SMS fallback sent");
        assert_eq!((sms.encoding.as_deref(), sms.parts, sms.cost), (Some("gsm7"), Some(1), Some(3500)));
        assert!(journal::list(&mut c, ali.id).await.unwrap().iter().any(|e| e.kind == "fallback_to_sms"));
        // Bea never consented to SMS: no fallback, a task for the lots.
        let bea_rows = outbox::list(&mut c, Some(bea.id)).await.unwrap();
        assert!(bea_rows.iter().all(|r| r.channel == ChannelKind::Telegram));
        assert!(tasks::list(&mut c, Some(bea.id), true).await.unwrap().iter().any(|t| t.kind == TaskKind::DeliveryFailed));
        // The month's cost for the unit.
        let cost = reports::sms_cost(&mut c, u.id, sthlm(2026, 12, 1, 0, 0), sthlm(2027, 1, 1, 0, 0)).await.unwrap();
        assert_eq!(cost.len(), 1);
        assert_eq!((cost[0].messages, cost[0].parts, cost[0].cost, cost[0].currency.as_deref()), (1, 1, 3500, Some("SEK")));
        let none = reports::sms_cost(&mut c, u.id, sthlm(2026, 11, 1, 0, 0), sthlm(2026, 12, 1, 0, 0)).await.unwrap();
        assert!(none.is_empty());
    }
}

both_backends! {
    async fn a_shared_number_reaches_the_active_participant_first_then_the_newest(t) {
        // The webhook finds the sender by number in the reply's own read
        // (`Engine::receive_from_number`); the choice must stay that of
        // `participants::by_phone`: not erased, active first, then newest.
        let app = spawn(&t).await;
        let now = Utc::now();
        let u = fx::unit(&app.e, "Chansen", now).await;
        let ali = fx::participant(&app.e, &u, "Ali", "sms", now).await;
        let bea = fx::participant(&app.e, &u, "Bea", "sms", now).await;
        let actor = Actor("test".into());
        async fn reached(app: &App, n: u32) -> i64 {
            let id = format!("elks-shared-{n}");
            let form = [("id", id.as_str()), ("from", "+46701234567"), ("message", "hjälp")];
            assert_eq!(app.elks("inbound", &form, SECRET).await, StatusCode::OK);
            let pid: Option<i64> = sqlx::query_scalar("SELECT participant_id FROM inbound WHERE gateway_id = $1")
                .bind(format!("46elks:{id}"))
                .fetch_one(&app.e.db.pool).await.unwrap();
            pid.unwrap()
        }
        assert_eq!(reached(&app, 1).await, bea.id.get(), "both active: the newest");
        app.e.set_status(bea.id, ParticipantStatus::Discharged, &actor, now).await.unwrap();
        assert_eq!(reached(&app, 2).await, ali.id.get(), "the active one before a newer discharged one");
        app.e.set_status(ali.id, ParticipantStatus::Discharged, &actor, now).await.unwrap();
        assert_eq!(reached(&app, 3).await, bea.id.get(), "neither active: the newest");
        app.e.erase(bea.id, &actor, now).await.unwrap();
        assert_eq!(reached(&app, 4).await, ali.id.get(), "an erased participant has no number");
        let mut c = app.e.db.conn().await.unwrap();
        let helped = journal::list(&mut c, ali.id).await.unwrap().into_iter()
            .filter(|e| e.kind == "inbound_message" && e.detail["intent"]["intent"] == "help").count();
        assert_eq!(helped, 2);
    }
}

both_backends! {
    async fn a_reply_delivered_many_times_at_once_is_recorded_once(t) {
        // Gateways retry, sometimes before the first delivery has been
        // answered. However the deliveries interleave, the inbound row's
        // unique key lets one through: one row, one journal event, one
        // task, one receipt.
        let app = spawn(&t).await;
        let (p, a, _) = reminded(&app).await;
        let form = [("id", "elks-dup"), ("from", "+46701234567"), ("message", "förhinder, sjuk")];
        let sends = (0..8).map(|_| app.elks("inbound", &form, SECRET));
        for status in futures::future::join_all(sends).await {
            assert_eq!(status, StatusCode::OK);
        }
        assert_eq!(inbound_count(&app).await, 1);
        let mut c = app.e.db.conn().await.unwrap();
        let events = journal::list(&mut c, p).await.unwrap().into_iter().filter(|e| e.kind == "inbound_message").count();
        assert_eq!(events, 1);
        let cannot = tasks::list(&mut c, Some(p), false).await.unwrap();
        assert_eq!((cannot.len(), cannot[0].kind, cannot[0].appointment_id), (1, TaskKind::Cannot, Some(a)));
        let receipts = outbox::list(&mut c, Some(p)).await.unwrap().into_iter()
            .filter(|r| r.purpose == paminn::domain::Purpose::Receipt).count();
        assert_eq!(receipts, 1);
        assert_eq!(appointments::get(&mut c, a).await.unwrap().reply, ReplyState::Cannot);
        // A route that writes more than the reply's own rows (STOPP: the
        // opt-out, in a transaction with them) is recorded once as well.
        let form = [("id", "elks-dup-stop"), ("from", "+46701234567"), ("message", "STOPP")];
        let sends = (0..8).map(|_| app.elks("inbound", &form, SECRET));
        for status in futures::future::join_all(sends).await {
            assert_eq!(status, StatusCode::OK);
        }
        assert_eq!(inbound_count(&app).await, 2);
        let receipts = outbox::list(&mut c, Some(p)).await.unwrap().into_iter()
            .filter(|r| r.purpose == paminn::domain::Purpose::Receipt).count();
        assert_eq!(receipts, 2);
        assert!(participants::get(&mut c, p).await.unwrap().opted_out.contains(ChannelKind::Sms));
    }
}

both_backends! {
    async fn only_the_configured_providers_routes_exist_and_short_secrets_open_nothing(t) {
        let app = spawn(&t).await;
        reminded(&app).await;
        let form = [("id", "elks-x"), ("from", "+46701234567"), ("message", "kommer")];
        // The 46elks server has no Sinch or Twilio route, whatever the secret.
        for other in ["sinch", "twilio"] {
            let r = app.http.post(format!("{}/webhooks/sms/{other}/inbound", app.base_of("46elks")))
                .header("authorization", basic(SECRET)).form(&form).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{other} on the 46elks server");
        }
        let r = app.http.post(format!("{}/webhooks/sms/46elks/inbound", app.base_of("sinch")))
            .header("authorization", basic(SECRET)).form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "46elks on the Sinch server");
        // The sandbox (no provider) has no SMS webhooks at all.
        let ui_app = common::ui::spawn(&t, false).await;
        let r = app.http.post(format!("{}/webhooks/sms/46elks/inbound?secret={SECRET}", ui_app.base))
            .form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // A server configured with an empty or short secret accepts no
        // secret at all (the configuration refuses to start with one; this
        // is the second line).
        for weak in ["", "short"] {
            let server = common::server::serve_with(|_| AppState {
                webhooks: WebhookConfig { provider: Some(SmsProvider::Elks46), secret: Some(weak.into()), ..Default::default() },
                transports: vec![],
                ..common::server::state(&app.e)
            }).await;
            let base = server.base.clone();
            let r = app.http.post(format!("{base}/webhooks/sms/46elks/inbound?secret={weak}"))
                .form(&form).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "secret {weak:?}");
            let r = app.http.post(format!("{base}/webhooks/sms/46elks/inbound"))
                .header("authorization", basic(weak)).form(&form).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "secret {weak:?}");
            drop(server);
        }
        assert_eq!(inbound_count(&app).await, 0);
    }
}
