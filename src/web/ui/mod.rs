//! The staff web UI: server-rendered HTML (askama templates under
//! `templates/ui/`), plain forms that work without JavaScript, texts from
//! the same Fluent files as the messages (`locales/*/ui*.ftl`).
//!
//! What every page shares lives here:
//! - [`Me`]: the logged-in staff member, from the session cookie. A page
//!   asked for without a live session redirects to the login page.
//! - [`Posted`]: a form posted by [`Me`] with the session's CSRF token
//!   checked first (403 without it, nothing done).
//! - [`Ui`]: what the layout needs (language, name, menu, CSRF token) and the
//!   translation and local-time helpers templates call.
//! - [`UiError`]: an error as an HTML page with the right status.
//! - [`case`]: a participant and how much of them [`Me`] may see (403 when
//!   nothing), with every view of a case record written to the audit log.
//!
//! Role rules are `domain::access`; handlers only ask it.

pub mod account;
pub mod admin;
pub mod broadcasts;
pub mod calendar_feeds;
pub mod event_hooks;
pub mod monitoring;
pub mod outcomes;
pub mod participants;
pub mod review;
pub mod sandbox;
pub mod settings;
pub mod sign_in;
pub mod statement;
pub mod today;
pub mod unit_templates;

use super::AppState;
use crate::domain::access::{self, Action, CaseAccess, Shield, Subject, Viewer};
use crate::domain::{AppointmentId, Language, ParticipantId, Role};
use crate::engine::Actor;
use crate::engine::auth::LiveSession;
use crate::engine::reads::Viewed;
use crate::error::Error;
use crate::store::appointments::{self, Appointment};
use crate::store::participants::Participant;
use crate::store::staff::Staff;
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;

pub const SESSION_COOKIE: &str = "paminn_session";
pub const LANG_COOKIE: &str = "paminn_lang";

/// Settings of the web UI that come from the configuration.
#[derive(Debug, Clone, Default)]
pub struct UiConfig {
    /// Mark cookies `Secure` (the UI is served over TLS, e.g. `public_url`
    /// starts with https). Also set per request behind a proxy that sends
    /// `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
    /// Shown on the login page in `paminn demo`: (username, password).
    pub demo_login: Option<(String, String)>,
    /// The Telegram bot's username: link codes are shown as a
    /// `https://t.me/<bot>?start=<code>` link and QR code. Without it, the
    /// code and the `/start` instruction only.
    pub telegram_bot_username: Option<String>,
    /// Proxies whose `X-Forwarded-For` names the client (for the login
    /// limits); empty: the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Named in the accessibility statement; without it, "the organisation
    /// that runs this service".
    pub organisation_name: Option<String>,
    /// Where to report accessibility problems; without it, the statement
    /// says to ask one's coordinator.
    pub accessibility_contact: Option<String>,
    /// The password login is switched off (`password_login = false`):
    /// the form is not shown and `POST /login` is refused.
    pub password_login_disabled: bool,
    /// Where this paminn is reached from outside (`public_url`): the base of
    /// the calendar feed links. Without it, the request's host.
    pub public_url: Option<String>,
    /// Sign-in through the organisation's identity provider, when
    /// configured (`web::ui::sign_in`).
    pub sign_in: Option<SignInConfig>,
}

/// Sign-in through the identity provider: the relying party, who may sign
/// in, and whom to ask without an account.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    pub oidc: crate::oidc::Oidc,
    pub policy: crate::engine::sign_in::SignInPolicy,
    pub no_account_contact: Option<String>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", axum::routing::get(|| async { Redirect::to("/today") }))
        .route(
            "/static/app.css",
            axum::routing::get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                        (header::CACHE_CONTROL, "max-age=3600"),
                    ],
                    include_str!("../../../templates/ui/app.css"),
                )
            }),
        )
        .route(
            "/static/counter.js",
            axum::routing::get(|| async {
                script(include_str!("../../../templates/ui/counter.js"))
            }),
        )
        .route(
            "/static/forms.js",
            axum::routing::get(|| async { script(include_str!("../../../templates/ui/forms.js")) }),
        )
        .merge(statement::router())
        .merge(account::router())
        .merge(calendar_feeds::router())
        .merge(sign_in::router())
        .merge(today::router())
        .merge(participants::router())
        .merge(monitoring::router())
        .merge(outcomes::router())
        .merge(settings::router())
        .merge(unit_templates::router())
        .merge(admin::router())
        .merge(event_hooks::router())
        .merge(review::router())
        .merge(broadcasts::router())
        .merge(sandbox::router())
}

/// A script of the UI's own, cached for an hour.
pub(super) fn script(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
}

