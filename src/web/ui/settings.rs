//! Settings for coordinators (their own unit) and admins (any unit): the
//! reminder rule per kind of appointment (offsets, reply asked, deadline),
//! quiet hours, retention, plan-making and gap alerts, each change through
//! the engine with an audit row; and a preview of every message template
//! in both languages with its SMS encoding, part count and a warning when
//! it names anything sensitive, plus a box to check a text of one's own.

use super::monitoring::{Scope, UnitOption, scope, unit_options};
use super::unit_templates::{self, UnitTemplateRow};
use super::{Me, Posted, Ui, UiError, read_store, render_refused, see_other, t, ta};
use crate::channels::sms::gsm7::{self, Encoding};
use crate::domain::access::{self, Action};
use crate::domain::schedule::{QuietHours, resolve_local};
use crate::domain::template::TemplateKey;
use crate::domain::{AppointmentKind, Language, Span};
use crate::engine::settings::{MAX_GAP_ALERT_DAYS, MAX_RETENTION_DAYS, RuleChange, UnitSettings};
use crate::store::rules;
use crate::texts::{self, RECEIPT_KEYS, ReminderText, TELEGRAM_KEYS};
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings", get(page))
        .route("/settings/rules/{kind}", post(set_rule))
        .route("/settings/unit", post(set_unit))
        .route("/settings/templates", get(templates_page))
        .route("/settings/templates/check", post(check_text))
}

/// The most reminders one rule may have (as `store::rules::set`).
const MAX_OFFSETS: usize = 5;
/// The longest text the check box takes.
const MAX_CHECK_CHARS: usize = 2000;

fn spans(s: &[Span]) -> String {
    s.iter().map(Span::to_string).collect::<Vec<_>>().join(",")
}

/// One kind's rule as its form shows it.
struct RuleForm {
    kind: &'static str,
    label: String,
    offsets: String,
    ask_reply: bool,
    deadline: String,
    /// No rule stored: no reminders for this kind.
    missing: bool,
    error: Option<String>,
}

/// The unit form's values (as stored, or as typed when refused).
struct UnitForm {
    quiet_start: String,
    quiet_end: String,
    retention_days: String,
    plan_making: bool,
    gap_alert_days: String,
    alert_details: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/settings.html")]
struct SettingsPage {
    ui: Ui,
    units: Vec<UnitOption>,
    show_picker: bool,
    unit_id: i64,
    unit_name: String,
    time_zone: String,
    saved: bool,
    error: Option<String>,
    rules: Vec<RuleForm>,
    unit: UnitForm,
}

fn kind_label(lang: Language, k: AppointmentKind) -> String {
    t(lang, &format!("ui-settings-kind-{}", k.as_str()))
}

/// What was refused, to show again with its reason.
enum Refused {
    Rule(RuleForm),
    Unit(UnitForm),
}

async fn settings_page(
    s: &AppState,
    me: &Me,
    sc: &Scope,
    saved: bool,
    refused: Option<Refused>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let unit = sc.unit.as_ref().ok_or_else(|| UiError::not_found(lang))?;
    let stored = read_store(s, lang, async |c| rules::list(c, unit.id).await).await?;
    let (mut rule_refused, mut unit_refused) = (None, None);
    match refused {
        Some(Refused::Rule(r)) => rule_refused = Some(r),
        Some(Refused::Unit(u)) => unit_refused = Some(u),
        None => {}
    }
    let error = rule_refused
        .as_ref()
        .and_then(|r| r.error.clone())
        .or_else(|| unit_refused.as_ref().and_then(|u| u.error.clone()));
    let failed = error.is_some();
    let mut forms = Vec::new();
    for k in AppointmentKind::ALL {
        if let Some(r) = rule_refused.take_if(|r| r.kind == k.as_str()) {
            forms.push(r);
            continue;
        }
        let r = stored.iter().find(|r| r.kind == *k);
        forms.push(RuleForm {
            kind: k.as_str(),
            label: kind_label(lang, *k),
            offsets: r.map(|r| spans(&r.offsets)).unwrap_or_default(),
            ask_reply: r.is_none_or(|r| r.ask_reply),
            deadline: r
                .and_then(|r| r.reply_deadline)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            missing: r.is_none(),
            error: None,
        });
    }
    let q = unit.quiet_hours;
    let hhmm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
    let unit_form = unit_refused.unwrap_or(UnitForm {
        quiet_start: hhmm(q.start_minute()),
        quiet_end: hhmm(q.end_minute()),
        retention_days: unit.retention_days.to_string(),
        plan_making: unit.plan_making,
        gap_alert_days: unit.gap_alert_days.to_string(),
        alert_details: unit.alert_details,
        error: None,
    });
    Ok(render_refused(
        &SettingsPage {
            ui: me.ui("/settings"),
            units: unit_options(sc),
            show_picker: sc.units.len() > 1,
            unit_id: unit.id.get(),
            unit_name: unit.name.clone(),
            time_zone: unit.time_zone.name().to_string(),
            saved: saved && !failed,
            error,
            rules: forms,
            unit: unit_form,
        },
        failed,
    ))
}

#[derive(Deserialize)]
struct PageQuery {
    unit: Option<String>,
    saved: Option<String>,
}

async fn page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    me.require(Action::Settings)?;
    let sc = scope(&s, &me, q.unit.as_deref(), false).await?;
    settings_page(&s, &me, &sc, q.saved.is_some(), None).await
}

