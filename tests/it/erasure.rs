//! Complete erasure (issue 15 item 3), on both backends: a marker text is
//! written into every column a participant's data can reach, through the
//! real operations (booking, a series, a group, replies, the dispatcher,
//! Telegram linking and buttons) and, for every other text column of every
//! table that holds a `participant_id`, directly; after `erase` the whole
//! database (every text column of every table, read from the catalogue) is
//! scanned and the marker, the number and the chat id are found nowhere.
//! A column added later is covered without touching this test: it gets the
//! marker too, and must be erased or listed in `KEPT` with its reason.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::fx::{self, Recorder};
use common::sthlm;
use paminn::domain::recurrence::CronExpr;
use paminn::domain::{AppointmentKind, ChannelKind, ParticipantId, ParticipantStatus, PhoneNumber};
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::engine::{Actor, Engine};
use paminn::store::appointments::NewAppointment;
use paminn::store::participants::NewParticipant;
use paminn::store::series::SeriesTarget;
use paminn::store::telegram::Subject;
use paminn::store::{Db, outbox};
use sqlx::Row;
use std::collections::BTreeSet;
use std::sync::Arc;

const MARK: &str = "ZQX7MARK";
const PHONE: &str = "+46 70 999 88 77";
/// The national digits of [`PHONE`], as any stored form would hold them.
const PHONE_DIGITS: &str = "709998877";
const CHAT: i64 = 555_000_111;

/// Text columns of participant-linked tables that hold no personal data:
/// closed vocabularies, settings, system keys and staff actors. Anything
/// else in a table with a `participant_id` gets the marker directly.
const KEPT: &[(&str, &str)] = &[
    // Settings and closed vocabularies.
    ("participants", "language"),
    ("participants", "channel_pref"),
    ("participants", "status"),
    ("participants", "time_zone"),
    ("participants", "opted_out"),
    ("participants", "intensity"),
    ("consents", "channels"),
    ("series", "kind"),
    ("series", "cron"),
    ("series", "time_zone"),
    ("appointments", "kind"),
    ("appointments", "status"),
    ("appointments", "reply"),
    ("appointments", "attendance"),
    ("outbox", "purpose"),
    ("outbox", "channel"),
    ("outbox", "status"),
    ("outbox", "encoding"),
    ("outbox", "currency"),
    // A closed vocabulary (domain::FailureKind): why a message failed, not what it said.
    ("outbox", "error_kind"),
    // A trial's arm and wording (issue 21): a closed vocabulary, no words sent.
    ("outbox", "trial_arm"),
    ("outbox", "wording"),
    ("trial_assignments", "arm"),
    ("inbound", "channel"),
    ("journal", "kind"),
    ("tasks", "kind"),
    ("pending_questions", "kind"),
    ("sandbox_messages", "channel"),
    ("sandbox_messages", "direction"),
    // System keys: a worker's lease, a task's cause, a code's hash.
    ("outbox", "lease_owner"),
    ("outbox", "claim_token"),
    ("tasks", "dedupe_key"),
    ("link_codes", "code_hash"),
    // Event webhooks (issue 19): the event type, its source table, the
    // status and the closed word of the last failure (`timeout`,
    // `connect`, `status`); a worker's lease. The body is built from the
    // journal at each attempt, so an erased journal row sends ids only.
    ("event_hook_deliveries", "event"),
    ("event_hook_deliveries", "source"),
    ("event_hook_deliveries", "status"),
    ("event_hook_deliveries", "last_error"),
    ("event_hook_deliveries", "lease_owner"),
    ("event_hook_deliveries", "claim_token"),
    // Who on the staff did something (`staff:3`, `cli`, `api:name`).
    ("appointments", "attendance_by"),
    ("journal", "actor"),
    ("tasks", "done_by"),
    ("link_codes", "created_by"),
];