/// A path no route serves: the UI's error page in the viewer's language
/// (the language cookie; Swedish without one) with a way back, not an
/// empty page. The JSON API has its own (`api::not_found`).
pub async fn not_found_page(headers: axum::http::HeaderMap) -> Response {
    let jar = CookieJar::from_headers(&headers);
    UiError::not_found(lang_from(&jar).unwrap_or(Language::Sv)).into_response()
}

/// The logged-in staff member.
#[derive(Debug, Clone)]
pub struct Me {
    pub staff: Staff,
    pub viewer: Viewer,
    pub csrf: String,
    pub token_hash: String,
    pub lang: Language,
    /// `paminn demo`: the sandbox phone is in the menu.
    pub demo: bool,
    /// The page asked for, with its query, when it was a GET: the language
    /// switch comes back to exactly this (an older page of messages, a
    /// filtered list), not to the first page.
    pub here: Option<String>,
    /// The protected participants this viewer is not named for: left out
    /// of every list, calendar, search, export and tally, 403 when asked
    /// for (`access::shows`).
    pub hidden: std::collections::HashSet<ParticipantId>,
}

impl Me {
    /// The time zone of the viewer's own unit among `units`; Stockholm's
    /// for staff of no unit.
    pub fn own_tz(&self, units: &[crate::store::units::Unit]) -> Tz {
        self.staff
            .unit_id
            .and_then(|u| units.iter().find(|x| x.id == u))
            .map_or(chrono_tz::Europe::Stockholm, |u| u.time_zone)
    }
    pub fn actor(&self) -> Actor {
        Actor(format!("staff:{}", self.staff.id))
    }

    pub fn may(&self, a: Action) -> bool {
        access::may(&self.viewer, a)
    }

    /// A participant's protection as this viewer meets it.
    pub fn shield(&self, p: ParticipantId) -> Shield {
        if self.hidden.contains(&p) {
            Shield::Protected { named: false }
        } else {
            Shield::Open
        }
    }

    /// How much of a participant (id, unit, lots) this viewer may see.
    pub fn access_to(
        &self,
        id: ParticipantId,
        unit: crate::domain::UnitId,
        lots: Option<crate::domain::StaffId>,
    ) -> CaseAccess {
        access::case_access(
            &self.viewer,
            &Subject {
                id,
                unit,
                lots,
                shield: self.shield(id),
            },
        )
    }

    /// 403 unless the viewer may do `a`.
    pub fn require(&self, a: Action) -> Result<(), UiError> {
        if self.may(a) {
            Ok(())
        } else {
            Err(UiError::forbidden(self.lang))
        }
    }

    /// What the layout needs, for a page at `path`.
    pub fn ui(&self, path: &str) -> Ui {
        Ui {
            lang: self.lang,
            csrf: self.csrf.clone(),
            name: self.staff.name.clone(),
            role: self.staff.role,
            path: path.to_string(),
            here: self
                .here
                .clone()
                .filter(|h| h.starts_with(path))
                .unwrap_or_else(|| path.to_string()),
            nav: nav(self),
        }
    }
}

fn lang_from(jar: &CookieJar) -> Option<Language> {
    jar.get(LANG_COOKIE).and_then(|c| c.value().parse().ok())
}

impl FromRequestParts<AppState> for Me {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let lang = lang_from(&jar);
        let to_login = || {
            let path = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
            if parts.method == axum::http::Method::GET {
                Redirect::to(&format!("/login?next={next}")).into_response()
            } else {
                UiError::new(
                    StatusCode::UNAUTHORIZED,
                    Language::Sv,
                    "Du är inte inloggad längre. Logga in igen. / You are no longer logged in.",
                )
                .into_response()
            }
        };
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) else {
            return Err(to_login());
        };
        let live = s
            .engine
            .session(&token, Utc::now())
            .await
            .map_err(|e| UiError::from(e).into_response())?;
        let Some(LiveSession {
            staff,
            csrf,
            token_hash,
        }) = live
        else {
            return Err(to_login());
        };
        let viewer = Viewer {
            id: staff.id,
            role: staff.role,
            unit: staff.unit_id,
        };
        let here = (parts.method == axum::http::Method::GET)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_string()))
            .flatten();
        // A reviewer sees the log review and nothing else: the start page
        // is the review, every other page 403.
        let path = parts.uri.path();
        if viewer.role == Role::Reviewer && !access::reviewer_may_open(path) {
            let lang = lang.unwrap_or(staff.language);
            return Err(
                if path == "/today" && parts.method == axum::http::Method::GET {
                    Redirect::to("/review").into_response()
                } else {
                    UiError::forbidden(lang).into_response()
                },
            );
        }
        let hidden = hidden_for(s, staff.id)
            .await
            .map_err(|e| UiError::from(e).into_response())?;
        Ok(Me {
            hidden,
            lang: lang.unwrap_or(staff.language),
            staff,
            viewer,
            csrf,
            token_hash,
            demo: s.demo,
            here,
        })
    }
}

