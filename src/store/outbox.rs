//! The outbox: one row per message, the single source of truth for what
//! will be, is being, and was sent.
//!
//! * Planning inserts rows with `ON CONFLICT DO NOTHING` on
//!   (appointment, plan_version, offset, channel): nothing is planned twice.
//! * The dispatcher *claims* due rows with a lease: one statement flips them
//!   to `sending`, stamps a random claim token and sets `next_attempt_at` to
//!   the lease expiry. PostgreSQL skips rows other instances hold
//!   (`FOR UPDATE SKIP LOCKED`); on SQLite the single statement runs under
//!   the database's one write lock. A worker that dies leaves rows whose
//!   lease simply runs out; they are claimed again (at-least-once).
//! * Every outcome is written only if the claim token still matches, so a
//!   worker whose lease was taken over cannot overwrite the new owner.
//! * Status only moves forward (see `OutboxStatus::can_move_to`).

use super::{Backend, Conn, Db, Parsed, from_ms, ms, opt_from_ms, parse_col};
use crate::domain::ReplyState;
use crate::domain::gates::ConsentState;
use crate::domain::journal::JournalEvent;
use crate::domain::schedule::QuietHours;
use crate::domain::{
    AppointmentId, AppointmentKind, AppointmentStatus, ChannelKind, ChannelSet, FailureKind,
    Language, OutboxId, OutboxStatus, ParticipantId, ParticipantStatus, Purpose,
};
use crate::error::{Error, Result};
use crate::store::units::parse_tz;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// A row to plan.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub participant_id: ParticipantId,
    pub appointment_id: Option<AppointmentId>,
    pub plan_version: i64,
    pub purpose: Purpose,
    pub offset_min: i64,
    pub channel: ChannelKind,
    pub ask_reply: bool,
    pub due_at: DateTime<Utc>,
    pub deadline_at: Option<DateTime<Utc>>,
    /// Pre-rendered text, for messages whose text is fixed when planned
    /// (receipts). Reminders are rendered at send time.
    pub body: Option<String>,
    /// The trial arm a reminder was planned under (issue 21), if any.
    pub trial: Option<TrialMark>,
}

impl NewMessage {
    /// A notice with its text written now (not about one appointment, no
    /// reply asked), due at `due_at`.
    pub fn notice(
        participant_id: ParticipantId,
        channel: ChannelKind,
        body: String,
        due_at: DateTime<Utc>,
    ) -> Self {
        NewMessage {
            participant_id,
            appointment_id: None,
            plan_version: 0,
            purpose: Purpose::Notice,
            offset_min: 0,
            channel,
            ask_reply: false,
            due_at,
            deadline_at: None,
            body: Some(body),
            trial: None,
        }
    }
}

/// The trial, arm and wording a reminder was planned under: recorded on
/// the row so outcomes can be attributed and the dispatcher uses the arm's
/// wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrialMark {
    pub trial_id: i64,
    pub arm: crate::domain::trials::Arm,
    pub wording: crate::domain::trials::Wording,
}

/// Inserts a planned message. Returns its id, or `None` if the same
/// (appointment, version, offset, channel) was planned already.
pub async fn insert(c: &mut Conn, m: &NewMessage, now: DateTime<Utc>) -> Result<Option<OutboxId>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO outbox (participant_id, appointment_id, plan_version, purpose, offset_min, channel,
                             ask_reply, due_at, deadline_at, next_attempt_at, body, created_at, updated_at,
                             trial_id, trial_arm, wording)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10, $11, $11, $12, $13, $14)
         ON CONFLICT (appointment_id, plan_version, offset_min, channel) DO NOTHING
         RETURNING id",
    )
    .bind(m.participant_id.get())
    .bind(m.appointment_id.map(AppointmentId::get))
    .bind(m.plan_version)
    .bind(m.purpose.as_str())
    .bind(m.offset_min)
    .bind(m.channel.as_str())
    .bind(i64::from(m.ask_reply))
    .bind(ms(m.due_at))
    .bind(m.deadline_at.map(ms))
    .bind(m.body.clone())
    .bind(ms(now))
    .bind(m.trial.map(|t| t.trial_id))
    .bind(m.trial.map(|t| t.arm.as_str()))
    .bind(m.trial.map(|t| t.wording.as_str()))
    .fetch_optional(&mut *c)
    .await?;
    Ok(id.map(OutboxId::from_db))
}