/// The participant's columns that erasure clears; every text column of
/// `participants` is either here or in `KEPT` (the participant row is not
/// filled directly: its values must parse for `erase` to read it).
const PARTICIPANT_ERASED: &[&str] = &[
    "first_name",
    "phone",
    "telegram_chat_id",
    "phase",
    "external_ref",
];

fn is_postgres(db: &Db) -> bool {
    matches!(db.backend, paminn::store::Backend::Postgres)
}

/// Every (table, column) of text type in the database, and every table's
/// columns, from the catalogue.
async fn columns(db: &Db) -> Vec<(String, String, bool)> {
    let sql = if is_postgres(db) {
        "SELECT CAST(table_name AS TEXT) AS t, CAST(column_name AS TEXT) AS c,
                CASE WHEN data_type IN ('text', 'character varying', 'character') THEN 1 ELSE 0 END AS is_text
         FROM information_schema.columns WHERE table_schema = current_schema()
         ORDER BY table_name, ordinal_position"
    } else {
        "SELECT m.name AS t, p.name AS c,
                CASE WHEN upper(p.type) LIKE '%TEXT%' OR upper(p.type) LIKE '%CHAR%' OR upper(p.type) LIKE '%CLOB%'
                     THEN 1 ELSE 0 END AS is_text
         FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
         ORDER BY m.name, p.cid"
    };
    sqlx::query(sql)
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get::<String, _>("t").unwrap(),
                r.try_get::<String, _>("c").unwrap(),
                r.try_get::<i32, _>("is_text").unwrap() == 1,
            )
        })
        .collect()
}

/// Every `table.column` of text type where `needle` occurs.
async fn scan(db: &Db, needle: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (t, c, text) in columns(db).await {
        if !text {
            continue;
        }
        let sql = format!("SELECT COUNT(*) FROM \"{t}\" WHERE \"{c}\" LIKE $1");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(format!("%{needle}%"))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if n > 0 {
            found.insert(format!("{t}.{c}"));
        }
    }
    found
}

/// Writes the marker into every text column, not in `KEPT` and not already
/// `reached` by the real operations, of every row of a table with a
/// `participant_id` that belongs to `p` (and asserts the participant row's
/// columns are all classified). Returns what it filled.
async fn fill_the_rest(db: &Db, p: ParticipantId, reached: &BTreeSet<String>) -> BTreeSet<String> {
    let cols = columns(db).await;
    let tables: BTreeSet<&str> = cols
        .iter()
        .filter(|(_, c, _)| c == "participant_id")
        .map(|(t, _, _)| t.as_str())
        .collect();
    for (t, c, text) in &cols {
        if t == "participants" && *text {
            assert!(
                PARTICIPANT_ERASED.contains(&c.as_str()) || KEPT.contains(&(t, c)),
                "participants.{c} is new: erase it in Engine::erase (and list it in PARTICIPANT_ERASED) or list it in KEPT with a reason"
            );
        }
    }
    let mut filled = BTreeSet::new();
    for t in tables {
        let has_id = cols.iter().any(|(tt, c, _)| tt == t && c == "id");
        for (_, c, _) in cols.iter().filter(|(tt, c, text)| {
            tt == t && *text && !KEPT.contains(&(t, c)) && !reached.contains(&format!("{t}.{c}"))
        }) {
            // The row id keeps unique columns unique.
            let suffix = if has_id {
                " || '-' || CAST(id AS TEXT)"
            } else {
                ""
            };
            let sql = format!(
                "UPDATE \"{t}\" SET \"{c}\" = COALESCE(\"{c}\", '') || $1{suffix} WHERE participant_id = $2"
            );
            let n = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(format!("{MARK}-direct"))
                .bind(p.get())
                .execute(&db.pool)
                .await
                .unwrap_or_else(|e| panic!("{t}.{c}: {e}"))
                .rows_affected();
            if n > 0 {
                filled.insert(format!("{t}.{c}"));
            }
        }
    }
    filled
}

fn actor() -> Actor {
    Actor("staff:1".into())
}

