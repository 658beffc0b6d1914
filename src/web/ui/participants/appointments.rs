//! Booking for one participant: a new appointment, changing or moving one,
//! cancelling one, and a recurring series with a preview of its next ten
//! dates. Times are typed and shown on the participant's wall clock; the
//! DST rule is `domain::wall_clock` (asked, never guessed), the series dates come
//! from `domain::recurrence`. Assistants may book, move and cancel, but
//! never see or write the internal note.

use super::super::{Me, Posted, Ui, UiError, case, render, see_other, t, ta};
use super::case::{Saved, saved_url};
use super::{Errors, Opt, engine_err, options, parse_id, when};
use crate::domain::access::CaseAccess;
use crate::domain::recurrence::CronExpr;
use crate::domain::schedule::{local, resolve_local};
use crate::domain::wall_clock::{self, Fold, WallClock};
use crate::domain::{AppointmentId, AppointmentKind, AppointmentStatus, Language, ParticipantId};
use crate::store::appointments::{self, Appointment, NewAppointment};
use crate::store::participants::Participant;
use crate::store::series::SeriesTarget;
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/participants/{id}/appointments/new", get(new_page))
        .route("/participants/{id}/appointments", post(create))
        .route("/appointments/{id}/edit", get(edit_page))
        .route("/appointments/{id}", post(update))
        .route("/appointments/{id}/cancel", get(cancel_page).post(cancel))
        .route("/participants/{id}/series/new", get(series_page))
        .route("/participants/{id}/series", post(series_post))
}

/// How far ahead a new series is expanded into appointments at once (the
/// default of `series_horizon_days`; the server's job keeps extending it).
const SERIES_HORIZON: Duration = Duration::days(28);
/// Series dates shown before one is created.
const PREVIEW: usize = 10;

#[derive(Deserialize, Default)]
struct ApptForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    with_whom: String,
    #[serde(default)]
    internal_note: String,
    /// Which of a repeated autumn time: `earlier` or `later`.
    #[serde(default)]
    fold: String,
    /// Checkboxes: "yes, the time has passed", "yes, book it anyway".
    #[serde(default)]
    confirm_past: Option<String>,
    #[serde(default)]
    confirm_overlap: Option<String>,
}

/// A choice of the repeated autumn time: the value and its label.
struct FoldOption {
    value: &'static str,
    label: String,
    checked: bool,
}

/// What the person is asked before the form is saved.
#[derive(Default)]
struct Questions {
    /// The time has passed: "Ja, tiden har redan varit".
    past: bool,
    /// Their other appointments at the same time.
    overlaps: Vec<String>,
}

#[derive(Template)]
#[template(path = "ui/participant_appointment.html")]
struct ApptPage {
    ui: Ui,
    participant_id: String,
    name: String,
    /// `None`: a new appointment.
    appointment_id: Option<String>,
    /// The appointment's time now, when changing one.
    current: Option<String>,
    action: String,
    full: bool,
    /// Assistants move an appointment; they do not change its details.
    time_only: bool,
    /// "Local time (Europe/Stockholm)".
    tz_hint: String,
    kinds: Vec<Opt>,
    form: ApptForm,
    errors: Errors,
    /// The two instants of a repeated time, when the typed one is.
    folds: Option<Vec<FoldOption>>,
    questions: Questions,
}

impl ApptPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

/// The new-appointment form again, refused (409): the same appointment is
/// booked already, at `at`.
fn already_booked(
    me: &Me,
    p: &Participant,
    access: CaseAccess,
    f: ApptForm,
    at: DateTime<Utc>,
) -> Response {
    let mut errors = Errors::default();
    errors.add(
        "duplicate",
        ta(
            me.lang,
            "ui-participants-error-duplicate",
            &[("when", when(me.lang, at, p.time_zone))],
        ),
    );
    with_status(
        render(&page_for(me, p, access, None, f, errors)),
        StatusCode::CONFLICT,
    )
}

/// A participant whom `me` may book for (full or contact access).
async fn bookable(
    s: &AppState,
    me: &Me,
    id: &str,
    audit: bool,
) -> Result<(Participant, CaseAccess), UiError> {
    let id: ParticipantId = parse_id(id, me.lang)?;
    case(s, me, id, audit).await
}

