//! Outcomes and trials (issue 21): a unit's show-up report, trials of two
//! reminder-rule variants, and the anonymised export for evaluators.
//!
//! Every operation is an `Engine` method: the report and the export are
//! audited reads (`outcomes.view`, `trials.view`, `outcomes.export`), a
//! trial's creation and end are audited changes (`trial.create`,
//! `trial.end`). A participant's assignment to an arm is journalled where
//! it happens, in the planner (`engine::planner::trial_arm`).

use super::reads::Viewed;
use super::{Actor, Engine};
use crate::domain::outcomes::{
    self, Cell, Interval, Shows, Tally, Verdict, blank_rare, newcombe, pseudonym, started_bucket,
    suppress, tally_by, verdict,
};
use crate::domain::trials::{self as trial_rules, Arm, Variant};
use crate::domain::{AppointmentKind, ChannelKind, ReplyState, UnitId};
use crate::error::{Error, Result};
use crate::store::outcomes::{self as rows, OutcomeRow};
use crate::store::trials::{self, NewTrial, Trial};
use crate::store::{audit, rules, units};
use chrono::{DateTime, Datelike, Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use serde_json::json;

/// One row of a breakdown: a stable code (`meeting`, `sms`, `coming`,
/// `0-30`, `before`, ...) and its cell.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = OutcomeRow)]
pub struct Row {
    pub code: String,
    pub cell: Cell,
}

/// A one-way table: rows that partition the total.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Breakdown {
    /// `kind`, `channel`, `reply`, `started`, `rules`.
    #[schema(value_type = String)]
    pub by: &'static str,
    pub rows: Vec<Row>,
    pub total: Cell,
}

/// One week of the chart: show-up and reply rates in per cent, `None` when
/// the week holds too few people (or nothing).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = OutcomeWeek)]
pub struct Week {
    pub starts: DateTime<Utc>,
    pub show_up_pct: Option<f64>,
    pub replied_pct: Option<f64>,
}

/// A unit's outcome report for a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutcomeReport {
    pub unit: UnitId,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub min_people: u32,
    pub breakdowns: Vec<Breakdown>,
    /// The rule change the before/after table splits on, if any in the period.
    pub rules_changed_at: Option<DateTime<Utc>>,
    pub weeks: Vec<Week>,
}

/// A trial with its arms' figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrialResult {
    pub trial: Trial,
    pub running: bool,
    pub a: Cell,
    pub b: Cell,
    pub total: Cell,
    /// Newcombe's interval of A − B, only when neither arm is hidden.
    pub difference: Option<Interval>,
    pub verdict: Verdict,
}

/// A trial as a coordinator asks for it.
#[derive(Debug, Clone)]
pub struct TrialRequest {
    pub kind: AppointmentKind,
    pub name: String,
    pub a: Variant,
    pub b: Variant,
    pub fewer_than_standard_ack: bool,
}

/// One row of the evaluators' export.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExportRow {
    pub pseudonym: String,
    /// Month of the appointment, `YYYY-MM`.
    pub month: String,
    pub kind: String,
    pub channel: String,
    pub reply: String,
    pub started: String,
    pub arm: String,
    pub attended: String,
}

/// The export's column names, in order.
pub const EXPORT_HEADER: [&str; 8] = [
    "pseudonym",
    "month",
    "kind",
    "channel",
    "reply",
    "days_since_start",
    "trial_arm",
    "attended",
];

fn channel_code(ch: &[ChannelKind]) -> &'static str {
    match ch {
        [] => "none",
        [one] => one.as_str(),
        _ => "both",
    }
}

fn reply_code(r: ReplyState) -> &'static str {
    match r {
        ReplyState::Coming => "coming",
        ReplyState::Cannot => "cannot",
        ReplyState::None => "silent",
    }
}

fn days_since_start(r: &OutcomeRow) -> i64 {
    (r.starts_at - r.started_at).num_days()
}

/// One breakdown of `rows` by `key`, with every code of `codes` present
/// (in that order, empty ones too) and suppression applied.
fn breakdown(
    by: &'static str,
    codes: &[&str],
    rows: &[OutcomeRow],
    key: impl Fn(&OutcomeRow) -> String,
    min_people: u32,
) -> Breakdown {
    let tallies = tally_by(
        rows.iter()
            .map(|r| (key(r), r.participant_id.get(), r.shows)),
    );
    let ordered: Vec<(String, Tally)> = codes
        .iter()
        .map(|c| {
            let t = tallies
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, t)| *t)
                .unwrap_or_default();
            (c.to_string(), t)
        })
        .collect();
    let total = outcomes::total(rows.iter().map(|r| (r.participant_id.get(), r.shows)));
    let plain: Vec<Tally> = ordered.iter().map(|(_, t)| *t).collect();
    let (cells, total) = suppress(&plain, &total, min_people);
    Breakdown {
        by,
        rows: ordered
            .into_iter()
            .zip(cells)
            .map(|((code, _), cell)| Row { code, cell })
            .collect(),
        total,
    }
}

