//! Outcomes and trials (issue 21) on a seeded data set whose rates are
//! known by construction: 40 participants in a trial of meeting reminders
//! (A: 24h,2h in the unit's wording; B: 48h,2h in the default wording),
//! eight meetings each; everyone in arm A came to 6 of 8, everyone in arm
//! B to 4 of 8, whichever arm the draw put them in. Three of them also had
//! a drug test (a cell too small to show). The unit's meeting rule changed
//! between the fourth and the fifth meeting.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::ui::{self, UiApp};
use paminn::domain::outcomes::{Cell, Suppressed, Verdict};
use paminn::domain::trials::{Arm, Variant, Wording};
use paminn::domain::{AppointmentKind, Attendance, Intensity, ParticipantId, Role, Span};
use paminn::engine::outcomes::{OutcomeReport, TrialRequest};
use paminn::engine::settings::RuleChange;
use paminn::engine::{Actor, Engine};
use paminn::store::appointments::NewAppointment;
use paminn::store::participants::Participant;
use reqwest::StatusCode;
use std::collections::{BTreeMap, BTreeSet};

const PEOPLE: usize = 40;
const MEETINGS: i64 = 8;

fn spans(s: &str) -> Vec<Span> {
    Span::parse_list(s).unwrap()
}

fn actor() -> Actor {
    Actor("test".into())
}

/// Wilson's 95 % interval, written out here independently of the library.
fn wilson(x: f64, n: f64) -> (f64, f64) {
    let z: f64 = 1.959_964;
    let p = x / n;
    let c = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let h = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (c - h, c + h)
}

struct World {
    app: UiApp,
    people: Vec<Participant>,
    trial_id: i64,
    /// Every meeting, by participant.
    meetings: BTreeMap<ParticipantId, Vec<paminn::domain::AppointmentId>>,
    t0: DateTime<Utc>,
    changed_at: DateTime<Utc>,
}

fn shown(c: &Cell) -> (u32, u32, u32) {
    let t = c.tally().unwrap_or_else(|| panic!("hidden: {c:?}"));
    (t.attended, t.absent, t.people)
}

async fn arms(e: &Engine, trial: i64) -> BTreeMap<ParticipantId, Arm> {
    let mut c = e.db.conn().await.unwrap();
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT participant_id, arm FROM trial_assignments WHERE trial_id = $1")
            .bind(trial)
            .fetch_all(&mut *c)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(p, a)| (ParticipantId::from_db(p), Arm::parse(&a).unwrap()))
        .collect()
}