/// The protected participants `viewer` is not named for, by the rule in
/// `domain::access` ([`access::shows`]).
pub async fn hidden_for(
    s: &AppState,
    viewer: crate::domain::StaffId,
) -> crate::error::Result<std::collections::HashSet<ParticipantId>> {
    let mut c = s.engine.db.conn().await?;
    Ok(crate::store::protection::all(&mut c)
        .await?
        .into_iter()
        .filter(|(_, named)| !access::shows(viewer, true, named))
        .map(|(p, _)| p)
        .collect())
}

/// An engine error in the viewer's language, for `map_err`.
pub(crate) fn engine_err(lang: Language) -> impl Fn(Error) -> UiError + Copy {
    move |e| UiError::from_engine(e, lang)
}

/// One read of the store (not audited: nothing of a case record), its
/// errors in the viewer's language.
pub(crate) async fn read_store<T>(
    s: &AppState,
    lang: Language,
    read: impl AsyncFnOnce(&mut crate::store::Conn) -> crate::error::Result<T>,
) -> Result<T, UiError> {
    let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
    read(&mut c).await.map_err(engine_err(lang))
}

/// A query parameter as typed, trimmed; `None` when absent or blank.
pub(crate) fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|x| !x.is_empty())
}

/// A form posted by a logged-in staff member, its CSRF token checked.
/// Fields are read with `serde_html_form`, so repeated keys (checkboxes)
/// fill a `Vec`.
pub struct Posted<T> {
    pub me: Me,
    pub form: T,
}

/// Compares in time independent of where the strings differ.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let me = Me::from_request_parts(&mut parts, s).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), s)
            .await
            .map_err(IntoResponse::into_response)?;
        let token = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !same_token(&token, &me.csrf) {
            return Err(
                UiError::new(StatusCode::FORBIDDEN, me.lang, &t(me.lang, "ui-error-csrf"))
                    .into_response(),
            );
        }
        // A NUL (U+0000) in any field: no form needs one and PostgreSQL
        // cannot store it, so the form is refused naming the field.
        if let Some((k, _)) =
            form_urlencoded::parse(&bytes).find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            let field = k.replace('\0', "");
            let msg = ta(me.lang, "ui-error-nul", &[("field", field)]);
            return Err(UiError::new(StatusCode::BAD_REQUEST, me.lang, &msg).into_response());
        }
        let form = serde_html_form::from_bytes::<T>(&bytes).map_err(|e| {
            UiError::new(StatusCode::BAD_REQUEST, me.lang, &e.to_string()).into_response()
        })?;
        Ok(Posted { me, form })
    }
}

/// One entry of the menu.
pub struct NavItem {
    pub href: &'static str,
    pub label: String,
}

fn nav(me: &Me) -> Vec<NavItem> {
    let l = me.lang;
    let works = me.viewer.role != Role::Reviewer;
    let mut items = vec![
        ("/today", "ui-nav-today", works),
        ("/participants", "ui-nav-participants", works),
        ("/calendar", "ui-nav-calendar", works),
        (
            "/monitoring",
            "ui-nav-monitoring",
            me.may(Action::Monitoring),
        ),
        ("/outcomes", "ui-nav-outcomes", me.may(Action::Monitoring)),
        (
            "/broadcasts",
            "ui-nav-broadcasts",
            me.may(Action::Broadcast),
        ),
        ("/settings", "ui-nav-settings", me.may(Action::Settings)),
        // A lots has no settings, but sees the messages their participants get.
        (
            "/settings/templates",
            "ui-nav-templates",
            !me.may(Action::Settings) && access::sees_templates(&me.viewer),
        ),
        ("/staff", "ui-nav-staff", me.may(Action::ManageStaff)),
        (
            "/event-hooks",
            "event-hooks-nav",
            me.may(Action::ManageStaff),
        ),
        ("/review", "ui-nav-review", me.may(Action::ReadAudit)),
        ("/audit", "ui-nav-audit", me.may(Action::ReadAudit)),
        ("/sandbox", "ui-nav-sandbox", me.demo),
    ];
    items.retain(|(_, _, show)| *show);
    items
        .into_iter()
        .map(|(href, key, _)| NavItem {
            href,
            label: t(l, key),
        })
        .collect()
}

