//! The log review (loggkontroll, issue 18), for admins and reviewers
//! ("granskare"): who opened which participant's case record, when and
//! from which page or API token, judged by `engine::review` (outside one's
//! own caseload, protected identity, refused). Filters by person,
//! participant, unit and period; ready-made selections; the month's
//! sample; a CSV export (as monitoring's: semicolons, UTF-8 with a BOM)
//! and a print view of the current selection; recording a review with a
//! note, and the list of past reviews. Admins also mark participants
//! protected here and name who may see them: once protected, the case
//! record itself is closed to an admin who is not named.

use super::{
    Me, Posted, Ui, UiError, action_name, engine_err, given, local_dt, render, see_other, t, ta,
};
use crate::domain::access::Action;
use crate::domain::spreadsheet::cell;
use crate::domain::{Language, ParticipantId, ReviewSelection, Role, StaffId, UnitId};
use crate::engine::Actor;
use crate::engine::day::midnight;
use crate::engine::review::{DEFAULT_SAMPLE, MAX_SAMPLE, ReviewQuery, ReviewResult, ReviewedView};
use crate::store::review::NewReview;
use crate::store::staff::Staff;
use crate::store::units::Unit;
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/review", get(review_page))
        .route("/review/export.csv", get(export_csv))
        .route("/review/print", get(print_page))
        .route("/review/record", post(record_review))
        .route("/review/protection", post(set_protection))
}

/// The most rows the page shows (the CSV and the print view have all).
const PAGE_ROWS: usize = 500;
/// Past reviews listed.
const PAST_REVIEWS: i64 = 50;

/// The query string of the page, as typed.
#[derive(Debug, Default, Deserialize)]
struct ReviewParams {
    selection: Option<String>,
    from: Option<String>,
    to: Option<String>,
    person: Option<String>,
    participant: Option<String>,
    unit: Option<String>,
    n: Option<String>,
    seed: Option<String>,
}

/// The review asked for, read and checked.
struct Asked {
    q: ReviewQuery,
    from: NaiveDate,
    to: NaiveDate,
    person: String,
    participant: String,
    unit: Option<UnitId>,
    n: usize,
    seed: String,
}

impl Asked {
    /// The query string that asks for this review again.
    fn query_string(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair("selection", self.q.selection.as_str());
        ser.append_pair("from", &self.from.to_string());
        ser.append_pair("to", &self.to.to_string());
        if !self.person.is_empty() {
            ser.append_pair("person", &self.person);
        }
        if !self.participant.is_empty() {
            ser.append_pair("participant", &self.participant);
        }
        if let Some(u) = self.unit {
            ser.append_pair("unit", &u.to_string());
        }
        if self.q.selection == ReviewSelection::Sample {
            ser.append_pair("n", &self.n.to_string());
            if !self.seed.is_empty() {
                ser.append_pair("seed", &self.seed);
            }
        }
        ser.finish()
    }
}

fn bad_date(lang: Language) -> UiError {
    UiError::new(
        StatusCode::BAD_REQUEST,
        lang,
        &t(lang, "ui-review-bad-date"),
    )
}