async fn world(t: &common::TestDb) -> World {
    let app = ui::spawn(t, false).await;
    app.staff("cora", Role::Coordinator, Some(app.unit.id))
        .await;
    app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
    let e = &app.engine;
    // Everything happened 40 days ago and since.
    let t0 = Utc::now() - Duration::days(40);
    let mut people = Vec::new();
    for i in 0..PEOPLE {
        people
            .push(common::fx::participant(e, &app.unit, &format!("Namnsson{i}"), "sms", t0).await);
    }
    // The first participant chose no reminders at all.
    e.set_intensity(people[0].id, Intensity::None, &actor(), t0)
        .await
        .unwrap();
    let trial = e
        .create_trial(
            app.unit.id,
            &TrialRequest {
                kind: AppointmentKind::Meeting,
                name: "24h eller 48h".into(),
                a: Variant {
                    offsets: spans("24h,2h"),
                    wording: Wording::Unit,
                },
                b: Variant {
                    offsets: spans("48h,2h"),
                    wording: Wording::Default,
                },
                fewer_than_standard_ack: false,
            },
            &actor(),
            t0,
        )
        .await
        .unwrap();
    let mut meetings: BTreeMap<ParticipantId, Vec<_>> = BTreeMap::new();
    for p in &people {
        for k in 0..MEETINGS {
            let a = e
                .create_appointment(
                    &NewAppointment {
                        participant_id: p.id,
                        series_id: None,
                        kind: AppointmentKind::Meeting,
                        starts_at: t0 + Duration::days(1 + 2 * k) + Duration::hours(3),
                        duration_min: 30,
                        location: None,
                        with_whom: None,
                        internal_note: None,
                        external_ref: None,
                    },
                    &actor(),
                    t0,
                )
                .await
                .unwrap();
            meetings.entry(p.id).or_default().push(a.id);
        }
    }
    // The rule for meetings changed on day 8: meetings 0-3 are before it.
    let changed_at = t0 + Duration::days(8);
    e.set_rule(
        app.unit.id,
        &RuleChange {
            kind: AppointmentKind::Meeting,
            offsets: spans("24h,3h"),
            ask_reply: true,
            reply_deadline: None,
        },
        &actor(),
        changed_at,
    )
    .await
    .unwrap();
    let arm = arms(e, trial.id).await;
    let now = Utc::now();
    for p in &people {
        let came = match arm[&p.id] {
            Arm::A => 6,
            Arm::B => 4,
        };
        // Came to the first `came` of every pair of halves: 3 (or 2) before
        // the rule change and 3 (or 2) after.
        for (k, id) in meetings[&p.id].iter().enumerate() {
            let half = k % 4;
            let attended = half < came / 2;
            let a = if attended {
                Attendance::Attended
            } else {
                Attendance::Absent
            };
            e.record_attendance(*id, a, &actor(), now).await.unwrap();
        }
    }
    // Three of them had a drug test too, and came.
    for p in &people[..3] {
        let a = e
            .create_appointment(
                &NewAppointment {
                    participant_id: p.id,
                    series_id: None,
                    kind: AppointmentKind::DrugTest,
                    starts_at: t0 + Duration::days(2),
                    duration_min: 15,
                    location: None,
                    with_whom: None,
                    internal_note: None,
                    external_ref: None,
                },
                &actor(),
                t0,
            )
            .await
            .unwrap();
        e.record_attendance(a.id, Attendance::Attended, &actor(), now)
            .await
            .unwrap();
    }
    World {
        trial_id: trial.id,
        app,
        people,
        meetings,
        t0,
        changed_at,
    }
}

async fn report(w: &World) -> OutcomeReport {
    w.app
        .engine
        .outcome_report(&actor(), Utc::now(), w.app.unit.id, w.t0, Utc::now(), 5)
        .await
        .unwrap()
}

both_backends! {
    async fn the_report_shows_the_seeded_rates_and_hides_small_cells(t) {
        let w = world(&t).await;
        let arm = arms(&w.app.engine, w.trial_id).await;
        assert_eq!(arm.len(), PEOPLE, "everyone with a meeting is drawn");
        let n_a = arm.values().filter(|a| **a == Arm::A).count() as u32;
        let n_b = PEOPLE as u32 - n_a;
        assert!(n_a > 0 && n_b > 0, "both arms have people");
        let r = report(&w).await;
        let by = |k: &str| r.breakdowns.iter().find(|b| b.by == k).unwrap();
        // Meetings: 6 of 8 in A and 4 of 8 in B; plus three drug tests.
        let kind = by("kind");
        let attended = 6 * n_a + 4 * n_b + 3;
        let absent = 2 * n_a + 4 * n_b;
        assert_eq!(shown(&kind.total), (attended, absent, PEOPLE as u32));
        let cell = |b: &paminn::engine::outcomes::Breakdown, code: &str| {
            b.rows.iter().find(|r| r.code == code).unwrap().cell
        };
        // Three people had a drug test: hidden, and the meeting cell with
        // it (else it would be the total minus the meetings).
        assert_eq!(cell(kind, "drug_test"), Cell::Hidden { reason: Suppressed::FewPeople });
        assert_eq!(cell(kind, "meeting"), Cell::Hidden { reason: Suppressed::Complementary });
        // Nothing was sent (no dispatcher ran) and nobody replied.
        assert_eq!(shown(&cell(by("channel"), "none")), (attended, absent, PEOPLE as u32));
        assert_eq!(shown(&cell(by("reply"), "silent")), (attended, absent, PEOPLE as u32));
        // Before the rule change: meetings 0-3 (3 or 2 came) and the drug tests.
        let rules = by("rules");
        assert_eq!(r.rules_changed_at.map(|t| t.timestamp_millis()), Some(w.changed_at.timestamp_millis()));
        assert_eq!(
            shown(&cell(rules, "before")),
            (3 * n_a + 2 * n_b + 3, n_a + 2 * n_b, PEOPLE as u32)
        );
        assert_eq!(shown(&cell(rules, "after")), (3 * n_a + 2 * n_b, n_a + 2 * n_b, PEOPLE as u32));
        // The total's interval, against Wilson's formula written out here.
        let Cell::Shown { rate: Some(rate), interval: Some(i), .. } = kind.total else { panic!() };
        let n = f64::from(attended + absent);
        let (lo, hi) = wilson(f64::from(attended), n);
        assert!((rate - f64::from(attended) / n).abs() < 1e-12);
        assert!((i.low - lo).abs() < 1e-6 && (i.high - hi).abs() < 1e-6, "{i:?} vs {lo} {hi}");
    }
}

