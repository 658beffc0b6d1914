//! Architecture invariants (ARCHITECTURE.md, "Architecture invariants"),
//! checked by reading the source: what each layer may import and where SQL
//! and writes may happen. A rule that still has exceptions lists them by
//! file; the list may only shrink: a new file that breaks the rule fails,
//! and so does a listed file that no longer breaks it (take it off the
//! list), so the list stays the true picture of what is left to move.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (path relative to the crate, code
/// without comments and without `#[cfg(test)]` modules).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            (rel, code_of(&std::fs::read_to_string(&p).unwrap()))
        })
        .collect()
}

/// The code of a file as the rules see it: line comments dropped, and
/// nothing from the `#[cfg(test)] mod ...` on (test modules sit at the end
/// of a file here and may use whatever they need).
fn code_of(src: &str) -> String {
    let mut out = String::new();
    let mut lines = src.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn under<'a>(all: &'a [(String, String)], dir: &str) -> impl Iterator<Item = &'a (String, String)> {
    all.iter().filter(move |(p, _)| p.starts_with(dir))
}

/// Files under `dir` whose code contains any of `needles`, with the first
/// needle found.
fn offenders(all: &[(String, String)], dir: &str, needles: &[&str]) -> Vec<String> {
    under(all, dir)
        .filter_map(|(p, code)| {
            needles
                .iter()
                .find(|n| code.contains(*n))
                .map(|n| format!("{p} ({n})"))
        })
        .collect()
}

#[test]
fn the_domain_knows_no_io() {
    let all = sources();
    let bad = offenders(
        &all,
        "src/domain",
        &[
            "crate::store",
            "crate::engine",
            "crate::web",
            "crate::channels",
            "crate::cli",
            "crate::server",
            "crate::telegram",
            "crate::config",
            "sqlx",
            "tokio",
            "reqwest",
            "teloxide",
            "std::fs",
            "std::net",
            "std::env",
            "Utc::now",
        ],
    );
    assert!(bad.is_empty(), "domain/ must stay pure: {bad:#?}");
}

#[test]
fn the_store_knows_only_the_domain() {
    let all = sources();
    let bad = offenders(
        &all,
        "src/store",
        &[
            "crate::engine",
            "crate::web",
            "crate::channels",
            "crate::cli",
            "crate::server",
            "crate::telegram",
            "crate::import",
            "crate::texts",
        ],
    );
    assert!(
        bad.is_empty(),
        "store/ may use only domain and error: {bad:#?}"
    );
}

#[test]
fn channels_know_no_engine_and_no_database() {
    // The sandbox transport is the exception by nature: its gateway is the
    // `sandbox_messages` table (the demo's phone), which it writes through
    // the store and nothing else.
    let all: Vec<_> = sources()
        .into_iter()
        .filter(|(p, _)| p != "src/channels/sandbox.rs")
        .collect();
    let bad = offenders(
        &all,
        "src/channels",
        &["crate::engine", "crate::store", "crate::web", "sqlx"],
    );
    assert!(
        bad.is_empty(),
        "a channel only talks to its gateway (the dispatcher stores what it needs): {bad:#?}"
    );
}

#[test]
fn a_gateway_is_one_folder() {
    // Each SMS gateway's send and webhook code lives in its folder under
    // channels/sms/; the webhook route and the shared webhook code are
    // generic, so neither names a gateway (the registry, `sms/mod.rs`,
    // is the one place that lists them).
    let all = sources();
    let gateways = ["elks46", "twilio", "sinch"];
    for g in gateways {
        for f in ["mod.rs", "webhook.rs"] {
            let path = format!("src/channels/sms/{g}/{f}");
            assert!(
                all.iter().any(|(p, _)| *p == path),
                "{path} is missing: a gateway is one folder"
            );
        }
    }
    let generic = ["src/web/webhooks.rs", "src/channels/sms/webhook.rs"];
    let names = ["46elks", "elks", "twilio", "sinch"];
    let mut bad = Vec::new();
    for file in generic {
        let (_, code) = all
            .iter()
            .find(|(p, _)| p == file)
            .unwrap_or_else(|| panic!("{file} is missing"));
        let code = code.to_lowercase();
        bad.extend(
            names
                .iter()
                .filter(|n| code.contains(*n))
                .map(|n| format!("{file} ({n})")),
        );
    }
    assert!(
        bad.is_empty(),
        "the webhook route and the shared webhook code name no gateway (move it into the gateway's folder): {bad:#?}"
    );
}