/// An appointment and its participant, with `me`'s access checked (403 and
/// `case.denied` when none). `audit`: this shows the case record.
async fn appointment(
    s: &AppState,
    me: &Me,
    id: &str,
    audit: bool,
) -> Result<(Appointment, Participant, CaseAccess), UiError> {
    let id: AppointmentId = parse_id(id, me.lang)?;
    let a = {
        let mut c = s.engine.db.conn().await.map_err(engine_err(me.lang))?;
        appointments::get(&mut c, id)
            .await
            .map_err(engine_err(me.lang))?
    };
    let (p, access) = case(s, me, a.participant_id, audit).await?;
    Ok((a, p, access))
}

fn tz_hint(lang: Language, tz: Tz) -> String {
    super::super::ta(
        lang,
        "ui-participants-local-time",
        &[("tz", tz.name().to_string())],
    )
}

/// The radio buttons of a repeated time ("02:30 sommartid (CEST)" /
/// "02:30 vintertid (CET)"), when the form's date and time are one.
fn fold_options(form: &ApptForm, tz: Tz, lang: Language) -> Option<Vec<FoldOption>> {
    let d = NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d").ok()?;
    let tm = parse_time(&form.time).ok()?;
    let WallClock::Ambiguous { earlier, later } = wall_clock::resolve(d.and_time(tm), tz, None)
    else {
        return None;
    };
    let chosen = form.fold.parse::<Fold>().ok();
    let time = tm.format("%H:%M").to_string();
    Some(
        [(Fold::Earlier, earlier), (Fold::Later, later)]
            .into_iter()
            .map(|(fold, at)| FoldOption {
                value: fold.as_str(),
                label: ta(
                    lang,
                    &format!("ui-participants-fold-{}", fold.as_str()),
                    &[
                        ("time", time.clone()),
                        ("abbr", wall_clock::abbreviation(at, tz)),
                    ],
                ),
                checked: chosen == Some(fold),
            })
            .collect(),
    )
}

fn page_for(
    me: &Me,
    p: &Participant,
    access: CaseAccess,
    existing: Option<&Appointment>,
    form: ApptForm,
    errors: Errors,
) -> ApptPage {
    let ui = me.ui(&format!("/participants/{}", p.id));
    let kind = form.kind.parse().ok();
    let full = access == CaseAccess::Full;
    ApptPage {
        folds: fold_options(&form, p.time_zone, me.lang),
        questions: Questions::default(),
        participant_id: p.id.to_string(),
        name: p.first_name.clone(),
        appointment_id: existing.map(|a| a.id.to_string()),
        current: existing.map(|a| when(me.lang, a.starts_at, p.time_zone)),
        action: match existing {
            Some(a) => format!("/appointments/{}", a.id),
            None => format!("/participants/{}/appointments", p.id),
        },
        full,
        time_only: existing.is_some() && !full,
        tz_hint: tz_hint(me.lang, p.time_zone),
        kinds: options(me.lang, "kind", AppointmentKind::ALL, kind),
        form,
        errors,
        ui,
    }
}

async fn new_page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let (p, access) = bookable(&s, &me, &id, false).await?;
    let form = ApptForm {
        kind: AppointmentKind::Meeting.to_string(),
        duration: "60".into(),
        ..ApptForm::default()
    };
    Ok(render(&page_for(
        &me,
        &p,
        access,
        None,
        form,
        Errors::default(),
    )))
}

/// What a valid form says.
struct Parsed {
    kind: AppointmentKind,
    starts_at: DateTime<Utc>,
    duration_min: i64,
    location: Option<String>,
    with_whom: Option<String>,
    internal_note: Option<String>,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|x| !x.is_empty())
}

/// A local date and time on the participant's wall clock, as an instant
/// (`domain::wall_clock`): a time that does not exist that day (spring
/// forward) is a form error with the reason and the nearest times that do;
/// a time that happens twice (autumn) is one only once the form says which.
fn parse_local(f: &ApptForm, tz: Tz, lang: Language, errors: &mut Errors) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d")
        .map_err(|_| errors.add("date", t(lang, "ui-participants-error-date")))
        .ok();
    let tm = parse_time(&f.time)
        .map_err(|_| errors.add("time", t(lang, "ui-participants-error-time")))
        .ok();
    let (d, tm) = (d?, tm?);
    let hm = |x: chrono::NaiveDateTime| x.format("%H:%M").to_string();
    match wall_clock::resolve(d.and_time(tm), tz, f.fold.parse().ok()) {
        WallClock::At(at) => Some(at),
        WallClock::Gap {
            before,
            after,
            gap_start,
            gap_end,
        } => {
            errors.add(
                "time",
                ta(
                    lang,
                    "ui-participants-error-time-gap",
                    &[
                        ("time", tm.format("%H:%M").to_string()),
                        ("date", d.format("%Y-%m-%d").to_string()),
                        ("from", hm(gap_start)),
                        ("to", hm(gap_end)),
                        ("before", hm(before)),
                        ("after", hm(after)),
                    ],
                ),
            );
            None
        }
        WallClock::Ambiguous { .. } => {
            errors.add(
                "fold",
                ta(
                    lang,
                    "ui-participants-fold-question",
                    &[
                        ("time", tm.format("%H:%M").to_string()),
                        ("date", d.format("%Y-%m-%d").to_string()),
                    ],
                ),
            );
            None
        }
    }
}

