//! A unit's own wording of the reminders and the summons (issue 23), on
//! the message page: `/settings/templates` lists each editable message in
//! Swedish and English as "Standard" or "Egen text för enheten", filled
//! with the sample (Ali, tomorrow 09:00); coordinators of the unit and
//! admins get "Ändra" and "Återställ", a lots sees it read-only.
//! `/settings/templates/{key}/{lang}` is the edit page: the box, the
//! placeholders it takes, the preview and its SMS parts (`settings::check`,
//! as the dispatcher counts), a live counter (`counter.js`, filled with the
//! same sample), errors in the viewer's language with the typed text kept.
//! Saving is `Engine::set_unit_template`, resetting
//! `Engine::reset_unit_template`, each audited.

use super::monitoring::{Scope, scope};
use super::settings::{Check, check};
use super::{Me, Posted, Ui, UiError, read_store, render_refused, see_other, t, ta};
use crate::domain::access::Action;
use crate::domain::schedule::resolve_local;
use crate::domain::template::{
    MAX_CHARS, Placeholder, TemplateError, TemplateKey, TemplateText, reply_words,
};
use crate::domain::{Language, UnitId};
use crate::store::templates::{self, StoredTemplate};
use crate::texts::{self, ReminderText};
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/settings/templates/{key}/{lang}",
            get(edit_page).post(edit_submit),
        )
        .route("/settings/templates/{key}/{lang}/reset", post(reset))
}

const LANGS: [Language; 2] = [Language::Sv, Language::En];

/// The sample every preview is filled with: Ali, an appointment tomorrow
/// at 09:00; a summons issued now, due within 2 hours.
struct SampleValues {
    now: DateTime<Utc>,
    tz: Tz,
    starts_at: DateTime<Utc>,
}

impl SampleValues {
    fn new(now: DateTime<Utc>, tz: Tz) -> Self {
        let tomorrow = now.with_timezone(&tz).date_naive() + Duration::days(1);
        SampleValues {
            now,
            tz,
            starts_at: resolve_local(tomorrow.and_hms_opt(9, 0, 0).unwrap_or_default(), tz),
        }
    }

    /// The message as a participant would get it, rendered by `texts` as
    /// the dispatcher does.
    fn fill(&self, t: &TemplateText) -> String {
        match t.key() {
            TemplateKey::Summons => texts::summons(
                t.lang(),
                "Ali",
                self.now,
                self.now + Duration::hours(2),
                self.tz,
                Some(t),
            ),
            key => texts::reminder(
                &ReminderText {
                    lang: t.lang(),
                    first_name: "Ali",
                    starts_at: self.starts_at,
                    tz: self.tz,
                    ask_reply: key == TemplateKey::ReminderReply,
                    location: None,
                    with_whom: None,
                    template: Some(t),
                },
                self.now,
            ),
        }
    }

    /// Every placeholder spelling with its sample value, as JSON for the
    /// live counter (`data-fill`).
    fn fill_json(&self, lang: Language) -> String {
        let when = texts::when(lang, self.starts_at, self.now, self.tz);
        let within = texts::within(lang, Duration::hours(2));
        let deadline = (self.now + Duration::hours(2))
            .with_timezone(&self.tz)
            .format("%H:%M")
            .to_string();
        let mut map = serde_json::Map::new();
        for p in Placeholder::ALL {
            let v = match p {
                Placeholder::Name => "Ali".to_string(),
                Placeholder::When => when.clone(),
                Placeholder::Within => within.clone(),
                Placeholder::Deadline => deadline.clone(),
            };
            for l in LANGS {
                map.insert(p.spelling(l).to_string(), v.clone().into());
            }
        }
        serde_json::Value::Object(map).to_string()
    }
}

fn key_label(ui: Language, key: TemplateKey) -> String {
    t(ui, &format!("ui-settings-tpl-{}", key.as_str()))
}

fn lang_name(ui: Language, l: Language) -> String {
    t(ui, &format!("ui-settings-lang-{}", l.as_str()))
}