both_backends! {
    async fn a_trial_shows_each_arms_rate_interval_and_verdict(t) {
        let w = world(&t).await;
        let arm = arms(&w.app.engine, w.trial_id).await;
        let n_a = arm.values().filter(|a| **a == Arm::A).count() as u32;
        let n_b = PEOPLE as u32 - n_a;
        let res = w.app.engine.trial_results(&actor(), Utc::now(), w.app.unit.id, 5).await.unwrap();
        assert_eq!(res.len(), 1);
        let r = &res[0];
        assert!(r.running);
        assert_eq!(shown(&r.a), (6 * n_a, 2 * n_a, n_a));
        assert_eq!(shown(&r.b), (4 * n_b, 4 * n_b, n_b));
        let Cell::Shown { interval: Some(ia), .. } = r.a else { panic!() };
        let (lo, hi) = wilson(f64::from(6 * n_a), f64::from(8 * n_a));
        assert!((ia.low - lo).abs() < 1e-6 && (ia.high - hi).abs() < 1e-6);
        assert!(ia.low < 0.75 && 0.75 < ia.high);
        let d = r.difference.unwrap();
        assert!(d.low < 0.25 && 0.25 < d.high, "the true difference is 75 % − 50 %: {d:?}");
        if n_a >= 5 && n_b >= 5 && d.width() <= 0.30 {
            assert_eq!(r.verdict, Verdict::AHigher);
        } else {
            assert_eq!(r.verdict, Verdict::TooFew);
        }
        // The page says it in words.
        let mut b = w.app.login("cora").await;
        let (status, page) = b.get(&format!("/outcomes/trials?unit={}", w.app.unit.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("24h eller 48h"));
        assert!(page.contains("Fler kom med variant A.") || page.contains("För få för att säga."));
    }
}

both_backends! {
    async fn arms_choose_the_reminders_but_intensity_wins_and_assignment_is_stable(t) {
        let w = world(&t).await;
        let e = &w.app.engine;
        let arm = arms(e, w.trial_id).await;
        let mut c = e.db.conn().await.unwrap();
        // The reminders of the first meeting of each person, as planned.
        for p in &w.people {
            let first = w.meetings[&p.id][0];
            let rows: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT offset_min, trial_arm, wording FROM outbox
                 WHERE appointment_id = $1 AND purpose = 'reminder' ORDER BY offset_min",
            )
            .bind(first.get())
            .fetch_all(&mut *c)
            .await
            .unwrap();
            if p.id == w.people[0].id {
                assert!(rows.is_empty(), "intensity 'none' wins over the arm: {rows:?}");
                continue;
            }
            let (offsets, wording) = match arm[&p.id] {
                Arm::A => (vec![120, 1440], "unit"),
                Arm::B => (vec![120, 2880], "default"),
            };
            assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), offsets);
            for r in &rows {
                assert_eq!(r.1.as_deref(), Some(arm[&p.id].as_str()));
                assert_eq!(r.2.as_deref(), Some(wording));
            }
        }
        drop(c);
        // A restarted engine over the same database, replanning a meeting:
        // the same arm.
        let again = Engine::new(e.db.clone());
        let p = &w.people[1];
        let future = Utc::now() + Duration::days(3);
        let moved = again
            .create_appointment(
                &NewAppointment {
                    participant_id: p.id,
                    series_id: None,
                    kind: AppointmentKind::Meeting,
                    starts_at: future,
                    duration_min: 30,
                    location: None,
                    with_whom: None,
                    internal_note: None,
                    external_ref: None,
                },
                &actor(),
                Utc::now(),
            )
            .await
            .unwrap();
        let after = arms(&again, w.trial_id).await;
        assert_eq!(after, arm, "no assignment changed");
        let mut c = again.db.conn().await.unwrap();
        let got: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT trial_arm FROM outbox WHERE appointment_id = $1",
        )
        .bind(moved.id.get())
        .fetch_all(&mut *c)
        .await
        .unwrap();
        assert!(!got.is_empty());
        assert!(got.iter().all(|a| a.as_deref() == Some(arm[&p.id].as_str())));
        // The draw is in the case record.
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM journal WHERE participant_id = $1 AND kind = 'trial_assigned'",
        )
        .bind(p.id.get())
        .fetch_one(&mut *c)
        .await
        .unwrap();
        assert_eq!(n, 1, "drawn once");
    }
}

