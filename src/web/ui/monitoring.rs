//! Monitoring for coordinators (their unit) and admins (every unit, or one
//! they pick): the message search and its CSV export (who got what kind of
//! message when, by which channel, with what outcome, parts and cost; never
//! the text), participants without a working number, delivery and reply
//! rates per week as a server-drawn SVG chart with a table beside it, and
//! SMS parts and cost per month.
//!
//! Also the unit scope the settings pages share ([`scope`]).

use super::{Me, Ui, UiError, given, local_date, read_store, render_refused, t, ta};
use crate::domain::access::{self, Action};
use crate::domain::gates::SuppressReason;
use crate::domain::schedule::resolve_local;
use crate::domain::spreadsheet::cell;
use crate::domain::{
    ChannelKind, FailureKind, Language, OutboxStatus, ParticipantId, Purpose, UnitId,
};
use crate::engine::reads::Viewed;
use crate::store::ui_monitoring::{
    self as mon, MessageFilter, MessageRow, NumberProblem, PeriodCounts, Who,
};
use crate::store::units::{self, Unit};
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/monitoring", get(page))
        .route("/monitoring/messages.csv", get(export_csv))
        .route("/monitoring/chart.svg", get(chart_svg))
}

/// Messages per page of the search.
pub const PAGE_SIZE: i64 = 100;
/// The most rows one CSV export holds.
pub const CSV_MAX_ROWS: i64 = 50_000;
/// Weeks in the chart, the current one included.
pub const WEEKS: usize = 12;
/// Months in the SMS cost table, the current one included.
pub const MONTHS: usize = 12;

/// Which unit a page is about, and which the viewer may pick from.
pub(super) struct Scope {
    /// `None`: every unit (admins, on pages that allow it).
    pub unit: Option<Unit>,
    /// The units the viewer may pick: every unit for an admin, their own
    /// for a coordinator.
    pub units: Vec<Unit>,
    /// The zone dates are read and shown in: the unit's, else the admin's
    /// own unit's, else Stockholm.
    pub tz: Tz,
}

/// The unit scope from `?unit=`: a coordinator's own unit (another unit is
/// 403); an admin's pick, else every unit when `all` is allowed, else their
/// own unit or the first.
pub(super) async fn scope(
    s: &AppState,
    me: &Me,
    asked: Option<&str>,
    all: bool,
) -> Result<Scope, UiError> {
    let asked = match asked.map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(
            a.parse::<i64>()
                .map(UnitId::from_db)
                .map_err(|_| UiError::not_found(me.lang))?,
        ),
    };
    if let Some(u) = asked
        && !access::in_unit(&me.viewer, u)
    {
        return Err(UiError::forbidden(me.lang));
    }
    let list = read_store(s, me.lang, async |c| units::list(c).await).await?;
    let find = |id: UnitId| list.iter().find(|u| u.id == id).cloned();
    let own = me.viewer.unit.and_then(find);
    let unit = match asked {
        Some(u) => Some(find(u).ok_or_else(|| UiError::not_found(me.lang))?),
        None if me.viewer.role != crate::domain::Role::Admin => {
            Some(own.clone().ok_or_else(|| UiError::forbidden(me.lang))?)
        }
        None if all => None,
        None => Some(
            own.clone()
                .or_else(|| list.first().cloned())
                .ok_or_else(|| UiError::not_found(me.lang))?,
        ),
    };
    let tz = unit
        .as_ref()
        .or(own.as_ref())
        .map(|u| u.time_zone)
        .unwrap_or(chrono_tz::Europe::Stockholm);
    let units = if me.viewer.role == crate::domain::Role::Admin {
        list
    } else {
        own.into_iter().collect()
    };
    Ok(Scope { unit, units, tz })
}

/// A unit in a `<select>`.
pub(super) struct UnitOption {
    pub id: i64,
    pub name: String,
    pub selected: bool,
}

pub(super) fn unit_options(sc: &Scope) -> Vec<UnitOption> {
    sc.units
        .iter()
        .map(|u| UnitOption {
            id: u.id.get(),
            name: u.name.clone(),
            selected: sc.unit.as_ref().is_some_and(|x| x.id == u.id),
        })
        .collect()
}

/// An amount in 1/10,000 of a currency: "0,35 SEK" (Swedish decimal comma),
/// two to four decimals.
pub(super) fn money(v: i64, currency: Option<&str>, lang: Language) -> String {
    let mut s = format!("{:.4}", v as f64 / 10_000.0);
    while s.ends_with('0') && s.len() - s.find('.').unwrap_or(0) > 3 {
        s.pop();
    }
    if lang == Language::Sv {
        s = s.replace('.', ",");
    }
    match currency {
        Some(c) => format!("{s} {c}"),
        None => s,
    }
}

