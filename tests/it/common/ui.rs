//! Test support for the staff web UI: a running server over a test
//! database, staff accounts, and a cookie-keeping client that finds the
//! CSRF token in the last page it read and sends it with every form.

use super::TestDb;
use chrono::Utc;
use paminn::domain::access::Password;
use paminn::domain::{Language, Role, UnitId};
use paminn::engine::{Actor, Engine};
use paminn::store::staff::{NewStaff, Staff};
use paminn::store::units::{self, Unit};
use paminn::web::AppState;
use reqwest::StatusCode;

/// The password every test account gets.
pub const PASSWORD: &str = "rätt häst batteri";

pub struct UiApp {
    pub base: String,
    pub engine: Engine,
    /// "Enhet A", created by `spawn`.
    pub unit: Unit,
    _server: super::server::Server,
}

/// Serves the whole router (UI included) on a free port, with the unit
/// "Enhet A" (created unless it exists).
pub async fn spawn(t: &TestDb, demo: bool) -> UiApp {
    spawn_with(t, demo, Default::default()).await
}

/// [`spawn`] with the UI's settings given (trusted proxies, https).
pub async fn spawn_with(t: &TestDb, demo: bool, ui: paminn::web::ui::UiConfig) -> UiApp {
    // Event webhook endpoints may be http://127.0.0.1 (a receiver in the
    // test; issue 19).
    let engine = Engine::new(t.db.clone()).with_event_hooks_local_http(true);
    let unit = {
        let mut c = engine.db.conn().await.unwrap();
        // A second server on the same database shares the unit.
        match units::resolve(&mut c, "Enhet A").await {
            Ok(u) => u,
            Err(_) => units::create(&mut c, "Enhet A", Utc::now()).await.unwrap(),
        }
    };
    let server = super::server::serve_with(|_| AppState {
        demo,
        ui,
        ..super::server::state(&engine)
    })
    .await;
    UiApp {
        base: server.base.clone(),
        engine,
        unit,
        _server: server,
    }
}

impl UiApp {
    /// A staff member with [`PASSWORD`].
    pub async fn staff(&self, username: &str, role: Role, unit: Option<UnitId>) -> Staff {
        let now = Utc::now();
        let actor = Actor("test".into());
        let s = self
            .engine
            .add_staff(
                &NewStaff {
                    unit,
                    name: format!("{username} Testsson"),
                    username: username.into(),
                    role,
                    language: Language::Sv,
                },
                &actor,
                now,
            )
            .await
            .unwrap();
        self.engine
            .set_password(s.id, &Password::parse(PASSWORD).unwrap(), None, &actor, now)
            .await
            .unwrap();
        s
    }

    /// A client, not logged in.
    pub fn browser(&self) -> Browser {
        self.browser_at("127.0.0.1")
    }

    /// A client, not logged in, connecting from another loopback address
    /// (127.0.0.0/8 is all this machine): another client for the login
    /// limits.
    pub fn browser_at(&self, ip: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .local_address(ip.parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap(),
            base: self.base.clone(),
            csrf: None,
        }
    }

    /// A client logged in as `username` (with [`PASSWORD`]).
    pub async fn login(&self, username: &str) -> Browser {
        let mut b = self.browser();
        let res = b
            .post_login(&[
                ("username", username),
                ("password", PASSWORD),
                ("next", "/account"),
            ])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "login as {username}");
        let (status, _) = b.get("/account").await;
        assert_eq!(status, StatusCode::OK);
        b
    }

    /// The audit rows with this action, as (actor, target).
    pub async fn audit(&self, action: &str) -> Vec<(String, String)> {
        let mut c = self.engine.db.conn().await.unwrap();
        sqlx::query_as("SELECT actor, target FROM audit WHERE action = $1 ORDER BY id")
            .bind(action)
            .fetch_all(&mut *c)
            .await
            .unwrap()
    }
}

pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    /// The CSRF token from the last page read that had one.
    pub csrf: Option<String>,
}

/// The value of the first `name="_csrf"` field in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let i = html.find(r#"name="_csrf" value=""#)?;
    let rest = &html[i + r#"name="_csrf" value=""#.len()..];
    Some(rest[..rest.find('"')?].to_string())
}

impl Browser {
    /// A client of the server at `base`, not logged in.
    pub fn new(base: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            csrf: None,
        }
    }

    /// GET a path: (status, body). Remembers the page's CSRF token.
    pub async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        if let Some(t) = csrf_in(&body) {
            self.csrf = Some(t);
        }
        (status, body)
    }

    /// Where a redirect points (the `Location` header).
    pub async fn get_location(&mut self, path: &str) -> Option<String> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        res.headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// POST a form with the remembered CSRF token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf.clone().expect("read a page with a form first");
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("_csrf", &token));
        self.post_raw(path, &all).await
    }

    /// The login form's CSRF token: reads the login page (which sets its
    /// cookie).
    pub async fn login_token(&self) -> String {
        let page = self
            .http
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_in(&page).expect("the login form has a CSRF token")
    }

    /// POST the login form as a browser does: the login page first, then
    /// the form with its token.
    pub async fn post_login(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.login_token().await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("_csrf", &token));
        self.post_raw("/login", &all).await
    }

    /// POST a form as given (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

/// The `Location` of a response.
pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
