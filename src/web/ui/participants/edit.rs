//! `/participants/{id}/edit`: a participant's first name, phone number,
//! channel, time zone and language, checked exactly as when they were
//! added (`first_name_field`, `phone_field`) and saved as one change
//! through `Engine::edit_participant` (journalled and audited). Lotsar,
//! coordinators and admins; another lots's participant is 403.

use super::super::{Me, Posted, Ui, UiError, case, render, render_refused, see_other, t};
use super::case::full_case;
use super::{Errors, Opt, engine_err, first_name_field, options, parse_id, phone_field};
use crate::domain::access::CaseAccess;
use crate::domain::{ChannelKind, Language, ParticipantId};
use crate::store::participants::{ContactDetails, Participant};
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;
use chrono_tz::Tz;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/participants/{id}/edit", get(page).post(save))
}

/// The zones offered as suggestions; any IANA zone name is accepted.
const ZONES: &[&str] = &[
    "Europe/Stockholm",
    "Europe/Helsinki",
    "Europe/Oslo",
    "Europe/Copenhagen",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Warsaw",
    "Europe/Istanbul",
    "Asia/Baghdad",
    "Africa/Mogadishu",
];

#[derive(Deserialize, Default)]
struct EditForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    language: String,
}

#[derive(Template)]
#[template(path = "ui/participant_edit.html")]
struct EditPage {
    ui: Ui,
    id: String,
    name: String,
    form: EditForm,
    errors: Errors,
    languages: Vec<Opt>,
    channels: Vec<Opt>,
    zones: &'static [&'static str],
}

impl EditPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

fn page_for(me: &Me, p: &Participant, form: EditForm, errors: Errors) -> EditPage {
    let lang = me.lang;
    EditPage {
        ui: me.ui(&format!("/participants/{}/edit", p.id)),
        id: p.id.to_string(),
        name: p.first_name.clone(),
        languages: options(lang, "language", Language::ALL, form.language.parse().ok()),
        channels: options(lang, "channel", ChannelKind::ALL, form.channel.parse().ok()),
        zones: ZONES,
        form,
        errors,
    }
}

async fn page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id: ParticipantId = parse_id(&id, me.lang)?;
    // The form shows the number: a view of the case record, audited.
    let (p, access) = case(&s, &me, id, true).await?;
    if access != CaseAccess::Full {
        return Err(UiError::forbidden(me.lang));
    }
    let form = EditForm {
        first_name: p.first_name.clone(),
        phone: p
            .phone
            .as_ref()
            .map(|x| x.as_e164().to_string())
            .unwrap_or_default(),
        channel: p.channel_pref.to_string(),
        time_zone: p.time_zone.name().to_string(),
        language: p.language.to_string(),
    };
    Ok(render(&page_for(&me, &p, form, Errors::default())))
}

async fn save(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Posted<EditForm>,
) -> Result<Response, UiError> {
    let (me, f) = (f.me, f.form);
    let p = full_case(&s, &me, &id).await?;
    let lang = me.lang;
    let mut errors = Errors::default();
    let first_name = first_name_field(lang, &f.first_name, &mut errors);
    let phone = phone_field(lang, &f.phone, &mut errors);
    let channel: Option<ChannelKind> = f
        .channel
        .parse()
        .map_err(|_| errors.add("channel", t(lang, "ui-participants-error-value")))
        .ok();
    let language: Option<Language> = f
        .language
        .parse()
        .map_err(|_| errors.add("language", t(lang, "ui-participants-error-value")))
        .ok();
    let time_zone: Option<Tz> = f
        .time_zone
        .trim()
        .parse()
        .map_err(|_| errors.add("time_zone", t(lang, "ui-participants-error-time-zone")))
        .ok();
    let (Some(first_name), Some(phone), Some(channel_pref), Some(language), Some(time_zone)) =
        (first_name, phone, channel, language, time_zone)
    else {
        return Ok(render_refused(&page_for(&me, &p, f, errors), true));
    };
    let details = ContactDetails {
        first_name,
        phone,
        channel_pref,
        time_zone,
        language,
    };
    s.engine
        .edit_participant(p.id, &details, &me.actor(), Utc::now())
        .await
        .map_err(engine_err(lang))?;
    Ok(see_other(&super::case::saved_url(
        p.id,
        super::case::Saved::Details,
        None,
    )))
}
