//! Event webhooks out (issue 19, item 1), end to end on both backends:
//! a receiver in the test (axum on 127.0.0.1:0) that verifies every
//! Standard Webhooks signature with its own HMAC (not paminn's code) and
//! counts duplicates by `webhook-id`; the engine's events go out through
//! the worker, with the clock driven by hand.

use crate::common::fx::{self, actor};
use crate::common::ui::{Browser, PASSWORD};
use crate::common::utc;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use paminn::channels::SendError;
use paminn::domain::access::Password;
use paminn::domain::event_hooks::HookEvent;
use paminn::domain::{AppointmentKind, Attendance, Language, ParticipantId, Role};
use paminn::engine::Engine;
use paminn::engine::event_hooks::{EndpointForm, EventHookWorker, EventHooksConfig, HookReport};
use paminn::store::appointments::NewAppointment;
use paminn::store::event_hooks as hooks_store;
use paminn::store::staff::NewStaff;
use paminn::store::units::Unit;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

/// What the receiver saw.
#[derive(Default)]
pub struct Seen {
    /// Verified deliveries in arrival order: (webhook-id, body).
    pub ok: Vec<(String, Value)>,
    /// Requests whose signature did not verify.
    pub bad_signatures: usize,
    /// Times each webhook-id arrived (answered 2xx or not).
    pub by_id: HashMap<String, usize>,
}

/// A receiver that checks signatures with its own HMAC-SHA256 and answers
/// `answer` (200 when up, 503 when down).
pub struct Receiver {
    secret: Mutex<Option<String>>,
    pub seen: Mutex<Seen>,
    pub answer: AtomicU16,
    pub url: String,
    _stop: tokio_util::sync::CancellationToken,
}

/// The Standard Webhooks check, written from the spec: the key is the
/// base64 after `whsec_`; the signed text `{id}.{timestamp}.{body}`; the
/// header a space-separated list of `v1,<base64>`.
fn verifies(secret: &str, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let id = headers.get("webhook-id")?.to_str().ok()?;
    let ts = headers.get("webhook-timestamp")?.to_str().ok()?;
    ts.parse::<i64>().ok()?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let want = b64.encode(mac.finalize().into_bytes());
    let sigs = headers.get("webhook-signature")?.to_str().ok()?;
    sigs.split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(want.as_str()))
        .then(|| id.to_string())
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = r.secret.lock().unwrap().clone().unwrap_or_default();
    let answer = r.answer.load(Ordering::SeqCst);
    let mut seen = r.seen.lock().unwrap();
    match verifies(&secret, &headers, &body) {
        Some(id) => {
            *seen.by_id.entry(id.clone()).or_default() += 1;
            if answer == 200 {
                seen.ok.push((id, serde_json::from_slice(&body).unwrap()));
            }
            StatusCode::from_u16(answer).unwrap()
        }
        None => {
            seen.bad_signatures += 1;
            StatusCode::UNAUTHORIZED
        }
    }
}

impl Receiver {
    /// Listens on `port` (0: any free one).
    pub async fn start(port: u16) -> Arc<Receiver> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let stop = tokio_util::sync::CancellationToken::new();
        let r = Arc::new(Receiver {
            secret: Mutex::new(None),
            seen: Mutex::new(Seen::default()),
            answer: AtomicU16::new(200),
            url,
            _stop: stop.clone(),
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .ok();
        });
        r
    }

    pub fn set_secret(&self, s: &str) {
        *self.secret.lock().unwrap() = Some(s.to_string());
    }

    pub fn types(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.ok
            .iter()
            .map(|(_, b)| b["type"].as_str().unwrap().to_string())
            .collect()
    }
}

fn appt(p: ParticipantId, at: DateTime<Utc>) -> NewAppointment {
    NewAppointment {
        participant_id: p,
        series_id: None,
        kind: AppointmentKind::Meeting,
        starts_at: at,
        duration_min: 60,
        location: None,
        with_whom: None,
        internal_note: None,
        external_ref: None,
    }
}

fn worker(e: &Engine) -> EventHookWorker {
    EventHookWorker::new(
        e.clone(),
        EventHooksConfig {
            owner: "t".into(),
            timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        },
    )
}

/// Runs the worker at `now` until nothing is due then.
async fn drain(w: &EventHookWorker, now: DateTime<Utc>) -> HookReport {
    let mut all = HookReport::default();
    loop {
        let r = w.run_once(now).await.unwrap();
        if r.claimed == 0 {
            return all;
        }
        all.claimed += r.claimed;
        all.delivered += r.delivered;
        all.retried += r.retried;
        all.given_up += r.given_up;
        all.disabled += r.disabled;
    }
}

