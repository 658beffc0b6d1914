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
        .merge(ui::router())
        .fallback(ui::not_found_page);
    // Every audit row written while serving a request names its page.
    let r = r.layer(axum::middleware::from_fn(
        |req: axum::extract::Request, next: axum::middleware::Next| async move {
            let page = format!("{} {}", req.method(), loggable_path(req.uri().path()));
            crate::store::audit::PAGE.scope(page, next.run(req)).await
        },
    ));
    let https = state.ui.secure_cookies;
    // The request span names the path, never the query: gateways put the
    // webhook secret in `?secret=`.
    security_headers(r.with_state(state), https).layer(
        tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                tracing::debug_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()))
            },
        ),
    )
}

/// A request's path as the logs and the audit log may keep it. A calendar
/// feed's path is its secret (`/calendar/<secret>.ics`: calendar apps
/// cannot send a header), so it is replaced; every other path is kept.
pub fn loggable_path(path: &str) -> &str {
    if path.starts_with("/calendar/") {
        "/calendar/<secret>"
    } else {
        path
    }
}

/// The policy every response carries. The UI has no inline script or
/// style (the sandbox phone's script is `/static/sandbox.js`), so
/// everything may come from this origin only; no page may be framed
/// (clickjacking); forms post only here.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Security headers on every response (tower-http layers): the CSP,
/// `nosniff`, no `Referer` to other sites (a path can name a participant's
/// id), `Cache-Control: no-store` unless a handler chose otherwise (the
/// stylesheet does), so no signed-in page or API answer stays in a
/// browser's or proxy's cache; and HSTS when served over https
/// (`public_url` is https, or the proxy says `X-Forwarded-Proto: https`).
fn security_headers(r: Router, https: bool) -> Router {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    r.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            let tls = https
                || req
                    .headers()
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("https"));
            let mut res = next.run(req).await;
            if tls {
                res.headers_mut().insert(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=31536000; includeSubDomains"),
                );
            }
            res
        },
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ))
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

/// The client's address, for the login limits: the TCP peer; or, when the
/// peer is a proxy the operator listed in `trusted_proxies`, the nearest
/// address in `X-Forwarded-For` that is not one of those proxies (the
/// header is read right to left: entries further left were written by the
/// client itself and prove nothing). `None` when unknown (no peer address,
/// e.g. a router driven without a socket).
pub fn client_ip(
    peer: Option<std::net::IpAddr>,
    forwarded_for: &[&str],
    trusted: &[std::net::IpAddr],
) -> Option<std::net::IpAddr> {
    let mut ip = peer?;
    if !trusted.contains(&ip) {
        return Some(ip);
    }
    for header in forwarded_for.iter().rev() {
        for hop in header.rsplit(',') {
            match hop.trim().parse::<std::net::IpAddr>() {
                Ok(a) if trusted.contains(&a) => ip = a,
                Ok(a) => return Some(a),
                // Garbage from the client's side: stop at the last good hop.
                Err(_) => return Some(ip),
            }
        }
    }
    Some(ip)
}

/// The extractor for [`client_ip`]: the address as text, `unknown` when
/// there is none.
pub struct ClientIp(pub String);

impl axum::extract::FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let xff: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(ClientIp(
            client_ip(peer, &xff, &s.ui.trusted_proxies)
                .map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
        ))
    }
}

/// Serves until `shutdown` is cancelled, then finishes open requests.
/// Each request knows its peer's address (`ConnectInfo`, for [`ClientIp`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

#[cfg(test)]
mod tests {
    use super::client_ip;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy = ip("10.0.0.1");
        // No trusted proxy: the header is the client's own words.
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), &["198.51.100.1"], &[]),
            Some(ip("203.0.113.9"))
        );
        // From the trusted proxy: the nearest hop it saw.
        assert_eq!(
            client_ip(Some(proxy), &["198.51.100.1"], &[proxy]),
            Some(ip("198.51.100.1"))
        );
        // A forged entry to the left is ignored; the proxy appended the real one.
        assert_eq!(
            client_ip(Some(proxy), &["1.2.3.4, 198.51.100.1"], &[proxy]),
            Some(ip("198.51.100.1"))
        );
        // Two proxies in a row, both trusted.
        let lb = ip("10.0.0.2");
        assert_eq!(
            client_ip(Some(proxy), &["198.51.100.7, 10.0.0.2"], &[proxy, lb]),
            Some(ip("198.51.100.7"))
        );
        // A peer that is not the proxy cannot speak for others.
        assert_eq!(
            client_ip(Some(ip("192.0.2.5")), &["198.51.100.1"], &[proxy]),
            Some(ip("192.0.2.5"))
        );
        // Garbage or nothing: the proxy itself.
        assert_eq!(client_ip(Some(proxy), &["nonsense"], &[proxy]), Some(proxy));
        assert_eq!(client_ip(Some(proxy), &[], &[proxy]), Some(proxy));
        assert_eq!(client_ip(None, &["198.51.100.1"], &[proxy]), None);
    }
}
