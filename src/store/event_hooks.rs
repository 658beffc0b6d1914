//! Event webhooks (migration 0016): the endpoints a unit registered and
//! the delivery queue. Deliveries are written by the database's triggers
//! on `journal` and `tasks` (in the transaction that wrote the event: the
//! outbox pattern, with no write path able to forget one); here they are
//! claimed with a lease, finished, resent and listed.
//!
//! Order: a claim never takes a participant's delivery to an endpoint
//! while an earlier one (lower id) of the same participant and endpoint is
//! still pending, so a receiver sees a participant's events in order.

use super::{Conn, Db, from_ms, ms, opt_from_ms};
use crate::domain::event_hooks::{EventFilter, Source};
use crate::domain::{ParticipantId, UnitId};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A registered endpoint (its secret is not read here).
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: i64,
    pub unit_id: UnitId,
    pub url: String,
    pub events: Vec<String>,
    pub include_text: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation also signs (it may
    /// be past).
    pub previous_until: Option<DateTime<Utc>>,
}

/// An `event_hook_endpoints` row (no secret) as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: i64,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    url: String,
    events: String,
    include_text: i64,
    created_by: String,
    created_at: i64,
    disabled_at: Option<i64>,
    disabled_reason: Option<String>,
    failing_since: Option<i64>,
    previous_until: Option<i64>,
}

impl From<EndpointRow> for Endpoint {
    fn from(r: EndpointRow) -> Endpoint {
        Endpoint {
            id: r.id,
            unit_id: r.unit_id,
            url: r.url,
            events: EventFilter::from_db(&r.events)
                .events()
                .iter()
                .map(|e| e.as_str().to_string())
                .collect(),
            include_text: r.include_text != 0,
            created_by: r.created_by,
            created_at: from_ms(r.created_at),
            disabled_at: opt_from_ms(r.disabled_at),
            disabled_reason: r.disabled_reason,
            failing_since: opt_from_ms(r.failing_since),
            previous_until: opt_from_ms(r.previous_until),
        }
    }
}

pub struct NewEndpoint<'a> {
    pub unit: UnitId,
    pub url: &'a str,
    pub secret: &'a str,
    pub events: &'a EventFilter,
    pub include_text: bool,
    pub created_by: &'a str,
}

pub async fn insert_endpoint(c: &mut Conn, e: &NewEndpoint<'_>, now: DateTime<Utc>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO event_hook_endpoints (unit_id, url, secret, events, include_text, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(e.unit.get())
    .bind(e.url)
    .bind(e.secret)
    .bind(e.events.to_db())
    .bind(i64::from(e.include_text))
    .bind(e.created_by)
    .bind(ms(now))
    .fetch_one(&mut *c)
    .await?)
}

pub async fn get_endpoint(c: &mut Conn, id: i64) -> Result<Endpoint> {
    Ok(sqlx::query_as::<_, EndpointRow>(
        "SELECT id, unit_id, url, events, include_text, created_by, created_at, disabled_at, disabled_reason, failing_since,
                previous_until
         FROM event_hook_endpoints WHERE id = $1",
    )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::NotFound(format!("endpoint {id}")))?
        .into())
}

/// The endpoints of a unit, or of every unit; oldest first.
pub async fn list_endpoints(c: &mut Conn, unit: Option<UnitId>) -> Result<Vec<Endpoint>> {
    let rows = sqlx::query_as::<_, EndpointRow>(
        "SELECT id, unit_id, url, events, include_text, created_by, created_at, disabled_at, disabled_reason, failing_since,
                previous_until
         FROM event_hook_endpoints WHERE ($1 IS NULL OR unit_id = $1) ORDER BY id",
    )
    .bind(unit.map(UnitId::get))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(Endpoint::from).collect())
}