async fn endpoint(
    e: &Engine,
    unit: &Unit,
    r: &Receiver,
    events: &[HookEvent],
    include_text: bool,
    now: DateTime<Utc>,
) -> i64 {
    let (id, secret) = e
        .create_event_hook(
            &actor(),
            now,
            unit.id,
            &EndpointForm {
                url: &r.url,
                events: events.to_vec(),
                include_text,
            },
        )
        .await
        .unwrap();
    r.set_secret(secret.expose());
    id
}

async fn counts(e: &Engine, endpoint: i64) -> Vec<(String, i64)> {
    let mut c = e.db.conn().await.unwrap();
    hooks_store::counts(&mut c, endpoint).await.unwrap()
}

both_backends! {
    async fn each_event_kind_arrives_signed_with_ids_and_no_text_unless_opted_in(t) {
        let now = utc(2026, 12, 7, 8, 0);
        let w = fx::world(&t, now).await;
        let e = w.e.clone().with_event_hooks_local_http(true);
        let all = Receiver::start(0).await;
        let texts = Receiver::start(0).await;
        let plain = endpoint(&e, &w.unit, &all, HookEvent::ALL, false, now).await;
        endpoint(&e, &w.unit, &texts, &[HookEvent::ReplyReceived], true, now).await;
        let p = fx::participant(&e, &w.unit, "Ali", "sms", now).await;
        let q = fx::participant(&e, &w.unit, "Bea", "sms", now).await;
        e.set_participant_external_ref(&actor(), now, p.id, "T-42").await.unwrap();
        // appointment.changed (created); the reminder 24 h before goes out
        // and Ali answers "förhinder, sjuk" (reply.received, and the
        // lots's task.created); the gateway refuses what is sent next
        // (message.failed, and its task); attendance.
        let mut booked = appt(p.id, now + Duration::hours(30));
        booked.external_ref = Some("BOK-1".into());
        let a = e.create_appointment(&booked, &actor(), now).await.unwrap();
        e.create_appointment(&appt(q.id, now + Duration::hours(40)), &actor(), now).await.unwrap();
        w.d.run_once(now + Duration::hours(6)).await.unwrap();
        w.say(p.id, "förhinder, sjuk", now + Duration::hours(6) + Duration::minutes(1)).await;
        *w.rec.always_fail.lock().unwrap() = Some(SendError::InvalidNumber("HTTP 400 +46701234567".into()));
        w.d.run_once(now + Duration::hours(16)).await.unwrap();
        e.record_attendance(a.id, Attendance::Excused, &actor(), now + Duration::hours(31)).await.unwrap();

        let hw = worker(&e);
        let r = drain(&hw, now + Duration::hours(31)).await;
        assert_eq!(r.retried + r.given_up, 0, "{r:?}");
        let mut types = all.types();
        types.sort();
        types.dedup();
        assert_eq!(types, ["appointment.changed", "attendance.recorded", "message.failed",
                           "reply.received", "task.created"]);
        let n = {
            let seen = all.seen.lock().unwrap();
            assert_eq!(seen.bad_signatures, 0);
            for (_, b) in &seen.ok {
                let mine = b["data"]["participant_id"] == p.id.get();
                assert!(mine || b["data"]["participant_id"] == q.id.get());
                assert_eq!(b["data"]["participant_ref"], if mine { Value::from("T-42") } else { Value::Null });
                assert_eq!(b["data"]["unit_id"], w.unit.id.get());
                // No words of the participant's, no number, no name.
                let s = b.to_string();
                assert!(!s.contains("sjuk") && !s.contains("4670") && !s.contains("Ali") && !s.contains("Bea"), "{s}");
            }
            // Ali's event of a type (the two participants' arrive in any
            // order between them).
            let body = |ty: &str| {
                seen.ok.iter()
                    .find(|(_, b)| b["type"] == ty && b["data"]["participant_id"] == p.id.get())
                    .unwrap().1.clone()
            };
            assert_eq!(body("reply.received")["data"]["reply"], "cannot");
            assert_eq!(body("reply.received")["data"]["appointment_id"], a.id.get());
            assert_eq!(body("appointment.changed")["data"]["change"], "created");
            assert_eq!(body("appointment.changed")["data"]["appointment_ref"], "BOK-1");
            assert_eq!(body("attendance.recorded")["data"]["attendance"], "excused");
            // Ali's receipt of the reply went out in the failing run (Bea's
            // reminder waits for the end of quiet hours).
            assert_eq!(body("message.failed")["data"]["purpose"], "receipt");
            assert!(body("message.failed")["data"]["message_id"].is_i64());
            assert!(seen.ok.iter().any(|(_, b)| b["type"] == "task.created" && b["data"]["task_kind"] == "delivery_failed"));
            assert!(seen.ok.iter().any(|(_, b)| b["type"] == "task.created" && b["data"]["task_kind"] == "cannot"));
            // Every id once: nothing was sent twice.
            assert!(seen.by_id.values().all(|n| *n == 1), "{:?}", seen.by_id);
            seen.ok.len() as i64
        };
        assert_eq!(counts(&e, plain).await, [("delivered".to_string(), n)]);

        // The endpoint that opted in gets the words, and only replies.
        let t = texts.seen.lock().unwrap();
        assert_eq!(t.ok.len(), 1);
        assert_eq!(t.ok[0].1["type"], "reply.received");
        assert_eq!(t.ok[0].1["data"]["text"], "förhinder, sjuk");
        assert_eq!(t.ok[0].1["data"]["reason"], "sjuk");
    }
}

