//! The case record as a timeline: every journal event and every task of a
//! participant, in words (Fluent keys `ui-participants-ev-*`), at local
//! time with the weekday, newest first.

use super::super::{UiError, t, ta};
use super::case::channels_text;
use super::{day, engine_err, label, when};
use crate::domain::gates::SuppressReason;
use crate::domain::journal::{ContactFields, JournalEvent};
use crate::domain::phase::Phase;
use crate::domain::{AppointmentId, ChannelKind, GroupId, Language, StaffId};
use crate::store::appointments::Appointment;
use crate::store::journal::Event;
use crate::store::participants::Participant;
use crate::store::tasks::Task;
use crate::store::{Conn, broadcasts, ui_participants};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use std::collections::HashMap;

/// One line of the timeline.
pub struct Entry {
    pub at: DateTime<Utc>,
    /// Local time with the weekday.
    pub when: String,
    /// For `<time datetime>`.
    pub iso: String,
    pub text: String,
    pub details: Vec<String>,
    /// Who did it, when a person did.
    pub by: Option<String>,
    /// A CSS class: `reply`, `task`, `bad` or empty.
    pub class: &'static str,
    order: (i64, i64),
}

/// Builds the timeline, newest first.
pub async fn build(
    c: &mut Conn,
    lang: Language,
    p: &Participant,
    events: &[Event],
    tasks: &[Task],
    appts: &[Appointment],
) -> Result<Vec<Entry>, UiError> {
    // Staff named in the record: the actors, and the lotsar assigned.
    let mut names: HashMap<i64, String> = HashMap::new();
    let mut ids: Vec<i64> = events
        .iter()
        .filter_map(|e| e.actor.strip_prefix("staff:")?.parse().ok())
        .collect();
    let typed: Vec<Option<JournalEvent>> = events.iter().map(Event::event).collect();
    ids.extend(typed.iter().filter_map(|e| match e {
        Some(JournalEvent::LotsAssigned { lots_id: Some(id) }) => Some(id.get()),
        _ => None,
    }));
    ids.sort_unstable();
    ids.dedup();
    for id in ids.into_iter().filter(|i| *i > 0) {
        if let Some(n) = ui_participants::staff_name(c, StaffId::from_db(id))
            .await
            .map_err(engine_err(lang))?
        {
            names.insert(id, n);
        }
    }
    // Groups named in the record (joined, left).
    let mut groups: HashMap<i64, String> = HashMap::new();
    for e in &typed {
        if let Some(
            JournalEvent::GroupJoined { group_id: Some(g) }
            | JournalEvent::GroupLeft {
                group_id: Some(g), ..
            },
        ) = e
            && !groups.contains_key(&g.get())
            && let Ok((_, name)) = broadcasts::group(c, *g).await
        {
            groups.insert(g.get(), name);
        }
    }
    let appts: HashMap<AppointmentId, &Appointment> = appts.iter().map(|a| (a.id, a)).collect();
    let cx = Cx {
        lang,
        tz: p.time_zone,
        names: &names,
        groups: &groups,
        appts: &appts,
        first_name: &p.first_name,
    };
    let mut out: Vec<Entry> = events.iter().map(|e| cx.event(e)).collect();
    out.extend(tasks.iter().map(|task| cx.task(task)));
    out.sort_by(|a, b| b.at.cmp(&a.at).then(b.order.cmp(&a.order)));
    Ok(out)
}

/// Why the gates stopped a message, in words (the stored reason as it is
/// when this version does not know it).
pub(super) fn suppress_reason(lang: Language, reason: &str) -> String {
    use SuppressReason::*;
    let key = match SuppressReason::from_text(reason) {
        None => return reason.to_string(),
        Some(NotActive { status }) => {
            return ta(
                lang,
                "ui-participants-ev-why-not-active",
                &[("status", label(lang, "status", status))],
            );
        }
        Some(NoConsent) => "no-consent",
        Some(ConsentWithdrawn) => "consent-withdrawn",
        Some(ConsentExpired) => "consent-expired",
        Some(ChannelNotConsented) => "channel-not-consented",
        Some(OptedOut) => "opted-out",
        Some(AppointmentCancelled) => "appointment-cancelled",
        Some(AppointmentStarted) => "appointment-started",
        Some(DeadlinePassed) => "deadline-passed",
        Some(SaidCannot) => "said-cannot",
        Some(QuietHoursUntilStart) => "quiet-hours",
    };
    t(lang, &format!("ui-participants-ev-why-{key}"))
}

