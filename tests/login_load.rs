//! Login under attack, as a resource bound (issue 15 item 1): 500 parallel
//! logins against the real router must not take the process's memory
//! anywhere near what 500 Argon2 checks at once would (19 MiB each, about
//! 9.5 GB; before the bound 300 of them took the demo from 89 MB to 5.9 GB),
//! and a correct login from another client still works afterwards.
//!
//! In its own test binary so the process's peak resident size (`VmHWM` in
//! /proc/self/status) is this test's (both backends run in this process;
//! the bound on password checks is process-wide, so that is covered too).

#[path = "it/common/mod.rs"]
mod common;

use common::ui::{self, PASSWORD};
use paminn::domain::Role;
use reqwest::StatusCode;

/// A figure from /proc/self/status, in kB.
fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

const LIMIT_KB: u64 = 300 * 1024;

both_backends! {
    async fn five_hundred_parallel_logins_keep_memory_bounded_and_a_real_login_works_after(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let attacker = app.browser_at("127.0.0.1");
        let token = attacker.login_token().await;
        let before = status_kb("VmRSS");
        let tries = (0..500).map(|i| {
            let (http, base, token) = (attacker.http.clone(), app.base.clone(), token.clone());
            tokio::spawn(async move {
                // Half at one account, half sprayed over many names.
                let user = if i % 2 == 0 { "lisa".to_string() } else { format!("namn{i}") };
                http.post(format!("{base}/login"))
                    .form(&[("username", user.as_str()), ("password", format!("gissning {i}").as_str()), ("_csrf", &token)])
                    .send().await.unwrap().status()
            })
        });
        let statuses: Vec<StatusCode> = futures::future::join_all(tries).await.into_iter().map(|r| r.unwrap()).collect();
        let count = |s: StatusCode| statuses.iter().filter(|x| **x == s).count();
        let (wrong, wait, busy) = (count(StatusCode::UNAUTHORIZED), count(StatusCode::TOO_MANY_REQUESTS), count(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(wrong + wait + busy, 500, "{statuses:?}");
        let peak = status_kb("VmHWM");
        let after = status_kb("VmRSS");
        eprintln!(
            "500 parallel logins: {wrong} checked (401), {wait} limited (429), {busy} busy (503); \
             RSS {} MB before, {} MB after, peak {} MB",
            before / 1024, after / 1024, peak / 1024
        );
        assert!(peak < LIMIT_KB, "peak RSS {} MB", peak / 1024);
        assert!(wrong as i64 <= paminn::domain::throttle::CLIENT_MAX_CHECKS, "{wrong} checks from one client");
        // The real user, from her own desk, gets in.
        let desk = app.browser_at("127.0.0.2");
        let res = desk.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
}
