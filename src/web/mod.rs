//! HTTP: the JSON API under `/api/v1`, health, and (in demo mode) the
//! sandbox phone page. One axum router; handlers are thin and call the
//! engine.

pub mod api;
pub mod demo;
pub mod telegram;
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
}

pub fn router(state: AppState) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(health))
        .nest("/api/v1", api::router())
        .merge(webhooks::router())
        .merge(telegram::router());
    if state.demo {
        r = r.merge(demo::router());
    }
    r.with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn health(axum::extract::State(s): axum::extract::State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&s.engine.db.pool).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
    }
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
