//! Outcomes and trials pages (issue 21), for coordinators of the unit and
//! admins (`Action::Monitoring`):
//!
//! - `/outcomes?unit=&from=&to=&min=`: show-up rate by kind, reminder
//!   channel, reply, time since the participant started, and before/after
//!   the latest change of the unit's reminder rules; counts and rates with
//!   95 % intervals; small cells shown as "–" with the reason; the weekly
//!   chart drawn by monitoring's chart (`monitoring::line_chart`).
//! - `/outcomes/outcomes.csv`: the same tables as CSV (monitoring's
//!   `csv_download`); `/outcomes/export.csv`: the anonymised export for
//!   evaluators (`Engine::outcome_export`).
//! - `/outcomes/trials`: the unit's trials with each arm's rate, interval
//!   and verdict; a form to start one; a button to end one.

use super::monitoring::{
    ChartSpec, Scope, csv_download, excel_csv, line_chart, render_chart, scope,
};
use super::participants::label;
use super::{Me, Posted, Ui, UiError, given, read_store, render, render_refused, see_other, t, ta};
use crate::domain::access::Action;
use crate::domain::outcomes::{Cell, DEFAULT_MIN_PEOPLE, Interval, Suppressed};
use crate::domain::schedule::resolve_local;
use crate::domain::trials::{Variant, Wording, fewer_than_standard};
use crate::domain::{AppointmentKind, Language, Span, UnitId};
use crate::engine::outcomes::{Breakdown, EXPORT_HEADER, OutcomeReport, TrialRequest, TrialResult};
use crate::store::rules;
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/outcomes", get(page))
        .route("/outcomes/outcomes.csv", get(tables_csv))
        .route("/outcomes/export.csv", get(export_csv))
        .route("/outcomes/trials", get(trials_page).post(create_trial))
        .route("/outcomes/trials/{id}/end", post(end_trial))
}

/// Days in the default period (ending today).
pub const DEFAULT_DAYS: i64 = 91;

#[derive(Deserialize, Default)]
pub(super) struct PeriodQuery {
    unit: Option<String>,
    from: Option<String>,
    to: Option<String>,
    min: Option<String>,
}

/// A period as asked: local dates, `to` inclusive.
struct Period {
    from_date: NaiveDate,
    to_date: NaiveDate,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    min_people: u32,
}

fn midnight(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    resolve_local(d.and_hms_opt(0, 0, 0).unwrap_or_default(), tz)
}

fn period(q: &PeriodQuery, tz: Tz, now: DateTime<Utc>, lang: Language) -> Result<Period, UiError> {
    let bad = |v: &str| {
        UiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            lang,
            &ta(lang, "ui-outcomes-bad-date", &[("value", v.to_string())]),
        )
    };
    let today = now.with_timezone(&tz).date_naive();
    let date = |v: Option<&str>, default: NaiveDate| match v {
        None => Ok(default),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| bad(v)),
    };
    let to_date = date(given(&q.to), today)?;
    let from_date = date(given(&q.from), to_date - Duration::days(DEFAULT_DAYS - 1))?;
    if to_date < from_date {
        return Err(UiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            lang,
            &t(lang, "ui-outcomes-bad-range"),
        ));
    }
    let min_people = match given(&q.min) {
        None => DEFAULT_MIN_PEOPLE,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (2..=100).contains(n))
            .ok_or_else(|| {
                UiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    lang,
                    &t(lang, "ui-outcomes-bad-min"),
                )
            })?,
    };
    Ok(Period {
        from_date,
        to_date,
        from: midnight(from_date, tz),
        to: midnight(to_date + Duration::days(1), tz),
        min_people,
    })
}

fn pct(v: f64) -> String {
    format!("{:.0} %", v * 100.0)
}

fn interval_text(i: &Option<Interval>) -> String {
    i.map(|i| format!("{:.0}–{:.0} %", i.low * 100.0, i.high * 100.0))
        .unwrap_or_else(|| "–".into())
}

/// A cell as the tables show it.
pub(super) struct CellView {
    pub label: String,
    pub hidden: bool,
    pub reason: String,
    pub attended: String,
    pub absent: String,
    pub people: String,
    pub rate: String,
    pub interval: String,
}

