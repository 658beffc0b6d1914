//! Admin pages: staff accounts (list, create with an initial password, set
//! a new password, switch an account off and on again) and the audit log
//! (newest first, by actor and action). Admins only; everyone else gets 403.

use super::monitoring::Opt;
use super::{Me, Posted, Ui, UiError, engine_err, local_dt, render, see_other, t, ta};
use crate::domain::access::{Action, Password};
use crate::domain::{Language, Role, StaffId, UnitId};
use crate::error::Error;
use crate::store::staff::{self, NewStaff, Staff};
use crate::store::ui_admin::{self, AuditFilter, AuditRow};
use crate::store::units::{self, Unit};
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff", get(staff_page).post(create_staff))
        .route("/staff/{id}/password", post(set_password))
        .route("/staff/{id}/active", post(set_active))
        .route("/staff/{id}/role", post(set_role))
        .route("/staff/{id}/external-id", post(set_external_id))
        .route("/audit", get(audit_page))
}

/// Audit rows per page.
pub const AUDIT_PAGE: i64 = 50;

struct StaffView {
    id: i64,
    name: String,
    username: String,
    role: String,
    /// The role's and unit's form values (0: no unit).
    role_value: &'static str,
    unit_value: i64,
    unit: String,
    language: String,
    active: bool,
    telegram: bool,
    caseload: i64,
    is_me: bool,
    /// Their identity-provider id (empty: none).
    external_id: String,
}

/// The create form as typed (no password: it is never shown again).
#[derive(Default)]
struct NewForm {
    name: String,
    username: String,
    role: String,
    unit: String,
    language: String,
}

struct UnitChoice {
    id: i64,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "ui/staff.html")]
struct StaffPage {
    ui: Ui,
    staff: Vec<StaffView>,
    roles: Vec<Opt>,
    units: Vec<UnitChoice>,
    languages: Vec<Opt>,
    form: NewForm,
    message: Option<String>,
    warning: Option<String>,
    /// A refused form: the message, and which staff member's row it is
    /// about (`None`: the create form).
    error: Option<String>,
    error_for: Option<i64>,
    /// The claim staff are matched by, when sign-in through an identity
    /// provider is configured (the id field is shown then).
    match_claim: Option<String>,
}

impl StaffPage {
    /// Whether the refused form is this staff member's.
    fn error_here(&self, id: &i64) -> bool {
        self.error_for == Some(*id)
    }
}

/// What a page shows besides the list.
#[derive(Default)]
struct Notes {
    message: Option<String>,
    warning: Option<String>,
    error: Option<String>,
    error_for: Option<i64>,
    form: NewForm,
}

async fn load(
    s: &AppState,
    lang: Language,
) -> Result<(Vec<Staff>, Vec<Unit>, HashMap<StaffId, i64>), UiError> {
    let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
    Ok((
        staff::list(&mut c).await.map_err(engine_err(lang))?,
        units::list(&mut c).await.map_err(engine_err(lang))?,
        ui_admin::caseloads(&mut c)
            .await
            .map_err(engine_err(lang))?,
    ))
}