/// A duration as typed: whole minutes from 1 to 24 hours, or an error on
/// the field.
fn parse_duration(typed: &str, lang: Language, errors: &mut Errors) -> Option<i64> {
    typed
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=24 * 60).contains(d))
        .or_else(|| {
            errors.add("duration", t(lang, "ui-participants-error-duration"));
            None
        })
}

fn parse_time(s: &str) -> Result<NaiveTime, ()> {
    let s = s.trim();
    NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .or_else(|_| NaiveTime::parse_from_str(s, "%H.%M"))
        .map_err(|_| ())
}

fn parse_form(f: &ApptForm, tz: Tz, lang: Language, time_only: bool) -> Result<Parsed, Errors> {
    let mut errors = Errors::default();
    let starts_at = parse_local(f, tz, lang, &mut errors);
    let kind = if time_only {
        Some(AppointmentKind::Meeting)
    } else {
        f.kind
            .parse()
            .map_err(|_| errors.add("kind", t(lang, "ui-participants-error-kind")))
            .ok()
    };
    let duration = if time_only {
        Some(60)
    } else {
        parse_duration(&f.duration, lang, &mut errors)
    };
    let long = |v: &str, max: usize, field: &'static str, errors: &mut Errors| {
        if v.trim().chars().count() > max {
            errors.add(field, t(lang, "ui-participants-error-too-long"));
        }
    };
    long(&f.location, 200, "location", &mut errors);
    long(&f.with_whom, 100, "with_whom", &mut errors);
    long(&f.internal_note, 2000, "internal_note", &mut errors);
    match (kind, starts_at, duration) {
        (Some(kind), Some(starts_at), Some(duration_min)) if errors.is_empty() => Ok(Parsed {
            kind,
            starts_at,
            duration_min,
            location: opt(&f.location),
            with_whom: opt(&f.with_whom),
            internal_note: opt(&f.internal_note),
        }),
        _ => Err(errors),
    }
}

/// A new time outside the window of accepted appointment times
/// (`domain::window`) is a form error on the date field, with the window.
fn within_window(
    engine: &crate::engine::Engine,
    parsed: Parsed,
    unchanged: Option<DateTime<Utc>>,
    tz: Tz,
    lang: Language,
) -> Result<Parsed, Errors> {
    let now = Utc::now();
    if unchanged == Some(parsed.starts_at) || engine.window.check(parsed.starts_at, now).is_ok() {
        return Ok(parsed);
    }
    let (from, to) = engine.window.bounds(now);
    let mut errors = Errors::default();
    errors.add(
        "date",
        ta(
            lang,
            "ui-participants-error-date-window",
            &[
                ("from", local(from, tz).format("%Y-%m-%d").to_string()),
                ("to", local(to, tz).format("%Y-%m-%d").to_string()),
            ],
        ),
    );
    Err(errors)
}