fn cell_view(lang: Language, label: String, c: &Cell) -> CellView {
    match c {
        Cell::Hidden { reason } => CellView {
            label,
            hidden: true,
            reason: t(
                lang,
                match reason {
                    Suppressed::FewPeople => "ui-outcomes-hidden-few",
                    Suppressed::Complementary => "ui-outcomes-hidden-complementary",
                },
            ),
            attended: "–".into(),
            absent: "–".into(),
            people: "–".into(),
            rate: "–".into(),
            interval: "–".into(),
        },
        Cell::Shown {
            attended,
            absent,
            people,
            rate,
            interval,
        } => CellView {
            label,
            hidden: false,
            reason: String::new(),
            attended: attended.to_string(),
            absent: absent.to_string(),
            people: people.to_string(),
            rate: rate.map(pct).unwrap_or_else(|| "–".into()),
            interval: interval_text(interval),
        },
    }
}

fn code_label(lang: Language, by: &str, code: &str) -> String {
    match by {
        "kind" => label(lang, "kind", code),
        _ => t(lang, &format!("ui-outcomes-{by}-{code}")),
    }
}

pub(super) struct TableView {
    pub id: String,
    pub title: String,
    pub rows: Vec<CellView>,
    pub total: CellView,
}

fn table_view(lang: Language, b: &Breakdown) -> TableView {
    TableView {
        id: format!("by-{}", b.by),
        title: t(lang, &format!("ui-outcomes-by-{}", b.by)),
        rows: b
            .rows
            .iter()
            .map(|r| cell_view(lang, code_label(lang, b.by, &r.code), &r.cell))
            .collect(),
        total: cell_view(lang, t(lang, "ui-outcomes-total"), &b.total),
    }
}

pub(super) struct UnitOpt {
    pub id: i64,
    pub name: String,
    pub selected: bool,
}

fn unit_opts(sc: &Scope) -> Vec<UnitOpt> {
    let chosen = sc.unit.as_ref().map(|u| u.id);
    sc.units
        .iter()
        .map(|u| UnitOpt {
            id: u.id.get(),
            name: u.name.clone(),
            selected: Some(u.id) == chosen,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "ui/outcomes.html")]
struct OutcomesPage {
    ui: Ui,
    units: Vec<UnitOpt>,
    unit_id: i64,
    unit_name: String,
    from: String,
    to: String,
    min: u32,
    tables: Vec<TableView>,
    rules_changed: Option<String>,
    chart: String,
    csv_href: String,
    export_href: String,
    trials_href: String,
}

async fn unit_scope(s: &AppState, me: &Me, unit: Option<&str>) -> Result<Scope, UiError> {
    me.require(Action::Monitoring)?;
    let sc = scope(s, me, unit, false).await?;
    if sc.unit.is_none() {
        return Err(UiError::not_found(me.lang));
    }
    Ok(sc)
}

fn unit_of(sc: &Scope) -> (UnitId, String, Tz) {
    let u = sc.unit.as_ref().expect("unit_scope gives a unit");
    (u.id, u.name.clone(), u.time_zone)
}

fn query_string(unit: UnitId, p: &Period) -> String {
    format!(
        "unit={unit}&from={}&to={}&min={}",
        p.from_date, p.to_date, p.min_people
    )
}

async fn report(
    s: &AppState,
    me: &Me,
    q: &PeriodQuery,
) -> Result<(Scope, Period, OutcomeReport), UiError> {
    let sc = unit_scope(s, me, given(&q.unit)).await?;
    let (unit, _, tz) = unit_of(&sc);
    let now = Utc::now();
    let p = period(q, tz, now, me.lang)?;
    let r = s
        .engine
        .outcome_report(&me.actor(), now, unit, p.from, p.to, p.min_people)
        .await
        .map_err(|e| UiError::from_engine(e, me.lang))?;
    Ok((sc, p, r))
}

async fn page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let (sc, p, r) = report(&s, &me, &q).await?;
    let (unit, unit_name, tz) = unit_of(&sc);
    let labels: Vec<String> = r
        .weeks
        .iter()
        .map(|w| w.starts.with_timezone(&tz).format("%d/%m").to_string())
        .collect();
    let chart = render_chart(&line_chart(&ChartSpec {
        title: ta(
            lang,
            "ui-outcomes-chart-title",
            &[("unit", unit_name.clone())],
        ),
        desc: t(lang, "ui-outcomes-chart-desc"),
        first_label: t(lang, "ui-outcomes-chart-show-up"),
        second_label: t(lang, "ui-outcomes-chart-replied"),
        labels,
        first: r.weeks.iter().map(|w| w.show_up_pct).collect(),
        second: r.weeks.iter().map(|w| w.replied_pct).collect(),
    }))?;
    let qs = query_string(unit, &p);
    let page = OutcomesPage {
        ui: me.ui("/outcomes"),
        units: unit_opts(&sc),
        unit_id: unit.get(),
        unit_name,
        from: p.from_date.to_string(),
        to: p.to_date.to_string(),
        min: p.min_people,
        tables: r.breakdowns.iter().map(|b| table_view(lang, b)).collect(),
        rules_changed: r.rules_changed_at.map(|at| super::local_date(lang, at, tz)),
        chart,
        csv_href: format!("/outcomes/outcomes.csv?{qs}"),
        export_href: format!("/outcomes/export.csv?{qs}"),
        trials_href: format!("/outcomes/trials?unit={unit}"),
    };
    Ok(render(&page))
}