/// Parses `24h,2h`: at least one, at most five, each a real span; the
/// reason names the part that is wrong.
fn parse_offsets(s: &str, lang: Language) -> Result<Vec<Span>, String> {
    let parts: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(t(lang, "ui-settings-offsets-empty"));
    }
    if let Some(bad) = parts.iter().find(|p| p.parse::<Span>().is_err()) {
        return Err(ta(
            lang,
            "ui-settings-offsets-bad",
            &[("value", bad.to_string())],
        ));
    }
    let list = Span::parse_list(s).map_err(|_| t(lang, "ui-settings-offsets-empty"))?;
    if list.len() > MAX_OFFSETS {
        return Err(ta(
            lang,
            "ui-settings-offsets-max",
            &[("n", MAX_OFFSETS.to_string())],
        ));
    }
    Ok(list)
}

#[derive(Deserialize)]
struct RuleInput {
    unit: String,
    offsets: String,
    ask_reply: Option<String>,
    deadline: Option<String>,
}

async fn set_rule(
    State(s): State<AppState>,
    Path(kind): Path<String>,
    p: Posted<RuleInput>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::Settings)?;
    let lang = me.lang;
    let sc = scope(&s, &me, Some(&f.unit), false).await?;
    let unit = sc.unit.as_ref().ok_or_else(|| UiError::not_found(lang))?;
    let kind: AppointmentKind = kind.parse().map_err(|_| UiError::not_found(lang))?;
    let ask_reply = f.ask_reply.is_some();
    let deadline_typed = f.deadline.as_deref().map(str::trim).unwrap_or("");
    let refuse = |error: String| RuleForm {
        kind: kind.as_str(),
        label: kind_label(lang, kind),
        offsets: f.offsets.clone(),
        ask_reply,
        deadline: deadline_typed.to_string(),
        missing: false,
        error: Some(ta(
            lang,
            "ui-settings-refused-rule",
            &[("kind", kind_label(lang, kind)), ("reason", error)],
        )),
    };
    let offsets = match parse_offsets(&f.offsets, lang) {
        Ok(o) => o,
        Err(e) => {
            return settings_page(&s, &me, &sc, false, Some(Refused::Rule(refuse(e)))).await;
        }
    };
    let deadline = if deadline_typed.is_empty() || !ask_reply {
        None
    } else {
        match deadline_typed.parse::<Span>() {
            Ok(d) => Some(d),
            Err(_) => {
                let e = ta(
                    lang,
                    "ui-settings-deadline-bad",
                    &[("value", deadline_typed.to_string())],
                );
                return settings_page(&s, &me, &sc, false, Some(Refused::Rule(refuse(e)))).await;
            }
        }
    };
    s.engine
        .set_rule(
            unit.id,
            &RuleChange {
                kind,
                offsets,
                ask_reply,
                reply_deadline: deadline,
            },
            &me.actor(),
            Utc::now(),
        )
        .await
        .map_err(|e| UiError::from_engine(e, lang))?;
    Ok(see_other(&format!(
        "/settings?unit={}&saved=1#rule-{}",
        unit.id,
        kind.as_str()
    )))
}

#[derive(Deserialize)]
struct UnitInput {
    unit: String,
    quiet_start: String,
    quiet_end: String,
    retention_days: String,
    plan_making: Option<String>,
    gap_alert_days: String,
    alert_details: Option<String>,
}