async fn create(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<ApptForm>,
) -> Result<Response, UiError> {
    let (me, f) = (f.me, f.form);
    let (p, access) = bookable(&s, &me, &id, false).await?;
    let full = access == CaseAccess::Full;
    let parsed = match parse_form(&f, p.time_zone, me.lang, false)
        .and_then(|x| within_window(&s.engine, x, None, p.time_zone, me.lang))
    {
        Ok(x) => x,
        Err(errors) => {
            return Ok(with_status(
                render(&page_for(&me, &p, access, None, f, errors)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let now = Utc::now();
    let others = scheduled_others(&s, &me, p.id, None).await?;
    // Back and "Boka" again: the same appointment is not booked twice.
    if let Some(same) = others.iter().find(|o| {
        o.starts_at == parsed.starts_at
            && o.kind == parsed.kind
            && o.duration_min == parsed.duration_min
    }) {
        return Ok(already_booked(&me, &p, access, f, same.starts_at));
    }
    let (questions, must_ask) = ask(
        &f,
        parsed.starts_at,
        parsed.duration_min,
        None,
        &others,
        full,
        p.time_zone,
        me.lang,
        now,
    );
    if must_ask {
        return Ok(with_status(
            render(&ApptPage {
                questions,
                ..page_for(&me, &p, access, None, f, Errors::default())
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let new = NewAppointment {
        participant_id: p.id,
        series_id: None,
        kind: parsed.kind,
        starts_at: parsed.starts_at,
        duration_min: parsed.duration_min,
        location: parsed.location,
        with_whom: parsed.with_whom,
        // An assistant sees no notes, so writes none.
        internal_note: parsed.internal_note.filter(|_| full),
        external_ref: None,
    };
    let (booked, created) = s
        .engine
        .book_once(&new, &me.actor(), now)
        .await
        .map_err(engine_err(me.lang))?;
    if !created {
        // The same form twice at once (a double click): booked once.
        return Ok(already_booked(&me, &p, access, f, booked.starts_at));
    }
    Ok(see_other(&saved_url(p.id, Saved::Booked, Some(booked.id))))
}

/// The participant's other scheduled appointments (all of them, past ones
/// too: a meeting recorded afterwards can overlap one), without `except`.
async fn scheduled_others(
    s: &AppState,
    me: &Me,
    p: ParticipantId,
    except: Option<AppointmentId>,
) -> Result<Vec<Appointment>, UiError> {
    let mut c = s.engine.db.conn().await.map_err(engine_err(me.lang))?;
    Ok(appointments::for_participant(&mut c, p, None)
        .await
        .map_err(engine_err(me.lang))?
        .into_iter()
        .filter(|a| a.status == AppointmentStatus::Scheduled && Some(a.id) != except)
        .collect())
}

/// What to ask before saving a time: whether it has passed (unless it is
/// the appointment's time already), and which other appointments it
/// overlaps. Returns the questions and whether one is still unanswered
/// (its box on the form unticked).
#[allow(clippy::too_many_arguments)]
fn ask(
    f: &ApptForm,
    starts_at: DateTime<Utc>,
    duration_min: i64,
    unchanged: Option<DateTime<Utc>>,
    others: &[Appointment],
    full: bool,
    tz: Tz,
    lang: Language,
    now: DateTime<Utc>,
) -> (Questions, bool) {
    let q = Questions {
        past: starts_at < now && unchanged != Some(starts_at),
        overlaps: others
            .iter()
            .filter(|o| wall_clock::overlaps(starts_at, duration_min, o.starts_at, o.duration_min))
            .map(|o| {
                let when = when(lang, o.starts_at, tz);
                if full {
                    format!(
                        "{when}, {}, {} min",
                        super::label(lang, "kind", o.kind),
                        o.duration_min
                    )
                } else {
                    format!("{when}, {} min", o.duration_min)
                }
            })
            .collect(),
    };
    let must = (q.past && f.confirm_past.is_none())
        || (!q.overlaps.is_empty() && f.confirm_overlap.is_none());
    (q, must)
}

fn cancelled(lang: Language) -> UiError {
    UiError::new(
        StatusCode::CONFLICT,
        lang,
        &t(lang, "ui-participants-error-cancelled"),
    )
}

async fn edit_page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    // The form shows the appointment's details (and, in full, its note).
    let (a, p, access) = appointment(&s, &me, &id, true).await?;
    if a.status == AppointmentStatus::Cancelled {
        return Err(cancelled(me.lang));
    }
    let full = access == CaseAccess::Full;
    let l = local(a.starts_at, p.time_zone);
    let form = ApptForm {
        kind: a.kind.to_string(),
        date: l.format("%Y-%m-%d").to_string(),
        time: l.format("%H:%M").to_string(),
        duration: a.duration_min.to_string(),
        location: if full {
            a.location.clone().unwrap_or_default()
        } else {
            String::new()
        },
        with_whom: if full {
            a.with_whom.clone().unwrap_or_default()
        } else {
            String::new()
        },
        internal_note: if full {
            a.internal_note.clone().unwrap_or_default()
        } else {
            String::new()
        },
        // A repeated autumn time: the one it is.
        fold: match wall_clock::resolve(l, p.time_zone, None) {
            WallClock::Ambiguous { earlier, .. } if earlier == a.starts_at => "earlier".into(),
            WallClock::Ambiguous { .. } => "later".into(),
            _ => String::new(),
        },
        ..ApptForm::default()
    };
    Ok(render(&page_for(
        &me,
        &p,
        access,
        Some(&a),
        form,
        Errors::default(),
    )))
}

/// Saves an appointment: a new time alone is a move
/// (`Engine::move_appointment`), anything else an update
/// (`Engine::update_appointment`, which also moves). An assistant can only
/// move.
async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<ApptForm>,
) -> Result<Response, UiError> {
    let (me, f) = (f.me, f.form);
    let (a, p, access) = appointment(&s, &me, &id, false).await?;
    if a.status == AppointmentStatus::Cancelled {
        return Err(cancelled(me.lang));
    }
    let full = access == CaseAccess::Full;
    let parsed = match parse_form(&f, p.time_zone, me.lang, !full)
        .and_then(|x| within_window(&s.engine, x, Some(a.starts_at), p.time_zone, me.lang))
    {
        Ok(x) => x,
        Err(errors) => {
            return Ok(with_status(
                render(&page_for(&me, &p, access, Some(&a), f, errors)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let now = Utc::now();
    let others = scheduled_others(&s, &me, p.id, Some(a.id)).await?;
    let duration = if full {
        parsed.duration_min
    } else {
        a.duration_min
    };
    let (questions, must_ask) = ask(
        &f,
        parsed.starts_at,
        duration,
        Some(a.starts_at),
        &others,
        full,
        p.time_zone,
        me.lang,
        now,
    );
    // Only a new time or length asks again about what was there before.
    if must_ask && (parsed.starts_at != a.starts_at || duration != a.duration_min) {
        return Ok(with_status(
            render(&ApptPage {
                questions,
                ..page_for(&me, &p, access, Some(&a), f, Errors::default())
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let actor = me.actor();
    let details_same = !full
        || (parsed.kind == a.kind
            && parsed.duration_min == a.duration_min
            && parsed.location == a.location
            && parsed.with_whom == a.with_whom
            && parsed.internal_note == a.internal_note);
    let moved = parsed.starts_at != a.starts_at;
    let what = if details_same {
        s.engine
            .move_appointment(a.id, parsed.starts_at, &actor, now)
            .await
            .map_err(engine_err(me.lang))?;
        if moved {
            Saved::Moved
        } else {
            Saved::Unchanged
        }
    } else {
        let new = NewAppointment {
            participant_id: p.id,
            series_id: a.series_id,
            kind: parsed.kind,
            starts_at: parsed.starts_at,
            duration_min: parsed.duration_min,
            location: parsed.location,
            with_whom: parsed.with_whom,
            internal_note: parsed.internal_note,
            external_ref: a.external_ref.clone(),
        };
        s.engine
            .update_appointment(a.id, &new, &actor, now)
            .await
            .map_err(engine_err(me.lang))?;
        if moved { Saved::Moved } else { Saved::Changed }
    };
    Ok(see_other(&saved_url(p.id, what, Some(a.id))))
}

#[derive(Deserialize, Default)]
struct CancelForm {
    /// `yes` from the confirmation page; without it, the page is shown.
    #[serde(default)]
    confirm: String,
}

#[derive(Template)]
#[template(path = "ui/participant_cancel.html")]
struct CancelPage {
    ui: Ui,
    appointment_id: String,
    participant_id: String,
    question: String,
}

fn cancel_page_for(me: &Me, a: &Appointment, p: &Participant, access: CaseAccess) -> Response {
    let what = if access == CaseAccess::Full {
        format!(
            "{} {}",
            super::label(me.lang, "kind", a.kind),
            when(me.lang, a.starts_at, p.time_zone)
        )
    } else {
        when(me.lang, a.starts_at, p.time_zone)
    };
    render(&CancelPage {
        ui: me.ui(&format!("/participants/{}", p.id)),
        appointment_id: a.id.to_string(),
        participant_id: p.id.to_string(),
        question: ta(
            me.lang,
            "ui-participants-cancel-question",
            &[("what", what), ("name", p.first_name.clone())],
        ),
    })
}

/// "Ställ in" asks first: this page, then the POST with `confirm=yes`.
async fn cancel_page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let (a, p, access) = appointment(&s, &me, &id, false).await?;
    if a.status == AppointmentStatus::Cancelled {
        return Err(cancelled(me.lang));
    }
    Ok(cancel_page_for(&me, &a, &p, access))
}

async fn cancel(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<CancelForm>,
) -> Result<Response, UiError> {
    let (me, f) = (f.me, f.form);
    let (a, p, access) = appointment(&s, &me, &id, false).await?;
    if f.confirm != "yes" && a.status != AppointmentStatus::Cancelled {
        return Ok(cancel_page_for(&me, &a, &p, access));
    }
    s.engine
        .cancel_appointment(a.id, &me.actor(), Utc::now())
        .await
        .map_err(engine_err(me.lang))?;
    Ok(see_other(&format!(
        "/participants/{}?cancelled={}#h-upcoming",
        p.id, a.id
    )))
}

// ------------------------------------------------------------------ series

#[derive(Deserialize, Default)]
pub(crate) struct SeriesForm {
    #[serde(default)]
    kind: String,
    /// The first day the series may fall on (local date).
    #[serde(default)]
    from: String,
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    #[serde(default)]
    weekday: Vec<String>,
    #[serde(default)]
    time: String,
    /// Instead of weekdays and a time.
    #[serde(default)]
    cron: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    location: String,
    /// Which button: `preview` or `create`.
    #[serde(default)]
    action: String,
    /// "1": the person has seen the times a DST change moves.
    #[serde(default)]
    dst_ok: String,
}

struct WeekdayBox {
    value: u32,
    label: String,
    checked: bool,
}

struct Date {
    when: String,
    iso: String,
}

/// Whose series the form makes: a participant's, or a group's activity.
pub(crate) struct SeriesOwner {
    /// The page's heading.
    pub title: String,
    /// Where the form posts; the page to go back to, and its link text.
    pub action: String,
    pub back: String,
    pub back_label: String,
    pub tz: Tz,
    /// The kinds offered (a group's is always a group activity).
    pub kinds: &'static [AppointmentKind],
    /// Whose appointments the series makes.
    pub target: SeriesTarget,
}

impl SeriesOwner {
    fn participant(lang: Language, p: &Participant) -> Self {
        SeriesOwner {
            title: format!(
                "{}: {}",
                t(lang, "ui-participants-series-title"),
                p.first_name
            ),
            action: format!("/participants/{}/series", p.id),
            back: format!("/participants/{}", p.id),
            back_label: t(lang, "ui-participants-back-to-participant"),
            tz: p.time_zone,
            kinds: AppointmentKind::ALL,
            target: SeriesTarget::Participant(p.id),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/participant_series.html")]
struct SeriesPage {
    ui: Ui,
    title: String,
    action: String,
    back: String,
    back_label: String,
    tz_hint: String,
    kinds: Vec<Opt>,
    weekdays: Vec<WeekdayBox>,
    form: SeriesForm,
    errors: Errors,
    preview: Option<Vec<Date>>,
    /// The occurrences in the coming year a DST change moves, in words;
    /// the series is made only once the person has ticked that they saw them.
    dst: Vec<String>,
}

impl SeriesPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

fn series_page_for(
    me: &Me,
    owner: &SeriesOwner,
    form: SeriesForm,
    errors: Errors,
    preview: Option<Vec<Date>>,
) -> SeriesPage {
    let lang = me.lang;
    let kind = form.kind.parse().ok();
    SeriesPage {
        ui: me.ui(&owner.back),
        title: owner.title.clone(),
        action: owner.action.clone(),
        back: owner.back.clone(),
        back_label: owner.back_label.clone(),
        tz_hint: tz_hint(lang, owner.tz),
        kinds: options(lang, "kind", owner.kinds, kind),
        weekdays: (1..=7)
            .map(|d| WeekdayBox {
                value: d,
                label: t(lang, &format!("ui-participants-weekday-{d}")),
                checked: form.weekday.iter().any(|w| w.trim() == d.to_string()),
            })
            .collect(),
        form,
        errors,
        preview,
        dst: Vec::new(),
    }
}

/// How far ahead a new series is checked for DST days: both changes of a
/// year.
const DST_LOOKAHEAD_DAYS: i64 = 366;

/// The DST shifts of a series in plain words ("sön 28 mar 2027: klockan
/// 02:30 finns inte den dagen … Tiden blir 03:00.").
fn dst_notes(lang: Language, cron: &CronExpr, tz: Tz, start: DateTime<Utc>) -> Vec<String> {
    use crate::domain::recurrence::DstShift;
    let hm = |x: chrono::NaiveDateTime| x.format("%H:%M").to_string();
    cron.dst_shifts(tz, start, start + Duration::days(DST_LOOKAHEAD_DAYS))
        .into_iter()
        .map(|shift| match shift {
            DstShift::Gap { wall, becomes } => ta(
                lang,
                "ui-participants-series-dst-gap",
                &[
                    ("date", super::day(lang, resolve_local(wall, tz), tz)),
                    ("time", hm(wall)),
                    ("becomes", hm(becomes)),
                ],
            ),
            DstShift::Repeated { wall } => ta(
                lang,
                "ui-participants-series-dst-repeated",
                &[
                    ("date", super::day(lang, resolve_local(wall, tz), tz)),
                    ("time", hm(wall)),
                ],
            ),
        })
        .collect()
}

async fn series_page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let (p, _) = bookable(&s, &me, &id, false).await?;
    let owner = SeriesOwner::participant(me.lang, &p);
    Ok(new_series_page(&me, &owner, AppointmentKind::Meeting, 60))
}

/// The empty series form: from today, 09:00.
pub(crate) fn new_series_page(
    me: &Me,
    owner: &SeriesOwner,
    kind: AppointmentKind,
    duration: i64,
) -> Response {
    let form = SeriesForm {
        kind: kind.to_string(),
        from: local(Utc::now(), owner.tz).format("%Y-%m-%d").to_string(),
        time: "09:00".into(),
        duration: duration.to_string(),
        ..SeriesForm::default()
    };
    render(&series_page_for(me, owner, form, Errors::default(), None))
}

/// The crontab for weekdays at a time: ISO 7 (Sunday) is crontab 0.
fn weekly_cron(weekdays: &[u32], time: NaiveTime) -> String {
    use chrono::Timelike;
    let days: Vec<String> = weekdays.iter().map(|d| (d % 7).to_string()).collect();
    format!("{} {} * * {}", time.minute(), time.hour(), days.join(","))
}

/// The first `n` occurrences at or after `start`, however far ahead
/// (`CronExpr::next`): the preview is not bound to the expansion horizon.
fn next_dates(cron: &CronExpr, tz: Tz, start: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    cron.next(tz, start, n)
}

struct SeriesParsed {
    kind: AppointmentKind,
    cron: CronExpr,
    start: DateTime<Utc>,
    duration_min: i64,
    location: Option<String>,
    dates: Vec<DateTime<Utc>>,
}

fn parse_series(
    f: &SeriesForm,
    tz: Tz,
    kinds: &[AppointmentKind],
    lang: Language,
    min_gap: Duration,
) -> Result<SeriesParsed, Errors> {
    let mut errors = Errors::default();
    let now = Utc::now();
    let kind = f
        .kind
        .parse()
        .ok()
        .filter(|k| kinds.contains(k))
        .or_else(|| {
            errors.add("kind", t(lang, "ui-participants-error-kind"));
            None
        });
    let start = match f.from.trim() {
        "" => Some(now),
        d => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| errors.add("from", t(lang, "ui-participants-error-date")))
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|midnight| resolve_local(midnight, tz).max(now)),
    };
    let cron = if !f.cron.trim().is_empty() {
        f.cron
            .parse::<CronExpr>()
            .map_err(|e| {
                errors.add(
                    "cron",
                    format!("{} ({e})", t(lang, "ui-participants-error-cron")),
                )
            })
            .ok()
    } else {
        let days: Vec<u32> = f
            .weekday
            .iter()
            .filter_map(|w| w.trim().parse().ok())
            .filter(|d| (1..=7).contains(d))
            .collect();
        if days.is_empty() {
            errors.add("weekday", t(lang, "ui-participants-error-weekday"));
        }
        let time = parse_time(&f.time)
            .map_err(|_| errors.add("time", t(lang, "ui-participants-error-time")))
            .ok();
        match time {
            Some(tm) if !days.is_empty() => weekly_cron(&days, tm).parse().ok(),
            _ => None,
        }
    };
    let duration = parse_duration(&f.duration, lang, &mut errors);
    if f.location.trim().chars().count() > 200 {
        errors.add("location", t(lang, "ui-participants-error-too-long"));
    }
    let (Some(kind), Some(start), Some(cron), Some(duration_min), true) =
        (kind, start, cron, duration, errors.is_empty())
    else {
        return Err(errors);
    };
    let dates = next_dates(&cron, tz, start, PREVIEW);
    if dates.is_empty() {
        errors.add("cron", t(lang, "ui-participants-error-no-dates"));
        return Err(errors);
    }
    if let Err(e) = cron.check_gap(min_gap) {
        errors.add(
            "cron",
            format!("{} ({e})", t(lang, "ui-participants-error-too-often")),
        );
        return Err(errors);
    }
    Ok(SeriesParsed {
        kind,
        cron,
        start,
        duration_min,
        location: opt(&f.location),
        dates,
    })
}

/// "Förhandsgranska" shows the next ten dates; "Skapa" creates the series
/// (`Engine::create_series_from`). Returns the page to show: the form with
/// its errors, or the preview; `None` when the series was made.
pub(crate) async fn series_submit(
    s: &AppState,
    me: &Me,
    owner: &SeriesOwner,
    f: SeriesForm,
) -> Result<Option<Response>, UiError> {
    let tz = owner.tz;
    let parsed = match parse_series(&f, tz, owner.kinds, me.lang, s.engine.series_min_gap()) {
        Ok(x) => x,
        Err(errors) => {
            return Ok(Some(with_status(
                render(&series_page_for(me, owner, f, errors, None)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )));
        }
    };
    let dst = dst_notes(me.lang, &parsed.cron, tz, parsed.start);
    if f.action == "create" && !dst.is_empty() && f.dst_ok.trim() != "1" {
        let mut errors = Errors::default();
        errors.add(
            "dst_ok",
            t(me.lang, "ui-participants-series-dst-confirm-needed"),
        );
        let mut page = series_page_for(me, owner, f, errors, None);
        page.dst = dst;
        return Ok(Some(with_status(
            render(&page),
            StatusCode::UNPROCESSABLE_ENTITY,
        )));
    }
    if f.action != "create" {
        let dates = parsed
            .dates
            .iter()
            .map(|d| Date {
                when: when(me.lang, *d, tz),
                iso: d.to_rfc3339(),
            })
            .collect();
        let mut page = series_page_for(me, owner, f, Errors::default(), Some(dates));
        page.dst = dst;
        return Ok(Some(render(&page)));
    }
    s.engine
        .create_series_from(
            owner.target,
            parsed.kind,
            &parsed.cron,
            parsed.duration_min,
            parsed.location,
            parsed.start,
            SERIES_HORIZON,
            &me.actor(),
            Utc::now(),
        )
        .await
        .map_err(engine_err(me.lang))?;
    Ok(None)
}

async fn series_post(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<SeriesForm>,
) -> Result<Response, UiError> {
    let (me, f) = (f.me, f.form);
    let (p, _) = bookable(&s, &me, &id, false).await?;
    let owner = SeriesOwner::participant(me.lang, &p);
    if let Some(page) = series_submit(&s, &me, &owner, f).await? {
        return Ok(page);
    }
    Ok(see_other(&saved_url(p.id, Saved::Series, None)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};
    use chrono_tz::Europe::Stockholm;

    #[test]
    fn weekdays_become_crontab_numbers() {
        let nine = NaiveTime::from_hms_opt(9, 30, 0).unwrap();
        assert_eq!(weekly_cron(&[1, 3, 7], nine), "30 9 * * 1,3,0");
    }

    #[test]
    fn a_weekly_series_keeps_its_wall_clock_time_across_dst() {
        let cron: CronExpr = weekly_cron(&[2], NaiveTime::from_hms_opt(9, 0, 0).unwrap())
            .parse()
            .unwrap();
        let start = resolve_local(
            NaiveDate::from_ymd_opt(2027, 3, 15)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            Stockholm,
        );
        let dates = next_dates(&cron, Stockholm, start, PREVIEW);
        assert_eq!(dates.len(), 10);
        for d in &dates {
            let l = local(*d, Stockholm);
            assert_eq!((l.weekday(), l.hour(), l.minute()), (Weekday::Tue, 9, 0));
        }
        // 16 and 23 March are winter time (UTC+1), from 30 March summer (UTC+2).
        assert_eq!(dates[0].hour(), 8);
        assert_eq!(dates[2].hour(), 7);
    }

    #[test]
    fn an_every_minute_cron_is_found_quickly_and_refused() {
        let f = SeriesForm {
            kind: "meeting".into(),
            cron: "* * * * *".into(),
            duration: "5".into(),
            ..SeriesForm::default()
        };
        let errors = parse_series(
            &f,
            Stockholm,
            AppointmentKind::ALL,
            Language::Sv,
            Duration::hours(1),
        )
        .err()
        .unwrap();
        assert!(errors.get("cron").is_some());
    }
}