fn csv_failed(lang: Language) -> impl Fn(csv::Error) -> UiError {
    move |e| UiError::internal(lang, "csv export failed", e)
}

fn csv_bytes(w: csv::Writer<Vec<u8>>, lang: Language) -> Result<Vec<u8>, UiError> {
    w.into_inner()
        .map_err(|e| UiError::internal(lang, "csv export failed", e))
}

fn opt_num(c: &Cell, f: impl Fn(u32, u32, u32) -> String) -> String {
    c.tally()
        .map(|t| f(t.attended, t.absent, t.people))
        .unwrap_or_else(|| "–".into())
}

/// The report's tables as CSV: one line per cell, codes not labels, hidden
/// cells as "–" with the reason.
async fn tables_csv(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let (_, p, r) = report(&s, &me, &q).await?;
    let mut w = excel_csv();
    let fail = csv_failed(lang);
    w.write_record([
        "breakdown",
        "value",
        "attended",
        "absent",
        "people",
        "show_up_rate",
        "ci95_low",
        "ci95_high",
        "hidden",
    ])
    .map_err(&fail)?;
    let rate = |c: &Cell| match c {
        Cell::Shown {
            rate: Some(r),
            interval: Some(i),
            ..
        } => (
            format!("{r:.4}"),
            format!("{:.4}", i.low),
            format!("{:.4}", i.high),
        ),
        _ => ("–".into(), "–".into(), "–".into()),
    };
    for b in &r.breakdowns {
        let rows = b
            .rows
            .iter()
            .map(|x| (x.code.as_str(), &x.cell))
            .chain([("total", &b.total)]);
        for (code, c) in rows {
            let (rt, lo, hi) = rate(c);
            let hidden = match c {
                Cell::Hidden { reason } => match reason {
                    Suppressed::FewPeople => "few_people",
                    Suppressed::Complementary => "complementary",
                },
                Cell::Shown { .. } => "",
            };
            w.write_record([
                b.by.to_string(),
                code.to_string(),
                opt_num(c, |a, _, _| a.to_string()),
                opt_num(c, |_, n, _| n.to_string()),
                opt_num(c, |_, _, p| p.to_string()),
                rt,
                lo,
                hi,
                hidden.to_string(),
            ])
            .map_err(&fail)?;
        }
    }
    let name = format!("paminn-outcomes-{}-{}.csv", p.from_date, p.to_date);
    Ok(csv_download(&name, csv_bytes(w, lang)?))
}

/// The anonymised export for evaluators.
async fn export_csv(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let sc = unit_scope(&s, &me, given(&q.unit)).await?;
    let (unit, _, tz) = unit_of(&sc);
    let now = Utc::now();
    let p = period(&q, tz, now, lang)?;
    let rows = s
        .engine
        .outcome_export(&me.actor(), now, unit, p.from, p.to, p.min_people)
        .await
        .map_err(|e| UiError::from_engine(e, lang))?;
    let mut w = excel_csv();
    let fail = csv_failed(lang);
    w.write_record(EXPORT_HEADER).map_err(&fail)?;
    for r in &rows {
        w.write_record([
            &r.pseudonym,
            &r.month,
            &r.kind,
            &r.channel,
            &r.reply,
            &r.started,
            &r.arm,
            &r.attended,
        ])
        .map_err(&fail)?;
    }
    let name = format!("paminn-evaluation-{}-{}.csv", p.from_date, p.to_date);
    Ok(csv_download(&name, csv_bytes(w, lang)?))
}