async fn staff_response(
    s: &AppState,
    me: &Me,
    notes: Notes,
    status: StatusCode,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let (list, unit_list, loads) = load(s, lang).await?;
    let unit_name = |u: Option<UnitId>| {
        u.and_then(|u| unit_list.iter().find(|x| x.id == u))
            .map(|x| x.name.clone())
            .unwrap_or_else(|| t(lang, "ui-admin-no-unit"))
    };
    let staff = list
        .iter()
        .map(|x| StaffView {
            id: x.id.get(),
            name: x.name.clone(),
            username: x.username.clone(),
            role: t(lang, &format!("ui-role-{}", x.role.as_str())),
            role_value: x.role.as_str(),
            unit_value: x.unit_id.map(UnitId::get).unwrap_or(0),
            unit: unit_name(x.unit_id),
            language: t(lang, &format!("ui-admin-lang-{}", x.language.as_str())),
            active: x.active,
            telegram: x.telegram_linked,
            caseload: loads.get(&x.id).copied().unwrap_or(0),
            is_me: x.id == me.staff.id,
            external_id: x.external_id.clone().unwrap_or_default(),
        })
        .collect();
    let f = &notes.form;
    let role_chosen = if f.role.is_empty() {
        "lots"
    } else {
        f.role.as_str()
    };
    let roles = Role::ALL
        .iter()
        .map(|r| Opt {
            value: r.as_str(),
            label: t(lang, &format!("ui-role-{}", r.as_str())),
            selected: r.as_str() == role_chosen,
        })
        .collect();
    let lang_chosen = if f.language.is_empty() {
        "sv"
    } else {
        f.language.as_str()
    };
    let languages = Language::ALL
        .iter()
        .map(|l| Opt {
            value: l.as_str(),
            label: t(lang, &format!("ui-admin-lang-{}", l.as_str())),
            selected: l.as_str() == lang_chosen,
        })
        .collect();
    let unit_chosen = if f.unit.is_empty() {
        me.staff
            .unit_id
            .map(|u| u.get().to_string())
            .unwrap_or_default()
    } else {
        f.unit.clone()
    };
    let units = unit_list
        .iter()
        .map(|u| UnitChoice {
            id: u.id.get(),
            name: u.name.clone(),
            selected: u.id.get().to_string() == unit_chosen,
        })
        .collect();
    let mut r = render(&StaffPage {
        ui: me.ui("/staff"),
        staff,
        roles,
        units,
        languages,
        form: notes.form,
        message: notes.message,
        warning: notes.warning,
        error: notes.error,
        error_for: notes.error_for,
        match_claim: s
            .ui
            .sign_in
            .as_ref()
            .map(|c| c.policy.match_claim.as_str().to_string()),
    });
    *r.status_mut() = status;
    Ok(r)
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
    who: Option<String>,
}

async fn staff_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<DoneQuery>,
) -> Result<Response, UiError> {
    me.require(Action::ManageStaff)?;
    let lang = me.lang;
    let mut notes = Notes::default();
    let who = match q.who.as_deref().and_then(|w| w.parse::<i64>().ok()) {
        Some(id) => {
            let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
            staff::get(&mut c, StaffId::from_db(id)).await.ok()
        }
        None => None,
    };
    if let (Some(done), Some(w)) = (q.done.as_deref(), &who) {
        let key = match done {
            "created" => Some("ui-admin-done-created"),
            "password" => Some("ui-admin-done-password"),
            "deactivated" => Some("ui-admin-done-deactivated"),
            "reactivated" => Some("ui-admin-done-reactivated"),
            "role" => Some("ui-admin-done-role"),
            "external-id" => Some("ui-admin-done-external-id"),
            _ => None,
        };
        notes.message = key.map(|k| ta(lang, k, &[("name", w.name.clone())]));
        if done == "deactivated" {
            let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
            let n = ui_admin::caseloads(&mut c)
                .await
                .map_err(engine_err(lang))?
                .get(&w.id)
                .copied()
                .unwrap_or(0);
            if n > 0 {
                notes.warning = Some(ta(
                    lang,
                    "ui-admin-caseload-left",
                    &[("name", w.name.clone()), ("n", n.to_string())],
                ));
            }
        }
    }
    staff_response(&s, &me, notes, StatusCode::OK).await
}

#[derive(Deserialize)]
struct CreateInput {
    name: String,
    username: String,
    role: String,
    unit: Option<String>,
    language: String,
    password: String,
}

