//! A unit's own wording of the reminder and summons texts, per language
//! (`unit_templates`, migration 0012). The text is stored as typed and
//! checked; readers parse it back into a `domain::template::TemplateText`.
//! The dispatcher does not read this module: its claim query joins the
//! row it needs (`store::outbox::claim`).

use super::{Conn, Parsed, from_ms, ms};
use crate::domain::template::TemplateKey;
use crate::domain::{Language, UnitId};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};

/// One stored override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTemplate {
    pub key: TemplateKey,
    pub lang: Language,
    pub body: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// A `unit_templates` row as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct TemplateRow {
    key: String,
    lang: Parsed<Language>,
    body: String,
    updated_at: i64,
    updated_by: String,
}

impl TryFrom<TemplateRow> for StoredTemplate {
    type Error = Error;
    fn try_from(r: TemplateRow) -> Result<StoredTemplate> {
        Ok(StoredTemplate {
            key: r.key.parse().map_err(Error::Invalid)?,
            lang: r.lang.0,
            body: r.body,
            updated_at: from_ms(r.updated_at),
            updated_by: r.updated_by,
        })
    }
}

/// Every override of a unit.
pub async fn list(c: &mut Conn, unit: UnitId) -> Result<Vec<StoredTemplate>> {
    let rows = sqlx::query_as::<_, TemplateRow>(
        "SELECT key, lang, body, updated_at, updated_by FROM unit_templates
         WHERE unit_id = $1 ORDER BY key, lang",
    )
    .bind(unit.get())
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter().map(StoredTemplate::try_from).collect()
}

/// One override, if the unit has it.
pub async fn get(
    c: &mut Conn,
    unit: UnitId,
    key: TemplateKey,
    lang: Language,
) -> Result<Option<StoredTemplate>> {
    let row = sqlx::query_as::<_, TemplateRow>(
        "SELECT key, lang, body, updated_at, updated_by FROM unit_templates
         WHERE unit_id = $1 AND key = $2 AND lang = $3",
    )
    .bind(unit.get())
    .bind(key.as_str())
    .bind(lang.as_str())
    .fetch_optional(&mut *c)
    .await?;
    row.map(StoredTemplate::try_from).transpose()
}

/// Stores (or replaces) an override.
pub async fn set(
    c: &mut Conn,
    unit: UnitId,
    key: TemplateKey,
    lang: Language,
    body: &str,
    now: DateTime<Utc>,
    by: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO unit_templates (unit_id, key, lang, body, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (unit_id, key, lang) DO UPDATE
         SET body = excluded.body, updated_at = excluded.updated_at,
             updated_by = excluded.updated_by",
    )
    .bind(unit.get())
    .bind(key.as_str())
    .bind(lang.as_str())
    .bind(body)
    .bind(ms(now))
    .bind(by)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Removes an override: the default applies again. Whether there was one.
pub async fn delete(c: &mut Conn, unit: UnitId, key: TemplateKey, lang: Language) -> Result<bool> {
    let n = sqlx::query("DELETE FROM unit_templates WHERE unit_id = $1 AND key = $2 AND lang = $3")
        .bind(unit.get())
        .bind(key.as_str())
        .bind(lang.as_str())
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(n > 0)
}