// ---- trials ----------------------------------------------------------

pub(super) struct TrialView {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub a: String,
    pub b: String,
    pub period: String,
    pub running: bool,
    pub ack: bool,
    pub cells: Vec<CellView>,
    pub difference: String,
    pub verdict: String,
}

fn variant_text(lang: Language, v: &Variant) -> String {
    let offsets = v
        .offsets
        .iter()
        .map(Span::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    ta(
        lang,
        "ui-outcomes-trial-variant",
        &[
            ("offsets", offsets),
            (
                "wording",
                t(lang, &format!("ui-outcomes-wording-{}", v.wording.as_str())),
            ),
        ],
    )
}

fn trial_view(lang: Language, r: &TrialResult, tz: Tz) -> TrialView {
    let tr = &r.trial;
    let period = match tr.ends_at {
        Some(e) => format!(
            "{} – {}",
            super::local_date(lang, tr.starts_at, tz),
            super::local_date(lang, e, tz)
        ),
        None => format!("{} –", super::local_date(lang, tr.starts_at, tz)),
    };
    TrialView {
        id: tr.id,
        name: tr.name.clone(),
        kind: label(lang, "kind", tr.kind),
        a: variant_text(lang, &tr.a),
        b: variant_text(lang, &tr.b),
        period,
        running: r.running,
        ack: tr.fewer_than_standard_ack,
        cells: vec![
            cell_view(lang, t(lang, "ui-outcomes-arm-a"), &r.a),
            cell_view(lang, t(lang, "ui-outcomes-arm-b"), &r.b),
            cell_view(lang, t(lang, "ui-outcomes-total"), &r.total),
        ],
        difference: r
            .difference
            .map(|d| {
                format!(
                    "{:+.0} ({:+.0} – {:+.0}) %",
                    (d.low + d.high) / 2.0 * 100.0,
                    d.low * 100.0,
                    d.high * 100.0
                )
            })
            .unwrap_or_else(|| "–".into()),
        verdict: t(lang, &format!("ui-{}", r.verdict.key())),
    }
}

pub(super) struct KindOpt {
    pub value: &'static str,
    pub label: String,
    pub standard: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "ui/outcomes_trials.html")]
struct TrialsPage {
    ui: Ui,
    unit_id: i64,
    unit_name: String,
    trials: Vec<TrialView>,
    kinds: Vec<KindOpt>,
    error: Option<String>,
    form: TrialForm,
    outcomes_href: String,
}

#[derive(Deserialize, Default, Clone)]
struct TrialForm {
    #[serde(default)]
    unit: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    a_offsets: String,
    #[serde(default)]
    a_wording: String,
    #[serde(default)]
    b_offsets: String,
    #[serde(default)]
    b_wording: String,
    #[serde(default)]
    fewer_ack: Option<String>,
}