/// Checks a rule with a shrinking list of exceptions.
fn ratchet(rule: &str, breaking: BTreeSet<String>, known: &[&str]) {
    let known: BTreeSet<String> = known.iter().map(|s| s.to_string()).collect();
    let new: Vec<_> = breaking.difference(&known).collect();
    let fixed: Vec<_> = known.difference(&breaking).collect();
    assert!(
        new.is_empty(),
        "{rule}: new files break it (move the code, do not extend the list): {new:#?}"
    );
    assert!(
        fixed.is_empty(),
        "{rule}: these files no longer break it; take them off the list: {fixed:#?}"
    );
}

#[test]
fn only_the_store_runs_sql() {
    let all = sources();
    let sql = ["sqlx::query", "sqlx::raw_sql", "query_as(", "query_scalar("];
    let breaking = all
        .iter()
        .filter(|(p, code)| !p.starts_with("src/store/") && sql.iter().any(|n| code.contains(n)))
        .map(|(p, _)| p.clone())
        .collect();
    ratchet("only store/ runs SQL", breaking, &[]);
}

#[test]
fn the_store_decodes_rows_by_type_not_by_name() {
    // Rows are `#[derive(sqlx::FromRow)]` structs or typed tuples
    // (ARCHITECTURE.md, `store/`): a column read by name or position with
    // `try_get` (or `try_get::<T, _>`) is a mapping the compiler does not
    // see.
    let all = sources();
    let breaking = under(&all, "src/store/")
        .filter(|(_, code)| code.contains("try_get(") || code.contains("try_get::<"))
        .map(|(p, _)| p.clone())
        .collect();
    ratchet("the store decodes rows by type", breaking, &[]);
}

#[test]
fn adapters_write_only_through_the_engine() {
    let all = sources();
    // A store module's writing functions, called by name from an adapter.
    let store_mods: Vec<String> = under(&all, "src/store/")
        .map(|(p, _)| {
            Path::new(p)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|m| m != "mod")
        .collect();
    let verbs = [
        "insert", "update", "delete", "set", "mark", "append", "upsert", "create", "add", "remove",
        "erase", "finish", "revoke", "claim",
    ];
    let adapters = [
        "src/web/",
        "src/cli.rs",
        "src/telegram.rs",
        "src/server.rs",
        "src/demo.rs",
    ];
    let breaking = all
        .iter()
        .filter(|(p, _)| adapters.iter().any(|a| p.starts_with(a)))
        .filter(|(_, code)| {
            store_mods
                .iter()
                .any(|m| verbs.iter().any(|v| code.contains(&format!("{m}::{v}"))))
        })
        .map(|(p, _)| p.clone())
        .collect();
    ratchet("every write goes through Engine", breaking, &[]);
}

#[test]
fn the_rules_see_code_not_comments() {
    // The checker itself: a comment or a test module naming a forbidden
    // path is not a dependency; code is.
    let src = "// uses crate::engine in a comment\nuse crate::domain::X;\n#[cfg(test)]\nmod tests { use crate::engine::Engine; }\n";
    let code = code_of(src);
    assert!(!code.contains("crate::engine"));
    assert!(code.contains("crate::domain::X"));
    let all = vec![(
        "src/channels/x.rs".to_string(),
        code_of("use crate::engine::Engine;\n"),
    )];
    assert_eq!(
        offenders(&all, "src/channels", &["crate::engine"]),
        vec!["src/channels/x.rs (crate::engine)".to_string()]
    );
}
