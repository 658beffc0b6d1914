//! The command line as scripts use it: the binary, its flags, its JSON and
//! its exit codes, on both backends.

use crate::common;

use serde_json::Value;
use std::process::{Command, Output};

struct Paminn {
    url: String,
    dir: tempfile::TempDir,
}

impl Paminn {
    fn new(url: &str) -> Self {
        Paminn {
            url: url.into(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_paminn"))
            .args(args)
            .env("PAMINN_DATABASE_URL", &self.url)
            .env("PAMINN_DATA_DIR", self.dir.path())
            .env_remove("PAMINN_CONFIG")
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    fn fails(&self, args: &[&str]) -> (i32, String) {
        let o = self.run(args);
        assert!(!o.status.success(), "{args:?} should fail");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

fn setup(t: &common::TestDb) -> (Paminn, i64) {
    let p = Paminn::new(&t.url);
    p.ok(&["unit", "add", "Chansen"]);
    p.ok(&[
        "rule",
        "set",
        "--unit",
        "Chansen",
        "--kind",
        "meeting",
        "--offsets",
        "24h,2h",
    ]);
    let ali = p.json(&[
        "participant",
        "add",
        "--unit",
        "Chansen",
        "--name",
        "Ali",
        "--phone",
        "070-123 45 67",
        "--consent",
        "sms",
    ]);
    assert_eq!(ali["phone"], "+46701234567");
    assert_eq!(ali["discreet"], true);
    (p, ali["id"].as_i64().unwrap())
}

both_backends! {
    async fn a_script_books_an_appointment_and_reads_the_outbox_as_json(t) {
        let (p, id) = setup(&t);
        let id = id.to_string();
        let a = p.json(&["appointment", "add", "--participant", &id, "--kind", "meeting",
            "--at", "2030-12-10T11:00", "--duration", "45m", "--location", "Storgatan 1"]);
        // 11:00 in Stockholm in December is 10:00 UTC.
        assert_eq!(a["starts_at"], "2030-12-10T10:00:00Z");
        let rows = p.json(&["outbox", "--participant", &id]);
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        for key in ["id", "appointment_id", "channel", "due_at", "status", "body"] {
            assert!(rows[0].get(key).is_some(), "outbox JSON lacks {key}");
        }
        assert_eq!(rows[0]["due_at"], "2030-12-09T10:00:00Z");
        assert_eq!(rows[1]["due_at"], "2030-12-10T08:00:00Z");
        assert_eq!(rows[0]["status"], "pending");
        // Moving re-plans; cancelling clears.
        let aid = a["id"].to_string();
        p.ok(&["appointment", "move", &aid, "--at", "2030-12-11T10:00"]);
        let pending: Vec<Value> = p.json(&["outbox"]).as_array().unwrap().iter()
            .filter(|r| r["status"] == "pending").cloned().collect();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0]["due_at"], "2030-12-10T09:00:00Z");
        p.ok(&["appointment", "cancel", &aid]);
        assert!(p.json(&["outbox"]).as_array().unwrap().iter().all(|r| r["status"] == "cancelled"));
        let journal = p.json(&["journal", &id]);
        let kinds: Vec<&str> = journal.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        for k in ["participant_created", "consent_recorded", "appointment_created", "appointment_moved", "appointment_cancelled"] {
            assert!(kinds.contains(&k), "journal lacks {k}: {kinds:?}");
        }
    }
}

both_backends! {
    async fn mistakes_get_clear_errors_and_a_nonzero_exit(t) {
        let (p, id) = setup(&t);
        let id = id.to_string();
        let (code, err) = p.fails(&["participant", "add", "--unit", "Chansen", "--name", "Bo", "--phone", "12345"]);
        assert_eq!(code, 1);
        assert!(err.contains("not a valid number"), "{err}");
        let (_, err) = p.fails(&["appointment", "add", "--participant", &id, "--at", "imorgon"]);
        assert!(err.contains("2026-12-10T09:00"), "{err}");
        let (code, err) = p.fails(&["appointment", "add", "--participant", &id, "--kind", "fika", "--at", "2030-01-01T10:00"]);
        assert_eq!(code, 2, "clap usage error");
        assert!(err.contains("meeting, drug_test"), "{err}");
        let (_, err) = p.fails(&["participant", "show", "999"]);
        assert!(err.contains("participant 999 not found"), "{err}");
        let (_, err) = p.fails(&["unit", "add", "Chansen"]);
        assert!(err.contains("already exists"), "{err}");
        let (_, err) = p.fails(&["rule", "set", "--unit", "Nope", "--kind", "meeting", "--offsets", "2h"]);
        assert!(err.contains("unit 'Nope' not found"), "{err}");
    }
}

both_backends! {
    async fn a_csv_with_bad_rows_reports_each_line_and_keeps_the_good_ones(t) {
        let (p, id) = setup(&t);
        p.json(&["participant", "add", "--unit", "Chansen", "--name", "Bea", "--phone", "+46 70 765 43 21", "--consent", "sms"]);
        let csv = format!(
            "\u{FEFF}Deltagare;Telefon;Datum;Tid;Typ;Plats;Referens\r\n\
             {id};;2030-12-10;09:00;möte;Kontoret;R1\r\n\
             ;070-765 43 21;11/12/2030;13:30;meeting;;R2\r\n\
             abc;;2030-12-10;09:00;möte;;R3\r\n\
             {id};;2030-12-32;09:00;möte;;R4\r\n\
             ;070-000 00 00;2030-12-10;09:00;möte;;R5\r\n\
             {id};;2030-12-12;10:00;fika;;R6\r\n"
        );
        let file = p.dir.path().join("tider.csv");
        std::fs::write(&file, csv).unwrap();
        let file = file.to_str().unwrap();
        let o = p.run(&["import", "appointments", file, "--unit", "Chansen", "--json"]);
        assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["created"], 2);
        let lines: Vec<i64> = r["errors"].as_array().unwrap().iter().map(|e| e["line"].as_i64().unwrap()).collect();
        assert_eq!(lines, [4, 5, 6, 7]);
        let reasons: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["reason"].as_str().unwrap()).collect();
        assert!(reasons[0].contains("participant id"), "{reasons:?}");
        assert!(reasons[1].contains("not a date"), "{reasons:?}");
        assert!(reasons[2].contains("no participant in this unit"), "{reasons:?}");
        assert!(reasons[3].contains("kind of appointment"), "{reasons:?}");
        // Importing the same file again changes nothing (idempotent on ref).
        let o = p.run(&["import", "appointments", file, "--json"]);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!((r["created"].as_i64(), r["unchanged"].as_i64()), (Some(0), Some(2)));
        // The human report names lines too.
        let o = p.run(&["import", "appointments", file]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("line 4:") && text.contains("0 created, 0 updated, 2 unchanged, 4 rejected"), "{text}");
    }
}

both_backends! {
    async fn a_summons_is_sent_now_and_a_token_is_shown_once(t) {
        let (p, id) = setup(&t);
        let id = id.to_string();
        // Outside quiet hours this is accepted and queued at once; in quiet
        // hours it is refused with the reason. Either way nothing was
        // planned for it beforehand.
        assert!(p.json(&["outbox"]).as_array().unwrap().is_empty());
        let o = p.run(&["summon", "--participant", &id, "--within", "2h", "--json"]);
        if o.status.success() {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert!(v["outbox_id"].is_i64());
            let rows = p.json(&["outbox"]);
            assert_eq!(rows.as_array().unwrap().len(), 1);
        } else {
            assert!(String::from_utf8_lossy(&o.stderr).contains("quiet hours"));
        }
        let tok = p.json(&["token", "create", "case-system"]);
        assert!(tok["token"].as_str().unwrap().starts_with("pmn_"));
    }
}

both_backends! {
    async fn staff_ask_what_a_reply_meant_and_work_their_tasks_from_the_command_line(t) {
        let (p, id) = setup(&t);
        let id_s = id.to_string();
        let v: Value = serde_json::from_str(&p.ok(&["parse-reply", "förhinder, sjuk"])).unwrap();
        assert_eq!(v, serde_json::json!({"intent": "cannot", "reason": "sjuk"}));
        let v: Value = serde_json::from_str(&p.ok(&["parse-reply", "--lang", "en", "I'll be there"])).unwrap();
        assert_eq!(v["intent"], "coming");
        // A participant just added has nothing booked yet: no alert.
        let r = p.json(&["maintenance"]);
        assert_eq!(r["jobs"]["gap_tasks"], 0);
        // One in the programme for longer than the unit's gap window with
        // nothing booked gives a gap task.
        sqlx::query("UPDATE participants SET created_at = created_at - 8 * 86400000 WHERE id = $1")
            .bind(id)
            .execute(&t.db.pool)
            .await
            .unwrap();
        let r = p.json(&["maintenance"]);
        assert_eq!(r["jobs"]["gap_tasks"], 1);
        let tasks = p.json(&["tasks", "--participant", &id_s]);
        let task_id = tasks[0]["id"].to_string();
        assert_eq!(tasks[0]["kind"], "gap");
        p.ok(&["task", "done", &task_id]);
        assert!(p.json(&["tasks"]).as_array().unwrap().is_empty());
        assert_eq!(p.json(&["tasks", "--all"]).as_array().unwrap().len(), 1);
        let (_, err) = p.fails(&["task", "done", &task_id]);
        assert!(err.contains("already done"), "{err}");
        // Attendance only after the start; stats and export read back.
        let a = p.json(&["appointment", "add", "--participant", &id_s, "--at", "2030-12-10T11:00"]);
        let (_, err) = p.fails(&["attendance", &a["id"].to_string(), "attended"]);
        assert!(err.contains("not started"), "{err}");
        let s = p.json(&["stats", &id_s]);
        assert!(s["weeks_4"]["show_up_rate"].is_null());
        p.ok(&["participant", "intensity", &id_s, "day_before"]);
        let rows = p.json(&["outbox", "--participant", &id_s]);
        let pending = rows.as_array().unwrap().iter().filter(|r| r["status"] == "pending").count();
        assert_eq!(pending, 1, "only the day-before reminder remains");
        let doc: Value = serde_json::from_str(&p.ok(&["participant", "export", &id_s])).unwrap();
        assert_eq!(doc["participant"]["intensity"], "day_before");
        let (_, err) = p.fails(&["participant", "erase", &id_s]);
        assert!(err.contains("only discharged"), "{err}");
        p.ok(&["participant", "status", &id_s, "discharged"]);
        p.ok(&["participant", "erase", &id_s]);
        let doc: Value = serde_json::from_str(&p.ok(&["participant", "export", &id_s])).unwrap();
        assert_eq!(doc["participant"]["phone"], Value::Null);
    }
}

both_backends! {
    async fn staff_lots_and_link_codes_from_the_command_line(t) {
        let (p, ali) = setup(&t);
        let lena = p.json(&["staff", "add", "--unit", "Chansen", "--name", "Lena", "--username", "Lena.L", "--role", "lots"]);
        assert_eq!((lena["username"].as_str(), lena["role"].as_str()), (Some("lena.l"), Some("lots")));
        let (code, err) = p.fails(&["staff", "add", "--name", "Other", "--username", "lena.l"]);
        assert_eq!(code, 1);
        assert!(err.contains("username 'lena.l' is taken"), "{err}");
        let id = lena["id"].as_i64().unwrap().to_string();
        let ali_s = ali.to_string();
        p.ok(&["participant", "lots", &ali_s, &id]);
        assert_eq!(p.json(&["participant", "show", &ali_s])["participant"]["lots_id"].as_i64(), lena["id"].as_i64());
        // A link code: shown once, with a deep link when the bot's name is known.
        let o = Command::new(env!("CARGO_BIN_EXE_paminn"))
            .args(["participant", "link-code", &ali_s, "--json"])
            .env("PAMINN_DATABASE_URL", &p.url)
            .env("PAMINN_DATA_DIR", p.dir.path())
            .env("PAMINN_TELEGRAM_BOT_USERNAME", "paminn_test_bot")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let code = v["code"].as_str().unwrap();
        assert_eq!(code.len(), 22);
        assert_eq!(v["deep_link"], format!("https://t.me/paminn_test_bot?start={code}"));
        assert_eq!(v["start_command"], format!("/start {code}"));
        let staff_code = p.json(&["staff", "link-code", &id]);
        assert_ne!(staff_code["code"], v["code"]);
        assert!(staff_code["deep_link"].is_null(), "no bot name configured here");
        let (code, err) = p.fails(&["staff", "link-code", "999"]);
        assert_eq!(code, 1);
        assert!(err.contains("staff member 999 not found"), "{err}");
        let journal = p.ok(&["journal", &ali_s]);
        assert!(journal.contains("lots_assigned") && journal.contains("telegram_link_code_created"), "{journal}");
    }
}

both_backends! {
    async fn a_staff_password_is_read_from_standard_input_and_checked(t) {
        let (p, _) = setup(&t);
        let run_with_stdin = |args: &[&str], input: &str| {
            use std::io::Write;
            let mut child = Command::new(env!("CARGO_BIN_EXE_paminn"))
                .args(args)
                .env("PAMINN_DATABASE_URL", &p.url)
                .env("PAMINN_DATA_DIR", p.dir.path())
                .env_remove("PAMINN_CONFIG")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        };
        let o = run_with_stdin(&["staff", "add", "--unit", "Chansen", "--name", "Lena", "--username", "lena", "--password-stdin", "--json"], "ett långt lösenord\n");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let id = serde_json::from_slice::<Value>(&o.stdout).unwrap()["id"].as_i64().unwrap().to_string();
        let o = run_with_stdin(&["staff", "set-password", &id], "kort\n");
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("at least 10 characters"));
        let o = run_with_stdin(&["staff", "set-password", &id], "ett annat långt lösenord\n");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The password works for the web login, and only that one.
        let e = paminn::engine::Engine::new(t.db.clone());
        let now = chrono::Utc::now();
        assert!(matches!(e.login("lena", "ett långt lösenord", "test", now).await.unwrap(), paminn::engine::auth::Login::Wrong));
        assert!(matches!(e.login("lena", "ett annat långt lösenord", "test", now).await.unwrap(), paminn::engine::auth::Login::Ok { .. }));
    }
}

