//! Appointment import from the spreadsheets staff already keep.
//!
//! A Swedish Excel saves "CSV" with semicolons, in UTF-8 with a BOM or in
//! Windows-1252, with dates as `2026-12-10 09:00` or `10/12/2026 09:00`.
//! All of that is accepted. Parsing is pure ([`parse`]); every bad line is
//! reported with its line number and reason and the good lines are kept.
//! Applying ([`apply`]) is idempotent on `external_ref`.
//!
//! Columns (header names are case-insensitive; Swedish names work too):
//! `participant_id` or `phone` (who), `start` or `date` + `time` (when,
//! local time in the participant's zone), and optionally `kind`,
//! `duration`, `location`, `with`, `note`, `external_ref`.

use crate::domain::{AppointmentKind, ParticipantId, PhoneNumber, Span, UnitId};
use crate::engine::booking::Upsert;
use crate::engine::{Actor, Engine};
use crate::error::{Error, Result};
use crate::store::appointments::NewAppointment;
use crate::store::participants;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// Who a row is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Id(ParticipantId),
    Phone(PhoneNumber),
}

/// One good row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: u64,
    pub who: Who,
    pub kind: AppointmentKind,
    /// Local wall-clock time; resolved in the participant's zone on apply.
    pub start: NaiveDateTime,
    pub duration: Span,
    pub location: Option<String>,
    pub with_whom: Option<String>,
    pub note: Option<String>,
    pub external_ref: Option<String>,
}

/// A line that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub errors: Vec<LineError>,
}

/// Decodes bytes: UTF-8 (with or without BOM), else Windows-1252.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

/// Picks the separator by counting candidates in the header line.
fn sniff_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    [b';', b',', b'\t']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b';')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Col {
    ParticipantId,
    Phone,
    Start,
    Date,
    Time,
    Kind,
    Duration,
    Location,
    With,
    Note,
    Ref,
}

fn column(name: &str) -> Option<Col> {
    let n = name.trim().to_lowercase().replace([' ', '-'], "_");
    Some(match n.as_str() {
        "participant_id" | "participant" | "deltagare_id" | "deltagare" | "deltagar_id" => {
            Col::ParticipantId
        }
        "phone" | "telefon" | "mobil" | "mobile" | "telefonnummer" | "mobilnummer" => Col::Phone,
        "start" | "at" | "when" | "starts_at" | "datum_och_tid" | "tidpunkt" => Col::Start,
        "date" | "datum" | "dag" => Col::Date,
        "time" | "tid" | "klockslag" | "kl" => Col::Time,
        "kind" | "typ" | "type" => Col::Kind,
        "duration" | "längd" | "langd" | "minuter" | "minutes" => Col::Duration,
        "location" | "plats" | "place" => Col::Location,
        "with" | "with_whom" | "med" | "träffar" | "handläggare" => Col::With,
        "note" | "notes" | "anteckning" | "kommentar" | "internal_note" => Col::Note,
        "external_ref" | "ref" | "referens" | "extern_ref" | "externt_id" | "external_id" => {
            Col::Ref
        }
        _ => return None,
    })
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    [
        "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y%m%d",
    ]
    .iter()
    .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s
        .trim()
        .trim_start_matches("kl.")
        .trim_start_matches("kl")
        .trim();
    ["%H:%M", "%H.%M", "%H:%M:%S", "%H%M"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(s, f).ok())
}

/// `2026-12-10 09:00`, `2026-12-10T09:00`, `10/12/2026 09:00`, ...
pub fn parse_start(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let (d, t) = s
        .split_once('T')
        .or_else(|| s.split_once(' '))
        .unwrap_or((s, ""));
    Some(parse_date(d)?.and_time(parse_time(t)?))
}

/// Minutes (`60`), a span (`1h30m`), or hours with a decimal comma
/// (`1,5 h`).
fn parse_duration(s: &str) -> Result<Span, String> {
    let t = s.trim().to_lowercase().replace(' ', "");
    let t = t
        .trim_end_matches("minuter")
        .trim_end_matches("min")
        .to_string();
    if let Ok(m) = t.parse::<u32>() {
        return Span::minutes(m);
    }
    let tt = t
        .trim_end_matches("timmar")
        .trim_end_matches("tim")
        .trim_end_matches('h');
    if tt != t
        && let Ok(h) = tt.replace(',', ".").parse::<f64>()
        && h > 0.0
    {
        return Span::minutes((h * 60.0).round() as u32);
    }
    t.parse::<Span>().map_err(|_| {
        format!(
            "'{}' is not a duration; write minutes (60) or e.g. 1h30m",
            s.trim()
        )
    })
}