/// "83 %", or "–" when there is nothing to divide.
fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{} %", (part * 100 + whole / 2) / whole)
    }
}

#[derive(Deserialize, Default, Clone)]
struct SearchQuery {
    unit: Option<String>,
    from: Option<String>,
    to: Option<String>,
    status: Option<String>,
    channel: Option<String>,
    participant: Option<String>,
    page: Option<String>,
}

/// The search as understood, with what could not be.
struct Search {
    filter: MessageFilter,
    from: NaiveDate,
    to: NaiveDate,
    page: i64,
    errors: Vec<String>,
}

fn midnight(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    resolve_local(d.and_time(NaiveTime::MIN), tz)
}

fn parse_search(q: &SearchQuery, sc: &Scope, now: DateTime<Utc>, lang: Language) -> Search {
    let today = now.with_timezone(&sc.tz).date_naive();
    let mut errors = Vec::new();
    let mut date = |v: &Option<String>, default: NaiveDate| match given(v) {
        None => default,
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| {
            errors.push(ta(
                lang,
                "ui-monitoring-bad-date",
                &[("value", s.to_string())],
            ));
            default
        }),
    };
    let from = date(&q.from, today - Duration::days(30));
    let to = date(&q.to, today);
    if to < from {
        errors.push(t(lang, "ui-monitoring-bad-range"));
    }
    let status = given(&q.status).and_then(|s| {
        s.parse::<OutboxStatus>()
            .map_err(|_| errors.push(ta(lang, "ui-monitoring-bad-value", &[("value", s.into())])))
            .ok()
    });
    let channel = given(&q.channel).and_then(|s| {
        s.parse::<ChannelKind>()
            .map_err(|_| errors.push(ta(lang, "ui-monitoring-bad-value", &[("value", s.into())])))
            .ok()
    });
    let who = given(&q.participant).map(|p| {
        let digits = p.trim_start_matches('#');
        match digits.parse::<i64>() {
            Ok(id) => Who::Id(ParticipantId::from_db(id)),
            Err(_) => Who::Name(p.to_string()),
        }
    });
    let page = given(&q.page)
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    Search {
        filter: MessageFilter {
            unit: sc.unit.as_ref().map(|u| u.id),
            from: Some(midnight(from, sc.tz)),
            to: Some(midnight(to + Duration::days(1), sc.tz)),
            status,
            channel,
            who,
            viewer: None,
        },
        from,
        to,
        page,
        errors,
    }
}

/// The query string of a search (without the page).
fn query_string(q: &SearchQuery, sr: &Search) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    if let Some(u) = given(&q.unit) {
        ser.append_pair("unit", u);
    }
    ser.append_pair("from", &sr.from.to_string());
    ser.append_pair("to", &sr.to.to_string());
    for (k, v) in [
        ("status", &q.status),
        ("channel", &q.channel),
        ("participant", &q.participant),
    ] {
        if let Some(v) = given(v) {
            ser.append_pair(k, v);
        }
    }
    ser.finish()
}

/// Why a message did not go, as a text key: classified, never the raw
/// gateway answer. A failure by the kind stored when it happened; a
/// suppression by the gate's own reason.
fn reason_key(r: &MessageRow) -> Option<&'static str> {
    use FailureKind as K;
    let e = r.last_error.as_deref();
    match r.status {
        OutboxStatus::Failed => Some(match (r.error_kind, e) {
            (None, None) => return None,
            (Some(K::NoAddress), _) if r.channel == ChannelKind::Sms => {
                "ui-monitoring-reason-no-number"
            }
            (Some(K::NoAddress | K::Unreachable), _) => "ui-monitoring-reason-no-chat",
            (Some(K::InvalidNumber), _) => "ui-monitoring-reason-invalid-number",
            (Some(K::OptedOut), _) => "ui-monitoring-reason-opted-out",
            (Some(K::GaveUp), _) => "ui-monitoring-reason-gave-up",
            (Some(K::Rejected | K::Credentials), _) | (None, Some(_)) => {
                "ui-monitoring-reason-rejected"
            }
        }),
        OutboxStatus::Suppressed => {
            use SuppressReason as S;
            Some(match S::from_text(e?) {
                Some(S::NoConsent | S::ConsentWithdrawn | S::ConsentExpired)
                | Some(S::ChannelNotConsented) => "ui-monitoring-reason-consent",
                Some(S::NotActive { .. }) => "ui-monitoring-reason-not-active",
                Some(S::OptedOut) => "ui-monitoring-reason-stop",
                Some(S::SaidCannot) => "ui-monitoring-reason-said-cannot",
                Some(S::QuietHoursUntilStart) => "ui-monitoring-reason-quiet",
                Some(S::AppointmentCancelled | S::AppointmentStarted | S::DeadlinePassed)
                | None => "ui-monitoring-reason-too-late",
            })
        }
        _ => None,
    }
}