/// An appointment's reminders as a confirmation names them: the latest
/// that has gone out (sending, sent or delivered) and the next still to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderOutlook {
    pub sent: Option<(DateTime<Utc>, ChannelKind)>,
    pub next: Option<(DateTime<Utc>, ChannelKind)>,
}

pub async fn reminder_outlook(c: &mut Conn, appointment: AppointmentId) -> Result<ReminderOutlook> {
    const SENT: &str = "SELECT due_at, channel FROM outbox
         WHERE appointment_id = $1 AND purpose = 'reminder'
           AND status IN ('sending', 'sent', 'delivered')
         ORDER BY due_at DESC, id DESC LIMIT 1";
    const NEXT: &str = "SELECT due_at, channel FROM outbox
         WHERE appointment_id = $1 AND purpose = 'reminder' AND status = 'pending'
         ORDER BY due_at, id LIMIT 1";
    let mut read = async |sql: &'static str| -> Result<Option<(DateTime<Utc>, ChannelKind)>> {
        let row: Option<(i64, String)> = sqlx::query_as(sql)
            .bind(appointment.get())
            .fetch_optional(&mut *c)
            .await?;
        row.map(|(due, ch)| Ok((from_ms(due), parse_col(&ch)?)))
            .transpose()
    };
    Ok(ReminderOutlook {
        sent: read(SENT).await?,
        next: read(NEXT).await?,
    })
}

/// Cancels the rows of an appointment that have not gone out yet
/// (pending, or claimed but not yet sent). Returns how many.
pub async fn cancel_open_for_appointment(
    c: &mut Conn,
    appointment: AppointmentId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET status = 'cancelled', last_error = $1, updated_at = $2, claim_token = NULL
         WHERE appointment_id = $3 AND status IN ('pending','sending')",
    )
    .bind(reason)
    .bind(ms(now))
    .bind(appointment.get())
    .execute(&mut *c)
    .await?
    .rows_affected())
}

/// Everything the dispatcher needs to gate, render and send one claimed
/// message, read in one query.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: OutboxId,
    pub claim_token: String,
    pub participant_id: ParticipantId,
    pub appointment_id: Option<AppointmentId>,
    pub plan_version: i64,
    pub offset_min: i64,
    pub purpose: Purpose,
    pub channel: ChannelKind,
    pub ask_reply: bool,
    pub due_at: DateTime<Utc>,
    pub deadline_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub body: Option<String>,
    pub first_name: String,
    pub phone: Option<String>,
    pub telegram_chat_id: Option<String>,
    pub language: Language,
    pub status: ParticipantStatus,
    pub tz: Tz,
    pub discreet: bool,
    pub opted_out: ChannelSet,
    pub quiet: QuietHours,
    pub consent: Option<ConsentState>,
    pub appointment: Option<ClaimedAppointment>,
    /// The broadcast the row belongs to, and whether staff marked it urgent.
    pub broadcast_id: Option<i64>,
    pub urgent: bool,
    /// The unit's own wording of this reminder or summons in the
    /// participant's language (`unit_templates`), if it has one.
    pub template: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClaimedAppointment {
    pub status: AppointmentStatus,
    pub reply: ReplyState,
    pub kind: AppointmentKind,
    pub starts_at: DateTime<Utc>,
    pub location: Option<String>,
    pub with_whom: Option<String>,
}

const CLAIM_SQLITE_SQL: &str = "UPDATE outbox
    SET status = 'sending', attempts = attempts + 1, lease_owner = $1, claim_token = $2,
        lease_until = $3, next_attempt_at = $3, updated_at = $4
    WHERE id IN (SELECT id FROM outbox
                 WHERE status IN ('pending','sending') AND next_attempt_at <= $4
                 ORDER BY next_attempt_at LIMIT $5)";

const CLAIM_POSTGRES_SQL: &str = "UPDATE outbox
    SET status = 'sending', attempts = attempts + 1, lease_owner = $1, claim_token = $2,
        lease_until = $3, next_attempt_at = $3, updated_at = $4
    WHERE id IN (SELECT id FROM outbox
                 WHERE status IN ('pending','sending') AND next_attempt_at <= $4
                 ORDER BY next_attempt_at LIMIT $5
                 FOR UPDATE SKIP LOCKED)";

