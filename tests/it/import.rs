//! The CSV import against a real database, on both backends: bad rows
//! reported by line and good ones kept, the window of appointment times,
//! and the batched writes doing exactly what booking one row at a time
//! does.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::{fx, sthlm};
use paminn::domain::ParticipantId;
use paminn::engine::{Actor, Engine};
use paminn::import::{self, Report};
use paminn::store::appointments::{self, NewAppointment};
use paminn::store::participants::Participant;
use paminn::store::units::Unit;
use paminn::store::{journal, outbox};

fn now() -> DateTime<Utc> {
    sthlm(2026, 12, 5, 9, 0)
}

async fn setup(t: &common::TestDb) -> (Engine, Unit, Participant, Participant) {
    let engine = Engine::new(t.db.clone());
    let unit = fx::unit(&engine, "Chansen", now()).await;
    let a = fx::participant(&engine, &unit, "Ali", "sms", now()).await;
    let b = fx::participant(&engine, &unit, "Bea", "sms", now()).await;
    (engine, unit, a, b)
}

async fn import_csv(engine: &Engine, unit: &Unit, csv: &[u8]) -> Report {
    let rdr = import::reader(csv).unwrap();
    import::import(engine, unit.id, rdr, &Actor("test".into()), now(), |_| {})
        .await
        .unwrap()
}

async fn appts(engine: &Engine, p: ParticipantId) -> Vec<appointments::Appointment> {
    let mut c = engine.db.conn().await.unwrap();
    appointments::for_participant(&mut c, p, None)
        .await
        .unwrap()
}

fn lines(r: &Report) -> Vec<u64> {
    r.errors.iter().map(|e| e.line).collect()
}

both_backends! {
    async fn a_row_with_more_or_fewer_fields_than_the_header_is_reported_not_shifted(t) {
        let (engine, unit, a, _) = setup(&t).await;
        let id = a.id;
        let csv = format!(
            "Deltagare;Start;Plats;Referens\n\
             {id};2026-12-10 09:00;Kontoret;R1\n\
             {id};2026-12-11 09:00;Kontoret; plan 2;R2\n\
             {id};2026-12-12 09:00;R3\n"
        );
        let r = import_csv(&engine, &unit, csv.as_bytes()).await;
        assert_eq!(r.created, 1);
        assert_eq!(lines(&r), [3, 4]);
        assert!(r.errors[0].reason.contains("5 fields, but the header has 4"), "{:?}", r.errors);
        let list = appts(&engine, id).await;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].location.as_deref(), Some("Kontoret"));
        // Nothing was stored with a shifted field (" plan 2" as the ref).
        assert_eq!(list[0].external_ref.as_deref(), Some("R1"));
    }
}

both_backends! {
    async fn the_same_reference_twice_in_a_file_keeps_the_first_and_names_it(t) {
        let (engine, unit, a, _) = setup(&t).await;
        let id = a.id;
        let csv = format!(
            "Deltagare;Start;Referens\n\
             {id};2026-12-10 09:00;R1\n\
             {id};2026-12-11 10:00;R2\n\
             {id};2026-12-14 13:00;R1\n"
        );
        let r = import_csv(&engine, &unit, csv.as_bytes()).await;
        assert_eq!((r.created, r.updated), (2, 0));
        assert_eq!(lines(&r), [4]);
        assert!(r.errors[0].reason.contains("also on line 2"), "{:?}", r.errors);
        let list = appts(&engine, id).await;
        let r1 = list.iter().find(|x| x.external_ref.as_deref() == Some("R1")).unwrap();
        assert_eq!(r1.starts_at, sthlm(2026, 12, 10, 9, 0), "the first R1 was not moved");
    }
}

both_backends! {
    async fn a_nul_byte_in_a_field_is_a_line_error_and_the_good_lines_are_kept(t) {
        let (engine, unit, a, _) = setup(&t).await;
        let id = a.id;
        let mut csv = format!("Deltagare;Start;Anteckning;Plats;Referens\n{id};2026-12-10 09:00;ok;A;R1\n").into_bytes();
        csv.extend_from_slice(format!("{id};2026-12-11 09:00;h\0j;B;R2\n").as_bytes());
        csv.extend_from_slice(format!("{id};2026-12-12 09:00;ok;C\0;R3\n{id};2026-12-13 09:00;ok;D;R4\n").as_bytes());
        let r = import_csv(&engine, &unit, &csv).await;
        assert_eq!(r.created, 2, "{:?}", r.errors);
        assert_eq!(lines(&r), [3, 4]);
        assert!(r.errors[0].reason.contains("NUL byte"), "{:?}", r.errors);
        let refs: Vec<_> = appts(&engine, id).await.into_iter().filter_map(|x| x.external_ref).collect();
        assert_eq!(refs, ["R1", "R4"]);
    }
}