async fn say(e: &Engine, p: ParticipantId, gw: &str, text: &str, now: DateTime<Utc>) {
    e.receive(ChannelKind::Sms, gw, p, text, now).await.unwrap();
}

both_backends! {
    async fn after_erasure_nothing_the_participant_wrote_or_that_identifies_them_remains(t) {
        let now = sthlm(2026, 12, 1, 9, 0);
        let e = Engine::new(t.db.clone());
        let unit = fx::unit(&e, "Chansen", now).await;
        let rec = Arc::new(Recorder::default());
        let d = Dispatcher::new(e.clone(), fx::channels(&rec), DispatcherConfig { owner: "t".into(), ..Default::default() });
        let new = NewParticipant {
            unit_id: unit.id,
            first_name: format!("{MARK}-namn"),
            phone: Some(PhoneNumber::parse(PHONE).unwrap()),
            language: paminn::domain::Language::Sv,
            channel_pref: ChannelKind::Sms,
            time_zone: chrono_tz::Europe::Stockholm,
            discreet: false,
            lots_id: None,
        };
        let p = e.add_participant(&new, Some("sms,telegram".parse().unwrap()), &actor(), now).await.unwrap();
        // Someone else in the unit, whose data must stay.
        let bea = fx::participant(&e, &unit, "Bea", "sms", now).await;
        e.set_phase(p.id, Some(format!("{MARK}-fas").parse().unwrap()), &actor(), now).await.unwrap();

        // Telegram: a wrong code from the chat, then the right one.
        e.link_chat(CHAT, "WRONGCODE", now).await.unwrap();
        let (code, _) = e.create_link_code(Subject::Participant(p.id), &actor(), now).await.unwrap();
        e.link_chat(CHAT, code.as_str(), now).await.unwrap();

        // A booked time, a series of their own, a group.
        let a = NewAppointment {
            participant_id: p.id,
            series_id: None,
            kind: AppointmentKind::Meeting,
            starts_at: sthlm(2026, 12, 3, 11, 0),
            duration_min: 60,
            location: Some(format!("{MARK}-plats")),
            with_whom: Some(format!("{MARK}-med")),
            internal_note: Some(format!("{MARK}-anteckning")),
            external_ref: Some(format!("{MARK}-ref")),
        };
        e.create_appointment(&a, &actor(), now).await.unwrap();
        let cron: CronExpr = "0 9 * * 1".parse().unwrap();
        e.create_series_from(SeriesTarget::Participant(p.id), AppointmentKind::Meeting, &cron, 60,
            Some(format!("{MARK}-serieplats")), now, Duration::weeks(2), &actor(), now).await.unwrap();
        let group = e.create_group(unit.id, "Grupp 1", &actor(), now).await.unwrap();
        e.add_group_member(group, p.id, &actor(), now).await.unwrap();
        e.add_group_member(group, bea.id, &actor(), now).await.unwrap();

        // Reminders go out; a button behind one; replies come in.
        d.run_once(sthlm(2026, 12, 2, 11, 0)).await.unwrap();
        let sent = outbox::list(&mut t.db.conn().await.unwrap(), Some(p.id)).await.unwrap();
        assert!(!sent.is_empty());
        // The token a Telegram question's buttons carry, as the dispatcher
        // stores it before the send.
        paminn::store::telegram::insert_callback(&mut t.db.conn().await.unwrap(),
            &paminn::domain::link::CallbackToken::random(rand::random()), "reply", Some(sent[0].id),
            None, None, &CHAT.to_string(), now).await.unwrap();
        say(&e, p.id, "gw-1", &format!("förhinder, {MARK}-skäl"), sthlm(2026, 12, 2, 12, 0)).await;
        say(&e, p.id, "gw-2", &format!("{MARK}-obegripligt"), sthlm(2026, 12, 2, 12, 5)).await;
        // Where no operation of ours reaches in a test: a sandbox phone's
        // message and a pending question.
        {
            let mut c = t.db.conn().await.unwrap();
            sqlx::query("INSERT INTO sandbox_messages (participant_id, channel, direction, body, at, gateway_id)
                         VALUES ($1, 'sms', 'in', $2, $3, 'sb-1')")
                .bind(p.id.get()).bind(format!("{MARK}-sandlåda")).bind(paminn::store::ms(now))
                .execute(&mut *c).await.unwrap();
            sqlx::query("INSERT INTO pending_questions (participant_id, kind, payload, asked_at, expires_at)
                         VALUES ($1, 'plan', $2, $3, $3)")
                .bind(p.id.get()).bind(format!("{{\"note\":\"{MARK}-fråga\"}}")).bind(paminn::store::ms(now))
                .execute(&mut *c).await.unwrap();
        }

        // The export holds everything, groups and series included.
        let doc = e.export(p.id, &actor(), now).await.unwrap();
        assert_eq!(doc["groups"][0]["name"], "Grupp 1", "{doc}");
        assert!(doc["groups"][0]["left_at"].is_null());
        assert_eq!(doc["series"][0]["location"], format!("{MARK}-serieplats"), "{doc}");
        assert!(doc["inbound"].to_string().contains(&format!("{MARK}-skäl")));

        let reached = scan(&t.db, MARK).await;
        for col in ["participants.first_name", "participants.phase", "appointments.location", "appointments.with_whom",
                    "appointments.internal_note", "appointments.external_ref", "appointments.reply_reason",
                    "series.location", "inbound.body", "inbound.intent", "journal.detail", "tasks.detail",
                    "sandbox_messages.body", "pending_questions.payload"] {
            assert!(reached.contains(col), "the real operations reach {col}: {reached:?}");
        }
        assert!(!scan(&t.db, &CHAT.to_string()).await.is_empty());
        assert!(scan(&t.db, &CHAT.to_string()).await.contains("telegram_callbacks.chat_id"));

        e.set_status(p.id, ParticipantStatus::Discharged, &actor(), now).await.unwrap();
        let filled = fill_the_rest(&t.db, p.id, &reached).await;
        for col in ["series.with_whom", "outbox.body", "outbox.gateway_id", "outbox.last_error", "inbound.gateway_id",
                    "consents.recorded_by", "consents.withdrawn_by"] {
            assert!(filled.contains(col) || reached.contains(col), "{col} holds the marker: {filled:?} {reached:?}");
        }
        let later = sthlm(2026, 12, 4, 9, 0);
        e.erase(p.id, &actor(), later).await.unwrap();

        for needle in [MARK, PHONE_DIGITS, &CHAT.to_string(), &paminn::domain::link::chat_key(CHAT)] {
            let left = scan(&t.db, needle).await;
            assert!(left.is_empty(), "{needle} survived erasure in {left:?}");
        }
        // The export after erasure: nothing, and no current group.
        let doc = e.export(p.id, &actor(), later).await.unwrap();
        assert!(!doc.to_string().contains(MARK), "{doc}");
        assert!(!doc["groups"][0]["left_at"].is_null(), "membership ended: {doc}");
        let members = e.group_members(group, later).await.unwrap();
        assert_eq!(members.len(), 1, "only Bea is still in the group");
        // Counts hold: the reply's kind stays, and Bea is untouched.
        let intents: Vec<String> = sqlx::query_scalar("SELECT intent FROM inbound WHERE participant_id = $1 ORDER BY id")
            .bind(p.id.get()).fetch_all(&t.db.pool).await.unwrap();
        assert_eq!(intents.len(), 2);
        assert!(intents[0].contains("cannot"), "{intents:?}");
        let mut c = t.db.conn().await.unwrap();
        let bea_after = paminn::store::participants::get(&mut c, bea.id).await.unwrap();
        assert_eq!(bea_after.first_name, "Bea");
        assert!(bea_after.phone.is_some());
    }
}
