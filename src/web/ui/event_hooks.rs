//! The event webhooks page (`/event-hooks`, admins): the endpoints with
//! their state (a switched-off one at the top with why), the form to
//! register one (its secret shown once, on the answer to the form, never
//! in a URL), switch on/off, and the recent deliveries (status, attempts,
//! the last answer's code; never a body) with "Skicka igen".

use super::{Me, Posted, Ui, UiError, engine_err, local_dt, render, see_other, t};
use crate::domain::UnitId;
use crate::domain::access::Action;
use crate::domain::event_hooks::HookEvent;
use crate::engine::event_hooks::EndpointForm;
use crate::error::Error;
use crate::store::event_hooks as store;
use crate::store::units;
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/event-hooks", get(page).post(create))
        .route("/event-hooks/{id}", post(edit))
        .route("/event-hooks/{id}/enabled", post(set_enabled))
        .route("/event-hooks/{id}/rotate", post(rotate))
        .route("/event-hooks/deliveries/{id}/resend", post(resend))
}

/// Deliveries listed.
pub const RECENT: i64 = 50;

struct EndpointView {
    id: i64,
    url: String,
    unit: String,
    events: String,
    /// The edit form's checkboxes.
    choices: Vec<EventChoice>,
    include_text: bool,
    enabled: bool,
    /// Why it is off (empty: on).
    disabled_why: String,
    failing_since: String,
    /// "The previous secret also signs until …" while a rotation's
    /// overlap lasts (empty otherwise).
    previous_until: String,
}

struct DeliveryView {
    id: i64,
    endpoint_id: i64,
    event: String,
    participant_id: i64,
    status: &'static str,
    status_label: String,
    attempts: i64,
    code: String,
    last_attempt: String,
}

struct EventChoice {
    value: &'static str,
    checked: bool,
}

struct UnitChoice {
    id: i64,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "ui/event_hooks.html")]
struct HooksPage {
    ui: Ui,
    endpoints: Vec<EndpointView>,
    deliveries: Vec<DeliveryView>,
    units: Vec<UnitChoice>,
    events: Vec<EventChoice>,
    url: String,
    include_text: bool,
    message: Option<String>,
    error: Option<String>,
    /// A new endpoint's secret, shown this once.
    secret: Option<String>,
}

#[derive(Default)]
struct Notes {
    message: Option<String>,
    error: Option<String>,
    secret: Option<String>,
    url: String,
    events: Vec<String>,
    include_text: bool,
    unit: Option<i64>,
}

