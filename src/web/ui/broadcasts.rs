//! Groups and broadcasts for coordinators (their own unit) and admins:
//! compose a broadcast to a group with a preview per language (the text as
//! the participant gets it, SMS encoding and parts, sensitive words), send
//! it through [`Engine::plan_broadcast`](crate::engine::Engine::plan_broadcast)
//! with an idempotency key from the form (a double submit plans one
//! broadcast), follow its progress and the tally of an activity, list a
//! unit's broadcasts, and keep the groups' members. Every change goes
//! through the engine, which writes the audit log.

use super::monitoring::{Scope, UnitOption, scope, unit_options};
use super::participants::appointments::{SeriesForm, SeriesOwner, new_series_page, series_submit};
use super::participants::{Opt, label};
use super::settings::{Check, check};
use super::{Me, Posted, Ui, UiError, render, render_refused, see_other, t, ta};
use crate::domain::access::{self, Action};
use crate::domain::broadcast::{MAX_TEXT_CHARS, TextError, check_text};
use crate::domain::wall_clock::{self, WallClock};
use crate::domain::{
    AppointmentId, AppointmentKind, AppointmentStatus, GroupId, Language, ParticipantId,
    ParticipantStatus, Phase, StaffId, UnitId,
};
use crate::engine::broadcasts::{Audience, BroadcastRequest, reply_line, with_reply_line};
use crate::engine::reads::Viewed;
use crate::error::Error;
use crate::store::broadcasts::Broadcast;
use crate::store::series::SeriesTarget;
use crate::store::{appointments, broadcasts, participants, ui_broadcasts, ui_participants, units};
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use rand::RngCore;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/broadcasts", get(list_page).post(compose_post))
        .route("/broadcasts/new", get(compose_page))
        .route("/broadcasts/{id}", get(status_page))
        .route("/broadcasts/{id}/cancel-activity", post(cancel_activity))
        .route("/groups", get(groups_page).post(create_group))
        .route("/groups/{id}", get(group_page))
        .route("/groups/{id}/members", post(add_member))
        .route("/groups/{id}/activity/new", get(activity_page))
        .route("/groups/{id}/activity", post(activity_post))
        .route("/groups/{id}/members/{pid}/remove", post(remove_member))
}

fn db_err(lang: Language) -> impl Fn(Error) -> UiError {
    move |e| UiError::from_engine(e, lang)
}

async fn conn(
    s: &AppState,
    lang: Language,
) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, UiError> {
    s.engine.db.conn().await.map_err(db_err(lang))
}

/// A group of the viewer's units, or 403 / 404.
async fn own_group(s: &AppState, me: &Me, id: i64) -> Result<(UnitId, String), UiError> {
    me.require(Action::Broadcast)?;
    let mut c = conn(s, me.lang).await?;
    let (unit, name) = broadcasts::group(&mut c, GroupId::from_db(id))
        .await
        .map_err(db_err(me.lang))?;
    if !access::in_unit(&me.viewer, unit) {
        return Err(UiError::forbidden(me.lang));
    }
    Ok((unit, name))
}

fn fresh_key() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    format!("ui-{}", hex::encode(b))
}

#[derive(Deserialize, Default)]
struct UnitQuery {
    unit: Option<String>,
    group: Option<String>,
}

// ---------------------------------------------------------------- compose

struct GroupOption {
    id: i64,
    name: String,
    members: i64,
    selected: bool,
}

struct ActivityOption {
    id: i64,
    label: String,
    selected: bool,
}

/// One language's preview.
struct LangPreview {
    lang_name: String,
    /// The coordinator's own text.
    text: String,
    /// The line added to it for members with an appointment of the
    /// activity, shown apart so nobody mistakes it for their own words.
    auto_line: Option<String>,
    /// Length and parts of what is sent: the text with the added line.
    check: Check,
}

#[derive(Deserialize, Default, Clone)]
struct ComposeForm {
    #[serde(default)]
    unit: String,
    /// `group` or `filter`.
    #[serde(default)]
    audience: String,
    #[serde(default)]
    group: String,
    /// The filter: each empty for any.
    #[serde(default)]
    status: String,
    #[serde(default)]
    lots: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    text_sv: String,
    #[serde(default)]
    text_en: String,
    #[serde(default)]
    when: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    urgent: Option<String>,
    #[serde(default)]
    activity: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    action: String,
}

