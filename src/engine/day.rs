//! A day's appointments: one read model for the staff UI's "Idag" page and
//! the bot's `/idag`, so both say the same about the same appointment. A
//! row is the appointment (when, what, who), its reply and attendance, and
//! how far its reminders got: the most telling state of its reminder and
//! summons rows, failed > delivered > sent > planned
//! ([`Delivery`]; cancelled and suppressed rows count as nothing sent).

use super::Engine;
use crate::domain::StaffId;
use crate::domain::schedule::resolve_local;
use crate::error::Result;
use crate::store::Conn;
pub use crate::store::ui_today::{DayRow, Delivery, Scope, Slot};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// The most rows `/idag` lists.
pub const MAX_TODAY_ROWS: i64 = 200;

/// Appointments of `scope` starting in `[from, to)`, oldest first, at most
/// `limit`; with `unrecorded_only`, only scheduled ones without attendance;
/// marked when a "which time?" question open at `now` is about them.
/// In the caller's connection, for a read that is audited with others
/// ([`Engine::read_audited`]).
pub async fn rows(
    c: &mut Conn,
    scope: Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    unrecorded_only: bool,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<DayRow>> {
    let mut rows =
        crate::store::ui_today::day_rows(c, scope, from, to, unrecorded_only, limit).await?;
    // A reply that fitted two of them waits for "1" or "2": both say so.
    // (No rows, nothing to mark: the page's empty lists ask nothing more.)
    let open = if rows.is_empty() {
        Vec::new()
    } else {
        crate::store::inbound::open_choices(c, now).await?
    };
    if !open.is_empty() {
        for r in &mut rows {
            r.awaiting_choice = open
                .iter()
                .find(|(a, _)| *a == r.slot.id)
                .map(|(_, reply)| *reply);
        }
    }
    Ok(rows)
}

/// Local midnight of `day` in `tz`, as an instant.
pub fn midnight(day: chrono::NaiveDate, tz: Tz) -> DateTime<Utc> {
    resolve_local(day.and_time(Default::default()), tz)
}

impl Engine {
    /// [`rows`] in a connection of its own.
    pub async fn day(
        &self,
        scope: Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        unrecorded_only: bool,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<DayRow>> {
        let mut c = self.db.conn().await?;
        rows(&mut c, scope, from, to, unrecorded_only, limit, now).await
    }

    /// `/idag`: today's appointments (on the lots's unit's calendar) of the
    /// participants a lots is responsible for: [`Engine::day`] of their
    /// caseload from midnight to midnight.
    pub async fn today_for_staff(
        &self,
        s: StaffId,
        now: DateTime<Utc>,
    ) -> Result<(Tz, Vec<DayRow>)> {
        let tz = {
            let mut c = self.db.conn().await?;
            let st = crate::store::staff::get(&mut c, s).await?;
            match st.unit_id {
                Some(u) => crate::store::units::get(&mut c, u).await?.time_zone,
                None => chrono_tz::Europe::Stockholm,
            }
        };
        let day = now.with_timezone(&tz).date_naive();
        let (start, end) = (midnight(day, tz), midnight(day + Duration::days(1), tz));
        let mut list = self
            .day(Scope::Caseload(s), start, end, false, MAX_TODAY_ROWS, now)
            .await?;
        // A protected participant the lots is not named for is not theirs
        // to see (`domain::access::shows`).
        let hidden = {
            let mut c = self.db.conn().await?;
            crate::store::protection::hidden_for(&mut c, Some(s)).await?
        };
        list.retain(|r| !hidden.contains(&r.slot.participant_id));
        Ok((tz, list))
    }
}