both_backends! {
    async fn a_receiver_that_is_down_then_up_gets_everything_once_in_order(t) {
        let t0 = utc(2026, 12, 7, 8, 0);
        let w = fx::world(&t, t0).await;
        let e = w.e.clone().with_event_hooks_local_http(true);
        // First closed (nothing listens on the port), then answering 503,
        // then up.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (id, secret) = e.create_event_hook(&actor(), t0, w.unit.id, &EndpointForm {
            url: &format!("http://127.0.0.1:{port}/hook"),
            events: vec![HookEvent::AppointmentChanged],
            include_text: false,
        }).await.unwrap();
        let mut ps = Vec::new();
        for n in 0..3 {
            ps.push(fx::participant(&e, &w.unit, &format!("P{n}"), "sms", t0).await);
        }
        // Four events per participant: created, moved three times.
        for p in &ps {
            let a = e.create_appointment(&appt(p.id, t0 + Duration::days(2)), &actor(), t0).await.unwrap();
            for k in 1..=3 {
                e.move_appointment(a.id, t0 + Duration::days(2) + Duration::hours(k), &actor(), t0).await.unwrap();
            }
        }
        let hw = worker(&e);
        let mut now = t0;
        let r = drain(&hw, now).await;
        // One at a time per participant: the first of each is tried.
        assert_eq!((r.claimed, r.retried), (3, 3), "{r:?}");
        // 503 for an hour.
        let rec = Receiver::start(port).await;
        rec.set_secret(secret.expose());
        rec.answer.store(503, Ordering::SeqCst);
        while now < t0 + Duration::hours(1) {
            now += Duration::minutes(5);
            let r = drain(&hw, now).await;
            assert_eq!(r.delivered, 0);
        }
        assert!(rec.seen.lock().unwrap().by_id.len() <= 3, "later events waited for the first");
        rec.answer.store(200, Ordering::SeqCst);
        while now < t0 + Duration::hours(4) {
            now += Duration::minutes(5);
            drain(&hw, now).await;
        }
        assert_eq!(counts(&e, id).await, [("delivered".to_string(), 12)]);
        let seen = rec.seen.lock().unwrap();
        assert_eq!(seen.bad_signatures, 0);
        // None lost, none delivered twice (an id seen more than once was
        // refused with 503 before).
        let ids: std::collections::BTreeSet<_> = seen.ok.iter().map(|(i, _)| i.clone()).collect();
        assert_eq!((ids.len(), seen.ok.len()), (12, 12));
        // Each participant's events arrived in the order they happened.
        for p in &ps {
            let changes: Vec<String> = seen.ok.iter()
                .filter(|(_, b)| b["data"]["participant_id"] == p.id.get())
                .map(|(_, b)| format!("{}@{}", b["data"]["change"], b["data"]["starts_at"]))
                .collect();
            let want: Vec<String> = std::iter::once(format!("\"created\"@\"{}\"", (t0 + Duration::days(2)).format("%Y-%m-%dT%H:%M:%SZ")))
                .chain((1..=3).map(|k| format!("\"moved\"@\"{}\"", (t0 + Duration::days(2) + Duration::hours(k)).format("%Y-%m-%dT%H:%M:%SZ"))))
                .collect();
            assert_eq!(changes, want);
        }
    }
}

