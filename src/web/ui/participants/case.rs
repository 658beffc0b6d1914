//! The case record page, its settings forms (consent, status, language,
//! discreet flag, reminder intensity, responsible lots) and the Telegram
//! link code. An assistant gets the contact view: name, number, channels
//! and upcoming times, nothing else.

use super::super::{Me, Posted, Ui, UiError, case, render, render_refused, see_other, t, ta};
use super::timeline::{self, Entry};
use super::{Opt, day, engine_err, label, options, parse_id, status_class, when};
use crate::domain::access::{Action, CaseAccess};
use crate::domain::gates::{self, GateInput, Verdict};
use crate::domain::link::LinkCode;
use crate::domain::schedule::resolve_local;
use crate::domain::{
    AppointmentId, AppointmentStatus, ChannelSet, Intensity, Language, ParticipantId,
    ParticipantStatus, Phase, Purpose, ReplyState, StaffId,
};
use crate::engine::Engine;
use crate::store::participants::{self, Participant};
use crate::store::telegram::Subject;
use crate::store::ui_participants as store;
use crate::store::{appointments, consents, journal, messages, outbox, tasks, units};
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/participants/{id}", get(page))
        .route("/participants/{id}/consent", post(record_consent))
        .route(
            "/participants/{id}/consent/withdraw",
            post(withdraw_consent),
        )
        .route("/participants/{id}/status", post(set_status))
        .route("/participants/{id}/language", post(set_language))
        .route("/participants/{id}/discreet", post(set_discreet))
        .route("/participants/{id}/intensity", post(set_intensity))
        .route("/participants/{id}/phase", post(set_phase))
        .route("/participants/{id}/external-ref", post(set_external_ref))
        .route("/participants/{id}/lots", post(assign_lots))
        .route("/participants/{id}/link-code", post(link_code))
}

/// An upcoming appointment as the page shows it.
pub struct ApptView {
    pub id: String,
    pub when: String,
    pub iso: String,
    pub kind: String,
    pub duration: i64,
    pub location: Option<String>,
    pub with_whom: Option<String>,
    pub note: Option<String>,
    pub reply: String,
    pub reply_class: &'static str,
    pub reason: Option<String>,
    /// "Svar från Ali, tis 8 dec 09:00": the "Svar per telefon" buttons'
    /// group label.
    pub reply_label: String,
}

pub struct ConsentView {
    pub channels: String,
    pub given: String,
    pub expires: Option<String>,
    pub withdrawn: Option<String>,
    pub in_force: bool,
}

#[derive(Template)]
#[template(path = "ui/participant.html")]
struct CasePage {
    ui: Ui,
    id: String,
    name: String,
    full: bool,
    status: String,
    status_class: &'static str,
    phone: Option<String>,
    channel: String,
    time_zone: String,
    telegram_linked: bool,
    erased: bool,
    upcoming: Vec<ApptView>,
    /// "Saved." after a change.
    notice: Option<String>,
    /// "Inställd: möte tis 8 dec 09:00." after a cancellation, shown by
    /// the upcoming appointments (where the page returns to).
    cancelled: Option<String>,
    // The rest is for `full` only.
    consent: Option<ConsentView>,
    consent_error: Option<String>,
    statuses: Vec<Opt>,
    languages: Vec<Opt>,
    intensities: Vec<Opt>,
    /// The programme phase, and the unit's phases in use to pick from.
    phase: String,
    phases: Vec<String>,
    /// The participant's reference in the unit's case system, which event
    /// webhooks carry (full only; empty: none).
    external_ref: String,
    discreet: bool,
    lots_name: Option<String>,
    lotsar: Option<Vec<Opt>>,
    timeline: Vec<Entry>,
    /// How many messages the chat log has ("Meddelanden (N)"), full only.
    messages: Option<i64>,
}