async fn respond(s: &AppState, me: &Me, n: Notes, status: StatusCode) -> Result<Response, UiError> {
    let lang = me.lang;
    let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
    let unit_list = units::list(&mut c).await.map_err(engine_err(lang))?;
    let endpoints = store::list_endpoints(&mut c, None)
        .await
        .map_err(engine_err(lang))?;
    let deliveries = store::recent(&mut c, None, RECENT)
        .await
        .map_err(engine_err(lang))?;
    drop(c);
    let tz = me.own_tz(&unit_list);
    let unit_name = |u: UnitId| {
        unit_list
            .iter()
            .find(|x| x.id == u)
            .map(|x| x.name.clone())
            .unwrap_or_default()
    };
    let mut endpoints: Vec<EndpointView> = endpoints
        .into_iter()
        .map(|e| EndpointView {
            id: e.id,
            unit: unit_name(e.unit_id),
            events: e.events.join(", "),
            choices: HookEvent::ALL
                .iter()
                .map(|x| EventChoice {
                    value: x.as_str(),
                    checked: e.events.iter().any(|y| y == x.as_str()),
                })
                .collect(),
            include_text: e.include_text,
            enabled: e.disabled_at.is_none(),
            disabled_why: match e.disabled_reason.as_deref() {
                _ if e.disabled_at.is_none() => String::new(),
                Some("failing") => t(lang, "event-hooks-disabled-failing"),
                _ => t(lang, "event-hooks-disabled-admin"),
            },
            failing_since: e
                .failing_since
                .map(|at| local_dt(lang, at, tz))
                .unwrap_or_default(),
            previous_until: e
                .previous_until
                .filter(|until| *until > Utc::now())
                .map(|until| local_dt(lang, until, tz))
                .unwrap_or_default(),
            url: e.url,
        })
        .collect();
    // Switched off for failing first: the admin's task.
    endpoints.sort_by_key(|e| (e.disabled_why.is_empty(), e.id));
    let deliveries = deliveries
        .into_iter()
        .map(|d| {
            let status = match d.status.as_str() {
                "delivered" => "delivered",
                "failed" => "failed",
                _ => "pending",
            };
            DeliveryView {
                id: d.id,
                endpoint_id: d.endpoint_id,
                event: d.event,
                participant_id: d.participant_id.get(),
                status,
                status_label: t(lang, &format!("event-hooks-status-{status}")),
                attempts: d.attempts,
                code: match (d.last_status_code, d.last_error.as_deref()) {
                    (Some(c), _) => c.to_string(),
                    (None, Some(e)) => t(lang, &format!("event-hooks-error-{}", error_word(e))),
                    (None, None) => String::new(),
                },
                last_attempt: d
                    .last_attempt_at
                    .map(|at| local_dt(lang, at, tz))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let chosen_unit = n.unit.or(me.staff.unit_id.map(UnitId::get));
    let units = unit_list
        .iter()
        .map(|u| UnitChoice {
            id: u.id.get(),
            name: u.name.clone(),
            selected: Some(u.id.get()) == chosen_unit,
        })
        .collect();
    let events = HookEvent::ALL
        .iter()
        .map(|e| EventChoice {
            value: e.as_str(),
            checked: n.events.is_empty() || n.events.iter().any(|x| x == e.as_str()),
        })
        .collect();
    let mut r = render(&HooksPage {
        ui: me.ui("/event-hooks"),
        endpoints,
        deliveries,
        units,
        events,
        url: n.url,
        include_text: n.include_text,
        message: n.message,
        error: n.error,
        secret: n.secret,
    });
    *r.status_mut() = status;
    Ok(r)
}

/// The closed words `store::event_hooks::finish` writes.
fn error_word(e: &str) -> &'static str {
    match e {
        "timeout" => "timeout",
        "connect" => "connect",
        _ => "other",
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<DoneQuery>,
) -> Result<Response, UiError> {
    me.require(Action::ManageStaff)?;
    let message = match q.done.as_deref() {
        Some("resent") => Some(t(me.lang, "event-hooks-done-resent")),
        Some("edited") => Some(t(me.lang, "event-hooks-done-edited")),
        Some("enabled") => Some(t(me.lang, "event-hooks-done-enabled")),
        Some("disabled") => Some(t(me.lang, "event-hooks-done-disabled")),
        _ => None,
    };
    let notes = Notes {
        message,
        ..Default::default()
    };
    respond(&s, &me, notes, StatusCode::OK).await
}

#[derive(Deserialize)]
struct CreateInput {
    unit: String,
    url: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    include_text: Option<String>,
}

async fn create(State(s): State<AppState>, p: Posted<CreateInput>) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::ManageStaff)?;
    let lang = me.lang;
    let include_text = f.include_text.is_some();
    let mut notes = Notes {
        url: f.url.clone(),
        events: f.events.clone(),
        include_text,
        unit: f.unit.trim().parse().ok(),
        ..Default::default()
    };
    let bad = StatusCode::UNPROCESSABLE_ENTITY;
    let Some(unit) = notes.unit.map(UnitId::from_db) else {
        notes.error = Some(t(lang, "event-hooks-unit-needed"));
        return respond(&s, &me, notes, bad).await;
    };
    let events: Vec<HookEvent> = f.events.iter().filter_map(|e| e.parse().ok()).collect();
    if events.is_empty() {
        notes.error = Some(t(lang, "event-hooks-events-needed"));
        return respond(&s, &me, notes, bad).await;
    }
    let form = EndpointForm {
        url: &f.url,
        events,
        include_text,
    };
    match s
        .engine
        .create_event_hook(&me.actor(), Utc::now(), unit, &form)
        .await
    {
        Ok((_, secret)) => {
            let notes = Notes {
                message: Some(t(lang, "event-hooks-done-created")),
                secret: Some(secret.expose().to_string()),
                ..Default::default()
            };
            respond(&s, &me, notes, StatusCode::OK).await
        }
        Err(Error::Invalid(_)) => {
            notes.error = Some(t(lang, "event-hooks-url-rule"));
            respond(&s, &me, notes, bad).await
        }
        Err(Error::NotFound(_)) => {
            notes.error = Some(t(lang, "event-hooks-unit-needed"));
            respond(&s, &me, notes, bad).await
        }
        Err(e) => Err(UiError::from_engine(e, lang)),
    }
}

#[derive(Deserialize)]
struct EditInput {
    url: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    include_text: Option<String>,
}

/// Changes an endpoint's URL, events and text opt-in (the secret stays).
async fn edit(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<EditInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::ManageStaff)?;
    let lang = me.lang;
    let events: Vec<HookEvent> = f.events.iter().filter_map(|e| e.parse().ok()).collect();
    let refuse = |key: &str| Notes {
        error: Some(t(lang, key)),
        ..Default::default()
    };
    let bad = StatusCode::UNPROCESSABLE_ENTITY;
    if events.is_empty() {
        return respond(&s, &me, refuse("event-hooks-events-needed"), bad).await;
    }
    let form = EndpointForm {
        url: &f.url,
        events,
        include_text: f.include_text.is_some(),
    };
    match s
        .engine
        .edit_event_hook(&me.actor(), Utc::now(), id, &form)
        .await
    {
        Ok(()) => Ok(see_other(&format!(
            "/event-hooks?done=edited#event-hook-{id}"
        ))),
        Err(Error::Invalid(_)) => respond(&s, &me, refuse("event-hooks-url-rule"), bad).await,
        Err(e) => Err(UiError::from_engine(e, lang)),
    }
}