fn parse(p: &ReviewParams, tz: Tz, now: DateTime<Utc>, lang: Language) -> Result<Asked, UiError> {
    let selection = given(&p.selection)
        .and_then(|s| s.parse().ok())
        .unwrap_or(ReviewSelection::All);
    let today = now.with_timezone(&tz).date_naive();
    let date = |v: &Option<String>, default: NaiveDate| match given(v) {
        None => Ok(default),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| bad_date(lang)),
    };
    let month_start = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let mut from = date(&p.from, month_start(today))?;
    let mut to = date(&p.to, today)?;
    // The sample is drawn per month: the whole month "from" falls in.
    let month = from.format("%Y-%m").to_string();
    if selection == ReviewSelection::Sample {
        from = month_start(from);
        to = (month_start(from) + Duration::days(32))
            .with_day(1)
            .unwrap_or(from)
            - Duration::days(1);
    }
    if to < from {
        return Err(bad_date(lang));
    }
    let person = given(&p.person).unwrap_or("").to_string();
    let participant = given(&p.participant).unwrap_or("").to_string();
    let participant_id = if participant.is_empty() {
        None
    } else {
        Some(
            participant
                .trim_start_matches('#')
                .parse::<i64>()
                .ok()
                .filter(|i| *i > 0)
                .map(ParticipantId::from_db)
                .ok_or_else(|| UiError::not_found(lang))?,
        )
    };
    let unit = given(&p.unit)
        .and_then(|u| u.parse::<i64>().ok())
        .map(UnitId::from_db);
    let n = given(&p.n)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(DEFAULT_SAMPLE)
        .clamp(1, MAX_SAMPLE);
    let seed = given(&p.seed).unwrap_or("").to_string();
    Ok(Asked {
        q: ReviewQuery {
            selection,
            from: midnight(from, tz),
            to: midnight(to + Duration::days(1), tz),
            actor: (!person.is_empty()).then(|| person.clone()),
            participant: participant_id,
            unit,
            sample_n: n,
            sample_key: month,
            seed: seed.clone(),
        },
        from,
        to,
        person,
        participant,
        unit,
        n,
        seed,
    })
}

/// What every view of the review needs besides the rows.
struct Context {
    tz: Tz,
    staff: Vec<Staff>,
    units: Vec<Unit>,
    /// Token names by id, for views through the API.
    tokens: HashMap<i64, String>,
}

async fn context(s: &AppState, me: &Me) -> Result<Context, UiError> {
    let lang = me.lang;
    let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
    let staff = crate::store::staff::list(&mut c)
        .await
        .map_err(engine_err(lang))?;
    let units = crate::store::units::list(&mut c)
        .await
        .map_err(engine_err(lang))?;
    let tokens = crate::store::tokens::list(&mut c)
        .await
        .map_err(engine_err(lang))?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let tz = me.own_tz(&units);
    Ok(Context {
        tz,
        staff,
        units,
        tokens,
    })
}