fn kind_label(lang: Language, r: &MessageRow) -> String {
    let key = match (r.purpose, r.ask_reply) {
        (Purpose::Reminder, true) => "ui-monitoring-purpose-reminder-reply",
        (Purpose::Reminder, false) => "ui-monitoring-purpose-reminder",
        (Purpose::Summons, _) => "ui-monitoring-purpose-summons",
        (Purpose::Receipt, _) => "ui-monitoring-purpose-receipt",
        (Purpose::Notice, _) => "ui-monitoring-purpose-notice",
    };
    t(lang, key)
}

fn channel_label(c: ChannelKind) -> &'static str {
    match c {
        ChannelKind::Sms => "SMS",
        ChannelKind::Telegram => "Telegram",
    }
}

fn encoding_label(e: Option<&str>) -> &'static str {
    match e {
        Some("gsm7") => "GSM-7",
        Some("ucs2") => "UCS-2",
        _ => "",
    }
}

/// One message as the table shows it.
struct RowView {
    at: String,
    participant_id: i64,
    name: String,
    unit: String,
    kind: String,
    channel: &'static str,
    status: String,
    status_class: &'static str,
    parts: String,
    encoding: &'static str,
    cost: String,
    reason: String,
}

fn row_view(lang: Language, r: &MessageRow, unit_names: &HashMap<UnitId, String>) -> RowView {
    RowView {
        at: super::local_dt(lang, r.at, r.time_zone),
        participant_id: r.participant_id.get(),
        name: r.first_name.clone(),
        unit: unit_names.get(&r.unit_id).cloned().unwrap_or_default(),
        kind: kind_label(lang, r),
        channel: channel_label(r.channel),
        status: t(lang, &format!("ui-monitoring-status-{}", r.status.as_str())),
        status_class: r.status.as_str(),
        parts: r.parts.map(|p| p.to_string()).unwrap_or_default(),
        encoding: encoding_label(r.encoding.as_deref()),
        cost: r
            .cost
            .map(|c| money(c, r.currency.as_deref(), lang))
            .unwrap_or_default(),
        reason: reason_key(r).map(|k| t(lang, k)).unwrap_or_default(),
    }
}

pub(super) struct Opt {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

/// One week of the chart and its table.
struct WeekView {
    label: String,
    monday: String,
    messages: i64,
    delivered: i64,
    sent: i64,
    failed: i64,
    delivery_rate: String,
    asked: i64,
    replied: i64,
    reply_rate: String,
    /// 0-100, when there is something to divide.
    delivery_pct: Option<f64>,
    reply_pct: Option<f64>,
}

/// The last [`WEEKS`] weeks (Monday to Sunday on the scope's wall clock),
/// oldest first.
async fn weeks(
    s: &AppState,
    sc: &Scope,
    now: DateTime<Utc>,
    lang: Language,
) -> crate::error::Result<Vec<WeekView>> {
    let today = now.with_timezone(&sc.tz).date_naive();
    let this_monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let first = this_monday - Duration::weeks(WEEKS as i64 - 1);
    let mondays: Vec<NaiveDate> = (0..=WEEKS)
        .map(|i| first + Duration::weeks(i as i64))
        .collect();
    let bounds: Vec<DateTime<Utc>> = mondays.iter().map(|d| midnight(*d, sc.tz)).collect();
    let counts = {
        let mut c = s.engine.db.conn().await?;
        mon::per_period(&mut c, sc.unit.as_ref().map(|u| u.id), &bounds).await?
    };
    Ok(counts
        .iter()
        .zip(&mondays)
        .map(|(k, monday): (&PeriodCounts, &NaiveDate)| {
            let messages = k.sent + k.delivered + k.failed;
            let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 * 100.0 / b as f64);
            WeekView {
                label: ta(
                    lang,
                    "ui-monitoring-week",
                    &[("n", monday.iso_week().week().to_string())],
                ),
                monday: local_date(lang, midnight(*monday, sc.tz), sc.tz),
                messages,
                delivered: k.delivered,
                sent: k.sent,
                failed: k.failed,
                delivery_rate: percent(k.sent + k.delivered, messages),
                asked: k.asked,
                replied: k.replied,
                reply_rate: percent(k.replied, k.asked),
                delivery_pct: ratio(k.sent + k.delivered, messages),
                reply_pct: ratio(k.replied, k.asked),
            }
        })
        .collect())
}