const CLAIMED_CONTEXT_SQL: &str = "SELECT o.id, o.claim_token, o.participant_id, o.appointment_id, o.plan_version, o.offset_min, o.purpose,
        o.channel, o.ask_reply, o.due_at, o.deadline_at, o.attempts, o.body,
        p.first_name, p.phone, p.telegram_chat_id, p.language, p.status AS p_status, p.time_zone,
        p.discreet, p.opted_out, u.quiet_start_min, u.quiet_end_min,
        a.status AS a_status, a.reply AS a_reply, a.kind AS a_kind, a.starts_at, a.location, a.with_whom,
        c.channels AS c_channels, c.expires_at AS c_expires, c.withdrawn_at AS c_withdrawn,
        o.broadcast_id, b.urgent AS b_urgent, t.body AS t_body
    FROM outbox o
    JOIN participants p ON p.id = o.participant_id
    JOIN units u ON u.id = p.unit_id
    LEFT JOIN appointments a ON a.id = o.appointment_id
    LEFT JOIN consents c ON c.id = (SELECT MAX(id) FROM consents WHERE participant_id = o.participant_id)
    LEFT JOIN broadcasts b ON b.id = o.broadcast_id
    LEFT JOIN unit_templates t ON t.unit_id = p.unit_id AND t.lang = p.language
        AND (o.wording IS NULL OR o.wording <> 'default')
        AND t.key = CASE WHEN o.purpose = 'summons' THEN 'summons'
                         WHEN o.purpose = 'reminder' AND o.ask_reply <> 0 THEN 'reminder-reply'
                         WHEN o.purpose = 'reminder' THEN 'reminder' END
    WHERE o.claim_token = $1
    ORDER BY o.next_attempt_at, o.id";

/// Claims up to `limit` due rows for `owner` until `lease_until`.
pub async fn claim(
    db: &Db,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let sql = match db.backend {
        Backend::Sqlite => CLAIM_SQLITE_SQL,
        Backend::Postgres => CLAIM_POSTGRES_SQL,
    };
    let rows: Vec<ClaimedRow> =
        super::claim_leased(db, sql, CLAIMED_CONTEXT_SQL, owner, now, lease_until, limit).await?;
    rows.into_iter().map(Claimed::try_from).collect()
}

/// A claimed row and its context ([`CLAIMED_CONTEXT_SQL`]) as the `Any` driver
/// decodes it.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    #[sqlx(try_from = "i64")]
    id: OutboxId,
    claim_token: String,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    appointment_id: Option<i64>,
    plan_version: i64,
    offset_min: i64,
    purpose: Parsed<Purpose>,
    channel: Parsed<ChannelKind>,
    ask_reply: i64,
    due_at: i64,
    deadline_at: Option<i64>,
    attempts: i64,
    body: Option<String>,
    first_name: String,
    phone: Option<String>,
    telegram_chat_id: Option<String>,
    language: Parsed<Language>,
    p_status: Parsed<ParticipantStatus>,
    time_zone: String,
    discreet: i64,
    opted_out: Parsed<ChannelSet>,
    quiet_start_min: i64,
    quiet_end_min: i64,
    a_status: Option<Parsed<AppointmentStatus>>,
    a_reply: Option<Parsed<ReplyState>>,
    a_kind: Option<Parsed<AppointmentKind>>,
    starts_at: Option<i64>,
    location: Option<String>,
    with_whom: Option<String>,
    c_channels: Option<Parsed<ChannelSet>>,
    c_expires: Option<i64>,
    c_withdrawn: Option<i64>,
    broadcast_id: Option<i64>,
    b_urgent: Option<i64>,
    t_body: Option<String>,
}