/// The default wording as a template (the Fluent text with friendly
/// placeholders; a unit test in `texts` holds that it parses).
fn default_of(key: TemplateKey, lang: Language) -> Option<TemplateText> {
    TemplateText::parse(key, lang, &texts::default_template(key, lang)).ok()
}

/// A refused template in the viewer's language.
pub(crate) fn error_text(
    ui: Language,
    key: TemplateKey,
    lang: Language,
    e: &TemplateError,
) -> String {
    let braces = |p: &str| format!("{{{p}}}");
    match e {
        TemplateError::Empty => t(ui, "ui-templates-error-empty"),
        TemplateError::ControlChars => t(ui, "ui-templates-error-control"),
        TemplateError::UnbalancedBrace { near } => {
            ta(ui, "ui-templates-error-brace", &[("near", near.clone())])
        }
        TemplateError::UnknownPlaceholder { name } => ta(
            ui,
            "ui-templates-error-unknown",
            &[
                ("name", braces(name.as_str())),
                (
                    "allowed",
                    key.placeholders()
                        .iter()
                        .map(|p| braces(p.spelling(lang)))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ],
        ),
        TemplateError::MissingTime { .. } => ta(
            ui,
            "ui-templates-error-time",
            &[(
                "needed",
                key.time_placeholders()
                    .iter()
                    .map(|p| braces(p.spelling(lang)))
                    .collect::<Vec<_>>()
                    .join(" / "),
            )],
        ),
        TemplateError::NoReplyWords { yes, no } => ta(
            ui,
            "ui-templates-error-reply",
            &[("yes", yes.to_string()), ("no", no.to_string())],
        ),
        TemplateError::Sensitive { words } => ta(
            ui,
            "ui-templates-error-sensitive",
            &[("words", words.join(", "))],
        ),
        TemplateError::TooLong { chars, max } => ta(
            ui,
            "ui-templates-error-too-long",
            &[("chars", chars.to_string()), ("max", max.to_string())],
        ),
    }
}

/// One editable message in one language, on the message page.
pub(crate) struct UnitTemplateRow {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) lang_code: &'static str,
    pub(crate) lang_name: String,
    pub(crate) custom: bool,
    pub(crate) text: String,
    pub(crate) check: Check,
    pub(crate) edit_href: String,
    pub(crate) reset_action: String,
}

/// The unit's editable messages for the message page: its own wording
/// where it has one, else the default, filled with the sample.
pub(crate) async fn unit_rows(
    s: &AppState,
    unit: UnitId,
    tz: Tz,
    ui: Language,
) -> Result<Vec<UnitTemplateRow>, UiError> {
    let stored = read_store(s, ui, async |c| templates::list(c, unit).await).await?;
    let sample = SampleValues::new(Utc::now(), tz);
    let mut rows = Vec::new();
    for key in TemplateKey::ALL {
        for lang in LANGS {
            let own = own_template(&stored, key, lang);
            let Some(tpl) = own.clone().or_else(|| default_of(key, lang)) else {
                continue;
            };
            let text = sample.fill(&tpl);
            rows.push(UnitTemplateRow {
                id: format!("{}-{}", key.as_str(), lang.as_str()),
                label: key_label(ui, key),
                lang_code: lang.as_str(),
                lang_name: lang_name(ui, lang),
                custom: own.is_some(),
                check: check(&text),
                text,
                edit_href: format!(
                    "/settings/templates/{}/{}?unit={unit}",
                    key.as_str(),
                    lang.as_str()
                ),
                reset_action: format!(
                    "/settings/templates/{}/{}/reset",
                    key.as_str(),
                    lang.as_str()
                ),
            });
        }
    }
    Ok(rows)
}

fn own_template(
    stored: &[StoredTemplate],
    key: TemplateKey,
    lang: Language,
) -> Option<TemplateText> {
    stored
        .iter()
        .find(|t| t.key == key && t.lang == lang)
        .and_then(|t| TemplateText::parse(key, lang, &t.body).ok())
}

/// The typed or stored text filled with the sample, and how it travels.
struct Filled {
    text: String,
    check: Check,
}

/// A placeholder as the edit page lists it.
struct PlaceholderHelp {
    spelled: String,
    other: String,
    meaning: String,
}

