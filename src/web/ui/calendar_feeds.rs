//! Calendar feeds in the web: the account page's "Kalender" section
//! (`/account/calendar`: make, replace or revoke one's links; a new link
//! is shown once) and the feed itself (`GET /calendar/<secret>.ics`,
//! no session: the secret is the key, as calendar apps cannot log in).

use super::{Me, Posted, Ui, UiError, render, see_other, t};
use crate::domain::calendar_feed::FeedScope;
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/calendar", get(page))
        .route("/account/calendar/{scope}", post(create))
        .route("/account/calendar/{scope}/revoke", post(revoke))
        .route("/calendar/{file}", get(feed))
}

/// One feed the person may have, as the page shows it.
struct Row {
    scope: &'static str,
    title: String,
    hint: String,
    /// Since when, and when a calendar last fetched it.
    live: Option<(String, Option<String>)>,
}

#[derive(Template)]
#[template(path = "ui/calendar_feeds.html")]
struct Page {
    ui: Ui,
    rows: Vec<Row>,
    /// A link just made: shown this once.
    new_link: Option<(String, String)>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn rows(s: &AppState, me: &Me) -> Result<Vec<Row>, UiError> {
    let (live, tz) = s
        .engine
        .calendar_feeds(me.staff.id)
        .await
        .map_err(|e| UiError::from_engine(e, me.lang))?;
    Ok(FeedScope::ALL
        .into_iter()
        .filter(|k| k.allowed(me.staff.role, me.staff.unit_id.is_some()))
        .map(|k| Row {
            scope: k.as_str(),
            title: t(me.lang, &format!("ui-calendar-{}", k.as_str())),
            hint: t(me.lang, &format!("ui-calendar-{}-hint", k.as_str())),
            live: live.iter().find(|l| l.scope == k).map(|l| {
                (
                    super::local_dt(me.lang, crate::store::from_ms(l.created_at), tz),
                    l.last_fetched_at
                        .map(|f| super::local_dt(me.lang, crate::store::from_ms(f), tz)),
                )
            }),
        })
        .collect())
}

async fn page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<DoneQuery>,
) -> Result<Response, UiError> {
    let rows = rows(&s, &me).await?;
    let message = match q.done.as_deref() {
        Some("revoked") => Some(t(me.lang, "ui-calendar-revoked")),
        _ => None,
    };
    Ok(render(&Page {
        ui: me.ui("/account/calendar"),
        rows,
        new_link: None,
        message,
    }))
}

fn scope_of(me: &Me, scope: &str) -> Result<FeedScope, UiError> {
    FeedScope::parse(scope)
        .filter(|k| k.allowed(me.staff.role, me.staff.unit_id.is_some()))
        .ok_or_else(|| UiError::forbidden(me.lang))
}

#[derive(Deserialize)]
struct NoFields {}

async fn create(
    State(s): State<AppState>,
    Path(scope): Path<String>,
    headers: HeaderMap,
    p: Posted<NoFields>,
) -> Result<Response, UiError> {
    let me = p.me;
    let scope = scope_of(&me, &scope)?;
    let secret = s
        .engine
        .create_calendar_feed(me.staff.id, scope, me.lang, &me.actor(), Utc::now())
        .await
        .map_err(|e| UiError::from_engine(e, me.lang))?;
    let url = format!("{}/calendar/{secret}.ics", base_url(&s, &headers));
    let rows = rows(&s, &me).await?;
    let mut r = render(&Page {
        ui: me.ui("/account/calendar"),
        rows,
        new_link: Some((t(me.lang, &format!("ui-calendar-{}", scope.as_str())), url)),
        message: None,
    });
    // The page holds a secret: not to be kept by a cache or the back button.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

async fn revoke(
    State(s): State<AppState>,
    Path(scope): Path<String>,
    p: Posted<NoFields>,
) -> Result<Response, UiError> {
    let me = p.me;
    let scope = scope_of(&me, &scope)?;
    s.engine
        .revoke_calendar_feed(me.staff.id, scope, &me.actor(), Utc::now())
        .await
        .map_err(|e| UiError::from_engine(e, me.lang))?;
    Ok(see_other("/account/calendar?done=revoked"))
}

/// Where this paminn is reached: `public_url` when configured, else the
/// request's own host (with https when the proxy says so).
fn base_url(s: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &s.ui.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let https = s.ui.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes() == b"https");
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// The feed. Unknown, revoked and no-longer-allowed links all get the same
/// 404, so a guess learns nothing.
async fn feed(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    let secret = file.strip_suffix(".ics").unwrap_or(&file);
    match s.engine.calendar_feed(secret, Utc::now()).await {
        Ok(Some(text)) => (
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "private, no-store"),
                (
                    header::CONTENT_DISPOSITION,
                    "inline; filename=\"paminn.ics\"",
                ),
            ],
            text,
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Okänd eller återkallad kalenderlänk. / Unknown or revoked calendar link.\n",
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "calendar feed failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "300")],
                "Försök igen senare. / Try again later.\n",
            )
                .into_response()
        }
    }
}