/// URL, event filter and the text opt-in of an endpoint.
pub async fn update_endpoint(
    c: &mut Conn,
    id: i64,
    url: &str,
    events: &EventFilter,
    include_text: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE event_hook_endpoints SET url = $1, events = $2, include_text = $3 WHERE id = $4",
    )
    .bind(url)
    .bind(events.to_db())
    .bind(i64::from(include_text))
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Switches an endpoint off (`reason` 'admin' or 'failing') or, with
/// `None`, on again (its failure streak forgotten).
pub async fn set_endpoint_disabled(
    c: &mut Conn,
    id: i64,
    disabled: Option<(DateTime<Utc>, &str)>,
) -> Result<()> {
    sqlx::query(
        "UPDATE event_hook_endpoints SET disabled_at = $1, disabled_reason = $2, failing_since = NULL WHERE id = $3",
    )
    .bind(disabled.map(|(at, _)| ms(at)))
    .bind(disabled.map(|(_, r)| r))
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Records how an endpoint's last batch went: a success ends its failure
/// streak; a failure starts one unless one is running. Returns the start
/// of the streak (`None` after a success).
pub async fn mark_endpoint(
    c: &mut Conn,
    id: i64,
    succeeded: bool,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    let since: Option<i64> = sqlx::query_scalar(
        "UPDATE event_hook_endpoints
         SET failing_since = CASE WHEN $1 = 1 THEN NULL ELSE COALESCE(failing_since, $2) END
         WHERE id = $3 RETURNING failing_since",
    )
    .bind(i64::from(succeeded))
    .bind(ms(now))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .flatten();
    Ok(opt_from_ms(since))
}

/// A claimed delivery with what its body and signature need.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub claim_token: String,
    pub endpoint_id: i64,
    pub event: String,
    pub source: Source,
    pub unit_id: i64,
    pub participant_id: ParticipantId,
    pub participant_ref: Option<String>,
    pub appointment_id: Option<i64>,
    pub appointment_ref: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub attempts: i64,
    pub retry_from: DateTime<Utc>,
    pub url: String,
    pub secret: String,
    /// The secret before the last rotation and until when it also signs.
    pub previous_secret: Option<(String, DateTime<Utc>)>,
    pub include_text: bool,
}

const CLAIM_DELIVERIES_SQL: &str = "UPDATE event_hook_deliveries SET lease_owner = $1, claim_token = $2, lease_until = $3
         WHERE id IN (
             SELECT d.id FROM event_hook_deliveries d
             JOIN event_hook_endpoints e ON e.id = d.endpoint_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= $4
               AND (d.lease_until IS NULL OR d.lease_until <= $4)
               AND e.disabled_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM event_hook_deliveries o
                               WHERE o.endpoint_id = d.endpoint_id AND o.participant_id = d.participant_id
                                 AND o.status = 'pending' AND o.id < d.id)
             ORDER BY d.id LIMIT $5)
         AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $4)";

const CLAIMED_DELIVERIES_SQL: &str =
    "SELECT d.id, d.claim_token, d.endpoint_id, d.event, d.source, d.source_id, d.participant_id,
                d.appointment_id, d.occurred_at, d.attempts, d.retry_from,
                e.url, e.secret, e.previous_secret, e.previous_until, e.include_text, p.unit_id, p.external_ref AS p_ref,
                a.external_ref AS a_ref, j.kind AS j_kind, j.detail AS j_detail, t.kind AS t_kind
         FROM event_hook_deliveries d
         JOIN event_hook_endpoints e ON e.id = d.endpoint_id
         JOIN participants p ON p.id = d.participant_id
         LEFT JOIN appointments a ON a.id = d.appointment_id
         LEFT JOIN journal j ON d.source = 'journal' AND j.id = d.source_id
         LEFT JOIN tasks t ON d.source = 'task' AND t.id = d.source_id
         WHERE d.claim_token = $1 ORDER BY d.id";

