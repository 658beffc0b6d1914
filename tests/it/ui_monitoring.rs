//! The monitoring pages: the message search (never the text), its CSV
//! export (audited), participants without a working number, the weekly
//! delivery and reply chart, SMS cost per month; coordinators see their own
//! unit, admins every unit, lotsar and assistants nothing.

use crate::common;

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Europe::Stockholm;
use common::ui::{self, UiApp};
use paminn::domain::{AppointmentKind, ChannelKind, Language, Role};
use paminn::engine::Actor;
use paminn::store::appointments::{self, NewAppointment};
use paminn::store::participants::{NewParticipant, Participant};
use paminn::store::units::Unit;
use paminn::web::ui::local_dt;
use reqwest::StatusCode;

/// Text that must never reach a monitoring page or export.
const SECRET: &str = "HEMLIG-TEXT-123";

/// An outbox row as the dispatcher would have left it.
struct Msg {
    status: &'static str,
    channel: &'static str,
    at: DateTime<Utc>,
    parts: Option<i64>,
    encoding: Option<&'static str>,
    cost: Option<i64>,
    error: Option<&'static str>,
    /// `outbox.error_kind`, as the dispatcher classified the failure.
    kind: Option<&'static str>,
    appointment: Option<i64>,
    ask_reply: bool,
}

impl Msg {
    fn sms(status: &'static str, at: DateTime<Utc>) -> Msg {
        let sent = matches!(status, "sent" | "delivered");
        Msg {
            status,
            channel: "sms",
            at,
            parts: sent.then_some(1),
            encoding: sent.then_some("gsm7"),
            cost: sent.then_some(3500),
            error: None,
            kind: None,
            appointment: None,
            ask_reply: false,
        }
    }
}

async fn msg(app: &UiApp, p: &Participant, m: Msg) -> i64 {
    let mut c = app.engine.db.conn().await.unwrap();
    let at = paminn::store::ms(m.at);
    let sent = matches!(m.status, "sent" | "delivered").then_some(at);
    sqlx::query_scalar(
        "INSERT INTO outbox (participant_id, appointment_id, purpose, channel, ask_reply, due_at,
                             next_attempt_at, status, body, last_error, sent_at, encoding, parts, cost,
                             currency, error_kind, created_at, updated_at)
         VALUES ($1, $2, 'reminder', $3, $4, $5, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $5, $5)
         RETURNING id",
    )
    .bind(p.id.get())
    .bind(m.appointment)
    .bind(m.channel)
    .bind(i64::from(m.ask_reply))
    .bind(at)
    .bind(m.status)
    .bind(SECRET)
    .bind(m.error)
    .bind(sent)
    .bind(m.encoding)
    .bind(m.parts)
    .bind(m.cost)
    .bind(m.cost.map(|_| "SEK"))
    .bind(m.kind)
    .fetch_one(&mut *c)
    .await
    .unwrap()
}

async fn person(app: &UiApp, unit: &Unit, name: &str, phone: bool) -> Participant {
    let new = NewParticipant {
        unit_id: unit.id,
        first_name: name.into(),
        phone: phone.then(|| paminn::domain::PhoneNumber::parse("070-123 45 67").unwrap()),
        language: Language::Sv,
        channel_pref: ChannelKind::Sms,
        time_zone: Stockholm,
        discreet: true,
        lots_id: None,
    };
    app.engine
        .add_participant(
            &new,
            Some("sms".parse().unwrap()),
            &Actor("test".into()),
            Utc::now(),
        )
        .await
        .unwrap()
}

/// Unit A with Ali (one delivered, one failed SMS), Bea (no phone) and Dan
/// (invalid number); unit B with Cem (one delivered SMS). Staff in A:
/// coordinator "cora", lots "lisa", assistant "asta"; "bob" coordinates B;
/// "boss" is admin.
struct World {
    app: UiApp,
    b: Unit,
    ali: Participant,
    dan: Participant,
    delivered_at: DateTime<Utc>,
    failed_at: DateTime<Utc>,
}

