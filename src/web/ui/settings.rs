//! Placeholder: filled in by the settings work.

use crate::web::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