/// What a form just changed, named in the confirmation at the top of the
/// case record ("Språk: engelska – sparat.", "Bokad: möte tis 8 dec
/// 10:00. Första påminnelsen går …"). `?saved=` carries it; anything else
/// (an old `saved=1` link) is the plain "Sparat.".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(in crate::web::ui) enum Saved {
    Created,
    Booked,
    Replied,
    Moved,
    Changed,
    Unchanged,
    Series,
    Details,
    Consent,
    ConsentWithdrawn,
    Status,
    Language,
    Intensity,
    Phase,
    ExternalRef,
    Discreet,
    Lots,
    #[serde(other)]
    Other,
}

impl Saved {
    fn as_str(self) -> &'static str {
        match self {
            Saved::Created => "created",
            Saved::Booked => "booked",
            Saved::Replied => "replied",
            Saved::Moved => "moved",
            Saved::Changed => "changed",
            Saved::Unchanged => "unchanged",
            Saved::Series => "series",
            Saved::Details => "details",
            Saved::Consent => "consent",
            Saved::ConsentWithdrawn => "consent-withdrawn",
            Saved::Status => "status",
            Saved::Language => "language",
            Saved::Intensity => "intensity",
            Saved::Phase => "phase",
            Saved::ExternalRef => "external-ref",
            Saved::Discreet => "discreet",
            Saved::Lots => "lots",
            Saved::Other => "1",
        }
    }
}

/// Back to the case record, saying what was saved (and, for an
/// appointment, which one).
pub(in crate::web::ui) fn saved_url(
    p: ParticipantId,
    what: Saved,
    appointment: Option<AppointmentId>,
) -> String {
    match appointment {
        Some(a) => format!("/participants/{p}?saved={}&a={a}", what.as_str()),
        None => format!("/participants/{p}?saved={}", what.as_str()),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    saved: Option<Saved>,
    /// The appointment a `saved` booking, move or change was about.
    #[serde(default)]
    a: Option<String>,
    /// An appointment of this participant just cancelled.
    #[serde(default)]
    cancelled: Option<String>,
}

async fn page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let id: ParticipantId = parse_id(&id, me.lang)?;
    let (p, access) = case(&s, &me, id, true).await?;
    let notice = match q.saved {
        Some(what) => Some(saved_notice(&s, &me, &p, access, what, q.a.as_deref()).await?),
        None => None,
    };
    let mut cancelled = None;
    // "Inställd: möte tis 8 dec 09:00", read back (the query is an id).
    if let Some(aid) = q.cancelled.and_then(|x| x.parse().ok()) {
        let mut c = s.engine.db.conn().await.map_err(engine_err(me.lang))?;
        if let Ok(a) = appointments::get(&mut c, aid).await
            && a.participant_id == p.id
            && a.status == AppointmentStatus::Cancelled
        {
            let what = if access == CaseAccess::Full {
                format!(
                    "{} {}",
                    label(me.lang, "kind", a.kind),
                    when(me.lang, a.starts_at, p.time_zone)
                )
            } else {
                when(me.lang, a.starts_at, p.time_zone)
            };
            cancelled = Some(ta(
                me.lang,
                "ui-participants-cancelled-notice",
                &[("what", what)],
            ));
        }
    }
    build(&s, &me, p, access, notice, None, cancelled).await
}

