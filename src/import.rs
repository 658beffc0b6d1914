//! Appointment import from the spreadsheets staff already keep.
//!
//! A Swedish Excel saves "CSV" with semicolons, in UTF-8 with a BOM or in
//! Windows-1252, with dates as `2026-12-10 09:00` or `10/12/2026 09:00`.
//! All of that is accepted. Parsing is pure ([`reader`], [`parse`]); every
//! bad line is reported with its line number and reason and the good lines
//! are kept. Applying ([`import`]) is idempotent on `external_ref`.
//!
//! The file is streamed: [`Reader`] reads it record by record (what it keeps
//! per row is an 8-byte fingerprint of its reference and its line, for the
//! duplicate check: about 35 bytes a row), and [`import`] writes the good
//! rows in chunks of [`CHUNK`], one transaction per chunk (two chunks at
//! once on PostgreSQL, on two connections) with multi-row
//! INSERTs (`store::bulk`), falling back to one row at a time for
//! a chunk the database refuses, so one bad row never costs the others.
//!
//! Columns (header names are case-insensitive; Swedish names work too):
//! `participant_id` or `phone` (who), `start` or `date` + `time` (when,
//! local time in the participant's zone), and optionally `kind`,
//! `duration`, `location`, `with`, `note`, `external_ref`.
//!
//! Dates: a year has four digits, or two (`10.12.26`), read deliberately
//! as 20xx; the engine then refuses anything outside the window of sane
//! appointment times (`domain::window`). A bare number like `46366` (or
//! `46366,375`) is an Excel serial date and is refused with what it is
//! and how to export dates as text.

use crate::domain::journal::JournalEvent;
use crate::domain::{AppointmentKind, AppointmentStatus, ParticipantId, PhoneNumber, Span, UnitId};
use crate::engine::appointments::{Upsert, changes_anything, normalise};
use crate::engine::{Actor, Engine, planner};
use crate::error::{Error, Result};
use crate::store::appointments::NewAppointment;
use crate::store::bulk::{self, JournalLine};
use crate::store::consents;
use crate::store::participants::{self, Participant};
use crate::store::rules::{self, Rule};
use crate::store::units;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::sync::{Arc, Mutex};

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

/// One field's text: UTF-8, else Windows-1252 (decided per field, so the
/// file never has to be read whole to decide).
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0,
    }
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