/// "21:00" (or "21:00:00", as some browsers send a time field).
fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .ok()
}

fn parse_unit_form(f: &UnitInput, lang: Language) -> Result<UnitSettings, String> {
    let start = parse_hhmm(&f.quiet_start).ok_or_else(|| {
        ta(
            lang,
            "ui-settings-time-bad",
            &[("value", f.quiet_start.trim().to_string())],
        )
    })?;
    let end = parse_hhmm(&f.quiet_end).ok_or_else(|| {
        ta(
            lang,
            "ui-settings-time-bad",
            &[("value", f.quiet_end.trim().to_string())],
        )
    })?;
    let retention_days = f
        .retention_days
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d))
        .ok_or_else(|| {
            ta(
                lang,
                "ui-settings-retention-bad",
                &[("max", MAX_RETENTION_DAYS.to_string())],
            )
        })?;
    let gap_alert_days = f
        .gap_alert_days
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (0..=MAX_GAP_ALERT_DAYS).contains(d))
        .ok_or_else(|| {
            ta(
                lang,
                "ui-settings-gap-bad",
                &[("max", MAX_GAP_ALERT_DAYS.to_string())],
            )
        })?;
    Ok(UnitSettings {
        quiet_hours: QuietHours::new(start, end),
        retention_days,
        plan_making: f.plan_making.is_some(),
        gap_alert_days,
        alert_details: f.alert_details.is_some(),
    })
}

async fn set_unit(State(s): State<AppState>, p: Posted<UnitInput>) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::Settings)?;
    let lang = me.lang;
    let sc = scope(&s, &me, Some(&f.unit), false).await?;
    let unit = sc.unit.as_ref().ok_or_else(|| UiError::not_found(lang))?;
    let settings = match parse_unit_form(&f, lang) {
        Ok(v) => v,
        Err(e) => {
            let form = UnitForm {
                quiet_start: f.quiet_start.clone(),
                quiet_end: f.quiet_end.clone(),
                retention_days: f.retention_days.clone(),
                plan_making: f.plan_making.is_some(),
                gap_alert_days: f.gap_alert_days.clone(),
                alert_details: f.alert_details.is_some(),
                error: Some(ta(lang, "ui-settings-refused-unit", &[("reason", e)])),
            };
            return settings_page(&s, &me, &sc, false, Some(Refused::Unit(form))).await;
        }
    };
    s.engine
        .set_unit_settings(unit.id, &settings, &me.actor(), Utc::now())
        .await
        .map_err(|e| UiError::from_engine(e, lang))?;
    Ok(see_other(&format!(
        "/settings?unit={}&saved=1#unit-settings",
        unit.id
    )))
}

/// How a text travels as SMS, and what it names that it should not.
pub(crate) struct Check {
    pub(crate) encoding: &'static str,
    pub(crate) ucs2: bool,
    pub(crate) parts: usize,
    pub(crate) units: usize,
    /// Per part: 160/153 (GSM-7) or 70/67 (UCS-2).
    pub(crate) per_part: usize,
    pub(crate) sensitive: Vec<&'static str>,
    /// The text as it would be sent, when typographic characters were
    /// replaced.
    pub(crate) sanitized: Option<String>,
}

pub(crate) fn check(text: &str) -> Check {
    let clean = gsm7::sanitize(text);
    let seg = gsm7::segments(&clean);
    let ucs2 = seg.encoding == Encoding::Ucs2;
    Check {
        encoding: if ucs2 { "UCS-2" } else { "GSM-7" },
        ucs2,
        parts: seg.parts,
        units: seg.units,
        per_part: match (ucs2, seg.parts > 1) {
            (false, false) => 160,
            (false, true) => 153,
            (true, false) => 70,
            (true, true) => 67,
        },
        sensitive: texts::sensitive_words_in(text),
        sanitized: (clean != text).then_some(clean),
    }
}

/// One template in one language.
struct Sample {
    lang_name: String,
    lang_code: &'static str,
    text: String,
    check: Check,
}

/// One template, in both languages.
struct Preview {
    key: String,
    label: String,
    samples: Vec<Sample>,
}