both_backends! {
    async fn fewer_reminders_than_standard_needs_the_explicit_choice(t) {
        let w = world(&t).await;
        let e = &w.app.engine;
        let req = |ack| TrialRequest {
            kind: AppointmentKind::DrugTest,
            name: "en eller två".into(),
            a: Variant { offsets: spans("24h"), wording: Wording::Unit },
            b: Variant { offsets: spans("24h,2h"), wording: Wording::Unit },
            fewer_than_standard_ack: ack,
        };
        let refused = e.create_trial(w.app.unit.id, &req(false), &actor(), Utc::now()).await;
        assert!(refused.is_err(), "standard for drug tests is 24h,2h");
        // Through the page: the form is shown again with the reason.
        let mut b = w.app.login("cora").await;
        let (status, _) = b.get(&format!("/outcomes/trials?unit={}", w.app.unit.id)).await;
        assert_eq!(status, StatusCode::OK);
        let unit = w.app.unit.id.to_string();
        let fields = [
            ("unit", unit.as_str()), ("name", "en eller två"), ("kind", "drug_test"),
            ("a_offsets", "24h"), ("a_wording", "unit"), ("b_offsets", "24h,2h"), ("b_wording", "unit"),
        ];
        let res = b.post("/outcomes/trials", &fields).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Kryssa i rutan"));
        let mut with_ack = fields.to_vec();
        with_ack.push(("fewer_ack", "1"));
        let (status, _) = b.get(&format!("/outcomes/trials?unit={}", w.app.unit.id)).await;
        assert_eq!(status, StatusCode::OK);
        let res = b.post("/outcomes/trials", &with_ack).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(w.app.audit("trial.create").await.len(), 2, "the meeting trial and this one");
        // The choice is recorded on the trial.
        let mut c = e.db.conn().await.unwrap();
        let ack: i64 = sqlx::query_scalar(
            "SELECT fewer_than_standard_ack FROM trials WHERE kind = 'drug_test'",
        )
        .fetch_one(&mut *c)
        .await
        .unwrap();
        assert_eq!(ack, 1);
    }
}

