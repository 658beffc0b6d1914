//! The OpenAPI 3.1 document of the JSON API (issue 19, item 3), checked
//! the way a client generator or a case-system developer would rely on it:
//! it is served, every route the API answers is in it and every route in
//! it is answered, every example in it validates against its schema, and
//! the API's real answers validate against the schemas it documents.

use crate::common;

use chrono::{Datelike, Duration, Utc};
use jsonschema::Validator;
use paminn::engine::Engine;
use paminn::store::{tokens, units};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

struct App {
    base: String,
    token: String,
    http: reqwest::Client,
    _engine: Engine,
    _server: common::server::Server,
}

async fn spawn(t: &common::TestDb) -> App {
    let engine = Engine::new(t.db.clone());
    let token = {
        let mut c = engine.db.conn().await.unwrap();
        units::create(&mut c, "Enhet A", Utc::now()).await.unwrap();
        tokens::create(&mut c, "case-system", Utc::now())
            .await
            .unwrap()
    };
    let server = common::server::serve(&engine).await;
    App {
        base: server.base.clone(),
        token,
        http: reqwest::Client::new(),
        _engine: engine,
        _server: server,
    }
}

impl App {
    async fn doc(&self) -> Value {
        let res = self
            .http
            .get(format!("{}/api/v1/openapi.json", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "served without a token");
        assert_eq!(res.headers()["content-type"], "application/json");
        res.json().await.unwrap()
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}/api/v1{path}", self.base);
        let (status, text) =
            common::server::call(&self.http, &url, &self.token, method, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Every (method, path) the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// A validator for `schema` (a component reference or an inline schema),
/// with the document's components to resolve references against.
fn validator(doc: &Value, schema: &Value) -> Validator {
    let mut root = schema.clone();
    let obj = root.as_object_mut().unwrap();
    obj.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    obj.insert("components".into(), doc["components"].clone());
    jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{schema}: {e}"))
}

fn assert_valid(doc: &Value, schema: &Value, instance: &Value, what: &str) {
    let v = validator(doc, schema);
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: {instance}\ndoes not match {schema}:\n{}",
        errors.join("\n")
    );
}

/// The documented JSON schema of the answer `status` to `method path`.
fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: StatusCode) -> &'a Value {
    let r = &doc["paths"][path][method.to_lowercase()]["responses"][status.as_u16().to_string()];
    assert!(
        !r.is_null(),
        "{method} {path} answered {status}, which the document does not name"
    );
    &r["content"]["application/json"]["schema"]
}

both_backends! {
    async fn the_document_describes_exactly_the_routes_the_api_answers(t) {
        let app = spawn(&t).await;
        let doc = app.doc().await;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        assert_eq!(doc["servers"][0]["url"], "/api/v1");
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        let ops = operations(&doc);
        let expected: BTreeSet<(String, String)> = [
            ("GET", "/participants"), ("POST", "/participants"), ("GET", "/participants/{id}"),
            ("GET", "/participants/{id}/journal"), ("GET", "/participants/{id}/appointments"),
            ("GET", "/participants/{id}/stats"), ("POST", "/appointments"),
            ("GET", "/appointments/{id}"), ("PATCH", "/appointments/{id}"),
            ("POST", "/appointments/{id}/cancel"), ("POST", "/appointments/{id}/attendance"),
            ("GET", "/tasks"), ("POST", "/tasks/{id}/done"), ("POST", "/tasks/{id}/reopen"),
            ("POST", "/broadcasts"), ("GET", "/broadcasts/{id}"),
            ("GET", "/units/{id}/outcomes"), ("GET", "/units/{id}/trials"),
        ].into_iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        assert_eq!(ops, expected, "the README's table of routes");

        // Every documented operation is answered at its documented place:
        // without a token, 401 (not the 404 of an unknown route, nor 405).
        for (method, path) in &ops {
            let url = format!("{}/api/v1{}", app.base, path.replace("{id}", "1"));
            let res = app.http.request(method.parse().unwrap(), &url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            let op = &doc["paths"][path][method.to_lowercase()];
            assert!(op["summary"].is_string() && op["tags"].is_array(), "{method} {path} is described");
            assert!(!op["responses"]["401"].is_null(), "{method} {path} names its 401");
        }
        // And what is not in the document is not answered.
        for (method, path) in [("DELETE", "/participants/1"), ("GET", "/units"), ("PUT", "/appointments/1")] {
            let url = format!("{}/api/v1{path}", app.base);
            let res = app.http.request(method.parse().unwrap(), &url).send().await.unwrap();
            assert!(matches!(res.status(), StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED), "{method} {path}");
        }
    }
}

/// A handler is routed only through the one list that documents it: the
/// API module has no other `.route(` than the document's own.
#[test]
fn no_route_bypasses_the_document() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/api.rs")).unwrap();
    let routes: Vec<&str> = src.lines().filter(|l| l.contains(".route(")).collect();
    assert_eq!(routes.len(), 1, "{routes:?}");
    let at = src.find(".route(").unwrap();
    assert!(
        src[at..]
            .trim_start_matches(".route(")
            .trim_start()
            .starts_with("\"/openapi.json\"")
    );
}