#[derive(Template)]
#[template(path = "ui/broadcast_new.html")]
struct ComposePage {
    ui: Ui,
    units: Vec<UnitOption>,
    unit_id: i64,
    groups: Vec<GroupOption>,
    /// The filter's choices, "any" first.
    statuses: Vec<Opt>,
    lotsar: Vec<Opt>,
    phases: Vec<Opt>,
    /// The filter is chosen (else a group).
    by_filter: bool,
    activities: Vec<ActivityOption>,
    f: ComposeForm,
    later: bool,
    urgent: bool,
    previews: Vec<LangPreview>,
    error: Option<String>,
    /// The one limit of a text, in the textarea and in the server's check.
    max_chars: usize,
    text_limit: String,
    counter_template: String,
}

async fn compose(
    s: &AppState,
    me: &Me,
    sc: &Scope,
    f: ComposeForm,
    previews: Vec<LangPreview>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let unit = sc.unit.as_ref().ok_or_else(|| UiError::not_found(lang))?;
    let now = Utc::now();
    let mut c = conn(s, lang).await?;
    let rows = broadcasts::list_groups(&mut c, unit.id, now)
        .await
        .map_err(db_err(lang))?;
    let mut activities = Vec::new();
    for g in &rows {
        for (id, at) in ui_broadcasts::upcoming_activities(&mut c, g.id, now)
            .await
            .map_err(db_err(lang))?
        {
            activities.push(ActivityOption {
                id,
                label: format!("{}: {}", g.name, super::local_dt(lang, at, unit.time_zone)),
                selected: f.activity == id.to_string(),
            });
        }
    }
    let groups: Vec<GroupOption> = rows
        .into_iter()
        .map(|g| GroupOption {
            selected: f.group == g.id.get().to_string(),
            id: g.id.get(),
            name: g.name,
            members: g.members,
        })
        .collect();
    let any = |label_key: &str| Opt {
        value: String::new(),
        label: t(lang, label_key),
        selected: false,
    };
    let opts = |first: Opt, chosen: &str, items: Vec<(String, String)>| {
        std::iter::once(Opt {
            selected: chosen.is_empty(),
            ..first
        })
        .chain(items.into_iter().map(|(value, label)| Opt {
            selected: value == chosen,
            value,
            label,
        }))
        .collect::<Vec<_>>()
    };
    let statuses = opts(
        any("ui-broadcasts-filter-any"),
        &f.status,
        ParticipantStatus::ALL
            .iter()
            .map(|st| (st.as_str().to_string(), label(lang, "status", st)))
            .collect(),
    );
    let lotsar = ui_participants::active_lotsar(&mut c, Some(unit.id))
        .await
        .map_err(db_err(lang))?;
    let lotsar = opts(
        any("ui-broadcasts-filter-any"),
        &f.lots,
        lotsar
            .into_iter()
            .map(|l| (l.id.get().to_string(), l.name))
            .collect(),
    );
    let phases = participants::phases_in_unit(&mut c, unit.id)
        .await
        .map_err(db_err(lang))?;
    let phases = opts(
        any("ui-broadcasts-filter-any"),
        &f.phase,
        phases
            .into_iter()
            .map(|x| (x.as_str().to_string(), x.as_str().to_string()))
            .collect(),
    );
    let by_filter = f.audience == "filter" || groups.is_empty();
    let failed = error.is_some();
    Ok(render_refused(
        &ComposePage {
            ui: me.ui("/broadcasts/new"),
            units: unit_options(sc),
            unit_id: unit.id.get(),
            groups,
            statuses,
            lotsar,
            phases,
            by_filter,
            activities,
            later: f.when == "later",
            urgent: f.urgent.is_some(),
            f,
            previews,
            error,
            max_chars: MAX_TEXT_CHARS,
            text_limit: ta(
                lang,
                "ui-broadcasts-text-limit",
                &[("max", MAX_TEXT_CHARS.to_string())],
            ),
            counter_template: t(lang, "ui-broadcasts-counter"),
        },
        failed,
    ))
}

/// The unit scope of someone who may send broadcasts (403 otherwise).
async fn sender_scope(s: &AppState, me: &Me, unit: Option<&str>) -> Result<Scope, UiError> {
    me.require(Action::Broadcast)?;
    scope(s, me, unit, false).await
}

async fn compose_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<UnitQuery>,
) -> Result<Response, UiError> {
    let sc = sender_scope(&s, &me, q.unit.as_deref()).await?;
    let f = ComposeForm {
        key: fresh_key(),
        when: "now".into(),
        group: q.group.unwrap_or_default(),
        ..Default::default()
    };
    compose(&s, &me, &sc, f, Vec::new(), None).await
}