fn opt(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Parses the whole file. Never fails as a whole except for a missing or
/// unusable header; every other problem is a line error.
pub fn parse(bytes: &[u8]) -> Result<Parsed> {
    let text = decode(bytes);
    // The csv reader's own line numbers skip blank lines and drift on CRLF
    // files (Excel's default), so lines are counted from byte offsets.
    // A record's position points at the line ending before it (and before
    // any blank lines); skip those to find where the record really starts.
    let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let raw = text.as_bytes();
    let line_of = |byte: u64| {
        let mut b = byte as usize;
        while matches!(raw.get(b), Some(b'\r' | b'\n')) {
            b += 1;
        }
        newlines.partition_point(|&n| n < b) as u64 + 1
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(sniff_delimiter(&text))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| Error::invalid(format!("line 1: cannot read the header: {e}")))?
        .clone();
    let mut cols: HashMap<Col, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(c) = column(h) {
            cols.entry(c).or_insert(i);
        }
    }
    if !cols.contains_key(&Col::ParticipantId) && !cols.contains_key(&Col::Phone) {
        return Err(Error::invalid(
            "line 1: the header needs a participant_id or a phone column",
        ));
    }
    let has_when = cols.contains_key(&Col::Start)
        || (cols.contains_key(&Col::Date) && cols.contains_key(&Col::Time));
    if !has_when {
        return Err(Error::invalid(
            "line 1: the header needs a start column, or date and time columns",
        ));
    }
    let mut out = Parsed::default();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_of(p.byte()));
                out.errors.push(LineError {
                    line,
                    reason: format!("unreadable: {e}"),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| line_of(p.byte()));
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |c: Col| {
            cols.get(&c)
                .and_then(|&i| rec.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let row = (|| -> Result<Row, String> {
            let who = match (get(Col::ParticipantId), get(Col::Phone)) {
                (Some(id), _) => Who::Id(id.parse()?),
                (None, Some(phone)) => {
                    Who::Phone(PhoneNumber::parse(phone).map_err(|e| e.to_string())?)
                }
                (None, None) => return Err("no participant_id or phone".into()),
            };
            let start = match get(Col::Start) {
                Some(s) => parse_start(s).ok_or_else(|| {
                    format!("'{s}' is not a date and time; write 2026-12-10 09:00")
                })?,
                None => {
                    let d = get(Col::Date).ok_or("no date")?;
                    let t = get(Col::Time).ok_or("no time")?;
                    parse_date(d)
                        .ok_or_else(|| format!("'{d}' is not a date; write 2026-12-10"))?
                        .and_time(
                            parse_time(t)
                                .ok_or_else(|| format!("'{t}' is not a time; write 09:00"))?,
                        )
                }
            };
            Ok(Row {
                line,
                who,
                kind: get(Col::Kind).map_or(Ok(AppointmentKind::Meeting), str::parse)?,
                start,
                duration: get(Col::Duration).map_or(Span::minutes(60), parse_duration)?,
                location: opt(get(Col::Location)),
                with_whom: opt(get(Col::With)),
                note: opt(get(Col::Note)),
                external_ref: opt(get(Col::Ref)),
            })
        })();
        match row {
            Ok(r) => out.rows.push(r),
            Err(reason) => out.errors.push(LineError { line, reason }),
        }
    }
    Ok(out)
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: Vec<LineError>,
}

/// Applies parsed rows to a unit. Rows that fail here (unknown
/// participant, a time that already passed...) join the line errors; the
/// others are kept. `progress` is called after each row.
pub async fn apply(
    engine: &Engine,
    unit: UnitId,
    parsed: Parsed,
    actor: &Actor,
    now: DateTime<Utc>,
    mut progress: impl FnMut(),
) -> Result<Report> {
    let mut report = Report {
        errors: parsed.errors,
        ..Default::default()
    };
    let people = {
        let mut c = engine.db.conn().await?;
        participants::list(&mut c, Some(unit)).await?
    };
    for row in parsed.rows {
        let found = people.iter().find(|p| match &row.who {
            Who::Id(id) => p.id == *id,
            Who::Phone(ph) => p.phone.as_ref() == Some(ph),
        });
        let result = match found {
            None => Err(Error::invalid(match &row.who {
                Who::Id(id) => format!("participant {id} is not in this unit"),
                Who::Phone(ph) => {
                    format!("no participant in this unit has the number {}", ph.masked())
                }
            })),
            Some(p) => {
                let new = NewAppointment {
                    participant_id: p.id,
                    series_id: None,
                    kind: row.kind,
                    starts_at: crate::domain::schedule::resolve_local(row.start, p.time_zone),
                    duration_min: i64::from(row.duration.as_minutes()),
                    location: row.location.clone(),
                    with_whom: row.with_whom.clone(),
                    internal_note: row.note.clone(),
                    external_ref: row.external_ref.clone(),
                };
                engine.upsert_appointment(unit, &new, actor, now).await
            }
        };
        match result {
            Ok((_, Upsert::Created)) => report.created += 1,
            Ok((_, Upsert::Updated)) => report.updated += 1,
            Ok((_, Upsert::Unchanged)) => report.unchanged += 1,
            Err(e @ (Error::Invalid(_) | Error::Conflict(_) | Error::NotFound(_))) => {
                report.errors.push(LineError {
                    line: row.line,
                    reason: e.to_string(),
                })
            }
            Err(e) => return Err(e),
        }
        progress();
    }
    report.errors.sort_by_key(|e| e.line);
    // A large import on PostgreSQL leaves the planner without statistics
    // until autovacuum catches up, and pages are 5-10x slower meanwhile
    // (docs/benchmarks.md, "Staff web UI").
    if engine.db.backend == crate::store::Backend::Postgres && report.created >= ANALYZE_AFTER {
        sqlx::query("ANALYZE appointments, outbox, journal")
            .execute(&engine.db.pool)
            .await?;
    }
    Ok(report)
}

/// Created rows after which an import refreshes PostgreSQL's statistics.
const ANALYZE_AFTER: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn a_swedish_excel_file_in_windows_1252_with_semicolons() {
        // "Plats" value "Kontoret på Åsgatan" in Windows-1252.
        let mut bytes = b"Telefon;Datum;Tid;Typ;Plats;Referens\r\n\r\n".to_vec();
        bytes.extend_from_slice(
            b"070-123 45 67;10/12/2026;09:00;m\xF6te;Kontoret p\xE5 \xC5sgatan;A1\r\n",
        );
        let p = parse(&bytes).unwrap();
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.rows[0].location.as_deref(), Some("Kontoret på Åsgatan"));
        assert_eq!(
            p.rows[0].line, 3,
            "CRLF line endings keep line numbers exact"
        );
        assert_eq!(p.rows[0].start, at("2026-12-10 09:00"));
        assert_eq!(p.rows[0].kind, AppointmentKind::Meeting);
        assert_eq!(
            p.rows[0].who,
            Who::Phone(PhoneNumber::parse("+46701234567").unwrap())
        );
    }

    #[test]
    fn utf8_with_bom_and_commas_and_iso_dates() {
        let text = "\u{FEFF}participant_id,start,kind,duration,external_ref\n7,2026-12-10T09:00,drug_test,15,T-1\n";
        let p = parse(text.as_bytes()).unwrap();
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.rows[0].who, Who::Id("7".parse().unwrap()));
        assert_eq!(p.rows[0].duration.as_minutes(), 15);
        assert_eq!(p.rows[0].kind, AppointmentKind::DrugTest);
    }

    #[test]
    fn bad_lines_are_reported_by_line_and_good_ones_kept() {
        let text = "deltagare;start;längd\n\
                    1;2026-12-10 09:00;60\n\
                    x;2026-12-10 09:00;60\n\
                    2;10 dec kl 9;60\n\
                    3;2026-12-11 13:30;1,5 h\n\
                    ;;\n\
                    4;2026-12-12 10:00;lång\n";
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(p.rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 5]);
        assert_eq!(p.rows[1].duration.as_minutes(), 90);
        let lines: Vec<u64> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 7]);
        assert!(
            p.errors[0].reason.contains("participant id"),
            "{:?}",
            p.errors[0]
        );
        assert!(
            p.errors[1].reason.contains("not a date and time"),
            "{:?}",
            p.errors[1]
        );
        assert!(p.errors[2].reason.contains("duration"), "{:?}", p.errors[2]);
    }

    #[test]
    fn a_header_without_who_or_when_is_refused_with_a_reason() {
        assert!(
            parse(b"namn;start\nAli;2026-12-10 09:00\n")
                .unwrap_err()
                .to_string()
                .contains("participant_id or a phone")
        );
        assert!(
            parse(b"phone;plats\n0701234567;A\n")
                .unwrap_err()
                .to_string()
                .contains("start column")
        );
    }

    #[test]
    fn dates_and_times_as_people_write_them() {
        for s in [
            "2026-12-10 09:00",
            "2026-12-10T09:00",
            "10/12/2026 09:00",
            "10.12.2026 09.00",
            "2026-12-10 kl. 09:00",
        ] {
            assert_eq!(parse_start(s), Some(at("2026-12-10 09:00")), "{s}");
        }
        assert_eq!(parse_start("2026-02-30 09:00"), None);
    }
}
