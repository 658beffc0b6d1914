//! API tokens (issue 15 item 8), on both backends: a scope (read or write,
//! one unit or every unit) enforced on every route, an expiry (401 after
//! it), revocation, and every read of personal data in the audit log with
//! the token named. The command line lists and revokes.

use crate::common;

use chrono::{Duration, Utc};
use paminn::domain::api_scope::{TokenAccess, TokenScope};
use paminn::engine::Engine;
use paminn::store::units::Unit;
use paminn::store::{ms, tokens};
use paminn::web::AppState;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;

struct App {
    base: String,
    http: reqwest::Client,
    engine: Engine,
    a: Unit,
    b: Unit,
    _server: common::server::Server,
}

async fn spawn(t: &common::TestDb) -> App {
    let engine = Engine::new(t.db.clone());
    let now = Utc::now();
    let a = common::fx::unit(&engine, "Krami", now).await;
    let b = common::fx::unit(&engine, "Chansen", now).await;
    let server = common::server::serve_with(|_| AppState {
        transports: vec![("sms".into(), "sandbox".into())],
        ..common::server::state(&engine)
    })
    .await;
    App {
        base: server.base.clone(),
        http: reqwest::Client::new(),
        engine,
        a,
        b,
        _server: server,
    }
}

impl App {
    async fn token(&self, name: &str, access: TokenAccess, unit: Option<&Unit>) -> (i64, String) {
        let mut c = self.engine.db.conn().await.unwrap();
        let scope = TokenScope {
            access,
            unit: unit.map(|u| u.id),
        };
        tokens::create_scoped(&mut c, name, scope, 90, Utc::now())
            .await
            .unwrap()
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}/api/v1{path}", self.base);
        let (status, text) = common::server::call(&self.http, &url, token, method, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Audit rows of `action`: (actor, target, detail).
    async fn audit(&self, action: &str) -> Vec<(String, String, Value)> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT actor, target, detail FROM audit WHERE action = $1 ORDER BY id")
                .bind(action)
                .fetch_all(&self.engine.db.pool)
                .await
                .unwrap();
        rows.into_iter()
            .map(|(a, t, d)| (a, t, serde_json::from_str(&d).unwrap()))
            .collect()
    }
}