/// The page, for a GET or for a form that needs correcting (422).
async fn build(
    s: &AppState,
    me: &Me,
    p: Participant,
    access: CaseAccess,
    notice: Option<String>,
    consent_error: Option<String>,
    cancelled: Option<String>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let tz = p.time_zone;
    let now = Utc::now();
    let full = access == CaseAccess::Full;
    let ui = me.ui(&format!("/participants/{}", p.id));
    let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
    let upcoming = appointments::for_participant(&mut c, p.id, Some(now))
        .await
        .map_err(engine_err(lang))?
        .into_iter()
        .filter(|a| a.status == AppointmentStatus::Scheduled)
        .map(|a| ApptView {
            id: a.id.to_string(),
            reply_label: ta(
                lang,
                "ui-today-reply-label",
                &[
                    ("name", p.first_name.clone()),
                    ("when", when(lang, a.starts_at, tz)),
                ],
            ),
            when: when(lang, a.starts_at, tz),
            iso: a.starts_at.to_rfc3339(),
            kind: if full {
                label(lang, "kind", a.kind)
            } else {
                String::new()
            },
            duration: a.duration_min,
            location: a.location.filter(|_| full),
            with_whom: a.with_whom.filter(|_| full),
            note: a.internal_note.filter(|_| full),
            // "kommer lite sent": coming, late, by so many minutes.
            reply: match (a.reply, a.reply_late, a.reply_late_min) {
                (ReplyState::Coming, true, Some(min)) => ta(
                    lang,
                    "ui-participants-reply-late-min",
                    &[("min", min.to_string())],
                ),
                (ReplyState::Coming, true, None) => t(lang, "ui-participants-reply-late"),
                _ => label(lang, "reply", a.reply),
            },
            reply_class: match a.reply {
                ReplyState::Coming if a.reply_late => "late",
                ReplyState::Coming => "coming",
                ReplyState::Cannot => "cannot",
                ReplyState::None => "none",
            },
            reason: a.reply_reason.filter(|_| full),
        })
        .collect();
    let mut page = CasePage {
        id: p.id.to_string(),
        name: p.first_name.clone(),
        full,
        status: label(lang, "status", p.status),
        status_class: status_class(p.status),
        phone: p.phone.as_ref().map(|x| x.as_e164().to_string()),
        channel: label(lang, "channel", p.channel_pref),
        time_zone: tz.name().to_string(),
        telegram_linked: p.telegram_linked,
        erased: p.erased,
        upcoming,
        notice,
        cancelled,
        consent: None,
        consent_error,
        statuses: vec![],
        languages: vec![],
        intensities: vec![],
        phase: p
            .phase
            .as_ref()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
        phases: vec![],
        external_ref: String::new(),
        discreet: p.discreet,
        lots_name: None,
        lotsar: None,
        timeline: vec![],
        messages: None,
        ui,
    };
    if full {
        let consent = consents::current(&mut c, p.id)
            .await
            .map_err(engine_err(lang))?;
        page.consent = consent.map(|k| ConsentView {
            channels: channels_text(lang, k.channels),
            given: day(lang, k.given_at, tz),
            expires: k.expires_at.map(|e| day(lang, e, tz)),
            withdrawn: k.withdrawn_at.map(|w| when(lang, w, tz)),
            in_force: k.withdrawn_at.is_none() && k.expires_at.is_none_or(|e| e > now),
        });
        page.statuses = options(lang, "status", ParticipantStatus::ALL, Some(p.status));
        page.languages = options(lang, "language", Language::ALL, Some(p.language));
        page.intensities = options(lang, "intensity", Intensity::ALL, Some(p.intensity));
        page.phases = participants::phases_in_unit(&mut c, p.unit_id)
            .await
            .map_err(engine_err(lang))?
            .into_iter()
            .map(|x| x.as_str().to_string())
            .collect();
        page.external_ref = crate::store::event_hooks::participant_ref(&mut c, p.id)
            .await
            .map_err(engine_err(lang))?
            .unwrap_or_default();
        if let Some(l) = p.lots_id {
            page.lots_name = store::staff_name(&mut c, l)
                .await
                .map_err(engine_err(lang))?;
        }
        if me.may(Action::AssignLots) {
            let list = store::active_lotsar(&mut c, Some(p.unit_id))
                .await
                .map_err(engine_err(lang))?;
            page.lotsar = Some(
                list.into_iter()
                    .map(|o| Opt {
                        selected: Some(o.id) == p.lots_id,
                        value: o.id.to_string(),
                        label: o.name,
                    })
                    .collect(),
            );
        }
        let events = journal::list(&mut c, p.id)
            .await
            .map_err(engine_err(lang))?;
        let task_list = tasks::list(&mut c, Some(p.id), false)
            .await
            .map_err(engine_err(lang))?;
        let appts = appointments::for_participant(&mut c, p.id, None)
            .await
            .map_err(engine_err(lang))?;
        page.timeline = timeline::build(&mut c, lang, &p, &events, &task_list, &appts).await?;
        page.messages = Some(
            messages::count(&mut c, p.id, now)
                .await
                .map_err(engine_err(lang))?,
        );
    }
    drop(c);
    Ok(render_refused(&page, page.consent_error.is_some()))
}

