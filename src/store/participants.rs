//! Participants: who gets reminders, in which language, on which channel,
//! and whether they may get anything at all (status, opt-outs).

use super::units::{parse_tz, ser_tz};
use super::{Conn, Parsed, from_ms, ms};
use crate::domain::journal::ContactFields;
use crate::domain::{
    ChannelKind, ChannelSet, Intensity, Language, ParticipantId, ParticipantStatus, Phase,
    PhoneNumber, StaffId, UnitId,
};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Participant {
    pub id: ParticipantId,
    pub unit_id: UnitId,
    pub first_name: String,
    pub phone: Option<PhoneNumber>,
    pub language: Language,
    pub channel_pref: ChannelKind,
    pub status: ParticipantStatus,
    pub lots_id: Option<StaffId>,
    #[serde(serialize_with = "ser_tz")]
    #[schema(value_type = String, example = "Europe/Stockholm")]
    pub time_zone: Tz,
    /// On by default: messages name no place and no person.
    pub discreet: bool,
    pub opted_out: ChannelSet,
    pub telegram_linked: bool,
    /// Reminders taper: all, the day before only, none.
    pub intensity: Intensity,
    /// The programme phase, if the unit uses phases (a broadcast filter).
    pub phase: Option<Phase>,
    /// Set when personal data was erased; the row stays for counts.
    pub erased: bool,
    /// Protected identity (skyddad identitet): only the staff named in
    /// `protected_staff` see them (`store::protection`, `domain::access`).
    pub protected: bool,
    pub created_at: DateTime<Utc>,
}

/// A first name as used in the greeting: trimmed, 1-50 characters, no
/// control characters.
/// A first name: 1-50 characters, no control or bidi characters
/// (`domain::Name`).
pub fn parse_first_name(s: &str) -> Result<String> {
    crate::domain::Name::parse(s, "first name", 50)
        .map(crate::domain::Name::into_string)
        .map_err(|e| Error::invalid(e.to_string()))
}

#[derive(Debug, Clone)]
pub struct NewParticipant {
    pub unit_id: UnitId,
    pub first_name: String,
    pub phone: Option<PhoneNumber>,
    pub language: Language,
    pub channel_pref: ChannelKind,
    pub time_zone: Tz,
    pub discreet: bool,
    pub lots_id: Option<StaffId>,
}

pub(crate) const COLS: &str = "id, unit_id, first_name, phone, language, channel_pref, status, lots_id, \
                    time_zone, discreet, opted_out, telegram_chat_id, intensity, phase, erased_at, protected, created_at";

/// A `participants` row ([`COLS`]) as the `Any` driver decodes it; a row
/// holding the columns among others flattens it in.
#[derive(sqlx::FromRow)]
pub(crate) struct ParticipantRow {
    #[sqlx(try_from = "i64")]
    id: ParticipantId,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    first_name: String,
    phone: Option<String>,
    language: Parsed<Language>,
    channel_pref: Parsed<ChannelKind>,
    status: Parsed<ParticipantStatus>,
    lots_id: Option<i64>,
    time_zone: String,
    discreet: i64,
    opted_out: Parsed<ChannelSet>,
    telegram_chat_id: Option<String>,
    intensity: Parsed<Intensity>,
    phase: Option<String>,
    erased_at: Option<i64>,
    protected: i64,
    created_at: i64,
}

impl TryFrom<ParticipantRow> for Participant {
    type Error = Error;
    fn try_from(r: ParticipantRow) -> Result<Participant> {
        Ok(Participant {
            id: r.id,
            unit_id: r.unit_id,
            first_name: r.first_name,
            phone: r.phone.map(PhoneNumber::from_db),
            language: r.language.0,
            channel_pref: r.channel_pref.0,
            status: r.status.0,
            lots_id: r.lots_id.map(StaffId::from_db),
            time_zone: parse_tz(&r.time_zone)?,
            discreet: r.discreet != 0,
            opted_out: r.opted_out.0,
            telegram_linked: r.telegram_chat_id.is_some(),
            intensity: r.intensity.0,
            phase: r.phase.map(Phase::from_db),
            erased: r.erased_at.is_some(),
            protected: r.protected != 0,
            created_at: from_ms(r.created_at),
        })
    }
}

pub async fn create(c: &mut Conn, p: &NewParticipant, now: DateTime<Utc>) -> Result<Participant> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO participants (unit_id, first_name, phone, language, channel_pref, time_zone,
                                   discreet, lots_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
    )
    .bind(p.unit_id.get())
    .bind(&p.first_name)
    .bind(p.phone.as_ref().map(|x| x.as_e164().to_string()))
    .bind(p.language.as_str())
    .bind(p.channel_pref.as_str())
    .bind(p.time_zone.name())
    .bind(i64::from(p.discreet))
    .bind(p.lots_id.map(StaffId::get))
    .bind(ms(now))
    .fetch_one(&mut *c)
    .await?;
    get(c, ParticipantId::from_db(id)).await
}

pub async fn get(c: &mut Conn, id: ParticipantId) -> Result<Participant> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM participants WHERE id = $1"));
    sqlx::query_as::<_, ParticipantRow>(sql)
        .bind(id.get())
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::not_found(format!("participant {id}")))?
        .try_into()
}

pub async fn list(c: &mut Conn, unit: Option<UnitId>) -> Result<Vec<Participant>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM participants WHERE ($1 IS NULL OR unit_id = $1) ORDER BY id"
    ));
    let rows = sqlx::query_as::<_, ParticipantRow>(sql)
        .bind(unit.map(UnitId::get))
        .fetch_all(&mut *c)
        .await?;
    rows.into_iter().map(Participant::try_from).collect()
}