/// The report of `rows`, pure: every breakdown, the before/after split on
/// `change`, and the weekly chart.
pub fn report(
    unit: UnitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rows: &[OutcomeRow],
    change: Option<DateTime<Utc>>,
    min_people: u32,
) -> OutcomeReport {
    let kinds: Vec<&str> = AppointmentKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut breakdowns = vec![
        breakdown("kind", &kinds, rows, |r| r.kind.as_str().into(), min_people),
        breakdown(
            "channel",
            &["sms", "telegram", "both", "none"],
            rows,
            |r| channel_code(&r.channels).into(),
            min_people,
        ),
        breakdown(
            "reply",
            &["coming", "cannot", "silent"],
            rows,
            |r| reply_code(r.reply).into(),
            min_people,
        ),
        breakdown(
            "started",
            &["0-30", "31-90", "91-180", "181-"],
            rows,
            |r| started_bucket(days_since_start(r)).into(),
            min_people,
        ),
    ];
    if let Some(at) = change {
        breakdowns.push(breakdown(
            "rules",
            &["before", "after"],
            rows,
            |r| if r.starts_at < at { "before" } else { "after" }.into(),
            min_people,
        ));
    }
    // Weeks from the period's start, seven days each.
    let mut weeks = Vec::new();
    let mut w = from;
    while w < to && weeks.len() < 53 {
        let end = (w + Duration::days(7)).min(to);
        let in_week: Vec<&OutcomeRow> = rows
            .iter()
            .filter(|r| r.starts_at >= w && r.starts_at < end)
            .collect();
        let t = outcomes::total(in_week.iter().map(|r| (r.participant_id.get(), r.shows)));
        let shown = t.people >= min_people;
        let replied = in_week
            .iter()
            .filter(|r| r.reply != ReplyState::None)
            .count() as f64;
        weeks.push(Week {
            starts: w,
            show_up_pct: t.rate().filter(|_| shown).map(|r| r * 100.0),
            replied_pct: (shown && t.counted() > 0)
                .then(|| 100.0 * replied / f64::from(t.counted())),
        });
        w = end;
    }
    OutcomeReport {
        unit,
        from,
        to,
        min_people,
        breakdowns,
        rules_changed_at: change,
        weeks,
    }
}

/// The figures of one trial from its counted appointments.
pub fn trial_result(
    trial: Trial,
    rows: &[(Arm, crate::domain::ParticipantId, bool)],
    now: DateTime<Utc>,
    min_people: u32,
) -> TrialResult {
    let shows = |b: bool| if b { Shows::Attended } else { Shows::Absent };
    let by = tally_by(rows.iter().map(|(arm, p, b)| (*arm, p.get(), shows(*b))));
    let get = |arm: Arm| {
        by.iter()
            .find(|(a, _)| *a == arm)
            .map(|(_, t)| *t)
            .unwrap_or_default()
    };
    let (ta, tb) = (get(Arm::A), get(Arm::B));
    let total = outcomes::total(rows.iter().map(|(_, p, b)| (p.get(), shows(*b))));
    let (cells, total_cell) = suppress(&[ta, tb], &total, min_people);
    let shown = !cells[0].is_hidden() && !cells[1].is_hidden();
    TrialResult {
        running: trial.running_at(now),
        trial,
        a: cells[0],
        b: cells[1],
        total: total_cell,
        difference: if shown { newcombe(&ta, &tb) } else { None },
        verdict: if shown {
            verdict(&ta, &tb, min_people)
        } else {
            Verdict::TooFew
        },
    }
}

/// The export's rows of `rows`, pseudonymised with `key` and thresholded.
pub fn export_rows(rows: &[OutcomeRow], key: &[u8], min_people: u32) -> Vec<ExportRow> {
    let mut raw: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|r| {
            (
                pseudonym(key, r.participant_id),
                vec![
                    format!("{:04}-{:02}", r.starts_at.year(), r.starts_at.month()),
                    r.kind.as_str().to_string(),
                    channel_code(&r.channels).to_string(),
                    reply_code(r.reply).to_string(),
                    started_bucket(days_since_start(r)).to_string(),
                    r.trial_arm.clone().unwrap_or_else(|| "-".into()),
                    if r.shows == Shows::Attended { "1" } else { "0" }.to_string(),
                ],
            )
        })
        .collect();
    blank_rare(&mut raw, min_people);
    raw.into_iter()
        .map(|(p, c)| ExportRow {
            pseudonym: p,
            month: c[0].clone(),
            kind: c[1].clone(),
            channel: c[2].clone(),
            reply: c[3].clone(),
            started: c[4].clone(),
            arm: c[5].clone(),
            attended: c[6].clone(),
        })
        .collect()
}

/// The longest period a report or export covers.
pub const MAX_PERIOD_DAYS: i64 = 731;