/// A UI text by key.
pub fn t(lang: Language, key: &str) -> String {
    crate::texts::render(lang, key, &[])
}

/// An audit event code (`case.view`) in plain language ("opened the case
/// record"), or the code itself when it has no name yet.
pub fn action_name(lang: Language, code: &str) -> String {
    let key = format!("ui-action-{}", code.replace(['.', '_'], "-"));
    crate::texts::try_text(lang, &key).unwrap_or_else(|| code.to_string())
}

/// The wording of the browser's form checks (`templates/ui/forms.js` reads
/// them from `data-check-*` on `<body>`), in the UI's language.
pub fn check_texts(lang: Language) -> Vec<(&'static str, String)> {
    [
        "missing", "choose", "tick", "short", "long", "range", "format",
    ]
    .into_iter()
    .map(|k| (k, t(lang, &format!("ui-check-{k}"))))
    .collect()
}

/// A UI text by key with arguments.
pub fn ta(lang: Language, key: &str, args: &[(&'static str, String)]) -> String {
    crate::texts::render(lang, key, args)
}

/// What the layout (`templates/ui/base.html`) needs; every page struct has
/// one as `ui`. Templates call its methods for texts and times.
pub struct Ui {
    pub lang: Language,
    pub csrf: String,
    pub name: String,
    pub role: Role,
    pub path: String,
    /// Where the language switch returns: the page with its query.
    pub here: String,
    pub nav: Vec<NavItem>,
}

impl Ui {
    /// `here`, encoded for `?next=`.
    pub fn next_param(&self) -> String {
        form_urlencoded::byte_serialize(self.here.as_bytes()).collect()
    }
    /// A text by key.
    pub fn t(&self, key: &str) -> String {
        t(self.lang, key)
    }
    /// A text by key with one argument.
    pub fn t1(&self, key: &str, name: &'static str, value: &dyn std::fmt::Display) -> String {
        ta(self.lang, key, &[(name, value.to_string())])
    }
    /// "tis 10 dec 09:00": local time with the weekday, always.
    pub fn dt(&self, at: &DateTime<Utc>, tz: &Tz) -> String {
        local_dt(self.lang, *at, *tz)
    }
    /// "tis 10 dec".
    pub fn date(&self, at: &DateTime<Utc>, tz: &Tz) -> String {
        local_date(self.lang, *at, *tz)
    }
    /// The hidden CSRF field for a form.
    pub fn csrf_field(&self) -> String {
        format!(
            r#"<input type="hidden" name="_csrf" value="{}">"#,
            self.csrf
        )
    }
    pub fn other_lang(&self) -> &'static str {
        match self.lang {
            Language::Sv => "en",
            Language::En => "sv",
        }
    }
    pub fn lang_code(&self) -> &'static str {
        self.lang.as_str()
    }
    pub fn check_texts(&self) -> Vec<(&'static str, String)> {
        check_texts(self.lang)
    }
    pub fn role_name(&self) -> String {
        self.t(&format!("ui-role-{}", self.role.as_str()))
    }
}

/// "tis 10 dec 09:00" on the wall clock of `tz`, with the year when it is
/// not this year ("fre 15 jan 2027 10:00": a broadcast planned for January).
pub fn local_dt(lang: Language, at: DateTime<Utc>, tz: Tz) -> String {
    participants::when(lang, at, tz)
}

/// "tis 10 dec" on the wall clock of `tz`.
pub fn local_date(lang: Language, at: DateTime<Utc>, tz: Tz) -> String {
    let l = at.with_timezone(&tz);
    format!(
        "{} {} {}",
        t(lang, &format!("ui-wd-{}", l.weekday().number_from_monday())),
        l.day(),
        t(lang, &format!("ui-mon-{}", l.month()))
    )
}

/// An error shown as a page.
#[derive(Debug)]
pub struct UiError {
    pub status: StatusCode,
    pub lang: Language,
    pub message: String,
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    lang: &'a str,
    title: String,
    message: &'a str,
    back: String,
    a11y: String,
}

