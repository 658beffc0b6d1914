//! Read-only figures for the monitoring pages of the staff web UI: the
//! message search (outbox rows, never their text), participants without a
//! working number, delivery and reply counts per week, and SMS parts and
//! cost per month. Every query takes an optional unit: `None` is every unit
//! (admins only; the handler decides).

use super::{Conn, Parsed, from_ms, ms};
use crate::domain::{
    ChannelKind, FailureKind, OutboxId, OutboxStatus, ParticipantId, Purpose, UnitId,
};
use crate::error::Result;
use crate::store::units::parse_tz;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::Arguments;
use sqlx::any::AnyArguments;

/// Which participant a search is about: an id, or the start of a first name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Id(ParticipantId),
    Name(String),
}

/// A message search. Times are instants; the handler turns local dates
/// into them.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub unit: Option<UnitId>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub status: Option<OutboxStatus>,
    pub channel: Option<ChannelKind>,
    pub who: Option<Who>,
    /// The staff member searching: protected participants they are not
    /// named for are left out (`domain::access::shows`). `None`: no one is
    /// searching (internal use), nothing left out.
    pub viewer: Option<crate::domain::StaffId>,
}

/// One message as monitoring shows it: no text.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: OutboxId,
    /// When it went out, or is (was) due when it has not.
    pub at: DateTime<Utc>,
    pub participant_id: ParticipantId,
    pub first_name: String,
    pub time_zone: Tz,
    pub unit_id: UnitId,
    pub purpose: Purpose,
    pub ask_reply: bool,
    pub channel: ChannelKind,
    pub status: OutboxStatus,
    pub parts: Option<i64>,
    pub encoding: Option<String>,
    pub cost: Option<i64>,
    pub currency: Option<String>,
    /// The gateway's or the gate's reason; classified before it is shown.
    pub last_error: Option<String>,
    /// Why it failed, as classified when it happened (None if it did not,
    /// or a receipt reported the failure).
    pub error_kind: Option<FailureKind>,
}

/// The time a message is listed under.
const AT: &str = "COALESCE(o.sent_at, o.due_at)";

enum Arg {
    I(i64),
    S(String),
}

/// `LIKE` patterns for a first name typed in any case: SQLite's `LOWER` and
/// `LIKE` fold ASCII only, so "åsa" is also tried as "Åsa".
fn name_patterns(typed: &str) -> (String, String) {
    let clean: String = typed
        .trim()
        .chars()
        .filter(|c| !matches!(c, '%' | '_' | '\\'))
        .collect();
    let lower = clean.to_lowercase();
    let mut cs = lower.chars();
    let capital = match cs.next() {
        Some(f) => f.to_uppercase().chain(cs).collect::<String>(),
        None => String::new(),
    };
    (format!("{lower}%"), format!("{capital}%"))
}

fn where_clause(f: &MessageFilter) -> (String, Vec<Arg>) {
    let mut parts = vec!["1 = 1".to_string()];
    let mut args = Vec::new();
    let mut push = |clause: &str, a: Vec<Arg>, args: &mut Vec<Arg>| {
        let mut c = clause.to_string();
        for (i, arg) in a.into_iter().enumerate() {
            args.push(arg);
            c = c.replace(&format!("?{}", i + 1), &format!("${}", args.len()));
        }
        parts.push(c);
    };
    if let Some(u) = f.unit {
        push("p.unit_id = ?1", vec![Arg::I(u.get())], &mut args);
    }
    if let Some(from) = f.from {
        push(&format!("{AT} >= ?1"), vec![Arg::I(ms(from))], &mut args);
    }
    if let Some(to) = f.to {
        push(&format!("{AT} < ?1"), vec![Arg::I(ms(to))], &mut args);
    }
    if let Some(s) = f.status {
        push("o.status = ?1", vec![Arg::S(s.as_str().into())], &mut args);
    }
    if let Some(ch) = f.channel {
        push(
            "o.channel = ?1",
            vec![Arg::S(ch.as_str().into())],
            &mut args,
        );
    }
    match &f.who {
        Some(Who::Id(id)) => push("o.participant_id = ?1", vec![Arg::I(id.get())], &mut args),
        Some(Who::Name(n)) => {
            let (lower, capital) = name_patterns(n);
            push(
                "(LOWER(p.first_name) LIKE ?1 OR p.first_name LIKE ?2)",
                vec![Arg::S(lower), Arg::S(capital)],
                &mut args,
            )
        }
        None => {}
    }
    if let Some(v) = f.viewer {
        push(
            "(p.protected = 0 OR EXISTS (SELECT 1 FROM protected_staff ps \
              WHERE ps.participant_id = p.id AND ps.staff_id = ?1))",
            vec![Arg::I(v.get())],
            &mut args,
        );
    }
    (parts.join(" AND "), args)
}