async fn world(t: &common::TestDb) -> World {
    let app = ui::spawn(t, false).await;
    let b = common::fx::unit(&app.engine, "Enhet B", Utc::now()).await;
    app.staff("cora", Role::Coordinator, Some(app.unit.id))
        .await;
    app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
    app.staff("asta", Role::Assistant, Some(app.unit.id)).await;
    app.staff("bob", Role::Coordinator, Some(b.id)).await;
    app.staff("boss", Role::Admin, None).await;
    let unit = app.unit.clone();
    let ali = person(&app, &unit, "Ali", true).await;
    person(&app, &unit, "Bea", false).await;
    let dan = person(&app, &unit, "Dan", true).await;
    let cem = person(&app, &b, "Cem", true).await;
    let now = Utc::now();
    let delivered_at = now - Duration::hours(26);
    let failed_at = now - Duration::hours(50);
    msg(&app, &ali, Msg::sms("delivered", delivered_at)).await;
    msg(
        &app,
        &ali,
        Msg {
            error: Some("gateway error (HTTP 503): busy (gave up after 5 attempts)"),
            kind: Some("gave_up"),
            ..Msg::sms("failed", failed_at)
        },
    )
    .await;
    msg(
        &app,
        &dan,
        Msg {
            error: Some("gateway rejected the message (HTTP 403): Invalid to number"),
            kind: Some("invalid_number"),
            ..Msg::sms("failed", now - Duration::hours(30))
        },
    )
    .await;
    msg(&app, &cem, Msg::sms("delivered", now - Duration::hours(20))).await;
    World {
        app,
        b,
        ali,
        dan,
        delivered_at,
        failed_at,
    }
}

fn sv(at: DateTime<Utc>) -> String {
    local_dt(Language::Sv, at, Stockholm)
}