#[derive(Deserialize)]
struct EnabledInput {
    enabled: String,
}

async fn set_enabled(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<EnabledInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::ManageStaff)?;
    let on = f.enabled == "1";
    s.engine
        .set_event_hook_enabled(&me.actor(), Utc::now(), id, on)
        .await
        .map_err(engine_err(me.lang))?;
    Ok(see_other(if on {
        "/event-hooks?done=enabled"
    } else {
        "/event-hooks?done=disabled"
    }))
}

#[derive(Deserialize)]
struct Empty {}

/// A new signing secret, shown this once; the previous one goes on
/// signing for a day (`Engine::rotate_event_hook_secret`).
async fn rotate(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<Empty>,
) -> Result<Response, UiError> {
    let me = p.me;
    me.require(Action::ManageStaff)?;
    let secret = s
        .engine
        .rotate_event_hook_secret(&me.actor(), Utc::now(), id)
        .await
        .map_err(engine_err(me.lang))?;
    let notes = Notes {
        message: Some(t(me.lang, "event-hooks-done-rotated")),
        secret: Some(secret.expose().to_string()),
        ..Default::default()
    };
    respond(&s, &me, notes, StatusCode::OK).await
}

async fn resend(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<Empty>,
) -> Result<Response, UiError> {
    let me = p.me;
    me.require(Action::ManageStaff)?;
    s.engine
        .resend_event_hook_delivery(&me.actor(), Utc::now(), id)
        .await
        .map_err(engine_err(me.lang))?;
    Ok(see_other("/event-hooks?done=resent#deliveries"))
}