/// What a valid form asks for.
struct Parsed {
    audience: Audience,
    text_sv: String,
    text_en: String,
    send_at: Option<DateTime<Utc>>,
    activity: Option<AppointmentId>,
}

/// Reads the form; the reason in the viewer's language when wrong.
async fn parse_compose(
    s: &AppState,
    me: &Me,
    unit: UnitId,
    tz: Tz,
    f: &ComposeForm,
    now: DateTime<Utc>,
) -> Result<Result<Parsed, String>, UiError> {
    let lang = me.lang;
    let (audience, g_name) = if f.audience == "filter" {
        match parse_filter(s, lang, unit, f).await? {
            Ok(a) => (a, None),
            Err(e) => return Ok(Err(e)),
        }
    } else {
        let Ok(gid) = f.group.trim().parse::<i64>() else {
            return Ok(Err(t(lang, "ui-broadcasts-error-group")));
        };
        let (g_unit, g_name) = own_group(s, me, gid).await?;
        if g_unit != unit {
            return Err(UiError::forbidden(lang));
        }
        (Audience::Group(GroupId::from_db(gid)), Some(g_name))
    };
    let forbidden: Vec<&str> = g_name.as_deref().into_iter().collect();
    let mut texts_ok = Vec::new();
    for (text, code) in [(&f.text_sv, "sv"), (&f.text_en, "en")] {
        let which = t(lang, &format!("ui-broadcasts-text-{code}"));
        let e = match check_text(text, &forbidden) {
            Ok(t) => {
                texts_ok.push(t);
                continue;
            }
            Err(TextError::Empty) => t(lang, &format!("ui-broadcasts-error-empty-{code}")),
            Err(TextError::NamesGroup) => t(lang, "ui-broadcasts-error-group-name"),
            Err(TextError::TooLong { chars }) => ta(
                lang,
                "ui-broadcasts-error-too-long",
                &[
                    ("text", which),
                    ("chars", chars.to_string()),
                    ("max", MAX_TEXT_CHARS.to_string()),
                ],
            ),
            Err(TextError::ControlChars) => {
                ta(lang, "ui-broadcasts-error-control", &[("text", which)])
            }
        };
        return Ok(Err(e));
    }
    let send_at = if f.when == "later" {
        let d = NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d");
        let tm = NaiveTime::parse_from_str(f.time.trim(), "%H:%M");
        let (Ok(d), Ok(tm)) = (d, tm) else {
            return Ok(Err(t(lang, "ui-broadcasts-error-when")));
        };
        // A time the clocks skip or repeat is refused with the reason
        // (`domain::wall_clock`), never moved without a word.
        let said = [
            ("time", tm.format("%H:%M").to_string()),
            ("date", d.format("%Y-%m-%d").to_string()),
        ];
        let at = match wall_clock::resolve(d.and_time(tm), tz, None) {
            WallClock::At(at) => at,
            WallClock::Gap { .. } => {
                return Ok(Err(ta(lang, "ui-broadcasts-error-dst-gap", &said)));
            }
            WallClock::Ambiguous { .. } => {
                return Ok(Err(ta(lang, "ui-broadcasts-error-dst-repeated", &said)));
            }
        };
        if at < now {
            return Ok(Err(t(lang, "ui-broadcasts-error-past")));
        }
        Some(at)
    } else {
        None
    };
    let activity = match f.activity.trim() {
        "" => None,
        a => match a.parse::<i64>() {
            Ok(id) => Some(AppointmentId::from_db(id)),
            Err(_) => return Ok(Err(t(lang, "ui-broadcasts-error-activity"))),
        },
    };
    let mut it = texts_ok.into_iter();
    Ok(Ok(Parsed {
        audience,
        text_sv: it.next().unwrap_or_default(),
        text_en: it.next().unwrap_or_default(),
        send_at,
        activity,
    }))
}

/// The filter audience: the unit's participants, narrowed by status, lots
/// (one of the unit's) and phase (one in use in the unit).
async fn parse_filter(
    s: &AppState,
    lang: Language,
    unit: UnitId,
    f: &ComposeForm,
) -> Result<Result<Audience, String>, UiError> {
    let bad = || Ok(Err(t(lang, "ui-broadcasts-error-filter")));
    let status = match f.status.trim() {
        "" => None,
        x => match x.parse::<ParticipantStatus>() {
            Ok(st) => Some(st),
            Err(_) => return bad(),
        },
    };
    let mut c = conn(s, lang).await?;
    let lots = match f.lots.trim() {
        "" => None,
        x => {
            let known = ui_participants::active_lotsar(&mut c, Some(unit))
                .await
                .map_err(db_err(lang))?;
            match known.into_iter().find(|l| l.id.get().to_string() == x) {
                Some(l) => Some(l.id),
                None => return bad(),
            }
        }
    };
    let phase = match f.phase.trim() {
        "" => None,
        x => match x.parse::<Phase>() {
            Ok(ph) => Some(ph),
            Err(_) => return bad(),
        },
    };
    Ok(Ok(Audience::Filter {
        unit,
        status,
        lots,
        phase,
    }))
}