/// "SMS, Telegram".
pub fn channels_text(lang: Language, set: ChannelSet) -> String {
    set.iter()
        .map(|c| label(lang, "channel", c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The participant behind a POST, when `me` may change their whole case
/// record (lots, coordinator, admin); 403 otherwise.
pub(super) async fn full_case(s: &AppState, me: &Me, id: &str) -> Result<Participant, UiError> {
    let id: ParticipantId = parse_id(id, me.lang)?;
    let (p, access) = case(s, me, id, false).await?;
    if access != CaseAccess::Full {
        return Err(UiError::forbidden(me.lang));
    }
    Ok(p)
}

fn back(p: &Participant, what: Saved) -> Response {
    see_other(&saved_url(p.id, what, None))
}

/// The confirmation for `what`, read back from the record as it is now:
/// for an appointment its kind and time and the first reminder still to
/// go out (or that none will, so the lots tells the participant), for a
/// setting its new value.
async fn saved_notice(
    s: &AppState,
    me: &Me,
    p: &Participant,
    access: CaseAccess,
    what: Saved,
    appointment: Option<&str>,
) -> Result<String, UiError> {
    let lang = me.lang;
    let field = |key: &str, value: String| {
        ta(
            lang,
            "ui-participants-saved-field",
            &[("field", t(lang, key)), ("value", value)],
        )
    };
    let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
    Ok(match what {
        Saved::Replied => {
            let a = match appointment.and_then(|x| x.parse().ok()) {
                Some(aid) => appointments::get(&mut c, aid).await.ok(),
                None => None,
            };
            match a.filter(|a| a.participant_id == p.id && access == CaseAccess::Full) {
                Some(a) => ta(
                    lang,
                    "ui-participants-saved-replied",
                    &[
                        (
                            "what",
                            format!(
                                "{} {}",
                                label(lang, "kind", a.kind),
                                when(lang, a.starts_at, p.time_zone)
                            ),
                        ),
                        ("reply", label(lang, "reply", a.reply)),
                    ],
                ),
                None => t(lang, "ui-participants-saved"),
            }
        }
        Saved::Booked | Saved::Moved | Saved::Changed | Saved::Unchanged => {
            let a = match appointment.and_then(|x| x.parse().ok()) {
                Some(aid) => appointments::get(&mut c, aid).await.ok(),
                None => None,
            };
            let Some(a) = a.filter(|a| a.participant_id == p.id) else {
                return Ok(t(lang, "ui-participants-saved"));
            };
            let at = when(lang, a.starts_at, p.time_zone);
            let what_text = if access == CaseAccess::Full {
                format!("{} {at}", label(lang, "kind", a.kind))
            } else {
                at
            };
            let key = match what {
                Saved::Booked => "ui-participants-saved-booked",
                Saved::Moved => "ui-participants-saved-moved",
                Saved::Changed => "ui-participants-saved-changed",
                _ => "ui-participants-saved-unchanged",
            };
            let head = ta(lang, key, &[("what", what_text)]);
            // Reminders, their delivery and the gate's reason (consent,
            // status) are case record: an assistant's confirmation is the
            // time alone.
            if access != CaseAccess::Full
                || a.status != AppointmentStatus::Scheduled
                || a.starts_at <= Utc::now()
            {
                return Ok(head);
            }
            let seen = outbox::reminder_outlook(&mut c, a.id)
                .await
                .map_err(engine_err(lang))?;
            let mut parts = vec![head];
            if let Some((_, channel)) = seen.sent {
                parts.push(ta(
                    lang,
                    "ui-participants-saved-reminder-sent",
                    &[("channel", label(lang, "channel", channel))],
                ));
            }
            match seen.next {
                // The gate the dispatcher applies, asked now about the
                // row's due time: a planned reminder that would be held
                // back (no consent, paused, STOPP) is said to be.
                Some((due, channel)) => {
                    let consent = consents::current(&mut c, p.id)
                        .await
                        .map_err(engine_err(lang))?;
                    let quiet = units::get(&mut c, p.unit_id)
                        .await
                        .map_err(engine_err(lang))?
                        .quiet_hours;
                    let gate = GateInput {
                        now: due.max(Utc::now()),
                        purpose: Purpose::Reminder,
                        channel,
                        status: p.status,
                        consent: consent.as_ref().map(|k| k.state()),
                        opted_out: p.opted_out,
                        appointment: Some((a.status, a.starts_at)),
                        said_cannot: a.reply == ReplyState::Cannot,
                        deadline: None,
                        tz: p.time_zone,
                        quiet,
                        urgent: false,
                    };
                    let channel = ("channel", label(lang, "channel", channel));
                    parts.push(match gates::check(&gate) {
                        Verdict::Send => ta(
                            lang,
                            "ui-participants-saved-next-reminder",
                            &[("when", when(lang, gate.now, p.time_zone)), channel],
                        ),
                        Verdict::Defer(until) => ta(
                            lang,
                            "ui-participants-saved-next-reminder",
                            &[("when", when(lang, until, p.time_zone)), channel],
                        ),
                        Verdict::Suppress(why) => ta(
                            lang,
                            "ui-participants-saved-reminder-held",
                            &[("why", timeline::suppress_reason(lang, &why.to_string()))],
                        ),
                    });
                }
                None if seen.sent.is_none() => {
                    parts.push(t(lang, "ui-participants-saved-no-reminder"));
                }
                None => {}
            }
            parts.join(" ")
        }
        Saved::Created => {
            let consented = consents::current(&mut c, p.id)
                .await
                .map_err(engine_err(lang))?
                .is_some_and(|k| k.withdrawn_at.is_none());
            let key = if consented {
                "ui-participants-saved-created"
            } else {
                "ui-participants-saved-created-no-consent"
            };
            ta(lang, key, &[("name", p.first_name.clone())])
        }
        Saved::Series => t(lang, "ui-participants-saved-series"),
        Saved::Details => t(lang, "ui-participants-saved-details"),
        Saved::Consent => t(lang, "ui-participants-saved-consent"),
        Saved::ConsentWithdrawn => t(lang, "ui-participants-saved-consent-withdrawn"),
        Saved::Status => field("ui-participants-status", label(lang, "status", p.status)),
        Saved::Language => field(
            "ui-participants-language",
            label(lang, "language", p.language),
        ),
        Saved::Intensity => field(
            "ui-participants-intensity",
            label(lang, "intensity", p.intensity),
        ),
        Saved::Phase => field(
            "ui-participants-phase",
            p.phase
                .as_ref()
                .map_or_else(|| "–".to_string(), |x| x.as_str().to_string()),
        ),
        Saved::ExternalRef => field(
            "ui-participants-external-ref",
            crate::store::event_hooks::participant_ref(&mut c, p.id)
                .await
                .map_err(engine_err(lang))?
                .unwrap_or_else(|| "–".to_string()),
        ),
        Saved::Discreet => field(
            "ui-participants-discreet",
            t(lang, if p.discreet { "ui-yes" } else { "ui-no" }),
        ),
        Saved::Lots => {
            let name = match p.lots_id {
                Some(l) => store::staff_name(&mut c, l)
                    .await
                    .map_err(engine_err(lang))?,
                None => None,
            };
            field("ui-participants-lots", name.unwrap_or_else(|| "–".into()))
        }
        Saved::Other => t(lang, "ui-participants-saved"),
    })
}

fn invalid(lang: Language, key: &str) -> UiError {
    UiError::new(StatusCode::UNPROCESSABLE_ENTITY, lang, &t(lang, key))
}

#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    channels: Vec<String>,
    /// The last day it is valid (local date); empty: a year.
    #[serde(default)]
    expires: Option<String>,
}

async fn record_consent(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<ConsentForm>,
) -> Result<Response, UiError> {
    let (me, f) = (f.me, f.form);
    let p = full_case(&s, &me, &id).await?;
    let lang = me.lang;
    let now = Utc::now();
    let channels: ChannelSet = f.channels.join(",").parse().unwrap_or_default();
    let expires = match f
        .expires
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        None => Ok(None),
        Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            // Valid through that day on the participant's wall clock.
            Ok(day) => day
                .succ_opt()
                .and_then(|next| next.and_hms_opt(0, 0, 0))
                .map(|midnight| resolve_local(midnight, p.time_zone))
                .filter(|e| *e > now)
                .map(Some)
                .ok_or("ui-participants-error-expiry"),
            Err(_) => Err("ui-participants-error-expiry"),
        },
    };
    let error = if channels.is_empty() {
        Some("ui-participants-error-consent-channels")
    } else {
        expires.err()
    };
    if let Some(key) = error {
        let (p, access) = case(&s, &me, p.id, true).await?;
        return build(&s, &me, p, access, None, Some(t(lang, key)), None).await;
    }
    s.engine
        .record_consent(p.id, channels, expires.unwrap_or(None), &me.actor(), now)
        .await
        .map_err(engine_err(lang))?;
    Ok(back(&p, Saved::Consent))
}