/// A point on the chart.
struct Dot {
    x: i64,
    y: i64,
    title: String,
}

struct Tick {
    pos: i64,
    label: String,
}

/// The weekly chart: hand-drawn SVG, two lines (got through, replied).
#[derive(Template)]
#[template(path = "ui/monitoring_chart.svg")]
pub(super) struct Chart {
    title: String,
    desc: String,
    delivery_label: String,
    reply_label: String,
    y_ticks: Vec<Tick>,
    x_ticks: Vec<Tick>,
    delivery_lines: Vec<String>,
    reply_lines: Vec<String>,
    delivery_dots: Vec<Dot>,
    reply_dots: Vec<Dot>,
    left: i64,
    right: i64,
    top: i64,
    bottom: i64,
}

const LEFT: i64 = 52;
const RIGHT: i64 = 628;
const TOP: i64 = 16;
const BOTTOM: i64 = 196;

/// Polylines through consecutive weeks with a value (a week without one
/// breaks the line), and a dot per value.
fn series(
    xs: &[i64],
    values: &[Option<f64>],
    labels: &[String],
    what: &str,
) -> (Vec<String>, Vec<Dot>) {
    let y = |v: f64| BOTTOM - ((BOTTOM - TOP) as f64 * v / 100.0).round() as i64;
    let mut lines = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut dots = Vec::new();
    for ((x, v), label) in xs.iter().zip(values).zip(labels) {
        match v {
            Some(v) => {
                current.push(format!("{x},{}", y(*v)));
                dots.push(Dot {
                    x: *x,
                    y: y(*v),
                    title: format!("{label}: {what} {} %", v.round()),
                });
            }
            None => {
                if current.len() > 1 {
                    lines.push(current.join(" "));
                }
                current.clear();
            }
        }
    }
    if current.len() > 1 {
        lines.push(current.join(" "));
    }
    (lines, dots)
}

fn chart(lang: Language, scope_name: &str, weeks: &[WeekView]) -> Chart {
    line_chart(&ChartSpec {
        title: ta(
            lang,
            "ui-monitoring-chart-title",
            &[("scope", scope_name.to_string())],
        ),
        desc: t(lang, "ui-monitoring-chart-desc"),
        first_label: t(lang, "ui-monitoring-chart-delivery"),
        second_label: t(lang, "ui-monitoring-chart-reply"),
        labels: weeks.iter().map(|w| w.label.clone()).collect(),
        first: weeks.iter().map(|w| w.delivery_pct).collect(),
        second: weeks.iter().map(|w| w.reply_pct).collect(),
    })
}

/// What a two-line percentage chart shows: monitoring's weekly delivery and
/// reply rates, and the outcome page's show-up and reply rates
/// (`web::ui::outcomes`). A `None` breaks its line.
pub(super) struct ChartSpec {
    pub title: String,
    pub desc: String,
    /// The solid line with round dots.
    pub first_label: String,
    /// The dashed line with square dots.
    pub second_label: String,
    pub labels: Vec<String>,
    pub first: Vec<Option<f64>>,
    pub second: Vec<Option<f64>>,
}

/// The hand-drawn SVG chart of a [`ChartSpec`] (per cent, 0-100).
pub(super) fn line_chart(spec: &ChartSpec) -> Chart {
    let n = spec.labels.len().max(2) as i64;
    let xs: Vec<i64> = (0..spec.labels.len() as i64)
        .map(|i| LEFT + 12 + i * (RIGHT - LEFT - 24) / (n - 1))
        .collect();
    let labels = &spec.labels;
    let (delivery_lines, delivery_dots) = series(&xs, &spec.first, labels, &spec.first_label);
    let (reply_lines, reply_dots) = series(&xs, &spec.second, labels, &spec.second_label);
    Chart {
        title: spec.title.clone(),
        desc: spec.desc.clone(),
        delivery_label: spec.first_label.clone(),
        reply_label: spec.second_label.clone(),
        y_ticks: [0, 25, 50, 75, 100]
            .into_iter()
            .map(|p| Tick {
                pos: BOTTOM - (BOTTOM - TOP) * p / 100,
                label: format!("{p} %"),
            })
            .collect(),
        x_ticks: xs
            .iter()
            .zip(labels)
            .map(|(x, l)| Tick {
                pos: *x,
                label: l.clone(),
            })
            .collect(),
        delivery_lines,
        reply_lines,
        delivery_dots,
        reply_dots,
        left: LEFT,
        right: RIGHT,
        top: TOP,
        bottom: BOTTOM,
    }
}

