//! The case record beyond replies: attendance (recorded by staff only),
//! show-up and reply rates, the participant's data as one export (an
//! audited read, [`Engine::read_audited`]), and erasure.

use super::reads::Viewed;
use super::{Actor, Change, Engine};
use crate::domain::journal::JournalEvent;
use crate::domain::{
    AppointmentId, AppointmentStatus, Attendance, ParticipantId, ParticipantStatus, ReplyState,
    TaskKind,
};
use crate::error::{Error, Result};
use crate::store::{Conn, appointments, export, journal, outbox, participants, tasks};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

/// Rates over one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
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
    /// `attendance_undone` and audited as `attendance.undo`. A "no reply"
    /// task the recording closed is open again (the silence is unanswered
    /// again); tasks closed by hand stay closed. A cancelled appointment is
    /// a conflict.
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
        let reopened =
            tasks::reopen_closed_by_attendance(&mut tx, id, &[TaskKind::NoReply]).await?;
        appointments::restore_attendance(&mut tx, id, to, Some(actor.as_str()), now).await?;
        let event = JournalEvent::AttendanceUndone {
            attendance: Some(to),
            undone: Some(old.attendance),
            reopened_tasks: Some(reopened),
        };
        let change = Change::of(old.participant_id, "attendance.undo", event).on(id);
        actor.record(&mut tx, now, change).await?;
        let a = appointments::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Records a reply the participant gave staff another way (they
    /// phoned, or the lots phoned them): `kommer` or `förhinder`, as if
    /// they had texted it, so Today, the broadcast's tally and the unit's
    /// figures agree. Only before the appointment starts (after, it is
    /// attendance); a cancelled one is a conflict. The "no reply" task is
    /// answered and closed. A wrong tap is put right by tapping the other
    /// answer: the later reply overrides, as a participant's does.
    /// Journalled as `reply_recorded`, audited as `reply.record`.
    pub async fn record_reply(
        &self,
        id: AppointmentId,
        reply: ReplyState,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<appointments::Appointment> {
        if reply == ReplyState::None {
            return Err(Error::invalid("a reply is coming or cannot"));
        }
        let mut tx = self.db.begin().await?;
        let old = appointments::get(&mut tx, id).await?;
        if old.status == AppointmentStatus::Cancelled {
            return Err(Error::Conflict(format!("appointment {id} was cancelled")));
        }
        if old.starts_at <= now {
            return Err(Error::Conflict(format!("appointment {id} has started")));
        }
        appointments::set_reply(&mut tx, id, reply, None, None, now).await?;
        let closed =
            tasks::close_answered(&mut tx, id, &[TaskKind::NoReply], actor.as_str(), now).await?;
        let event = JournalEvent::ReplyRecorded {
            reply: Some(reply),
            previous: Some(old.reply),
            closed_tasks: Some(closed),
        };
        let change = Change::of(old.participant_id, "reply.record", event).on(id);
        actor.record(&mut tx, now, change).await?;
        let a = appointments::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Show-up and reply rates over the last `weeks` weeks.
    pub async fn rates(&self, p: ParticipantId, weeks: i64, now: DateTime<Utc>) -> Result<Rates> {
        let mut c = self.db.conn().await?;
        let crate::store::reports::Counts {
            recorded,
            attended,
            asked,
            replied,
        } = crate::store::reports::participant_counts(&mut c, p, now - Duration::weeks(weeks), now)
            .await?;
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
    /// database for it afterwards): the participant's name, number, chat,
    /// phase and case-system reference; appointments' and series' place, with whom, notes,
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
        crate::store::erasure::erase_participant(&mut tx, id, now).await?;
        outbox::cancel_all_open_for_participant(&mut tx, id, "participant erased", now).await?;
        let change = Change::of(id, "participant.erase", JournalEvent::Erased {});
        actor.record(&mut tx, now, change).await?;
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
    appointments::set_attendance(&mut *c, id, a, actor.as_str(), now).await?;
    // Whether they came is known now: silence before it needs nobody.
    let closed =
        tasks::close_answered(&mut *c, id, &[TaskKind::NoReply], actor.as_str(), now).await?;
    let event = JournalEvent::AttendanceRecorded {
        attendance: Some(a),
        previous: Some(old.attendance),
        closed_tasks: Some(closed),
    };
    let change = Change::of(old.participant_id, "attendance.record", event).on(id);
    actor.record(&mut *c, now, change).await?;
    appointments::get(c, id).await
}

/// [`Engine::export`]'s document, read in `c`.
async fn export_doc(
    c: &mut Conn,
    id: ParticipantId,
    now: DateTime<Utc>,
) -> Result<serde_json::Value> {
    let p = participants::get(c, id).await?;
    let consents = export::consents(c, id).await?;
    let inbound = export::inbound(c, id).await?;
    let groups = export::groups(c, id).await?;
    let series = export::series(c, id).await?;
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
