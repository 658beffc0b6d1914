//! Participants: the list a viewer may see, adding a participant, the case
//! record page with its settings and Telegram link code
//! ([`case`]), its timeline ([`timeline`]), the messages sent and received
//! as a chat ([`messages`]), and booking, moving and
//! cancelling appointments and series ([`appointments`]).
//!
//! Who sees what is `domain::access`: a lots their own caseload, a
//! coordinator their unit, an admin everything, an assistant their unit's
//! names, numbers and times only. Every handler that touches one
//! participant asks [`super::case`] first, so another lots's participant is
//! 403 (audited as `case.denied`) for every route, GET or POST.

pub(crate) mod appointments;
mod case;
pub(in crate::web::ui) use case::{Saved, saved_url};
mod edit;
mod messages;
mod timeline;

use super::{
    Me, Posted, Ui, UiError, engine_err, local_date, render, render_refused, see_other, t,
};
use crate::domain::access::{Action, CaseAccess};
use crate::domain::{
    ChannelKind, ChannelSet, Language, ParticipantStatus, PhoneNumber, Role, StaffId, UnitId,
    phone::PhoneError,
};
use crate::engine::Actor;
use crate::store::participants::{NewParticipant, parse_first_name};
use crate::store::ui_participants::{self as store, LotsOption};
use crate::store::units;
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::fmt::Display;
use std::str::FromStr;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/participants", get(list_page).post(create))
        .route("/participants/new", get(new_page))
        .merge(case::router())
        .merge(edit::router())
        .merge(messages::router())
        .merge(appointments::router())
}

/// An id from the path; anything else is "not found".
fn parse_id<T: FromStr>(s: &str, lang: Language) -> Result<T, UiError> {
    s.parse().map_err(|_| UiError::not_found(lang))
}

/// The label of a closed-vocabulary value: `ui-participants-<what>-<value>`;
/// a value without one (written by a newer version) as it is stored.
pub(crate) fn label(lang: Language, what: &str, value: impl Display) -> String {
    let key = format!("ui-participants-{what}-{value}");
    let text = t(lang, &key);
    if text.starts_with("Unknown localization key") {
        value.to_string()
    } else {
        text
    }
}

/// One `<option>`.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The options of a select over a closed vocabulary.
fn options<T: Copy + Display + PartialEq>(
    lang: Language,
    what: &str,
    all: &[T],
    selected: Option<T>,
) -> Vec<Opt> {
    all.iter()
        .map(|v| Opt {
            value: v.to_string(),
            label: label(lang, what, v),
            selected: Some(*v) == selected,
        })
        .collect()
}

/// "tis 8 dec", or "tis 16 mar 2027" when not this year: local, with the
/// weekday, like [`super::local_date`], but a consent's expiry or a series
/// next spring needs its year.
pub fn day(lang: Language, at: DateTime<Utc>, tz: Tz) -> String {
    let date = local_date(lang, at, tz);
    let year = at.with_timezone(&tz).year();
    if year == Utc::now().with_timezone(&tz).year() {
        date
    } else {
        format!("{date} {year}")
    }
}

/// "tis 8 dec 09:00", or "tis 16 mar 2027 09:00" when not this year.
pub fn when(lang: Language, at: DateTime<Utc>, tz: Tz) -> String {
    format!(
        "{} {}",
        day(lang, at, tz),
        at.with_timezone(&tz).format("%H:%M")
    )
}

/// The badge colour class of a status.
fn status_class(s: ParticipantStatus) -> &'static str {
    match s {
        ParticipantStatus::Active => "ok",
        ParticipantStatus::Paused => "warn",
        ParticipantStatus::InCustody | ParticipantStatus::Discharged => "",
    }
}

// ---------------------------------------------------------------- the list

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

struct ListRow {
    href: String,
    name: String,
    phone: String,
    status: String,
    status_class: &'static str,
    lots: String,
}

#[derive(Template)]
#[template(path = "ui/participants.html")]
struct ListPage {
    ui: Ui,
    rows: Vec<ListRow>,
    q: String,
    statuses: Vec<Opt>,
    /// Assistants: names and numbers only.
    contact_only: bool,
    may_add: bool,
    filtered: bool,
}