#[derive(Template)]
#[template(path = "ui/settings_templates.html")]
struct TemplatesPage {
    ui: Ui,
    previews: Vec<Preview>,
    telegram: Vec<Preview>,
    typed: String,
    result: Option<Check>,
    error: Option<String>,
    /// Coordinators of the unit and admins: edit and reset the unit's
    /// wording, and the check box. A lots sees the texts only.
    can_edit: bool,
    units: Vec<UnitOption>,
    show_picker: bool,
    unit_id: i64,
    unit_name: String,
    unit_rows: Vec<UnitTemplateRow>,
    /// "reminder-sv" when that text was just saved or reset.
    saved: Option<String>,
    reset: Option<String>,
}

/// The sample every preview uses: Ali, an appointment tomorrow at 09:00.
fn samples_for(key: &str, lang: Language, now: DateTime<Utc>, tz: Tz) -> String {
    let tomorrow = now.with_timezone(&tz).date_naive() + Duration::days(1);
    let at = |h: u32| resolve_local(tomorrow.and_hms_opt(h, 0, 0).unwrap_or_default(), tz);
    let starts_at = at(9);
    let reminder = |ask_reply: bool, details: bool| {
        texts::reminder(
            &ReminderText {
                lang,
                first_name: "Ali",
                starts_at,
                tz,
                ask_reply,
                location: details.then_some("Storgatan 1"),
                with_whom: details.then_some("Sara"),
                template: None,
            },
            now,
        )
    };
    match key {
        "reminder-reply" => reminder(true, false),
        "reminder" => reminder(false, false),
        "reminder-details" => reminder(true, true),
        "summons" => texts::summons(lang, "Ali", now, now + Duration::hours(2), tz, None),
        key => {
            let when = |h: u32| texts::when(lang, at(h), now, tz);
            let args = [
                ("when", when(9)),
                ("first", when(9)),
                ("second", when(14)),
                ("list", format!("{}; {}", when(9), when(14))),
                ("name", "Ali".to_string()),
                ("phone", "+46700000000".to_string()),
                ("channels", "sms".to_string()),
                ("consent", "2026-12-01".to_string()),
                ("time", "08:15".to_string()),
                ("contact", "Lisa".to_string()),
                ("min", "10".to_string()),
                (
                    "choice",
                    texts::render(lang, "tg-choice-coming", &[]).to_string(),
                ),
            ];
            texts::render(lang, key, &args)
        }
    }
}

fn label_of(lang: Language, key: &str) -> String {
    let k = format!("ui-settings-tpl-{key}");
    let l = t(lang, &k);
    if l.starts_with("Unknown localization") {
        key.to_string()
    } else {
        l
    }
}

fn preview(key: &str, ui_lang: Language, now: DateTime<Utc>, tz: Tz) -> Preview {
    Preview {
        key: key.to_string(),
        label: label_of(ui_lang, key),
        samples: [Language::Sv, Language::En]
            .into_iter()
            .map(|l| {
                let text = samples_for(key, l, now, tz);
                Sample {
                    lang_name: t(ui_lang, &format!("ui-settings-lang-{}", l.as_str())),
                    lang_code: l.as_str(),
                    check: check(&text),
                    text,
                }
            })
            .collect(),
    }
}

/// What the message page shows besides the defaults.
struct TemplatesView {
    typed: String,
    result: Option<Check>,
    error: Option<String>,
    saved: Option<String>,
    reset: Option<String>,
}

async fn templates(
    s: &AppState,
    me: &Me,
    sc: &Scope,
    v: TemplatesView,
) -> Result<Response, UiError> {
    let now = Utc::now();
    let tz = chrono_tz::Europe::Stockholm;
    let lang = me.lang;
    let unit = sc.unit.as_ref().ok_or_else(|| UiError::not_found(lang))?;
    let previews = ["reminder-reply", "reminder", "reminder-details", "summons"]
        .into_iter()
        .chain(RECEIPT_KEYS.iter().copied())
        .map(|k| preview(k, lang, now, tz))
        .collect();
    let telegram = TELEGRAM_KEYS
        .iter()
        .map(|k| preview(k, lang, now, tz))
        .collect();
    let unit_rows = unit_templates::unit_rows(s, unit.id, unit.time_zone, lang).await?;
    let failed = v.error.is_some();
    let page = TemplatesPage {
        ui: me.ui("/settings/templates"),
        previews,
        telegram,
        typed: v.typed,
        result: v.result,
        error: v.error,
        can_edit: me.may(Action::Settings),
        units: unit_options(sc),
        show_picker: sc.units.len() > 1,
        unit_id: unit.id.get(),
        unit_name: unit.name.clone(),
        unit_rows,
        saved: v.saved,
        reset: v.reset,
    };
    Ok(render_refused(&page, failed))
}