impl TryFrom<ClaimedRow> for Claimed {
    type Error = Error;
    fn try_from(r: ClaimedRow) -> Result<Claimed> {
        let consent = match r.c_channels {
            Some(Parsed(channels)) => Some(ConsentState {
                channels,
                expires_at: opt_from_ms(r.c_expires),
                withdrawn_at: opt_from_ms(r.c_withdrawn),
            }),
            None => None,
        };
        // The appointment's columns are all there or, with no appointment
        // (a broadcast, a summons), all NULL.
        let appointment = match (r.a_status, r.a_reply, r.a_kind, r.starts_at) {
            (Some(status), Some(reply), Some(kind), Some(starts_at)) => Some(ClaimedAppointment {
                status: status.0,
                reply: reply.0,
                kind: kind.0,
                starts_at: from_ms(starts_at),
                location: r.location,
                with_whom: r.with_whom,
            }),
            (None, ..) => None,
            _ => return Err(Error::invalid("a claimed row's appointment is incomplete")),
        };
        Ok(Claimed {
            id: r.id,
            claim_token: r.claim_token,
            participant_id: r.participant_id,
            appointment_id: r.appointment_id.map(AppointmentId::from_db),
            plan_version: r.plan_version,
            offset_min: r.offset_min,
            purpose: r.purpose.0,
            channel: r.channel.0,
            ask_reply: r.ask_reply != 0,
            due_at: from_ms(r.due_at),
            deadline_at: opt_from_ms(r.deadline_at),
            attempts: r.attempts,
            body: r.body,
            first_name: r.first_name,
            phone: r.phone,
            telegram_chat_id: r.telegram_chat_id,
            language: r.language.0,
            status: r.p_status.0,
            tz: parse_tz(&r.time_zone)?,
            discreet: r.discreet != 0,
            opted_out: r.opted_out.0,
            quiet: QuietHours::from_minutes(r.quiet_start_min as u32, r.quiet_end_min as u32)
                .map_err(Error::Invalid)?,
            consent,
            appointment,
            broadcast_id: r.broadcast_id,
            urgent: r.b_urgent.unwrap_or(0) != 0,
            template: r.t_body,
        })
    }
}

/// The outcome of one claimed row, written only while the claim is ours.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent {
        gateway_id: String,
        body: String,
        /// SMS only: "gsm7" or "ucs2", and the parts the text costs.
        encoding: Option<&'static str>,
        parts: Option<i64>,
        /// As reported by the gateway, in 1/10,000 of `currency`.
        cost: Option<i64>,
        currency: Option<String>,
    },
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Not now (quiet hours): back to pending without using up an attempt.
    Defer {
        until: DateTime<Utc>,
    },
    Failed {
        error: String,
        body: Option<String>,
        /// Why, classified when it happened (`outbox.error_kind`).
        kind: FailureKind,
    },
    Suppressed {
        reason: String,
    },
}

/// Records an outcome. Returns false when the claim was lost (the lease ran
/// out and another worker took the row, or it was cancelled meanwhile).
pub async fn finish(
    c: &mut Conn,
    id: OutboxId,
    claim_token: &str,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = match outcome {
        Outcome::Sent {
            gateway_id, body, ..
        } => sqlx::query(
            "UPDATE outbox SET status = 'sent', gateway_id = $1, body = $2, sent_at = $3,
                    updated_at = $3, lease_until = NULL, claim_token = NULL, last_error = NULL,
                    encoding = $6, parts = $7, cost = $8, currency = $9
             WHERE id = $4 AND claim_token = $5 AND status = 'sending'",
        )
        .bind(gateway_id.clone())
        .bind(body.clone())
        .bind(ms(now)),
        Outcome::Retry { at, error } => sqlx::query(
            "UPDATE outbox SET status = 'pending', next_attempt_at = $1, last_error = $2,
                    updated_at = $3, lease_until = NULL, claim_token = NULL
             WHERE id = $4 AND claim_token = $5 AND status = 'sending'",
        )
        .bind(ms(*at))
        .bind(error.clone())
        .bind(ms(now)),
        Outcome::Defer { until } => sqlx::query(
            "UPDATE outbox SET status = 'pending', next_attempt_at = $1, attempts = attempts - 1,
                    last_error = $2, updated_at = $3, lease_until = NULL, claim_token = NULL
             WHERE id = $4 AND claim_token = $5 AND status = 'sending'",
        )
        .bind(ms(*until))
        .bind("deferred: quiet hours")
        .bind(ms(now)),
        Outcome::Failed { error, body, kind } => sqlx::query(
            "UPDATE outbox SET status = 'failed', last_error = $1, error_kind = $2,
                    body = COALESCE($3, body), updated_at = $4, lease_until = NULL,
                    claim_token = NULL
             WHERE id = $5 AND claim_token = $6 AND status = 'sending'",
        )
        .bind(error.clone())
        .bind(kind.as_str())
        .bind(body.clone())
        .bind(ms(now)),
        Outcome::Suppressed { reason } => sqlx::query(
            "UPDATE outbox SET status = 'suppressed', last_error = $1, updated_at = $2,
                    lease_until = NULL, claim_token = NULL, body = NULL
             WHERE id = $3 AND claim_token = $4 AND status = 'sending'",
        )
        .bind(reason.clone())
        .bind(ms(now)),
    };
    let mut q = q.bind(id.get()).bind(claim_token);
    if let Outcome::Sent {
        encoding,
        parts,
        cost,
        currency,
        ..
    } = outcome
    {
        q = q
            .bind(*encoding)
            .bind(*parts)
            .bind(*cost)
            .bind(currency.clone());
    }
    let n = q.execute(&mut *c).await?.rows_affected();
    Ok(n == 1)
}