fn previews(p: &Parsed, ui_lang: Language) -> Vec<LangPreview> {
    [(Language::Sv, &p.text_sv), (Language::En, &p.text_en)]
        .into_iter()
        .map(|(l, text)| {
            let asks = p.activity.is_some();
            LangPreview {
                lang_name: t(ui_lang, &format!("ui-broadcasts-lang-{}", l.as_str())),
                check: check(&with_reply_line(text, l, asks)),
                auto_line: reply_line(text, l, asks),
                text: text.clone(),
            }
        })
        .collect()
}

async fn compose_post(
    State(s): State<AppState>,
    p: Posted<ComposeForm>,
) -> Result<Response, UiError> {
    let (me, mut f) = (p.me, p.form);
    me.require(Action::Broadcast)?;
    let lang = me.lang;
    let sc = scope(&s, &me, Some(&f.unit), false).await?;
    let unit = sc.unit.clone().ok_or_else(|| UiError::not_found(lang))?;
    if f.key.trim().is_empty() {
        f.key = fresh_key();
    }
    let now = Utc::now();
    let parsed = match parse_compose(&s, &me, unit.id, unit.time_zone, &f, now).await? {
        Ok(p) => p,
        Err(e) => return compose(&s, &me, &sc, f, Vec::new(), Some(e)).await,
    };
    if f.action != "send" {
        let pv = previews(&parsed, lang);
        return compose(&s, &me, &sc, f, pv, None).await;
    }
    let req = BroadcastRequest {
        audience: parsed.audience,
        text_sv: parsed.text_sv,
        text_en: parsed.text_en,
        send_at: parsed.send_at,
        urgent: f.urgent.is_some(),
        activity: parsed.activity,
        key: Some(f.key.clone()),
    };
    match s.engine.plan_broadcast(&req, &me.actor(), now).await {
        Ok(planned) => Ok(see_other(&format!("/broadcasts/{}", planned.broadcast.id))),
        Err(Error::Invalid(m)) | Err(Error::Conflict(m)) => {
            compose(&s, &me, &sc, f, Vec::new(), Some(m)).await
        }
        Err(Error::NotFound(_)) => {
            let m = t(lang, "ui-broadcasts-error-activity");
            compose(&s, &me, &sc, f, Vec::new(), Some(m)).await
        }
        Err(e) => Err(UiError::from_engine(e, lang)),
    }
}

// ---------------------------------------------------------------- status

/// A member in the tally: a link to their case record and, for those to
/// phone, their number.
struct Member {
    id: i64,
    first_name: String,
    phone: Option<String>,
    reason: Option<String>,
}

/// The tally by name.
#[derive(Default)]
struct Named {
    coming: Vec<Member>,
    cannot: Vec<Member>,
    no_answer: Vec<Member>,
    not_delivered: Vec<Member>,
}

#[derive(Template)]
#[template(path = "ui/broadcast.html")]
struct StatusPage {
    ui: Ui,
    id: i64,
    group: Option<(i64, String)>,
    /// A filter broadcast's audience in words.
    filter: Option<String>,
    send_at: String,
    urgent: bool,
    activity_at: Option<String>,
    /// The activity is cancelled.
    activity_cancelled: bool,
    /// The activity can still be cancelled from here (not cancelled, not
    /// begun).
    can_cancel: bool,
    /// After a cancellation: what happened, in words.
    notice: Option<String>,
    error: Option<String>,
    text_sv: String,
    text_en: String,
    /// The reply line added to each text, when the broadcast asked.
    auto_sv: Option<String>,
    auto_en: Option<String>,
    st: crate::engine::broadcasts::BroadcastStatus,
    skipped: Vec<(String, i64)>,
    named: Named,
}

#[derive(Deserialize, Default)]
struct StatusQuery {
    /// Set after a cancellation: appointments cancelled, people told.
    cancelled: Option<i64>,
    notified: Option<i64>,
}