/// What an Excel serial date (days since 1899-12-30, a fraction for the
/// time of day) stands for, if `s` looks like one: five digits from 20000
/// (1954) to 99999, optionally with a decimal comma or point.
fn excel_serial(s: &str) -> Option<String> {
    let (int, frac) = s.split_once([',', '.']).unwrap_or((s, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if int.len() != 5 || !digits(int) || !digits(frac) {
        return None;
    }
    let days: i64 = int.parse().ok()?;
    if days < 20_000 {
        return None;
    }
    let day = NaiveDate::from_ymd_opt(1899, 12, 30)? + Duration::days(days);
    let fraction: f64 = if frac.is_empty() {
        0.0
    } else {
        format!("0.{frac}").parse().ok()?
    };
    let minutes = (fraction * 24.0 * 60.0).round() as i64;
    Some(if frac.is_empty() {
        day.format("%Y-%m-%d").to_string()
    } else {
        (day.and_time(NaiveTime::MIN) + Duration::minutes(minutes))
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
}

fn excel_reason(s: &str, means: &str) -> String {
    format!(
        "'{s}' is an Excel serial date (Excel's number for {means}), not a date; in Excel, \
         format the column as text or as a date like 2026-12-10 09:00 (Format Cells → Custom → \
         yyyy-mm-dd hh:mm) before saving as CSV"
    )
}

/// A date: `2026-12-10`, `10/12/2026`, `10.12.2026`, `10-12-2026`,
/// `2026/12/10`, `20261210`, or with a two-digit year (`10.12.26`), read as
/// 20xx. `Err(Some(reason))` when there is more to say than "not a date".
fn read_date(s: &str) -> Result<NaiveDate, Option<String>> {
    let s = s.trim();
    if let Some(means) = excel_serial(s) {
        return Err(Some(excel_reason(s, &means)));
    }
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if s.len() == 8 && digits(s) {
        return NaiveDate::parse_from_str(s, "%Y%m%d").map_err(|_| None);
    }
    let parts: Vec<&str> = s.split(['-', '/', '.']).collect();
    let [a, b, c] = parts[..] else {
        return Err(None);
    };
    if !(digits(a) && digits(b) && digits(c)) || b.len() > 2 {
        return Err(None);
    }
    let num = |x: &str| x.parse::<u32>().map_err(|_| None);
    let (y, m, d) = match (a.len(), c.len()) {
        (4, 1..=2) => (num(a)? as i32, num(b)?, num(c)?),
        (1..=2, 4) => (num(c)? as i32, num(b)?, num(a)?),
        // Deliberately 20xx: nobody books an appointment in 1926 or 2126,
        // and the window refuses what is still wrong.
        (1..=2, 2) => (2000 + num(c)? as i32, num(b)?, num(a)?),
        _ => {
            return Err(Some(format!(
                "'{s}': write the year with four digits (2026-12-10) or two (10.12.26)"
            )));
        }
    };
    NaiveDate::from_ymd_opt(y, m, d)
        .ok_or_else(|| Some(format!("'{s}' is not a date in the calendar")))
}

#[cfg(test)]
fn parse_date(s: &str) -> Option<NaiveDate> {
    read_date(s).ok()
}

/// A time: `09:00`, `09.00`, `09:00:00`, `0900`, `kl. 9:00`.
/// `Err(Some(reason))` for an Excel time fraction (`0,375`).
fn read_time(s: &str) -> Result<NaiveTime, Option<String>> {
    let s = s
        .trim()
        .trim_start_matches("kl.")
        .trim_start_matches("kl")
        .trim();
    if let Some(frac) = s.strip_prefix("0,").or_else(|| s.strip_prefix("0."))
        && frac.len() >= 3
        && frac.bytes().all(|b| b.is_ascii_digit())
        && let Ok(f) = format!("0.{frac}").parse::<f64>()
    {
        let m = (f * 24.0 * 60.0).round() as u32;
        return Err(Some(format!(
            "'{s}' is an Excel time fraction ({:02}:{:02}), not a time; in Excel, format the \
             column as text or as hh:mm before saving as CSV",
            m / 60 % 24,
            m % 60
        )));
    }
    ["%H:%M", "%H.%M", "%H:%M:%S", "%H%M"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(s, f).ok())
        .ok_or(None)
}

#[cfg(test)]
fn parse_time(s: &str) -> Option<NaiveTime> {
    read_time(s).ok()
}

/// A date and time in one field, with the reason when it is not one.
fn read_start(s: &str) -> Result<NaiveDateTime, String> {
    let s = s.trim();
    if let Some(means) = excel_serial(s) {
        return Err(excel_reason(s, &means));
    }
    let general = || format!("'{s}' is not a date and time; write 2026-12-10 09:00");
    let (d, t) = s
        .split_once('T')
        .or_else(|| s.split_once(' '))
        .unwrap_or((s, ""));
    let date = read_date(d).map_err(|r| r.unwrap_or_else(general))?;
    let time = read_time(t).map_err(|r| r.unwrap_or_else(general))?;
    Ok(date.and_time(time))
}

/// `2026-12-10 09:00`, `2026-12-10T09:00`, `10/12/2026 09:00`, ...
pub fn parse_start(s: &str) -> Option<NaiveDateTime> {
    read_start(s).ok()
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

/// Where the line endings passed, so a record's byte offset becomes its
/// real line number. The csv reader's own line numbers skip blank lines
/// and drift on CRLF files (Excel's default). Only the endings not yet
/// behind the current record are kept (the reader's read-ahead).
#[derive(Default)]
struct Ends {
    /// Bytes seen so far.
    offset: u64,
    /// `\n` endings before the first kept mark.
    lf_before: u64,
    /// Offsets of `\r` and `\n` (true for `\n`) not yet passed.
    marks: VecDeque<(u64, bool)>,
}

impl Ends {
    /// The line a record at `byte` starts on. Its position points at the
    /// line ending before it (and before any blank lines); those are
    /// skipped to find where the record really starts. Offsets must not
    /// decrease from call to call.
    fn line_of(&mut self, byte: u64) -> u64 {
        while let Some(&(o, lf)) = self.marks.front() {
            if o >= byte {
                break;
            }
            self.lf_before += u64::from(lf);
            self.marks.pop_front();
        }
        let (mut at, mut lfs) = (byte, 0);
        for &(o, lf) in &self.marks {
            if o != at {
                break;
            }
            at += 1;
            lfs += u64::from(lf);
        }
        self.lf_before + lfs + 1
    }
}

/// A reader that notes line endings as the bytes go past.
struct Counting<R> {
    inner: R,
    ends: Arc<Mutex<Ends>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut e = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        let base = e.offset;
        for (i, b) in buf[..n].iter().enumerate() {
            if matches!(b, b'\r' | b'\n') {
                e.marks.push_back((base + i as u64, *b == b'\n'));
            }
        }
        e.offset += n as u64;
        Ok(n)
    }
}

/// A 64-bit fingerprint of a reference (SipHash with a fixed key): 8 bytes
/// a row instead of the string. Two of 200,000 distinct references share
/// one with a chance of about 1 in 10^9; if they did, the second would be
/// reported as a line error naming the first line, never imported over it.
fn fingerprint(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// A CSV file read one record at a time ([`Reader::next_row`]).
pub struct Reader<R: Read> {
    rdr: csv::Reader<Counting<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>>,
    ends: Arc<Mutex<Ends>>,
    header: Vec<String>,
    cols: HashMap<Col, usize>,
    record: csv::ByteRecord,
    /// References seen on good rows (fingerprints), and their line (saturated
    /// at u32::MAX): about 20 bytes a row with the table's spare room, the
    /// only part of the import's memory that grows with the file.
    refs: HashMap<u64, u32>,
    bom: u64,
}

/// Opens a CSV file: reads the header and checks it names who and when.
/// Fails as a whole only for a missing or unusable header; every other
/// problem is a line error from [`Reader::next_row`].
pub fn reader<R: Read>(r: R) -> Result<Reader<R>> {
    // The start of the file, up to the end of the header line (or 64 KiB),
    // for the BOM and the separator; then read again in front of the rest.
    let mut r = r;
    let mut head = Vec::new();
    let mut chunk = [0u8; 8192];
    while !head.contains(&b'\n') && head.len() < 64 * 1024 {
        let n = loop {
            match r.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other,
            }
        }
        .map_err(|e| Error::invalid(format!("cannot read the file: {e}")))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err(Error::invalid(
            "line 1: the file is UTF-16 (Excel's \"Unicode text\"); save it as \"CSV UTF-8\" or \
             \"CSV (semicolon separated)\" instead",
        ));
    }
    let bom: usize = if head.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    // The separator: whichever candidate the header line has most of.
    let first = &head[bom..];
    let first = &first[..first
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(first.len())];
    let delimiter = [b';', b',', b'\t']
        .into_iter()
        .max_by_key(|d| first.iter().filter(|b| *b == d).count())
        .unwrap_or(b';');
    let mut head = std::io::Cursor::new(head);
    head.set_position(bom as u64);
    let buf = head.chain(r);
    let ends = Arc::new(Mutex::new(Ends::default()));
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        // Rows of another width are reported, not shifted: checked in
        // `next_row` so a blank row (`;;` or nothing) is still skipped.
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(Counting {
            inner: buf,
            ends: ends.clone(),
        });
    let headers = rdr
        .byte_headers()
        .map_err(|e| Error::invalid(format!("line 1: cannot read the header: {e}")))?;
    let header: Vec<String> = headers.iter().map(|h| decode(h).into_owned()).collect();
    let mut cols: HashMap<Col, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
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
    Ok(Reader {
        rdr,
        ends,
        header,
        cols,
        record: csv::ByteRecord::new(),
        refs: HashMap::new(),
        bom: bom as u64,
    })
}

impl<R: Read> Reader<R> {
    /// How many bytes of the file have been read (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.bom + self.rdr.position().byte()
    }

    fn line_of(&self, byte: u64) -> u64 {
        self.ends
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .line_of(byte)
    }

    /// The next good row or line error; `None` at the end of the file.
    /// Fails only when the file cannot be read at all.
    pub fn next_row(&mut self) -> Result<Option<Result<Row, LineError>>> {
        loop {
            match self.rdr.read_byte_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) if e.is_io_error() => {
                    return Err(Error::invalid(format!("cannot read the file: {e}")));
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| self.line_of(p.byte()));
                    return Ok(Some(Err(LineError {
                        line,
                        reason: format!("unreadable: {e}"),
                    })));
                }
            }
            let byte = self.record.position().map_or(0, |p| p.byte());
            let line = self.line_of(byte);
            if self.record.iter().all(|f| f.trim_ascii().is_empty()) {
                continue;
            }
            return Ok(Some(self.row(line)));
        }
    }

    fn row(&mut self, line: u64) -> Result<Row, LineError> {
        let err = |reason: String| LineError { line, reason };
        let (n, width) = (self.record.len(), self.header.len());
        if n != width {
            return Err(err(format!(
                "{n} fields, but the header has {width}; {}",
                if n > width {
                    "a value with the separator in it needs quotes (\"...\"), or a column has no header"
                } else {
                    "a column is missing on this line"
                }
            )));
        }
        if let Some(i) = self.record.iter().position(|f| f.contains(&0)) {
            return Err(err(format!(
                "the column '{}' has a NUL byte (a zero byte) in it; the file is damaged or not \
                 text: export it again as CSV",
                self.header[i]
            )));
        }
        let get = |c: Col| {
            self.cols
                .get(&c)
                .and_then(|&i| self.record.get(i))
                .map(|f| decode(f.trim_ascii()))
                .filter(|v| !v.trim().is_empty())
        };
        let row = (|| -> Result<Row, String> {
            let who = match (get(Col::ParticipantId), get(Col::Phone)) {
                (Some(id), _) => Who::Id(id.trim().parse()?),
                (None, Some(phone)) => {
                    Who::Phone(PhoneNumber::parse(&phone).map_err(|e| e.to_string())?)
                }
                (None, None) => return Err("no participant_id or phone".into()),
            };
            let start = match get(Col::Start) {
                Some(s) => read_start(&s)?,
                None => {
                    let d = get(Col::Date).ok_or("no date")?;
                    let t = get(Col::Time).ok_or("no time")?;
                    let date = read_date(&d).map_err(|r| {
                        r.unwrap_or_else(|| format!("'{d}' is not a date; write 2026-12-10"))
                    })?;
                    let time = read_time(&t).map_err(|r| {
                        r.unwrap_or_else(|| format!("'{t}' is not a time; write 09:00"))
                    })?;
                    date.and_time(time)
                }
            };
            Ok(Row {
                line,
                who,
                kind: get(Col::Kind).map_or(Ok(AppointmentKind::Meeting), |k| k.trim().parse())?,
                start,
                duration: get(Col::Duration).map_or(Span::minutes(60), |d| parse_duration(&d))?,
                location: opt(get(Col::Location).as_deref()),
                with_whom: opt(get(Col::With).as_deref()),
                note: opt(get(Col::Note).as_deref()),
                external_ref: opt(get(Col::Ref).as_deref()),
            })
        })()
        .map_err(err)?;
        if let Some(r) = &row.external_ref {
            let key = fingerprint(r);
            if let Some(first) = self.refs.get(&key) {
                return Err(err(format!(
                    "the reference '{r}' is also on line {first} of this file; each row needs its \
                     own reference (line {first} is the one imported)"
                )));
            }
            self.refs
                .insert(key, u32::try_from(line).unwrap_or(u32::MAX));
        }
        Ok(row)
    }
}

