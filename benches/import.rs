//! CSV import benchmark: generates files of 10,000 and 200,000 rows (a
//! coordinator's calendar export: 50 participants, semicolons, Swedish
//! headers, a reference per row, times spread over the coming years) and
//! imports each into a fresh database, on SQLite and, when
//! PAMINN_TEST_POSTGRES_URL is set, on PostgreSQL. Prints rows/s and the
//! peak resident memory of the importing process; asserts nothing about
//! timing. The issue's targets: 10,000 rows in at most 2 s on both
//! backends, 200,000 in at most 40 s, memory flat in the file size.
//!
//! Each import runs in a child process (this binary again, with
//! `--child`), so its peak RSS (`VmHWM`) is the import's own. The 10,000-
//! row file is then imported a second time into the same database (every
//! row unchanged: the re-import a coordinator does every week).
//!
//! ```text
//! PAMINN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --bench import            # IMPORT_BENCH_RUNS=3 by default
//! ```

use chrono::{Duration, Utc};
use paminn::domain::{ChannelKind, ChannelSet, Language, PhoneNumber};
use paminn::engine::{Actor, Engine};
use paminn::import;
use paminn::store::participants::NewParticipant;
use paminn::store::units;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "support/db.rs"]
mod db;
use db::{drop_pg, fresh};

const PARTICIPANTS: usize = 50;

/// The file: `rows` appointments for participants 1..=50 (ids in a fresh
/// database), every fifth a drug test, times from tomorrow on, 30 minutes
/// apart per participant.
fn generate(path: &Path, rows: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "Deltagare;Datum;Tid;Typ;Längd;Plats;Anteckning;Referens").unwrap();
    let start = Utc::now().date_naive() + Duration::days(1);
    for i in 0..rows {
        let p = 1 + i % PARTICIPANTS;
        let slot = (i / PARTICIPANTS) as i64;
        // Ten slots a day, 08:00-12:30, every day.
        let day = start + Duration::days(slot / 10);
        let (h, m) = (8 + (slot % 10) / 2, (slot % 2) * 30);
        let kind = if i % 5 == 0 { "drug_test" } else { "möte" };
        writeln!(
            f,
            "{p};{};{h:02}:{m:02};{kind};45;Rum {};Uppföljning {i};CAL-{i}",
            day.format("%Y-%m-%d"),
            i % 7
        )
        .unwrap();
    }
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// In the child: a fresh database with a unit and 50 participants, then
/// the import (and, with `again`, the same file once more). Prints one
/// line: rows, seconds, rows/s, peak RSS, and the re-import's seconds.
async fn child(kind: &str, file: &Path, again: bool) {
    let (db, pg, _dir) = fresh(kind).await;
    let e = Engine::new(db.clone());
    let now = Utc::now();
    let unit = {
        let mut c = e.db.conn().await.unwrap();
        units::create(&mut c, "Bench", now).await.unwrap()
    };
    for i in 0..PARTICIPANTS {
        let new = NewParticipant {
            unit_id: unit.id,
            first_name: format!("P{i}"),
            phone: Some(PhoneNumber::parse(&format!("+4670{:07}", 1000 + i)).unwrap()),
            language: Language::Sv,
            channel_pref: ChannelKind::Sms,
            time_zone: chrono_tz::Europe::Stockholm,
            discreet: true,
            lots_id: None,
        };
        e.add_participant(
            &new,
            Some("sms".parse::<ChannelSet>().unwrap()),
            &Actor::system(),
            now,
        )
        .await
        .unwrap();
    }
    let rss_before = peak_rss_kb();
    let t0 = Instant::now();
    let rdr = import::reader(std::fs::File::open(file).unwrap()).unwrap();
    let r = import::import(&e, unit.id, rdr, &Actor::system(), Utc::now(), |_| {})
        .await
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert!(
        r.errors.is_empty(),
        "{:?}",
        &r.errors[..r.errors.len().min(3)]
    );
    let rss = peak_rss_kb();
    let again_secs = if again {
        let t1 = Instant::now();
        let rdr = import::reader(std::fs::File::open(file).unwrap()).unwrap();
        let r2 = import::import(&e, unit.id, rdr, &Actor::system(), Utc::now(), |_| {})
            .await
            .unwrap();
        assert_eq!(r2.unchanged, r.created);
        t1.elapsed().as_secs_f64()
    } else {
        0.0
    };
    println!(
        "{} {secs:.3} {:.0} {rss_before} {rss} {again_secs:.3}",
        r.created,
        r.created as f64 / secs
    );
    db.close().await;
    if let Some((admin, name)) = pg {
        drop_pg(&admin, &name).await;
    }
}

fn spread(v: &[f64]) -> String {
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(0.0, f64::max);
    format!("min {min:.2}, max {max:.2}")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(child(
            &args[i + 1],
            Path::new(&args[i + 2]),
            args.get(i + 3).is_some_and(|a| a == "again"),
        ));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let runs: usize = std::env::var("IMPORT_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let mut kinds = vec!["sqlite"];
    if std::env::var("PAMINN_TEST_POSTGRES_URL").is_ok() {
        kinds.push("postgres");
    } else {
        println!("postgres: skipped (set PAMINN_TEST_POSTGRES_URL)");
    }
    let me = std::env::current_exe().unwrap();
    for rows in [10_000usize, 200_000] {
        let file = dir.path().join(format!("rows-{rows}.csv"));
        generate(&file, rows);
        let size = std::fs::metadata(&file).unwrap().len();
        for kind in &kinds {
            let mut secs = Vec::new();
            let mut again = Vec::new();
            for run in 0..runs {
                let mut cmd = Command::new(&me);
                cmd.args(["--child", kind, file.to_str().unwrap()]);
                if rows == 10_000 {
                    cmd.arg("again");
                }
                let out = cmd.output().unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let line = String::from_utf8_lossy(&out.stdout);
                let f: Vec<&str> = line.split_whitespace().collect();
                let (s, rps, rss0, rss) = (f[1], f[2], f[3], f[4]);
                println!(
                    "{kind}: {rows} rows ({:.1} MB file), run {}: {s} s = {rps} rows/s; \
                     peak RSS {:.1} MB (before the import {:.1} MB){}",
                    size as f64 / 1e6,
                    run + 1,
                    rss.parse::<f64>().unwrap() / 1024.0,
                    rss0.parse::<f64>().unwrap() / 1024.0,
                    if rows == 10_000 {
                        format!("; again, all unchanged: {} s", f[5])
                    } else {
                        String::new()
                    }
                );
                secs.push(s.parse::<f64>().unwrap());
                again.push(f[5].parse::<f64>().unwrap());
            }
            println!(
                "{kind}: {rows} rows: seconds over {runs} runs: {}",
                spread(&secs)
            );
            if rows == 10_000 {
                println!(
                    "{kind}: {rows} rows re-imported unchanged: {}",
                    spread(&again)
                );
            }
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the end: {}", load.trim());
}
