//! Logging in and out, changing one's password, and the language switch.

use super::{Me, Posted, Ui, UiError, cookie, render, secure, see_other, t, ta};
use crate::domain::Language;
use crate::domain::access::Password;
use crate::engine::auth::{Login, PasswordCheck};
use crate::web::{AppState, ClientIp};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use chrono::Utc;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/account", get(account_page))
        .route("/account/password", post(change_password))
        .route("/lang/{lang}", get(switch_language))
}

#[derive(Template)]
#[template(path = "ui/login.html")]
struct LoginPage {
    lang: Language,
    /// The login form's CSRF token (also in the [`LOGIN_CSRF_COOKIE`]).
    csrf: String,
    next: String,
    username: String,
    error: Option<String>,
    demo_login: Option<(String, String)>,
    /// The password form is shown (`password_login`).
    password_login: bool,
    /// "Logga in med <provider>", when sign-in through one is configured.
    oidc_label: Option<String>,
}

impl LoginPage {
    fn t(&self, key: &str) -> String {
        t(self.lang, key)
    }
    fn other_lang(&self) -> &'static str {
        match self.lang {
            Language::Sv => "en",
            Language::En => "sv",
        }
    }
    fn lang_code(&self) -> &'static str {
        self.lang.as_str()
    }
    /// `next` for the sign-in button's query string.
    fn next_enc(&self) -> String {
        form_urlencoded::byte_serialize(self.next.as_bytes()).collect()
    }
    fn check_texts(&self) -> Vec<(&'static str, String)> {
        super::check_texts(self.lang)
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Where to go after logging in or switching language: a path on this
/// site, else `/today`. Browsers drop tabs and newlines from a URL and read
/// `\\` as `/`, so `/\t/evil.host` would leave the site: only visible ASCII
/// without `\\` is taken, `%` must start a valid escape that is not a
/// control character (a raw or decoded newline would also break the
/// `Location` header), and the result, resolved against this site the way
/// a browser does (the `url` crate implements the WHATWG rules), must stay
/// on it.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_string(),
        _ => "/today".to_string(),
    }
}

fn is_local_path(n: &str) -> bool {
    let b = n.as_bytes();
    if b.len() > 2000 || b.first() != Some(&b'/') || matches!(b.get(1), Some(b'/' | b'\\')) {
        return false;
    }
    if !b.iter().all(|c| (0x21..=0x7e).contains(c) && *c != b'\\') {
        return false;
    }
    let hex = |c: u8| (c as char).to_digit(16);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            ) {
                (Some(h), Some(l)) if !((h * 16 + l) < 0x20 || h * 16 + l == 0x7f) => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    let Ok(origin) = url::Url::parse("http://paminn.invalid/") else {
        return false;
    };
    origin
        .join(n)
        .is_ok_and(|u| u.origin() == origin.origin() && u.username().is_empty())
}

/// The sign-in button's text: "Logga in med <provider>" (or a general
/// one when the provider has no configured name).
fn oidc_label(s: &AppState, lang: Language) -> Option<String> {
    let name = &s.ui.sign_in.as_ref()?.oidc.settings.display_name;
    Some(if name.trim().is_empty() {
        t(lang, "ui-login-oidc-generic")
    } else {
        ta(
            lang,
            "ui-login-oidc",
            &[("provider", name.trim().to_string())],
        )
    })
}

pub(super) fn page_lang(jar: &CookieJar) -> Language {
    super::lang_from(jar).unwrap_or(Language::Sv)
}

/// The login form's CSRF token before there is a session (login CSRF: a
/// forged cross-site form must not log a browser into someone else's
/// account). Double submit: the token is in this cookie and in the form,
/// and both must match. `SameSite=Lax` keeps the cookie off cross-site
/// POSTs as well.
pub const LOGIN_CSRF_COOKIE: &str = "paminn_login_csrf";

/// The browser's login token, or a new one (with the cookie to set).
fn login_token(s: &AppState, headers: &HeaderMap, jar: CookieJar) -> (CookieJar, String) {
    match jar.get(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string()) {
        Some(t) if t.len() >= 16 => (jar, t),
        _ => {
            let t = crate::engine::auth::random_token();
            (
                jar.add(cookie(LOGIN_CSRF_COOKIE, t.clone(), secure(s, headers))),
                t,
            )
        }
    }
}

async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    let (jar, csrf) = login_token(&s, &headers, jar);
    let page = render(&LoginPage {
        lang: page_lang(&jar),
        csrf,
        next: safe_next(q.next.as_deref()),
        username: String::new(),
        error: None,
        demo_login: s.ui.demo_login.clone(),
        password_login: !s.ui.password_login_disabled,
        oidc_label: oidc_label(&s, page_lang(&jar)),
    });
    (jar, page).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// Seconds until `until`, at least 1, for `Retry-After` and the message.
fn seconds_until(until: chrono::DateTime<Utc>, now: chrono::DateTime<Utc>) -> i64 {
    (until - now).num_seconds().max(1)
}