/// Moves a row forward after a delivery receipt. Returns the status the
/// row has afterwards. A receipt that would move it backwards (a late
/// "sent" after "delivered") changes nothing.
pub async fn apply_receipt(
    c: &mut Conn,
    channel: ChannelKind,
    gateway_id: &str,
    new: OutboxStatus,
    now: DateTime<Utc>,
) -> Result<Option<OutboxStatus>> {
    let row = sqlx::query_as::<_, (i64, Parsed<OutboxStatus>)>(
        "SELECT id, status FROM outbox WHERE channel = $1 AND gateway_id = $2",
    )
    .bind(channel.as_str())
    .bind(gateway_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some((id, Parsed(cur))) = row else {
        return Ok(None);
    };
    if !cur.can_move_to(new) {
        return Ok(Some(cur));
    }
    sqlx::query(
        "UPDATE outbox SET status = $1, updated_at = $2,
                delivered_at = CASE WHEN $1 = 'delivered' THEN $2 ELSE delivered_at END
         WHERE id = $3 AND status = $4",
    )
    .bind(new.as_str())
    .bind(ms(now))
    .bind(id)
    .bind(cur.as_str())
    .execute(&mut *c)
    .await?;
    Ok(Some(new))
}

/// The earliest time any open row is due (including expiring leases).
pub async fn next_due(db: &Db) -> Result<Option<DateTime<Utc>>> {
    let v: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE status IN ('pending','sending')",
    )
    .fetch_one(&db.pool)
    .await?;
    Ok(v.map(from_ms))
}

/// One row as listed by `paminn outbox` and the API.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: OutboxId,
    pub participant_id: ParticipantId,
    pub appointment_id: Option<AppointmentId>,
    pub purpose: Purpose,
    pub channel: ChannelKind,
    pub offset_min: i64,
    pub due_at: DateTime<Utc>,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub gateway_id: Option<String>,
    pub body: Option<String>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub encoding: Option<String>,
    pub parts: Option<i64>,
    pub cost: Option<i64>,
    pub currency: Option<String>,
}

/// An [`OutboxRow`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(try_from = "i64")]
    id: OutboxId,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    appointment_id: Option<i64>,
    purpose: Parsed<Purpose>,
    channel: Parsed<ChannelKind>,
    offset_min: i64,
    due_at: i64,
    status: Parsed<OutboxStatus>,
    attempts: i64,
    next_attempt_at: i64,
    gateway_id: Option<String>,
    body: Option<String>,
    last_error: Option<String>,
    sent_at: Option<i64>,
    encoding: Option<String>,
    parts: Option<i64>,
    cost: Option<i64>,
    currency: Option<String>,
}

impl From<ListedRow> for OutboxRow {
    fn from(r: ListedRow) -> OutboxRow {
        OutboxRow {
            id: r.id,
            participant_id: r.participant_id,
            appointment_id: r.appointment_id.map(AppointmentId::from_db),
            purpose: r.purpose.0,
            channel: r.channel.0,
            offset_min: r.offset_min,
            due_at: from_ms(r.due_at),
            status: r.status.0,
            attempts: r.attempts,
            next_attempt_at: from_ms(r.next_attempt_at),
            gateway_id: r.gateway_id,
            body: r.body,
            last_error: r.last_error,
            sent_at: opt_from_ms(r.sent_at),
            encoding: r.encoding,
            parts: r.parts,
            cost: r.cost,
            currency: r.currency,
        }
    }
}

