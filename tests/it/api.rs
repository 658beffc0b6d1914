//! The JSON API over HTTP, as an agency system would use it.

use crate::common;

use chrono::Utc;
use paminn::engine::Engine;
use paminn::store::{audit, tokens, units};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct App {
    base: String,
    token: String,
    http: reqwest::Client,
    engine: Engine,
    _server: common::server::Server,
}

async fn spawn(t: &common::TestDb) -> App {
    let engine = Engine::new(t.db.clone());
    let token = {
        let mut c = engine.db.conn().await.unwrap();
        units::create(&mut c, "Krami", Utc::now()).await.unwrap();
        tokens::create(&mut c, "case-system", Utc::now())
            .await
            .unwrap()
    };
    let server = common::server::serve(&engine).await;
    App {
        base: server.base.clone(),
        token,
        http: reqwest::Client::new(),
        engine,
        _server: server,
    }
}

impl App {
    /// The status and the JSON body (`Null` when there is none).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let (status, text) =
            common::server::call(&self.http, &url, &self.token, method, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

both_backends! {
    async fn without_a_valid_token_nothing_is_read_or_written(t) {
        let app = spawn(&t).await;
        let res = app.http.get(format!("{}/api/v1/participants", app.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let v: Value = res.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().contains("Bearer"));
        let res = app.http.post(format!("{}/api/v1/participants", app.base))
            .bearer_auth("pmn_0000").json(&json!({"unit": "Krami", "first_name": "Ali"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let mut c = app.engine.db.conn().await.unwrap();
        assert!(paminn::store::participants::list(&mut c, None).await.unwrap().is_empty());
        drop(c);
        // Health needs no token.
        let res = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        // Ready: the database answers, all migrations are applied, each channel has a transport.
        let res = app.http.get(format!("{}/readyz", app.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["database"], "ok");
        assert_eq!(v["channels"]["sms"], "sandbox");
        // A migration missing from the database makes it not ready, with the reason.
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .execute(&app.engine.db.pool).await.unwrap();
        let res = app.http.get(format!("{}/readyz", app.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["database"], "1 migration(s) not applied");
        // Closing the pool (the database gone) also makes it not ready; alive stays up.
        app.engine.db.close().await;
        let res = app.http.get(format!("{}/readyz", app.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.json::<Value>().await.unwrap()["database"], "unreachable");
        let res = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}

both_backends! {
    async fn participants_and_appointments_round_trip_and_creation_is_idempotent(t) {
        let app = spawn(&t).await;
        let (s, p) = app.call(reqwest::Method::POST, "/api/v1/participants", Some(json!({
            "unit": "Krami", "first_name": "Ali", "phone": "0046 70 123 45 67",
            "language": "en", "consent": ["sms"]
        }))).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        assert_eq!(p["phone"], "+46701234567");
        let pid = p["id"].as_i64().unwrap();
        let body = json!({
            "participant_id": pid, "kind": "drug_test", "start": "2030-06-10T09:00",
            "duration_min": 15, "external_ref": "LAB-7", "internal_note": "staff only"
        });
        let (s, a) = app.call(reqwest::Method::POST, "/api/v1/appointments", Some(body.clone())).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        assert_eq!(a["result"], "created");
        // Summer time: 09:00 local is 07:00 UTC.
        assert_eq!(a["appointment"]["starts_at"], "2030-06-10T07:00:00Z");
        let (s, again) = app.call(reqwest::Method::POST, "/api/v1/appointments", Some(body)).await;
        assert_eq!((s, again["result"].as_str()), (StatusCode::OK, Some("unchanged")));
        assert_eq!(again["appointment"]["id"], a["appointment"]["id"]);
        let aid = a["appointment"]["id"].as_i64().unwrap();
        let (s, moved) = app.call(reqwest::Method::PATCH, &format!("/api/v1/appointments/{aid}"),
            Some(json!({"start": "2030-06-11T10:00:00+02:00"}))).await;
        assert_eq!(s, StatusCode::OK, "{moved}");
        assert_eq!(moved["starts_at"], "2030-06-11T08:00:00Z");
        let (s, c) = app.call(reqwest::Method::POST, &format!("/api/v1/appointments/{aid}/cancel"), None).await;
        assert_eq!((s, c["status"].as_str()), (StatusCode::OK, Some("cancelled")));
        let (s, j) = app.call(reqwest::Method::GET, &format!("/api/v1/participants/{pid}/journal"), None).await;
        assert_eq!(s, StatusCode::OK);
        let kinds: Vec<&str> = j.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"appointment_moved") && kinds.contains(&"appointment_cancelled"), "{kinds:?}");
        assert!(j.as_array().unwrap().iter().all(|e| e["actor"] != "" ));
        assert!(j.to_string().contains("api:case-system"));
        // Reading the case record is audited.
        let mut c = app.engine.db.conn().await.unwrap();
        assert_eq!(audit::count(&mut c, "journal.view").await.unwrap(), 1);
    }
}

both_backends! {
    async fn malformed_requests_get_a_4xx_that_says_what_was_wrong(t) {
        let app = spawn(&t).await;
        let res = app.http.post(format!("{}/api/v1/appointments", app.base)).bearer_auth(&app.token)
            .header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let v: Value = res.json().await.unwrap();
        assert!(!v["error"].as_str().unwrap().is_empty());
        let cases = [
            (json!({"unit": "Krami", "first_name": "Ali", "phone": "12345", "consent": []}), StatusCode::UNPROCESSABLE_ENTITY, "phone"),
            (json!({"unit": "Nope", "first_name": "Ali", "consent": []}), StatusCode::NOT_FOUND, "unit 'Nope'"),
            (json!({"unit": "Krami", "first_name": "", "consent": []}), StatusCode::UNPROCESSABLE_ENTITY, "first name"),
            (json!({"unit": "Krami", "first_name": "Ali", "language": "fr", "consent": []}), StatusCode::UNPROCESSABLE_ENTITY, "language"),
            (json!({"unit": "Krami", "first_name": "Ali", "colour": "red"}), StatusCode::UNPROCESSABLE_ENTITY, "colour"),
            (json!({"first_name": "Ali"}), StatusCode::UNPROCESSABLE_ENTITY, "unit"),
        ];
        for (body, status, needle) in cases {
            let (s, v) = app.call(reqwest::Method::POST, "/api/v1/participants", Some(body.clone())).await;
            assert_eq!(s, status, "{body} -> {v}");
            assert!(v["error"].as_str().unwrap().contains(needle), "{body} -> {v}");
        }
        let (s, v) = app.call(reqwest::Method::POST, "/api/v1/appointments",
            Some(json!({"participant_id": 999, "start": "2030-01-01T10:00"}))).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        let (s, v) = app.call(reqwest::Method::GET, "/api/v1/appointments/abc", None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let mut c = app.engine.db.conn().await.unwrap();
        assert!(paminn::store::participants::list(&mut c, None).await.unwrap().is_empty());
    }
}

both_backends! {
    async fn tasks_and_attendance_through_the_api(t) {
        let app = spawn(&t).await;
        let (_, p) = app.call(reqwest::Method::POST, "/api/v1/participants", Some(json!({
            "unit": "Krami", "first_name": "Ali", "phone": "0701234567", "consent": ["sms"]
        }))).await;
        let pid = p["id"].as_i64().unwrap();
        // A week on (the gap window of a new participant), still nothing booked.
        app.engine.run_jobs(Utc::now() + chrono::Duration::days(8)).await.unwrap();
        let (s, tasks) = app.call(reqwest::Method::GET, &format!("/api/v1/tasks?participant={pid}"), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(tasks[0]["kind"], "gap");
        let tid = tasks[0]["id"].as_i64().unwrap();
        let (s, done) = app.call(reqwest::Method::POST, &format!("/api/v1/tasks/{tid}/done"), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(done["done_by"], "api:case-system");
        let (s, _) = app.call(reqwest::Method::POST, &format!("/api/v1/tasks/{tid}/done"), None).await;
        assert_eq!(s, StatusCode::CONFLICT);
        // Closed the way the web UI closes one (`Engine::set_task_done`):
        // one audit row naming the participant and the kind, and the
        // request it came from.
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT target, detail FROM audit WHERE action = 'task.done'")
                .fetch_all(&app.engine.db.pool)
                .await
                .unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let detail: Value = serde_json::from_str(&rows[0].1).unwrap();
        assert_eq!((rows[0].0.clone(), detail), (format!("task:{tid}"), json!({ "participant_id": pid, "kind": "gap", "page": format!("POST /api/v1/tasks/{tid}/done") })));
        let (_, a) = app.call(reqwest::Method::POST, "/api/v1/appointments", Some(json!({
            "participant_id": pid, "start": "2030-06-10T09:00"
        }))).await;
        let aid = a["appointment"]["id"].as_i64().unwrap();
        let (s, v) = app.call(reqwest::Method::POST, &format!("/api/v1/appointments/{aid}/attendance"),
            Some(json!({"attendance": "maybe"}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (s, v) = app.call(reqwest::Method::POST, &format!("/api/v1/appointments/{aid}/attendance"),
            Some(json!({"attendance": "attended"}))).await;
        assert_eq!(s, StatusCode::CONFLICT, "not started yet: {v}");
        let (s, v) = app.call(reqwest::Method::GET, &format!("/api/v1/participants/{pid}/stats"), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["weeks_12"]["weeks"], 12);
    }
}

both_backends! {
    async fn appointment_times_outside_the_window_are_refused_with_the_window(t) {
        let app = spawn(&t).await;
        let (_, p) = app.call(reqwest::Method::POST, "/api/v1/participants", Some(json!({
            "unit": "Krami", "first_name": "Ali", "phone": "070-123 45 67", "consent": ["sms"]
        }))).await;
        let pid = p["id"].as_i64().unwrap();
        for start in ["9999-12-31T09:00", "0000-01-01T09:00", "1900-01-01T09:00"] {
            let (s, v) = app.call(reqwest::Method::POST, "/api/v1/appointments",
                Some(json!({"participant_id": pid, "start": start}))).await;
            assert!(s.is_client_error(), "{start}: {s} {v}");
            let e = v["error"].as_str().unwrap();
            assert!(e.contains("appointment times must be between") && e.contains("5 years ahead"), "{e}");
        }
        let mut c = app.engine.db.conn().await.unwrap();
        let booked = paminn::store::appointments::for_participant(&mut c, paminn::domain::ParticipantId::from_db(pid), None).await.unwrap();
        assert!(booked.is_empty(), "nothing stored, no reminders planned");
        drop(c);
        let start = (Utc::now() + chrono::Duration::days(7)).format("%Y-%m-%dT09:00").to_string();
        let (s, a) = app.call(reqwest::Method::POST, "/api/v1/appointments",
            Some(json!({"participant_id": pid, "start": start}))).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let aid = a["appointment"]["id"].as_i64().unwrap();
        let (s, v) = app.call(reqwest::Method::PATCH, &format!("/api/v1/appointments/{aid}"),
            Some(json!({"start": "9999-12-31T09:00"}))).await;
        assert!(s.is_client_error(), "{s} {v}");
        assert!(v["error"].as_str().unwrap().contains("too far ahead"), "{v}");
    }
}