pub async fn set_status(
    c: &mut Conn,
    id: ParticipantId,
    status: ParticipantStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(ms(now))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn set_opted_out(
    c: &mut Conn,
    id: ParticipantId,
    opted_out: ChannelSet,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET opted_out = $1, updated_at = $2 WHERE id = $3")
        .bind(opted_out.to_string())
        .bind(ms(now))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn set_language(
    c: &mut Conn,
    id: ParticipantId,
    l: Language,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET language = $1, updated_at = $2 WHERE id = $3")
        .bind(l.as_str())
        .bind(ms(now))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn set_phase(
    c: &mut Conn,
    id: ParticipantId,
    phase: Option<&Phase>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET phase = $1, updated_at = $2 WHERE id = $3")
        .bind(phase.map(Phase::as_str))
        .bind(ms(now))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The phases in use in a unit, sorted: what the UI offers to pick from,
/// so staff reuse one spelling.
pub async fn phases_in_unit(c: &mut Conn, unit: UnitId) -> Result<Vec<Phase>> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT phase FROM participants
         WHERE unit_id = $1 AND phase IS NOT NULL AND erased_at IS NULL ORDER BY phase",
    )
    .bind(unit.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(Phase::from_db).collect())
}

pub async fn set_intensity(
    c: &mut Conn,
    id: ParticipantId,
    i: Intensity,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET intensity = $1, updated_at = $2 WHERE id = $3")
        .bind(i.as_str())
        .bind(ms(now))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The participant with this number, for inbound SMS. Erased participants
/// are never matched; if a number is shared, an active participant wins,
/// then the most recently added.
pub async fn by_phone(c: &mut Conn, phone: &PhoneNumber) -> Result<Option<ParticipantId>> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM participants WHERE phone = $1 AND erased_at IS NULL
         ORDER BY CASE WHEN status = 'active' THEN 0 ELSE 1 END, id DESC LIMIT 1",
    )
    .bind(phone.as_e164())
    .fetch_optional(&mut *c)
    .await?;
    Ok(id.map(ParticipantId::from_db))
}

/// Links (or with `None` unlinks) a Telegram chat.
pub async fn set_telegram_chat(
    c: &mut Conn,
    id: ParticipantId,
    chat: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET telegram_chat_id = $1, updated_at = $2 WHERE id = $3")
        .bind(chat)
        .bind(ms(now))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// An active participant with nothing booked in their unit's gap window
/// ([`with_nothing_booked`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NothingBooked {
    #[sqlx(try_from = "i64")]
    pub id: ParticipantId,
    /// Unix milliseconds.
    pub created_at: i64,
    pub gap_alert_days: i64,
}

/// Active participants (not erased) in units with a gap alert who have no
/// scheduled appointment within the unit's window after `now`.
pub async fn with_nothing_booked(c: &mut Conn, now: DateTime<Utc>) -> Result<Vec<NothingBooked>> {
    Ok(sqlx::query_as(
        "SELECT p.id, p.created_at, u.gap_alert_days FROM participants p JOIN units u ON u.id = p.unit_id
         WHERE p.status = 'active' AND p.erased_at IS NULL AND u.gap_alert_days > 0
           AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.participant_id = p.id
               AND a.status = 'scheduled' AND a.starts_at > $1
               AND a.starts_at <= $1 + u.gap_alert_days * 86400000)",
    )
    .bind(ms(now))
    .fetch_all(&mut *c)
    .await?)
}

/// What the case record's edit form sets: the contact details
/// (`Engine::edit_participant`). Serialised for the journal with the
/// number masked: the case record says that it changed, not what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactDetails {
    pub first_name: String,
    #[serde(serialize_with = "ser_masked")]
    pub phone: Option<PhoneNumber>,
    pub channel_pref: ChannelKind,
    #[serde(serialize_with = "ser_tz")]
    pub time_zone: Tz,
    pub language: Language,
}

impl ContactDetails {
    /// The details as the journal keeps them (the number masked).
    pub fn fields(&self) -> ContactFields {
        ContactFields {
            first_name: Some(self.first_name.clone()),
            phone: self.phone.as_ref().map(|p| p.masked()),
            channel_pref: Some(self.channel_pref),
            time_zone: Some(self.time_zone.name().to_string()),
            language: Some(self.language),
        }
    }

    /// A participant's details as stored.
    pub fn of(p: &Participant) -> Self {
        ContactDetails {
            first_name: p.first_name.clone(),
            phone: p.phone.clone(),
            channel_pref: p.channel_pref,
            time_zone: p.time_zone,
            language: p.language,
        }
    }
}

fn ser_masked<S: serde::Serializer>(p: &Option<PhoneNumber>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.masked()),
        None => s.serialize_none(),
    }
}

/// Writes a participant's contact details.
pub async fn set_details(
    c: &mut Conn,
    id: ParticipantId,
    d: &ContactDetails,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE participants SET first_name = $1, phone = $2, channel_pref = $3, time_zone = $4,
                                 language = $5, updated_at = $6
         WHERE id = $7",
    )
    .bind(&d.first_name)
    .bind(d.phone.as_ref().map(|x| x.as_e164().to_string()))
    .bind(d.channel_pref.as_str())
    .bind(d.time_zone.name())
    .bind(d.language.as_str())
    .bind(ms(now))
    .bind(id.get())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Locks a participant's row until the transaction ends (a write that
/// changes nothing): two transactions that both lock it run one after the
/// other, so a check-then-insert in each cannot both pass. SQLite's
/// transactions are serialised already (`BEGIN IMMEDIATE`).
pub async fn lock(c: &mut Conn, id: ParticipantId) -> Result<()> {
    sqlx::query("UPDATE participants SET updated_at = updated_at WHERE id = $1")
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}