pub async fn list(c: &mut Conn, participant: Option<ParticipantId>) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query_as::<_, ListedRow>(
        "SELECT id, participant_id, appointment_id, purpose, channel, offset_min, due_at, status,
                attempts, next_attempt_at, gateway_id, body, last_error, sent_at,
                encoding, parts, cost, currency
         FROM outbox WHERE ($1 IS NULL OR participant_id = $1) ORDER BY due_at, id",
    )
    .bind(participant.map(ParticipantId::get))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(OutboxRow::from).collect())
}

/// Puts a row into a broadcast (the SMS fallback of a broadcast's
/// Telegram row stays part of it, urgent or not).
pub async fn set_broadcast(c: &mut Conn, id: OutboxId, broadcast: i64) -> Result<()> {
    sqlx::query("UPDATE outbox SET broadcast_id = $1 WHERE id = $2")
        .bind(broadcast)
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Counts rows by status, for tests, benchmarks and health.
pub async fn count_by_status(c: &mut Conn, status: OutboxStatus) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = $1")
            .bind(status.as_str())
            .fetch_one(&mut *c)
            .await?,
    )
}

/// Cancels every message to a participant that has not gone out.
pub async fn cancel_all_open_for_participant(
    c: &mut Conn,
    participant: ParticipantId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET status = 'cancelled', last_error = $1, updated_at = $2, claim_token = NULL
         WHERE participant_id = $3 AND status IN ('pending','sending')",
    )
    .bind(reason)
    .bind(ms(now))
    .bind(participant.get())
    .execute(&mut *c)
    .await?
    .rows_affected())
}

/// The participant and appointment an outbox row was about (`None`: no
/// such row).
pub async fn target(
    c: &mut Conn,
    id: OutboxId,
) -> Result<Option<(ParticipantId, Option<AppointmentId>)>> {
    let row = sqlx::query_as::<_, (i64, Option<i64>)>(
        "SELECT participant_id, appointment_id FROM outbox WHERE id = $1",
    )
    .bind(id.get())
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|(p, a)| (ParticipantId::from_db(p), a.map(AppointmentId::from_db))))
}

/// An outbox row as a delivery report finds it ([`by_gateway_id`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reported {
    #[sqlx(try_from = "i64")]
    pub id: OutboxId,
    #[sqlx(try_from = "super::Parsed<OutboxStatus>")]
    pub status: OutboxStatus,
    #[sqlx(try_from = "i64")]
    pub participant_id: ParticipantId,
    pub appointment_id: Option<i64>,
}

/// The row a gateway's delivery report is about, by the gateway's id.
pub async fn by_gateway_id(
    c: &mut Conn,
    channel: ChannelKind,
    gateway_id: &str,
) -> Result<Option<Reported>> {
    Ok(sqlx::query_as(
        "SELECT id, status, participant_id, appointment_id FROM outbox WHERE channel = $1 AND gateway_id = $2",
    )
    .bind(channel.as_str())
    .bind(gateway_id)
    .fetch_optional(&mut *c)
    .await?)
}

/// Why a row failed, as a delivery report said it after the send
/// (`Engine::delivery_receipt`).
pub async fn set_error_kind(c: &mut Conn, id: OutboxId, kind: FailureKind) -> Result<()> {
    sqlx::query("UPDATE outbox SET error_kind = $1 WHERE id = $2")
        .bind(kind.as_str())
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The demo's "send the next one now": the participant's earliest pending
/// message becomes due at `now`. Returns whether there was one.
pub async fn bring_forward_next(
    c: &mut Conn,
    participant: ParticipantId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET due_at = $2, next_attempt_at = $2, updated_at = $2
         WHERE id = (SELECT id FROM outbox WHERE participant_id = $1 AND status = 'pending'
                     ORDER BY next_attempt_at, id LIMIT 1)",
    )
    .bind(participant.get())
    .bind(ms(now))
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(done > 0)
}

/// One claimed row's outcome in a group recorded together
/// ([`finish_group`]). `at` is the moment the row was decided (its
/// `sent_at`, `updated_at`).
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    pub id: OutboxId,
    pub claim_token: &'a str,
    pub outcome: &'a Outcome,
    pub at: DateTime<Utc>,
}

