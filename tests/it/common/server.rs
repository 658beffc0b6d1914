//! A paminn web server (API, webhooks, staff UI) on a free local port,
//! stopped when the handle is dropped: one way to start one, instead of a
//! copy in every test file.

use paminn::engine::Engine;
use paminn::web::{self, AppState};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A running server; dropping it stops it.
pub struct Server {
    pub base: String,
    pub stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What most tests serve: `engine`, no gateway webhooks, no Telegram, the
/// sandbox transports for SMS and Telegram, the UI's defaults.
pub fn state(engine: &Engine) -> AppState {
    AppState {
        engine: engine.clone(),
        demo: false,
        webhooks: Default::default(),
        telegram: None,
        transports: vec![
            ("sms".into(), "sandbox".into()),
            ("telegram".into(), "sandbox".into()),
        ],
        ui: Default::default(),
    }
}

/// Serves the state `make` builds from the server's base URL (Twilio's
/// signature covers the public URL, so a test may need it in the state).
pub async fn serve_with(make: impl FnOnce(&str) -> AppState) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(web::serve(listener, make(&base), stop.clone()));
    Server { base, stop }
}

/// Serves [`state`] of `engine`.
pub async fn serve(engine: &Engine) -> Server {
    serve_with(|_| state(engine)).await
}

/// A JSON API call with a bearer token: the status and the body as text.
pub async fn call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    method: reqwest::Method,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut r = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}
