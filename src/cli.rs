//! The command line. Names and flags here are a contract: scripts and
//! acceptance checks use them. `--json` prints machine-readable output on
//! every command that shows something.
//!
//! Exit codes: 0 success, 1 error (the message says what to do), 2 usage,
//! 3 an import that kept the good lines but rejected some.

use crate::config::Config;
use crate::domain::recurrence::CronExpr;
use crate::domain::schedule::{QuietHours, parse_start};
use crate::domain::{
    AppointmentId, AppointmentKind, Attendance, ChannelKind, ChannelSet, GroupId, Intensity,
    Language, ParticipantId, ParticipantStatus, Phase, PhoneNumber, Role, Span, StaffId,
};
use crate::engine::reads::Viewed;
use crate::engine::{Actor, Engine};
use crate::store::appointments::NewAppointment;
use crate::store::participants::{self, NewParticipant, parse_first_name};
use crate::store::series::SeriesTarget;
use crate::store::telegram::Subject;
use crate::store::{Db, appointments, consents, journal, outbox, rules, tokens, units};
use crate::{import, server};
use anyhow::{Context, anyhow, bail};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "paminn",
    version,
    about = "Discreet appointment reminders by SMS and Telegram"
)]
pub struct Cli {
    /// Configuration file (TOML). Also PAMINN_CONFIG.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the demo: SQLite, fictional participants, sandbox phones at http://127.0.0.1:8080.
    Demo {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[arg(long, default_value = "paminn-demo")]
        data_dir: PathBuf,
    },
    /// Run the service: HTTP API, dispatcher, series expansion.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Units (programmes).
    #[command(subcommand)]
    Unit(UnitCmd),
    /// Reminder rules per unit and kind.
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Participants, their consent and status.
    #[command(subcommand)]
    Participant(ParticipantCmd),
    /// Staff: lotsar, coordinators, assistants, admins.
    #[command(subcommand)]
    Staff(StaffCmd),
    /// Appointments.
    #[command(subcommand)]
    Appointment(AppointmentCmd),
    /// Recurring appointments.
    #[command(subcommand)]
    Series(SeriesCmd),
    /// Activity groups and their members (changing over time).
    #[command(subcommand)]
    Group(GroupCmd),
    /// Messages to a group's members: one private message each.
    #[command(subcommand)]
    Broadcast(BroadcastCmd),
    /// Summon a participant now (test on request), with a deadline.
    Summon {
        #[arg(long)]
        participant: ParticipantId,
        /// e.g. 2h, 90m
        #[arg(long)]
        within: Span,
    },
    /// Import data from files.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Messages planned, sent and failed.
    Outbox {
        #[arg(long)]
        participant: Option<ParticipantId>,
    },
    /// A participant's case record.
    Journal { participant: ParticipantId },
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Show how a reply would be understood, as JSON.
    ///
    /// Intents: coming, late (coming late, with "minutes" when given:
    /// "kommer 10 min sent"), cannot (with "reason"), stop, start, help,
    /// my_times, my_data, language, choice, unknown (a person reads it).
    /// STOPP counts only alone or with words about the messages ("stopp
    /// tack", "sluta skicka sms", "vill inte ha fler sms"); with a word about
    /// the meeting ("avsluta mötet", "stop by later") or a question it is
    /// unknown. A "kommer" naming a weekday or a clock time is unknown here,
    /// where no appointment is known to check it against.
    ParseReply {
        #[arg(long, default_value = "sv")]
        lang: Language,
        text: String,
    },
    /// Tasks for staff (open ones unless --all).
    Tasks {
        #[arg(long)]
        participant: Option<ParticipantId>,
        #[arg(long)]
        all: bool,
    },
    /// Close or reopen a task.
    #[command(subcommand)]
    Task(TaskCmd),
    /// Record attendance: attended | absent | excused.
    Attendance {
        appointment: AppointmentId,
        attendance: Attendance,
    },
    /// Show-up and reply rates over the last 4 and 12 weeks.
    Stats { participant: ParticipantId },
    /// Reports for coordinators and admins.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Run the periodic jobs once (tasks for silence, expiring consent,
    /// empty calendars; purge of old texts). `serve` runs them every 5 minutes.
    Maintenance,
}

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// SMS messages, parts and gateway-reported cost per unit in a month.
    SmsCost {
        /// YYYY-MM, in each unit's time zone.
        #[arg(long)]
        month: String,
    },
    /// How many SMS came from numbers that belong to no participant.
    UnknownSenders {
        #[arg(long)]
        month: String,
    },
}

/// The first instant of a month and of the next, in a zone.
fn month_bounds(
    month: &str,
    tz: chrono_tz::Tz,
) -> anyhow::Result<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)> {
    let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| anyhow!("--month must be YYYY-MM, e.g. 2026-12"))?;
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| anyhow!("month out of range"))?;
    let at = |d: chrono::NaiveDate| {
        crate::domain::schedule::resolve_local(d.and_time(chrono::NaiveTime::MIN), tz)
    };
    Ok((at(first), at(next)))
}