async fn status_page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<i64>,
    Query(q): Query<StatusQuery>,
) -> Result<Response, UiError> {
    me.require(Action::Broadcast)?;
    let notice = match (q.cancelled, q.notified) {
        (Some(c), Some(n)) => Some(ta(
            me.lang,
            "ui-broadcasts-activity-cancelled-notice",
            &[("cancelled", c.to_string()), ("notified", n.to_string())],
        )),
        _ => None,
    };
    status(&s, &me, id, notice, None).await
}

/// A broadcast the viewer may see: the broadcast, 403 outside their unit.
async fn own_broadcast(s: &AppState, me: &Me, id: i64) -> Result<Broadcast, UiError> {
    let mut c = conn(s, me.lang).await?;
    let b = broadcasts::get(&mut c, id).await.map_err(db_err(me.lang))?;
    if !access::in_unit(&me.viewer, b.unit_id) {
        return Err(UiError::forbidden(me.lang));
    }
    Ok(b)
}

/// The status page: progress, tally, texts, and the activity's cancel form.
async fn status(
    s: &AppState,
    me: &Me,
    id: i64,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let b = own_broadcast(s, me, id).await?;
    let mut c = conn(s, lang).await?;
    let unit = units::get(&mut c, b.unit_id).await.map_err(db_err(lang))?;
    let tz = unit.time_zone;
    let st = s.engine.broadcast_status(id).await.map_err(db_err(lang))?;
    let group = match b.group_id {
        Some(g) => {
            let (_, name) = broadcasts::group(&mut c, g).await.map_err(db_err(lang))?;
            Some((g.get(), name))
        }
        None => None,
    };
    let now = Utc::now();
    let (activity_at, activity_cancelled, can_cancel) = match b.appointment_id {
        Some(a) => {
            let a = appointments::get(&mut c, a).await.map_err(db_err(lang))?;
            let cancelled = a.status == AppointmentStatus::Cancelled;
            (
                Some(super::local_dt(lang, a.starts_at, tz)),
                cancelled,
                !cancelled && a.starts_at > now,
            )
        }
        None => (None, false, false),
    };
    let filter = match &b.filter {
        Some(f) => Some(filter_words(&mut c, lang, f).await?),
        None => None,
    };
    let (text_sv, text_en) = ui_broadcasts::texts(&mut c, id)
        .await
        .map_err(db_err(lang))?;
    drop(c);
    // The tally names members, their reasons and numbers: every view is
    // audited.
    let hidden = &me.hidden;
    let named = s
        .engine
        .read_audited(&me.actor(), now, async |c| {
            let mut named = Named::default();
            if let Some(tl) = &st.tally {
                let member = async |c: &mut crate::store::Conn, id, reason| {
                    let p = participants::get(c, id).await?;
                    Ok::<_, crate::error::Error>(Member {
                        id: p.id.get(),
                        first_name: p.first_name,
                        phone: p.phone.map(|x| x.as_e164().to_string()),
                        reason,
                    })
                };
                // Protected participants the viewer is not named for are
                // counted, never named.
                let shown = |id: &crate::domain::ParticipantId| !hidden.contains(id);
                for id in tl.coming.iter().filter(|i| shown(i)) {
                    named.coming.push(member(&mut *c, *id, None).await?);
                }
                for x in tl.cannot.iter().filter(|x| shown(&x.participant_id)) {
                    let m = member(&mut *c, x.participant_id, x.reason.clone()).await?;
                    named.cannot.push(m);
                }
                for id in tl.no_answer.iter().filter(|i| shown(i)) {
                    named.no_answer.push(member(&mut *c, *id, None).await?);
                }
                for id in tl.not_delivered.iter().filter(|i| shown(i)) {
                    named.not_delivered.push(member(&mut *c, *id, None).await?);
                }
            }
            Ok((
                named,
                Viewed::new("broadcast.view", format!("broadcast:{id}")),
            ))
        })
        .await
        .map_err(db_err(lang))?;
    let skipped = st
        .skipped
        .iter()
        .map(|(k, n)| (skip_label(lang, k), *n))
        .collect();
    let failed = error.is_some();
    Ok(render_refused(
        &StatusPage {
            ui: me.ui("/broadcasts"),
            id,
            group,
            filter,
            send_at: super::local_dt(lang, b.send_at, tz),
            urgent: b.urgent,
            activity_at,
            activity_cancelled,
            can_cancel,
            notice,
            error,
            auto_sv: reply_line(&text_sv, Language::Sv, b.appointment_id.is_some()),
            auto_en: reply_line(&text_en, Language::En, b.appointment_id.is_some()),
            text_sv,
            text_en,
            st,
            skipped,
            named,
        },
        failed,
    ))
}