async fn trials(
    s: &AppState,
    me: &Me,
    sc: &Scope,
    form: TrialForm,
    error: Option<String>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let (unit, unit_name, tz) = unit_of(sc);
    let now = Utc::now();
    let results = s
        .engine
        .trial_results(&me.actor(), now, unit, DEFAULT_MIN_PEOPLE)
        .await
        .map_err(|e| UiError::from_engine(e, lang))?;
    let standard = read_store(s, lang, async |c| rules::list(c, unit).await).await?;
    let kinds = AppointmentKind::ALL
        .iter()
        .map(|k| KindOpt {
            value: k.as_str(),
            label: label(lang, "kind", k),
            standard: standard
                .iter()
                .find(|r| r.kind == *k)
                .map(|r| {
                    r.offsets
                        .iter()
                        .map(Span::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_else(|| t(lang, "ui-outcomes-trial-no-rule")),
            selected: form.kind == k.as_str(),
        })
        .collect();
    let failed = error.is_some();
    let page = TrialsPage {
        ui: me.ui("/outcomes"),
        unit_id: unit.get(),
        unit_name,
        trials: results.iter().map(|r| trial_view(lang, r, tz)).collect(),
        kinds,
        error,
        form,
        outcomes_href: format!("/outcomes?unit={unit}"),
    };
    Ok(render_refused(&page, failed))
}

#[derive(Deserialize)]
struct UnitQuery {
    unit: Option<String>,
}

async fn trials_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<UnitQuery>,
) -> Result<Response, UiError> {
    let sc = unit_scope(&s, &me, given(&q.unit)).await?;
    let form = TrialForm {
        a_offsets: "24h,2h".into(),
        b_offsets: "48h,2h".into(),
        a_wording: "unit".into(),
        b_wording: "unit".into(),
        ..TrialForm::default()
    };
    trials(&s, &me, &sc, form, None).await
}

/// The request a form asks for, or the error to show (in the viewer's
/// language) with the form kept.
fn parse_form(
    lang: Language,
    f: &TrialForm,
    standard: Option<&[Span]>,
) -> Result<TrialRequest, String> {
    let kind: AppointmentKind = f
        .kind
        .parse()
        .map_err(|_| t(lang, "ui-outcomes-trial-bad-kind"))?;
    let standard = standard.ok_or_else(|| t(lang, "ui-outcomes-trial-no-rule"))?;
    let variant = |o: &str, w: &str| -> Result<Variant, String> {
        let offsets = Span::parse_list(o).map_err(|_| {
            ta(
                lang,
                "ui-outcomes-trial-bad-offsets",
                &[("value", o.to_string())],
            )
        })?;
        if offsets.is_empty() || offsets.len() > crate::domain::trials::MAX_OFFSETS {
            return Err(ta(
                lang,
                "ui-outcomes-trial-bad-offsets",
                &[("value", o.to_string())],
            ));
        }
        Ok(Variant {
            offsets,
            wording: Wording::parse(w).unwrap_or(Wording::Unit),
        })
    };
    let a = variant(&f.a_offsets, &f.a_wording)?;
    let b = variant(&f.b_offsets, &f.b_wording)?;
    let ack = f.fewer_ack.is_some();
    if !ack
        && (fewer_than_standard(standard, &a.offsets) || fewer_than_standard(standard, &b.offsets))
    {
        return Err(t(lang, "ui-outcomes-trial-fewer-needs-ack"));
    }
    if a == b {
        return Err(t(lang, "ui-outcomes-trial-same"));
    }
    if f.name.trim().is_empty() {
        return Err(t(lang, "ui-outcomes-trial-no-name"));
    }
    Ok(TrialRequest {
        kind,
        name: f.name.trim().to_string(),
        a,
        b,
        fewer_than_standard_ack: ack,
    })
}

async fn create_trial(
    State(s): State<AppState>,
    p: Posted<TrialForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let lang = me.lang;
    let sc = unit_scope(&s, &me, Some(f.unit.as_str())).await?;
    let (unit, _, _) = unit_of(&sc);
    let standard = match f.kind.parse::<AppointmentKind>() {
        Ok(k) => read_store(&s, lang, async |c| rules::get(c, unit, k).await)
            .await?
            .map(|r| r.offsets),
        Err(_) => None,
    };
    let req = match parse_form(lang, &f, standard.as_deref()) {
        Ok(r) => r,
        Err(e) => return trials(&s, &me, &sc, f, Some(e)).await,
    };
    match s
        .engine
        .create_trial(unit, &req, &me.actor(), Utc::now())
        .await
    {
        Ok(_) => Ok(see_other(&format!("/outcomes/trials?unit={unit}"))),
        Err(crate::error::Error::Invalid(m)) => {
            let e = ta(lang, "ui-outcomes-trial-refused", &[("reason", m)]);
            trials(&s, &me, &sc, f, Some(e)).await
        }
        Err(e) => Err(UiError::from_engine(e, lang)),
    }
}

#[derive(Deserialize)]
struct EndForm {
    unit: String,
}

async fn end_trial(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    p: Posted<EndForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let sc = unit_scope(&s, &me, Some(f.unit.as_str())).await?;
    let (unit, _, _) = unit_of(&sc);
    s.engine
        .end_trial(unit, id, &me.actor(), Utc::now())
        .await
        .map_err(|e| UiError::from_engine(e, me.lang))?;
    Ok(see_other(&format!("/outcomes/trials?unit={unit}")))
}