#[derive(Deserialize)]
struct Empty {}

async fn withdraw_consent(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<Empty>,
) -> Result<Response, UiError> {
    let me = f.me;
    let p = full_case(&s, &me, &id).await?;
    s.engine
        .withdraw_consent(p.id, &me.actor(), Utc::now())
        .await
        .map_err(engine_err(me.lang))?;
    Ok(back(&p, Saved::ConsentWithdrawn))
}

#[derive(Deserialize)]
struct ValueForm {
    #[serde(default)]
    value: String,
}

/// A form's value of a closed vocabulary (status, language, intensity), or
/// 422.
fn value<T: std::str::FromStr>(lang: Language, f: &ValueForm) -> Result<T, UiError> {
    f.value
        .parse()
        .map_err(|_| invalid(lang, "ui-participants-error-value"))
}

/// One field of the case record set from its form, the way every such
/// form goes: the case with full access (403 otherwise), the value read by
/// `read` (422 with the reason), the engine's setter (which journals and
/// audits), back to the record.
async fn set_field<F, T>(
    what: Saved,
    s: &AppState,
    id: &str,
    posted: Posted<F>,
    read: impl FnOnce(Language, &F) -> Result<T, UiError>,
    set: impl AsyncFnOnce(
        &Engine,
        ParticipantId,
        T,
        &crate::engine::Actor,
        DateTime<Utc>,
    ) -> crate::error::Result<()>,
) -> Result<Response, UiError> {
    let (me, f) = (posted.me, posted.form);
    let p = full_case(s, &me, id).await?;
    let v = read(me.lang, &f)?;
    set(&s.engine, p.id, v, &me.actor(), Utc::now())
        .await
        .map_err(engine_err(me.lang))?;
    Ok(back(&p, what))
}