both_backends! {
    async fn dates_outside_the_window_two_digit_years_and_excel_serials(t) {
        let (engine, unit, a, _) = setup(&t).await;
        let id = a.id;
        let csv = format!(
            "Deltagare;Datum;Tid;Referens\n\
             {id};10.12.26;09:00;R1\n\
             {id};31.12.9999;09:00;R2\n\
             {id};1900-01-01;09:00;R3\n\
             {id};0000-01-01;09:00;R4\n\
             {id};46366;09:00;R5\n\
             {id};2026-12-11;\"0,375\";R6\n\
             {id};2031-12-01;09:00;R7\n"
        );
        let r = import_csv(&engine, &unit, csv.as_bytes()).await;
        assert_eq!(r.created, 2, "{:?}", r.errors);
        assert_eq!(lines(&r), [3, 4, 5, 6, 7]);
        for e in &r.errors[..3] {
            assert!(e.reason.contains("2025-12-05") && e.reason.contains("2031-12-05"), "{e:?}");
        }
        assert!(r.errors[3].reason.contains("Excel serial date"), "{:?}", r.errors[3]);
        assert!(r.errors[4].reason.contains("Excel time fraction"), "{:?}", r.errors[4]);
        let list = appts(&engine, id).await;
        assert_eq!(list[0].starts_at, sthlm(2026, 12, 10, 9, 0), "10.12.26 is 2026, not year 26");
        // Re-importing: the known, unchanged rows change nothing, the bad
        // ones are still reported.
        let r = import_csv(&engine, &unit, csv.as_bytes()).await;
        assert_eq!((r.created, r.unchanged), (0, 2));
        assert_eq!(lines(&r), [3, 4, 5, 6, 7]);
        // A known reference moved out of the window is refused too.
        let r = import_csv(&engine, &unit, format!("Deltagare;Start;Referens\n{id};2099-01-01 09:00;R1\n").as_bytes()).await;
        assert_eq!((r.updated, lines(&r)), (0, vec![2]));
        assert!(r.errors[0].reason.contains("too far ahead"), "{:?}", r.errors);
    }
}

both_backends! {
    async fn the_engine_refuses_a_time_outside_the_window_at_every_way_in(t) {
        let (engine, unit, a, _) = setup(&t).await;
        let new = |at| NewAppointment {
            participant_id: a.id, series_id: None, kind: "meeting".parse().unwrap(), starts_at: at,
            duration_min: 60, location: None, with_whom: None, internal_note: None, external_ref: None,
        };
        let actor = Actor("test".into());
        for at in [sthlm(9999, 12, 31, 9, 0), sthlm(1900, 1, 1, 9, 0), sthlm(2032, 1, 1, 9, 0)] {
            let e = engine.create_appointment(&new(at), &actor, now()).await.unwrap_err();
            assert!(e.to_string().contains("appointment times must be between 2025-12-05 and 2031-12-05"), "{e}");
        }
        let ok = engine.create_appointment(&new(sthlm(2026, 12, 10, 9, 0)), &actor, now()).await.unwrap();
        let e = engine.move_appointment(ok.id, sthlm(1900, 1, 1, 9, 0), &actor, now()).await.unwrap_err();
        assert!(e.to_string().contains("too far back"), "{e}");
        let e = engine.update_appointment(ok.id, &new(sthlm(9999, 1, 1, 9, 0)), &actor, now()).await.unwrap_err();
        assert!(e.to_string().contains("too far ahead"), "{e}");
        // A wider window (the operator's setting) lets it through.
        let wide = engine.clone().with_window(paminn::domain::window::Window { years_back: 1, years_ahead: 80 });
        wide.create_appointment(&new(sthlm(2090, 1, 1, 9, 0)), &actor, now()).await.unwrap();
        let _ = unit;
    }
}

