//! Logging in and out, changing one's password, and the language switch.

use super::{Me, Posted, Ui, UiError, cookie, render, secure, see_other, t, ta};
use crate::domain::Language;
use crate::domain::access::Password;
use crate::engine::auth::Login;
use crate::web::AppState;
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
    next: String,
    username: String,
    error: Option<String>,
    demo_login: Option<(String, String)>,
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
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only a local path: `/x`, never `//host` or a full URL (open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/today".to_string(),
    }
}

fn page_lang(jar: &CookieJar) -> Language {
    super::lang_from(jar).unwrap_or(Language::Sv)
}

async fn login_page(
    State(s): State<AppState>,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    render(&LoginPage {
        lang: page_lang(&jar),
        next: safe_next(q.next.as_deref()),
        username: String::new(),
        error: None,
        demo_login: s.ui.demo_login.clone(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Result<Response, UiError> {
    let lang = page_lang(&jar);
    let now = Utc::now();
    let again = |status: StatusCode, error: String| {
        let mut r = render(&LoginPage {
            lang,
            next: safe_next(f.next.as_deref()),
            username: f.username.clone(),
            error: Some(error),
            demo_login: s.ui.demo_login.clone(),
        });
        *r.status_mut() = status;
        r
    };
    match s
        .engine
        .login(&f.username, &f.password, now)
        .await
        .map_err(|e| UiError::from_engine(e, lang))?
    {
        Login::Ok { staff, token } => {
            let jar = jar.add(cookie(super::SESSION_COOKIE, token, secure(&s, &headers)));
            // The staff member's own language unless they switched on this
            // browser.
            let jar = if super::lang_from(&jar).is_none() {
                jar.add(cookie(
                    super::LANG_COOKIE,
                    staff.language.to_string(),
                    secure(&s, &headers),
                ))
            } else {
                jar
            };
            Ok((jar, see_other(&safe_next(f.next.as_deref()))).into_response())
        }
        Login::Wrong => Ok(again(StatusCode::UNAUTHORIZED, t(lang, "ui-login-wrong"))),
        Login::Wait(until) => {
            let secs = (until - now).num_seconds().max(1);
            Ok(again(
                StatusCode::TOO_MANY_REQUESTS,
                ta(lang, "ui-login-wait", &[("seconds", secs.to_string())]),
            ))
        }
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn logout(
    State(s): State<AppState>,
    jar: CookieJar,
    p: Posted<Empty>,
) -> Result<Response, UiError> {
    s.engine
        .logout(&p.me.token_hash, p.me.staff.id, Utc::now())
        .await
        .map_err(|e| UiError::from_engine(e, p.me.lang))?;
    let jar = jar.remove(Cookie::build(super::SESSION_COOKIE).path("/"));
    Ok((jar, see_other("/login")).into_response())
}

#[derive(Template)]
#[template(path = "ui/account.html")]
struct AccountPage {
    ui: Ui,
    username: String,
    message: Option<String>,
    error: Option<String>,
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
    p: Posted<PasswordForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let lang = me.lang;
    let fail = |error: String| {
        let mut r = render(&AccountPage {
            ui: me.ui("/account"),
            username: me.staff.username.clone(),
            message: None,
            error: Some(error),
        });
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        r
    };
    if !s
        .engine
        .check_password(me.staff.id, &f.current)
        .await
        .map_err(|e| UiError::from_engine(e, lang))?
    {
        return Ok(fail(t(lang, "ui-password-current-wrong")));
    }
    if f.new != f.repeat {
        return Ok(fail(t(lang, "ui-password-mismatch")));
    }
    let new = match Password::parse(&f.new) {
        Ok(p) => p,
        Err(_) => return Ok(fail(t(lang, "ui-password-rule"))),
    };
    s.engine
        .set_password(
            me.staff.id,
            &new,
            Some(&me.token_hash),
            &me.actor(),
            Utc::now(),
        )
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

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/participants/3")), "/participants/3");
        assert_eq!(safe_next(Some("//evil.example")), "/today");
        assert_eq!(safe_next(Some("https://evil.example")), "/today");
        assert_eq!(safe_next(Some("/\\evil.example")), "/today");
        assert_eq!(safe_next(None), "/today");
    }
}