async fn set_status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<ValueForm>,
) -> Result<Response, UiError> {
    set_field(
        Saved::Status,
        &s,
        &id,
        f,
        value::<ParticipantStatus>,
        Engine::set_status,
    )
    .await
}

async fn set_language(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<ValueForm>,
) -> Result<Response, UiError> {
    set_field(
        Saved::Language,
        &s,
        &id,
        f,
        value::<Language>,
        Engine::set_language,
    )
    .await
}

#[derive(Deserialize)]
struct DiscreetForm {
    /// A checkbox: present when ticked.
    #[serde(default)]
    discreet: Option<String>,
}

async fn set_discreet(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<DiscreetForm>,
) -> Result<Response, UiError> {
    let ticked = |_: Language, f: &DiscreetForm| Ok(f.discreet.is_some());
    set_field(Saved::Discreet, &s, &id, f, ticked, Engine::set_discreet).await
}

async fn set_intensity(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<ValueForm>,
) -> Result<Response, UiError> {
    set_field(
        Saved::Intensity,
        &s,
        &id,
        f,
        value::<Intensity>,
        Engine::set_intensity,
    )
    .await
}

/// The programme phase: a label of the unit's; empty clears it.
async fn set_phase(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<ValueForm>,
) -> Result<Response, UiError> {
    let phase = |lang: Language, f: &ValueForm| -> Result<Option<Phase>, UiError> {
        match f.value.trim() {
            "" => Ok(None),
            x => x
                .parse()
                .map(Some)
                .map_err(|_| invalid(lang, "ui-participants-error-phase")),
        }
    };
    set_field(Saved::Phase, &s, &id, f, phase, Engine::set_phase).await
}

