//! A unit's own wording of the reminder and summons texts (issue 23):
//! `set_unit_template` stores a checked [`TemplateText`], and
//! `reset_unit_template` removes it so the default applies again. Each is
//! one transaction with its `settings.template` audit row (old and new
//! text), like the other unit settings (`engine::settings`); no journal
//! entry, since the case-record journal is per participant and this
//! changes a unit. The dispatcher reads the override with its claim and
//! uses it from the next message on.

use super::{Actor, Engine};
use crate::domain::template::{TemplateKey, TemplateText};
use crate::domain::{Language, UnitId};
use crate::error::Result;
use crate::store::{audit, templates, units};
use chrono::{DateTime, Utc};
use serde_json::json;

impl Engine {
    /// Sets a unit's wording of one message in one language (audited as
    /// `settings.template`). The text was checked when it was parsed.
    pub async fn set_unit_template(
        &self,
        unit: UnitId,
        text: &TemplateText,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        units::get(&mut tx, unit).await?;
        let (key, lang) = (text.key(), text.lang());
        let before = templates::get(&mut tx, unit, key, lang).await?;
        if before.as_ref().is_some_and(|b| b.body == text.body()) {
            tx.commit().await?;
            return Ok(());
        }
        templates::set(&mut tx, unit, key, lang, text.body(), now, actor.as_str()).await?;
        let from = before.map(|b| b.body);
        audit_change(
            &mut tx,
            actor,
            now,
            (unit, key, lang),
            from,
            Some(text.body()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a unit's wording of one message in one language: the
    /// default applies again (audited as `settings.template` with `to`
    /// null). Whether there was one to remove; nothing is written if not.
    pub async fn reset_unit_template(
        &self,
        unit: UnitId,
        key: TemplateKey,
        lang: Language,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        units::get(&mut tx, unit).await?;
        let Some(before) = templates::get(&mut tx, unit, key, lang).await? else {
            tx.commit().await?;
            return Ok(false);
        };
        templates::delete(&mut tx, unit, key, lang).await?;
        audit_change(
            &mut tx,
            actor,
            now,
            (unit, key, lang),
            Some(before.body),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Audits a change of a unit's wording (`settings.template`): from and to
/// the unit's own text, `None` for the default.
async fn audit_change(
    c: &mut crate::store::Conn,
    actor: &Actor,
    now: DateTime<Utc>,
    (unit, key, lang): (UnitId, TemplateKey, Language),
    from: Option<String>,
    to: Option<&str>,
) -> Result<()> {
    audit::append(
        c,
        now,
        actor.as_str(),
        "settings.template",
        &format!("unit:{unit}"),
        json!({ "key": key.as_str(), "lang": lang.as_str(), "from": from, "to": to }),
    )
    .await
}
