//! Sign-in through the organisation's identity provider (OpenID Connect):
//! `GET /login/oidc` sends the browser to the provider with a fresh
//! state, nonce and PKCE challenge (kept server-side by the engine, and
//! the state also in a cookie of this browser, so a callback URL handed
//! to another browser signs nobody in there); `GET /login/oidc/callback`
//! takes the state once, has `crate::oidc` exchange the code and verify
//! the id_token, and `Engine::oidc_sign_in` decides who it is and makes
//! the same session as a password login, landing on `next` (`/today`).
//! Every refusal is audited with its reason and shown as a page that says
//! what to do.

use super::account::{page_lang, safe_next};
use super::{cookie, render, secure, see_other, t, ta};
use crate::domain::Language;
use crate::domain::sign_in::Failure;
use crate::engine::sign_in::SignIn;
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use chrono::Utc;
use serde::Deserialize;

/// The state of this browser's sign-in under way (compared with the
/// callback's `state`).
pub const STATE_COOKIE: &str = "paminn_oidc_state";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/oidc", get(start))
        .route("/login/oidc/callback", get(callback))
}

#[derive(Template)]
#[template(path = "ui/sign_in_refused.html")]
struct RefusedPage {
    lang: Language,
    title: String,
    message: String,
    ask: Option<String>,
    back: String,
    a11y: String,
}

/// The page for a refused sign-in, in words a person can act on.
fn refused_page(s: &AppState, lang: Language, reason: Failure) -> Response {
    let (status, key) = match reason {
        Failure::NoAccount => (StatusCode::FORBIDDEN, "ui-oidc-no-account"),
        Failure::Inactive => (StatusCode::FORBIDDEN, "ui-oidc-inactive"),
        Failure::State => (StatusCode::BAD_REQUEST, "ui-oidc-state"),
        Failure::ProviderError => (StatusCode::UNAUTHORIZED, "ui-oidc-provider-error"),
        Failure::Provider => (StatusCode::BAD_GATEWAY, "ui-oidc-unreachable"),
        Failure::NoClaim => (StatusCode::FORBIDDEN, "ui-oidc-no-claim"),
        _ => (StatusCode::UNAUTHORIZED, "ui-oidc-refused"),
    };
    let ask = matches!(
        reason,
        Failure::NoAccount | Failure::Inactive | Failure::NoClaim
    )
    .then(|| {
        match s
            .ui
            .sign_in
            .as_ref()
            .and_then(|c| c.no_account_contact.clone())
        {
            Some(who) => ta(lang, "ui-oidc-ask-contact", &[("contact", who)]),
            None => t(lang, "ui-oidc-ask"),
        }
    });
    let mut r = render(&RefusedPage {
        lang,
        title: t(lang, "ui-oidc-refused-title"),
        message: t(lang, key),
        ask,
        back: t(lang, "ui-oidc-back"),
        a11y: t(lang, "ui-footer-a11y"),
    });
    *r.status_mut() = status;
    r
}

#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

async fn start(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<StartQuery>,
) -> Response {
    let lang = page_lang(&jar);
    let Some(si) = &s.ui.sign_in else {
        return super::UiError::not_found(lang).into_response();
    };
    let now = Utc::now();
    let begun = match si.oidc.start().await {
        Ok(b) => b,
        Err(reason) => return refuse(&s, lang, reason).await,
    };
    let next = safe_next(q.next.as_deref());
    if let Err(e) = s
        .engine
        .oidc_begin(&begun.state, &begun.nonce, &begun.pkce_verifier, &next, now)
        .await
    {
        return super::UiError::from_engine(e, lang).into_response();
    }
    let jar = jar.add(cookie(STATE_COOKIE, begun.state, secure(&s, &headers)));
    (jar, see_other(&begun.url)).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Audits a refusal and shows its page.
async fn refuse(s: &AppState, lang: Language, reason: Failure) -> Response {
    if let Err(e) = s.engine.oidc_refused(reason, None, Utc::now()).await {
        return super::UiError::from_engine(e, lang).into_response();
    }
    refused_page(s, lang, reason)
}

async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let lang = page_lang(&jar);
    let Some(si) = s.ui.sign_in.clone() else {
        return super::UiError::not_found(lang).into_response();
    };
    let now = Utc::now();
    let browser_state = jar.get(STATE_COOKIE).map(|c| c.value().to_string());
    let jar = jar.remove(Cookie::build(STATE_COOKIE).path("/"));
    let state = q.state.unwrap_or_default();
    // The state is taken (used up) whatever follows, so it works once.
    let pending = if state.is_empty() {
        None
    } else {
        match s.engine.oidc_take_state(&state, now).await {
            Ok(p) => p,
            Err(e) => return super::UiError::from_engine(e, lang).into_response(),
        }
    };
    let same_browser = browser_state.is_some_and(|b| super::same_token(&b, &state));
    let Some(pending) = pending.filter(|_| same_browser) else {
        return (jar, refuse(&s, lang, Failure::State).await).into_response();
    };
    if q.error.is_some() {
        return (jar, refuse(&s, lang, Failure::ProviderError).await).into_response();
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return (jar, refuse(&s, lang, Failure::Exchange).await).into_response();
    };
    let verified = match si
        .oidc
        .finish(&code, &pending.nonce, &pending.pkce_verifier, now)
        .await
    {
        Ok(v) => v,
        Err(reason) => return (jar, refuse(&s, lang, reason).await).into_response(),
    };
    match s
        .engine
        .oidc_sign_in(&si.policy, &verified.claims, &verified.id_token, now)
        .await
    {
        Ok(SignIn::Ok { staff, token }) => {
            let jar = super::account::signed_in(&s, &headers, jar, token, staff.language);
            (jar, see_other(&safe_next(Some(&pending.next_path)))).into_response()
        }
        // Audited by the engine.
        Ok(SignIn::Refused(reason)) => (jar, refused_page(&s, lang, reason)).into_response(),
        Err(e) => super::UiError::from_engine(e, lang).into_response(),
    }
}