both_backends! {
    async fn a_day_of_failures_gives_up_and_switches_the_endpoint_off(t) {
        let t0 = utc(2026, 12, 7, 8, 0);
        let w = fx::world(&t, t0).await;
        let e = w.e.clone().with_event_hooks_local_http(true);
        let rec = Receiver::start(0).await;
        rec.answer.store(503, Ordering::SeqCst);
        let id = endpoint(&e, &w.unit, &rec, &[HookEvent::AppointmentChanged], false, t0).await;
        let p = fx::participant(&e, &w.unit, "Ali", "sms", t0).await;
        e.create_appointment(&appt(p.id, t0 + Duration::days(3)), &actor(), t0).await.unwrap();
        let hw = worker(&e);
        let mut now = t0;
        let mut disabled = 0;
        while now <= t0 + Duration::hours(25) {
            disabled += drain(&hw, now).await.disabled;
            let mut c = e.db.conn().await.unwrap();
            let ep = hooks_store::get_endpoint(&mut c, id).await.unwrap();
            if now < t0 + Duration::hours(24) {
                assert!(ep.disabled_at.is_none(), "still on at {now}");
            }
            now += Duration::minutes(20);
        }
        assert_eq!(disabled, 1);
        let mut c = e.db.conn().await.unwrap();
        let ep = hooks_store::get_endpoint(&mut c, id).await.unwrap();
        assert_eq!(ep.disabled_reason.as_deref(), Some("failing"));
        drop(c);
        // Backoff: far fewer attempts than one per 20 minutes.
        let attempts = rec.seen.lock().unwrap().by_id.values().sum::<usize>();
        assert!((8..40).contains(&attempts), "{attempts} attempts");
        assert_eq!(counts(&e, id).await, [("failed".to_string(), 1)]);
        let mut c = e.db.conn().await.unwrap();
        let audit: Vec<(String, String)> = sqlx::query_as(
            "SELECT actor, target FROM audit WHERE action = 'hooks.endpoint.disable'")
            .fetch_all(&mut *c).await.unwrap();
        assert_eq!(audit, [("system".to_string(), format!("event_hook:{id}"))]);
        // Switched off: new events are not queued for it.
        drop(c);
        e.create_appointment(&appt(p.id, t0 + Duration::days(4)), &actor(), now).await.unwrap();
        assert_eq!(counts(&e, id).await, [("failed".to_string(), 1)]);
    }
}

both_backends! {
    async fn an_endpoint_of_one_unit_never_gets_another_units_events(t) {
        let now = utc(2026, 12, 7, 8, 0);
        let w = fx::world(&t, now).await;
        let e = w.e.clone().with_event_hooks_local_http(true);
        let other = fx::unit(&e, "Krami", now).await;
        let ra = Receiver::start(0).await;
        let rb = Receiver::start(0).await;
        endpoint(&e, &w.unit, &ra, HookEvent::ALL, true, now).await;
        endpoint(&e, &other, &rb, HookEvent::ALL, true, now).await;
        let pa = fx::participant(&e, &w.unit, "Ali", "sms", now).await;
        let pb = fx::participant(&e, &other, "Bea", "sms", now).await;
        e.create_appointment(&appt(pa.id, now + Duration::days(2)), &actor(), now).await.unwrap();
        e.create_appointment(&appt(pb.id, now + Duration::days(2)), &actor(), now).await.unwrap();
        e.create_appointment(&appt(pb.id, now + Duration::days(3)), &actor(), now).await.unwrap();
        drain(&worker(&e), now).await;
        let a = ra.seen.lock().unwrap();
        let b = rb.seen.lock().unwrap();
        assert_eq!((a.ok.len(), b.ok.len()), (1, 2));
        assert!(a.ok.iter().all(|(_, x)| x["data"]["participant_id"] == pa.id.get()));
        assert!(b.ok.iter().all(|(_, x)| x["data"]["participant_id"] == pb.id.get()));
    }
}