/// A filter broadcast's audience in words: "status aktiv, lots Anna,
/// programfas Praktik" (what was stored when it was planned).
async fn filter_words(
    c: &mut crate::store::Conn,
    lang: Language,
    f: &serde_json::Value,
) -> Result<String, UiError> {
    let mut parts = Vec::new();
    if let Some(st) = f["status"].as_str() {
        parts.push(format!(
            "{} {}",
            t(lang, "ui-broadcasts-filter-status"),
            label(lang, "status", st)
        ));
    }
    if let Some(l) = f["lots"].as_i64() {
        let name = ui_participants::staff_name(c, StaffId::from_db(l))
            .await
            .map_err(db_err(lang))?
            .unwrap_or_else(|| format!("#{l}"));
        parts.push(format!("{} {name}", t(lang, "ui-broadcasts-filter-lots")));
    }
    if let Some(ph) = f["phase"].as_str() {
        parts.push(format!("{} {ph}", t(lang, "ui-broadcasts-filter-phase")));
    }
    if parts.is_empty() {
        parts.push(t(lang, "ui-broadcasts-filter-any"));
    }
    Ok(ta(
        lang,
        "ui-broadcasts-audience-filtered",
        &[("filter", parts.join(", "))],
    ))
}

#[derive(Deserialize, Default)]
struct CancelActivityForm {
    confirm: Option<String>,
}

/// Cancels the broadcast's activity for every member (`Engine::
/// cancel_activity`): only after the box is ticked, since it sends a
/// message to everyone who was told about it.
async fn cancel_activity(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<CancelActivityForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::Broadcast)?;
    let lang = me.lang;
    let b = own_broadcast(&s, &me, id).await?;
    let Some(activity) = b.appointment_id else {
        return Err(UiError::not_found(lang));
    };
    if f.confirm.is_none() {
        let e = t(lang, "ui-broadcasts-cancel-activity-confirm-missing");
        return status(&s, &me, id, None, Some(e)).await;
    }
    let mut c = conn(&s, lang).await?;
    let a = appointments::get(&mut c, activity)
        .await
        .map_err(db_err(lang))?;
    drop(c);
    let now = Utc::now();
    if a.status == AppointmentStatus::Cancelled || a.starts_at <= now {
        let e = t(lang, "ui-broadcasts-cancel-activity-too-late");
        return status(&s, &me, id, None, Some(e)).await;
    }
    let r = s
        .engine
        .cancel_activity(activity, &me.actor(), now)
        .await
        .map_err(|e| UiError::from_engine(e, lang))?;
    Ok(see_other(&format!(
        "/broadcasts/{id}?cancelled={}&notified={}",
        r.appointments_cancelled, r.notified
    )))
}

/// A skip reason in words, the code itself when unknown.
fn skip_label(lang: Language, code: &str) -> String {
    const KNOWN: [&str; 7] = [
        "erased",
        "no_consent",
        "paused",
        "in_custody",
        "discharged",
        "opted_out",
        "unreachable",
    ];
    if KNOWN.contains(&code) {
        t(lang, &format!("ui-broadcasts-skip-{code}"))
    } else {
        code.to_string()
    }
}

// ---------------------------------------------------------------- list

struct ListItem {
    id: i64,
    at: String,
    group: String,
    words: String,
    recipients: i64,
    gone: i64,
    failed: i64,
}

#[derive(Template)]
#[template(path = "ui/broadcasts.html")]
struct ListPage {
    ui: Ui,
    units: Vec<UnitOption>,
    unit_id: i64,
    unit_name: String,
    items: Vec<ListItem>,
}