impl UiError {
    pub fn new(status: StatusCode, lang: Language, message: &str) -> Self {
        UiError {
            status,
            lang,
            message: message.to_string(),
        }
    }
    pub fn forbidden(lang: Language) -> Self {
        UiError::new(StatusCode::FORBIDDEN, lang, &t(lang, "ui-error-forbidden"))
    }
    pub fn not_found(lang: Language) -> Self {
        UiError::new(StatusCode::NOT_FOUND, lang, &t(lang, "ui-error-not-found"))
    }
    /// A 500 for a failure of ours, not the user's: `e` is logged as
    /// `what`, the viewer reads only that something went wrong.
    pub fn internal(lang: Language, what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "{what}");
        UiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            lang,
            &t(lang, "ui-error-internal"),
        )
    }
    /// An engine error in the viewer's language where it is theirs to fix.
    pub fn from_engine(e: Error, lang: Language) -> Self {
        let mut u = UiError::from(e);
        u.lang = lang;
        u
    }
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        let lang = Language::Sv;
        match e {
            Error::NotFound(_) => UiError::not_found(lang),
            Error::Invalid(m) => UiError::new(StatusCode::UNPROCESSABLE_ENTITY, lang, &m),
            Error::Conflict(m) => UiError::new(StatusCode::CONFLICT, lang, &m),
            Error::Db(_) | Error::Internal(_) => UiError::internal(lang, "internal error", e),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            lang: self.lang.as_str(),
            title: t(self.lang, "ui-error-title"),
            message: &self.message,
            back: t(self.lang, "ui-back"),
            a11y: t(self.lang, "ui-footer-a11y"),
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}

/// Renders a page template, or a 500 page.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            UiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Language::Sv,
                "internal error",
            )
            .into_response()
        }
    }
}

/// Renders a page as [`render`] does, with status 422 when `refused` (the
/// page shows a form sent back with what was wrong).
pub fn render_refused(page: &impl Template, refused: bool) -> Response {
    let mut r = render(page);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// After a successful POST: back to a page (POST/redirect/GET).
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// Whether to mark cookies `Secure` for this request.
pub fn secure(s: &AppState, headers: &HeaderMap) -> bool {
    s.ui.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A cookie as the UI sets them: HttpOnly, SameSite=Lax, path /, Secure
/// when served over TLS.
pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .build()
}

/// A participant and how much of their case `me` may see; 403 when
/// nothing, 404 when there is no such participant. A refusal is written
/// to the audit log (`case.denied`); with `audit_view`, so is the view
/// (`case.view`, or `case.view_contact` for contact details only), and
/// the participant comes back only once it is
/// ([`crate::engine::Engine::read_audited`]). Without it the caller's
/// change is what is audited.
pub async fn case(
    s: &AppState,
    me: &Me,
    id: ParticipantId,
    audit_view: bool,
) -> Result<(Participant, CaseAccess), UiError> {
    let engine_err = |e| UiError::from_engine(e, me.lang);
    let actor = me.actor();
    let now = Utc::now();
    let access_of = |p: &Participant| me.access_to(p.id, p.unit_id, p.lots_id);
    // A refused look at a protected participant is flagged in the review.
    let denied = |p: &Participant| {
        let v = Viewed::participant("case.denied", p.id);
        if p.protected {
            v.with(serde_json::json!({ "protected": true }))
        } else {
            v
        }
    };
    let (p, a) = if audit_view {
        s.engine
            .read_audited(&actor, now, async |c| {
                let p = crate::store::participants::get(c, id).await?;
                let a = access_of(&p);
                let v = match a {
                    CaseAccess::None => denied(&p),
                    CaseAccess::Full => Viewed::participant("case.view", id),
                    _ => Viewed::participant("case.view_contact", id),
                };
                Ok(((p, a), v))
            })
            .await
            .map_err(engine_err)?
    } else {
        let mut c = s.engine.db.conn().await.map_err(engine_err)?;
        let p = crate::store::participants::get(&mut c, id)
            .await
            .map_err(engine_err)?;
        drop(c);
        let a = access_of(&p);
        if a == CaseAccess::None {
            s.engine
                .audit(&actor, now, denied(&p))
                .await
                .map_err(engine_err)?;
        }
        (p, a)
    };
    if a == CaseAccess::None {
        return Err(UiError::forbidden(me.lang));
    }
    Ok((p, a))
}

/// An appointment, its participant, and `me`'s access to them (as [`case`],
/// not audited: the caller's change is).
pub async fn appointment_case(
    s: &AppState,
    me: &Me,
    id: AppointmentId,
) -> Result<(Appointment, Participant, CaseAccess), UiError> {
    let a = read_store(s, me.lang, async |c| appointments::get(c, id).await).await?;
    let (p, access) = case(s, me, a.participant_id, false).await?;
    Ok((a, p, access))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", "a"));
    }

    #[test]
    fn local_times_name_the_weekday() {
        let at = DateTime::parse_from_rfc3339("2026-12-08T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            local_dt(Language::Sv, at, chrono_tz::Europe::Stockholm),
            "tis 8 dec 09:00"
        );
        assert_eq!(
            local_dt(Language::En, at, chrono_tz::Europe::Stockholm),
            "Tue 8 Dec 09:00"
        );
    }
}