fn check_period(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<()> {
    if to <= from {
        return Err(Error::invalid("the period ends before it starts"));
    }
    if to - from > Duration::days(MAX_PERIOD_DAYS) {
        return Err(Error::invalid("a period of at most two years"));
    }
    Ok(())
}

fn check_min(min_people: u32) -> Result<()> {
    if !(2..=100).contains(&min_people) {
        return Err(Error::invalid("the smallest cell must be 2-100 people"));
    }
    Ok(())
}

impl Engine {
    /// A unit's outcome report for `[from, to)` (audited as `outcomes.view`).
    pub async fn outcome_report(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        unit: UnitId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        min_people: u32,
    ) -> Result<OutcomeReport> {
        check_period(from, to)?;
        check_min(min_people)?;
        self.read_audited(actor, now, async |c| {
            units::get(c, unit).await?;
            let list = rows::rows(c, unit, from, to).await?;
            let change = rows::rule_changes(c, unit, from, to).await?.pop();
            let r = report(unit, from, to, &list, change, min_people);
            let v = Viewed::new("outcomes.view", format!("unit:{unit}")).with(json!({
                "from": from, "to": to, "min_people": min_people, "appointments": list.len(),
            }));
            Ok((r, v))
        })
        .await
    }

    /// The anonymised export for evaluators (audited as `outcomes.export`):
    /// no names, numbers or texts; pseudonyms from a fresh random key, so
    /// stable within this export and different in the next; rare values
    /// blanked at `min_people`.
    pub async fn outcome_export(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        unit: UnitId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        min_people: u32,
    ) -> Result<Vec<ExportRow>> {
        check_period(from, to)?;
        check_min(min_people)?;
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        self.read_audited(actor, now, async |c| {
            units::get(c, unit).await?;
            let list = rows::rows(c, unit, from, to).await?;
            let out = export_rows(&list, &key, min_people);
            let v = Viewed::new("outcomes.export", format!("unit:{unit}")).with(json!({
                "from": from, "to": to, "min_people": min_people, "rows": out.len(),
            }));
            Ok((out, v))
        })
        .await
    }

    /// A unit's trials with their arms' figures (audited as `trials.view`).
    pub async fn trial_results(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        unit: UnitId,
        min_people: u32,
    ) -> Result<Vec<TrialResult>> {
        check_min(min_people)?;
        self.read_audited(actor, now, async |c| {
            let mut out = Vec::new();
            for t in trials::list(c, unit).await? {
                let rows = trials::arm_outcomes(c, &t, now).await?;
                out.push(trial_result(t, &rows, now, min_people));
            }
            Ok((out, Viewed::new("trials.view", format!("unit:{unit}"))))
        })
        .await
    }

    /// Starts a trial now (audited as `trial.create`). Refused when the unit
    /// has no rule for the kind, a trial of the kind is running, or an arm
    /// gives fewer reminders than the standard without the explicit choice.
    pub async fn create_trial(
        &self,
        unit: UnitId,
        r: &TrialRequest,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Trial> {
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::invalid("a trial needs a name of 1-100 characters"));
        }
        let mut tx = self.db.begin().await?;
        units::get(&mut tx, unit).await?;
        let standard = rules::get(&mut tx, unit, r.kind).await?.ok_or_else(|| {
            Error::invalid("the unit has no reminder rule for this kind of appointment")
        })?;
        trial_rules::check_new(&standard.offsets, &r.a, &r.b, r.fewer_than_standard_ack)
            .map_err(Error::Invalid)?;
        if trials::running(&mut tx, unit, r.kind, now).await?.is_some() {
            return Err(Error::invalid(
                "a trial of this kind of appointment is already running; end it first",
            ));
        }
        let mut seed = [0u8; 16];
        rand::rng().fill_bytes(&mut seed);
        let id = trials::insert(
            &mut tx,
            &NewTrial {
                unit_id: unit,
                kind: r.kind,
                name,
                seed: &hex::encode(seed),
                a: &r.a,
                b: &r.b,
                fewer_than_standard_ack: r.fewer_than_standard_ack,
                created_by: actor.as_str(),
            },
            now,
        )
        .await?;
        let spans = |v: &Variant| {
            v.offsets
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "trial.create",
            &format!("trial:{id}"),
            json!({
                "unit": unit, "kind": r.kind, "name": name,
                "a": { "offsets": spans(&r.a), "wording": r.a.wording },
                "b": { "offsets": spans(&r.b), "wording": r.b.wording },
                "standard": standard.offsets.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
                "fewer_than_standard_ack": r.fewer_than_standard_ack,
            }),
        )
        .await?;
        let t = trials::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Ends a running trial of `unit` now (audited as `trial.end`).
    /// Reminders planned under it keep their times; appointments planned
    /// from now on get the unit's standard rule.
    pub async fn end_trial(
        &self,
        unit: UnitId,
        id: i64,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Trial> {
        let mut tx = self.db.begin().await?;
        let t = trials::get(&mut tx, id).await?;
        if t.unit_id != unit {
            return Err(Error::not_found(format!("trial {id}")));
        }
        if !trials::end(&mut tx, id, now).await? {
            return Err(Error::invalid("the trial has ended already"));
        }
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "trial.end",
            &format!("trial:{id}"),
            json!({ "unit": unit }),
        )
        .await?;
        let t = trials::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(t)
    }
}