/// The body of the messages table.
fn messages_table(page: &str) -> &str {
    let start = page.find(r#"<table class="messages">"#).unwrap_or(0);
    let end = page[start..]
        .find("</table>")
        .map(|e| start + e)
        .unwrap_or(page.len());
    &page[start..end]
}

both_backends! {
    async fn a_coordinator_searches_their_units_messages_without_their_text(t) {
        let w = world(&t).await;
        let mut b = w.app.login("cora").await;
        let (status, page) = b.get("/monitoring").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Uppföljning</h1>"));
        let table = messages_table(&page);
        assert!(table.contains(&sv(w.delivered_at)), "local time with the weekday: {table}");
        assert!(table.contains(&sv(w.failed_at)));
        assert!(table.contains(r#"<span class="badge delivered">levererad</span>"#));
        assert!(table.contains(r#"<span class="badge failed">misslyckad</span>"#));
        assert!(table.contains("operatören svarade inte"), "the failure is classified");
        assert!(table.contains(&format!(r#"<a href="/participants/{}">Ali</a>"#, w.ali.id)));
        assert!(table.contains("GSM-7") && table.contains("0,35 SEK"));
        assert!(page.contains("Meddelanden: 3"), "Ali's two and Dan's one");
        assert!(!page.contains(SECRET), "never the text");
        assert!(!page.contains("Cem"), "another unit's participant");

        // Narrowing by status, participant and channel.
        let (_, page) = b.get("/monitoring?status=failed").await;
        let table = messages_table(&page);
        assert!(table.contains(&sv(w.failed_at)) && !table.contains(&sv(w.delivered_at)));
        assert!(page.contains("Meddelanden: 2") && table.contains("Dan"));
        let (_, page) = b.get("/monitoring?participant=ali").await;
        assert!(page.contains("Meddelanden: 2") && !messages_table(&page).contains("Dan"));
        let (_, page) = b.get(&format!("/monitoring?participant=%23{}&status=delivered", w.ali.id)).await;
        assert!(page.contains("Meddelanden: 1"));
        assert!(messages_table(&page).contains(&sv(w.delivered_at)));
        let (_, page) = b.get("/monitoring?channel=telegram").await;
        assert!(page.contains("Meddelanden: 0") && page.contains("Inga meddelanden matchar"));
        // A date range that ends before the messages.
        let long_ago = (Utc::now() - Duration::days(40)).date_naive();
        let (_, page) = b.get(&format!("/monitoring?from={}&to={}", long_ago, long_ago + Duration::days(2))).await;
        assert!(page.contains("Meddelanden: 0"));
        let (status, page) = b.get("/monitoring?from=igår").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("igår") && page.contains("är inget datum. Skriv t.ex. 2026-12-01."));
        // Every search that listed messages is in the audit log, by whom
        // and for which unit (the refused one listed nothing).
        let views = w.app.audit("monitoring.view").await;
        assert_eq!(views.len(), 6, "{views:?}");
        assert!(views.iter().all(|(a, t)| a.starts_with("staff:") && t == &format!("unit:{}", w.app.unit.id)));
    }
}

both_backends! {
    async fn numbers_that_are_missing_or_invalid_are_counted_per_unit(t) {
        let w = world(&t).await;
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/monitoring").await;
        assert!(page.contains(r#"<td>Enhet A</td><td data-count="missing">1</td><td data-count="invalid">1</td>"#), "{page}");
        assert!(page.contains("Bea</a> (#") && page.contains("Saknar nummer"));
        assert!(page.contains("Dan</a> (#") && page.contains("Ogiltigt nummer"));
        // Once an SMS to Dan goes through, his number is no longer invalid.
        msg(&w.app, &w.dan, Msg::sms("sent", Utc::now() - Duration::hours(1))).await;
        let (_, page) = b.get("/monitoring").await;
        assert!(page.contains(r#"<td>Enhet A</td><td data-count="missing">1</td><td data-count="invalid">0</td>"#));
        // What counts is the latest by time, not the latest row written.
        msg(&w.app, &w.dan, Msg {
            error: Some("gateway rejected the number (Twilio 21211): not a valid phone number"),
            kind: Some("invalid_number"),
            ..Msg::sms("failed", Utc::now() - Duration::days(10))
        }).await;
        let (_, page) = b.get("/monitoring").await;
        assert!(page.contains(r#"<td>Enhet A</td><td data-count="missing">1</td><td data-count="invalid">0</td>"#));
    }
}

both_backends! {
    async fn lotsar_assistants_and_other_units_are_refused(t) {
        let w = world(&t).await;
        for who in ["lisa", "asta"] {
            let mut b = w.app.login(who).await;
            for path in ["/monitoring", "/monitoring/messages.csv", "/monitoring/chart.svg"] {
                assert_eq!(b.get(path).await.0, StatusCode::FORBIDDEN, "{who} {path}");
            }
            let (_, page) = b.get("/account").await;
            assert!(!page.contains(r#"href="/monitoring""#), "no menu entry for {who}");
        }
        let mut cora = w.app.login("cora").await;
        for path in ["/monitoring", "/monitoring/messages.csv", "/monitoring/chart.svg"] {
            let (status, _) = cora.get(&format!("{path}?unit={}", w.b.id)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "another unit: {path}");
        }
        assert!(w.app.audit("monitoring.export").await.is_empty());
        assert!(w.app.audit("monitoring.view").await.is_empty(), "a refused view lists nothing");
        // Without a session: to the login page.
        assert_eq!(w.app.browser().get_location("/monitoring").await.as_deref(), Some("/login?next=%2Fmonitoring"));
    }
}

both_backends! {
    async fn an_admin_sees_every_unit_or_picks_one(t) {
        let w = world(&t).await;
        let mut b = w.app.login("boss").await;
        let (status, page) = b.get("/monitoring").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Meddelanden: 4") && messages_table(&page).contains("Cem"));
        assert!(page.contains("<td>Enhet B</td>"), "unit column and counts for every unit");
        let (_, page) = b.get(&format!("/monitoring?unit={}", w.b.id)).await;
        assert!(page.contains("Meddelanden: 1") && !messages_table(&page).contains("Ali"));
        let mut bob = w.app.login("bob").await;
        let (_, page) = bob.get("/monitoring").await;
        assert!(page.contains("Meddelanden: 1") && messages_table(&page).contains("Cem"));
    }
}

both_backends! {
    async fn the_csv_export_has_the_filtered_rows_no_text_and_is_audited(t) {
        let w = world(&t).await;
        let mut b = w.app.login("cora").await;
        let res = b.http.get(format!("{}/monitoring/messages.csv?participant=Ali", b.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
        let disposition = res.headers()["content-disposition"].to_str().unwrap().to_string();
        assert!(disposition.starts_with("attachment; filename=\"paminn-meddelanden-") && disposition.ends_with(".csv\""), "{disposition}");
        let body = res.text().await.unwrap();
        assert!(body.starts_with('\u{feff}'), "a BOM for Excel");
        let lines: Vec<&str> = body.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines[0], "Tid;Veckodag;Deltagarnummer;Förnamn;Enhet;Slags meddelande;Kanal;Status;Delar;Teckenkodning;Kostnad;Valuta;Orsak");
        assert_eq!(lines.len(), 3, "header and Ali's two messages: {body}");
        let local = w.delivered_at.with_timezone(&Stockholm);
        let wd = ["mån", "tis", "ons", "tor", "fre", "lör", "sön"][local.weekday().num_days_from_monday() as usize];
        assert_eq!(
            lines[1],
            format!("{};{wd};{};Ali;Enhet A;Påminnelse;SMS;levererad;1;GSM-7;0,35;SEK;", local.format("%Y-%m-%d %H:%M"), w.ali.id)
        );
        assert!(lines[2].contains(";misslyckad;") && lines[2].ends_with(";operatören svarade inte"));
        assert!(!body.contains("delivered") && !body.contains("failed") && !body.contains("gsm7"), "no English values under Swedish headers: {body}");
        assert!(!body.contains(SECRET) && !body.contains("Dan") && !body.contains("Cem"));
        let audit = w.app.audit("monitoring.export").await;
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].1, format!("unit:{}", w.app.unit.id));
        assert!(audit[0].0.starts_with("staff:"));
        // The same filter as the page: status narrows it too.
        let (_, csv) = b.get("/monitoring/messages.csv?status=failed").await;
        assert_eq!(csv.lines().count(), 3, "Ali's and Dan's failures: {csv}");
        assert_eq!(w.app.audit("monitoring.export").await.len(), 2);
        // English headers and decimal points in English.
        b.http.get(format!("{}/lang/en", b.base)).send().await.unwrap();
        let (_, csv) = b.get("/monitoring/messages.csv?status=delivered").await;
        assert!(csv.contains("Time;Weekday;Participant number") && csv.contains(";0.35;SEK;"), "{csv}");
        assert!(csv.contains(";Reminder;SMS;delivered;1;GSM-7;"), "values in English too: {csv}");
        assert!(!csv.contains("levererad") && !csv.contains("Påminnelse"), "no Swedish values under English headers: {csv}");
    }
}

both_backends! {
    async fn the_chart_shows_twelve_weeks_of_delivery_and_replies(t) {
        let w = world(&t).await;
        let now = Utc::now();
        // A reminder asked for a reply to an appointment two days ago; Ali
        // answered.
        let started = now - Duration::days(2);
        let appointment = {
            let mut c = w.app.engine.db.conn().await.unwrap();
            let id = appointments::insert(&mut c, w.app.unit.id, &NewAppointment {
                participant_id: w.ali.id,
                series_id: None,
                kind: AppointmentKind::Meeting,
                starts_at: started,
                duration_min: 60,
                location: None,
                with_whom: None,
                internal_note: None,
                external_ref: None,
            }, now - Duration::days(5)).await.unwrap().unwrap();
            sqlx::query("UPDATE appointments SET reply = 'coming' WHERE id = $1").bind(id.get()).execute(&mut *c).await.unwrap();
            id.get()
        };
        msg(&w.app, &w.ali, Msg { appointment: Some(appointment), ask_reply: true, ..Msg::sms("delivered", started - Duration::hours(24)) }).await;
        // Another week with a delivery, so the line has two points.
        msg(&w.app, &w.ali, Msg::sms("delivered", now - Duration::days(9))).await;
        let mut b = w.app.login("cora").await;
        let res = b.http.get(format!("{}/monitoring/chart.svg", b.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "image/svg+xml; charset=utf-8");
        let svg = res.text().await.unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<title id=\"chart-title\">Leverans och svar per vecka, Enhet A</title>"));
        let today = now.with_timezone(&Stockholm).date_naive();
        for weeks_ago in [0, 11] {
            let week = (today - Duration::weeks(weeks_ago)).iso_week().week();
            assert!(svg.contains(&format!(">v. {week}</text>")), "week {week} labelled: {svg}");
        }
        assert_eq!(svg.matches("text-anchor=\"middle\"").count(), 12, "twelve weeks");
        assert!(svg.contains("<polyline class=\"delivery\""), "a line through consecutive weeks");
        assert!(svg.contains("Svarade 100 %"), "the reply rate of the week Ali answered");
        // The page has the chart inline and the same figures as a table.
        let (_, page) = b.get("/monitoring").await;
        assert!(page.contains("<figure class=\"chart-box\">\n<svg"));
        assert!(page.contains(r#"<caption id="rates-caption">Leverans och svar per vecka, i siffror</caption>"#));
        let this_week = format!("<th scope=\"row\">v. {}", today.iso_week().week());
        assert!(page.contains(&this_week));
    }
}

both_backends! {
    async fn sms_parts_and_cost_are_summed_per_month(t) {
        let w = world(&t).await;
        let now = Utc::now();
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/monitoring").await;
        let start = page.find("<table class=\"months\">").unwrap();
        let months = &page[start..start + page[start..].find("</table>").unwrap()];
        assert_eq!(months.matches("<tr><th scope=\"row\">").count(), 12, "twelve months: {months}");
        let month = |at: DateTime<Utc>| {
            let l = at.with_timezone(&Stockholm);
            let names = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"];
            format!("{} {}", names[l.month0() as usize], l.year())
        };
        // Ali's delivered SMS in unit A (Dan's and Ali's failures have no cost).
        assert!(months.contains(&format!("<tr><th scope=\"row\">{}</th>", month(now))), "the current month");
        assert!(months.contains(&format!("<tr><th scope=\"row\">{}</th><td>1</td><td>1</td><td>0,35 SEK</td></tr>", month(w.delivered_at))), "{months}");
    }
}

both_backends! {
    async fn the_search_pages_by_a_hundred(t) {
        let w = world(&t).await;
        let now = Utc::now();
        for i in 0..100 {
            msg(&w.app, &w.ali, Msg::sms("sent", now - Duration::minutes(10 + i))).await;
        }
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/monitoring?participant=Ali").await;
        assert!(page.contains("Meddelanden: 102") && page.contains("Sida 1 / 2"));
        assert_eq!(messages_table(&page).matches("<tr>").count(), 101, "a header and 100 rows");
        assert!(!messages_table(&page).contains(&sv(w.failed_at)), "the oldest is on page 2");
        let (_, page) = b.get("/monitoring?participant=Ali&page=2").await;
        assert!(page.contains("Sida 2 / 2") && page.contains(r#"rel="prev""#) && !page.contains(r#"rel="next""#));
        let table = messages_table(&page);
        assert_eq!(table.matches("<tr>").count(), 3, "a header and the two oldest");
        assert!(table.contains(&sv(w.failed_at)));
    }
}

both_backends! {
    /// Issue 15 item 6: a first name (or a unit's name) that is a formula
    /// reaches the CSV as text, with a leading apostrophe (OWASP), so Excel
    /// does not run it; other cells stay as they were.
    async fn the_csv_export_neutralises_formulas(t) {
        let w = world(&t).await;
        let unit = w.app.unit.clone();
        let names = ["=cmd|' /C calc'!A0", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"];
        for name in names {
            let p = person(&w.app, &unit, name, true).await;
            msg(&w.app, &p, Msg::sms("delivered", Utc::now() - Duration::hours(3))).await;
        }
        let evil_unit = common::fx::unit(&w.app.engine, "=HYPERLINK(\"http://evil.example\")", Utc::now()).await;
        let eve = person(&w.app, &evil_unit, "Eve", true).await;
        msg(&w.app, &eve, Msg::sms("delivered", Utc::now() - Duration::hours(3))).await;
        w.app.staff("admin2", Role::Admin, None).await;
        let mut b = w.app.login("admin2").await;
        let (status, csv) = b.get(&format!("/monitoring/messages.csv?unit={}", unit.id)).await;
        assert_eq!(status, StatusCode::OK, "{csv}");
        let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        let first_names: Vec<String> = reader.records().map(|r| r.unwrap()[3].to_string()).collect();
        for name in names {
            assert!(first_names.contains(&format!("'{name}")), "{name} neutralised: {first_names:?}");
        }
        assert!(first_names.contains(&"Ali".to_string()), "ordinary names unchanged: {first_names:?}");
        for f in &first_names {
            assert!(!f.starts_with(['=', '+', '-', '@', '\t', '\r']), "{f}");
        }
        let (_, csv) = b.get(&format!("/monitoring/messages.csv?unit={}", evil_unit.id)).await;
        let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        let units: Vec<String> = reader.records().map(|r| r.unwrap()[4].to_string()).collect();
        assert_eq!(units, vec!["'=HYPERLINK(\"http://evil.example\")".to_string()]);
    }
}

both_backends! {
    async fn a_reply_asked_and_given_this_week_counts_this_week_even_before_the_appointment(t) {
        let w = world(&t).await;
        let now = Utc::now();
        // Tomorrow's appointments: the reminders asking for a reply went out
        // just now (this week, whatever the hour); Ali answered, Dan has not yet. Staff see Ali's reply,
        // so the week may not say "asked 0".
        let mut ids = Vec::new();
        for (who, reply) in [(&w.ali, "coming"), (&w.dan, "none")] {
            let mut c = w.app.engine.db.conn().await.unwrap();
            let id = appointments::insert(&mut c, w.app.unit.id, &NewAppointment {
                participant_id: who.id,
                series_id: None,
                kind: AppointmentKind::Meeting,
                starts_at: now + Duration::days(1),
                duration_min: 60,
                location: None,
                with_whom: None,
                internal_note: None,
                external_ref: None,
            }, now - Duration::days(3)).await.unwrap().unwrap();
            sqlx::query("UPDATE appointments SET reply = $1 WHERE id = $2").bind(reply).bind(id.get()).execute(&mut *c).await.unwrap();
            ids.push((who, id.get()));
        }
        for (who, id) in &ids {
            msg(&w.app, who, Msg { appointment: Some(*id), ask_reply: true, ..Msg::sms("delivered", now) }).await;
            // Asked again on the other channel: the appointment still counts once.
            msg(&w.app, who, Msg { appointment: Some(*id), ask_reply: true, channel: "telegram", ..Msg::sms("sent", now) }).await;
        }
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/monitoring").await;
        let today = now.with_timezone(&Stockholm).date_naive();
        let row_start = page.find(&format!("<th scope=\"row\">v. {}", today.iso_week().week())).expect("this week's row");
        let row = &page[row_start..row_start + page[row_start..].find("</tr>").unwrap()];
        assert!(row.ends_with("<td>2</td><td>1</td><td>50 %</td>\n  "), "asked 2, replied 1: {row}");
    }
}
