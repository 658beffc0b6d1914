//! Bad input at every way in (issue 16, part A): a NUL byte, an
//! out-of-range duration, a `null` that should clear, a missing consent,
//! a typo in a phone number, a name with a bidi override, a query value
//! that is not a boolean, an unknown route, a cron that comes every
//! minute. Each is refused with a 4xx that says why (or, for free text,
//! the NUL is dropped) and nothing is half-stored, on both backends —
//! PostgreSQL is where a NUL used to be a 500.

use crate::common;

use chrono::{Duration, Utc};
use common::fx;
use paminn::domain::AppointmentKind;
use paminn::engine::{Actor, Engine};
use paminn::store::series::SeriesTarget;
use paminn::store::{participants, tokens, units};
use paminn::web::AppState;
use paminn::web::webhooks::SmsProvider;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct App {
    base: String,
    token: String,
    http: reqwest::Client,
    engine: Engine,
    _server: common::server::Server,
}

const SECRET: &str = "s3cret-for-tests-s3cret-for-tests";

async fn spawn(t: &common::TestDb) -> App {
    spawn_for(t, None).await
}

/// A server whose webhooks are those of `provider` (only the configured
/// gateway's routes exist).
async fn serve(engine: &Engine, provider: Option<SmsProvider>) -> common::server::Server {
    common::server::serve_with(|_| AppState {
        webhooks: paminn::web::webhooks::WebhookConfig {
            provider,
            secret: Some(SECRET.into()),
            ..Default::default()
        },
        ..common::server::state(engine)
    })
    .await
}

async fn spawn_for(t: &common::TestDb, provider: Option<SmsProvider>) -> App {
    let engine = Engine::new(t.db.clone());
    let token = {
        let mut c = engine.db.conn().await.unwrap();
        units::create(&mut c, "Krami", Utc::now()).await.unwrap();
        tokens::create(&mut c, "case-system", Utc::now())
            .await
            .unwrap()
    };
    let server = serve(&engine, provider).await;
    App {
        base: server.base.clone(),
        token,
        http: reqwest::Client::new(),
        engine,
        _server: server,
    }
}