struct Cx<'a> {
    lang: Language,
    tz: Tz,
    names: &'a HashMap<i64, String>,
    groups: &'a HashMap<i64, String>,
    appts: &'a HashMap<AppointmentId, &'a Appointment>,
    first_name: &'a str,
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

impl Cx<'_> {
    fn t(&self, key: &str) -> String {
        t(self.lang, &format!("ui-participants-ev-{key}"))
    }
    fn ta(&self, key: &str, args: &[(&'static str, String)]) -> String {
        ta(self.lang, &format!("ui-participants-ev-{key}"), args)
    }
    fn label(&self, what: &str, v: Option<impl std::fmt::Display>) -> String {
        match v {
            Some(x) => label(self.lang, what, x),
            None => "–".into(),
        }
    }
    fn dt(&self, at: DateTime<Utc>) -> String {
        when(self.lang, at, self.tz)
    }
    /// "möte tis 8 dec 09:00" for an appointment of this participant.
    fn appt_words(&self, id: AppointmentId) -> Option<String> {
        let a = self.appts.get(&id)?;
        Some(format!(
            "{} {}",
            label(self.lang, "kind", a.kind),
            self.dt(a.starts_at)
        ))
    }
    /// "Gäller: möte tis 8 dec 09:00" for an appointment of this participant.
    fn appt(&self, id: Option<AppointmentId>) -> Option<String> {
        let a = self.appts.get(&id?)?;
        Some(self.ta(
            "about",
            &[
                ("kind", label(self.lang, "kind", a.kind)),
                ("when", self.dt(a.starts_at)),
            ],
        ))
    }
    /// A group's name; its number when the group is gone.
    fn group(&self, id: Option<GroupId>) -> String {
        let id = id.map_or(0, GroupId::get);
        self.groups
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    }
    fn who(&self, actor: &str) -> Option<String> {
        match actor {
            "system" => None,
            "participant" => Some(self.first_name.to_string()),
            a => Some(
                match a.strip_prefix("staff:").and_then(|i| i.parse().ok()) {
                    Some(id) => self
                        .names
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| a.to_string()),
                    None => a.to_string(),
                },
            ),
        }
    }
    fn suppress_reason(&self, reason: &str) -> String {
        suppress_reason(self.lang, reason)
    }

    fn event(&self, e: &Event) -> Entry {
        use JournalEvent as J;
        let mut details = Vec::new();
        let mut class = "";
        let about = self.appt(e.appointment_id);
        let dt = |x: Option<DateTime<Utc>>| x.map(|x| self.dt(x)).unwrap_or_default();
        let text = match e.event() {
            Some(J::ParticipantCreated { .. }) => self.t("created"),
            Some(J::StatusChanged { from, to }) => self.ta(
                "status",
                &[
                    ("from", self.label("status", from)),
                    ("to", self.label("status", to)),
                ],
            ),
            Some(J::ConsentRecorded {
                channels,
                expires_at,
            }) => {
                if let Some(x) = expires_at {
                    details.push(self.ta("consent-until", &[("date", day(self.lang, x, self.tz))]));
                }
                self.ta(
                    "consent",
                    &[(
                        "channels",
                        channels_text(self.lang, channels.unwrap_or_default()),
                    )],
                )
            }
            Some(J::ConsentWithdrawn {}) => self.t("consent-withdrawn"),
            Some(J::AppointmentCreated {
                kind,
                starts_at,
                series_id,
                ..
            }) => {
                if series_id.is_some() {
                    details.push(self.t("from-series"));
                }
                self.ta(
                    "appt-created",
                    &[("kind", self.label("kind", kind)), ("when", dt(starts_at))],
                )
            }
            Some(J::AppointmentUpdated { .. }) => {
                details.extend(about.clone());
                self.t("appt-updated")
            }
            Some(J::AppointmentMoved { from, to, .. }) => {
                self.ta("appt-moved", &[("from", dt(from)), ("to", dt(to))])
            }
            Some(J::AppointmentCancelled { .. }) => {
                details.extend(about.clone());
                self.t("appt-cancelled")
            }
            Some(J::RemindersPlanned { channel, due_at }) => {
                let n = due_at.len();
                self.ta(
                    if n == 1 { "planned-one" } else { "planned" },
                    &[
                        ("n", n.to_string()),
                        ("channel", self.label("channel", channel)),
                    ],
                )
            }
            Some(J::MessageSent {
                purpose, channel, ..
            }) => {
                details.extend(about.clone());
                self.ta(
                    &format!("sent-{}", purpose.map_or("notice", |p| p.as_str())),
                    &[("channel", self.label("channel", channel))],
                )
            }
            Some(J::MessageSuppressed {
                purpose, reason, ..
            }) => {
                class = "bad";
                details.extend(about.clone());
                details.push(self.suppress_reason(reason.as_deref().unwrap_or_default()));
                self.ta("suppressed", &[("what", self.label("purpose", purpose))])
            }
            Some(J::DeliveryFailed {
                purpose, channel, ..
            }) => {
                class = "bad";
                details.extend(about.clone());
                self.ta(
                    "failed",
                    &[
                        ("what", self.label("purpose", purpose)),
                        ("channel", self.label("channel", channel)),
                    ],
                )
            }
            Some(J::SummonsIssued {
                deadline, channel, ..
            }) => {
                if let Some(x) = deadline {
                    details.push(self.ta("deadline", &[("when", self.dt(x))]));
                }
                self.ta("summons", &[("channel", self.label("channel", channel))])
            }
            Some(J::InboundMessage {
                channel,
                text,
                intent,
                changed,
                ..
            }) => {
                class = "reply";
                self.reply(
                    channel,
                    text.as_deref(),
                    &intent,
                    &changed,
                    &about,
                    &mut details,
                )
            }
            Some(J::AttendanceRecorded { attendance, .. }) => {
                details.extend(about.clone());
                self.ta(
                    "attendance",
                    &[("attendance", self.label("attendance", attendance))],
                )
            }
            Some(J::ReplyRecorded { reply, .. }) => {
                class = "reply";
                details.extend(about.clone());
                self.ta("reply-recorded", &[("reply", self.label("reply", reply))])
            }
            Some(J::AttendanceUndone {
                attendance,
                undone,
                reopened_tasks,
            }) => {
                details.extend(about.clone());
                if reopened_tasks.unwrap_or(0) > 0 {
                    details.push(self.t("attendance-undone-reopened"));
                }
                self.ta(
                    "attendance-undone",
                    &[
                        ("undone", self.label("attendance", undone)),
                        ("attendance", self.label("attendance", attendance)),
                    ],
                )
            }
            Some(J::IntensityChanged { from, to }) => self.ta(
                "intensity",
                &[
                    ("from", self.label("intensity", from)),
                    ("to", self.label("intensity", to)),
                ],
            ),
            Some(J::LotsAssigned { lots_id }) => match lots_id {
                Some(id) => self.ta(
                    "lots",
                    &[(
                        "name",
                        self.names
                            .get(&id.get())
                            .cloned()
                            .unwrap_or_else(|| id.to_string()),
                    )],
                ),
                None => self.t("lots-none"),
            },
            Some(J::ContactNoticeQueued { channel, .. }) => self.ta(
                "contact-notice",
                &[("channel", self.label("channel", channel))],
            ),
            Some(J::LanguageChanged { from, to }) => self.ta(
                "language",
                &[
                    ("from", self.label("language", from)),
                    ("to", self.label("language", to)),
                ],
            ),
            Some(J::DetailsChanged { from, to }) => {
                // Which fields changed; the number itself is not shown.
                let fields: Vec<String> =
                    ContactFields::changed(&from.unwrap_or_default(), &to.unwrap_or_default())
                        .iter()
                        .map(|f| self.t(&format!("field-{f}")))
                        .collect();
                self.ta("details", &[("fields", fields.join(", "))])
            }
            // `to` since the shared setter; `discreet` in older rows.
            Some(J::DiscreetChanged { to, discreet, .. }) => {
                if to.or(discreet) == Some(true) {
                    self.t("discreet-on")
                } else {
                    self.t("discreet-off")
                }
            }
            Some(J::SeriesCreated { kind, cron, .. }) => {
                details.push(cron.unwrap_or_default());
                self.ta("series", &[("kind", self.label("kind", kind))])
            }
            Some(J::TelegramLinkCodeCreated { .. }) => self.t("link-code"),
            Some(J::TelegramLinked {}) => self.t("telegram-linked"),
            Some(J::TelegramUnlinked {}) => self.t("telegram-unlinked"),
            Some(J::TelegramUnreachable { .. }) => {
                class = "bad";
                self.t("telegram-unreachable")
            }
            Some(J::OptedOutAtGateway { channel }) => self.ta(
                "opted-out-gateway",
                &[("channel", self.label("channel", channel))],
            ),
            Some(J::OptedOutSharedPhone { channel }) => {
                class = "reply";
                self.ta(
                    "opted-out-shared-phone",
                    &[("channel", self.label("channel", channel))],
                )
            }
            Some(J::FallbackToSms { .. }) => self.t("fallback-sms"),
            Some(J::Erased {}) => self.t("erased"),
            Some(J::PhaseChanged { from, to }) => {
                let phase = |v: Option<Phase>| match v {
                    Some(x) => x.to_string(),
                    None => self.t("phase-none"),
                };
                self.ta("phase", &[("from", phase(from)), ("to", phase(to))])
            }
            Some(J::GroupJoined { group_id }) => {
                self.ta("group-joined", &[("group", self.group(group_id))])
            }
            Some(J::GroupLeft {
                group_id,
                broadcast_messages_cancelled,
            }) => {
                match broadcast_messages_cancelled {
                    Some(1) => details.push(self.t("group-left-cancelled-one")),
                    Some(n) if n > 1 => {
                        details.push(self.ta("group-left-cancelled", &[("n", n.to_string())]))
                    }
                    _ => {}
                }
                self.ta("group-left", &[("group", self.group(group_id))])
            }
            Some(J::BroadcastQueued { broadcast_id, .. }) => {
                details.extend(about.clone());
                self.ta(
                    "broadcast",
                    &[(
                        "id",
                        broadcast_id.map(|b| b.to_string()).unwrap_or_default(),
                    )],
                )
            }
            Some(J::TrialAssigned { trial_id, arm }) => self.ta(
                "trial-assigned",
                &[
                    ("trial", trial_id.map(|t| t.to_string()).unwrap_or_default()),
                    ("arm", arm.unwrap_or_default().to_uppercase()),
                ],
            ),
            // A kind this version does not know (or a detail of another
            // shape): shown by its name, nothing hidden.
            None => self.ta("other", &[("kind", e.kind.clone())]),
        };
        Entry {
            at: e.at,
            when: self.dt(e.at),
            iso: e.at.to_rfc3339(),
            text,
            details,
            by: self.who(&e.actor),
            class,
            order: (0, e.id),
        }
    }

    /// A message from the participant: what it was read as, the reason
    /// they gave, which time it was about, and their own words.
    fn reply(
        &self,
        channel: Option<ChannelKind>,
        words: Option<&str>,
        intent: &Value,
        changed: &Value,
        about: &Option<String>,
        details: &mut Vec<String>,
    ) -> String {
        // A button tap nests the parsed intent one level down.
        let inner = if intent["intent"].is_object() {
            &intent["intent"]
        } else {
            intent
        };
        let name = inner["intent"].as_str().unwrap_or("unknown");
        let reason = inner["reason"]
            .as_str()
            .or_else(|| changed["reason"].as_str())
            .filter(|r| !r.trim().is_empty());
        let channel = ("channel", self.label("channel", channel));
        let text = match name {
            "coming" => self.ta("reply-coming", &[channel]),
            "late" => match inner["minutes"].as_i64() {
                Some(min) => self.ta("reply-late-min", &[channel, ("min", min.to_string())]),
                None => self.ta("reply-late", &[channel]),
            },
            "cannot" => self.ta("reply-cannot", &[channel]),
            "stop" => self.ta("reply-stop", &[channel]),
            "start" => self.ta("reply-start", &[channel]),
            "help" => self.ta("reply-help", &[channel]),
            "my_times" => self.ta("reply-my-times", &[channel]),
            "my_data" => self.ta("reply-my-data", &[channel]),
            "language" => self.ta(
                "reply-language",
                &[
                    channel,
                    (
                        "language",
                        self.label("language", inner["language"].as_str()),
                    ),
                ],
            ),
            "plan_time" => self.ta("reply-plan", &[channel, ("time", s(&inner["time"]))]),
            // "1" or "2" to "which time?": the reply it completed, on the
            // appointment chosen (below).
            "choice" => {
                if let Some(n) = inner["n"].as_i64() {
                    details.push(self.ta("choice", &[("n", n.to_string())]));
                }
                match changed["reply"].as_str() {
                    Some("coming") if changed["late"].as_bool() == Some(true) => {
                        self.ta("reply-late", &[channel])
                    }
                    Some("coming") => self.ta("reply-coming", &[channel]),
                    Some("cannot") => self.ta("reply-cannot", &[channel]),
                    _ => self.ta("reply-other", &[channel]),
                }
            }
            _ => self.ta("reply-other", &[channel]),
        };
        // Two appointments could be meant: the bot asked which.
        if let Some([first, second]) = changed["asked_which"].as_array().map(Vec::as_slice) {
            let words = |v: &Value| {
                v.as_i64()
                    .filter(|i| *i > 0)
                    .and_then(|i| self.appt_words(AppointmentId::from_db(i)))
                    .unwrap_or_else(|| "–".into())
            };
            details.push(self.ta(
                "asked-which",
                &[("first", words(first)), ("second", words(second))],
            ));
        }
        if let Some(r) = reason {
            details.push(self.ta("reason", &[("reason", r.to_string())]));
        }
        let about = changed["appointment_id"]
            .as_i64()
            .filter(|i| *i > 0)
            .and_then(|i| self.appt(Some(AppointmentId::from_db(i))))
            .or_else(|| about.clone());
        details.extend(about);
        if changed["too_late"].as_bool() == Some(true) {
            details.push(self.t("too-late"));
        }
        if changed["shared_phone"].as_bool() == Some(true) {
            details.push(self.t("shared-phone"));
        }
        if let Some(n) = changed["opted_out_sharing"].as_i64().filter(|n| *n > 0) {
            details.push(self.ta("stop-sharing", &[("n", n.to_string())]));
        }
        if let Some(words) = words.filter(|w| !w.is_empty()) {
            details.push(format!("”{words}”"));
        }
        text
    }

    fn task(&self, task: &Task) -> Entry {
        let mut details: Vec<String> = self.appt(task.appointment_id).into_iter().collect();
        details.push(match task.done_at {
            Some(at) => self.ta("task-done", &[("when", self.dt(at))]),
            None => self.t("task-open"),
        });
        Entry {
            at: task.created_at,
            when: self.dt(task.created_at),
            iso: task.created_at.to_rfc3339(),
            text: self.ta("task", &[("kind", label(self.lang, "task", task.kind))]),
            details,
            by: None,
            class: "task",
            order: (1, task.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ParticipantId, TaskKind};
    use serde_json::json;

    fn ok(t: &str) {
        assert!(
            !t.is_empty()
                && !t.contains("ui-participants")
                && !t.contains('{')
                && !t.contains("Unknown"),
            "{t:?}"
        );
    }

    /// Every event the engine writes reads as words in both languages.
    #[test]
    fn every_event_kind_has_words_in_both_languages() {
        let at = "2026-12-08T08:00:00Z";
        let events = [
            ("participant_created", json!({})),
            (
                "status_changed",
                json!({ "from": "active", "to": "in_custody" }),
            ),
            (
                "consent_recorded",
                json!({ "channels": ["sms", "telegram"], "expires_at": at }),
            ),
            ("consent_withdrawn", json!({})),
            (
                "appointment_created",
                json!({ "kind": "drug_test", "starts_at": at, "series_id": 1 }),
            ),
            ("appointment_updated", json!({ "kind": "meeting" })),
            ("appointment_moved", json!({ "from": at, "to": at })),
            ("appointment_cancelled", json!({})),
            (
                "reminders_planned",
                json!({ "channel": "sms", "due_at": [at, at] }),
            ),
            (
                "reminders_planned",
                json!({ "channel": "sms", "due_at": [at] }),
            ),
            (
                "message_sent",
                json!({ "purpose": "reminder", "channel": "sms" }),
            ),
            (
                "message_sent",
                json!({ "purpose": "summons", "channel": "telegram" }),
            ),
            (
                "message_sent",
                json!({ "purpose": "receipt", "channel": "sms" }),
            ),
            (
                "message_sent",
                json!({ "purpose": "notice", "channel": "sms" }),
            ),
            (
                "message_suppressed",
                json!({ "purpose": "reminder", "channel": "sms", "reason": "consent was withdrawn" }),
            ),
            (
                "message_suppressed",
                json!({ "purpose": "reminder", "channel": "sms", "reason": "participant is paused, not active" }),
            ),
            (
                "delivery_failed",
                json!({ "purpose": "reminder", "channel": "sms" }),
            ),
            (
                "summons_issued",
                json!({ "deadline": at, "channel": "sms" }),
            ),
            ("attendance_recorded", json!({ "attendance": "absent" })),
            (
                "intensity_changed",
                json!({ "from": "all", "to": "day_before" }),
            ),
            ("lots_assigned", json!({ "lots_id": 3 })),
            ("lots_assigned", json!({ "lots_id": null })),
            ("contact_notice_queued", json!({ "channel": "sms" })),
            ("language_changed", json!({ "from": "sv", "to": "en" })),
            ("discreet_changed", json!({ "discreet": true })),
            ("discreet_changed", json!({ "discreet": false })),
            (
                "series_created",
                json!({ "kind": "meeting", "cron": "0 9 * * 2" }),
            ),
            ("telegram_link_code_created", json!({})),
            ("telegram_linked", json!({})),
            ("telegram_unlinked", json!({})),
            ("telegram_unreachable", json!({})),
            ("opted_out_at_gateway", json!({ "channel": "sms" })),
            ("opted_out_shared_phone", json!({ "channel": "sms" })),
            ("fallback_to_sms", json!({})),
            ("erased", json!({})),
            ("discreet_changed", json!({ "from": false, "to": true })),
            ("phase_changed", json!({ "from": null, "to": "Praktik" })),
            ("phase_changed", json!({ "from": "Praktik", "to": null })),
            ("group_joined", json!({ "group_id": 7 })),
            (
                "group_left",
                json!({ "group_id": 7, "broadcast_messages_cancelled": 1 }),
            ),
            (
                "group_left",
                json!({ "group_id": 8, "broadcast_messages_cancelled": 3 }),
            ),
            (
                "broadcast_queued",
                json!({ "broadcast_id": 4, "outbox_id": 9 }),
            ),
            ("something_new", json!({})),
        ];
        let intents = super::super::messages::sample_intents();
        let names = HashMap::from([(3, "Sara Lind".to_string())]);
        let groups = HashMap::from([(7, "Budgetkurs".to_string())]);
        let appts = HashMap::new();
        for lang in [Language::Sv, Language::En] {
            let cx = Cx {
                lang,
                tz: chrono_tz::Europe::Stockholm,
                names: &names,
                groups: &groups,
                appts: &appts,
                first_name: "Ali",
            };
            let ev = |kind: &str, detail: Value| Event {
                id: 1,
                participant_id: ParticipantId::from_db(1),
                appointment_id: None,
                at: Utc::now(),
                actor: "staff:3".into(),
                kind: kind.into(),
                detail,
            };
            // Each kind has its own words (none falls through to "other").
            let mut seen: HashMap<String, &str> = HashMap::new();
            for (kind, detail) in &events {
                let e = cx.event(&ev(kind, detail.clone()));
                ok(&e.text);
                e.details.iter().for_each(|d| ok(d));
                assert_eq!(e.by.as_deref(), Some("Sara Lind"));
                let first = *seen.entry(e.text.clone()).or_insert(kind);
                assert_eq!(first, *kind, "{kind} reads like {first}: {}", e.text);
            }
            for intent in &intents {
                let e = cx.event(&ev(
                    "inbound_message",
                    json!({ "channel": "sms", "text": "hej", "intent": intent, "changed": { "too_late": true } }),
                ));
                ok(&e.text);
                e.details.iter().for_each(|d| ok(d));
            }
            for kind in TaskKind::ALL {
                let task = Task {
                    id: 1,
                    unit_id: crate::domain::UnitId::from_db(1),
                    participant_id: ParticipantId::from_db(1),
                    appointment_id: None,
                    kind: *kind,
                    detail: json!({}),
                    assigned_to: None,
                    created_at: Utc::now(),
                    done_at: Some(Utc::now()),
                    done_by: None,
                };
                let e = cx.task(&task);
                ok(&e.text);
                e.details.iter().for_each(|d| ok(d));
            }
        }
    }

    /// An SMS reply `words` read as `intent` (`changed`: what it did) on a
    /// Swedish timeline for Ali with no staff, groups or appointments: the
    /// line and its details.
    fn swedish_sms_reply(words: &str, intent: Value, changed: Value) -> (String, Vec<String>) {
        let (names, groups, appts) = (HashMap::new(), HashMap::new(), HashMap::new());
        let cx = Cx {
            lang: Language::Sv,
            tz: chrono_tz::Europe::Stockholm,
            names: &names,
            groups: &groups,
            appts: &appts,
            first_name: "Ali",
        };
        let mut details = vec![];
        let text = cx.reply(
            Some(ChannelKind::Sms),
            Some(words),
            &intent,
            &changed,
            &None,
            &mut details,
        );
        (text, details)
    }

    #[test]
    fn a_reply_shows_its_reason() {
        let (text, details) = swedish_sms_reply(
            "förhinder sjuk",
            json!({ "intent": "cannot", "reason": "sjuk" }),
            Value::Null,
        );
        assert_eq!(text, "Svarade FÖRHINDER (SMS)");
        assert_eq!(details, ["Skäl: sjuk", "”förhinder sjuk”"]);
    }

    #[test]
    fn a_question_which_time_and_its_answer_read_as_such() {
        // "förhinder" with two appointments open: the bot asked which.
        let (text, details) = swedish_sms_reply(
            "förhinder",
            json!({ "intent": "cannot" }),
            json!({ "asked_which": [11, 12] }),
        );
        assert_eq!(text, "Svarade FÖRHINDER (SMS)");
        assert!(
            details
                .iter()
                .any(|d| d.starts_with("Frågade vilken tid svaret gäller")),
            "{details:?}"
        );
        // "1": the reply it completed, not a bare message.
        let (text, details) = swedish_sms_reply(
            "1",
            json!({ "intent": "choice", "n": 1 }),
            json!({ "appointment_id": 11, "reply": "cannot" }),
        );
        assert_eq!(text, "Svarade FÖRHINDER (SMS)");
        assert!(
            details
                .iter()
                .any(|d| d == "svar 1 på frågan om vilken tid"),
            "{details:?}"
        );
    }
}