/// A large import leaves PostgreSQL with fresh statistics (without them
/// the staff pages are 5-10x slower until autovacuum gets there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pg_tests),
    ignore = "PostgreSQL: set PAMINN_TEST_POSTGRES_URL to run"
)]
async fn a_large_import_on_postgresql_refreshes_the_planner_statistics() {
    let t = common::TestDb::new(common::Kind::Postgres).await;
    let (p, id) = setup(&t);
    let reltuples = || async {
        let v: f32 =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = 'appointments'")
                .fetch_one(&t.db.pool)
                .await
                .unwrap();
        v
    };
    let mut csv = String::from("Deltagare;Datum;Tid;Typ;Referens\n");
    for i in 0..1000 {
        csv.push_str(&format!(
            "{id};2031-01-{:02};{:02}:{:02};möte;R{i}\n",
            1 + i % 28,
            8 + (i / 28) % 10,
            (i / 280) * 10
        ));
    }
    let file = p.dir.path().join("many.csv");
    std::fs::write(&file, csv).unwrap();
    let before = reltuples().await;
    let o = p.run(&[
        "import",
        "appointments",
        file.to_str().unwrap(),
        "--unit",
        "Chansen",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["created"], 1000, "{r}");
    let after = reltuples().await;
    assert!(
        before < 1.0 && after >= 1000.0,
        "reltuples {before} -> {after}"
    );
}

both_backends! {
    async fn times_outside_the_window_are_refused_and_long_imports_show_progress(t) {
        let (p, id) = setup(&t);
        let id = id.to_string();
        let (code, err) = p.fails(&["appointment", "add", "--participant", &id, "--at", "9999-12-31T09:00"]);
        assert_eq!(code, 1);
        assert!(err.contains("too far ahead") && err.contains("5 years ahead"), "{err}");
        // The operator's setting widens the window.
        let o = Command::new(env!("CARGO_BIN_EXE_paminn"))
            .args(["appointment", "add", "--participant", &id, "--at", "2060-01-01T09:00", "--json"])
            .env("PAMINN_DATABASE_URL", &p.url)
            .env("PAMINN_DATA_DIR", p.dir.path())
            .env("PAMINN_APPOINTMENT_YEARS_AHEAD", "40")
            .env_remove("PAMINN_CONFIG")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // A long import (not on a terminal) says how far it has come on
        // stderr, and stdout stays the JSON report.
        let mut csv = String::from("Deltagare;Start;Referens\n");
        for i in 0..10_500 {
            csv.push_str(&format!("{id};2027-{:02}-{:02} {:02}:{:02};P{i}\n", 1 + i % 12, 1 + i % 28, 8 + i % 10, i % 60));
        }
        let file = p.dir.path().join("lang.csv");
        std::fs::write(&file, csv).unwrap();
        let o = p.run(&["import", "appointments", file.to_str().unwrap(), "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["created"], 10_500, "{r}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("import: 10000 rows"), "{err}");
    }
}

/// `(actor, target, detail)` of the audit rows with `action`, oldest first.
async fn audit_rows(t: &common::TestDb, action: &str) -> Vec<(String, String, Value)> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, target, detail FROM audit WHERE action = $1 ORDER BY id")
            .bind(action)
            .fetch_all(&t.db.pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(a, t, d)| (a, t, serde_json::from_str(&d).unwrap()))
        .collect()
}

both_backends! {
    async fn the_command_line_changes_things_the_way_the_web_ui_does(t) {
        let (p, id) = setup(&t);
        let id_s = id.to_string();
        // `rule set` is audited like the settings page's (setup set one).
        let rules = audit_rows(&t, "settings.rule").await;
        assert_eq!(rules.len(), 1, "{rules:?}");
        assert!(rules[0].0.starts_with("cli:"), "{rules:?}");
        assert_eq!(rules[0].2["to"]["offsets"], "24h,2h");
        p.ok(&["rule", "set", "--unit", "Chansen", "--kind", "meeting", "--offsets", "48h"]);
        let rules = audit_rows(&t, "settings.rule").await;
        assert_eq!((rules.len(), &rules[1].2["from"]["offsets"]), (2, &Value::from("24h,2h")));
        // `unit set` has the settings page's bounds, and its audit row.
        let (code, err) = p.fails(&["unit", "set", "Chansen", "--retention-days", "5000"]);
        assert_eq!(code, 1);
        assert!(err.contains("retention must be 1-3650 days"), "{err}");
        let (_, err) = p.fails(&["unit", "set", "Chansen", "--gap-alert-days", "400"]);
        assert!(err.contains("the gap alert must be 0-365 days"), "{err}");
        let u = p.json(&["unit", "set", "Chansen", "--retention-days", "90"]);
        assert_eq!(u["retention_days"], 90);
        let units = audit_rows(&t, "settings.unit").await;
        assert_eq!(units.len(), 1, "{units:?}");
        assert_eq!((&units[0].2["from"]["retention_days"], &units[0].2["to"]["retention_days"]),
                   (&Value::from(180), &Value::from(90)));
        // A series from the command line is noted in the case record, as
        // one made on the participant's page is.
        p.ok(&["series", "add", "--participant", &id_s, "--kind", "meeting", "--cron", "0 9 * * WED"]);
        let journal = p.json(&["journal", &id_s]);
        assert!(journal.as_array().unwrap().iter().any(|e| e["kind"] == "series_created"), "{journal}");
        let series = audit_rows(&t, "series.create").await;
        assert_eq!(series[0].2["participant"], id, "{series:?}");
        // A task closed from the command line has the UI's audit row.
        let bea = p.json(&["participant", "add", "--unit", "Chansen", "--name", "Bea", "--phone", "+46 70 765 43 21", "--consent", "sms"]);
        sqlx::query("UPDATE participants SET created_at = created_at - 8 * 86400000 WHERE id = $1")
            .bind(bea["id"].as_i64().unwrap())
            .execute(&t.db.pool)
            .await
            .unwrap();
        p.json(&["maintenance"]);
        let tasks = p.json(&["tasks", "--participant", &bea["id"].to_string()]);
        let task_id = tasks[0]["id"].as_i64().unwrap();
        p.ok(&["task", "done", &task_id.to_string()]);
        let done = audit_rows(&t, "task.done").await;
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].1.as_str(), &done[0].2["participant_id"], &done[0].2["kind"]),
                   (format!("task:{task_id}").as_str(), &bea["id"], &Value::from("gap")));
        // The case-system reference, as on the case record: set, unique in
        // the unit, cleared with --none; audited each time it changes.
        let set = p.json(&["participant", "ref", &id_s, "T-4711"]);
        assert_eq!(set["external_ref"], "T-4711");
        let (code, err) = p.fails(&["participant", "ref", &bea["id"].to_string(), "T-4711"]);
        assert_eq!(code, 1);
        assert!(err.contains("another participant of the unit has that reference"), "{err}");
        assert!(p.ok(&["participant", "ref", &id_s, "--none"]).contains("no case-system reference"));
        assert_eq!(audit_rows(&t, "participant.external_ref").await.len(), 2);
    }
}