/// The filter's values as the query's arguments, in order.
fn arguments(args: Vec<Arg>) -> Result<AnyArguments> {
    let mut a = AnyArguments::default();
    for v in args {
        match v {
            Arg::I(v) => a.add(v),
            Arg::S(v) => a.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(a)
}

/// A [`MessageRow`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct SearchedRow {
    #[sqlx(try_from = "i64")]
    id: OutboxId,
    at: i64,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    first_name: String,
    time_zone: String,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    purpose: Parsed<Purpose>,
    ask_reply: i64,
    channel: Parsed<ChannelKind>,
    status: Parsed<OutboxStatus>,
    parts: Option<i64>,
    encoding: Option<String>,
    cost: Option<i64>,
    currency: Option<String>,
    last_error: Option<String>,
    error_kind: Option<String>,
}

impl TryFrom<SearchedRow> for MessageRow {
    type Error = crate::error::Error;
    fn try_from(r: SearchedRow) -> Result<MessageRow> {
        Ok(MessageRow {
            id: r.id,
            at: from_ms(r.at),
            participant_id: r.participant_id,
            first_name: r.first_name,
            time_zone: parse_tz(&r.time_zone)?,
            unit_id: r.unit_id,
            purpose: r.purpose.0,
            ask_reply: r.ask_reply != 0,
            channel: r.channel.0,
            status: r.status.0,
            parts: r.parts,
            encoding: r.encoding,
            cost: r.cost,
            currency: r.currency,
            last_error: r.last_error,
            // An unknown kind is shown as none, not refused.
            error_kind: r.error_kind.and_then(|k| k.parse().ok()),
        })
    }
}

/// Messages matching a filter, newest first.
pub async fn search(
    c: &mut Conn,
    f: &MessageFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<MessageRow>> {
    let (w, mut args) = where_clause(f);
    let n = args.len();
    let sql = format!(
        "SELECT o.id, {AT} AS at, o.participant_id, p.first_name, p.time_zone, p.unit_id,
                o.purpose, o.ask_reply, o.channel, o.status, o.parts, o.encoding, o.cost,
                o.currency, o.last_error, o.error_kind
         FROM outbox o JOIN participants p ON p.id = o.participant_id
         WHERE {w}
         ORDER BY at DESC, o.id DESC
         LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    args.extend([Arg::I(limit), Arg::I(offset)]);
    let rows: Vec<SearchedRow> = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), arguments(args)?)
        .fetch_all(&mut *c)
        .await?;
    rows.into_iter().map(MessageRow::try_from).collect()
}

/// How many messages match a filter.
pub async fn count(c: &mut Conn, f: &MessageFilter) -> Result<i64> {
    let (w, args) = where_clause(f);
    let sql = format!(
        "SELECT COUNT(*) FROM outbox o JOIN participants p ON p.id = o.participant_id WHERE {w}"
    );
    Ok(
        sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), arguments(args)?)
            .fetch_one(&mut *c)
            .await?,
    )
}

/// What is wrong with a participant's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberProblem {
    /// No phone number at all.
    Missing,
    /// Their latest SMS that went out or failed failed because the gateway
    /// called the number invalid.
    Invalid,
}

#[derive(Debug, Clone)]
pub struct NumberIssue {
    pub participant_id: ParticipantId,
    pub unit_id: UnitId,
    pub first_name: String,
    pub problem: NumberProblem,
}

/// Participants (not erased, not discharged) without a working number:
/// no number, or their latest SMS (by when it went out or failed) failed
/// because the gateway called the number invalid. An invalid number stops
/// counting once an SMS to them goes through.
pub async fn number_issues(c: &mut Conn, unit: Option<UnitId>) -> Result<Vec<NumberIssue>> {
    let sql = format!(
        "SELECT p.id, p.unit_id, p.first_name, CASE WHEN p.phone IS NULL THEN 1 ELSE 0 END AS missing
         FROM participants p
         WHERE p.erased_at IS NULL AND p.status <> 'discharged' {}
           AND (p.phone IS NULL OR EXISTS (
                 SELECT 1 FROM outbox o
                 WHERE o.id = (SELECT o2.id FROM outbox o2
                               WHERE o2.participant_id = p.id AND o2.channel = 'sms'
                                 AND o2.status IN ('sent','delivered','failed')
                               ORDER BY COALESCE(o2.sent_at, o2.updated_at) DESC, o2.id DESC
                               LIMIT 1)
                   AND o.status = 'failed' AND o.error_kind = 'invalid_number'))
         ORDER BY p.unit_id, p.first_name, p.id",
        if unit.is_some() {
            "AND p.unit_id = $1"
        } else {
            ""
        }
    );
    let mut q = sqlx::query_as::<_, NumberIssueRow>(sqlx::AssertSqlSafe(sql));
    if let Some(u) = unit {
        q = q.bind(u.get());
    }
    let rows = q.fetch_all(&mut *c).await?;
    Ok(rows.into_iter().map(NumberIssue::from).collect())
}