async fn list_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<ListQuery>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    // Which rows to read; the access rule below has the last word.
    let scope = match me.staff.role {
        Role::Admin => Some((None, None)),
        Role::Lots => Some((None, Some(me.staff.id))),
        Role::Coordinator | Role::Assistant => me.viewer.unit.map(|u| (Some(u), None)),
        Role::Reviewer => None,
    };
    let rows = match scope {
        Some((unit, lots)) => {
            let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
            store::list(&mut c, unit, lots)
                .await
                .map_err(engine_err(lang))?
        }
        None => vec![],
    };
    let contact_only = me.staff.role == Role::Assistant;
    let needle =
        q.q.as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_lowercase);
    // Assistants do not see status, so they cannot filter by it either.
    let status: Option<ParticipantStatus> = q
        .status
        .as_deref()
        .and_then(|x| x.parse().ok())
        .filter(|_| !contact_only);
    let rows: Vec<ListRow> = rows
        .into_iter()
        .filter(|r| me.access_to(r.id, r.unit_id, r.lots_id) != CaseAccess::None)
        .filter(|r| {
            needle
                .as_ref()
                .is_none_or(|n| r.first_name.to_lowercase().contains(n))
        })
        .filter(|r| status.is_none_or(|st| r.status == st))
        .map(|r| ListRow {
            href: format!("/participants/{}", r.id),
            name: r.first_name,
            phone: r
                .phone
                .map(|p| p.as_e164().to_string())
                .unwrap_or_else(|| "–".into()),
            status: label(lang, "status", r.status),
            status_class: status_class(r.status),
            lots: r.lots_name.unwrap_or_else(|| "–".into()),
        })
        .collect();
    Ok(render(&ListPage {
        ui: me.ui("/participants"),
        rows,
        q: q.q.unwrap_or_default(),
        statuses: options(lang, "status", ParticipantStatus::ALL, status),
        contact_only,
        may_add: me.may(Action::AddParticipant),
        filtered: needle.is_some() || status.is_some(),
    }))
}

// ------------------------------------------------------- a new participant

#[derive(Deserialize, Default)]
struct NewForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    channel: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    discreet: Option<String>,
    #[serde(default)]
    consent: Vec<String>,
    #[serde(default)]
    lots: String,
}

