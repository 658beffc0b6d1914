//! Reads and the one write the staff UI's participant pages need beyond
//! the other store modules: the caseload list with each lots's name, the
//! active lotsar one can pick, staff names for the timeline, and the
//! discreet flag.

use super::{Conn, Parsed, ms};
use crate::domain::{ParticipantId, ParticipantStatus, PhoneNumber, StaffId, UnitId};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// One line of the participants list.
#[derive(Debug, Clone)]
pub struct ListRow {
    pub id: ParticipantId,
    pub unit_id: UnitId,
    pub first_name: String,
    pub phone: Option<PhoneNumber>,
    pub status: ParticipantStatus,
    pub lots_id: Option<StaffId>,
    pub lots_name: Option<String>,
}

/// Participants not erased, in `unit` (all units with `None`) and, with
/// `lots`, only that lots's caseload. By first name.
pub async fn list(
    c: &mut Conn,
    unit: Option<UnitId>,
    lots: Option<StaffId>,
) -> Result<Vec<ListRow>> {
    let rows = sqlx::query_as::<_, ListedRow>(
        "SELECT p.id, p.unit_id, p.first_name, p.phone, p.status, p.lots_id, s.name AS lots_name
         FROM participants p LEFT JOIN staff s ON s.id = p.lots_id
         WHERE p.erased_at IS NULL
           AND ($1 IS NULL OR p.unit_id = $1)
           AND ($2 IS NULL OR p.lots_id = $2)
         ORDER BY p.first_name, p.id",
    )
    .bind(unit.map(UnitId::get))
    .bind(lots.map(StaffId::get))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(ListRow::from).collect())
}

/// A [`ListRow`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(try_from = "i64")]
    id: ParticipantId,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    first_name: String,
    phone: Option<String>,
    status: Parsed<ParticipantStatus>,
    lots_id: Option<i64>,
    lots_name: Option<String>,
}

impl From<ListedRow> for ListRow {
    fn from(r: ListedRow) -> ListRow {
        ListRow {
            id: r.id,
            unit_id: r.unit_id,
            first_name: r.first_name,
            phone: r.phone.map(PhoneNumber::from_db),
            status: r.status.0,
            lots_id: r.lots_id.map(StaffId::from_db),
            lots_name: r.lots_name,
        }
    }
}

/// An active lots one can make responsible for a participant.
#[derive(Debug, Clone)]
pub struct LotsOption {
    pub id: StaffId,
    pub name: String,
    pub unit_id: UnitId,
    pub unit_name: String,
}

/// Active staff with the lots role, in `unit` (every unit with `None`).
pub async fn active_lotsar(c: &mut Conn, unit: Option<UnitId>) -> Result<Vec<LotsOption>> {
    let rows = sqlx::query_as::<_, LotsOptionRow>(
        "SELECT s.id, s.name, s.unit_id, u.name AS unit_name
         FROM staff s JOIN units u ON u.id = s.unit_id
         WHERE s.role = 'lots' AND s.active = 1 AND ($1 IS NULL OR s.unit_id = $1)
         ORDER BY u.name, s.name, s.id",
    )
    .bind(unit.map(UnitId::get))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(LotsOption::from).collect())
}

/// A [`LotsOption`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct LotsOptionRow {
    #[sqlx(try_from = "i64")]
    id: StaffId,
    name: String,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    unit_name: String,
}

impl From<LotsOptionRow> for LotsOption {
    fn from(r: LotsOptionRow) -> LotsOption {
        LotsOption {
            id: r.id,
            name: r.name,
            unit_id: r.unit_id,
            unit_name: r.unit_name,
        }
    }
}

/// A staff member's name, if there is one with this id.
pub async fn staff_name(c: &mut Conn, id: StaffId) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT name FROM staff WHERE id = $1")
        .bind(id.get())
        .fetch_optional(&mut *c)
        .await?)
}

pub async fn set_discreet(
    c: &mut Conn,
    id: ParticipantId,
    discreet: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET discreet = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(discreet))
        .bind(ms(now))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}