fn scope_name(lang: Language, sc: &Scope) -> String {
    sc.unit
        .as_ref()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| t(lang, "ui-monitoring-all-units"))
}

/// One month (and currency) of SMS.
struct MonthView {
    label: String,
    messages: i64,
    parts: i64,
    cost: String,
}

async fn months(
    s: &AppState,
    sc: &Scope,
    now: DateTime<Utc>,
    lang: Language,
) -> crate::error::Result<Vec<MonthView>> {
    let today = now.with_timezone(&sc.tz).date_naive();
    let this_month = today.with_day(1).unwrap_or(today);
    let first = this_month
        .checked_sub_months(Months::new(MONTHS as u32 - 1))
        .unwrap_or(this_month);
    let starts: Vec<NaiveDate> = (0..=MONTHS)
        .map(|i| {
            first
                .checked_add_months(Months::new(i as u32))
                .unwrap_or(first)
        })
        .collect();
    let bounds: Vec<DateTime<Utc>> = starts.iter().map(|d| midnight(*d, sc.tz)).collect();
    let rows = {
        let mut c = s.engine.db.conn().await?;
        mon::sms_per_period(&mut c, sc.unit.as_ref().map(|u| u.id), &bounds).await?
    };
    let mut out = Vec::new();
    // Newest month first.
    for (i, start) in starts.iter().take(MONTHS).enumerate().rev() {
        let label = format!(
            "{} {}",
            t(lang, &format!("ui-mon-{}", start.month())),
            start.year()
        );
        let of_month: Vec<_> = rows.iter().filter(|r| r.period == i).collect();
        if of_month.is_empty() {
            out.push(MonthView {
                label: label.clone(),
                messages: 0,
                parts: 0,
                cost: "–".into(),
            });
        }
        for r in of_month {
            out.push(MonthView {
                label: label.clone(),
                messages: r.messages,
                parts: r.parts,
                cost: if r.currency.is_some() || r.cost != 0 {
                    money(r.cost, r.currency.as_deref(), lang)
                } else {
                    "–".into()
                },
            });
        }
    }
    Ok(out)
}

struct ProblemCount {
    unit: String,
    missing: usize,
    invalid: usize,
}

struct ProblemPerson {
    id: i64,
    name: String,
    unit: String,
    problem: String,
}

#[derive(Template)]
#[template(path = "ui/monitoring.html")]
struct MonitoringPage {
    ui: Ui,
    units: Vec<UnitOption>,
    /// An admin may look at every unit at once.
    may_pick_all: bool,
    from: String,
    to: String,
    participant: String,
    statuses: Vec<Opt>,
    channels: Vec<Opt>,
    errors: Vec<String>,
    rows: Vec<RowView>,
    show_unit: bool,
    total: i64,
    page: i64,
    pages: i64,
    prev: Option<String>,
    next: Option<String>,
    csv_href: String,
    chart_href: String,
    problem_counts: Vec<ProblemCount>,
    problem_people: Vec<ProblemPerson>,
    /// "Show who (3)".
    problem_who: String,
    chart: String,
    weeks: Vec<WeekView>,
    months: Vec<MonthView>,
    scope_name: String,
}

fn status_options(lang: Language, chosen: Option<OutboxStatus>) -> Vec<Opt> {
    let mut v = vec![Opt {
        value: "",
        label: t(lang, "ui-monitoring-any"),
        selected: chosen.is_none(),
    }];
    v.extend(OutboxStatus::ALL.iter().map(|s| Opt {
        value: s.as_str(),
        label: t(lang, &format!("ui-monitoring-status-{}", s.as_str())),
        selected: chosen == Some(*s),
    }));
    v
}

fn channel_options(lang: Language, chosen: Option<ChannelKind>) -> Vec<Opt> {
    let mut v = vec![Opt {
        value: "",
        label: t(lang, "ui-monitoring-any"),
        selected: chosen.is_none(),
    }];
    v.extend(ChannelKind::ALL.iter().map(|c| Opt {
        value: c.as_str(),
        label: channel_label(*c).to_string(),
        selected: chosen == Some(*c),
    }));
    v
}