/// The most rows one multi-row statement carries, so that one JSON
/// parameter stays a few hundred kilobytes however large a group is.
const GROUP_CHUNK: usize = 500;

/// Records the outcomes of several claimed rows in the caller's
/// transaction, each only while its claim token still matches and the row
/// is still `sending` (as [`finish`]). Returns, for each row in order,
/// whether it was written (false: the claim was lost).
///
/// On PostgreSQL each outcome kind is one `UPDATE … FROM
/// json_to_recordset(…)` that returns the ids it wrote; on SQLite, where a write is a page in the
/// same local transaction, the rows are written one by one. `Failed` rows
/// are always written one by one: they are rare and the caller does more
/// for each (tasks, fallback).
pub async fn finish_group(c: &mut Conn, rows: &[Finish<'_>]) -> Result<Vec<bool>> {
    let mut kept = vec![false; rows.len()];
    let postgres = super::backend_of(c) == Backend::Postgres;
    let mut by_kind: [Vec<usize>; 4] = Default::default();
    for (i, r) in rows.iter().enumerate() {
        let k = match r.outcome {
            Outcome::Sent { .. } => 0,
            Outcome::Retry { .. } => 1,
            Outcome::Defer { .. } => 2,
            Outcome::Suppressed { .. } => 3,
            Outcome::Failed { .. } => {
                kept[i] = finish(&mut *c, r.id, r.claim_token, r.outcome, r.at).await?;
                continue;
            }
        };
        if postgres {
            by_kind[k].push(i);
        } else {
            kept[i] = finish(&mut *c, r.id, r.claim_token, r.outcome, r.at).await?;
        }
    }
    for (k, idx) in by_kind.iter().enumerate() {
        for chunk in idx.chunks(GROUP_CHUNK) {
            let written = finish_kind_postgres(c, k, rows, chunk).await?;
            for &i in chunk {
                kept[i] = written.contains(&rows[i].id.get());
            }
        }
    }
    Ok(kept)
}

const FINISH_SENT_POSTGRES: &str = "UPDATE outbox AS o SET status = 'sent', gateway_id = v.gateway_id,
        body = v.body, sent_at = v.at, updated_at = v.at, lease_until = NULL, claim_token = NULL,
        last_error = NULL, encoding = v.encoding, parts = v.parts, cost = v.cost, currency = v.currency
    FROM json_to_recordset($1::json) AS v(id bigint, token text, at bigint, gateway_id text, body text,
                                          encoding text, parts bigint, cost bigint, currency text)
    WHERE o.id = v.id AND o.claim_token = v.token AND o.status = 'sending'
    RETURNING o.id";

const FINISH_RETRY_POSTGRES: &str = "UPDATE outbox AS o SET status = 'pending',
        next_attempt_at = v.next_at, last_error = v.error, updated_at = v.at,
        lease_until = NULL, claim_token = NULL
    FROM json_to_recordset($1::json) AS v(id bigint, token text, at bigint, next_at bigint, error text)
    WHERE o.id = v.id AND o.claim_token = v.token AND o.status = 'sending'
    RETURNING o.id";

const FINISH_DEFER_POSTGRES: &str = "UPDATE outbox AS o SET status = 'pending',
        next_attempt_at = v.next_at, attempts = o.attempts - 1, last_error = v.error,
        updated_at = v.at, lease_until = NULL, claim_token = NULL
    FROM json_to_recordset($1::json) AS v(id bigint, token text, at bigint, next_at bigint, error text)
    WHERE o.id = v.id AND o.claim_token = v.token AND o.status = 'sending'
    RETURNING o.id";

const FINISH_SUPPRESSED_POSTGRES: &str = "UPDATE outbox AS o SET status = 'suppressed',
        last_error = v.reason, updated_at = v.at, lease_until = NULL, claim_token = NULL, body = NULL
    FROM json_to_recordset($1::json) AS v(id bigint, token text, at bigint, reason text)
    WHERE o.id = v.id AND o.claim_token = v.token AND o.status = 'sending'
    RETURNING o.id";

/// Writes rows of one outcome kind (0 sent, 1 retry, 2 defer, 3
/// suppressed) in one statement, PostgreSQL only, and returns the ids
/// written. The rows travel as one JSON parameter read by
/// `json_to_recordset`, so each kind is one static statement, prepared once
/// per connection: a `VALUES` list with a placeholder per field would be a
/// new statement for every group size, parsed and planned by the server
/// each time (the Any driver has no array parameters for `unnest`).
async fn finish_kind_postgres(
    c: &mut Conn,
    kind: usize,
    rows: &[Finish<'_>],
    chunk: &[usize],
) -> Result<std::collections::HashSet<i64>> {
    let values: Vec<serde_json::Value> = chunk
        .iter()
        .map(|&i| {
            let r = &rows[i];
            let (id, token, at) = (r.id.get(), r.claim_token, ms(r.at));
            match r.outcome {
                Outcome::Sent {
                    gateway_id,
                    body,
                    encoding,
                    parts,
                    cost,
                    currency,
                } => serde_json::json!({"id": id, "token": token, "at": at,
                    "gateway_id": gateway_id, "body": body, "encoding": encoding,
                    "parts": parts, "cost": cost, "currency": currency}),
                Outcome::Retry { at: next, error } => serde_json::json!({"id": id,
                    "token": token, "at": at, "next_at": ms(*next), "error": error}),
                Outcome::Defer { until } => serde_json::json!({"id": id, "token": token,
                    "at": at, "next_at": ms(*until), "error": "deferred: quiet hours"}),
                Outcome::Suppressed { reason } => serde_json::json!({"id": id,
                    "token": token, "at": at, "reason": reason}),
                Outcome::Failed { .. } => unreachable!("failed rows are written one by one"),
            }
        })
        .collect();
    let sql = match kind {
        0 => FINISH_SENT_POSTGRES,
        1 => FINISH_RETRY_POSTGRES,
        2 => FINISH_DEFER_POSTGRES,
        _ => FINISH_SUPPRESSED_POSTGRES,
    };
    Ok(sqlx::query_scalar::<_, i64>(sql)
        .bind(serde_json::Value::Array(values).to_string())
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .collect())
}

/// A journal entry written with others by [`append_journal_group`].
#[derive(Debug, Clone, Copy)]
pub struct JournalEntry<'a> {
    pub participant: ParticipantId,
    pub appointment: Option<AppointmentId>,
    pub at: DateTime<Utc>,
    pub event: &'a JournalEvent,
}

const JOURNAL_GROUP_POSTGRES: &str = "INSERT INTO journal (participant_id, appointment_id, at, actor, kind, detail)
    SELECT v.participant_id, v.appointment_id, v.at, 'system', v.kind, v.detail
    FROM ROWS FROM (json_to_recordset($1::json)
                    AS (participant_id bigint, appointment_id bigint, at bigint, kind text, detail text))
         WITH ORDINALITY AS v(participant_id, appointment_id, at, kind, detail, n)
    ORDER BY v.n";

/// Appends the journal entries of a group of outcomes (actor "system"), in
/// the given order. On PostgreSQL that is one INSERT per [`GROUP_CHUNK`]
/// entries, with the entries as one JSON parameter (one static statement,
/// as in [`finish_kind_postgres`]); on SQLite, where a statement is a local
/// call, one cached INSERT per entry inside the caller's transaction.
/// Kept here, next to [`finish_group`], whose rows they describe.
pub async fn append_journal_group(c: &mut Conn, entries: &[JournalEntry<'_>]) -> Result<()> {
    if super::backend_of(c) == Backend::Sqlite {
        for e in entries {
            super::journal::append(
                &mut *c,
                e.participant,
                e.appointment,
                e.at,
                "system",
                e.event,
            )
            .await?;
        }
        return Ok(());
    }
    for chunk in entries.chunks(GROUP_CHUNK) {
        let values: Vec<serde_json::Value> = chunk
            .iter()
            .map(|e| {
                let (kind, detail) = e.event.split();
                serde_json::json!({
                    "participant_id": e.participant.get(),
                    "appointment_id": e.appointment.map(AppointmentId::get),
                    "at": ms(e.at),
                    "kind": kind,
                    "detail": detail.to_string(),
                })
            })
            .collect();
        sqlx::query(JOURNAL_GROUP_POSTGRES)
            .bind(serde_json::Value::Array(values).to_string())
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}
