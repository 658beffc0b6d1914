//! The case record beyond replies: attendance (recorded by staff only),
//! show-up and reply rates, the participant's data as one export (an
//! audited read, [`Engine::read_audited`]), and erasure.

use super::reads::Viewed;
use super::{Actor, Change, Engine};
use crate::domain::{
    AppointmentId, AppointmentStatus, Attendance, ParticipantId, ParticipantStatus, TaskKind,
};
use crate::error::{Error, Result};
use crate::store::{Conn, appointments, journal, ms, outbox, participants, tasks};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// Rates over one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    pub weeks: i64,
    /// Appointments with attendance recorded (excused ones left out).
    pub attendance_recorded: i64,
    pub attended: i64,
    /// attended / (attended + absent); `None` when nothing is recorded.
    pub show_up_rate: Option<f64>,
    /// Appointments a reminder asked about.
    pub asked: i64,
    pub replied: i64,
    pub reply_rate: Option<f64>,
}

impl Engine {
    /// Records attendance. Only staff do this; "kommer" is a promise.
    pub async fn record_attendance(
        &self,
        id: AppointmentId,
        a: Attendance,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<appointments::Appointment> {
        let mut tx = self.db.begin().await?;
        let out = record_attendance_in(&mut tx, id, a, actor, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Undoes a recording of attendance made by mistake (a wrong tap on
    /// Today): the attendance goes back to `to`, what it was before
    /// (`unknown` when nothing was recorded), journalled as
    /// `attendance_undone` and audited as `attendance.undo`. Tasks the
    /// recording closed stay closed. A cancelled appointment is a
    /// conflict.
    pub async fn undo_attendance(
        &self,
        id: AppointmentId,
        to: Attendance,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<appointments::Appointment> {
        let mut tx = self.db.begin().await?;
        let old = appointments::get(&mut tx, id).await?;
        if old.status == AppointmentStatus::Cancelled {
            return Err(Error::Conflict(format!("appointment {id} was cancelled")));
        }
        if old.attendance == to {
            return Ok(old);
        }
        appointments::restore_attendance(&mut tx, id, to, Some(actor.as_str()), now).await?;
        actor
            .record(
                &mut tx,
                now,
                Change {
                    participant: old.participant_id,
                    appointment: Some(id),
                    kind: "attendance_undone",
                    detail: json!({ "attendance": to, "undone": old.attendance }),
                    action: "attendance.undo",
                },
            )
            .await?;
        let a = appointments::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Show-up and reply rates over the last `weeks` weeks.
    pub async fn rates(&self, p: ParticipantId, weeks: i64, now: DateTime<Utc>) -> Result<Rates> {
        let from = ms(now - Duration::weeks(weeks));
        let r = sqlx::query(
            "SELECT
               COALESCE(SUM(CASE WHEN attendance IN ('attended','absent') THEN 1 ELSE 0 END), 0) AS recorded,
               COALESCE(SUM(CASE WHEN attendance = 'attended' THEN 1 ELSE 0 END), 0) AS attended,
               COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.appointment_id = a.id AND o.ask_reply = 1
                                   AND o.status IN ('sent','delivered')) THEN 1 ELSE 0 END), 0) AS asked,
               COALESCE(SUM(CASE WHEN reply <> 'none' AND EXISTS (SELECT 1 FROM outbox o WHERE o.appointment_id = a.id
                                   AND o.ask_reply = 1 AND o.status IN ('sent','delivered')) THEN 1 ELSE 0 END), 0) AS replied
             FROM appointments a
             WHERE a.participant_id = $1 AND a.status = 'scheduled' AND a.starts_at >= $2 AND a.starts_at <= $3",
        )
        .bind(p.get())
        .bind(from)
        .bind(ms(now))
        .fetch_one(&self.db.pool)
        .await?;
        // SUM over integer literals is BIGINT on PostgreSQL, INTEGER on SQLite.
        let get = |k: &str| -> Result<i64> { Ok(r.try_get::<i64, _>(k)?) };
        let (recorded, attended, asked, replied) = (
            get("recorded")?,
            get("attended")?,
            get("asked")?,
            get("replied")?,
        );
        let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
        Ok(Rates {
            weeks,
            attendance_recorded: recorded,
            attended,
            show_up_rate: ratio(attended, recorded),
            asked,
            replied,
            reply_rate: ratio(replied, asked),
        })
    }

    /// Everything stored about a participant, as one JSON document.
    pub async fn export(
        &self,
        id: ParticipantId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value> {
        self.read_audited(actor, now, async |c| {
            let doc = export_doc(c, id, now).await?;
            Ok((doc, Viewed::participant("participant.export", id)))
        })
        .await
    }

    /// Erases a discharged participant's personal data. Appointments,
    /// statuses and event kinds stay, anonymous, so the unit's counts hold.
    ///
    /// What goes, table by table (`tests/it/erasure.rs` writes a marker into
    /// every text column a participant's data reaches and scans the whole
    /// database for it afterwards): the participant's name, number, chat
    /// and phase; appointments' and series' place, with whom, notes,
    /// reasons and references; message texts, errors and gateway ids;
    /// replies' texts and the reason inside their stored intent (only the
    /// intent's kind stays); journal and task details; consents' staff
    /// names; pending questions, sandbox messages, link codes, Telegram
    /// buttons and the chat's wrong-code counter; current group
    /// memberships end.
    pub async fn erase(&self, id: ParticipantId, actor: &Actor, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let p = participants::get(&mut tx, id).await?;
        if p.status != ParticipantStatus::Discharged {
            return Err(Error::Conflict(format!(
                "participant {id} is {}; only discharged participants can be erased (set the status first)",
                p.status
            )));
        }
        if p.erased {
            return Ok(());
        }
        let chat: Option<String> =
            sqlx::query_scalar("SELECT telegram_chat_id FROM participants WHERE id = $1")
                .bind(id.get())
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "UPDATE participants SET first_name = '-', phone = NULL, telegram_chat_id = NULL,
                    phase = NULL, erased_at = $2, updated_at = $2 WHERE id = $1",
        )
        .bind(id.get())
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        // The journal is append-only except here: erasure is the one
        // sanctioned rewrite, and it keeps each event's kind and time.
        for sql in [
            "UPDATE appointments SET location = NULL, with_whom = NULL, internal_note = NULL,
                    reply_reason = NULL, external_ref = NULL WHERE participant_id = $1",
            "UPDATE outbox SET body = NULL, last_error = NULL, gateway_id = NULL WHERE participant_id = $1",
            "UPDATE inbound SET body = NULL, gateway_id = 'erased-' || CAST(id AS TEXT) WHERE participant_id = $1",
            "DELETE FROM sandbox_messages WHERE participant_id = $1",
            "UPDATE journal SET detail = '{}' WHERE participant_id = $1",
            "UPDATE tasks SET detail = '{}' WHERE participant_id = $1",
            "UPDATE consents SET recorded_by = '-', withdrawn_by = NULL WHERE participant_id = $1",
            "DELETE FROM pending_questions WHERE participant_id = $1",
            "UPDATE series SET location = NULL, with_whom = NULL, active = 0 WHERE participant_id = $1",
            // Buttons behind the participant's messages (their chat) and
            // behind attendance prompts about their appointments.
            "DELETE FROM telegram_callbacks WHERE outbox_id IN (SELECT id FROM outbox WHERE participant_id = $1)
                OR appointment_id IN (SELECT id FROM appointments WHERE participant_id = $1)",
            "DELETE FROM link_codes WHERE participant_id = $1",
        ] {
            sqlx::query(sql).bind(id.get()).execute(&mut *tx).await?;
        }
        sqlx::query(
            "UPDATE group_members SET left_at = $2 WHERE participant_id = $1 AND left_at IS NULL",
        )
        .bind(id.get())
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        // The chat's wrong-code counter is keyed by a hash of the chat id.
        if let Some(chat) = chat.as_deref().and_then(|c| c.parse::<i64>().ok()) {
            crate::store::telegram::clear_link_failures(
                &mut tx,
                &crate::domain::link::chat_key(chat),
            )
            .await?;
        }
        // A reply's stored intent keeps its kind (for the counts) and
        // nothing else: a reason given ("förhinder, sjuk") is health data.
        let intents = sqlx::query(
            "SELECT id, intent FROM inbound WHERE participant_id = $1 AND intent IS NOT NULL",
        )
        .bind(id.get())
        .fetch_all(&mut *tx)
        .await?;
        for r in intents {
            let doc: String = r.try_get("intent")?;
            let kept = serde_json::from_str::<serde_json::Value>(&doc)
                .ok()
                .and_then(|v| v.get("intent").filter(|k| k.is_string()).cloned())
                .map_or_else(|| json!({}), |k| json!({ "intent": k }));
            sqlx::query("UPDATE inbound SET intent = $1 WHERE id = $2")
                .bind(kept.to_string())
                .bind(r.try_get::<i64, _>("id")?)
                .execute(&mut *tx)
                .await?;
        }
        outbox::cancel_all_open_for_participant(&mut tx, id, "participant erased", now).await?;
        actor
            .record(
                &mut tx,
                now,
                Change {
                    participant: id,
                    appointment: None,
                    kind: "erased",
                    detail: json!({}),
                    action: "participant.erase",
                },
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// [`Engine::record_attendance`] in the caller's transaction (a tap on a
/// Telegram button uses its token in the same one).
pub(crate) async fn record_attendance_in(
    c: &mut Conn,
    id: AppointmentId,
    a: Attendance,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<appointments::Appointment> {
    if a == Attendance::Unknown {
        return Err(Error::invalid("attendance is attended, absent or excused"));
    }
    let old = appointments::get(&mut *c, id).await?;
    if old.status == AppointmentStatus::Cancelled {
        return Err(Error::Conflict(format!("appointment {id} was cancelled")));
    }
    if old.starts_at > now {
        return Err(Error::Conflict(format!(
            "appointment {id} has not started yet"
        )));
    }
    sqlx::query("UPDATE appointments SET attendance = $1, attendance_by = $2, attendance_at = $3, updated_at = $3 WHERE id = $4")
            .bind(a.as_str())
            .bind(actor.as_str())
            .bind(ms(now))
            .bind(id.get())
            .execute(&mut *c)
            .await?;
    // Whether they came is known now: silence before it needs nobody.
    let closed =
        tasks::close_answered(&mut *c, id, &[TaskKind::NoReply], actor.as_str(), now).await?;
    actor
        .record(
            &mut *c,
            now,
            Change {
                participant: old.participant_id,
                appointment: Some(id),
                kind: "attendance_recorded",
                detail: json!({ "attendance": a, "previous": old.attendance, "closed_tasks": closed }),
                action: "attendance.record",
            },
        )
        .await?;
    appointments::get(c, id).await
}

/// [`Engine::export`]'s document, read in `c`.
async fn export_doc(
    c: &mut Conn,
    id: ParticipantId,
    now: DateTime<Utc>,
) -> Result<serde_json::Value> {
    let p = participants::get(c, id).await?;
    let consent_rows = sqlx::query(
            "SELECT channels, given_at, recorded_by, expires_at, withdrawn_at FROM consents WHERE participant_id = $1 ORDER BY id",
        )
        .bind(id.get())
        .fetch_all(&mut *c)
        .await?;
    let consents: Vec<serde_json::Value> = consent_rows
            .iter()
            .map(|r| {
                json!({
                    "channels": r.try_get::<String, _>("channels").unwrap_or_default(),
                    "given_at": r.try_get::<i64, _>("given_at").ok().map(crate::store::from_ms),
                    "recorded_by": r.try_get::<String, _>("recorded_by").unwrap_or_default(),
                    "expires_at": r.try_get::<Option<i64>, _>("expires_at").ok().flatten().map(crate::store::from_ms),
                    "withdrawn_at": r.try_get::<Option<i64>, _>("withdrawn_at").ok().flatten().map(crate::store::from_ms),
                })
            })
            .collect();
    let inbound = sqlx::query("SELECT channel, body, received_at, intent FROM inbound WHERE participant_id = $1 ORDER BY id")
            .bind(id.get())
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|r| {
                json!({
                    "channel": r.try_get::<String, _>("channel").unwrap_or_default(),
                    "text": r.try_get::<Option<String>, _>("body").ok().flatten(),
                    "received_at": r.try_get::<i64, _>("received_at").ok().map(crate::store::from_ms),
                    "intent": r.try_get::<Option<String>, _>("intent").ok().flatten()
                        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok()),
                })
            })
            .collect::<Vec<_>>();
    // Groups the participant is or was a member of, with the dates.
    let groups = sqlx::query(
            "SELECT g.id, g.name, m.joined_at, m.left_at FROM group_members m
             JOIN activity_groups g ON g.id = m.group_id
             WHERE m.participant_id = $1 ORDER BY m.joined_at, g.id",
        )
        .bind(id.get())
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| {
            json!({
                "group_id": r.try_get::<i64, _>("id").ok(),
                "name": r.try_get::<String, _>("name").ok(),
                "joined_at": r.try_get::<i64, _>("joined_at").ok().map(crate::store::from_ms),
                "left_at": r.try_get::<Option<i64>, _>("left_at").ok().flatten().map(crate::store::from_ms),
            })
        })
        .collect::<Vec<_>>();
    // The participant's own recurring times (a group's are the group's).
    let series = sqlx::query(
        "SELECT id, kind, cron, time_zone, duration_min, location, with_whom, active, created_at
             FROM series WHERE participant_id = $1 ORDER BY id",
    )
    .bind(id.get())
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|r| {
        json!({
            "id": r.try_get::<i64, _>("id").ok(),
            "kind": r.try_get::<String, _>("kind").ok(),
            "cron": r.try_get::<String, _>("cron").ok(),
            "time_zone": r.try_get::<String, _>("time_zone").ok(),
            "duration_min": r.try_get::<i64, _>("duration_min").ok(),
            "location": r.try_get::<Option<String>, _>("location").ok().flatten(),
            "with_whom": r.try_get::<Option<String>, _>("with_whom").ok().flatten(),
            "active": r.try_get::<i64, _>("active").ok().map(|a| a != 0),
            "created_at": r.try_get::<i64, _>("created_at").ok().map(crate::store::from_ms),
        })
    })
    .collect::<Vec<_>>();
    let doc = json!({
        "exported_at": now,
        "participant": p,
        "consents": consents,
        "groups": groups,
        "series": series,
        "appointments": appointments::for_participant(c, id, None).await?,
        "messages": outbox::list(c, Some(id)).await?,
        "inbound": inbound,
        "tasks": tasks::list(c, Some(id), false).await?,
        "journal": journal::list(c, id).await?,
    });
    Ok(doc)
}