impl App {
    /// The status and the JSON body: every answer of the API is JSON.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let (status, text) =
            common::server::call(&self.http, &url, &self.token, method, body).await;
        let v =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
        (status, v)
    }

    async fn participant(&self) -> i64 {
        let (s, p) = self
            .call(
                Method::POST,
                "/api/v1/participants",
                Some(json!({
                    "unit": "Krami", "first_name": "Ali", "phone": "0701234567", "consent": ["sms"]
                })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        p["id"].as_i64().unwrap()
    }

    async fn participants(&self) -> usize {
        let mut c = self.engine.db.conn().await.unwrap();
        participants::list(&mut c, None).await.unwrap().len()
    }
}

fn error(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error text in {v}"))
}

both_backends! {
    async fn patch_checks_the_duration_as_create_does(t) {
        let app = spawn(&t).await;
        let pid = app.participant().await;
        let (s, a) = app.call(Method::POST, "/api/v1/appointments", Some(json!({
            "participant_id": pid, "start": "2030-06-10T09:00", "duration_min": 45
        }))).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let aid = a["appointment"]["id"].as_i64().unwrap();
        for bad in [json!(0), json!(-30), json!(1441), json!(9_223_372_036_854_775_808u64), json!(1.5)] {
            let (s, v) = app.call(Method::PATCH, &format!("/api/v1/appointments/{aid}"),
                Some(json!({ "duration_min": bad }))).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
            assert!(error(&v).contains("duration_min") && error(&v).contains("1 to 1440"), "{bad}: {v}");
            let (s, v) = app.call(Method::POST, "/api/v1/appointments", Some(json!({
                "participant_id": pid, "start": "2030-06-11T09:00", "duration_min": bad
            }))).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        }
        let (_, a) = app.call(Method::GET, &format!("/api/v1/appointments/{aid}"), None).await;
        assert_eq!(a["duration_min"], 45);
        let (s, a) = app.call(Method::PATCH, &format!("/api/v1/appointments/{aid}"),
            Some(json!({ "duration_min": 1440 }))).await;
        assert_eq!((s, a["duration_min"].as_i64()), (StatusCode::OK, Some(1440)), "{a}");
        // The engine refuses it too, whoever calls.
        let mut new = paminn::store::appointments::NewAppointment {
            participant_id: paminn::domain::ParticipantId::from_db(pid),
            series_id: None, kind: AppointmentKind::Meeting, starts_at: Utc::now() + Duration::days(9),
            duration_min: 0, location: None, with_whom: None, internal_note: None, external_ref: None,
        };
        let e = app.engine.update_appointment(paminn::domain::AppointmentId::from_db(aid), &new,
            &Actor("test".into()), Utc::now()).await.unwrap_err();
        assert!(e.to_string().contains("between 1 minute and 24 hours"), "{e}");
        new.duration_min = -1;
        assert!(app.engine.create_appointment(&new, &Actor("test".into()), Utc::now()).await.is_err());
    }
}

both_backends! {
    async fn null_clears_a_detail_and_leaving_it_out_keeps_it(t) {
        let app = spawn(&t).await;
        let pid = app.participant().await;
        let (_, a) = app.call(Method::POST, "/api/v1/appointments", Some(json!({
            "participant_id": pid, "start": "2030-06-10T09:00",
            "location": "Storgatan 1", "with_whom": "Sara", "internal_note": "staff only"
        }))).await;
        let aid = a["appointment"]["id"].as_i64().unwrap();
        let path = format!("/api/v1/appointments/{aid}");
        let (s, a) = app.call(Method::PATCH, &path, Some(json!({ "location": null }))).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!(a["location"], Value::Null);
        assert_eq!((a["with_whom"].as_str(), a["internal_note"].as_str()), (Some("Sara"), Some("staff only")));
        let (_, a) = app.call(Method::PATCH, &path, Some(json!({ "with_whom": null, "internal_note": null }))).await;
        assert_eq!((&a["with_whom"], &a["internal_note"]), (&Value::Null, &Value::Null), "{a}");
        let (_, a) = app.call(Method::PATCH, &path, Some(json!({ "location": "Torget 2" }))).await;
        assert_eq!(a["location"], "Torget 2");
        let (_, a) = app.call(Method::GET, &path, None).await;
        assert_eq!((a["location"].as_str(), &a["with_whom"]), (Some("Torget 2"), &Value::Null));
    }
}

both_backends! {
    async fn a_participant_needs_a_stated_consent(t) {
        let app = spawn(&t).await;
        let (s, v) = app.call(Method::POST, "/api/v1/participants", Some(json!({
            "unit": "Krami", "first_name": "Ali", "phone": "0701234567"
        }))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(error(&v).contains("consent"), "{v}");
        assert_eq!(app.participants().await, 0);
        // Stated as none: created, and nothing will be sent until one is recorded.
        let (s, v) = app.call(Method::POST, "/api/v1/participants", Some(json!({
            "unit": "Krami", "first_name": "Ali", "phone": "0701234567", "consent": []
        }))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let mut c = app.engine.db.conn().await.unwrap();
        let id = paminn::domain::ParticipantId::from_db(v["id"].as_i64().unwrap());
        assert!(paminn::store::consents::current(&mut c, id).await.unwrap().is_none());
    }
}

both_backends! {
    async fn every_api_error_body_is_json(t) {
        let app = spawn(&t).await;
        for (method, path, status, says) in [
            (Method::GET, "/api/v1/tasks?all=maybe", StatusCode::BAD_REQUEST, "all"),
            (Method::GET, "/api/v1/tasks?participant=1&all=1", StatusCode::BAD_REQUEST, "all"),
            (Method::GET, "/api/v1/nothing-here", StatusCode::NOT_FOUND, "/api/v1/nothing-here"),
            (Method::GET, "/api/v1/participants/1/nothing", StatusCode::NOT_FOUND, "no such API route"),
            (Method::GET, "/api/v2/participants", StatusCode::NOT_FOUND, "/api/v2/participants"),
            (Method::POST, "/api", StatusCode::NOT_FOUND, "no such API route"),
            (Method::DELETE, "/api/v1/participants", StatusCode::METHOD_NOT_ALLOWED, "DELETE"),
        ] {
            let (s, v) = app.call(method, path, None).await;
            assert_eq!(s, status, "{path}: {v}");
            assert!(error(&v).contains(says), "{path}: {v}");
        }
        let (s, v) = app.call(Method::GET, "/api/v1/tasks?all=true", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // The staff UI is not swallowed by the API's fallback.
        let res = app.http.get(format!("{}/login", app.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}

both_backends! {
    async fn a_nul_in_any_api_field_is_a_400_naming_the_field_and_stores_nothing(t) {
        let app = spawn(&t).await;
        let (s, v) = app.call(Method::POST, "/api/v1/participants", Some(json!({
            "unit": "Krami", "first_name": "Ali\u{0}", "phone": "0701234567", "consent": ["sms"]
        }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(error(&v).contains("'first_name'") && error(&v).contains("NUL"), "{v}");
        let (s, v) = app.call(Method::POST, "/api/v1/participants", Some(json!({
            "unit": "Krami\u{0}", "first_name": "Ali", "consent": ["sms"]
        }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(error(&v).contains("'unit'"), "{v}");
        let (s, v) = app.call(Method::POST, "/api/v1/participants", Some(json!({
            "unit": "Krami", "first_name": "Ali", "consent": ["sms", "tele\u{0}gram"]
        }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(error(&v).contains("'consent[1]'"), "{v}");
        assert_eq!(app.participants().await, 0);
        let pid = app.participant().await;
        for field in ["location", "with_whom", "internal_note", "external_ref", "start", "kind"] {
            let mut body = json!({ "participant_id": pid, "start": "2030-06-10T09:00" });
            body[field] = json!("a\u{0}b");
            let (s, v) = app.call(Method::POST, "/api/v1/appointments", Some(body)).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {v}");
            assert!(error(&v).contains(&format!("'{field}'")), "{field}: {v}");
        }
        let (_, a) = app.call(Method::POST, "/api/v1/appointments", Some(json!({
            "participant_id": pid, "start": "2030-06-10T09:00", "location": "Storgatan 1"
        }))).await;
        let aid = a["appointment"]["id"].as_i64().unwrap();
        let (s, v) = app.call(Method::PATCH, &format!("/api/v1/appointments/{aid}"),
            Some(json!({ "internal_note": "\u{0}" }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, v) = app.call(Method::POST, &format!("/api/v1/appointments/{aid}/attendance"),
            Some(json!({ "attendance": "attended\u{0}" }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, v) = app.call(Method::POST, "/api/v1/broadcasts", Some(json!({
            "unit": "Krami", "sv": "Hej\u{0}", "en": "Hi"
        }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(error(&v).contains("'sv'"), "{v}");
        for path in ["/api/v1/participants?unit=Kr%00ami", "/api/v1/tasks?participant=%00"] {
            let (s, v) = app.call(Method::GET, path, None).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
            assert!(error(&v).contains("NUL"), "{path}: {v}");
        }
        let (s, v) = app.call(Method::GET, "/api/v1/participants/1%00", None).await;
        assert!(s.is_client_error(), "{s} {v}");
        let (_, a) = app.call(Method::GET, &format!("/api/v1/appointments/{aid}"), None).await;
        assert_eq!((a["location"].as_str(), &a["internal_note"]), (Some("Storgatan 1"), &Value::Null));
        assert_eq!(app.participants().await, 1);
    }
}

both_backends! {
    async fn a_typo_or_a_landline_is_refused_as_a_participants_number(t) {
        let app = spawn(&t).await;
        for (phone, says) in [
            ("+4670123456a", "letters"),
            ("070-123 45 6x", "letters"),
            ("08-123 456 78", "landline"),
            ("+46 900 123 45 67", "premium-rate"),
            ("020-12 34 56", "toll-free"),
        ] {
            let (s, v) = app.call(Method::POST, "/api/v1/participants", Some(json!({
                "unit": "Krami", "first_name": "Ali", "phone": phone, "consent": ["sms"]
            }))).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{phone}: {v}");
            assert!(error(&v).contains("phone") && error(&v).contains(says), "{phone}: {v}");
        }
        assert_eq!(app.participants().await, 0);
        for (phone, e164) in [("+358 40 123 4567", "+358401234567"), ("+4670-123-4567", "+46701234567")] {
            let (s, v) = app.call(Method::POST, "/api/v1/participants", Some(json!({
                "unit": "Krami", "first_name": "Ali", "phone": phone, "consent": ["sms"]
            }))).await;
            assert_eq!((s, v["phone"].as_str()), (StatusCode::CREATED, Some(e164)), "{phone}: {v}");
        }
    }
}

both_backends! {
    async fn names_with_bidi_overrides_or_control_characters_are_refused(t) {
        let app = spawn(&t).await;
        for name in ["Ali\u{202E}gnuoY", "\u{2066}Ali", "Ali\u{1b}[2J", "Ali\nBo"] {
            let (s, v) = app.call(Method::POST, "/api/v1/participants", Some(json!({
                "unit": "Krami", "first_name": name, "consent": ["sms"]
            }))).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {v}");
            assert!(error(&v).contains("first name contains"), "{name:?}: {v}");
        }
        assert_eq!(app.participants().await, 0);
        let (s, v) = app.call(Method::POST, "/api/v1/participants", Some(json!({
            "unit": "Krami", "first_name": "نازنین", "consent": ["sms"]
        }))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        // Staff, whoever adds them (CLI, admin page, demo).
        let e = app.engine.add_staff(&paminn::store::staff::NewStaff {
            unit: None, name: "Sara\u{202E}".into(), username: "sara".into(),
            role: paminn::domain::Role::Admin, language: paminn::domain::Language::Sv,
        }, &Actor("test".into()), Utc::now()).await.unwrap_err();
        assert!(e.to_string().contains("bidi"), "{e}");
    }
}

both_backends! {
    async fn a_series_more_often_than_hourly_or_never_is_refused_and_nothing_is_made(t) {
        let e = Engine::new(t.db.clone());
        let now = common::utc(2026, 12, 1, 9, 0);
        let u = fx::unit(&e, "BAS", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        let make = |cron: &str| cron.parse::<paminn::domain::recurrence::CronExpr>();
        // `* * * * *` once made 40,321 appointments.
        for cron in ["* * * * *", "*/30 9 * * *", "0,59 0,23 * * *"] {
            let c = make(cron).unwrap();
            let err = e.create_series(u.id, SeriesTarget::Participant(p.id), AppointmentKind::Meeting, &c,
                p.time_zone, 15, None, Duration::days(28), &Actor("test".into()), now).await.unwrap_err();
            assert!(err.to_string().contains("at most every 60 minutes"), "{cron}: {err}");
            let err = e.create_series_from(SeriesTarget::Participant(p.id), AppointmentKind::Meeting, &c,
                15, None, now, Duration::days(28), &Actor("test".into()), now).await.unwrap_err();
            assert!(err.to_string().contains("at most every 60 minutes"), "{cron}: {err}");
        }
        let never = make("0 9 31 2 *").unwrap_err();
        assert!(never.contains("never occurs"), "{never}");
        let six = make("0 0 9 * * *").unwrap_err();
        assert!(six.contains("seconds"), "{six}");
        let range = make("0 9 * * 1-9").unwrap_err();
        assert!(range.contains("0-7"), "{range}");
        let mut c = e.db.conn().await.unwrap();
        assert!(paminn::store::appointments::for_participant(&mut c, p.id, None).await.unwrap().is_empty());
        drop(c);
        // Hourly is the default limit and allowed; a unit may set a longer one.
        let hourly = make("0 8-16 * * MON").unwrap();
        e.create_series(u.id, SeriesTarget::Participant(p.id), AppointmentKind::Meeting, &hourly,
            p.time_zone, 15, None, Duration::days(7), &Actor("test".into()), now).await.unwrap();
        let strict = e.clone().with_series_min_gap(Duration::hours(2));
        assert!(strict.create_series(u.id, SeriesTarget::Participant(p.id), AppointmentKind::Meeting, &hourly,
            p.time_zone, 15, None, Duration::days(7), &Actor("test".into()), now).await.is_err());
    }
}

async fn inbound_rows(e: &Engine) -> Vec<(String, Option<String>)> {
    sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT gateway_id, body FROM inbound ORDER BY id",
    )
    .fetch_all(&e.db.pool)
    .await
    .unwrap()
}

both_backends! {
    async fn a_nul_in_an_sms_is_dropped_from_the_text_and_refused_in_ids(t) {
        let app = spawn_for(&t, Some(SmsProvider::Elks46)).await;
        app.participant().await;
        let sinch = serve(&app.engine, Some(SmsProvider::Sinch)).await;
        let sinch_base = sinch.base.clone();
        let hook = |provider: &str, kind: &str| {
            let base = if provider == "sinch" { &sinch_base } else { &app.base };
            format!("{base}/webhooks/sms/{provider}/{kind}?secret={SECRET}")
        };
        let post_form = |url: String, body: &'static str| {
            app.http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body).send()
        };
        // The text: the NUL goes, the reply is kept (was a 500 on PostgreSQL,
        // which the gateway retried for ever).
        let res = post_form(hook("46elks", "inbound"), "id=e1&from=%2B46701234567&message=Kom%00mer").await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        let res = app.http.post(hook("sinch", "inbound"))
            .body(r#"{"id": "s1", "from": "46701234567", "body": "ja\u0000"}"#).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        // Ids, numbers and statuses: 400 naming the field, nothing stored.
        for (provider, kind, body, field) in [
            ("46elks", "inbound", "id=e%002&from=%2B46701234567&message=ja", "'id'"),
            ("46elks", "inbound", "id=e3&from=%2B4670123%004567&message=ja", "'from'"),
            ("46elks", "status", "id=e%004&status=delivered", "'id'"),
            ("46elks", "status", "id=e4&status=deliv%00ered", "'status'"),
        ] {
            let res = post_form(hook(provider, kind), body).await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
            let v: Value = res.json().await.unwrap();
            assert!(error(&v).contains(field) && error(&v).contains("NUL"), "{body}: {v}");
        }
        let res = app.http.post(hook("sinch", "status"))
            .body(r#"{"batch_id": "b\u0000", "status": "Delivered"}"#).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let rows = inbound_rows(&app.engine).await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0], ("46elks:e1".to_string(), Some("Kommer".to_string())));
        assert_eq!(rows[1], ("sinch:s1".to_string(), Some("ja".to_string())));
    }
}

both_backends! {
    async fn a_nul_in_a_telegram_or_sandbox_text_is_dropped(t) {
        let e = Engine::new(t.db.clone());
        let now = Utc::now();
        let u = fx::unit(&e, "BAS", now).await;
        let p = fx::participant(&e, &u, "Ali", "telegram", now).await;
        // What the bot hands the engine for a typed message.
        e.receive(paminn::domain::ChannelKind::Telegram, "42:7", p.id, "förhinder\0 sjuk", now).await.unwrap();
        let rows = inbound_rows(&e).await;
        assert_eq!(rows, [("42:7".to_string(), Some("förhinder sjuk".to_string()))]);
        let err = e.receive(paminn::domain::ChannelKind::Telegram, "42:\08", p.id, "ja", now).await.unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
        assert_eq!(inbound_rows(&e).await.len(), 1);
    }
}

both_backends! {
    async fn a_nul_in_a_staff_form_is_a_400_naming_the_field(t) {
        use common::ui::spawn as ui_spawn;
        let app = ui_spawn(&t, false).await;
        app.staff("lisa", paminn::domain::Role::Lots, Some(app.unit.id)).await;
        let mut lisa = app.login("lisa").await;
        lisa.get("/participants/new").await;
        let res = lisa.post("/participants", &[("first_name", "Ali\0"), ("phone", "0701234567"),
            ("language", "sv"), ("channel", "sms"), ("consent", "sms")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let page = res.text().await.unwrap();
        assert!(page.contains("first_name") && page.contains("NUL"), "{page}");
        // A bidi override or a landline in the same form: 422 by the field,
        // in the UI's language.
        for (name, phone, says) in [("Ali\u{202E}", "0701234567", "förnamn"), ("Ali", "08-123 456 78", "fast nummer")] {
            let res = lisa.post("/participants", &[("first_name", name), ("phone", phone),
                ("language", "sv"), ("channel", "sms"), ("consent", "sms")]).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?} {phone}");
            let page = res.text().await.unwrap();
            assert!(page.contains(says), "{says}: {page}");
        }
        let mut c = app.engine.db.conn().await.unwrap();
        assert!(participants::list(&mut c, None).await.unwrap().is_empty());
        drop(c);
        // Login with a NUL is a wrong login, not a 500.
        let res = app.browser().post_login(&[("username", "li\0sa"), ("password", "x")]).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

both_backends! {
    async fn a_stored_value_the_code_does_not_know_is_an_error_not_a_guess(t) {
        // Written by something else (a later version, a hand-edited row):
        // the row is refused with the value named, never read as a default
        // and never a panic. The rows decode through `sqlx::FromRow`.
        use paminn::store::{consents, templates};
        let now = Utc::now();
        let e = Engine::new(t.db.clone());
        let unit = fx::unit(&e, "Krami", now).await;
        let p = fx::participant(&e, &unit, "Ali", "sms", now).await;
        let mut c = e.db.conn().await.unwrap();
        let exec = |sql: &'static str| sqlx::query(sql);
        let says = |r: paminn::error::Result<()>, what: &str| {
            let err = r.expect_err(what).to_string();
            assert!(err.contains(what), "{what}: {err}");
        };
        exec("UPDATE participants SET opted_out = 'fax' WHERE id = $1")
            .bind(p.id.get()).execute(&mut *c).await.unwrap();
        says(participants::get(&mut c, p.id).await.map(drop), "'fax' is not a channel");
        exec("UPDATE participants SET opted_out = '', intensity = 'loud' WHERE id = $1")
            .bind(p.id.get()).execute(&mut *c).await.unwrap();
        says(participants::list(&mut c, None).await.map(drop), "'loud' is not a reminder intensity");
        exec("UPDATE consents SET channels = 'fax' WHERE participant_id = $1")
            .bind(p.id.get()).execute(&mut *c).await.unwrap();
        says(consents::current(&mut c, p.id).await.map(drop), "'fax' is not a channel");
        exec("INSERT INTO unit_templates (unit_id, key, lang, body, updated_at, updated_by)
              VALUES ($1, 'reminder', 'fi', 'Hei', 0, 'x')")
            .bind(unit.id.get()).execute(&mut *c).await.unwrap();
        says(templates::list(&mut c, unit.id).await.map(drop), "'fi' is not a language");
        exec("UPDATE units SET time_zone = 'Mars/Olympus' WHERE id = $1")
            .bind(unit.id.get()).execute(&mut *c).await.unwrap();
        says(units::get(&mut c, unit.id).await.map(drop), "'Mars/Olympus' is not a time zone");
    }
}