/// Parses a whole file held in memory: every good row and every line
/// error. Never fails as a whole except for a missing or unusable header.
/// (The import itself streams with [`reader`]; this is for tests, the
/// fuzz target and small inputs.)
pub fn parse(bytes: &[u8]) -> Result<Parsed> {
    parse_from(bytes)
}

/// [`parse`] from any reader.
fn parse_from<R: Read>(r: R) -> Result<Parsed> {
    let mut r = reader(r)?;
    let mut out = Parsed::default();
    while let Some(next) = r.next_row()? {
        match next {
            Ok(row) => out.rows.push(row),
            Err(e) => out.errors.push(e),
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

/// How far an import has come, after each chunk.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Bytes of the file read.
    pub bytes: u64,
    /// Rows handled (good or not).
    pub rows: u64,
}

/// Good rows written per transaction: big enough that the statements per
/// chunk cost little per row, small enough that a chunk the database
/// refuses is cheap to redo one row at a time.
pub const CHUNK: usize = 500;

/// Imports a CSV file into a unit, streaming it. Rows that fail (unknown
/// participant, a time outside the window, a reference owned by another
/// participant...) join the line errors; the others are kept. `progress`
/// is called after each chunk.
pub async fn import<R: Read>(
    engine: &Engine,
    unit: UnitId,
    mut rdr: Reader<R>,
    actor: &Actor,
    now: DateTime<Utc>,
    mut progress: impl FnMut(Progress),
) -> Result<Report> {
    // PostgreSQL writes two chunks at once, on two connections, while the
    // next one is read: the server's work per row (ten indexes and two
    // foreign keys on the reminder rows) is most of an import's time, and
    // one connection keeps only one server core busy. The chunks never
    // touch the same appointment (a reference appears once per file), so
    // their order does not matter. SQLite has one writer: one at a time.
    let in_flight_max = match engine.db.backend {
        crate::store::Backend::Postgres => PG_CHUNKS_IN_FLIGHT,
        crate::store::Backend::Sqlite => 1,
    };
    let mut report = Report::default();
    let mut batch = Vec::with_capacity(CHUNK);
    let mut seen = 0u64;
    let mut in_flight: VecDeque<(tokio::task::JoinHandle<Result<Report>>, Progress)> =
        VecDeque::new();
    let result: Result<()> = async {
        loop {
            let next = rdr.next_row()?;
            let end = next.is_none();
            match next {
                Some(Ok(row)) => batch.push(row),
                Some(Err(e)) => report.errors.push(e),
                None => {}
            }
            seen += u64::from(!end);
            if batch.len() >= CHUNK || (end && !batch.is_empty()) {
                let rows = std::mem::take(&mut batch);
                let (engine, actor) = (engine.clone(), actor.clone());
                let task = tokio::spawn(async move {
                    let mut part = Report::default();
                    apply_chunk(&engine, unit, rows, &actor, now, &mut part).await?;
                    Ok(part)
                });
                let at = Progress {
                    bytes: rdr.bytes_read(),
                    rows: seen,
                };
                in_flight.push_back((task, at));
            }
            while in_flight.len() >= in_flight_max || (end && !in_flight.is_empty()) {
                let (task, at) = in_flight.pop_front().expect("not empty");
                let part = task
                    .await
                    .map_err(|e| Error::Internal(anyhow::anyhow!("import chunk: {e}")))??;
                report.created += part.created;
                report.updated += part.updated;
                report.unchanged += part.unchanged;
                report.errors.extend(part.errors);
                progress(at);
            }
            if end {
                return Ok(());
            }
        }
    }
    .await;
    if let Err(e) = result {
        // A chunk still being written finishes or fails on its own; none
        // is left running past the import's answer.
        for (task, _) in in_flight {
            task.abort();
        }
        return Err(e);
    }
    report.errors.sort_by_key(|e| e.line);
    // A large import on PostgreSQL leaves the planner without statistics
    // until autovacuum catches up, and pages are 5-10x slower meanwhile
    // (docs/benchmarks.md, "Staff web UI").
    if engine.db.backend == crate::store::Backend::Postgres && report.created >= ANALYZE_AFTER {
        crate::store::bulk::analyze(&engine.db).await?;
    }
    Ok(report)
}

/// Chunks written at once on PostgreSQL (see [`import`]).
const PG_CHUNKS_IN_FLIGHT: usize = 2;

/// Created rows after which an import refreshes PostgreSQL's statistics.
const ANALYZE_AFTER: usize = 1000;

fn line_error(line: u64, e: Error) -> Result<LineError> {
    match e {
        Error::Invalid(_) | Error::Conflict(_) | Error::NotFound(_) => Ok(LineError {
            line,
            reason: e.to_string(),
        }),
        e => Err(e),
    }
}

/// One chunk of good rows: who and when are checked for every row, rows
/// whose reference is new are written together (one transaction), rows
/// that change a known appointment go through `Engine::upsert_appointment`
/// one by one, rows that change nothing write nothing.
async fn apply_chunk(
    engine: &Engine,
    unit: UnitId,
    rows: Vec<Row>,
    actor: &Actor,
    now: DateTime<Utc>,
    report: &mut Report,
) -> Result<()> {
    let mut c = engine.db.conn().await?;
    // Read per chunk, so a long import sees participants added meanwhile.
    let people = participants::list(&mut c, Some(unit)).await?;
    let mut by_id: HashMap<ParticipantId, &Participant> = HashMap::new();
    let mut by_phone: HashMap<&PhoneNumber, &Participant> = HashMap::new();
    for p in &people {
        by_id.insert(p.id, p);
        if let Some(ph) = &p.phone {
            by_phone.entry(ph).or_insert(p);
        }
    }
    let mut ready: Vec<(u64, NewAppointment)> = Vec::with_capacity(rows.len());
    for row in rows {
        let found = match &row.who {
            Who::Id(id) => by_id.get(id),
            Who::Phone(ph) => by_phone.get(ph),
        };
        let Some(p) = found else {
            report.errors.push(LineError {
                line: row.line,
                reason: match &row.who {
                    Who::Id(id) => format!("participant {id} is not in this unit"),
                    Who::Phone(ph) => {
                        format!("no participant in this unit has the number {}", ph.masked())
                    }
                },
            });
            continue;
        };
        let new = NewAppointment {
            participant_id: p.id,
            series_id: None,
            kind: row.kind,
            starts_at: crate::domain::schedule::resolve_local(row.start, p.time_zone),
            duration_min: i64::from(row.duration.as_minutes()),
            location: row.location,
            with_whom: row.with_whom,
            internal_note: row.note,
            external_ref: row.external_ref,
        };
        if !(1..=24 * 60).contains(&new.duration_min) {
            report.errors.push(LineError {
                line: row.line,
                reason: "duration must be between 1 minute and 24 hours".into(),
            });
            continue;
        }
        match normalise(&new) {
            Ok(new) => ready.push((row.line, new)),
            Err(e) => report.errors.push(line_error(row.line, e)?),
        }
    }
    let refs: Vec<&str> = ready
        .iter()
        .filter_map(|(_, n)| n.external_ref.as_deref())
        .collect();
    let known = bulk::by_external_refs(&mut c, unit, &refs).await?;
    drop(c);
    let mut fresh = Vec::new();
    let mut one_by_one = Vec::new();
    for (line, new) in ready {
        match new.external_ref.as_ref().and_then(|r| known.get(r)) {
            None => match engine.check_window(new.starts_at, now) {
                Ok(()) => fresh.push((line, new)),
                Err(e) => report.errors.push(line_error(line, e)?),
            },
            Some(old) if old.participant_id != new.participant_id => {
                report.errors.push(LineError {
                    line,
                    reason: format!(
                        "external ref '{}' belongs to another participant's appointment ({})",
                        new.external_ref.as_deref().unwrap_or_default(),
                        old.id
                    ),
                })
            }
            Some(old) if !changes_anything(old, &new) => report.unchanged += 1,
            Some(_) => one_by_one.push((line, new)),
        }
    }
    if !fresh.is_empty() {
        match insert_fresh(engine, unit, &fresh, &by_id, actor, now).await {
            Ok(()) => {
                report.created += fresh.len();
                engine.wake();
            }
            // A row the database refused (a reference taken meanwhile by a
            // concurrent import, a participant deleted meanwhile...): the
            // chunk was rolled back; redo it row by row so only that row
            // fails (and an outage fails the import there, as before).
            Err(e) => {
                tracing::warn!(error = %e, rows = fresh.len(), "import chunk refused; retrying row by row");
                one_by_one.extend(fresh);
            }
        }
    }
    for (line, new) in one_by_one {
        match engine.upsert_appointment(unit, &new, actor, now).await {
            Ok((_, Upsert::Created)) => report.created += 1,
            Ok((_, Upsert::Updated)) => report.updated += 1,
            Ok((_, Upsert::Unchanged)) => report.unchanged += 1,
            Err(e) => report.errors.push(line_error(line, e)?),
        }
    }
    Ok(())
}

/// Books new appointments in one transaction, with what
/// `Engine::create_appointment` writes for each: the appointment, the
/// journal and audit lines, and its planned reminders (`planner::messages`,
/// the planner's own decision) with their journal line.
async fn insert_fresh(
    engine: &Engine,
    unit: UnitId,
    fresh: &[(u64, NewAppointment)],
    people: &HashMap<ParticipantId, &Participant>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut tx = engine.db.begin().await?;
    let u = units::get(&mut tx, unit).await?;
    let news: Vec<&NewAppointment> = fresh.iter().map(|(_, n)| n).collect();
    let made = bulk::insert_appointments(&mut tx, unit, &news, now).await?;
    let mut rules_of: HashMap<AppointmentKind, Option<Rule>> = HashMap::new();
    let consent_of = consents::current_in_unit(&mut tx, unit).await?;
    let mut lines = Vec::with_capacity(made.len() * 2);
    let mut audit = Vec::with_capacity(made.len());
    let mut outbox = Vec::new();
    for a in &made {
        lines.push(JournalLine {
            participant: a.participant_id,
            appointment: Some(a.id),
            actor: actor.as_str().to_string(),
            event: JournalEvent::AppointmentCreated {
                kind: Some(a.kind),
                starts_at: Some(a.starts_at),
                external_ref: a.external_ref.clone(),
                series_id: None,
            },
        });
        audit.push(("appointment.create", format!("appointment:{}", a.id)));
        let Some(p) = people.get(&a.participant_id) else {
            continue;
        };
        if a.status != AppointmentStatus::Scheduled || a.starts_at <= now || p.erased {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = rules_of.entry(a.kind) {
            e.insert(rules::get(&mut tx, unit, a.kind).await?);
        }
        let Some(Some(rule)) = rules_of.get(&a.kind) else {
            continue;
        };
        let consent = consent_of.get(&p.id);
        let trial = planner::trial_arm(&mut tx, a, now).await?;
        let trial = trial.as_ref().map(|(t, arm)| (t, *arm));
        let (channel, msgs) = planner::messages(a, p, rule, &u, consent, trial, now, true);
        if !msgs.is_empty() {
            let times: Vec<_> = msgs.iter().map(|m| m.due_at).collect();
            lines.push(JournalLine {
                participant: p.id,
                appointment: Some(a.id),
                actor: "system".into(),
                event: JournalEvent::RemindersPlanned {
                    channel: Some(channel),
                    due_at: times,
                },
            });
            outbox.extend(msgs);
        }
    }
    bulk::journal(&mut tx, now, lines).await?;
    bulk::audit(&mut tx, now, actor.as_str(), audit).await?;
    bulk::outbox(&mut tx, &outbox, now).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    /// The lines that became rows.
    fn row_lines(p: &Parsed) -> Vec<u64> {
        p.rows.iter().map(|r| r.line).collect()
    }

    /// The lines refused.
    fn error_lines(p: &Parsed) -> Vec<u64> {
        p.errors.iter().map(|e| e.line).collect()
    }

    /// The `i`th refused line's reason says `what`.
    fn says(p: &Parsed, i: usize, what: &str) {
        assert!(p.errors[i].reason.contains(what), "{:?}", p.errors[i]);
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
        assert_eq!(row_lines(&p), [2, 5]);
        assert_eq!(p.rows[1].duration.as_minutes(), 90);
        assert_eq!(error_lines(&p), [3, 4, 7]);
        says(&p, 0, "participant id");
        says(&p, 1, "not a date and time");
        says(&p, 2, "duration");
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

    #[test]
    fn a_row_wider_or_narrower_than_the_header_is_a_line_error_not_shifted() {
        let text = "deltagare;start;plats;referens\n\
                    1;2026-12-10 09:00;Kontoret;R1\n\
                    1;2026-12-11 09:00;Kontoret; våning 2;R2\n\
                    1;2026-12-12 09:00;R3\n\
                    ;;;\n\
                    1;2026-12-13 09:00;\"Kontoret; våning 2\";R4\n";
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(row_lines(&p), [2, 6]);
        assert_eq!(p.rows[1].location.as_deref(), Some("Kontoret; våning 2"));
        assert_eq!(error_lines(&p), [3, 4]);
        says(&p, 0, "5 fields, but the header has 4");
        says(&p, 0, "quotes");
        says(&p, 1, "3 fields, but the header has 4");
    }

    #[test]
    fn the_same_reference_twice_is_an_error_on_the_second_naming_the_first() {
        let text = "deltagare;start;referens\n\
                    1;2026-12-10 09:00;R1\n\
                    2;2026-12-10 10:00;R2\n\
                    1;2026-12-11 09:00;R1\n\
                    3;bad;R3\n\
                    3;2026-12-12 09:00;R3\n";
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(row_lines(&p), [2, 3, 6]);
        assert_eq!(p.errors.len(), 2, "{:?}", p.errors);
        assert_eq!(p.errors[0].line, 4);
        says(&p, 0, "'R1' is also on line 2");
        // A bad line's reference does not count: its fix may follow.
        says(&p, 1, "not a date");
    }

    #[test]
    fn a_nul_byte_in_any_field_is_a_line_error_and_the_rest_is_kept() {
        let text = b"deltagare;start;anteckning\n1;2026-12-10 09:00;ok\n1;2026-12-11 09:00;a\x00b\n1;2026-12-12\x00 09:00;x\n2;2026-12-13 09:00;\n";
        let p = parse(text).unwrap();
        assert_eq!(row_lines(&p), [2, 5]);
        assert_eq!(error_lines(&p), [3, 4]);
        says(&p, 0, "'anteckning' has a NUL byte");
        says(&p, 1, "'start' has a NUL byte");
    }

    #[test]
    fn a_two_digit_year_is_20xx_never_year_26() {
        assert_eq!(parse_start("10.12.26 09:00"), Some(at("2026-12-10 09:00")));
        assert_eq!(parse_start("10/12/26 09:00"), Some(at("2026-12-10 09:00")));
        assert_eq!(parse_date("1.2.27"), NaiveDate::from_ymd_opt(2027, 2, 1));
        let text = "deltagare;datum;tid\n1;10.12.26;09:00\n1;10.12.026;09:00\n";
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(p.rows[0].start, at("2026-12-10 09:00"));
        says(&p, 0, "four digits");
    }

    #[test]
    fn an_excel_serial_date_says_what_it_is_and_how_to_export_dates() {
        let text = "deltagare;start\n1;46366\n1;\"46366,375\"\n1;46366.375\n";
        let p = parse(text.as_bytes()).unwrap();
        assert!(p.rows.is_empty());
        assert_eq!(p.errors.len(), 3);
        for e in &p.errors {
            assert!(e.reason.contains("Excel serial date"), "{e:?}");
            assert!(e.reason.contains("format the column as text"), "{e:?}");
        }
        says(&p, 0, "2026-12-10");
        says(&p, 1, "2026-12-10 09:00");
        let text = "deltagare;datum;tid\n1;46366;09:00\n1;2026-12-10;\"0,375\"\n";
        let p = parse(text.as_bytes()).unwrap();
        says(&p, 0, "Excel serial date");
        says(&p, 1, "Excel time fraction (09:00)");
        // An ordinary time with a point is still a time.
        assert_eq!(parse_time("9.30"), NaiveTime::from_hms_opt(9, 30, 0));
    }

    #[test]
    fn a_utf16_file_is_refused_with_what_to_save_instead() {
        let e = parse(b"\xFF\xFEd\x00e\x00").unwrap_err().to_string();
        assert!(e.contains("UTF-16") && e.contains("CSV UTF-8"), "{e}");
    }

    /// A reader that hands out one byte at a time: the worst case for the
    /// line bookkeeping of a streamed file.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn streaming_gives_the_same_lines_as_reading_whole() {
        let text = "\u{FEFF}deltagare;start\r\n\r\n1;2026-12-10 09:00\r\n\r\n\r\nx;2026-12-10 09:00\r\n2;\"2026-12-10\n09:00\"\r\n3;2026-12-11 09:00\r\n";
        let whole = parse(text.as_bytes()).unwrap();
        let streamed = parse_from(Trickle(text.as_bytes())).unwrap();
        assert_eq!(whole.rows, streamed.rows);
        assert_eq!(whole.errors, streamed.errors);
        assert_eq!(row_lines(&whole), [3, 9]);
        assert_eq!(error_lines(&whole), [6, 7]);
    }

    proptest::proptest! {
        /// Any bytes at all: no panic, the same answer streamed one byte at
        /// a time as read whole, and every line number within the file.
        #[test]
        fn any_bytes_are_read_without_panicking(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            header in proptest::sample::select(vec![
                "deltagare;start;referens\n",
                "phone,date,time,kind,duration,note,external_ref\r\n",
                "\u{FEFF}participant_id\tstart\n",
                "",
            ]),
            lines in proptest::collection::vec(proptest::sample::select(vec![
                "1;2026-12-10 09:00;R1", "1;10.12.26 9.00;R1", ";;", "", "\"a;b\";46366,375;x",
                "070-123 45 67,2026-12-10,09:00,m\u{f6}te,1h30m,\"a\"\"b\",R", "1;\u{0};R",
            ]), 0..8),
        ) {
            let mut bytes = header.as_bytes().to_vec();
            for l in &lines {
                bytes.extend_from_slice(l.as_bytes());
                bytes.push(b'\n');
            }
            bytes.extend_from_slice(&body);
            let whole = parse(&bytes);
            let streamed = parse_from(Trickle(&bytes));
            match (&whole, &streamed) {
                (Ok(w), Ok(s)) => {
                    proptest::prop_assert_eq!(&w.rows, &s.rows);
                    proptest::prop_assert_eq!(&w.errors, &s.errors);
                    let max = bytes.iter().filter(|b| **b == b'\n').count() as u64 + 1;
                    for l in w.rows.iter().map(|r| r.line).chain(w.errors.iter().map(|e| e.line)) {
                        proptest::prop_assert!((1..=max).contains(&l), "line {} of {}", l, max);
                    }
                }
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a.to_string(), b.to_string()),
                _ => proptest::prop_assert!(false, "whole and streamed disagree"),
            }
        }
    }
}