async fn login(
    State(s): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Result<Response, UiError> {
    let lang = page_lang(&jar);
    let now = Utc::now();
    let cookie_token = jar.get(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string());
    let (jar, csrf) = login_token(&s, &headers, jar);
    let again = |status: StatusCode, error: String, retry_after: Option<i64>| {
        let mut r = render(&LoginPage {
            lang,
            csrf: csrf.clone(),
            next: safe_next(f.next.as_deref()),
            username: f.username.clone(),
            error: Some(error),
            demo_login: s.ui.demo_login.clone(),
            password_login: !s.ui.password_login_disabled,
            oidc_label: oidc_label(&s, lang),
        });
        *r.status_mut() = status;
        if let Some(secs) = retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        (jar.clone(), r).into_response()
    };
    // Switched off for this instance: nothing is counted or checked.
    if s.ui.password_login_disabled {
        return Ok(again(
            StatusCode::FORBIDDEN,
            t(lang, "ui-login-password-off"),
            None,
        ));
    }
    // Login CSRF first: nothing is counted or checked without the token.
    if !cookie_token.is_some_and(|c| super::same_token(&f.csrf, &c)) {
        return Ok(again(StatusCode::FORBIDDEN, t(lang, "ui-error-csrf"), None));
    }
    match s
        .engine
        .login(&f.username, &f.password, &client, now)
        .await
        .map_err(|e| UiError::from_engine(e, lang))?
    {
        Login::Ok { staff, token } => {
            let jar = signed_in(&s, &headers, jar, token, staff.language);
            Ok((jar, see_other(&safe_next(f.next.as_deref()))).into_response())
        }
        Login::Wrong => Ok(again(
            StatusCode::UNAUTHORIZED,
            t(lang, "ui-login-wrong"),
            None,
        )),
        Login::Wait(until) => {
            let secs = seconds_until(until, now);
            Ok(again(
                StatusCode::TOO_MANY_REQUESTS,
                ta(lang, "ui-login-wait", &[("seconds", secs.to_string())]),
                Some(secs),
            ))
        }
        Login::Busy => Ok(again(
            StatusCode::SERVICE_UNAVAILABLE,
            t(lang, "ui-login-busy"),
            Some(BUSY_RETRY_SECS),
        )),
    }
}

/// `Retry-After` when too many password checks are under way.
const BUSY_RETRY_SECS: i64 = 5;

#[derive(Deserialize)]
struct Empty {}

async fn logout(
    State(s): State<AppState>,
    jar: CookieJar,
    p: Posted<Empty>,
) -> Result<Response, UiError> {
    // Signed in through the provider: its session ends too (RP-initiated
    // logout), when it offers an end-session endpoint.
    let id_token = match &s.ui.sign_in {
        Some(_) => s
            .engine
            .session_id_token(&p.me.token_hash)
            .await
            .map_err(|e| UiError::from_engine(e, p.me.lang))?,
        None => None,
    };
    s.engine
        .logout(&p.me.token_hash, p.me.staff.id, Utc::now())
        .await
        .map_err(|e| UiError::from_engine(e, p.me.lang))?;
    let jar = jar.remove(Cookie::build(super::SESSION_COOKIE).path("/"));
    let to = match (&s.ui.sign_in, id_token) {
        (Some(si), Some(t)) => si.oidc.end_session_url(&t).await,
        _ => None,
    };
    match to {
        // A page that moves on to the provider at once, rather than a
        // redirect: the CSP's `form-action 'self'` stops a form's POST from
        // being redirected to another origin.
        Some(url) => Ok((
            jar,
            render(&SignedOutPage {
                lang: p.me.lang,
                title: t(p.me.lang, "ui-logout-title"),
                message: t(p.me.lang, "ui-logout-provider"),
                link: t(p.me.lang, "ui-logout-provider-link"),
                url,
            }),
        )
            .into_response()),
        None => Ok((jar, see_other("/login")).into_response()),
    }
}

/// After logging out of a session signed in through the identity
/// provider: on to its end-session endpoint.
#[derive(Template)]
#[template(path = "ui/signed_out.html")]
struct SignedOutPage {
    lang: Language,
    title: String,
    message: String,
    link: String,
    url: String,
}

#[derive(Template)]
#[template(path = "ui/account.html")]
struct AccountPage {
    ui: Ui,
    username: String,
    message: Option<String>,
    error: Option<String>,
    /// The role has a calendar feed to subscribe to (`/account/calendar`).
    calendar: bool,
}

fn has_calendar(me: &Me) -> bool {
    crate::domain::calendar_feed::FeedScope::ALL
        .into_iter()
        .any(|k| k.allowed(me.staff.role, me.staff.unit_id.is_some()))
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn account_page(me: Me, Query(q): Query<DoneQuery>) -> Response {
    render(&AccountPage {
        ui: me.ui("/account"),
        username: me.staff.username.clone(),
        message: q.done.map(|_| t(me.lang, "ui-password-changed")),
        error: None,
        calendar: has_calendar(&me),
    })
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
    repeat: String,
}

async fn change_password(
    State(s): State<AppState>,
    ClientIp(client): ClientIp,
    p: Posted<PasswordForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let lang = me.lang;
    let now = Utc::now();
    let fail = |status: StatusCode, error: String, retry_after: Option<i64>| {
        let mut r = render(&AccountPage {
            ui: me.ui("/account"),
            username: me.staff.username.clone(),
            message: None,
            error: Some(error),
            calendar: has_calendar(&me),
        });
        *r.status_mut() = status;
        if let Some(secs) = retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        r
    };
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    match s
        .engine
        .check_password(&me.staff, &f.current, &client, now)
        .await
        .map_err(|e| UiError::from_engine(e, lang))?
    {
        PasswordCheck::Right => {}
        PasswordCheck::Wrong => {
            return Ok(fail(invalid, t(lang, "ui-password-current-wrong"), None));
        }
        PasswordCheck::Wait(until) => {
            let secs = seconds_until(until, now);
            return Ok(fail(
                StatusCode::TOO_MANY_REQUESTS,
                ta(lang, "ui-login-wait", &[("seconds", secs.to_string())]),
                Some(secs),
            ));
        }
        PasswordCheck::Busy => {
            return Ok(fail(
                StatusCode::SERVICE_UNAVAILABLE,
                t(lang, "ui-login-busy"),
                Some(BUSY_RETRY_SECS),
            ));
        }
    }
    if f.new != f.repeat {
        return Ok(fail(invalid, t(lang, "ui-password-mismatch"), None));
    }
    let new = match Password::parse(&f.new) {
        Ok(p) => p,
        Err(_) => return Ok(fail(invalid, t(lang, "ui-password-rule"), None)),
    };
    s.engine
        .set_password(me.staff.id, &new, Some(&me.token_hash), &me.actor(), now)
        .await
        .map_err(|e| UiError::from_engine(e, lang))?;
    Ok(see_other("/account?done=1"))
}

/// Sets the language cookie and goes back. A GET is enough: it changes
/// nothing but how pages read in this browser.
async fn switch_language(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(lang): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let Ok(lang) = lang.parse::<Language>() else {
        return UiError::not_found(page_lang(&jar)).into_response();
    };
    let jar = jar.add(cookie(
        super::LANG_COOKIE,
        lang.to_string(),
        secure(&s, &headers),
    ));
    (jar, see_other(&safe_next(q.next.as_deref()))).into_response()
}

/// The cookies of a new session (password login or the identity
/// provider's): the session, and the staff member's own language unless
/// they switched on this browser.
pub(super) fn signed_in(
    s: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    token: String,
    language: Language,
) -> CookieJar {
    let jar = jar.add(cookie(super::SESSION_COOKIE, token, secure(s, headers)));
    if super::lang_from(&jar).is_none() {
        jar.add(cookie(
            super::LANG_COOKIE,
            language.to_string(),
            secure(s, headers),
        ))
    } else {
        jar
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;
    use proptest::prelude::*;

    #[test]
    fn next_stays_on_this_site() {
        for ok in [
            "/participants/3",
            "/today",
            "/participants?q=ali&status=active",
            "/participants/3#timeline",
            "/a%20b",
            "/%2F%2Fevil.example",
        ] {
            assert_eq!(safe_next(Some(ok)), ok, "{ok:?} is a path here");
        }
        for bad in [
            "//evil.example",
            "https://evil.example",
            "http:/evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.host",
            "/\n/evil.host",
            "/\r/evil.host",
            "/ /evil.host",
            "/%09/evil.host",
            "/%0a",
            "/%0D%0ASet-Cookie:x=1",
            "/%00",
            "/%7f",
            "/%zz",
            "/%4",
            "/ä",
            "evil.example",
            "",
            " /today",
        ] {
            assert_eq!(
                safe_next(Some(bad)),
                "/today",
                "{bad:?} must not be followed"
            );
        }
        assert_eq!(safe_next(None), "/today");
    }

    proptest! {
        /// Whatever is accepted, resolved against this site as a browser
        /// does, stays on this site, and is a valid `Location` header.
        #[test]
        fn an_accepted_next_stays_on_the_origin(
            n in "[/\\\\\t\n\r %0-9a-fA-F:.@?#a-z]{0,14}",
            m in "(/|//|/%09/|/\\\\|https:|/%0a)?[a-z./@:%09]{0,10}",
        ) {
            for cand in [n.as_str(), m.as_str()] {
                let got = safe_next(Some(cand));
                let origin = url::Url::parse("https://paminn.example.se/").unwrap();
                // A browser also drops these before resolving.
                let cleaned: String = got.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
                let u = origin.join(&cleaned).unwrap();
                prop_assert_eq!(u.origin(), origin.origin(), "{:?} -> {:?}", cand, got);
                prop_assert!(axum::http::HeaderValue::from_str(&got).is_ok());
                prop_assert!(got.starts_with('/') && !got.starts_with("//"));
            }
        }
    }
}