/// The audit target of a monitoring view or export: the unit, or all.
fn audit_target(sc: &Scope) -> String {
    match &sc.unit {
        Some(u) => format!("unit:{}", u.id),
        None => "unit:all".to_string(),
    }
}

/// What the page and the export start from, once the user may monitor:
/// their unit scope, `now`, the search as understood at `now`, and the
/// units' names by id.
struct Searching(Scope, DateTime<Utc>, Search, HashMap<UnitId, String>);

async fn searching(s: &AppState, me: &Me, q: &SearchQuery) -> Result<Searching, UiError> {
    me.require(Action::Monitoring)?;
    let sc = scope(s, me, given(&q.unit), true).await?;
    let now = Utc::now();
    let mut sr = parse_search(q, &sc, now, me.lang);
    sr.filter.viewer = Some(me.staff.id);
    let unit_names = sc.units.iter().map(|u| (u.id, u.name.clone())).collect();
    Ok(Searching(sc, now, sr, unit_names))
}

async fn page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<SearchQuery>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let err = move |e| UiError::from_engine(e, lang);
    let Searching(sc, now, sr, unit_names) = searching(&s, &me, &q).await?;
    let (rows, total) = if sr.errors.is_empty() {
        // The list names participants (first name, number issues) and
        // what was sent to them: every view is audited, like the CSV.
        s.engine
            .read_audited(&me.actor(), now, async |c| {
                let total = mon::count(c, &sr.filter).await?;
                let rows = mon::search(c, &sr.filter, PAGE_SIZE, (sr.page - 1) * PAGE_SIZE).await?;
                let viewed =
                    Viewed::new("monitoring.view", audit_target(&sc)).with(serde_json::json!({
                        "from": sr.from, "to": sr.to,
                        "participant": given(&q.participant).is_some(),
                        "page": sr.page,
                    }));
                Ok(((rows, total), viewed))
            })
            .await
            .map_err(err)?
    } else {
        (Vec::new(), 0)
    };
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let qs = query_string(&q, &sr);
    let link = |p: i64| format!("/monitoring?{qs}&page={p}#messages");
    let issues = {
        let mut c = s.engine.db.conn().await.map_err(err)?;
        mon::number_issues(&mut c, sc.unit.as_ref().map(|u| u.id))
            .await
            .map_err(err)?
    };
    let scope_units: Vec<&Unit> = match &sc.unit {
        Some(u) => vec![u],
        None => sc.units.iter().collect(),
    };
    // Protected participants the viewer is not named for: not named here.
    let issues: Vec<_> = issues
        .into_iter()
        .filter(|i| !me.hidden.contains(&i.participant_id))
        .collect();
    let problem_counts = scope_units
        .iter()
        .map(|u| ProblemCount {
            unit: u.name.clone(),
            missing: issues
                .iter()
                .filter(|i| i.unit_id == u.id && i.problem == NumberProblem::Missing)
                .count(),
            invalid: issues
                .iter()
                .filter(|i| i.unit_id == u.id && i.problem == NumberProblem::Invalid)
                .count(),
        })
        .collect();
    let problem_people = issues
        .iter()
        .map(|i| ProblemPerson {
            id: i.participant_id.get(),
            name: i.first_name.clone(),
            unit: unit_names.get(&i.unit_id).cloned().unwrap_or_default(),
            problem: t(
                lang,
                match i.problem {
                    NumberProblem::Missing => "ui-monitoring-number-missing",
                    NumberProblem::Invalid => "ui-monitoring-number-invalid",
                },
            ),
        })
        .collect();
    let weeks = weeks(&s, &sc, now, lang).await.map_err(err)?;
    let name = scope_name(lang, &sc);
    let chart_svg = render_chart(&chart(lang, &name, &weeks))?;
    let months = months(&s, &sc, now, lang).await.map_err(err)?;
    let unit_q = sc
        .unit
        .as_ref()
        .map(|u| format!("?unit={}", u.id))
        .unwrap_or_default();
    let failed = !sr.errors.is_empty();
    let page = MonitoringPage {
        ui: me.ui("/monitoring"),
        units: unit_options(&sc),
        may_pick_all: me.viewer.role == crate::domain::Role::Admin,
        from: sr.from.to_string(),
        to: sr.to.to_string(),
        participant: given(&q.participant).unwrap_or("").to_string(),
        statuses: status_options(lang, sr.filter.status),
        channels: channel_options(lang, sr.filter.channel),
        errors: sr.errors.clone(),
        rows: rows
            .iter()
            .map(|r| row_view(lang, r, &unit_names))
            .collect(),
        show_unit: sc.unit.is_none(),
        total,
        page: sr.page,
        pages,
        prev: (sr.page > 1).then(|| link(sr.page - 1)),
        next: (sr.page < pages).then(|| link(sr.page + 1)),
        csv_href: format!("/monitoring/messages.csv?{qs}"),
        chart_href: format!("/monitoring/chart.svg{unit_q}"),
        problem_counts,
        problem_who: ta(
            lang,
            "ui-monitoring-numbers-who",
            &[("n", issues.len().to_string())],
        ),
        problem_people,
        chart: chart_svg,
        weeks,
        months,
        scope_name: name,
    };
    Ok(render_refused(&page, failed))
}