/// The participant's reference in the unit's case system; empty clears
/// it. The engine checks its length and that no other participant of the
/// unit has it (409 with the reason).
async fn set_external_ref(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<ValueForm>,
) -> Result<Response, UiError> {
    let text = |_: Language, f: &ValueForm| Ok(f.value.clone());
    set_field(
        Saved::ExternalRef,
        &s,
        &id,
        f,
        text,
        async |e: &Engine, p, r: String, actor: &crate::engine::Actor, now| {
            e.set_participant_external_ref(actor, now, p, &r).await
        },
    )
    .await
}

async fn assign_lots(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<ValueForm>,
) -> Result<Response, UiError> {
    let (me, f) = (f.me, f.form);
    let p = full_case(&s, &me, &id).await?;
    me.require(Action::AssignLots)?;
    let lots: StaffId = f
        .value
        .parse()
        .map_err(|_| invalid(me.lang, "ui-participants-error-lots"))?;
    s.engine
        .reassign_lots(p.id, lots, &me.actor(), Utc::now())
        .await
        .map_err(|e| match e {
            crate::error::Error::Invalid(_) | crate::error::Error::NotFound(_) => {
                invalid(me.lang, "ui-participants-error-lots")
            }
            e => UiError::from_engine(e, me.lang),
        })?;
    Ok(back(&p, Saved::Lots))
}

#[derive(Template)]
#[template(path = "ui/participant_link.html")]
struct LinkPage {
    ui: Ui,
    id: String,
    name: String,
    code: String,
    start: String,
    deep_link: Option<String>,
    qr_svg: Option<String>,
    expires: String,
}

/// A QR code as inline SVG (without the XML declaration, which has no
/// place inside HTML), labelled for screen readers.
pub fn qr_svg(data: &str, label: &str) -> Option<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    let start = svg.find("<svg")?;
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    Some(svg[start..].replacen(
        "<svg ",
        &format!(r#"<svg role="img" aria-label="{label}" "#),
        1,
    ))
}

/// Creates a one-time Telegram link code and shows it once: as a code, a
/// `/start` command, and (with the bot's username) a t.me link and its QR
/// code. Only the code's hash is stored, so this page is the only place it
/// appears; it is not cached.
async fn link_code(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<Empty>,
) -> Result<Response, UiError> {
    let me = f.me;
    let p = full_case(&s, &me, &id).await?;
    let lang = me.lang;
    let (code, expires): (LinkCode, DateTime<Utc>) = s
        .engine
        .create_link_code(Subject::Participant(p.id), &me.actor(), Utc::now())
        .await
        .map_err(engine_err(lang))?;
    let deep_link =
        s.ui.telegram_bot_username
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .map(|b| code.deep_link(b));
    let qr = deep_link
        .as_deref()
        .and_then(|l| qr_svg(l, &t(lang, "ui-participants-link-qr")));
    let ui = me.ui(&format!("/participants/{}", p.id));
    let page = LinkPage {
        id: p.id.to_string(),
        name: p.first_name.clone(),
        code: code.as_str().to_string(),
        start: format!("/start {}", code.as_str()),
        deep_link,
        qr_svg: qr,
        expires: when(lang, expires, p.time_zone),
        ui,
    };
    let mut r = render(&page);
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r.into_response())
}
