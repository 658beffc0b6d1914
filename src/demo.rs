//! `paminn demo`: a unit with fictional participants, appointments within
//! the next hour and tomorrow, a weekly test series and a group activity,
//! all on the sandbox channel. Seeded once per data dir.

use crate::domain::access::Password;
use crate::domain::recurrence::CronExpr;
use crate::domain::{AppointmentKind, ChannelKind, ChannelSet, Language, PhoneNumber, Role, Span};
use crate::engine::{Actor, Engine};
use crate::store::appointments::NewAppointment;
use crate::store::participants::NewParticipant;
use crate::store::series::SeriesTarget;
use crate::store::staff::NewStaff;
use crate::store::units;
use chrono::{Duration, Utc};

pub const DEMO_UNIT: &str = "Demo: Chansen";

/// The demo's staff logins, printed by `paminn demo` and shown on its login
/// page. Demo only: `paminn serve` never creates accounts.
pub const DEMO_PASSWORD: &str = "paminn-demo";
/// (username, name, role). Ali and Sara are Anna's caseload; John is Omar's.
pub const DEMO_STAFF: [(&str, &str, Role); 4] = [
    ("anna", "Anna Lind", Role::Lots),
    ("omar", "Omar Said", Role::Lots),
    ("kim", "Kim Berg", Role::Coordinator),
    ("admin", "Demo Admin", Role::Admin),
];

/// Seeds the demo data unless it is there already. Returns whether it
/// seeded.
pub async fn seed(engine: &Engine) -> anyhow::Result<bool> {
    let now = Utc::now();
    let actor = Actor("demo".into());
    let unit = {
        let mut c = engine.db.conn().await?;
        if units::resolve(&mut c, DEMO_UNIT).await.is_ok() {
            return Ok(false);
        }
        drop(c);
        // No quiet hours in the demo, so it shows something at any hour.
        let u = engine
            .add_unit(
                DEMO_UNIT,
                Some(crate::domain::schedule::QuietHours::none()),
                &actor,
                now,
            )
            .await?;
        seed_staff(engine, u.id, &actor).await?;
        // A demo should show something happen within minutes: remind 24h,
        // 2h and 30 minutes before meetings.
        let rule = crate::engine::settings::RuleChange {
            kind: AppointmentKind::Meeting,
            offsets: Span::parse_list("24h,2h,30m").map_err(anyhow::Error::msg)?,
            ask_reply: true,
            reply_deadline: Some(Span::minutes(60).map_err(anyhow::Error::msg)?),
        };
        engine.set_rule(u.id, &rule, &actor, now).await?;
        u
    };
    // Programme phases are the unit's own words; a broadcast can go to one.
    let people = [
        ("Ali", "070-111 11 11", Language::Sv, "Praktik"),
        ("Sara", "070-222 22 22", Language::Sv, "Kartläggning"),
        ("John", "+358 40 123 4567", Language::En, "Praktik"),
    ];
    let mut ids = Vec::new();
    for (name, phone, lang, phase) in people {
        let p = engine
            .add_participant(
                &NewParticipant {
                    unit_id: unit.id,
                    first_name: name.into(),
                    phone: Some(PhoneNumber::parse_mobile(phone).map_err(anyhow::Error::msg)?),
                    language: lang,
                    channel_pref: ChannelKind::Sms,
                    time_zone: unit.time_zone,
                    discreet: true,
                    lots_id: Some(lots_for(&mut *engine.db.conn().await?, name).await?),
                },
                Some(ChannelSet::NONE.with(ChannelKind::Sms, true)),
                &actor,
                now,
            )
            .await?;
        let phase = phase.parse().map_err(anyhow::Error::msg)?;
        engine.set_phase(p.id, Some(phase), &actor, now).await?;
        ids.push(p.id);
    }
    let at = |p, start, kind, loc: &str| NewAppointment {
        participant_id: p,
        series_id: None,
        kind,
        starts_at: start,
        duration_min: 60,
        location: Some(loc.into()),
        with_whom: None,
        internal_note: Some("Demo".into()),
        external_ref: None,
    };
    // Within the next hour: the 30-minute reminder goes out about a minute
    // after the demo starts; tomorrow's gets its day-before reminder later.
    for (i, start, loc) in [
        (
            0,
            now + Duration::minutes(30) + Duration::seconds(15),
            "Kontoret",
        ),
        (1, now + Duration::minutes(50), "Kontoret"),
        (2, now + Duration::days(1), "Office"),
    ] {
        engine
            .create_appointment(
                &at(ids[i], start, AppointmentKind::Meeting, loc),
                &actor,
                now,
            )
            .await?;
    }
    // A weekly test series for Sara, Wednesdays 09:00.
    let cron: CronExpr = "0 9 * * WED".parse().map_err(anyhow::Error::msg)?;
    engine
        .create_series(
            unit.id,
            SeriesTarget::Participant(ids[1]),
            AppointmentKind::DrugTest,
            &cron,
            unit.time_zone,
            15,
            None,
            Duration::days(28),
            &actor,
            now,
        )
        .await?;
    // A group activity for everyone, Thursdays 13:00.
    let group = engine
        .create_group(unit.id, "Budgetkurs", &actor, now)
        .await?;
    for id in &ids {
        engine.add_group_member(group, *id, &actor, now).await?;
    }
    let cron: CronExpr = "0 13 * * THU".parse().map_err(anyhow::Error::msg)?;
    engine
        .create_series(
            unit.id,
            SeriesTarget::Group(group),
            AppointmentKind::GroupActivity,
            &cron,
            unit.time_zone,
            90,
            Some("Lokalen".into()),
            Duration::days(28),
            &actor,
            now,
        )
        .await?;
    Ok(true)
}

/// The demo's staff, with [`DEMO_PASSWORD`].
async fn seed_staff(
    engine: &Engine,
    unit: crate::domain::UnitId,
    actor: &Actor,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let password = Password::parse(DEMO_PASSWORD).map_err(anyhow::Error::msg)?;
    for (username, name, role) in DEMO_STAFF {
        let s = engine
            .add_staff(
                &NewStaff {
                    unit: Some(unit),
                    name: name.into(),
                    username: username.into(),
                    role,
                    language: Language::Sv,
                },
                actor,
                now,
            )
            .await?;
        engine
            .set_password(s.id, &password, None, actor, now)
            .await?;
    }
    Ok(())
}

/// Anna has Ali and Sara, Omar has John.
async fn lots_for(
    c: &mut crate::store::Conn,
    first_name: &str,
) -> anyhow::Result<crate::domain::StaffId> {
    let username = if first_name == "John" { "omar" } else { "anna" };
    crate::store::staff::id_by_username(c, username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo has no staff member {username}"))
}
