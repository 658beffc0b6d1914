//! HTTP: the JSON API under `/api/v1`, health, and (in demo mode) the
//! sandbox phone page. One axum router; handlers are thin and call the
//! engine.

pub mod api;
pub mod telegram;
pub mod ui;
pub mod webhooks;

use crate::engine::Engine;
use crate::error::Error;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// Serve the sandbox phone page (no login): only for `paminn demo`.
    pub demo: bool,
    pub webhooks: webhooks::WebhookConfig,
    /// Set in Telegram webhook mode.
    pub telegram: Option<telegram::TelegramHook>,
    /// (channel, transport) as configured, for `/readyz`.
    pub transports: Vec<(String, String)>,
    /// The staff web UI's settings.
    pub ui: ui::UiConfig,
}

pub fn router(state: AppState) -> Router {
    let r = Router::new()
        .route("/healthz", get(alive))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics_page))
        .nest("/api/v1", api::router())
        .route("/api", axum::routing::any(api::not_found))
        .route("/api/{*rest}", axum::routing::any(api::not_found))
        .merge(webhooks::router())
        .merge(telegram::router())
        .merge(ui::router());
    // The request span names the path, never the query: gateways put the
    // webhook secret in `?secret=`.
    r.with_state(state).layer(
        tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
            },
        ),
    )
}

/// The process is up and serving HTTP. Says nothing about the database:
/// that is `/readyz`.
async fn alive() -> &'static str {
    "ok\n"
}

/// Ready for traffic: the database answers, every migration this binary
/// knows is applied, and each channel has a transport. 503 with the reason
/// otherwise (a load balancer stops sending webhooks; the process keeps
/// trying the database by itself).
async fn ready(axum::extract::State(s): axum::extract::State<AppState>) -> Response {
    let transports = &s.transports;
    // Bounded: a pool waiting for a dead server must not make the probe
    // itself time out.
    let db = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        s.engine.db.pending_migrations(),
    )
    .await;
    let (status, db_state) = match &db {
        Ok(Ok(0)) => (StatusCode::OK, "ok".to_string()),
        Ok(Ok(n)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{n} migration(s) not applied"),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "unreachable".to_string())
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer within 2 s");
            (StatusCode::SERVICE_UNAVAILABLE, "unreachable".to_string())
        }
    };
    let missing: Vec<&str> = crate::domain::ChannelKind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| !transports.iter().any(|(kind, _)| kind == k))
        .collect();
    let status = if missing.is_empty() {
        status
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let channels: serde_json::Map<String, serde_json::Value> = transports
        .iter()
        .map(|(k, t)| (k.clone(), json!(t)))
        .collect();
    (
        status,
        axum::Json(
            json!({ "database": db_state, "channels": channels, "missing_channels": missing }),
        ),
    )
        .into_response()
}

/// Prometheus metrics (see `telemetry`). The outbox depth is read from
/// the database at scrape time, so every instance reports the shared queue.
async fn metrics_page(axum::extract::State(s): axum::extract::State<AppState>) -> Response {
    if let Ok(mut c) = s.engine.db.conn().await {
        for st in [
            crate::domain::OutboxStatus::Pending,
            crate::domain::OutboxStatus::Sending,
        ] {
            if let Ok(n) = crate::store::outbox::count_by_status(&mut c, st).await {
                metrics::gauge!("paminn_outbox_depth", "status" => st.as_str()).set(n as f64);
            }
        }
    }
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        crate::telemetry::render(),
    )
        .into_response()
}

/// Errors as JSON: `{"error": "..."}` with a 4xx that says what kind.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, msg) = match &self {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, self.to_string()),
            Error::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, self.to_string()),
            Error::Conflict(_) => (StatusCode::CONFLICT, self.to_string()),
            Error::Db(_) | Error::Internal(_) => {
                tracing::error!(error = %self, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        (status, axum::Json(json!({ "error": msg }))).into_response()
    }
}

/// Serves until `shutdown` is cancelled, then finishes open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
