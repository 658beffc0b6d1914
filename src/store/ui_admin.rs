//! The admin pages of the staff web UI: switching staff accounts on and
//! off, caseload sizes for the staff list, and reading the audit log.

use super::{Conn, from_ms};
use crate::domain::{Role, StaffId, UnitId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Sets whether a staff member may log in.
pub async fn set_active(c: &mut Conn, id: StaffId, active: bool) -> Result<()> {
    sqlx::query("UPDATE staff SET active = $1 WHERE id = $2")
        .bind(i64::from(active))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn set_role(c: &mut Conn, id: StaffId, role: Role, unit: Option<UnitId>) -> Result<()> {
    sqlx::query("UPDATE staff SET role = $1, unit_id = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(unit.map(UnitId::get))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// How many participants (not erased, not discharged) each lots is
/// responsible for.
pub async fn caseloads(c: &mut Conn) -> Result<HashMap<StaffId, i64>> {
    let rows = sqlx::query_as::<_, (i64, i64)>(
        "SELECT lots_id, COUNT(*) AS n FROM participants
         WHERE lots_id IS NOT NULL AND erased_at IS NULL AND status <> 'discharged'
         GROUP BY lots_id",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(lots, n)| (StaffId::from_db(lots), n))
        .collect())
}

/// One row of the audit log.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// A row of `SELECT id, at, actor, action, target, detail FROM audit` as
/// the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
pub(super) struct StoredAudit {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

impl From<StoredAudit> for AuditRow {
    fn from(r: StoredAudit) -> AuditRow {
        AuditRow {
            id: r.id,
            at: from_ms(r.at),
            actor: r.actor,
            action: r.action,
            target: r.target,
            detail: r.detail,
        }
    }
}

/// A filter on the audit log: an exact actor (`staff:3`, `system`) and an
/// action prefix (`case` finds `case.view` and `case.denied`).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Only rows older than this id (the next page).
    pub before: Option<i64>,
}

/// Up to `limit` rows, newest first.
pub async fn audit_page(c: &mut Conn, f: &AuditFilter, limit: i64) -> Result<Vec<AuditRow>> {
    let mut clauses = vec!["1 = 1".to_string()];
    let mut strings = Vec::new();
    if let Some(a) = &f.actor {
        strings.push(a.clone());
        clauses.push(format!("actor = ${}", strings.len()));
    }
    if let Some(a) = &f.action {
        let clean: String = a
            .chars()
            .filter(|c| !matches!(c, '%' | '_' | '\\'))
            .collect();
        strings.push(format!("{clean}%"));
        clauses.push(format!("action LIKE ${}", strings.len()));
    }
    let n = strings.len();
    let sql = format!(
        "SELECT id, at, actor, action, target, detail FROM audit
         WHERE {} AND id < ${} ORDER BY id DESC LIMIT ${}",
        clauses.join(" AND "),
        n + 1,
        n + 2
    );
    let mut q = sqlx::query_as::<_, StoredAudit>(sqlx::AssertSqlSafe(sql));
    for s in strings {
        q = q.bind(s);
    }
    let rows = q
        .bind(f.before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    Ok(rows.into_iter().map(AuditRow::from).collect())
}