both_backends! {
    async fn a_batched_import_writes_what_booking_row_by_row_writes(t) {
        let (engine, unit, a, b) = setup(&t).await;
        let actor = Actor("test".into());
        // 1,234 rows for Ali (three chunks), in the file; the same times
        // for Bea booked one at a time through the engine.
        let n = 1234;
        let at = |i: i64| now() + Duration::hours(2 + i * 3);
        let mut csv = String::from("participant_id,start,kind,duration,location,external_ref\n");
        for i in 0..n {
            let local = at(i).with_timezone(&chrono_tz::Europe::Stockholm).format("%Y-%m-%d %H:%M");
            csv.push_str(&format!("{},{local},{},45,Rum {i},A-{i}\n", a.id, if i % 3 == 0 { "drug_test" } else { "meeting" }));
        }
        let mut progress = Vec::new();
        let rdr = import::reader(csv.as_bytes()).unwrap();
        let r = import::import(&engine, unit.id, rdr, &actor, now(), |p| progress.push(p.rows)).await.unwrap();
        assert_eq!((r.created, r.errors.len()), (n as usize, 0), "{:?}", r.errors);
        assert_eq!(progress, [500, 1000, 1234]);
        for i in 0..n {
            let new = NewAppointment {
                participant_id: b.id, series_id: None,
                kind: if i % 3 == 0 { "drug_test" } else { "meeting" }.parse().unwrap(),
                starts_at: at(i), duration_min: 45, location: Some(format!("Rum {i}")),
                with_whom: None, internal_note: None, external_ref: Some(format!("B-{i}")),
            };
            engine.upsert_appointment(unit.id, &new, &actor, now()).await.unwrap();
        }
        let mut c = engine.db.conn().await.unwrap();
        let shape = |list: Vec<appointments::Appointment>| list.into_iter()
            .map(|x| (x.kind, x.starts_at, x.duration_min, x.location, x.status, x.plan_version))
            .collect::<Vec<_>>();
        let la = appointments::for_participant(&mut c, a.id, None).await.unwrap();
        let lb = appointments::for_participant(&mut c, b.id, None).await.unwrap();
        assert_eq!(shape(la), shape(lb));
        let ob = |v: Vec<outbox::OutboxRow>| {
            let mut v: Vec<_> = v.into_iter()
                .map(|r| (r.due_at, r.offset_min, r.channel.to_string(), r.status.to_string(), r.purpose.to_string()))
                .collect();
            v.sort();
            v
        };
        let oa = ob(outbox::list(&mut c, Some(a.id)).await.unwrap());
        let obb = ob(outbox::list(&mut c, Some(b.id)).await.unwrap());
        assert!(!oa.is_empty());
        assert_eq!(oa, obb, "the same reminders planned");
        let j = |v: Vec<journal::Event>| v.into_iter()
            .filter(|e| e.kind != "participant_created" && e.kind != "consent_recorded")
            .map(|e| {
                let mut d = e.detail;
                if let Some(o) = d.as_object_mut() { o.remove("external_ref"); }
                (e.kind, e.actor, d)
            })
            .collect::<Vec<_>>();
        // The same entries. Not necessarily in the same order: PostgreSQL
        // writes two chunks at once, and all of an import's entries carry
        // the same instant.
        let sorted = |v: Vec<(String, String, serde_json::Value)>| {
            let mut v: Vec<String> = v.into_iter().map(|e| format!("{e:?}")).collect();
            v.sort();
            v
        };
        let ja = j(journal::list(&mut c, a.id).await.unwrap());
        let jb = j(journal::list(&mut c, b.id).await.unwrap());
        assert_eq!(ja.len(), jb.len());
        assert_eq!(sorted(ja), sorted(jb), "the same case record");
        let audits = paminn::store::audit::count(&mut c, "appointment.create").await.unwrap();
        assert_eq!(audits, 2 * n);
        drop(c);
        // Again: nothing changes. One row changed: one update, re-planned.
        let r = import_csv(&engine, &unit, csv.as_bytes()).await;
        assert_eq!((r.created, r.updated, r.unchanged), (0, 0, n as usize));
        let csv2 = csv.replacen("Rum 5,A-5", "Rum 55,A-5", 1);
        let r = import_csv(&engine, &unit, csv2.as_bytes()).await;
        assert_eq!((r.created, r.updated, r.unchanged), (0, 1, n as usize - 1));
        // A reference that belongs to another participant is a line error.
        let r = import_csv(&engine, &unit, format!("participant_id,start,external_ref\n{},2026-12-20 09:00,A-1\n", b.id).as_bytes()).await;
        assert_eq!(lines(&r), [2]);
        assert!(r.errors[0].reason.contains("belongs to another participant"), "{:?}", r.errors);
    }
}

both_backends! {
    async fn a_row_the_batch_cannot_take_fails_alone(t) {
        let (engine, unit, a, _) = setup(&t).await;
        let id = a.id;
        // A 25-hour duration parses as a span but no appointment takes it;
        // a reference already booked by another participant; the rows
        // around them in the same chunk are kept.
        let csv = format!(
            "Deltagare;Start;Längd;Referens\n\
             {id};2026-12-10 09:00;60;R1\n\
             {id};2026-12-11 09:00;1500;R2\n\
             {id};2026-12-12 09:00;60;R3\n"
        );
        let r = import_csv(&engine, &unit, csv.as_bytes()).await;
        assert_eq!(r.created, 2, "{:?}", r.errors);
        assert_eq!(lines(&r), [3]);
        assert!(r.errors[0].reason.contains("24 hours"), "{:?}", r.errors);
    }
}
