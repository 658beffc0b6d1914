//! Protected identity (skyddad identitet, migration 0014): the flag on the
//! participant and the staff named to see them. The rule is
//! `domain::access` (`case_access`, `shows`); this only reads and writes.

use super::{Conn, ms};
use crate::domain::{ParticipantId, StaffId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// The staff named for a participant, by id.
pub async fn named(c: &mut Conn, p: ParticipantId) -> Result<Vec<StaffId>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT staff_id FROM protected_staff WHERE participant_id = $1 ORDER BY staff_id",
    )
    .bind(p.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(ids.into_iter().map(StaffId::from_db).collect())
}

/// The protected participants `viewer` may not see (every protected one
/// for `None`: an API token or the CLI is no named person). Lists, the
/// calendar, searches, exports and tallies leave these out.
pub async fn hidden_for(c: &mut Conn, viewer: Option<StaffId>) -> Result<HashSet<ParticipantId>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM participants WHERE protected <> 0
         AND id NOT IN (SELECT participant_id FROM protected_staff WHERE staff_id = $1)",
    )
    .bind(viewer.map_or(0, StaffId::get))
    .fetch_all(&mut *c)
    .await?;
    Ok(ids.into_iter().map(ParticipantId::from_db).collect())
}

/// Every protected participant with the staff named for them (the log
/// review flags views of these).
pub async fn all(c: &mut Conn) -> Result<HashMap<ParticipantId, Vec<StaffId>>> {
    let mut out: HashMap<ParticipantId, Vec<StaffId>> = HashMap::new();
    for id in sqlx::query_scalar::<_, i64>("SELECT id FROM participants WHERE protected <> 0")
        .fetch_all(&mut *c)
        .await?
    {
        out.insert(ParticipantId::from_db(id), Vec::new());
    }
    for (p, staff) in sqlx::query_as::<_, (i64, i64)>(
        "SELECT participant_id, staff_id FROM protected_staff ORDER BY staff_id",
    )
    .fetch_all(&mut *c)
    .await?
    {
        if let Some(v) = out.get_mut(&ParticipantId::from_db(p)) {
            v.push(StaffId::from_db(staff));
        }
    }
    Ok(out)
}

/// Marks a participant protected or not and names who may see them (the
/// list replaces the one before; empty when not protected).
pub async fn set(
    c: &mut Conn,
    p: ParticipantId,
    protected: bool,
    named: &[StaffId],
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET protected = $1 WHERE id = $2")
        .bind(i64::from(protected))
        .bind(p.get())
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM protected_staff WHERE participant_id = $1")
        .bind(p.get())
        .execute(&mut *c)
        .await?;
    if protected {
        for s in named {
            sqlx::query(
                "INSERT INTO protected_staff (participant_id, staff_id, added_at) VALUES ($1, $2, $3)",
            )
            .bind(p.get())
            .bind(s.get())
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
        }
    }
    Ok(())
}
