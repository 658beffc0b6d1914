//! Placeholder: filled in by the monitoring work.

use crate::web::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