/// A [`NumberIssue`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct NumberIssueRow {
    #[sqlx(try_from = "i64")]
    id: ParticipantId,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    first_name: String,
    missing: i64,
}

impl From<NumberIssueRow> for NumberIssue {
    fn from(r: NumberIssueRow) -> NumberIssue {
        NumberIssue {
            participant_id: r.id,
            unit_id: r.unit_id,
            first_name: r.first_name,
            problem: if r.missing != 0 {
                NumberProblem::Missing
            } else {
                NumberProblem::Invalid
            },
        }
    }
}

/// Counts for one period (a week).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodCounts {
    /// Accepted by the gateway, no delivery receipt (yet).
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Appointments whose first reminder asking for a reply went out in the
    /// period.
    pub asked: i64,
    /// Of those, answered (kommer or förhinder).
    pub replied: i64,
}

/// `CAST(CASE WHEN e >= $k AND e < $k+1 THEN i ... END AS BIGINT)` over the
/// periods between consecutive `bounds` (placeholders from `$first`).
fn period_case(expr: &str, periods: usize, first: usize) -> String {
    let mut s = String::from("CAST(CASE");
    for i in 0..periods {
        s.push_str(&format!(
            " WHEN {expr} >= ${} AND {expr} < ${} THEN {i}",
            first + i,
            first + i + 1
        ));
    }
    s.push_str(" END AS BIGINT)");
    s
}

/// Message outcomes and replies per period between consecutive `bounds`
/// (`bounds.len() - 1` periods). Messages count in the period they went out
/// (or failed); replies in the period the first reminder asked for one.
pub async fn per_period(
    c: &mut Conn,
    unit: Option<UnitId>,
    bounds: &[DateTime<Utc>],
) -> Result<Vec<PeriodCounts>> {
    let n = bounds.len().saturating_sub(1);
    let mut out = vec![PeriodCounts::default(); n];
    if n == 0 {
        return Ok(out);
    }
    let t = "COALESCE(o.sent_at, o.updated_at)";
    let unit_clause = |k: usize, col: &str| {
        if unit.is_some() {
            format!("AND {col} = ${k}")
        } else {
            String::new()
        }
    };
    let sql = format!(
        "SELECT wk, status, COUNT(*) AS n FROM (
           SELECT {} AS wk, o.status AS status
           FROM outbox o JOIN participants p ON p.id = o.participant_id
           WHERE o.status IN ('sent','delivered','failed') AND {t} >= $1 AND {t} < ${} {}
         ) x GROUP BY wk, status",
        period_case(t, n, 1),
        n + 1,
        unit_clause(n + 2, "p.unit_id")
    );
    for r in period_rows::<StatusCountRow>(c, sql, bounds, unit).await? {
        let Some(p) = usize::try_from(r.wk).ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        match r.status.0 {
            OutboxStatus::Sent => p.sent += r.n,
            OutboxStatus::Delivered => p.delivered += r.n,
            OutboxStatus::Failed => p.failed += r.n,
            _ => {}
        }
    }
    // An appointment counts once, in the week its first reminder asking for
    // a reply went out: a reply to tomorrow's appointment, asked and
    // answered this week, is this week's (counting by the start left this
    // week at "asked 0" while staff saw the replies; issue 23).
    let first_asked = "f.first_asked";
    let sql = format!(
        "SELECT wk, COUNT(*) AS asked,
                CAST(COALESCE(SUM(CASE WHEN reply <> 'none' THEN 1 ELSE 0 END), 0) AS BIGINT) AS replied
         FROM (
           SELECT {} AS wk, a.reply AS reply
           FROM appointments a
           JOIN (SELECT o.appointment_id, MIN(COALESCE(o.sent_at, o.updated_at)) AS first_asked
                 FROM outbox o
                 WHERE o.appointment_id IS NOT NULL AND o.ask_reply = 1
                   AND o.status IN ('sent','delivered')
                 GROUP BY o.appointment_id) f ON f.appointment_id = a.id
           WHERE a.status = 'scheduled' AND {first_asked} >= $1 AND {first_asked} < ${} {}
         ) x GROUP BY wk",
        period_case(first_asked, n, 1),
        n + 1,
        unit_clause(n + 2, "a.unit_id")
    );
    for r in period_rows::<RepliesRow>(c, sql, bounds, unit).await? {
        let Some(p) = usize::try_from(r.wk).ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        p.asked = r.asked;
        p.replied = r.replied;
    }
    Ok(out)
}