/// The first words of a text, at most about 60 characters.
fn first_words(text: &str) -> String {
    let mut out = String::new();
    for w in text.split_whitespace() {
        if out.chars().count() + w.chars().count() > 60 {
            out.push('…');
            return out;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

async fn list_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<UnitQuery>,
) -> Result<Response, UiError> {
    me.require(Action::Broadcast)?;
    let lang = me.lang;
    let sc = scope(&s, &me, q.unit.as_deref(), false).await?;
    let unit = sc.unit.clone().ok_or_else(|| UiError::not_found(lang))?;
    let mut c = conn(&s, lang).await?;
    let rows = ui_broadcasts::list(&mut c, unit.id, 200)
        .await
        .map_err(db_err(lang))?;
    let items = rows
        .into_iter()
        .map(|r| ListItem {
            id: r.id,
            at: super::local_dt(lang, r.send_at, unit.time_zone),
            group: r
                .group_name
                .unwrap_or_else(|| t(lang, "ui-broadcasts-list-filter")),
            words: first_words(&r.text_sv),
            recipients: r.recipients,
            gone: r.gone,
            failed: r.failed,
        })
        .collect();
    Ok(render(&ListPage {
        ui: me.ui("/broadcasts"),
        units: unit_options(&sc),
        unit_id: unit.id.get(),
        unit_name: unit.name.clone(),
        items,
    }))
}

// ---------------------------------------------------------------- groups

#[derive(Template)]
#[template(path = "ui/groups.html")]
struct GroupsPage {
    ui: Ui,
    units: Vec<UnitOption>,
    unit_id: i64,
    unit_name: String,
    groups: Vec<GroupOption>,
    name: String,
    error: Option<String>,
}

async fn groups_list(
    s: &AppState,
    me: &Me,
    sc: &Scope,
    name: String,
    error: Option<String>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let unit = sc.unit.clone().ok_or_else(|| UiError::not_found(lang))?;
    let mut c = conn(s, lang).await?;
    let groups = broadcasts::list_groups(&mut c, unit.id, Utc::now())
        .await
        .map_err(db_err(lang))?
        .into_iter()
        .map(|g| GroupOption {
            id: g.id.get(),
            name: g.name,
            members: g.members,
            selected: false,
        })
        .collect();
    let failed = error.is_some();
    Ok(render_refused(
        &GroupsPage {
            ui: me.ui("/groups"),
            units: unit_options(sc),
            unit_id: unit.id.get(),
            unit_name: unit.name.clone(),
            groups,
            name,
            error,
        },
        failed,
    ))
}

async fn groups_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<UnitQuery>,
) -> Result<Response, UiError> {
    let sc = sender_scope(&s, &me, q.unit.as_deref()).await?;
    groups_list(&s, &me, &sc, String::new(), None).await
}

#[derive(Deserialize)]
struct GroupForm {
    #[serde(default)]
    unit: String,
    #[serde(default)]
    name: String,
}

async fn create_group(
    State(s): State<AppState>,
    p: Posted<GroupForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let sc = sender_scope(&s, &me, Some(&f.unit)).await?;
    let unit = sc.unit.clone().ok_or_else(|| UiError::not_found(me.lang))?;
    match s
        .engine
        .create_group(unit.id, &f.name, &me.actor(), Utc::now())
        .await
    {
        Ok(id) => Ok(see_other(&format!("/groups/{id}?done=created"))),
        Err(Error::Invalid(_)) => {
            let e = t(me.lang, "ui-broadcasts-group-name-invalid");
            groups_list(&s, &me, &sc, f.name, Some(e)).await
        }
        Err(Error::Conflict(_)) => {
            let e = t(me.lang, "ui-broadcasts-group-name-taken");
            groups_list(&s, &me, &sc, f.name, Some(e)).await
        }
        Err(e) => Err(UiError::from_engine(e, me.lang)),
    }
}

struct MemberRow {
    id: i64,
    first_name: String,
}

#[derive(Template)]
#[template(path = "ui/group.html")]
struct GroupPage {
    ui: Ui,
    id: i64,
    name: String,
    unit_id: i64,
    members: Vec<MemberRow>,
    candidates: Vec<MemberRow>,
    /// The next occurrences of the group's activities, local time.
    activities: Vec<String>,
    /// What the last form changed ("Sara är med i gruppen.").
    notice: Option<String>,
}

/// What a group form just did, for the confirmation on the group page.
#[derive(Deserialize)]
struct GroupQuery {
    #[serde(default)]
    done: Option<String>,
    /// The participant added or removed.
    #[serde(default)]
    who: Option<i64>,
}

async fn group_page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<i64>,
    Query(q): Query<GroupQuery>,
) -> Result<Response, UiError> {
    let (unit, name) = own_group(&s, &me, id).await?;
    let lang = me.lang;
    let members: Vec<MemberRow> = s
        .engine
        .group_members(GroupId::from_db(id), Utc::now())
        .await
        .map_err(db_err(lang))?
        .into_iter()
        .map(|m| MemberRow {
            id: m.participant_id.get(),
            first_name: m.first_name,
        })
        .collect();
    let mut c = conn(&s, lang).await?;
    let candidates = participants::list(&mut c, Some(unit))
        .await
        .map_err(db_err(lang))?
        .into_iter()
        .filter(|p| !p.erased && !members.iter().any(|m| m.id == p.id.get()))
        .map(|p| MemberRow {
            id: p.id.get(),
            first_name: p.first_name,
        })
        .collect();
    let tz = units::get(&mut c, unit)
        .await
        .map_err(db_err(lang))?
        .time_zone;
    let activities = ui_broadcasts::upcoming_activities(&mut c, GroupId::from_db(id), Utc::now())
        .await
        .map_err(db_err(lang))?
        .into_iter()
        .take(5)
        .map(|(_, at)| super::local_dt(lang, at, tz))
        .collect();
    // The name of the participant a form added or removed, read back from
    // this unit only.
    let who = match q.who {
        Some(pid) => participants::get(&mut c, ParticipantId::from_db(pid))
            .await
            .ok()
            .filter(|p| p.unit_id == unit)
            .map(|p| p.first_name),
        None => None,
    };
    let notice = match (q.done.as_deref(), who) {
        (Some("created"), _) => Some(t(lang, "ui-broadcasts-group-created")),
        (Some("added"), Some(n)) => Some(ta(lang, "ui-broadcasts-member-added", &[("name", n)])),
        (Some("removed"), Some(n)) => {
            Some(ta(lang, "ui-broadcasts-member-removed", &[("name", n)]))
        }
        (Some("activity"), _) => Some(t(lang, "ui-broadcasts-activity-created")),
        _ => None,
    };
    Ok(render(&GroupPage {
        ui: me.ui("/groups"),
        id,
        name,
        unit_id: unit.get(),
        members,
        candidates,
        activities,
        notice,
    }))
}