both_backends! {
    async fn an_admin_registers_on_the_page_sees_deliveries_and_resends(t) {
        let e = Engine::new(t.db.clone()).with_event_hooks_local_http(true);
        let server = crate::common::server::serve_with(|_| crate::common::server::state(&e)).await;
        let now = Utc::now();
        let unit = fx::unit(&e, "Chansen", now).await;
        for (user, role) in [("admin", Role::Admin), ("lots", Role::Lots)] {
            let s = e.add_staff(&NewStaff {
                unit: Some(unit.id), name: format!("{user} Testsson"), username: user.into(),
                role, language: Language::Sv,
            }, &actor(), now).await.unwrap();
            e.set_password(s.id, &Password::parse(PASSWORD).unwrap(), None, &actor(), now).await.unwrap();
        }
        let login = |user: &'static str| {
            let base = server.base.clone();
            async move {
                let b = Browser::new(&base);
                let res = b.post_login(&[("username", user), ("password", PASSWORD), ("next", "/account")]).await;
                assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
                b
            }
        };
        // Not for a lots.
        let mut lots = login("lots").await;
        assert_eq!(lots.get("/event-hooks").await.0, reqwest::StatusCode::FORBIDDEN);

        let mut b = login("admin").await;
        let (st, page) = b.get("/event-hooks").await;
        assert_eq!(st, reqwest::StatusCode::OK);
        assert!(page.contains("Webhooks för händelser"), "{page}");
        // Plain http elsewhere than this machine is refused.
        let unit_id = unit.id.get().to_string();
        let res = b.post("/event-hooks", &[("unit", &unit_id), ("url", "http://case.example.se/h"),
                                            ("events", "appointment.changed")]).await;
        assert_eq!(res.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
        let rec = Receiver::start(0).await;
        let res = b.post("/event-hooks", &[("unit", &unit_id), ("url", &rec.url),
                                            ("events", "appointment.changed")]).await;
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        let page = res.text().await.unwrap();
        let secret = page.split("id=\"event-hook-secret\">").nth(1).unwrap().split('<').next().unwrap().to_string();
        assert!(secret.starts_with("whsec_"));
        rec.set_secret(&secret);
        // The secret is shown once: not on the next reading of the page.
        let (_, again) = b.get("/event-hooks").await;
        assert!(!again.contains(&secret));

        // Edit: another event and the text opt-in; the secret stays.
        let hook_id = {
            let mut c = e.db.conn().await.unwrap();
            hooks_store::list_endpoints(&mut c, None).await.unwrap()[0].id
        };
        let res = b.post(&format!("/event-hooks/{hook_id}"), &[("url", &rec.url), ("events", "appointment.changed"),
                                                              ("events", "task.created"), ("include_text", "1")]).await;
        assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
        {
            let mut c = e.db.conn().await.unwrap();
            let ep = hooks_store::get_endpoint(&mut c, hook_id).await.unwrap();
            assert_eq!((ep.events, ep.include_text), (vec!["task.created".to_string(), "appointment.changed".to_string()], true));
        }
        b.get("/event-hooks").await;

        let p = fx::participant(&e, &unit, "Ali", "sms", now).await;
        e.create_appointment(&appt(p.id, now + Duration::days(2)), &actor(), now).await.unwrap();
        drain(&worker(&e), Utc::now()).await;
        assert_eq!(rec.seen.lock().unwrap().ok.len(), 1);
        let (_, page) = b.get("/event-hooks").await;
        assert!(page.contains("data-status=\"delivered\""), "{page}");
        assert!(page.contains("Levererad"));
        assert!(!page.contains("\"data\""), "no body on the page");

        // Resend: the same webhook-id again.
        let did: i64 = {
            let mut c = e.db.conn().await.unwrap();
            hooks_store::recent(&mut c, None, 1).await.unwrap()[0].id
        };
        let res = b.post(&format!("/event-hooks/deliveries/{did}/resend"), &[]).await;
        assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
        drain(&worker(&e), Utc::now()).await;
        {
            let seen = rec.seen.lock().unwrap();
            assert_eq!(seen.ok.len(), 2);
            assert_eq!(seen.ok[0].0, seen.ok[1].0);
            assert_eq!(seen.by_id.len(), 1);
        }
        // Change the secret: a new one, shown once; the page says until
        // when the old one also signs.
        let res = b.post(&format!("/event-hooks/{hook_id}/rotate"), &[]).await;
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        let page = res.text().await.unwrap();
        let rotated = page.split("id=\"event-hook-secret\">").nth(1).unwrap().split('<').next().unwrap().to_string();
        assert!(rotated.starts_with("whsec_") && rotated != secret, "{page}");
        assert!(page.contains("Mottagaren har en ny nyckel."), "{page}");
        let (_, again) = b.get("/event-hooks").await;
        assert!(!again.contains(&rotated) && again.contains("Gamla nyckeln signerar också till"), "{again}");
        // A lots cannot (with the form token of a page of hers).
        lots.get("/account").await;
        assert_eq!(lots.post(&format!("/event-hooks/{hook_id}/rotate"), &[]).await.status(), reqwest::StatusCode::FORBIDDEN);

        let mut c = e.db.conn().await.unwrap();
        let audited: Vec<String> = sqlx::query_scalar(
            "SELECT action FROM audit WHERE action LIKE 'hooks.%' ORDER BY id")
            .fetch_all(&mut *c).await.unwrap();
        assert_eq!(audited, ["hooks.endpoint.create", "hooks.endpoint.edit", "hooks.delivery.resend",
                             "hooks.endpoint.rotate"]);
    }
}