#[derive(Subcommand, Debug)]
pub enum TaskCmd {
    Done { id: i64 },
    Reopen { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum UnitCmd {
    Add {
        name: String,
        /// e.g. 21:00-08:00 (the default)
        #[arg(long)]
        quiet_hours: Option<QuietHours>,
    },
    List,
    /// Change a unit's settings.
    Set {
        unit: String,
        #[arg(long)]
        quiet_hours: Option<QuietHours>,
        /// After "kommer", ask when they need to leave home, and remind then.
        #[arg(long)]
        plan_making: Option<bool>,
        /// Task when an active participant has nothing booked in N days (0: off).
        #[arg(long)]
        gap_alert_days: Option<i64>,
        /// Message texts older than this are purged.
        #[arg(long)]
        retention_days: Option<i64>,
        /// Staff Telegram alerts copy the participant's text and reason
        /// (default off: "ny uppgift" with a link).
        #[arg(long)]
        alert_details: Option<bool>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RuleCmd {
    /// Set the reminders for one kind of appointment in a unit.
    Set {
        #[arg(long)]
        unit: String,
        #[arg(long)]
        kind: AppointmentKind,
        /// Before the start, e.g. 24h,2h,30m
        #[arg(long)]
        offsets: String,
        /// Do not ask for a reply.
        #[arg(long)]
        no_reply: bool,
        /// A reply is expected this long before the start, e.g. 3h.
        #[arg(long)]
        reply_deadline: Option<Span>,
    },
    List {
        #[arg(long)]
        unit: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ParticipantCmd {
    Add(ParticipantAdd),
    List {
        #[arg(long)]
        unit: Option<String>,
    },
    Show {
        id: ParticipantId,
    },
    /// active | paused | in_custody | discharged
    Status {
        id: ParticipantId,
        status: ParticipantStatus,
    },
    /// Record consent for channels (valid a year unless --expires).
    Consent {
        id: ParticipantId,
        #[arg(long)]
        channels: ChannelSet,
        /// YYYY-MM-DD
        #[arg(long)]
        expires: Option<chrono::NaiveDate>,
    },
    /// Withdraw consent: nothing more is sent.
    WithdrawConsent {
        id: ParticipantId,
    },
    /// Reminder intensity: all | day_before | none.
    Intensity {
        id: ParticipantId,
        intensity: Intensity,
    },
    /// The programme phase (a label of the unit's, e.g. Praktik), used to
    /// narrow broadcasts; `--none` to clear it. Never part of a message.
    Phase {
        id: ParticipantId,
        #[arg(required_unless_present = "none")]
        phase: Option<Phase>,
        #[arg(long, conflicts_with = "phase")]
        none: bool,
    },
    /// The participant's reference in the unit's case system (Treserva,
    /// Lifecare, ...), carried in event webhooks so the receiver can file
    /// an event without a name or number; `--none` to clear it. Unique in
    /// the unit.
    Ref {
        id: ParticipantId,
        #[arg(required_unless_present = "none")]
        reference: Option<String>,
        #[arg(long, conflicts_with = "reference")]
        none: bool,
    },
    /// Everything stored about a participant, as JSON.
    Export {
        id: ParticipantId,
    },
    /// Erase a discharged participant's personal data (counts stay).
    Erase {
        id: ParticipantId,
    },
    /// A one-time code (24 hours) and deep link that link the
    /// participant's Telegram chat: they open the link or send /start CODE.
    LinkCode {
        id: ParticipantId,
    },
    /// Make a lots responsible for the participant (tasks and Telegram
    /// alerts go to them); `--none` for nobody.
    Lots {
        id: ParticipantId,
        #[arg(required_unless_present = "none")]
        staff: Option<StaffId>,
        #[arg(long)]
        none: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum StaffCmd {
    /// Add a staff member.
    Add {
        /// Unit name or id (none for admins across units).
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        name: String,
        #[arg(long)]
        username: String,
        /// admin | coordinator | lots | assistant
        #[arg(long, default_value = "lots")]
        role: Role,
        /// Language of their Telegram alerts and of the web UI.
        #[arg(long, default_value = "sv")]
        lang: Language,
        /// Read a web UI password from the first line of standard input
        /// (never from an argument: those show in `ps`).
        #[arg(long)]
        password_stdin: bool,
    },
    List,
    /// Set a staff member's web UI password from the first line of standard
    /// input; ends their sessions. `echo "$PW" | paminn staff set-password 3`
    SetPassword {
        id: StaffId,
    },
    /// A one-time code (24 hours) and deep link that link the staff
    /// member's own Telegram chat, for alerts and attendance buttons.
    LinkCode {
        id: StaffId,
    },
}

#[derive(Args, Debug)]
pub struct ParticipantAdd {
    #[arg(long)]
    unit: String,
    /// First name, used in the greeting.
    #[arg(long)]
    name: String,
    /// Any common form: 070-123 45 67, +46701234567, 0046..., foreign numbers with +.
    #[arg(long)]
    phone: Option<String>,
    #[arg(long, default_value = "sv")]
    lang: Language,
    #[arg(long, default_value = "sms")]
    channel: ChannelKind,
    /// Channels consented to, e.g. sms,telegram. Without it nothing is sent.
    #[arg(long)]
    consent: Option<ChannelSet>,
    /// IANA zone; default the unit's.
    #[arg(long)]
    tz: Option<String>,
    /// Include place and person in messages (discreet by default).
    #[arg(long)]
    show_details: bool,
}

#[derive(Subcommand, Debug)]
pub enum AppointmentCmd {
    Add {
        #[arg(long)]
        participant: ParticipantId,
        #[arg(long, default_value = "meeting")]
        kind: AppointmentKind,
        /// Local time in the participant's zone: 2026-12-10T09:00
        #[arg(long)]
        at: String,
        #[arg(long, default_value = "60m")]
        duration: Span,
        #[arg(long)]
        location: Option<String>,
        #[arg(long = "with")]
        with_whom: Option<String>,
        /// Internal note for staff; never sent.
        #[arg(long)]
        note: Option<String>,
        /// Your system's id for it; makes adding it again a no-op.
        #[arg(long = "ref")]
        external_ref: Option<String>,
    },
    Cancel {
        id: AppointmentId,
    },
    Move {
        id: AppointmentId,
        #[arg(long)]
        at: String,
    },
    List {
        #[arg(long)]
        participant: ParticipantId,
    },
}

#[derive(Subcommand, Debug)]
pub enum SeriesCmd {
    /// A recurring appointment from a cron expression (min hour day month weekday).
    Add {
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        participant: Option<ParticipantId>,
        #[arg(long)]
        group: Option<GroupId>,
        #[arg(long)]
        kind: AppointmentKind,
        /// e.g. "0 9 * * WED" for Wednesdays 09:00
        #[arg(long)]
        cron: CronExpr,
        #[arg(long, default_value = "60m")]
        duration: Span,
        #[arg(long)]
        location: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    /// A new group in a unit.
    Add {
        #[arg(long)]
        unit: String,
        name: String,
    },
    /// A participant joins the group now.
    AddMember {
        group: GroupId,
        participant: ParticipantId,
    },
    /// A participant leaves the group now; their unsent broadcast messages
    /// for it are cancelled.
    RemoveMember {
        group: GroupId,
        participant: ParticipantId,
    },
    /// A unit's groups with their current member counts.
    List {
        #[arg(long)]
        unit: String,
    },
    /// A group's current members.
    Show { group: GroupId },
}

#[derive(Subcommand, Debug)]
pub enum BroadcastCmd {
    /// Plan one private message per current member of a group, in their
    /// language and on their channel.
    Send {
        /// The group: its current members get it.
        #[arg(long, required_unless_present = "unit")]
        group: Option<GroupId>,
        /// Instead of a group: a unit's participants, narrowed by --status, --lots and --phase.
        #[arg(long, conflicts_with = "group")]
        unit: Option<String>,
        /// With --unit: only participants of this status (active, paused, ...).
        #[arg(long, requires = "unit")]
        status: Option<ParticipantStatus>,
        /// With --unit: only the participants of this lots (staff id).
        #[arg(long, requires = "unit")]
        lots: Option<StaffId>,
        /// With --unit: only participants in this programme phase (as set on
        /// their record, e.g. Praktik).
        #[arg(long, requires = "unit")]
        phase: Option<Phase>,
        /// The Swedish text.
        #[arg(long)]
        sv: String,
        /// The English text.
        #[arg(long)]
        en: String,
        /// When to send, local time of the unit (e.g. 2026-12-01T09:00); default now.
        #[arg(long)]
        at: Option<String>,
        /// Break the unit's quiet hours (never 23:00-06:00).
        #[arg(long)]
        urgent: bool,
        /// Tie to an activity: members answer KOMMER / FÖRHINDER on their own appointment.
        #[arg(long)]
        activity: Option<AppointmentId>,
        /// Idempotency key: a repeat with the same key creates nothing new.
        #[arg(long)]
        key: Option<String>,
    },
    /// Progress (sent / delivered / failed / pending of N, skipped by
    /// reason) and, for an activity, the tally of replies.
    Status { id: i64 },
    /// Cancel an activity (the appointment and its group series' other
    /// members' appointments at the same time); only those who had a
    /// message about it are told.
    CancelActivity { appointment: AppointmentId },
}

#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// CSV (semicolons or commas, UTF-8 or Windows-1252): see README.
    Appointments {
        file: PathBuf,
        #[arg(long)]
        unit: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// A new token, shown once. Scope: read or write (default write), one
    /// unit (`--unit`) or every unit; it expires after `--expires-in-days`
    /// (default 90).
    Create {
        name: String,
        /// read or write.
        #[arg(long, default_value = "write")]
        access: String,
        /// Limit it to one unit (name or id); without it: every unit.
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, default_value_t = crate::domain::api_scope::DEFAULT_TOKEN_DAYS)]
        expires_in_days: i64,
    },
    /// Every token with its scope, expiry and whether it is revoked.
    List,
    /// Revokes a token at once (by the id `token list` shows).
    Revoke { id: i64 },
}

fn print<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", human());
    }
    Ok(())
}

/// Prints a link code with its deep link (when the bot's username is
/// configured) and expiry. The code is shown once; only its hash is kept.
fn print_link_code(
    json: bool,
    cfg: &Config,
    code: &crate::domain::link::LinkCode,
    expires: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let link = cfg
        .telegram_bot_username
        .as_deref()
        .map(|b| code.deep_link(b));
    let v = serde_json::json!({
        "code": code.as_str(),
        "deep_link": link,
        "start_command": format!("/start {}", code.as_str()),
        "expires_at": expires,
    });
    print(json, &v, || {
        let mut out = format!(
            "code: {}\nor send to the bot: /start {}\nvalid until {} (single use)",
            code.as_str(),
            code.as_str(),
            fmt_t(expires)
        );
        match &link {
            Some(l) => out = format!("link: {l}\n{out}"),
            None => out.push_str("\n(set telegram_bot_username to get a t.me link)"),
        }
        out
    })
}

fn fmt_t(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let mut cfg = Config::load(cli.config.as_deref()).map_err(|e| anyhow!(e))?;
    let json = cli.json;
    if let Command::Demo { port, data_dir } = &cli.command {
        cfg.data_dir = data_dir.clone();
        cfg.listen.set_port(*port);
        if std::env::var_os("PAMINN_DATABASE_URL").is_none() {
            cfg.database_url = None;
        }
    }
    let long_running = matches!(cli.command, Command::Demo { .. } | Command::Serve);
    if long_running {
        server::init_logging(&cfg.log_format);
    }
    let db = server::open_db(&cfg).await?;
    let engine = Engine::new(db.clone())
        .with_series_min_gap(cfg.series_min_gap())
        .with_audit_retention_days(cfg.audit_retention_days)
        .with_window(cfg.appointment_window());
    let actor = Actor::cli();
    let now = Utc::now();
    match cli.command {
        Command::Demo { .. } => {
            let seeded = crate::demo::seed(&engine).await?;
            let token = server::shutdown_on_signals();
            println!("paminn demo is running.");
            println!(
                "  Open http://{}/ and log in as {} with the password {} (a lots; also: {}).",
                cfg.listen,
                crate::demo::DEMO_STAFF[0].0,
                crate::demo::DEMO_PASSWORD,
                crate::demo::DEMO_STAFF[1..]
                    .iter()
                    .map(|(u, _, r)| format!("{u} ({r})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "  The sandbox phone (menu: Sandlådetelefon) shows what each participant got; answer as them there."
            );
            println!(
                "  Data: {} ({})",
                cfg.data_dir.display(),
                if seeded {
                    "new demo data"
                } else {
                    "existing demo data"
                }
            );
            println!(
                "  The first reminder arrives within a minute of a fresh start. Ctrl-C stops."
            );
            server::run(&cfg, db.clone(), true, token).await?;
        }
        Command::Serve => {
            let token = server::shutdown_on_signals();
            server::run(&cfg, db.clone(), false, token).await?;
        }
        Command::Migrate => {
            print(json, &serde_json::json!({ "migrated": true }), || {
                "database is up to date".into()
            })?;
        }
        Command::Unit(UnitCmd::Add { name, quiet_hours }) => {
            let u = engine.add_unit(&name, quiet_hours, &actor, now).await?;
            print(json, &u, || {
                format!("unit {} '{}' (quiet hours {})", u.id, u.name, u.quiet_hours)
            })?;
        }
        Command::Unit(UnitCmd::Set {
            unit,
            quiet_hours,
            plan_making,
            gap_alert_days,
            retention_days,
            alert_details,
        }) => {
            let u = {
                let mut c = db.conn().await?;
                units::resolve(&mut c, &unit).await?
            };
            let change = crate::engine::settings::UnitChange {
                quiet_hours,
                retention_days,
                plan_making,
                gap_alert_days,
                alert_details,
            };
            let u = engine
                .change_unit_settings(u.id, &change, &actor, now)
                .await?;
            print(json, &u, || {
                format!(
                    "unit {} '{}': quiet hours {}, plan-making {}, gap alert {} days, retention {} days",
                    u.id,
                    u.name,
                    u.quiet_hours,
                    if u.plan_making { "on" } else { "off" },
                    u.gap_alert_days,
                    u.retention_days
                )
            })?;
        }
        Command::Unit(UnitCmd::List) => {
            let mut c = db.conn().await?;
            let list = units::list(&mut c).await?;
            print(json, &list, || {
                list.iter()
                    .map(|u| {
                        format!(
                            "{}\t{}\t{}\tquiet {}",
                            u.id,
                            u.name,
                            u.time_zone.name(),
                            u.quiet_hours
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Command::Rule(RuleCmd::Set {
            unit,
            kind,
            offsets,
            no_reply,
            reply_deadline,
        }) => {
            let offsets = Span::parse_list(&offsets).map_err(|e| anyhow!(e))?;
            if offsets.is_empty() {
                bail!("--offsets needs at least one time, e.g. 24h,2h");
            }
            let u = {
                let mut c = db.conn().await?;
                units::resolve(&mut c, &unit).await?
            };
            let change = crate::engine::settings::RuleChange {
                kind,
                offsets: offsets.clone(),
                ask_reply: !no_reply,
                reply_deadline,
            };
            let r = engine.set_rule(u.id, &change, &actor, now).await?;
            print(json, &r, || {
                format!(
                    "{}: {} reminders before the start: {}",
                    u.name,
                    kind,
                    offsets
                        .iter()
                        .map(Span::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        }
        Command::Rule(RuleCmd::List { unit }) => {
            let mut c = db.conn().await?;
            let u = units::resolve(&mut c, &unit).await?;
            let list = rules::list(&mut c, u.id).await?;
            print(json, &list, || {
                list.iter()
                    .map(|r| {
                        format!(
                            "{}\t{}\treply: {}",
                            r.kind,
                            r.offsets
                                .iter()
                                .map(Span::to_string)
                                .collect::<Vec<_>>()
                                .join(","),
                            if r.ask_reply { "asked" } else { "not asked" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Command::Participant(ParticipantCmd::LinkCode { id }) => {
            let (code, expires) = engine
                .create_link_code(Subject::Participant(id), &actor, now)
                .await?;
            print_link_code(json, &cfg, &code, expires)?;
        }
        Command::Staff(StaffCmd::LinkCode { id }) => {
            let (code, expires) = engine
                .create_link_code(Subject::Staff(id), &actor, now)
                .await?;
            print_link_code(json, &cfg, &code, expires)?;
        }
        Command::Staff(StaffCmd::Add {
            unit,
            name,
            username,
            role,
            lang,
            password_stdin,
        }) => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let unit = match unit {
                Some(u) => {
                    let mut c = db.conn().await?;
                    Some(units::resolve(&mut c, &u).await?.id)
                }
                None => None,
            };
            let new = crate::store::staff::NewStaff {
                unit,
                name,
                username,
                role,
                language: lang,
            };
            let s = engine.add_staff(&new, &actor, now).await?;
            if let Some(p) = &password {
                engine.set_password(s.id, p, None, &actor, now).await?;
            }
            print(json, &s, || {
                format!("staff {} '{}' ({}, {})", s.id, s.name, s.username, s.role)
            })?;
        }
        Command::Staff(StaffCmd::SetPassword { id }) => {
            let p = read_password()?;
            engine.set_password(id, &p, None, &actor, now).await?;
            print(
                json,
                &serde_json::json!({ "staff_id": id, "password_set": true }),
                || format!("password set for staff {id}; their sessions are ended"),
            )?;
        }
        Command::Staff(StaffCmd::List) => {
            let mut c = db.conn().await?;
            let list = crate::store::staff::list(&mut c).await?;
            print(json, &list, || {
                list.iter()
                    .map(|s| {
                        format!(
                            "{:>4}  {:<20} {:<16} {:<11} telegram: {}{}",
                            s.id,
                            s.name,
                            s.username,
                            s.role.as_str(),
                            if s.telegram_linked { "linked" } else { "-" },
                            if s.active { "" } else { "  (inactive)" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Command::Participant(cmd) => participant(&engine, cmd, &actor, now, json).await?,
        Command::Appointment(cmd) => appointment(&engine, cmd, &actor, now, json).await?,
        Command::Series(SeriesCmd::Add {
            participant,
            group,
            kind,
            cron,
            duration,
            location,
        }) => {
            let target = match (participant, group) {
                (Some(p), _) => SeriesTarget::Participant(p),
                (None, Some(g)) => SeriesTarget::Group(g),
                (None, None) => bail!("give --participant or --group"),
            };
            let horizon = chrono::Duration::days(cfg.series_horizon_days);
            let id = engine
                .create_series_from(
                    target,
                    kind,
                    &cron,
                    i64::from(duration.as_minutes()),
                    location,
                    now,
                    horizon,
                    &actor,
                    now,
                )
                .await?;
            let tz = {
                let mut c = db.conn().await?;
                crate::store::series::get(&mut c, id).await?.time_zone
            };
            let next: Vec<String> = cron
                .next(tz, now, 10)
                .into_iter()
                .map(|t| t.with_timezone(&tz).format("%a %Y-%m-%d %H:%M").to_string())
                .collect();
            print(json, &serde_json::json!({ "id": id, "next": next }), || {
                format!(
                    "series {id}; next dates (local time):\n  {}",
                    next.join("\n  ")
                )
            })?;
        }
        Command::Group(cmd) => group_cmd(&engine, cmd, &actor, now, json).await?,
        Command::Broadcast(cmd) => broadcast_cmd(&engine, cmd, &actor, now, json).await?,
        Command::Summon {
            participant,
            within,
        } => {
            let id = engine.summon(participant, within, &actor, now).await?;
            print(
                json,
                &serde_json::json!({ "outbox_id": id, "deadline": fmt_t(now + within.to_chrono()) }),
                || {
                    format!(
                        "summons {id} is being sent now; deadline {}",
                        fmt_t(now + within.to_chrono())
                    )
                },
            )?;
        }
        Command::Import(ImportCmd::Appointments { file, unit }) => {
            return import_appointments(&engine, &file, unit, &actor, json).await;
        }
        Command::Outbox { participant } => {
            let mut c = db.conn().await?;
            let rows = outbox::list(&mut c, participant).await?;
            print(json, &rows, || {
                let mut out =
                    vec!["id\tappointment\tchannel\tdue_at\tstatus\tsms\tbody".to_string()];
                for r in &rows {
                    out.push(format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        r.id,
                        r.appointment_id
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.channel,
                        fmt_t(r.due_at),
                        r.status,
                        match (&r.encoding, r.parts) {
                            (Some(e), Some(p)) => format!("{e}/{p}"),
                            _ => "-".into(),
                        },
                        r.body.clone().unwrap_or_default()
                    ));
                }
                out.join("\n")
            })?;
        }
        Command::Journal { participant } => {
            let events = engine
                .read_audited(&actor, now, async |c| {
                    participants::get(c, participant).await?;
                    let events = journal::list(c, participant).await?;
                    Ok((events, Viewed::participant("journal.view", participant)))
                })
                .await?;
            print(json, &events, || {
                events
                    .iter()
                    .map(|e| format!("{}\t{}\t{}\t{}", fmt_t(e.at), e.actor, e.kind, e.detail))
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Command::ParseReply { lang, text } => {
            // Always JSON: this is for staff who wonder what the bot understood.
            println!(
                "{}",
                serde_json::to_string(&crate::domain::reply::parse(&text, lang))?
            );
        }
        Command::Tasks { participant, all } => {
            let mut c = db.conn().await?;
            let list = crate::store::tasks::list(&mut c, participant, !all).await?;
            print(json, &list, || {
                list.iter()
                    .map(|t| {
                        format!(
                            "{}\t{}\tparticipant {}\t{}\t{}\t{}",
                            t.id,
                            fmt_t(t.created_at),
                            t.participant_id,
                            t.kind,
                            if t.done_at.is_some() { "done" } else { "open" },
                            t.detail
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Command::Task(cmd) => {
            let (id, done) = match cmd {
                TaskCmd::Done { id } => (id, true),
                TaskCmd::Reopen { id } => (id, false),
            };
            let t = engine.set_task_done(id, done, &actor, now).await?;
            print(json, &t, || {
                format!("task {id} is {}", if done { "done" } else { "open again" })
            })?;
        }
        Command::Attendance {
            appointment,
            attendance,
        } => {
            let a = engine
                .record_attendance(appointment, attendance, &actor, now)
                .await?;
            print(json, &a, || {
                format!("appointment {}: {}", a.id, a.attendance)
            })?;
        }
        Command::Stats { participant } => {
            let four = engine.rates(participant, 4, now).await?;
            let twelve = engine.rates(participant, 12, now).await?;
            let pct = |r: Option<f64>| r.map_or("-".to_string(), |x| format!("{:.0} %", x * 100.0));
            print(
                json,
                &serde_json::json!({ "participant": participant, "weeks_4": four, "weeks_12": twelve }),
                || {
                    format!(
                        "weeks\tshow-up\treplies\n4\t{} ({}/{})\t{} ({}/{})\n12\t{} ({}/{})\t{} ({}/{})",
                        pct(four.show_up_rate),
                        four.attended,
                        four.attendance_recorded,
                        pct(four.reply_rate),
                        four.replied,
                        four.asked,
                        pct(twelve.show_up_rate),
                        twelve.attended,
                        twelve.attendance_recorded,
                        pct(twelve.reply_rate),
                        twelve.replied,
                        twelve.asked
                    )
                },
            )?;
        }
        Command::Report(ReportCmd::SmsCost { month }) => {
            let mut c = db.conn().await?;
            let mut out = Vec::new();
            for u in units::list(&mut c).await? {
                let (from, to) = month_bounds(&month, u.time_zone)?;
                for row in crate::store::reports::sms_cost(&mut c, u.id, from, to).await? {
                    out.push(
                        serde_json::json!({ "unit_id": u.id, "unit": u.name, "month": month,
                        "messages": row.messages, "parts": row.parts,
                        "cost": row.cost as f64 / 10_000.0, "currency": row.currency }),
                    );
                }
            }
            print(json, &out, || {
                let mut lines = vec!["unit\tmonth\tmessages\tparts\tcost".to_string()];
                for r in &out {
                    lines.push(format!(
                        "{}\t{}\t{}\t{}\t{:.2} {}",
                        r["unit"].as_str().unwrap_or(""),
                        month,
                        r["messages"],
                        r["parts"],
                        r["cost"].as_f64().unwrap_or(0.0),
                        r["currency"].as_str().unwrap_or("")
                    ));
                }
                lines.join("\n")
            })?;
        }
        Command::Report(ReportCmd::UnknownSenders { month }) => {
            let (from, to) = month_bounds(&month, chrono_tz::Europe::Stockholm)?;
            let mut c = db.conn().await?;
            let n = crate::store::reports::unknown_senders(&mut c, from, to).await?;
            print(
                json,
                &serde_json::json!({ "month": month, "unknown_senders": n }),
                || {
                    format!(
                        "{month}: {n} SMS from numbers that belong to no participant (no number or text kept)"
                    )
                },
            )?;
        }
        Command::Maintenance => {
            let horizon = chrono::Duration::days(cfg.series_horizon_days);
            let created = engine.expand_series(now, horizon).await?;
            let r = engine.run_jobs(now).await?;
            print(
                json,
                &serde_json::json!({ "series_appointments": created, "jobs": r }),
                || {
                    format!(
                        "{created} series appointments; tasks: {} no reply, {} consent expiring, {} gaps; {} texts purged; {} webhook deliveries purged",
                        r.no_reply_tasks,
                        r.consent_tasks,
                        r.gap_tasks,
                        r.purged_texts,
                        r.purged_hook_deliveries
                    )
                },
            )?;
        }
        Command::Token(TokenCmd::Create {
            name,
            access,
            unit,
            expires_in_days,
        }) => {
            let mut c = db.conn().await?;
            let scope = crate::domain::api_scope::TokenScope {
                access: access.parse().map_err(crate::error::Error::Invalid)?,
                unit: match unit {
                    Some(u) => Some(units::resolve(&mut c, &u).await?.id),
                    None => None,
                },
            };
            drop(c);
            let (id, t) = engine
                .create_api_token(&name, scope, expires_in_days, &actor, now)
                .await?;
            print(
                json,
                &serde_json::json!({ "id": id, "name": name, "token": t, "scope": scope,
                                     "expires_at": now + chrono::Duration::days(expires_in_days) }),
                || format!("{t}\n(shown once; send it as 'Authorization: Bearer <token>')"),
            )?;
        }
        Command::Token(TokenCmd::List) => {
            let mut c = db.conn().await?;
            let list = tokens::list(&mut c).await?;
            print(json, &list, || {
                let mut out = String::from("id\tname\taccess\tunit\texpires\trevoked\n");
                for t in &list {
                    let day = |d: Option<chrono::DateTime<Utc>>| {
                        d.map_or("-".to_string(), |d| {
                            d.format("%Y-%m-%d %H:%M UTC").to_string()
                        })
                    };
                    out += &format!(
                        "{}\t{}\t{}\t{}\t{}{}\t{}\n",
                        t.id,
                        t.name,
                        if t.scope.access == crate::domain::api_scope::TokenAccess::Read {
                            "read"
                        } else {
                            "write"
                        },
                        t.scope.unit.map_or("all".to_string(), |u| u.to_string()),
                        day(t.expires_at),
                        if t.expires_at.is_some_and(|e| e <= now) {
                            " (expired)"
                        } else {
                            ""
                        },
                        day(t.revoked_at),
                    );
                }
                out.trim_end().to_string()
            })?;
        }
        Command::Token(TokenCmd::Revoke { id }) => {
            let t = engine.revoke_api_token(id, &actor, now).await?;
            print(json, &t, || format!("token {id} ({}) revoked", t.name))?;
        }
    }
    db.close().await;
    Ok(0)
}

async fn participant(
    engine: &Engine,
    cmd: ParticipantCmd,
    actor: &Actor,
    now: chrono::DateTime<Utc>,
    json: bool,
) -> anyhow::Result<()> {
    let db: &Db = &engine.db;
    match cmd {
        ParticipantCmd::Add(a) => {
            let mut c = db.conn().await?;
            let unit = units::resolve(&mut c, &a.unit).await?;
            drop(c);
            let new = NewParticipant {
                unit_id: unit.id,
                first_name: parse_first_name(&a.name)?,
                phone: a
                    .phone
                    .as_deref()
                    .map(PhoneNumber::parse_mobile)
                    .transpose()
                    .map_err(|e| anyhow!("--phone: {e}"))?,
                language: a.lang,
                channel_pref: a.channel,
                time_zone: match a.tz.as_deref() {
                    Some(t) => units::parse_tz(t)?,
                    None => unit.time_zone,
                },
                discreet: !a.show_details,
                lots_id: None,
            };
            let p = engine.add_participant(&new, a.consent, actor, now).await?;
            if a.consent.is_none() && !json {
                eprintln!(
                    "note: no consent recorded; nothing will be sent until `paminn participant consent {} --channels sms`",
                    p.id
                );
            }
            print(json, &p, || {
                format!("participant {} ({})", p.id, p.first_name)
            })?;
        }
        ParticipantCmd::List { unit } => {
            let mut c = db.conn().await?;
            let unit = match unit {
                Some(u) => Some(units::resolve(&mut c, &u).await?.id),
                None => None,
            };
            let list = participants::list(&mut c, unit).await?;
            print(json, &list, || {
                list.iter()
                    .map(|p| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}",
                            p.id,
                            p.first_name,
                            p.phone
                                .as_ref()
                                .map(|x| x.as_e164().to_string())
                                .unwrap_or_else(|| "-".into()),
                            p.language,
                            p.status
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        ParticipantCmd::Show { id } => {
            let v = engine
                .read_audited(actor, now, async |c| {
                    let p = participants::get(c, id).await?;
                    let consent = consents::current(c, id).await?;
                    let v = serde_json::json!({ "participant": p, "consent": consent });
                    Ok((v, Viewed::participant("participant.view", id)))
                })
                .await?;
            print(json, &v, || {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            })?;
        }
        ParticipantCmd::Status { id, status } => {
            engine.set_status(id, status, actor, now).await?;
            print(
                json,
                &serde_json::json!({ "id": id, "status": status }),
                || format!("participant {id} is now {status}"),
            )?;
        }
        ParticipantCmd::Consent {
            id,
            channels,
            expires,
        } => {
            let expires_at = expires.map(|d| {
                crate::domain::schedule::resolve_local(
                    d.and_time(chrono::NaiveTime::MIN),
                    chrono_tz::Europe::Stockholm,
                )
            });
            engine
                .record_consent(id, channels, expires_at, actor, now)
                .await?;
            print(
                json,
                &serde_json::json!({ "id": id, "channels": channels }),
                || format!("consent recorded for participant {id}: {channels}"),
            )?;
        }
        ParticipantCmd::Intensity { id, intensity } => {
            engine.set_intensity(id, intensity, actor, now).await?;
            print(
                json,
                &serde_json::json!({ "id": id, "intensity": intensity }),
                || format!("participant {id}: reminders {intensity}"),
            )?;
        }
        ParticipantCmd::Phase { id, phase, none: _ } => {
            engine.set_phase(id, phase.clone(), actor, now).await?;
            print(
                json,
                &serde_json::json!({ "id": id, "phase": phase }),
                || match &phase {
                    Some(x) => format!("participant {id}: phase {x}"),
                    None => format!("participant {id}: no phase"),
                },
            )?;
        }
        ParticipantCmd::Ref {
            id,
            reference,
            none: _,
        } => {
            let r = reference.as_deref().unwrap_or("");
            engine
                .set_participant_external_ref(actor, now, id, r)
                .await?;
            let r = r.trim();
            print(
                json,
                &serde_json::json!({ "id": id, "external_ref": (!r.is_empty()).then_some(r) }),
                || match r {
                    "" => format!("participant {id}: no case-system reference"),
                    r => format!("participant {id}: case-system reference {r}"),
                },
            )?;
        }
        ParticipantCmd::Export { id } => {
            let doc = engine.export(id, actor, now).await?;
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        ParticipantCmd::Lots { id, staff, none: _ } => {
            engine.assign_lots(id, staff, actor, now).await?;
            print(
                json,
                &serde_json::json!({ "id": id, "lots_id": staff }),
                || match staff {
                    Some(s) => format!("participant {id}: lots is staff {s}"),
                    None => format!("participant {id}: no lots"),
                },
            )?;
        }
        ParticipantCmd::LinkCode { .. } => unreachable!("handled in run"),
        ParticipantCmd::Erase { id } => {
            engine.erase(id, actor, now).await?;
            print(
                json,
                &serde_json::json!({ "id": id, "erased": true }),
                || format!("participant {id}: personal data erased"),
            )?;
        }
        ParticipantCmd::WithdrawConsent { id } => {
            engine.withdraw_consent(id, actor, now).await?;
            print(
                json,
                &serde_json::json!({ "id": id, "withdrawn": true }),
                || format!("consent withdrawn for participant {id}; nothing more will be sent"),
            )?;
        }
    }
    Ok(())
}

async fn appointment(
    engine: &Engine,
    cmd: AppointmentCmd,
    actor: &Actor,
    now: chrono::DateTime<Utc>,
    json: bool,
) -> anyhow::Result<()> {
    let db: &Db = &engine.db;
    let show = |a: &appointments::Appointment| {
        format!(
            "appointment {} for participant {} at {} ({})",
            a.id,
            a.participant_id,
            fmt_t(a.starts_at),
            a.status
        )
    };
    match cmd {
        AppointmentCmd::Add {
            participant,
            kind,
            at,
            duration,
            location,
            with_whom,
            note,
            external_ref,
        } => {
            let p = {
                let mut c = db.conn().await?;
                participants::get(&mut c, participant).await?
            };
            let starts_at = parse_start(&at, p.time_zone).map_err(|e| anyhow!("--at: {e}"))?;
            let new = NewAppointment {
                participant_id: participant,
                series_id: None,
                kind,
                starts_at,
                duration_min: i64::from(duration.as_minutes()),
                location,
                with_whom,
                internal_note: note,
                external_ref,
            };
            let (a, _) = engine
                .upsert_appointment(p.unit_id, &new, actor, now)
                .await?;
            print(json, &a, || show(&a))?;
        }
        AppointmentCmd::Cancel { id } => {
            let a = engine.cancel_appointment(id, actor, now).await?;
            print(json, &a, || show(&a))?;
        }
        AppointmentCmd::Move { id, at } => {
            let p = {
                let mut c = db.conn().await?;
                let a = appointments::get(&mut c, id).await?;
                participants::get(&mut c, a.participant_id).await?
            };
            let to = parse_start(&at, p.time_zone).map_err(|e| anyhow!("--at: {e}"))?;
            let a = engine.move_appointment(id, to, actor, now).await?;
            print(json, &a, || show(&a))?;
        }
        AppointmentCmd::List { participant } => {
            let mut c = db.conn().await?;
            participants::get(&mut c, participant).await?;
            let list = appointments::for_participant(&mut c, participant, None).await?;
            print(json, &list, || {
                list.iter().map(show).collect::<Vec<_>>().join("\n")
            })?;
        }
    }
    Ok(())
}

async fn import_appointments(
    engine: &Engine,
    file: &std::path::Path,
    unit: Option<String>,
    actor: &Actor,
    json: bool,
) -> anyhow::Result<i32> {
    let f = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let unit = {
        let mut c = engine.db.conn().await?;
        match unit {
            Some(u) => units::resolve(&mut c, &u).await?,
            None => {
                let all = units::list(&mut c).await?;
                match all.as_slice() {
                    [only] => only.clone(),
                    [] => bail!("there is no unit yet; create one with `paminn unit add NAME`"),
                    _ => bail!("there are several units; say which with --unit"),
                }
            }
        }
    };
    // Streamed: the file is never read whole (see `import`).
    let rdr = import::reader(f)?;
    // Progress on stderr: a bar on a terminal, else a plain line every
    // PROGRESS_EVERY rows for long imports (logs, CI, cron).
    const PROGRESS_EVERY: u64 = 10_000;
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(size);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {msg} ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let started = std::time::Instant::now();
    let mut next_line = PROGRESS_EVERY;
    let report = import::import(engine, unit.id, rdr, actor, Utc::now(), |p| {
        if let Some(b) = &bar {
            b.set_position(p.bytes);
            b.set_message(format!("{} rows", p.rows));
        } else if p.rows >= next_line {
            next_line = p.rows + PROGRESS_EVERY;
            let pct = (p.bytes * 100).checked_div(size).unwrap_or(0);
            eprintln!(
                "import: {} rows ({pct}% of the file) in {:.1} s",
                p.rows,
                started.elapsed().as_secs_f64()
            );
        }
    })
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    print(json, &report, || {
        let mut out = vec![format!(
            "{}: {} created, {} updated, {} unchanged, {} rejected",
            file.display(),
            report.created,
            report.updated,
            report.unchanged,
            report.errors.len()
        )];
        for e in &report.errors {
            out.push(format!("  line {}: {}", e.line, e.reason));
        }
        out.join("\n")
    })?;
    Ok(if report.errors.is_empty() { 0 } else { 3 })
}

/// A password from the first line of standard input.
fn read_password() -> anyhow::Result<crate::domain::access::Password> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']);
    crate::domain::access::Password::parse(line).map_err(anyhow::Error::msg)
}

async fn group_cmd(
    engine: &Engine,
    cmd: GroupCmd,
    actor: &Actor,
    now: chrono::DateTime<Utc>,
    json: bool,
) -> anyhow::Result<()> {
    match cmd {
        GroupCmd::Add { unit, name } => {
            let u = {
                let mut c = engine.db.conn().await?;
                units::resolve(&mut c, &unit).await?
            };
            let id = engine.create_group(u.id, &name, actor, now).await?;
            print(
                json,
                &serde_json::json!({ "id": id, "unit_id": u.id }),
                || format!("group {id} created"),
            )
        }
        GroupCmd::AddMember { group, participant } => {
            let added = engine
                .add_group_member(group, participant, actor, now)
                .await?;
            print(json, &serde_json::json!({ "added": added }), || {
                if added {
                    format!("participant {participant} joined group {group}")
                } else {
                    format!("participant {participant} is a member of group {group} already")
                }
            })
        }
        GroupCmd::RemoveMember { group, participant } => {
            let removed = engine
                .remove_group_member(group, participant, actor, now)
                .await?;
            if !removed {
                bail!("participant {participant} is not a member of group {group}");
            }
            print(json, &serde_json::json!({ "removed": true }), || {
                format!("participant {participant} left group {group}")
            })
        }
        GroupCmd::List { unit } => {
            let mut c = engine.db.conn().await?;
            let u = units::resolve(&mut c, &unit).await?;
            let rows = crate::store::broadcasts::list_groups(&mut c, u.id, now).await?;
            print(json, &rows, || {
                let mut out = vec!["id\tmembers\tname".to_string()];
                out.extend(
                    rows.iter()
                        .map(|g| format!("{}\t{}\t{}", g.id, g.members, g.name)),
                );
                out.join("\n")
            })
        }
        GroupCmd::Show { group } => {
            let members = engine.group_members(group, now).await?;
            print(json, &members, || {
                let mut out = vec!["participant\tstatus\tfirst name".to_string()];
                out.extend(
                    members
                        .iter()
                        .map(|m| format!("{}\t{}\t{}", m.participant_id, m.status, m.first_name)),
                );
                out.join("\n")
            })
        }
    }
}

async fn broadcast_cmd(
    engine: &Engine,
    cmd: BroadcastCmd,
    actor: &Actor,
    now: chrono::DateTime<Utc>,
    json: bool,
) -> anyhow::Result<()> {
    use crate::engine::broadcasts::{Audience, BroadcastRequest};
    match cmd {
        BroadcastCmd::Send {
            group,
            unit,
            status,
            lots,
            phase,
            sv,
            en,
            at,
            urgent,
            activity,
            key,
        } => {
            let (audience, u) = {
                let mut c = engine.db.conn().await?;
                match (group, unit) {
                    (Some(g), _) => {
                        let (unit, _) = crate::store::broadcasts::group(&mut c, g).await?;
                        (Audience::Group(g), units::get(&mut c, unit).await?)
                    }
                    (None, Some(unit)) => {
                        let u = units::resolve(&mut c, &unit).await?;
                        let a = Audience::Filter {
                            unit: u.id,
                            status,
                            lots,
                            phase,
                        };
                        (a, u)
                    }
                    (None, None) => {
                        bail!("give --group, or --unit with --status / --lots / --phase")
                    }
                }
            };
            let send_at = match at {
                Some(at) => Some(parse_start(&at, u.time_zone).map_err(|e| anyhow!("--at: {e}"))?),
                None => None,
            };
            let req = BroadcastRequest {
                audience,
                text_sv: sv,
                text_en: en,
                send_at,
                urgent,
                activity,
                key,
            };
            let p = engine.plan_broadcast(&req, actor, now).await?;
            let b = &p.broadcast;
            let skipped: i64 = b.skipped.values().sum();
            print(
                json,
                &serde_json::json!({
                    "id": b.id, "created": p.created, "recipients": b.recipients,
                    "skipped": b.skipped, "send_at": b.send_at, "urgent": b.urgent,
                    "activity": b.appointment_id, "key": b.key,
                    "sensitive_words": p.sensitive_words,
                }),
                || {
                    let mut out = format!(
                        "broadcast {}{}: {} messages planned for {}, {} members skipped",
                        b.id,
                        if p.created {
                            ""
                        } else {
                            " (existing, nothing new)"
                        },
                        b.recipients,
                        fmt_t(b.send_at),
                        skipped
                    );
                    if !p.sensitive_words.is_empty() {
                        out.push_str(&format!(
                            "\nwarning: the text names {}; phones are shared and lock screens are read",
                            p.sensitive_words.join(", ")
                        ));
                    }
                    out
                },
            )
        }
        BroadcastCmd::Status { id } => {
            let s = engine.broadcast_status(id).await?;
            print(json, &s, || {
                let mut out = vec![format!(
                    "broadcast {}: of {}: sent {}, delivered {}, failed {}, pending {}, suppressed {}, cancelled {}",
                    s.id,
                    s.recipients,
                    s.sent,
                    s.delivered,
                    s.failed,
                    s.pending,
                    s.suppressed,
                    s.cancelled
                )];
                for (why, n) in &s.skipped {
                    out.push(format!("skipped ({why}): {n}"));
                }
                if let Some(t) = &s.tally {
                    out.push(format!(
                        "kommer {}, förhinder {}, no answer {}, not delivered {}",
                        t.coming.len(),
                        t.cannot.len(),
                        t.no_answer.len(),
                        t.not_delivered.len()
                    ));
                    for c in &t.cannot {
                        out.push(format!(
                            "  förhinder: participant {} ({})",
                            c.participant_id,
                            c.reason.as_deref().unwrap_or("no reason given")
                        ));
                    }
                }
                out.join("\n")
            })
        }
        BroadcastCmd::CancelActivity { appointment } => {
            let r = engine.cancel_activity(appointment, actor, now).await?;
            print(json, &r, || {
                format!(
                    "{} appointments cancelled; {} participants are told",
                    r.appointments_cancelled, r.notified
                )
            })
        }
    }
}
