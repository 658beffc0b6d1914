//! `POST /webhooks/telegram`: updates from Telegram in webhook mode. The
//! `X-Telegram-Bot-Api-Secret-Token` header must carry the secret given to
//! `setWebhook`; anything without it gets 401 and nothing is looked at.
//! A body that is not an update gets 400 with the reason. A database
//! failure gets 500, so Telegram delivers the update again.

use super::AppState;
use super::webhooks::{MAX_BODY, reject};
use crate::channels::same_secret;
use crate::telegram::TelegramBot;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::Arc;

/// The bot behind the webhook and the secret Telegram must present.
#[derive(Clone)]
pub struct TelegramHook {
    pub bot: Arc<TelegramBot>,
    pub secret: String,
}

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/telegram", post(update))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

async fn update(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(hook) = &s.telegram else {
        return reject(StatusCode::NOT_FOUND, "the Telegram webhook is not enabled");
    };
    let given = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok());
    if !given.is_some_and(|g| same_secret(g, &hook.secret)) {
        return reject(StatusCode::UNAUTHORIZED, "not authenticated");
    }
    let u = match crate::channels::telegram::parse_update(&body) {
        Ok(u) => u,
        Err(e) => return reject(StatusCode::BAD_REQUEST, e),
    };
    match hook.bot.handle(u, chrono::Utc::now()).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}