async fn create_staff(
    State(s): State<AppState>,
    p: Posted<CreateInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::ManageStaff)?;
    let lang = me.lang;
    let unit_typed = f.unit.clone().unwrap_or_default();
    let refuse = |key: &str| Notes {
        error: Some(t(lang, key)),
        form: NewForm {
            name: f.name.clone(),
            username: f.username.clone(),
            role: f.role.clone(),
            unit: unit_typed.clone(),
            language: f.language.clone(),
        },
        ..Default::default()
    };
    let name = f.name.trim();
    let bad = StatusCode::UNPROCESSABLE_ENTITY;
    // The text key of the first thing wrong.
    let checked = (|| {
        if crate::domain::Name::parse(name, "name", 100).is_err() {
            return Err("ui-admin-name-rule");
        }
        let username = staff::parse_username(&f.username).map_err(|_| "ui-admin-username-rule")?;
        let role: Role = f.role.parse().map_err(|_| "ui-admin-role-bad")?;
        let language: Language = f.language.parse().map_err(|_| "ui-admin-role-bad")?;
        let unit = match unit_typed.trim() {
            "" => None,
            u => Some(UnitId::from_db(
                u.parse::<i64>().map_err(|_| "ui-admin-unit-needed")?,
            )),
        };
        if unit.is_none() && !matches!(role, Role::Admin | Role::Reviewer) {
            return Err("ui-admin-unit-needed");
        }
        let password = Password::parse(&f.password).map_err(|_| "ui-password-rule")?;
        Ok((
            NewStaff {
                unit,
                name: name.to_string(),
                username,
                role,
                language,
            },
            password,
        ))
    })();
    let (new, password) = match checked {
        Ok(v) => v,
        Err(key) => return staff_response(&s, &me, refuse(key), bad).await,
    };
    let now = Utc::now();
    let created = match s.engine.add_staff(&new, &me.actor(), now).await {
        Ok(x) => x,
        Err(Error::Conflict(_)) => {
            let notes = refuse("ui-admin-username-taken");
            return staff_response(&s, &me, notes, StatusCode::CONFLICT).await;
        }
        Err(Error::NotFound(_)) => {
            return staff_response(&s, &me, refuse("ui-admin-unit-needed"), bad).await;
        }
        Err(e) => return Err(UiError::from_engine(e, lang)),
    };
    s.engine
        .set_password(created.id, &password, None, &me.actor(), now)
        .await
        .map_err(engine_err(lang))?;
    Ok(see_other(&format!(
        "/staff?done=created&who={}#staff-{}",
        created.id, created.id
    )))
}

async fn target(s: &AppState, lang: Language, id: i64) -> Result<Staff, UiError> {
    let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
    staff::get(&mut c, StaffId::from_db(id))
        .await
        .map_err(engine_err(lang))
}

#[derive(Deserialize)]
struct PasswordInput {
    password: String,
}

/// Sets a new password; every session of theirs ends (but the admin's own
/// current one, when they set their own).
async fn set_password(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<PasswordInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::ManageStaff)?;
    let lang = me.lang;
    let who = target(&s, lang, id).await?;
    let Ok(password) = Password::parse(&f.password) else {
        let notes = Notes {
            error: Some(t(lang, "ui-password-rule")),
            error_for: Some(id),
            ..Default::default()
        };
        return staff_response(&s, &me, notes, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let keep = (who.id == me.staff.id).then_some(me.token_hash.as_str());
    s.engine
        .set_password(who.id, &password, keep, &me.actor(), Utc::now())
        .await
        .map_err(engine_err(lang))?;
    Ok(see_other(&format!(
        "/staff?done=password&who={id}#staff-{id}"
    )))
}

#[derive(Deserialize)]
struct ExternalIdInput {
    #[serde(default)]
    external_id: String,
}

/// Sets or clears who a staff member is at the identity provider (the
/// configured claim's value); another account's id is refused.
async fn set_external_id(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<ExternalIdInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::ManageStaff)?;
    let lang = me.lang;
    let Some(si) = &s.ui.sign_in else {
        return Err(UiError::not_found(lang));
    };
    let who = target(&s, lang, id).await?;
    match s
        .engine
        .set_staff_external_id(
            who.id,
            &f.external_id,
            &si.policy.match_claim,
            &me.actor(),
            Utc::now(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/staff?done=external-id&who={id}#staff-{id}"
        ))),
        Err(Error::Invalid(_)) => {
            let notes = Notes {
                error: Some(t(lang, "ui-admin-external-id-invalid")),
                error_for: Some(id),
                ..Default::default()
            };
            staff_response(&s, &me, notes, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(Error::Conflict(_)) => {
            let notes = Notes {
                error: Some(t(lang, "ui-admin-external-id-taken")),
                error_for: Some(id),
                ..Default::default()
            };
            staff_response(&s, &me, notes, StatusCode::CONFLICT).await
        }
        Err(e) => Err(engine_err(lang)(e)),
    }
}