/// The rows of one of [`per_period`]'s counts: `sql` binds the bounds,
/// then the unit when there is one.
async fn period_rows<R>(
    c: &mut Conn,
    sql: String,
    bounds: &[DateTime<Utc>],
    unit: Option<UnitId>,
) -> Result<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut q = sqlx::query_as::<_, R>(sqlx::AssertSqlSafe(sql));
    for b in bounds {
        q = q.bind(ms(*b));
    }
    if let Some(u) = unit {
        q = q.bind(u.get());
    }
    Ok(q.fetch_all(&mut *c).await?)
}

/// Messages of one status in one period, as [`per_period`] counts them.
#[derive(sqlx::FromRow)]
struct StatusCountRow {
    wk: i64,
    status: Parsed<OutboxStatus>,
    n: i64,
}

/// Replies asked for and given in one period, as [`per_period`] counts them.
#[derive(sqlx::FromRow)]
struct RepliesRow {
    wk: i64,
    asked: i64,
    replied: i64,
}

/// SMS sent in one period, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsPeriod {
    pub period: usize,
    pub currency: Option<String>,
    pub messages: i64,
    pub parts: i64,
    /// In 1/10,000 of the currency, as gateways report it.
    pub cost: i64,
}

/// SMS messages, parts and cost per period between consecutive `bounds`
/// (as `store::reports::sms_cost`, for many months in one query).
pub async fn sms_per_period(
    c: &mut Conn,
    unit: Option<UnitId>,
    bounds: &[DateTime<Utc>],
) -> Result<Vec<SmsPeriod>> {
    let n = bounds.len().saturating_sub(1);
    if n == 0 {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT period, currency, COUNT(*) AS messages,
                CAST(COALESCE(SUM(parts), 0) AS BIGINT) AS parts,
                CAST(COALESCE(SUM(cost), 0) AS BIGINT) AS cost
         FROM (
           SELECT {} AS period, o.currency AS currency, o.parts AS parts, o.cost AS cost
           FROM outbox o JOIN participants p ON p.id = o.participant_id
           WHERE o.channel = 'sms' AND o.sent_at >= $1 AND o.sent_at < ${} {}
         ) x GROUP BY period, currency ORDER BY period, currency",
        period_case("o.sent_at", n, 1),
        n + 1,
        if unit.is_some() {
            format!("AND p.unit_id = ${}", n + 2)
        } else {
            String::new()
        }
    );
    let mut q = sqlx::query_as::<_, SmsPeriodRow>(sqlx::AssertSqlSafe(sql));
    for b in bounds {
        q = q.bind(ms(*b));
    }
    if let Some(u) = unit {
        q = q.bind(u.get());
    }
    let rows = q.fetch_all(&mut *c).await?;
    Ok(rows.into_iter().map(SmsPeriod::from).collect())
}

/// An [`SmsPeriod`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct SmsPeriodRow {
    period: i64,
    currency: Option<String>,
    messages: i64,
    parts: i64,
    cost: i64,
}

impl From<SmsPeriodRow> for SmsPeriod {
    fn from(r: SmsPeriodRow) -> SmsPeriod {
        SmsPeriod {
            period: usize::try_from(r.period).unwrap_or(0),
            currency: r.currency,
            messages: r.messages,
            parts: r.parts,
            cost: r.cost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_in_any_case_and_wildcards_are_dropped() {
        assert_eq!(name_patterns(" åsa "), ("åsa%".into(), "Åsa%".into()));
        assert_eq!(name_patterns("ALI"), ("ali%".into(), "Ali%".into()));
        assert_eq!(name_patterns("a%_\\"), ("a%".into(), "A%".into()));
    }

    #[test]
    fn filters_number_their_placeholders_in_order() {
        let f = MessageFilter {
            unit: Some(UnitId::from_db(1)),
            status: Some(OutboxStatus::Failed),
            who: Some(Who::Name("ali".into())),
            ..Default::default()
        };
        let (w, args) = where_clause(&f);
        assert_eq!(args.len(), 4);
        assert!(
            w.contains("p.unit_id = $1") && w.contains("o.status = $2"),
            "{w}"
        );
        assert!(w.contains("LIKE $3 OR p.first_name LIKE $4"), "{w}");
    }
}