/// The series form for a group's recurring activity.
async fn activity_owner(s: &AppState, me: &Me, id: i64) -> Result<SeriesOwner, UiError> {
    let (unit, name) = own_group(s, me, id).await?;
    let mut c = conn(s, me.lang).await?;
    let tz = units::get(&mut c, unit)
        .await
        .map_err(db_err(me.lang))?
        .time_zone;
    Ok(SeriesOwner {
        title: format!("{}: {name}", t(me.lang, "ui-broadcasts-activity-new")),
        action: format!("/groups/{id}/activity"),
        back: format!("/groups/{id}"),
        back_label: t(me.lang, "ui-broadcasts-back-to-group"),
        tz,
        kinds: &[AppointmentKind::GroupActivity],
        target: SeriesTarget::Group(GroupId::from_db(id)),
    })
}

async fn activity_page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<i64>,
) -> Result<Response, UiError> {
    let owner = activity_owner(&s, &me, id).await?;
    Ok(new_series_page(
        &me,
        &owner,
        AppointmentKind::GroupActivity,
        90,
    ))
}

/// "Förhandsgranska" shows the next ten dates; "Skapa" makes the series,
/// and each current member gets their own appointments of it.
async fn activity_post(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    f: Posted<SeriesForm>,
) -> Result<Response, UiError> {
    let (me, f) = (f.me, f.form);
    let owner = activity_owner(&s, &me, id).await?;
    if let Some(page) = series_submit(&s, &me, &owner, f).await? {
        return Ok(page);
    }
    Ok(see_other(&format!("/groups/{id}?done=activity")))
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    participant: String,
}

async fn add_member(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<MemberForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let (unit, _) = own_group(&s, &me, id).await?;
    let pid = f
        .participant
        .trim()
        .parse::<i64>()
        .map(ParticipantId::from_db)
        .map_err(|_| UiError::not_found(me.lang))?;
    let mut c = conn(&s, me.lang).await?;
    let part = participants::get(&mut c, pid)
        .await
        .map_err(db_err(me.lang))?;
    drop(c);
    if part.unit_id != unit {
        return Err(UiError::forbidden(me.lang));
    }
    s.engine
        .add_group_member(GroupId::from_db(id), pid, &me.actor(), Utc::now())
        .await
        .map_err(db_err(me.lang))?;
    Ok(see_other(&format!("/groups/{id}?done=added&who={pid}")))
}

async fn remove_member(
    State(s): State<AppState>,
    Path((id, pid)): Path<(i64, i64)>,
    p: Posted<std::collections::HashMap<String, String>>,
) -> Result<Response, UiError> {
    let me = p.me;
    own_group(&s, &me, id).await?;
    s.engine
        .remove_group_member(
            GroupId::from_db(id),
            ParticipantId::from_db(pid),
            &me.actor(),
            Utc::now(),
        )
        .await
        .map_err(db_err(me.lang))?;
    Ok(see_other(&format!("/groups/{id}?done=removed&who={pid}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_words_stop_before_sixty_characters() {
        assert_eq!(first_words("Hej  alla\nses"), "Hej alla ses");
        let long = "ord ".repeat(30);
        let w = first_words(&long);
        assert!(w.ends_with('…'));
        assert!(w.chars().count() <= 61);
    }
}