/// Claims up to `limit` due deliveries of enabled endpoints for `owner`
/// until `lease_until`: the earliest pending one of each participant and
/// endpoint at most. On PostgreSQL a row another instance claimed
/// meanwhile fails the outer condition when re-checked after its lock, so
/// no row is claimed twice; SQLite has one writer.
pub async fn claim(
    db: &Db,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let rows: Vec<ClaimedRow> = super::claim_leased(
        db,
        CLAIM_DELIVERIES_SQL,
        CLAIMED_DELIVERIES_SQL,
        owner,
        now,
        lease_until,
        limit,
    )
    .await?;
    Ok(rows.into_iter().map(Claimed::from).collect())
}

/// A claimed delivery joined with its endpoint, participant, appointment
/// and source, as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    claim_token: String,
    endpoint_id: i64,
    event: String,
    source: String,
    source_id: i64,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    appointment_id: Option<i64>,
    occurred_at: i64,
    attempts: i64,
    retry_from: i64,
    url: String,
    secret: String,
    previous_secret: Option<String>,
    previous_until: Option<i64>,
    include_text: i64,
    unit_id: i64,
    p_ref: Option<String>,
    a_ref: Option<String>,
    j_kind: Option<String>,
    j_detail: Option<String>,
    t_kind: Option<String>,
}

impl From<ClaimedRow> for Claimed {
    fn from(r: ClaimedRow) -> Claimed {
        let source = if r.source == "task" {
            Source::Task {
                id: r.source_id,
                kind: r.t_kind.unwrap_or_default(),
            }
        } else {
            Source::Journal {
                kind: r.j_kind.unwrap_or_default(),
                detail: r
                    .j_detail
                    .and_then(|d| serde_json::from_str(&d).ok())
                    .unwrap_or(serde_json::Value::Null),
            }
        };
        Claimed {
            id: r.id,
            claim_token: r.claim_token,
            endpoint_id: r.endpoint_id,
            event: r.event,
            source,
            unit_id: r.unit_id,
            participant_id: r.participant_id,
            participant_ref: r.p_ref,
            appointment_id: r.appointment_id,
            appointment_ref: r.a_ref,
            occurred_at: from_ms(r.occurred_at),
            attempts: r.attempts,
            retry_from: from_ms(r.retry_from),
            url: r.url,
            secret: r.secret,
            previous_secret: r.previous_secret.zip(r.previous_until.map(from_ms)),
            include_text: r.include_text != 0,
        }
    }
}

/// How an attempt ended, as written to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Delivered,
    /// Pending again, due then.
    Retry(DateTime<Utc>),
    /// Given up.
    Failed,
}

/// Records an attempt of a claimed row (only while the claim is this
/// one's). `error` is a closed word (`timeout`, `connect`, `status`),
/// never the receiver's answer. Returns whether the row was still held.
pub async fn finish(
    c: &mut Conn,
    id: i64,
    claim_token: &str,
    how: Finish,
    code: Option<u16>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (status, next, delivered) = match how {
        Finish::Delivered => ("delivered", None, Some(ms(now))),
        Finish::Retry(t) => ("pending", Some(ms(t)), None),
        Finish::Failed => ("failed", None, None),
    };
    let n = sqlx::query(
        "UPDATE event_hook_deliveries
         SET status = $1, attempts = attempts + 1, next_attempt_at = COALESCE($2, next_attempt_at),
             delivered_at = $3, last_attempt_at = $4, last_status_code = $5, last_error = $6,
             lease_until = NULL, lease_owner = NULL, claim_token = NULL
         WHERE id = $7 AND claim_token = $8",
    )
    .bind(status)
    .bind(next)
    .bind(delivered)
    .bind(ms(now))
    .bind(code.map(i64::from))
    .bind(error)
    .bind(id)
    .bind(claim_token)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Queues a delivery again, now, with a new day of retries; the same
/// `webhook-id`. Returns whether it exists.
pub async fn resend(c: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE event_hook_deliveries
         SET status = 'pending', next_attempt_at = $1, retry_from = $1, delivered_at = NULL,
             lease_until = NULL, lease_owner = NULL, claim_token = NULL
         WHERE id = $2",
    )
    .bind(ms(now))
    .bind(id)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The endpoint a delivery goes to.
pub async fn delivery_endpoint(c: &mut Conn, id: i64) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT endpoint_id FROM event_hook_deliveries WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?,
    )
}