/// The message page: coordinators and admins, and lotsar read-only.
fn require_templates(me: &Me) -> Result<(), UiError> {
    if access::sees_templates(&me.viewer) {
        Ok(())
    } else {
        Err(UiError::forbidden(me.lang))
    }
}

#[derive(Deserialize)]
struct TemplatesQuery {
    unit: Option<String>,
    saved: Option<String>,
    reset: Option<String>,
}

/// Only a known "key-lang" is echoed back into the page.
fn known_row(v: Option<String>) -> Option<String> {
    v.filter(|r| {
        TemplateKey::ALL.iter().any(|k| {
            [Language::Sv, Language::En]
                .iter()
                .any(|l| *r == format!("{}-{}", k.as_str(), l.as_str()))
        })
    })
}

async fn templates_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<TemplatesQuery>,
) -> Result<Response, UiError> {
    require_templates(&me)?;
    let sc = scope(&s, &me, q.unit.as_deref(), false).await?;
    let view = TemplatesView {
        typed: String::new(),
        result: None,
        error: None,
        saved: known_row(q.saved),
        reset: known_row(q.reset),
    };
    templates(&s, &me, &sc, view).await
}

#[derive(Deserialize)]
struct CheckInput {
    text: String,
    unit: Option<String>,
}

/// Counts a typed text; nothing is stored.
async fn check_text(State(s): State<AppState>, p: Posted<CheckInput>) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::Settings)?;
    let sc = scope(&s, &me, f.unit.as_deref(), false).await?;
    let mut view = TemplatesView {
        typed: String::new(),
        result: None,
        error: None,
        saved: None,
        reset: None,
    };
    if f.text.chars().count() > MAX_CHECK_CHARS {
        view.error = Some(ta(
            me.lang,
            "ui-settings-check-too-long",
            &[("max", MAX_CHECK_CHARS.to_string())],
        ));
    } else {
        view.result = (!f.text.trim().is_empty()).then(|| check(&f.text));
    }
    view.typed = f.text;
    templates(&s, &me, &sc, view).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_name_the_part_that_is_wrong() {
        assert_eq!(
            parse_offsets("24h, 2h", Language::En).unwrap(),
            Span::parse_list("24h,2h").unwrap()
        );
        let e = parse_offsets("24h,25x", Language::En).unwrap_err();
        assert!(e.contains("25x"), "{e}");
        assert!(parse_offsets(" , ", Language::En).is_err());
        assert!(parse_offsets("1h,2h,3h,4h,5h,6h", Language::En).is_err());
    }

    #[test]
    fn times_as_browsers_send_them() {
        assert_eq!(parse_hhmm("21:00"), NaiveTime::from_hms_opt(21, 0, 0));
        assert_eq!(parse_hhmm("08:30:00"), NaiveTime::from_hms_opt(8, 30, 0));
        assert_eq!(parse_hhmm("25:00"), None);
    }

    #[test]
    fn an_emoji_makes_a_text_ucs2_and_a_quote_is_replaced() {
        let c = check("Hej! Välkommen 👍");
        assert!(c.ucs2);
        assert_eq!(c.parts, 1);
        let c = check("Hej \u{201C}Ali\u{201D}");
        assert!(!c.ucs2, "typographic quotes are replaced before sending");
        assert_eq!(c.sanitized.as_deref(), Some("Hej \"Ali\""));
        assert_eq!(check("Drogtest och urinprov").sensitive, ["drog", "urin"]);
    }

    #[test]
    fn every_default_template_previews_in_both_languages() {
        let now = Utc::now();
        for key in ["reminder-reply", "reminder", "summons"]
            .into_iter()
            .chain(RECEIPT_KEYS.iter().copied())
            .chain(TELEGRAM_KEYS.iter().copied())
        {
            for lang in [Language::Sv, Language::En] {
                let text = samples_for(key, lang, now, chrono_tz::Europe::Stockholm);
                assert!(
                    !text.contains("Unknown localization") && !text.contains('{'),
                    "{key} {lang}: {text}"
                );
            }
        }
    }
}