#[derive(Deserialize)]
struct RoleInput {
    role: String,
    #[serde(default)]
    unit: String,
}

/// Another role or unit for a staff member (not the admin's own: an admin
/// cannot take away their own access).
async fn set_role(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<RoleInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::ManageStaff)?;
    let lang = me.lang;
    let who = target(&s, lang, id).await?;
    let refuse = |key: &str, args: &[(&'static str, String)]| Notes {
        error: Some(ta(lang, key, args)),
        error_for: Some(id),
        ..Default::default()
    };
    if who.id == me.staff.id {
        let notes = refuse("ui-admin-not-yourself-role", &[]);
        return staff_response(&s, &me, notes, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let role: Option<Role> = f.role.parse().ok();
    let unit = match f.unit.trim() {
        "" => Ok(None),
        u => u.parse::<UnitId>().map(Some),
    };
    let (Some(role), Ok(unit)) = (role, unit) else {
        let notes = refuse("ui-admin-role-invalid", &[]);
        return staff_response(&s, &me, notes, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    match s
        .engine
        .set_staff_role(who.id, role, unit, &me.actor(), Utc::now())
        .await
    {
        Ok(_) => Ok(see_other(&format!("/staff?done=role&who={id}#staff-{id}"))),
        Err(Error::Invalid(_)) => {
            let notes = refuse("ui-admin-unit-needed", &[]);
            staff_response(&s, &me, notes, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(Error::Conflict(_)) => {
            let n = {
                let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
                ui_admin::caseloads(&mut c)
                    .await
                    .map_err(engine_err(lang))?
                    .get(&who.id)
                    .copied()
                    .unwrap_or(0)
            };
            let notes = refuse(
                "ui-admin-role-caseload",
                &[("name", who.name.clone()), ("n", n.to_string())],
            );
            staff_response(&s, &me, notes, StatusCode::CONFLICT).await
        }
        Err(e) => Err(UiError::from_engine(e, lang)),
    }
}

#[derive(Deserialize)]
struct ActiveInput {
    active: String,
}

/// Switches an account off (its sessions end at once) or on again.
async fn set_active(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<ActiveInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::ManageStaff)?;
    let lang = me.lang;
    let who = target(&s, lang, id).await?;
    let active = match f.active.as_str() {
        "1" | "true" => true,
        "0" | "false" => false,
        _ => {
            return Err(UiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                lang,
                &t(lang, "ui-error-internal"),
            ));
        }
    };
    if !active && who.id == me.staff.id {
        let notes = Notes {
            error: Some(t(lang, "ui-admin-not-yourself")),
            error_for: Some(id),
            ..Default::default()
        };
        return staff_response(&s, &me, notes, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    s.engine
        .set_staff_active(who.id, active, &me.actor(), Utc::now())
        .await
        .map_err(engine_err(lang))?;
    let done = if active { "reactivated" } else { "deactivated" };
    Ok(see_other(&format!(
        "/staff?done={done}&who={id}#staff-{id}"
    )))
}

/// Action prefixes offered in the audit filter (any other can be typed).
const ACTION_GROUPS: &[&str] = &[
    "login",
    "logout",
    "case",
    "participant",
    "appointment",
    "attendance",
    "consent",
    "task",
    "summons",
    "series",
    "staff",
    "settings",
    "unit",
    "monitoring",
    "journal",
];

struct AuditView {
    id: i64,
    at: String,
    actor: String,
    action: String,
    /// The action in plain language ("opened the case record").
    what: String,
    target: String,
    target_href: Option<String>,
    detail: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/audit.html")]
struct AuditPage {
    ui: Ui,
    rows: Vec<AuditView>,
    actor: String,
    action: String,
    usernames: Vec<String>,
    actions: &'static [&'static str],
    next: Option<String>,
    first: Option<String>,
    time_zone: String,
}

#[derive(Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    before: Option<String>,
}

fn who_is(lang: Language, actor: &str, names: &HashMap<String, String>) -> String {
    if let Some(n) = names.get(actor) {
        return n.clone();
    }
    match actor {
        "system" => t(lang, "ui-admin-actor-system"),
        "web" => t(lang, "ui-admin-actor-web"),
        "participant" => t(lang, "ui-admin-actor-participant"),
        other => other.to_string(),
    }
}

fn what_is(
    lang: Language,
    target: &str,
    names: &HashMap<String, String>,
    units: &[Unit],
) -> (String, Option<String>) {
    if let Some(n) = names.get(target) {
        let id = target.trim_start_matches("staff:");
        return (n.clone(), Some(format!("/staff#staff-{id}")));
    }
    let (kind, id) = target.split_once(':').unwrap_or((target, ""));
    match kind {
        "participant" => (
            ta(lang, "ui-admin-target-participant", &[("id", id.into())]),
            id.parse::<i64>().ok().map(|i| format!("/participants/{i}")),
        ),
        "appointment" => (
            ta(lang, "ui-admin-target-appointment", &[("id", id.into())]),
            None,
        ),
        "unit" => (
            units
                .iter()
                .find(|u| u.id.get().to_string() == id)
                .map(|u| u.name.clone())
                .unwrap_or_else(|| {
                    if id == "all" {
                        t(lang, "ui-monitoring-all-units")
                    } else {
                        target.to_string()
                    }
                }),
            None,
        ),
        "username" => (
            ta(lang, "ui-admin-target-username", &[("name", id.into())]),
            None,
        ),
        _ => (target.to_string(), None),
    }
}

async fn audit_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<AuditQuery>,
) -> Result<Response, UiError> {
    me.require(Action::ReadAudit)?;
    let lang = me.lang;
    let (list, unit_list, _) = load(&s, lang).await?;
    // "staff:3" → "Lisa Lots (lisa)".
    let names: HashMap<String, String> = list
        .iter()
        .map(|x| {
            (
                format!("staff:{}", x.id),
                format!("{} ({})", x.name, x.username),
            )
        })
        .collect();
    let typed_actor = q.actor.as_deref().map(str::trim).unwrap_or("").to_string();
    let typed_action = q.action.as_deref().map(str::trim).unwrap_or("").to_string();
    let actor = (!typed_actor.is_empty()).then(|| {
        list.iter()
            .find(|x| x.username.eq_ignore_ascii_case(&typed_actor))
            .map(|x| format!("staff:{}", x.id))
            .unwrap_or_else(|| typed_actor.clone())
    });
    let filter = AuditFilter {
        actor,
        action: (!typed_action.is_empty()).then(|| typed_action.clone()),
        before: q.before.as_deref().and_then(|b| b.parse().ok()),
    };
    let mut rows: Vec<AuditRow> = {
        let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
        ui_admin::audit_page(&mut c, &filter, AUDIT_PAGE + 1)
            .await
            .map_err(engine_err(lang))?
    };
    let more = rows.len() as i64 > AUDIT_PAGE;
    rows.truncate(AUDIT_PAGE as usize);
    let tz = me.own_tz(&unit_list);
    let link = |before: Option<i64>| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if !typed_actor.is_empty() {
            ser.append_pair("actor", &typed_actor);
        }
        if !typed_action.is_empty() {
            ser.append_pair("action", &typed_action);
        }
        if let Some(b) = before {
            ser.append_pair("before", &b.to_string());
        }
        format!("/audit?{}", ser.finish())
    };
    let next = more.then(|| link(rows.last().map(|r| r.id)));
    let first = filter.before.is_some().then(|| link(None));
    let views = rows
        .iter()
        .map(|r| {
            let (target, target_href) = what_is(lang, &r.target, &names, &unit_list);
            AuditView {
                id: r.id,
                at: local_dt(lang, r.at, tz),
                actor: who_is(lang, &r.actor, &names),
                action: r.action.clone(),
                what: super::action_name(lang, &r.action),
                target,
                target_href,
                detail: (r.detail != "{}").then(|| r.detail.clone()),
            }
        })
        .collect();
    Ok(render(&AuditPage {
        ui: me.ui("/audit"),
        rows: views,
        actor: typed_actor.clone(),
        action: typed_action.clone(),
        usernames: list.iter().map(|x| x.username.clone()).collect(),
        actions: ACTION_GROUPS,
        next,
        first,
        time_zone: tz.name().to_string(),
    }))
}