both_backends! {
    async fn an_endpoint_switched_off_for_failing_is_on_the_admins_today_until_switched_on(t) {
        let e = Engine::new(t.db.clone()).with_event_hooks_local_http(true);
        let server = crate::common::server::serve_with(|_| crate::common::server::state(&e)).await;
        let now = Utc::now();
        let unit = fx::unit(&e, "Chansen", now).await;
        for (user, role) in [("admin", Role::Admin), ("coord", Role::Coordinator)] {
            let s = e.add_staff(&NewStaff {
                unit: Some(unit.id), name: format!("{user} Testsson"), username: user.into(),
                role, language: Language::Sv,
            }, &actor(), now).await.unwrap();
            e.set_password(s.id, &Password::parse(PASSWORD).unwrap(), None, &actor(), now).await.unwrap();
        }
        let rec = Receiver::start(0).await;
        let id = endpoint(&e, &unit, &rec, &[HookEvent::AppointmentChanged], false, now).await;
        let login = |user: &'static str| {
            let base = server.base.clone();
            async move {
                let b = Browser::new(&base);
                let res = b.post_login(&[("username", user), ("password", PASSWORD), ("next", "/today")]).await;
                assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
                b
            }
        };
        let mut admin = login("admin").await;
        let (_, page) = admin.get("/today").await;
        assert!(!page.contains("webhook-mottagare avstängd"), "nothing to do while it works");

        // What the worker does after a day of failures (the test above
        // drives that day); an admin's switching off is not a to-do.
        {
            let mut c = e.db.conn().await.unwrap();
            hooks_store::set_endpoint_disabled(&mut c, id, Some((now, "failing"))).await.unwrap();
        }
        let (_, page) = admin.get("/today").await;
        assert!(page.contains("Att göra: webhook-mottagare avstängd"), "{page}");
        assert!(page.contains(&rec.url) && page.contains(r#"href="/event-hooks""#));
        let mut coord = login("coord").await;
        let (_, page) = coord.get("/today").await;
        assert!(!page.contains("webhook-mottagare"), "the admin's, not the coordinator's");

        e.set_event_hook_enabled(&actor(), now, id, true).await.unwrap();
        let (_, page) = admin.get("/today").await;
        assert!(!page.contains("webhook-mottagare avstängd"), "switched on again: done");
        e.set_event_hook_enabled(&actor(), now, id, false).await.unwrap();
        let (_, page) = admin.get("/today").await;
        assert!(!page.contains("webhook-mottagare avstängd"), "switched off by an admin: no to-do");
    }
}

/// Every journal kind this version knows, read from serde's own list of
/// the enum's variants (its "unknown variant" error names them all), so a
/// kind added later is covered without touching this test.
fn every_journal_kind() -> Vec<String> {
    let err = serde_json::from_value::<paminn::domain::journal::JournalEvent>(
        serde_json::json!({"kind": "no_such_kind", "detail": {}}),
    )
    .unwrap_err()
    .to_string();
    let list = err.split("expected one of ").nth(1).unwrap_or_default();
    let kinds: Vec<String> = list
        .split(", ")
        .map(|k| k.trim().trim_matches('`').to_string())
        .collect();
    assert!(
        kinds.len() > 30 && kinds.iter().any(|k| k == "reply_recorded"),
        "{err}"
    );
    kinds
}

both_backends! {
    /// The database's trigger and `HookEvent::of_journal_kind` agree for
    /// every journal kind: a journal row queues exactly the event the
    /// domain names (a participant's message only when it is a reply),
    /// and nothing for the others.
    async fn the_trigger_queues_the_event_the_domain_names_for_every_journal_kind(t) {
        let now = utc(2026, 12, 7, 8, 0);
        let w = fx::world(&t, now).await;
        let e = w.e.clone().with_event_hooks_local_http(true);
        let r = Receiver::start(0).await;
        endpoint(&e, &w.unit, &r, HookEvent::ALL, false, now).await;
        let p = fx::participant(&e, &w.unit, "Ali", "sms", now).await;
        let mut c = e.db.conn().await.unwrap();
        let mut cases: Vec<(String, String)> = every_journal_kind()
            .into_iter()
            .map(|k| (k, "{}".to_string()))
            .collect();
        // A participant's message is a reply only when read as one.
        for intent in ["coming", "cannot", "late", "stop", "unknown", "my_times"] {
            cases.push(("inbound_message".into(),
                        format!(r#"{{"channel":"sms","text":"x","intent":{{"intent":"{intent}"}}}}"#)));
        }
        let mut raising = 0;
        for (kind, detail) in &cases {
            sqlx::query("INSERT INTO journal (participant_id, appointment_id, at, actor, kind, detail)
                         VALUES ($1, NULL, $2, 'test', $3, $4)")
                .bind(p.id.get()).bind(now.timestamp_millis()).bind(kind).bind(detail)
                .execute(&mut *c).await.unwrap();
            let id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM journal").fetch_one(&mut *c).await.unwrap();
            let queued: Vec<String> = sqlx::query_scalar(
                "SELECT event FROM event_hook_deliveries WHERE source = 'journal' AND source_id = $1")
                .bind(id).fetch_all(&mut *c).await.unwrap();
            let is_reply = ["coming", "cannot", "late", "stop"]
                .iter().any(|i| detail.contains(&format!(r#""intent":"{i}""#)));
            let want: Vec<String> = HookEvent::of_journal_kind(kind)
                .filter(|_| kind != "inbound_message" || is_reply)
                .map(|e| e.as_str().to_string())
                .into_iter().collect();
            assert_eq!(queued, want, "{kind} {detail}");
            raising += want.len();
        }
        // reply_recorded is among them, with the kinds the trigger had before.
        assert!(raising >= 4 + 1 + 6, "{raising}");
    }
}

both_backends! {
    /// "Svar per telefon": a reply staff record for the participant goes
    /// to the case system as a `reply.received` that says so, with the
    /// reply it replaced and no words.
    async fn a_reply_staff_recorded_goes_out_as_a_reply_received(t) {
        use paminn::domain::ReplyState;
        let now = utc(2026, 12, 7, 8, 0);
        let w = fx::world(&t, now).await;
        let e = w.e.clone().with_event_hooks_local_http(true);
        let r = Receiver::start(0).await;
        endpoint(&e, &w.unit, &r, &[HookEvent::ReplyReceived], true, now).await;
        let p = fx::participant(&e, &w.unit, "Ali", "sms", now).await;
        e.set_participant_external_ref(&actor(), now, p.id, "T-7").await.unwrap();
        let a = e.create_appointment(&appt(p.id, now + Duration::hours(30)), &actor(), now).await.unwrap();
        let later = now + Duration::hours(1);
        e.record_reply(a.id, ReplyState::Cannot, &actor(), later).await.unwrap();
        // A wrong tap put right: the later one overrides, and goes out too.
        e.record_reply(a.id, ReplyState::Coming, &actor(), later + Duration::minutes(1)).await.unwrap();
        let rep = drain(&worker(&e), later + Duration::minutes(2)).await;
        assert_eq!((rep.delivered, rep.retried + rep.given_up), (2, 0), "{rep:?}");
        let seen = r.seen.lock().unwrap();
        assert_eq!(seen.bad_signatures, 0);
        let bodies: Vec<&Value> = seen.ok.iter().map(|(_, b)| b).collect();
        assert_eq!(bodies.len(), 2);
        for b in &bodies {
            assert_eq!(b["type"], "reply.received");
            assert_eq!(b["data"]["recorded_by_staff"], true);
            assert_eq!(b["data"]["appointment_id"], a.id.get());
            assert_eq!(b["data"]["participant_ref"], "T-7");
            assert!(b["data"]["channel"].is_null() && b["data"].get("text").is_none(), "{b}");
        }
        assert_eq!((bodies[0]["data"]["reply"].as_str(), bodies[0]["data"]["previous"].as_str()),
                   (Some("cannot"), Some("none")));
        assert_eq!((bodies[1]["data"]["reply"].as_str(), bodies[1]["data"]["previous"].as_str()),
                   (Some("coming"), Some("cannot")));
    }
}

both_backends! {
    /// Finished deliveries go with the unit's retention (180 days by
    /// default); one still pending stays, however old.
    async fn finished_deliveries_are_purged_after_the_units_retention(t) {
        let now = utc(2026, 12, 7, 8, 0);
        let w = fx::world(&t, now).await;
        let e = w.e.clone().with_event_hooks_local_http(true);
        let r = Receiver::start(0).await;
        let ep = endpoint(&e, &w.unit, &r, &[HookEvent::AppointmentChanged], false, now).await;
        let p = fx::participant(&e, &w.unit, "Ali", "sms", now).await;
        e.create_appointment(&appt(p.id, now + Duration::days(2)), &actor(), now).await.unwrap();
        e.create_appointment(&appt(p.id, now + Duration::days(3)), &actor(), now).await.unwrap();
        drain(&worker(&e), now).await;
        // Queued after the worker ran, never attempted.
        e.create_appointment(&appt(p.id, now + Duration::days(4)), &actor(), now).await.unwrap();
        assert_eq!(counts(&e, ep).await, [("delivered".to_string(), 2), ("pending".to_string(), 1)]);
        let jobs = e.run_jobs(now + Duration::days(179)).await.unwrap();
        assert_eq!(jobs.purged_hook_deliveries, 0);
        let jobs = e.run_jobs(now + Duration::days(181)).await.unwrap();
        assert_eq!(jobs.purged_hook_deliveries, 2);
        assert_eq!(counts(&e, ep).await, [("pending".to_string(), 1)]);
        // Running the jobs again finds nothing more.
        assert_eq!(e.run_jobs(now + Duration::days(182)).await.unwrap().purged_hook_deliveries, 0);
    }
}

both_backends! {
    /// After "Byt nyckel" the new secret signs, and the old one beside it
    /// for a day: a receiver verifies whether it has switched yet or not.
    /// After the day only the new one signs.
    async fn a_changed_secret_signs_beside_the_old_one_for_a_day(t) {
        let now = utc(2026, 12, 7, 8, 0);
        let w = fx::world(&t, now).await;
        let e = w.e.clone().with_event_hooks_local_http(true);
        let r = Receiver::start(0).await;
        let ep = endpoint(&e, &w.unit, &r, &[HookEvent::AppointmentChanged], false, now).await;
        let old = r.secret.lock().unwrap().clone().unwrap();
        let p = fx::participant(&e, &w.unit, "Ali", "sms", now).await;
        let book_and_send = |days: i64, at: DateTime<Utc>| {
            let e = e.clone();
            async move {
                e.create_appointment(&appt(p.id, now + Duration::days(days)), &actor(), at).await.unwrap();
                drain(&worker(&e), at).await
            }
        };
        let at = now + Duration::hours(1);
        let new = e.rotate_event_hook_secret(&actor(), at, ep).await.unwrap();
        assert_ne!(new.expose(), old);
        // The receiver still has the old secret.
        book_and_send(2, at).await;
        // It switches within the day.
        r.set_secret(new.expose());
        book_and_send(3, at + Duration::hours(2)).await;
        {
            let seen = r.seen.lock().unwrap();
            assert_eq!((seen.ok.len(), seen.bad_signatures), (2, 0));
        }
        // A day later the old secret no longer signs: a receiver left on
        // it refuses, and gets the delivery once it has the new one.
        r.set_secret(&old);
        let rep = book_and_send(4, at + Duration::hours(25)).await;
        assert_eq!((rep.delivered, rep.retried), (0, 1), "{rep:?}");
        r.set_secret(new.expose());
        let rep = drain(&worker(&e), at + Duration::hours(26)).await;
        assert_eq!(rep.delivered, 1, "{rep:?}");
        {
            let seen = r.seen.lock().unwrap();
            assert_eq!((seen.ok.len(), seen.bad_signatures), (3, 1));
        }
        // The maintenance jobs forget the old secret once its day is over.
        let kept = "SELECT COUNT(*) FROM event_hook_endpoints WHERE previous_secret IS NOT NULL";
        let mut c = e.db.conn().await.unwrap();
        assert_eq!(sqlx::query_scalar::<_, i64>(kept).fetch_one(&mut *c).await.unwrap(), 1);
        e.run_jobs(at + Duration::hours(23)).await.unwrap();
        assert_eq!(sqlx::query_scalar::<_, i64>(kept).fetch_one(&mut *c).await.unwrap(), 1);
        e.run_jobs(at + Duration::hours(24)).await.unwrap();
        assert_eq!(sqlx::query_scalar::<_, i64>(kept).fetch_one(&mut *c).await.unwrap(), 0);
        // Audited, without either secret.
        let detail: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit WHERE action = 'hooks.endpoint.rotate'")
            .fetch_all(&mut *c).await.unwrap();
        assert_eq!(detail.len(), 1);
        assert!(!detail[0].contains("whsec_") && detail[0].contains("previous_signs_until"), "{detail:?}");
        // An endpoint that does not exist: not found.
        assert!(matches!(e.rotate_event_hook_secret(&actor(), at, ep + 100).await,
                         Err(paminn::error::Error::NotFound(_))));
    }
}