/// A delivery as the admin page lists it: no body, no text.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub endpoint_id: i64,
    pub event: String,
    pub participant_id: ParticipantId,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
}

/// The newest `limit` deliveries of a unit's endpoints (every unit's with
/// `None`), newest first.
pub async fn recent(c: &mut Conn, unit: Option<UnitId>, limit: i64) -> Result<Vec<Delivery>> {
    let rows = sqlx::query_as::<_, DeliveryRow>(
        "SELECT d.id, d.endpoint_id, d.event, d.participant_id, d.status, d.attempts, d.last_status_code,
                d.last_error, d.created_at, d.last_attempt_at, d.next_attempt_at
         FROM event_hook_deliveries d JOIN event_hook_endpoints e ON e.id = d.endpoint_id
         WHERE ($1 IS NULL OR e.unit_id = $1)
         ORDER BY d.id DESC LIMIT $2",
    )
    .bind(unit.map(UnitId::get))
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(Delivery::from).collect())
}

/// A [`Delivery`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    endpoint_id: i64,
    event: String,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    status: String,
    attempts: i64,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    last_attempt_at: Option<i64>,
    next_attempt_at: i64,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Delivery {
        Delivery {
            id: r.id,
            endpoint_id: r.endpoint_id,
            event: r.event,
            participant_id: r.participant_id,
            status: r.status,
            attempts: r.attempts,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            created_at: from_ms(r.created_at),
            last_attempt_at: opt_from_ms(r.last_attempt_at),
            next_attempt_at: from_ms(r.next_attempt_at),
        }
    }
}

/// The earliest time a pending delivery of an enabled endpoint is due,
/// for the worker's sleep.
pub async fn next_due(db: &Db) -> Result<Option<DateTime<Utc>>> {
    let t: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(d.next_attempt_at) FROM event_hook_deliveries d
         JOIN event_hook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND e.disabled_at IS NULL",
    )
    .fetch_one(&db.pool)
    .await?;
    Ok(opt_from_ms(t))
}

/// Deliveries by status (`pending`, `delivered`, `failed`), for the
/// benchmark, the tests and the page's summary.
pub async fn counts(c: &mut Conn, endpoint: i64) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT status, COUNT(*) AS n FROM event_hook_deliveries WHERE endpoint_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(endpoint)
    .fetch_all(&mut *c)
    .await?)
}

/// A participant's reference in the unit's case system.
pub async fn set_participant_ref(
    c: &mut Conn,
    p: ParticipantId,
    external_ref: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET external_ref = $1 WHERE id = $2")
        .bind(external_ref)
        .bind(p.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn participant_ref(c: &mut Conn, p: ParticipantId) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT external_ref FROM participants WHERE id = $1")
            .bind(p.get())
            .fetch_optional(&mut *c)
            .await?
            .flatten(),
    )
}

/// Puts `secret` in place and keeps the one it replaces signing until
/// `previous_until`. A rotation during an earlier one's overlap ends that
/// overlap: only the secret just replaced signs beside the new one.
pub async fn rotate_secret(
    c: &mut Conn,
    id: i64,
    secret: &str,
    previous_until: DateTime<Utc>,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE event_hook_endpoints
         SET previous_secret = secret, previous_until = $1, secret = $2 WHERE id = $3",
    )
    .bind(ms(previous_until))
    .bind(secret)
    .bind(id)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if done == 0 {
        return Err(crate::error::Error::not_found(format!("event hook {id}")));
    }
    Ok(())
}

/// An endpoint switched on again: its waiting deliveries are due now, with
/// a new day of retries.
pub async fn restart_pending(c: &mut Conn, endpoint: i64, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE event_hook_deliveries SET next_attempt_at = $1, retry_from = $1
         WHERE endpoint_id = $2 AND status = 'pending'",
    )
    .bind(ms(now))
    .bind(endpoint)
    .execute(&mut *c)
    .await?;
    Ok(())
}