#[derive(Template)]
#[template(path = "ui/settings_template_edit.html")]
struct EditPage {
    ui: Ui,
    unit_id: i64,
    unit_name: String,
    key: &'static str,
    lang_code: &'static str,
    title: String,
    custom: bool,
    body: String,
    placeholders: Vec<PlaceholderHelp>,
    reply_hint: Option<String>,
    preview: Option<Filled>,
    error: Option<String>,
    counter_template: String,
    fill_json: String,
    max_chars: usize,
}

fn parse_path(key: &str, lang: &str, ui: Language) -> Result<(TemplateKey, Language), UiError> {
    let key: TemplateKey = key.parse().map_err(|_| UiError::not_found(ui))?;
    let lang: Language = match lang {
        "sv" => Language::Sv,
        "en" => Language::En,
        _ => return Err(UiError::not_found(ui)),
    };
    Ok((key, lang))
}

/// The edit page for `key` in `lang`: with `typed` (a submitted text) and
/// its outcome, or the stored text.
#[allow(clippy::too_many_arguments)]
async fn edit(
    s: &AppState,
    me: &Me,
    sc: &Scope,
    key: TemplateKey,
    lang: Language,
    typed: Option<String>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let ui = me.lang;
    let unit = sc.unit.as_ref().ok_or_else(|| UiError::not_found(ui))?;
    let stored = read_store(s, ui, async |c| templates::get(c, unit.id, key, lang).await).await?;
    let custom = stored.is_some();
    let body = typed.unwrap_or_else(|| {
        stored
            .map(|t| t.body)
            .unwrap_or_else(|| texts::default_template(key, lang))
    });
    let sample = SampleValues::new(Utc::now(), unit.time_zone);
    let preview = if error.is_none() {
        TemplateText::parse(key, lang, &body).ok().map(|t| {
            let text = sample.fill(&t);
            Filled {
                check: check(&text),
                text,
            }
        })
    } else {
        None
    };
    let placeholders = key
        .placeholders()
        .iter()
        .map(|p| {
            let other = match lang {
                Language::Sv => Language::En,
                Language::En => Language::Sv,
            };
            PlaceholderHelp {
                spelled: format!("{{{}}}", p.spelling(lang)),
                other: format!("{{{}}}", p.spelling(other)),
                meaning: t(ui, &format!("ui-templates-ph-{}", p.spelling(Language::En))),
            }
        })
        .collect();
    let reply_hint = key.asks_reply().then(|| {
        let (yes, no) = reply_words(lang);
        ta(
            ui,
            "ui-templates-reply-hint",
            &[("yes", yes.to_string()), ("no", no.to_string())],
        )
    });
    let failed = error.is_some();
    let page = EditPage {
        ui: me.ui("/settings/templates"),
        unit_id: unit.id.get(),
        unit_name: unit.name.clone(),
        key: key.as_str(),
        lang_code: lang.as_str(),
        title: format!("{} ({})", key_label(ui, key), lang_name(ui, lang)),
        custom,
        body,
        placeholders,
        reply_hint,
        preview,
        error,
        counter_template: t(ui, "ui-templates-counter"),
        fill_json: sample.fill_json(lang),
        max_chars: MAX_CHARS,
    };
    Ok(render_refused(&page, failed))
}

#[derive(Deserialize)]
struct UnitQuery {
    unit: Option<String>,
}

async fn edit_page(
    State(s): State<AppState>,
    me: Me,
    Path((key, lang)): Path<(String, String)>,
    Query(q): Query<UnitQuery>,
) -> Result<Response, UiError> {
    me.require(Action::Settings)?;
    let (key, lang) = parse_path(&key, &lang, me.lang)?;
    let sc = scope(&s, &me, q.unit.as_deref(), false).await?;
    edit(&s, &me, &sc, key, lang, None, None).await
}

#[derive(Deserialize)]
struct EditInput {
    unit: String,
    body: String,
    /// "preview" shows the filled text without saving.
    action: Option<String>,
}