pub(super) fn render_chart(c: &Chart) -> Result<String, UiError> {
    c.render()
        .map_err(|e| UiError::internal(Language::Sv, "chart template failed", e))
}

#[derive(Deserialize)]
struct UnitQuery {
    unit: Option<String>,
}

/// The weekly chart on its own, as `image/svg+xml`.
async fn chart_svg(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<UnitQuery>,
) -> Result<Response, UiError> {
    me.require(Action::Monitoring)?;
    let lang = me.lang;
    let sc = scope(&s, &me, given(&q.unit), true).await?;
    let weeks = weeks(&s, &sc, Utc::now(), lang)
        .await
        .map_err(|e| UiError::from_engine(e, lang))?;
    let svg = render_chart(&chart(lang, &scope_name(lang, &sc), &weeks))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

/// The search as CSV for a spreadsheet: semicolons, UTF-8 with a BOM and
/// (in Swedish) decimal commas, as Swedish Excel reads it. No message text.
/// Every export is audited (`monitoring.export`).
async fn export_csv(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<SearchQuery>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let Searching(sc, now, sr, unit_names) = searching(&s, &me, &q).await?;
    if let Some(e) = sr.errors.first() {
        return Err(UiError::new(StatusCode::UNPROCESSABLE_ENTITY, lang, e));
    }
    let rows = s
        .engine
        .read_audited(&me.actor(), now, async |c| {
            let rows = mon::search(c, &sr.filter, CSV_MAX_ROWS, 0).await?;
            let viewed =
                Viewed::new("monitoring.export", audit_target(&sc)).with(serde_json::json!({
                    "from": sr.from, "to": sr.to,
                    "status": sr.filter.status, "channel": sr.filter.channel,
                    "participant": given(&q.participant).is_some(),
                    "rows": rows.len(),
                }));
            Ok((rows, viewed))
        })
        .await
        .map_err(|e| UiError::from_engine(e, lang))?;
    let body = csv_body(lang, &rows, &unit_names)
        .map_err(|e| UiError::internal(lang, "csv export failed", e))?;
    let name = format!(
        "paminn-{}-{}-{}.csv",
        t(lang, "ui-monitoring-csv-name"),
        sr.from,
        sr.to
    );
    Ok(csv_download(&name, body))
}

/// A CSV writer as Swedish Excel reads it: semicolons, UTF-8 with a BOM.
/// The log review's export writes the same way.
pub(super) fn excel_csv() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::from("\u{feff}".as_bytes()))
}

