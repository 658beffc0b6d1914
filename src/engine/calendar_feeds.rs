//! Calendar feeds: a lots subscribes in Outlook or a phone to their
//! caseload's appointments, a coordinator to the unit's group activities,
//! through a secret link of their own (`/calendar/<secret>.ics`).
//!
//! A link is made and revoked from the account page; a new link revokes
//! the earlier one of the same kind. Every fetch is a read of personal
//! data (first names and times) and is audited as `calendar.fetch` by the
//! link's owner. A fetch checks the owner again: a switched-off account,
//! or a role that no longer allows the feed, gets nothing, as does a
//! revoked or unknown link (the web answers 404 to all of them alike).

use super::reads::Viewed;
use super::{Actor, Engine};
use crate::domain::calendar_feed::{self, DAYS_AHEAD, DAYS_BACK, Feed, FeedEvent, FeedScope};
use crate::domain::{Language, StaffId};
use crate::error::{Error, Result};
use crate::store::calendar_feeds::{self, FeedLink};
use crate::store::{audit, from_ms, staff, units};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

impl Engine {
    /// Makes a new feed link of `scope` for `who` and returns its secret,
    /// shown once. The person's earlier link of the scope stops working in
    /// the same transaction. Audited as `calendar.link`.
    pub async fn create_calendar_feed(
        &self,
        who: StaffId,
        scope: FeedScope,
        language: Language,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let mut tx = self.db.begin().await?;
        let person = staff::get(&mut tx, who).await?;
        if !scope.allowed(person.role, person.unit_id.is_some()) {
            return Err(Error::invalid(format!(
                "a {} cannot subscribe to the {} calendar",
                person.role.as_str(),
                scope.as_str()
            )));
        }
        let secret = super::auth::random_secret();
        let replaced = calendar_feeds::revoke(&mut tx, who, scope, now).await?;
        calendar_feeds::insert(
            &mut tx,
            who,
            scope,
            language,
            &super::auth::token_hash(&secret),
            now,
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "calendar.link",
            &format!("staff:{who}"),
            json!({ "scope": scope.as_str(), "replaced": replaced }),
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Revokes the person's link of `scope`; `false` when there was none.
    /// Audited as `calendar.revoke`.
    pub async fn revoke_calendar_feed(
        &self,
        who: StaffId,
        scope: FeedScope,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let n = calendar_feeds::revoke(&mut tx, who, scope, now).await?;
        if n > 0 {
            audit::append(
                &mut tx,
                now,
                actor.as_str(),
                "calendar.revoke",
                &format!("staff:{who}"),
                json!({ "scope": scope.as_str() }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The person's live links (for the account page; no secrets), with
    /// the time zone their times are shown in (the unit's).
    pub async fn calendar_feeds(&self, who: StaffId) -> Result<(Vec<FeedLink>, chrono_tz::Tz)> {
        let mut c = self.db.conn().await?;
        let links = calendar_feeds::live_for(&mut c, who).await?;
        let unit_id = staff::get(&mut c, who).await?.unit_id;
        let unit = unit_of(&mut c, unit_id).await?;
        let tz = zone(unit.as_ref());
        Ok((links, tz))
    }

    /// The feed behind `secret` as `text/calendar`, or `None` when the link
    /// is unknown, revoked, or its owner may no longer have it.
    pub async fn calendar_feed(&self, secret: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        let hash = super::auth::token_hash(secret);
        let mut c = self.db.conn().await?;
        let Some(link) = calendar_feeds::by_hash(&mut c, &hash).await? else {
            return Ok(None);
        };
        let person = staff::get(&mut c, link.staff_id).await?;
        if !person.active || !link.scope.allowed(person.role, person.unit_id.is_some()) {
            return Ok(None);
        }
        drop(c);
        let actor = Actor(format!("staff:{}:calendar", person.id));
        let (from, to) = (
            now - Duration::days(DAYS_BACK),
            now + Duration::days(DAYS_AHEAD),
        );
        let lang = link.language;
        let text = self
            .read_audited(&actor, now, async |c| {
                let unit = unit_of(c, person.unit_id).await?;
                let tz = zone(unit.as_ref());
                let (name, events) = match (link.scope, unit) {
                    (FeedScope::UnitActivities, Some(unit)) => {
                        let rows = calendar_feeds::unit_activities(c, unit.id, from, to).await?;
                        let events = rows
                            .into_iter()
                            .map(|r| FeedEvent {
                                uid: format!("activity-{}-{}@paminn", r.series_id, r.starts_at),
                                sequence: r.plan_version,
                                starts_at: from_ms(r.starts_at),
                                duration_min: r.duration_min,
                                summary: r.group_name,
                                description: Some(crate::texts::render(
                                    lang,
                                    "calendar-activity-booked",
                                    &[("count", r.booked.to_string())],
                                )),
                            })
                            .collect::<Vec<_>>();
                        let name = crate::texts::render(
                            lang,
                            "calendar-name-activities",
                            &[("unit", unit.name)],
                        );
                        (name, events)
                    }
                    _ => {
                        let rows = calendar_feeds::caseload(c, person.id, from, to).await?;
                        let events = rows
                            .into_iter()
                            .map(|r| FeedEvent {
                                uid: format!("appointment-{}@paminn", r.id),
                                sequence: r.plan_version,
                                starts_at: from_ms(r.starts_at),
                                duration_min: r.duration_min,
                                summary: crate::texts::render(
                                    lang,
                                    "calendar-caseload-summary",
                                    &[
                                        ("name", r.first_name),
                                        (
                                            "kind",
                                            crate::texts::render(
                                                lang,
                                                &format!("staff-kind-{}", r.kind.as_str()),
                                                &[],
                                            ),
                                        ),
                                    ],
                                ),
                                description: None,
                            })
                            .collect::<Vec<_>>();
                        (
                            crate::texts::render(lang, "calendar-name-caseload", &[]),
                            events,
                        )
                    }
                };
                calendar_feeds::touch(c, link.id, now).await?;
                let text = calendar_feed::render(&Feed {
                    name: &name,
                    tz,
                    stamp: now,
                    from,
                    to,
                    events: &events,
                });
                let v = Viewed::new("calendar.fetch", format!("staff:{}", person.id))
                    .with(json!({ "scope": link.scope.as_str(), "events": events.len() }));
                Ok((text, v))
            })
            .await?;
        Ok(Some(text))
    }
}

/// A person's unit, when they have one.
async fn unit_of(
    c: &mut crate::store::Conn,
    unit: Option<crate::domain::UnitId>,
) -> Result<Option<units::Unit>> {
    Ok(match unit {
        Some(u) => Some(units::get(c, u).await?),
        None => None,
    })
}

/// The zone a person's calendar is written in: their unit's, or Sweden's
/// for a person without a unit.
fn zone(unit: Option<&units::Unit>) -> chrono_tz::Tz {
    unit.map_or(chrono_tz::Europe::Stockholm, |u| u.time_zone)
}