async fn edit_submit(
    State(s): State<AppState>,
    Path((key, lang)): Path<(String, String)>,
    p: Posted<EditInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let ui = me.lang;
    let (sc, unit, key, lang) = target(&s, &me, &key, &lang, &f.unit).await?;
    let parsed = match TemplateText::parse(key, lang, &f.body) {
        Ok(t) => t,
        Err(e) => {
            let error = ta(
                ui,
                "ui-templates-refused",
                &[("reason", error_text(ui, key, lang, &e))],
            );
            return edit(&s, &me, &sc, key, lang, Some(f.body), Some(error)).await;
        }
    };
    if f.action.as_deref() == Some("preview") {
        return edit(&s, &me, &sc, key, lang, Some(f.body), None).await;
    }
    s.engine
        .set_unit_template(unit, &parsed, &me.actor(), Utc::now())
        .await
        .map_err(|e| UiError::from_engine(e, ui))?;
    Ok(back_to_list(unit, "saved", key, lang))
}

#[derive(Deserialize)]
struct ResetInput {
    unit: String,
}

async fn reset(
    State(s): State<AppState>,
    Path((key, lang)): Path<(String, String)>,
    p: Posted<ResetInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let ui = me.lang;
    let (_, unit, key, lang) = target(&s, &me, &key, &lang, &f.unit).await?;
    s.engine
        .reset_unit_template(unit, key, lang, &me.actor(), Utc::now())
        .await
        .map_err(|e| UiError::from_engine(e, ui))?;
    Ok(back_to_list(unit, "reset", key, lang))
}

/// What a posted form is about: the template named by the path, in the unit
/// the form names, once the viewer may change settings there (403), and the
/// unit exists (404).
async fn target(
    s: &AppState,
    me: &Me,
    key: &str,
    lang: &str,
    unit: &str,
) -> Result<(Scope, UnitId, TemplateKey, Language), UiError> {
    me.require(Action::Settings)?;
    let (key, lang) = parse_path(key, lang, me.lang)?;
    let sc = scope(s, me, Some(unit), false).await?;
    let unit = sc
        .unit
        .as_ref()
        .ok_or_else(|| UiError::not_found(me.lang))?
        .id;
    Ok((sc, unit, key, lang))
}

/// Back to the list at the template's card, saying what was done
/// (`saved` or `reset`).
fn back_to_list(unit: UnitId, done: &str, key: TemplateKey, lang: Language) -> Response {
    let (k, l) = (key.as_str(), lang.as_str());
    see_other(&format!(
        "/settings/templates?unit={unit}&{done}={k}-{l}#tpl-unit-{k}-{l}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_words_in_both_languages() {
        let errors = [
            TemplateError::Empty,
            TemplateError::ControlChars,
            TemplateError::UnbalancedBrace {
                near: "Hej {namn".into(),
            },
            TemplateError::UnknownPlaceholder {
                name: "förnamn".into(),
            },
            TemplateError::MissingTime {
                needed: "tid".into(),
            },
            TemplateError::NoReplyWords {
                yes: "KOMMER",
                no: "FÖRHINDER",
            },
            TemplateError::Sensitive {
                words: vec!["drog"],
            },
            TemplateError::TooLong {
                chars: 500,
                max: 459,
            },
        ];
        for ui in LANGS {
            for e in &errors {
                let w = error_text(ui, TemplateKey::ReminderReply, Language::Sv, e);
                assert!(
                    !w.contains("Unknown localization") && !w.is_empty(),
                    "{e:?}: {w}"
                );
            }
        }
        let w = error_text(
            Language::Sv,
            TemplateKey::ReminderReply,
            Language::Sv,
            &errors[3],
        );
        assert!(
            w.contains("{förnamn}") && w.contains("{namn}, {tid}"),
            "{w}"
        );
    }

    #[test]
    fn the_sample_fills_every_default_without_braces() {
        let s = SampleValues::new(Utc::now(), chrono_tz::Europe::Stockholm);
        for key in TemplateKey::ALL {
            for lang in LANGS {
                let t = default_of(key, lang).expect("the default parses");
                let text = s.fill(&t);
                assert!(text.contains("Ali") && !text.contains('{'), "{text}");
            }
        }
        assert!(s.fill_json(Language::Sv).contains(r#""tid":"imorgon "#));
    }
}