/// One view as the page, the print view and the CSV show it.
struct RowView {
    id: i64,
    at: String,
    who: String,
    what: String,
    code: String,
    participant: String,
    unit: String,
    from: String,
    flags: Vec<(&'static str, String)>,
}

fn who_name(lang: Language, actor: &str, cx: &Context) -> String {
    if let Some(id) = crate::domain::review::staff_of(actor)
        && let Some(s) = cx.staff.iter().find(|s| s.id == id)
    {
        return format!(
            "{} ({}, {})",
            s.name,
            s.username,
            t(lang, &format!("ui-role-{}", s.role.as_str()))
        );
    }
    match actor.split_once(':') {
        Some(("api", name)) => ta(lang, "ui-review-token", &[("name", name.to_string())]),
        _ => actor.to_string(),
    }
}

fn row_view(lang: Language, v: &ReviewedView, cx: &Context) -> RowView {
    let mut flags = Vec::new();
    if v.denied {
        flags.push(("bad", t(lang, "ui-review-flag-denied")));
    }
    if v.protected {
        flags.push(("bad", t(lang, "ui-review-flag-protected")));
    }
    if v.outside {
        flags.push(("warn", t(lang, "ui-review-flag-outside")));
    }
    let from = match (&v.page, v.token) {
        (Some(p), Some(id)) => format!(
            "{} ({})",
            p,
            ta(
                lang,
                "ui-review-token",
                &[(
                    "name",
                    cx.tokens.get(&id).cloned().unwrap_or(id.to_string())
                )]
            )
        ),
        (Some(p), None) => p.clone(),
        (None, _) => String::new(),
    };
    RowView {
        id: v.row.id,
        at: local_dt(lang, v.row.at, cx.tz),
        who: who_name(lang, &v.row.actor, cx),
        what: action_name(lang, &v.row.action),
        code: v.row.action.clone(),
        participant: match (&v.first_name, v.participant) {
            (Some(n), Some(p)) => format!("{n} (#{p})"),
            (None, Some(p)) => format!("#{p}"),
            _ => v.row.target.clone(),
        },
        unit: v
            .unit
            .and_then(|u| cx.units.iter().find(|x| x.id == u))
            .map(|u| u.name.clone())
            .unwrap_or_default(),
        from,
        flags,
    }
}

fn selection_label(lang: Language, s: ReviewSelection) -> String {
    t(lang, &format!("ui-review-sel-{}", s.as_str()))
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct PastView {
    at: String,
    reviewer: String,
    selection: String,
    period: String,
    views: i64,
    note: String,
}

struct ProtectedView {
    id: i64,
    named: String,
}

struct NamedChoice {
    id: i64,
    label: String,
}

#[derive(Template)]
#[template(path = "ui/review.html")]
struct ReviewPage {
    ui: Ui,
    selections: Vec<Choice>,
    /// The ready-made selections as links: (label, href, current).
    quick: Vec<(String, String, bool)>,
    from: String,
    to: String,
    people: Vec<Choice>,
    participant: String,
    units: Vec<Choice>,
    n: usize,
    seed: String,
    count: String,
    rows: Vec<RowView>,
    truncated: bool,
    qs: String,
    hidden: Vec<(&'static str, String)>,
    past: Vec<PastView>,
    message: Option<String>,
    may_protect: bool,
    protected: Vec<ProtectedView>,
    nameable: Vec<NamedChoice>,
}

#[derive(Template)]
#[template(path = "ui/review_print.html")]
struct PrintPage {
    lang: &'static str,
    title: String,
    printed: String,
    count: String,
    rows: Vec<RowView>,
    heads: Vec<String>,
    none: String,
}

#[derive(Deserialize)]
struct Flash {
    done: Option<String>,
}

async fn run(
    s: &AppState,
    me: &Me,
    p: &ReviewParams,
) -> Result<(Asked, ReviewResult, Context), UiError> {
    me.require(Action::ReadAudit)?;
    let cx = context(s, me).await?;
    let asked = parse(p, cx.tz, Utc::now(), me.lang)?;
    let result = s
        .engine
        .review(&me.actor(), Utc::now(), &asked.q)
        .await
        .map_err(engine_err(me.lang))?;
    Ok((asked, result, cx))
}

fn count_line(lang: Language, r: &ReviewResult) -> String {
    ta(
        lang,
        "ui-review-count",
        &[
            ("n", r.views.len().to_string()),
            ("total", r.in_period.to_string()),
        ],
    )
}

async fn review_page(
    State(s): State<AppState>,
    me: Me,
    Query(p): Query<ReviewParams>,
    Query(f): Query<Flash>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let (asked, result, cx) = run(&s, &me, &p).await?;
    let qs = asked.query_string();
    let quick = [
        ReviewSelection::All,
        ReviewSelection::Outside,
        ReviewSelection::Protected,
        ReviewSelection::Sample,
    ]
    .into_iter()
    .map(|sel| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair("selection", sel.as_str());
        ser.append_pair("from", &asked.from.to_string());
        ser.append_pair("to", &asked.to.to_string());
        (
            selection_label(lang, sel),
            format!("/review?{}", ser.finish()),
            sel == asked.q.selection,
        )
    })
    .collect();
    let selections = ReviewSelection::ALL
        .iter()
        .map(|sel| Choice {
            value: sel.as_str().to_string(),
            label: selection_label(lang, *sel),
            selected: *sel == asked.q.selection,
        })
        .collect();
    let mut people = vec![Choice {
        value: String::new(),
        label: t(lang, "ui-review-person-any"),
        selected: asked.person.is_empty(),
    }];
    people.extend(cx.staff.iter().map(|x| {
        let value = format!("staff:{}", x.id);
        Choice {
            selected: value == asked.person,
            label: format!("{} ({})", x.name, x.username),
            value,
        }
    }));
    people.extend(cx.tokens.values().map(|name| {
        let value = format!("api:{name}");
        Choice {
            selected: value == asked.person,
            label: ta(lang, "ui-review-token", &[("name", name.clone())]),
            value,
        }
    }));
    let mut units = vec![Choice {
        value: String::new(),
        label: t(lang, "ui-review-unit-any"),
        selected: asked.unit.is_none(),
    }];
    units.extend(cx.units.iter().map(|u| Choice {
        value: u.id.to_string(),
        label: u.name.clone(),
        selected: Some(u.id) == asked.unit,
    }));
    let staff_name = |id: StaffId| {
        cx.staff
            .iter()
            .find(|x| x.id == id)
            .map(|x| format!("{} ({})", x.name, x.username))
            .unwrap_or_else(|| format!("staff:{id}"))
    };
    let past = s
        .engine
        .reviews(PAST_REVIEWS)
        .await
        .map_err(engine_err(lang))?
        .into_iter()
        .map(|r| PastView {
            at: local_dt(lang, r.at, cx.tz),
            reviewer: staff_name(r.staff),
            selection: selection_label(lang, r.selection),
            period: format!(
                "{} – {}",
                r.from.with_timezone(&cx.tz).date_naive(),
                (r.to - Duration::days(1))
                    .with_timezone(&cx.tz)
                    .date_naive()
            ),
            views: r.views,
            note: r.note,
        })
        .collect();
    let may_protect = me.may(Action::Protect);
    let protected = if may_protect {
        let mut c = s.engine.db.conn().await.map_err(engine_err(lang))?;
        let mut list: Vec<_> = crate::store::protection::all(&mut c)
            .await
            .map_err(engine_err(lang))?
            .into_iter()
            .collect();
        list.sort_by_key(|(p, _)| *p);
        list.into_iter()
            .map(|(p, named)| ProtectedView {
                id: p.get(),
                named: if named.is_empty() {
                    t(lang, "ui-review-protect-nobody")
                } else {
                    named
                        .iter()
                        .map(|n| staff_name(*n))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
            .collect()
    } else {
        Vec::new()
    };
    let nameable = cx
        .staff
        .iter()
        .filter(|x| x.active && x.role != Role::Reviewer)
        .map(|x| NamedChoice {
            id: x.id.get(),
            label: format!("{} ({})", x.name, x.username),
        })
        .collect();
    let message = match f.done.as_deref() {
        Some("recorded") => Some(t(lang, "ui-review-recorded")),
        Some(id) => id
            .parse::<i64>()
            .ok()
            .map(|id| ta(lang, "ui-review-protect-saved", &[("id", id.to_string())])),
        None => None,
    };
    let mut hidden = vec![
        ("selection", asked.q.selection.as_str().to_string()),
        ("from", asked.from.to_string()),
        ("to", asked.to.to_string()),
        ("person", asked.person.clone()),
        ("participant", asked.participant.clone()),
        (
            "unit",
            asked.unit.map(|u| u.to_string()).unwrap_or_default(),
        ),
    ];
    if asked.q.selection == ReviewSelection::Sample {
        hidden.push(("n", asked.n.to_string()));
        hidden.push(("seed", asked.seed.clone()));
    }
    let truncated = result.views.len() > PAGE_ROWS;
    Ok(render(&ReviewPage {
        ui: me.ui("/review"),
        selections,
        quick,
        from: asked.from.to_string(),
        to: asked.to.to_string(),
        people,
        participant: asked.participant.clone(),
        units,
        n: asked.n,
        seed: asked.seed.clone(),
        count: count_line(lang, &result),
        rows: result
            .views
            .iter()
            .take(PAGE_ROWS)
            .map(|v| row_view(lang, v, &cx))
            .collect(),
        truncated,
        qs,
        hidden,
        past,
        message,
        may_protect,
        protected,
        nameable,
    }))
}

const COLUMNS: [&str; 7] = [
    "time",
    "who",
    "what",
    "participant",
    "unit",
    "from",
    "flags",
];

async fn print_page(
    State(s): State<AppState>,
    me: Me,
    Query(p): Query<ReviewParams>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let (asked, result, cx) = run(&s, &me, &p).await?;
    Ok(render(&PrintPage {
        lang: lang.as_str(),
        title: ta(
            lang,
            "ui-review-print-title",
            &[
                ("selection", selection_label(lang, asked.q.selection)),
                ("from", asked.from.to_string()),
                ("to", asked.to.to_string()),
            ],
        ),
        printed: ta(
            lang,
            "ui-review-printed",
            &[
                ("at", local_dt(lang, Utc::now(), cx.tz)),
                ("name", me.staff.name.clone()),
            ],
        ),
        count: count_line(lang, &result),
        rows: result
            .views
            .iter()
            .map(|v| row_view(lang, v, &cx))
            .collect(),
        heads: COLUMNS
            .iter()
            .map(|c| t(lang, &format!("ui-review-col-{c}")))
            .collect(),
        none: t(lang, "ui-review-none"),
    }))
}

/// The selection as CSV for Excel, as monitoring's export writes it
/// (`monitoring::excel_csv`): semicolons, UTF-8 with a BOM; names through
/// [`cell`] (no formulas).
async fn export_csv(
    State(s): State<AppState>,
    me: Me,
    Query(p): Query<ReviewParams>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let (asked, result, cx) = run(&s, &me, &p).await?;
    let body = csv_body(lang, &result, &cx)
        .map_err(|e| UiError::internal(lang, "review csv failed", e))?;
    let name = format!(
        "paminn-{}-{}-{}-{}.csv",
        t(lang, "ui-review-csv-name"),
        asked.q.selection,
        asked.from,
        asked.to
    );
    Ok(super::monitoring::csv_download(&name, body))
}

fn csv_body(lang: Language, r: &ReviewResult, cx: &Context) -> anyhow::Result<Vec<u8>> {
    let mut w = super::monitoring::excel_csv();
    let mut head: Vec<String> = vec!["id".to_string()];
    head.extend(
        COLUMNS
            .iter()
            .map(|c| t(lang, &format!("ui-review-col-{c}"))),
    );
    head.push("code".to_string());
    w.write_record(&head)?;
    for v in &r.views {
        let x = row_view(lang, v, cx);
        w.write_record([
            x.id.to_string(),
            x.at,
            cell(&x.who).into_owned(),
            x.what,
            cell(&x.participant).into_owned(),
            cell(&x.unit).into_owned(),
            cell(&x.from).into_owned(),
            x.flags
                .iter()
                .map(|(_, l)| l.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            x.code,
        ])?;
    }
    Ok(w.into_inner()?)
}

/// The review as the page asked for it (hidden fields), with the note.
#[derive(Deserialize)]
struct RecordForm {
    #[serde(flatten)]
    params: ReviewParams,
    #[serde(default)]
    note: String,
}

async fn record_review(
    State(s): State<AppState>,
    p: Posted<RecordForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let lang = me.lang;
    if f.note.trim().is_empty() {
        return Err(UiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            lang,
            &t(lang, "ui-review-note-needed"),
        ));
    }
    let (asked, result, _) = run(&s, &me, &f.params).await?;
    let filters = serde_json::json!({
        "person": (!asked.person.is_empty()).then_some(&asked.person),
        "participant": asked.q.participant,
        "unit": asked.unit,
        "n": (asked.q.selection == ReviewSelection::Sample).then_some(asked.n),
        "seed": (asked.q.selection == ReviewSelection::Sample).then_some(&asked.seed),
        "ids": result.views.iter().map(|v| v.row.id).collect::<Vec<_>>(),
    });
    s.engine
        .record_review(
            &me.actor(),
            Utc::now(),
            &NewReview {
                staff: me.staff.id,
                selection: asked.q.selection,
                from: asked.q.from,
                to: asked.q.to,
                filters,
                views: result.views.len() as i64,
                note: f.note,
            },
        )
        .await
        .map_err(engine_err(lang))?;
    Ok(see_other(&format!(
        "/review?{}&done=recorded#past",
        asked.query_string()
    )))
}

#[derive(Deserialize)]
struct ProtectForm {
    #[serde(default)]
    participant: String,
    #[serde(default)]
    protected: Option<String>,
    #[serde(default)]
    named: Vec<String>,
}

async fn set_protection(
    State(s): State<AppState>,
    p: Posted<ProtectForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    me.require(Action::Protect)?;
    let lang = me.lang;
    let id = f
        .participant
        .trim()
        .trim_start_matches('#')
        .parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .map(ParticipantId::from_db)
        .ok_or_else(|| UiError::not_found(lang))?;
    let named: Vec<StaffId> = f
        .named
        .iter()
        .filter_map(|n| n.parse::<i64>().ok())
        .map(StaffId::from_db)
        .collect();
    let actor: Actor = me.actor();
    s.engine
        .set_protection(&actor, Utc::now(), id, f.protected.is_some(), &named)
        .await
        .map_err(engine_err(lang))?;
    Ok(see_other(&format!("/review?done={id}#protect")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_covers_the_whole_month_of_from() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let p = ReviewParams {
            selection: Some("stickprov".into()),
            from: Some("2026-11-15".into()),
            to: Some("2026-11-16".into()),
            ..Default::default()
        };
        let a = parse(&p, chrono_tz::Europe::Stockholm, now, Language::Sv).unwrap();
        assert_eq!(a.q.selection, ReviewSelection::Sample);
        assert_eq!(a.from.to_string(), "2026-11-01");
        assert_eq!(a.to.to_string(), "2026-11-30");
        assert_eq!(a.q.sample_key, "2026-11");
        assert_eq!(a.n, DEFAULT_SAMPLE);
    }

    #[test]
    fn by_default_this_month_up_to_today() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = parse(
            &ReviewParams::default(),
            chrono_tz::Europe::Stockholm,
            now,
            Language::En,
        )
        .unwrap();
        assert_eq!(a.q.selection, ReviewSelection::All);
        assert_eq!(
            (a.from.to_string(), a.to.to_string()),
            ("2026-12-01".into(), "2026-12-07".into())
        );
        assert!(
            parse(
                &ReviewParams {
                    from: Some("7/12".into()),
                    ..Default::default()
                },
                chrono_tz::Europe::Stockholm,
                now,
                Language::En
            )
            .is_err()
        );
    }

    #[test]
    fn both_languages_have_the_same_review_texts() {
        fn keys(ftl: &str) -> std::collections::BTreeSet<&str> {
            ftl.lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with(' '))
                .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
                .collect()
        }
        let sv = keys(include_str!("../../../locales/sv/ui-review.ftl"));
        let en = keys(include_str!("../../../locales/en/ui-review.ftl"));
        assert_eq!(sv, en);
        assert!(sv.len() > 50);
    }

    #[test]
    fn every_view_action_has_a_plain_name() {
        for lang in [Language::Sv, Language::En] {
            for a in crate::domain::review::VIEW_ACTIONS {
                assert_ne!(action_name(lang, a), *a, "{a}");
            }
        }
        assert_eq!(
            action_name(Language::En, "case.view"),
            "opened the case record"
        );
        assert_eq!(action_name(Language::En, "no.such"), "no.such");
    }
}