/// Field errors of a form, by field name.
#[derive(Default)]
pub struct Errors(Vec<(&'static str, String)>);

impl Errors {
    pub fn add(&mut self, field: &'static str, message: String) {
        self.0.push((field, message));
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The first-name field, as at creation and on the edit form: a form
/// error in the viewer's language when it is not a usable name.
pub(crate) fn first_name_field(lang: Language, typed: &str, errors: &mut Errors) -> Option<String> {
    parse_first_name(typed)
        .map_err(|_| errors.add("first_name", t(lang, "ui-participants-error-first-name")))
        .ok()
}

/// The phone field, as at creation and on the edit form: empty is no
/// number (`Some(None)`); anything else must be a mobile number
/// ([`PhoneNumber::parse_mobile`]), else a form error in the viewer's
/// language saying why (`None`).
pub(crate) fn phone_field(
    lang: Language,
    typed: &str,
    errors: &mut Errors,
) -> Option<Option<PhoneNumber>> {
    match typed.trim() {
        "" => Some(None),
        typed => PhoneNumber::parse_mobile(typed)
            .map_err(|e| errors.add("phone", phone_error(lang, &e)))
            .ok()
            .map(Some),
    }
}

/// Why a number was refused, in the viewer's language (the parser's own
/// message is English and for logs).
fn phone_error(lang: Language, e: &PhoneError) -> String {
    let why = match e {
        PhoneError::NotADigit(_) => Some("ui-participants-error-phone-characters"),
        PhoneError::NotMobile { .. } => Some("ui-participants-error-phone-not-mobile"),
        PhoneError::Empty | PhoneError::Unparseable(_) | PhoneError::Invalid(_) => None,
    };
    let base = t(lang, "ui-participants-error-phone");
    match why {
        Some(key) => format!("{base} {}", t(lang, key)),
        None => base,
    }
}

#[derive(Template)]
#[template(path = "ui/participant_new.html")]
struct NewPage {
    ui: Ui,
    form: NewForm,
    errors: Errors,
    languages: Vec<Opt>,
    channels: Vec<Opt>,
    /// Coordinators and admins pick the lots; a lots is it.
    lotsar: Option<Vec<Opt>>,
    consent_sms: bool,
    consent_telegram: bool,
}

impl NewPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

/// The lotsar `me` may make responsible for a new participant: none for a
/// lots (they are it), their unit's for a coordinator, all for an admin.
async fn lotsar_for(s: &AppState, me: &Me) -> Result<Option<Vec<LotsOption>>, UiError> {
    let unit = match me.staff.role {
        Role::Admin => None,
        Role::Coordinator => me.viewer.unit,
        _ => return Ok(None),
    };
    let mut c = s.engine.db.conn().await.map_err(engine_err(me.lang))?;
    Ok(Some(
        store::active_lotsar(&mut c, unit)
            .await
            .map_err(engine_err(me.lang))?,
    ))
}

fn new_page_for(
    me: &Me,
    form: NewForm,
    errors: Errors,
    lotsar: Option<Vec<LotsOption>>,
) -> NewPage {
    let lang = me.lang;
    let language = form.language.parse().ok();
    let channel = form.channel.parse().ok();
    let several_units = lotsar.as_ref().is_some_and(|l| {
        l.iter()
            .any(|o| Some(o.unit_id) != l.first().map(|f| f.unit_id))
    });
    let lotsar = lotsar.map(|l| {
        l.into_iter()
            .map(|o| Opt {
                selected: form.lots == o.id.to_string(),
                value: o.id.to_string(),
                label: if several_units {
                    format!("{} ({})", o.name, o.unit_name)
                } else {
                    o.name
                },
            })
            .collect()
    });
    let consent: ChannelSet = form.consent.join(",").parse().unwrap_or_default();
    NewPage {
        ui: me.ui("/participants/new"),
        languages: options(lang, "language", Language::ALL, language),
        channels: options(lang, "channel", ChannelKind::ALL, channel),
        lotsar,
        consent_sms: consent.sms,
        consent_telegram: consent.telegram,
        form,
        errors,
    }
}

async fn new_page(State(s): State<AppState>, me: Me) -> Result<Response, UiError> {
    me.require(Action::AddParticipant)?;
    let lotsar = lotsar_for(&s, &me).await?;
    let form = NewForm {
        discreet: Some("on".into()),
        ..NewForm::default()
    };
    Ok(render(&new_page_for(&me, form, Errors::default(), lotsar)))
}

async fn create(State(s): State<AppState>, p: Posted<NewForm>) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::AddParticipant)?;
    let lang = me.lang;
    let lotsar = lotsar_for(&s, &me).await?;
    let mut errors = Errors::default();
    let first_name = first_name_field(lang, &f.first_name, &mut errors);
    let phone = phone_field(lang, &f.phone, &mut errors).flatten();
    let language: Language = f.language.parse().unwrap_or(Language::Sv);
    let channel: ChannelKind = f.channel.parse().unwrap_or(ChannelKind::Sms);
    let consent: Option<ChannelSet> = f
        .consent
        .join(",")
        .parse()
        .map_err(|_| errors.add("consent", t(lang, "ui-participants-error-consent")))
        .ok();
    let (unit, lots): (Option<UnitId>, Option<StaffId>) = match &lotsar {
        None => (me.viewer.unit, Some(me.staff.id)),
        Some(list) => match list.iter().find(|o| o.id.to_string() == f.lots) {
            Some(o) => (Some(o.unit_id), Some(o.id)),
            None => {
                errors.add("lots", t(lang, "ui-participants-error-lots"));
                (None, None)
            }
        },
    };
    let (Some(first_name), true, Some(consent), Some(unit)) =
        (first_name, errors.is_empty(), consent, unit)
    else {
        return Ok(render_refused(&new_page_for(&me, f, errors, lotsar), true));
    };
    let tz = {
        let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
        units::get(&mut c, unit)
            .await
            .map_err(engine_err(lang))?
            .time_zone
    };
    let new = NewParticipant {
        unit_id: unit,
        first_name,
        phone,
        language,
        channel_pref: channel,
        time_zone: tz,
        discreet: f.discreet.is_some(),
        lots_id: lots,
    };
    let actor: Actor = me.actor();
    let created = s
        .engine
        .add_participant(&new, Some(consent), &actor, Utc::now())
        .await
        .map_err(engine_err(lang))?;
    Ok(see_other(&case::saved_url(
        created.id,
        case::Saved::Created,
        None,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AppointmentKind, Attendance, Intensity, Purpose, ReplyState, TaskKind};

    fn all_labels<T: Copy + Display>(what: &str, values: &[T]) {
        for lang in [Language::Sv, Language::En] {
            for v in values {
                let l = t(lang, &format!("ui-participants-{what}-{v}"));
                assert!(
                    !l.is_empty() && !l.contains("ui-participants") && !l.contains("Unknown"),
                    "{lang} {what} {v}: {l}"
                );
            }
        }
    }

    #[test]
    fn every_value_shown_has_a_label_in_both_languages() {
        all_labels("status", ParticipantStatus::ALL);
        all_labels("language", Language::ALL);
        all_labels("channel", ChannelKind::ALL);
        all_labels("kind", AppointmentKind::ALL);
        all_labels("reply", ReplyState::ALL);
        all_labels("intensity", Intensity::ALL);
        all_labels("attendance", Attendance::ALL);
        all_labels("purpose", Purpose::ALL);
        all_labels("task", TaskKind::ALL);
        all_labels("weekday", &[1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn dates_name_the_year_only_when_it_is_not_this_one() {
        let tz = chrono_tz::Europe::Stockholm;
        let now = Utc::now();
        let this = when(Language::Sv, now, tz);
        assert!(!this.contains(&now.year().to_string()), "{this}");
        let later = now + chrono::Duration::days(400);
        let next = day(Language::En, later, tz);
        assert!(
            next.ends_with(&format!(" {}", later.with_timezone(&tz).year())),
            "{next}"
        );
        // Every page's date and time (a broadcast planned for next year).
        let shown = crate::web::ui::local_dt(Language::Sv, later, tz);
        assert!(
            shown.contains(&later.with_timezone(&tz).year().to_string()),
            "{shown}"
        );
        assert_eq!(crate::web::ui::local_dt(Language::Sv, now, tz), this);
    }

    #[test]
    fn a_value_without_a_label_reads_as_stored() {
        assert_eq!(label(Language::Sv, "status", "on_leave"), "on_leave");
    }

    #[test]
    fn errors_are_found_by_field() {
        let mut e = Errors::default();
        assert!(e.is_empty());
        e.add("phone", "bad".into());
        assert_eq!(e.get("phone"), Some("bad"));
        assert_eq!(e.get("first_name"), None);
    }
}