both_backends! {
    async fn the_export_has_no_names_or_numbers_and_fresh_pseudonyms(t) {
        let w = world(&t).await;
        let mut b = w.app.login("cora").await;
        let path = format!("/outcomes/export.csv?unit={}", w.app.unit.id);
        let (s1, one) = b.get(&path).await;
        let (s2, two) = b.get(&path).await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
        for csv in [&one, &two] {
            assert!(!csv.contains("Namnsson"), "no names");
            // The fixture number is 070-123 45 67 (+46701234567).
            assert!(!csv.contains("1234567") && !csv.contains("123 45 67"), "no numbers");
        }
        let pseudonyms = |csv: &str| -> Vec<String> {
            csv.lines().skip(1).map(|l| l.split(';').next().unwrap().to_string()).collect()
        };
        let (p1, p2) = (pseudonyms(&one), pseudonyms(&two));
        assert_eq!(p1.len(), PEOPLE * MEETINGS as usize + 3, "one line per counted appointment");
        let (d1, d2): (BTreeSet<_>, BTreeSet<_>) = (p1.iter().collect(), p2.iter().collect());
        assert_eq!(d1.len(), PEOPLE, "one pseudonym per person within an export");
        assert!(d1.is_disjoint(&d2), "a new key for every export");
        // The three drug tests are a value too few people have: blanked.
        assert!(!one.contains("drug_test"));
        assert_eq!(w.app.audit("outcomes.export").await.len(), 2);
    }
}

both_backends! {
    async fn only_coordinators_and_admins_see_outcomes(t) {
        let w = world(&t).await;
        let mut lisa = w.app.login("lisa").await;
        for path in ["/outcomes", "/outcomes/trials", "/outcomes/export.csv", "/outcomes/outcomes.csv"] {
            let (status, _) = lisa.get(path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        }
        let mut cora = w.app.login("cora").await;
        let (status, page) = cora.get("/outcomes").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("för få personer"), "the hidden cell says why");
        assert!(page.contains("<svg"), "the chart");
        assert!(!page.contains("Namnsson"));
        let (status, csv) = cora.get(&format!("/outcomes/outcomes.csv?unit={}", w.app.unit.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(csv.contains("kind;drug_test;–;–;–;–;–;–;few_people"), "{csv}");
    }
}

both_backends! {
    async fn the_api_gives_the_same_report_within_the_tokens_unit(t) {
        use paminn::domain::api_scope::{TokenAccess, TokenScope};
        let w = world(&t).await;
        let other = common::fx::unit(&w.app.engine, "Enhet B", Utc::now()).await;
        let token = |unit: paminn::domain::UnitId| {
            let e = w.app.engine.clone();
            async move {
                let mut c = e.db.conn().await.unwrap();
                let scope = TokenScope { access: TokenAccess::Read, unit: Some(unit) };
                paminn::store::tokens::create_scoped(&mut c, "eval", scope, 90, Utc::now())
                    .await
                    .unwrap()
                    .1
            }
        };
        let http = reqwest::Client::new();
        let mine = token(w.app.unit.id).await;
        let url = format!("{}/api/v1/units/{}/outcomes", w.app.base, w.app.unit.id);
        let (status, body) = common::server::call(&http, &url, &mine, reqwest::Method::GET, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let kind = v["breakdowns"].as_array().unwrap().iter().find(|b| b["by"] == "kind").unwrap();
        let direct = report(&w).await;
        let want = direct.breakdowns.iter().find(|b| b.by == "kind").unwrap();
        assert_eq!(kind["total"]["attended"], serde_json::json!(want.total.tally().unwrap().attended));
        let drug = kind["rows"].as_array().unwrap().iter().find(|r| r["code"] == "drug_test").unwrap();
        assert_eq!(drug["cell"]["state"], "hidden");
        assert!(!body.contains("Namnsson"));
        let (status, body) = common::server::call(
            &http, &format!("{}/api/v1/units/{}/trials", w.app.base, w.app.unit.id),
            &mine, reqwest::Method::GET, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("24h eller 48h") && !body.contains("seed"));
        // Another unit's token learns nothing about this unit.
        let theirs = token(other.id).await;
        let (status, _) = common::server::call(&http, &url, &theirs, reqwest::Method::GET, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