/// A participant in `unit` (by an every-unit write token) and one booked
/// appointment; returns their ids.
async fn person(app: &App, admin: &str, unit: &Unit, name: &str) -> (i64, i64) {
    let (s, p) = app.call(admin, Method::POST, "/participants",
        Some(json!({"unit": unit.name, "first_name": name, "phone": "070-123 45 67", "consent": ["sms"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let pid = p["id"].as_i64().unwrap();
    let (s, a) = app.call(admin, Method::POST, "/appointments",
        Some(json!({"participant_id": pid, "start": "2030-06-10T10:00:00+02:00", "internal_note": "hemlig"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    (pid, a["appointment"]["id"].as_i64().unwrap())
}

both_backends! {
    async fn a_read_token_reads_and_may_not_write(t) {
        let app = spawn(&t).await;
        let (_, admin) = app.token("admin", TokenAccess::Write, None).await;
        let (read_id, read) = app.token("statistik", TokenAccess::Read, None).await;
        let (pid, aid) = person(&app, &admin, &app.a, "Ali").await;
        let (s, p) = app.call(&read, Method::GET, &format!("/participants/{pid}"), None).await;
        assert_eq!((s, p["first_name"].as_str()), (StatusCode::OK, Some("Ali")));
        let (s, _) = app.call(&read, Method::GET, &format!("/appointments/{aid}"), None).await;
        assert_eq!(s, StatusCode::OK);
        // Every write route refuses it, before anything is looked at.
        for (m, path, body) in [
            (Method::POST, "/participants".to_string(), json!({"unit": "Krami", "first_name": "Bo"})),
            (Method::POST, "/appointments".to_string(), json!({"participant_id": pid, "start": "2030-06-11T10:00:00+02:00"})),
            (Method::PATCH, format!("/appointments/{aid}"), json!({"location": "x"})),
            (Method::POST, format!("/appointments/{aid}/cancel"), json!({})),
            (Method::POST, format!("/appointments/{aid}/attendance"), json!({"attendance": "attended"})),
            (Method::POST, "/broadcasts".to_string(), json!({"unit": "Krami", "sv": "Hej", "en": "Hi"})),
            (Method::POST, "/tasks/1/done".to_string(), json!({})),
        ] {
            let (s, e) = app.call(&read, m.clone(), &path, Some(body)).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{m} {path}: {e}");
            assert_eq!(e["error"], "this token may only read");
        }
        let (_, a) = app.call(&admin, Method::GET, &format!("/appointments/{aid}"), None).await;
        assert_eq!(a["status"], "scheduled", "nothing was cancelled");
        // Each read of the case record is audited, naming the token.
        let views = app.audit("case.view").await;
        let mine: Vec<_> = views.iter().filter(|(actor, _, _)| actor == "api:statistik").collect();
        assert_eq!(mine.len(), 2, "{views:?}");
        assert!(mine.iter().all(|(_, target, d)| *target == format!("participant:{pid}") && d["token"] == read_id));
        assert_eq!(mine[1].2["route"], format!("/api/v1/appointments/{aid}"));
    }
}

both_backends! {
    async fn a_unit_token_sees_and_changes_only_its_unit(t) {
        let app = spawn(&t).await;
        let (_, admin) = app.token("admin", TokenAccess::Write, None).await;
        let (_, krami) = app.token("krami-system", TokenAccess::Write, Some(&app.a)).await;
        let (ali, ali_appt) = person(&app, &admin, &app.a, "Ali").await;
        let (bea, bea_appt) = person(&app, &admin, &app.b, "Bea").await;
        // Its own unit: as usual.
        let (s, _) = app.call(&krami, Method::GET, &format!("/participants/{ali}/journal"), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.call(&krami, Method::PATCH, &format!("/appointments/{ali_appt}"), Some(json!({"location": "Rum 2"}))).await;
        assert_eq!(s, StatusCode::OK);
        // Another unit's things are not found, by any route.
        for (m, path, body) in [
            (Method::GET, format!("/participants/{bea}"), None),
            (Method::GET, format!("/participants/{bea}/journal"), None),
            (Method::GET, format!("/participants/{bea}/appointments"), None),
            (Method::GET, format!("/participants/{bea}/stats"), None),
            (Method::GET, format!("/appointments/{bea_appt}"), None),
            (Method::PATCH, format!("/appointments/{bea_appt}"), Some(json!({"location": "x"}))),
            (Method::POST, format!("/appointments/{bea_appt}/cancel"), None),
            (Method::POST, "/appointments".to_string(), Some(json!({"participant_id": bea, "start": "2030-06-11T10:00:00+02:00"}))),
            (Method::POST, "/participants".to_string(), Some(json!({"unit": "Chansen", "first_name": "Cem", "consent": []}))),
            (Method::GET, "/participants?unit=Chansen".to_string(), None),
            (Method::POST, "/broadcasts".to_string(), Some(json!({"unit": "Chansen", "sv": "Hej", "en": "Hi"}))),
        ] {
            let (s, e) = app.call(&krami, m.clone(), &path, body).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {e}");
            assert!(!e.to_string().contains("Bea"), "{e}");
        }
        let (_, a) = app.call(&admin, Method::GET, &format!("/appointments/{bea_appt}"), None).await;
        assert_eq!((a["status"].as_str(), a["location"].as_str()), (Some("scheduled"), None), "untouched: {a}");
        // Lists hold only its unit.
        let (_, list) = app.call(&krami, Method::GET, "/participants", None).await;
        let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["first_name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Ali"]);
        // A denied look at a case is in the audit log.
        let denied = app.audit("case.denied").await;
        assert!(denied.iter().any(|(actor, target, _)| actor == "api:krami-system" && *target == format!("participant:{bea}")), "{denied:?}");
    }
}

both_backends! {
    async fn an_expired_or_revoked_token_is_refused(t) {
        let app = spawn(&t).await;
        let (id, tok) = app.token("gammal", TokenAccess::Write, None).await;
        let (s, _) = app.call(&tok, Method::GET, "/participants", None).await;
        assert_eq!(s, StatusCode::OK);
        sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
            .bind(ms(Utc::now() - Duration::minutes(1))).bind(id)
            .execute(&app.engine.db.pool).await.unwrap();
        let (s, e) = app.call(&tok, Method::GET, "/participants", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(e["error"].as_str().unwrap().contains("expired"), "{e}");
        let (id2, tok2) = app.token("ny", TokenAccess::Write, None).await;
        let mut c = app.engine.db.conn().await.unwrap();
        let info = tokens::revoke(&mut c, id2, Utc::now()).await.unwrap();
        assert!(info.revoked_at.is_some());
        let (s, _) = app.call(&tok2, Method::GET, "/participants", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // A token made the old way: every unit, write, 90 days.
        let plain = tokens::create(&mut c, "case-system", Utc::now()).await.unwrap();
        let info = tokens::list(&mut c).await.unwrap().into_iter().find(|t| t.name == "case-system").unwrap();
        assert_eq!(info.scope, TokenScope { access: TokenAccess::Write, unit: None });
        let days = (info.expires_at.unwrap() - info.created_at).num_days();
        assert_eq!(days, 90);
        let (s, _) = app.call(&plain, Method::GET, "/participants", None).await;
        assert_eq!(s, StatusCode::OK);
    }
}

both_backends! {
    async fn the_command_line_creates_lists_and_revokes_tokens(t) {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let o = Command::new(env!("CARGO_BIN_EXE_paminn"))
                .args(args)
                .env("PAMINN_DATABASE_URL", &t.url)
                .env("PAMINN_DATA_DIR", dir.path())
                .env_remove("PAMINN_CONFIG")
                .current_dir(dir.path())
                .output()
                .unwrap();
            (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
        };
        let (ok, _, err) = run(&["unit", "add", "Krami"]);
        assert!(ok, "{err}");
        let (ok, out, err) = run(&["token", "create", "statistik", "--access", "read", "--unit", "Krami", "--expires-in-days", "30", "--json"]);
        assert!(ok, "{err}");
        let created: Value = serde_json::from_str(&out).unwrap();
        assert!(created["token"].as_str().unwrap().starts_with("pmn_"));
        let id = created["id"].as_i64().unwrap().to_string();
        let (ok, out, _) = run(&["token", "list", "--json"]);
        assert!(ok);
        let list: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(list[0]["name"], "statistik");
        assert_eq!(list[0]["scope"]["access"], "read");
        assert!(list[0]["scope"]["unit"].is_number(), "{list}");
        assert!(list[0]["revoked_at"].is_null());
        assert!(!out.contains("pmn_"), "the token itself is never listed");
        let (ok, out, _) = run(&["token", "list"]);
        assert!(ok && out.contains("statistik\tread\t"), "{out}");
        let (ok, _, err) = run(&["token", "revoke", &id]);
        assert!(ok, "{err}");
        let (_, out, _) = run(&["token", "list", "--json"]);
        let list: Value = serde_json::from_str(&out).unwrap();
        assert!(list[0]["revoked_at"].is_string(), "{list}");
        let (ok, _, err) = run(&["token", "revoke", "999"]);
        assert!(!ok && err.contains("not found"), "{err}");
        let (ok, _, err) = run(&["token", "create", "x", "--access", "admin"]);
        assert!(!ok && err.contains("read or write"), "{err}");
        let (ok, _, err) = run(&["token", "create", "x", "--expires-in-days", "0"]);
        assert!(!ok && err.contains("1-3650 days"), "{err}");
    }
}