both_backends! {
    async fn every_example_in_the_document_validates_against_its_schema(t) {
        let app = spawn(&t).await;
        let doc = app.doc().await;
        let mut checked = 0;
        for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
            for example in schema["examples"].as_array().into_iter().flatten() {
                let reference = json!({ "$ref": format!("#/components/schemas/{name}") });
                assert_valid(&doc, &reference, example, &format!("the example of {name}"));
                checked += 1;
            }
        }
        // The request bodies, the error body and the phone number have one.
        assert!(checked >= 6, "{checked} examples");
        // And the validator is not blind: a wrong one fails.
        let wrong = json!({ "unit": "Enhet A", "first_name": 7, "consent": "sms" });
        let v = validator(&doc, &json!({ "$ref": "#/components/schemas/ParticipantIn" }));
        assert!(!v.is_valid(&wrong));
    }
}

both_backends! {
    async fn the_api_answers_as_the_document_says(t) {
        let app = spawn(&t).await;
        let doc = app.doc().await;
        let example = |name: &str| doc["components"]["schemas"][name]["examples"][0].clone();
        let mut seen = BTreeSet::new();
        let mut check = |method: &str, path: &str, status: StatusCode, body: &Value| {
            let schema = response_schema(&doc, method, path, status);
            assert_valid(&doc, schema, body, &format!("{method} {path} → {status}"));
            seen.insert((method.to_string(), path.to_string()));
        };

        // The documented examples, sent as they stand (the appointment's
        // participant and time adjusted to this database and today).
        let (status, p) = app.call(Method::POST, "/participants", Some(example("ParticipantIn"))).await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        check("POST", "/participants", status, &p);
        let id = p["id"].as_i64().unwrap();
        let d = (Utc::now() + Duration::days(3)).date_naive();
        let mut booking = example("AppointmentIn");
        booking["participant_id"] = json!(id);
        booking["start"] = json!(format!("{}-{:02}-{:02}T10:00", d.year(), d.month(), d.day()));
        let (status, a) = app.call(Method::POST, "/appointments", Some(booking.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{a}");
        check("POST", "/appointments", status, &a);
        let (status, again) = app.call(Method::POST, "/appointments", Some(booking)).await;
        assert_eq!((status, again["result"].as_str()), (StatusCode::OK, Some("unchanged")));
        check("POST", "/appointments", status, &again);
        let aid = a["appointment"]["id"].as_i64().unwrap();

        let mut patch = example("AppointmentPatch");
        patch["start"] = json!(format!("{}-{:02}-{:02}T13:00", d.year(), d.month(), d.day()));
        let (status, body) = app.call(Method::PATCH, &format!("/appointments/{aid}"), Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["location"].is_null(), "the example clears the place");
        check("PATCH", "/appointments/{id}", status, &body);

        for (path, doc_path) in [
            ("/participants".to_string(), "/participants"),
            (format!("/participants/{id}"), "/participants/{id}"),
            (format!("/participants/{id}/journal"), "/participants/{id}/journal"),
            (format!("/participants/{id}/appointments"), "/participants/{id}/appointments"),
            (format!("/participants/{id}/stats"), "/participants/{id}/stats"),
            (format!("/appointments/{aid}"), "/appointments/{id}"),
            ("/tasks?all=true".to_string(), "/tasks"),
        ] {
            let (status, body) = app.call(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            check("GET", doc_path, status, &body);
        }

        // A group to broadcast to, made through the engine (the API has no
        // group route), then the broadcast example with its key.
        let group = {
            let unit = {
                let mut c = app._engine.db.conn().await.unwrap();
                units::resolve(&mut c, "Enhet A").await.unwrap()
            };
            let actor = paminn::engine::Actor("test".into());
            let g = app._engine.create_group(unit.id, "Onsdagsgänget", &actor, Utc::now()).await.unwrap();
            app._engine.add_group_member(g, paminn::domain::ParticipantId::from_db(id), &actor, Utc::now()).await.unwrap();
            g
        };
        let mut b = example("BroadcastIn");
        b["group"] = json!(group.get());
        let (status, planned) = app.call(Method::POST, "/broadcasts", Some(b.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{planned}");
        check("POST", "/broadcasts", status, &planned);
        let (status, repeat) = app.call(Method::POST, "/broadcasts", Some(b)).await;
        assert_eq!(status, StatusCode::OK, "the same key: {repeat}");
        check("POST", "/broadcasts", status, &repeat);
        let bid = planned["broadcast"]["id"].as_i64().unwrap();
        let (status, body) = app.call(Method::GET, &format!("/broadcasts/{bid}"), None).await;
        check("GET", "/broadcasts/{id}", status, &body);

        // Attendance after the appointment would be refused before it has
        // started; a cancelled appointment's attendance is the 4xx path.
        let (status, body) = app.call(Method::POST, &format!("/appointments/{aid}/attendance"), Some(example("AttendanceIn"))).await;
        check("POST", "/appointments/{id}/attendance", status, &body);
        let (status, body) = app.call(Method::POST, &format!("/appointments/{aid}/cancel"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        check("POST", "/appointments/{id}/cancel", status, &body);

        // Tasks: a text that answers nothing becomes a task for a person.
        app._engine
            .receive(paminn::domain::ChannelKind::Sms, "gw-openapi-1", paminn::domain::ParticipantId::from_db(id), "hej vem är det här", Utc::now())
            .await
            .unwrap();
        let (_, tasks) = app.call(Method::GET, "/tasks", None).await;
        let tid = tasks[0]["id"].as_i64().expect("the open task");
        let (status, body) = app.call(Method::POST, &format!("/tasks/{tid}/done"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        check("POST", "/tasks/{id}/done", status, &body);
        let (status, body) = app.call(Method::POST, &format!("/tasks/{tid}/reopen"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        check("POST", "/tasks/{id}/reopen", status, &body);

        // The unit's outcome report and trials.
        let unit = {
            let mut c = app._engine.db.conn().await.unwrap();
            units::resolve(&mut c, "Enhet A").await.unwrap().id
        };
        for (path, doc_path) in [("outcomes", "/units/{id}/outcomes"), ("trials", "/units/{id}/trials")] {
            let (status, body) = app.call(Method::GET, &format!("/units/{unit}/{path}"), None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            check("GET", doc_path, status, &body);
        }

        // Errors are documented too, with their body.
        let (status, body) = app.call(Method::GET, "/participants/999999", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        check("GET", "/participants/{id}", status, &body);
        let (status, body) = app.call(Method::POST, "/participants", Some(json!({ "unit": "Enhet A", "first_name": "Bo", "consent": ["fax"] }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        check("POST", "/participants", status, &body);

        assert_eq!(seen.len(), 18, "every documented operation was answered and checked: {seen:?}");
    }
}