/// A CSV file to download as `name`, never cached (monitoring's and the
/// log review's exports).
pub(super) fn csv_download(name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// The CSV of [`export_csv`]. Cells typed by people go through
/// [`cell`] (no formula injection); the rest are figures, times and closed
/// vocabularies the service writes itself.
fn csv_body(
    lang: Language,
    rows: &[MessageRow],
    unit_names: &HashMap<UnitId, String>,
) -> anyhow::Result<Vec<u8>> {
    let mut w = excel_csv();
    w.write_record(
        [
            "time",
            "weekday",
            "participant-id",
            "first-name",
            "unit",
            "kind",
            "channel",
            "status",
            "parts",
            "encoding",
            "cost",
            "currency",
            "reason",
        ]
        .map(|k| t(lang, &format!("ui-monitoring-col-{k}"))),
    )?;
    for r in rows {
        let l = r.at.with_timezone(&r.time_zone);
        w.write_record([
            l.format("%Y-%m-%d %H:%M").to_string(),
            t(lang, &format!("ui-wd-{}", l.weekday().number_from_monday())),
            r.participant_id.to_string(),
            // Typed by people: never a formula (`domain::spreadsheet`).
            cell(&r.first_name).into_owned(),
            cell(unit_names.get(&r.unit_id).map_or("", String::as_str)).into_owned(),
            kind_label(lang, r),
            // The words the page shows, in the UI's language: a Swedish
            // header over "delivered" was the mix users reported (issue 23).
            channel_label(r.channel).to_string(),
            t(lang, &format!("ui-monitoring-status-{}", r.status.as_str())),
            r.parts.map(|p| p.to_string()).unwrap_or_default(),
            encoding_label(r.encoding.as_deref()).to_string(),
            r.cost.map(|c| money(c, None, lang)).unwrap_or_default(),
            // The gateway's word: outside text like a name.
            cell(r.currency.as_deref().unwrap_or_default()).into_owned(),
            reason_key(r).map(|k| t(lang, k)).unwrap_or_default(),
        ])?;
    }
    Ok(w.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_in_swedish_and_english() {
        assert_eq!(money(3500, Some("SEK"), Language::Sv), "0,35 SEK");
        assert_eq!(money(750, Some("USD"), Language::En), "0.075 USD");
        assert_eq!(money(123_456, None, Language::En), "12.3456");
        assert_eq!(money(0, None, Language::Sv), "0,00");
    }

    #[test]
    fn percentages_round_and_say_when_there_is_nothing() {
        assert_eq!(percent(2, 3), "67 %");
        assert_eq!(percent(0, 0), "–");
    }

    #[test]
    fn reasons_are_classified_never_copied() {
        use OutboxStatus::*;
        let row = |status, channel, kind, error: Option<&str>| MessageRow {
            id: crate::domain::OutboxId::from_db(1),
            at: Utc::now(),
            participant_id: ParticipantId::from_db(1),
            first_name: "Ali".into(),
            time_zone: chrono_tz::Europe::Stockholm,
            unit_id: UnitId::from_db(1),
            purpose: Purpose::Reminder,
            ask_reply: true,
            channel,
            status,
            parts: None,
            encoding: None,
            cost: None,
            currency: None,
            last_error: error.map(str::to_string),
            error_kind: kind,
        };
        let sms = ChannelKind::Sms;
        let tg = ChannelKind::Telegram;
        let cases = [
            (
                row(
                    Failed,
                    sms,
                    Some(FailureKind::NoAddress),
                    Some("no phone number"),
                ),
                Some("ui-monitoring-reason-no-number"),
            ),
            (
                row(
                    Failed,
                    tg,
                    Some(FailureKind::NoAddress),
                    Some("no Telegram chat linked"),
                ),
                Some("ui-monitoring-reason-no-chat"),
            ),
            // The kind decides, whatever the gateway's words.
            (
                row(
                    Failed,
                    sms,
                    Some(FailureKind::InvalidNumber),
                    Some("HTTP 400: something new"),
                ),
                Some("ui-monitoring-reason-invalid-number"),
            ),
            (
                row(
                    Failed,
                    sms,
                    Some(FailureKind::Rejected),
                    Some("Invalid to number"),
                ),
                Some("ui-monitoring-reason-rejected"),
            ),
            (
                row(Failed, sms, Some(FailureKind::OptedOut), Some("x")),
                Some("ui-monitoring-reason-opted-out"),
            ),
            (
                row(Failed, tg, Some(FailureKind::Unreachable), Some("x")),
                Some("ui-monitoring-reason-no-chat"),
            ),
            (
                row(Failed, sms, Some(FailureKind::GaveUp), Some("x")),
                Some("ui-monitoring-reason-gave-up"),
            ),
            (
                row(Failed, sms, Some(FailureKind::Credentials), Some("x")),
                Some("ui-monitoring-reason-rejected"),
            ),
            // A failure a delivery receipt reported: no reason to give.
            (row(Failed, sms, None, None), None),
            (
                row(Suppressed, sms, None, Some("consent was withdrawn")),
                Some("ui-monitoring-reason-consent"),
            ),
            (row(Delivered, sms, None, None), None),
        ];
        for (r, want) in cases {
            assert_eq!(
                reason_key(&r),
                want,
                "{:?} {:?} {:?}",
                r.status,
                r.error_kind,
                r.last_error
            );
        }
    }

    #[test]
    fn a_week_without_figures_breaks_the_line() {
        let xs = [10, 20, 30, 40];
        let labels: Vec<String> = (1..=4).map(|i| format!("v{i}")).collect();
        let (lines, dots) = series(
            &xs,
            &[Some(100.0), Some(50.0), None, Some(0.0)],
            &labels,
            "x",
        );
        assert_eq!(lines, vec![format!("10,{TOP} 20,106")]);
        assert_eq!(dots.len(), 3);
        assert_eq!(dots[2].y, BOTTOM);
    }
}
