//! Every static SQL statement in `src/store/` prepares on both backends
//! (issue 17): the statements are read from the source (each string
//! literal given to `sqlx::query`, `query_as` (with a turbofish too) or
//! `query_scalar`, and each `const …_SQL: &str`), and each is prepared on
//! a freshly migrated SQLite and PostgreSQL database. Preparing checks
//! the tables, columns and syntax without running anything, so a
//! statement that names a column only one migration set has, or SQL only
//! one dialect speaks, fails here and not for the first participant who
//! reaches that path.
//!
//! A statement written for one dialect (the store branches on
//! `Backend`) is allowed to fail on the other only when it carries a
//! marker of its dialect ([`dialect_of`]). On PostgreSQL, "could not
//! determine data type of parameter" counts as prepared: it is raised
//! after every table and column was resolved, and only because a prepare
//! without values has no types for `$1 IS NULL OR … = $1`; at run time the
//! bound values give them. Statements built with `format!` are not
//! literals and are not seen; the tests that run those paths on both
//! backends cover them.

use crate::common::TestDb;
use paminn::store::Backend;
use sqlx::{Executor, SqlSafeStr};
use std::path::Path;

/// Text that marks a statement as PostgreSQL's own.
const POSTGRES_ONLY: &[&str] = &[
    "nextval(",
    "SKIP LOCKED",
    "LATERAL",
    "unnest(",
    "pg_",
    "::",
    "ANALYZE",
    "WITH (FORCE)",
];
/// Text that marks a statement as SQLite's own.
const SQLITE_ONLY: &[&str] = &["json_each", "PRAGMA", "sqlite_", "BEGIN IMMEDIATE"];

/// The dialect a statement is written for, if only one.
fn dialect_of(sql: &str) -> Option<Backend> {
    // A data-modifying CTE (`WITH x AS (INSERT …)`) is PostgreSQL's.
    let modifying_cte = sql.match_indices("AS (").any(|(i, m)| {
        let next = sql[i + m.len()..].trim_start();
        ["INSERT", "UPDATE", "DELETE"]
            .iter()
            .any(|w| next.starts_with(w))
    });
    if modifying_cte || POSTGRES_ONLY.iter().any(|m| sql.contains(m)) {
        Some(Backend::Postgres)
    } else if SQLITE_ONLY.iter().any(|m| sql.contains(m)) {
        Some(Backend::Sqlite)
    } else {
        None
    }
}

/// Unescapes the body of a Rust string literal (after the opening quote)
/// up to its closing quote; `None` if it does not close.
fn literal(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                // A line continuation: the newline and the next line's
                // leading whitespace are not part of the string.
                '\n' => {
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                }
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            c => out.push(c),
        }
    }
    None
}

/// After `::<`, the offset just past the call's `(`: the generics may hold
/// `<…>` and `(…)` of their own, so the one that counts is the first `(`
/// once the `<` is closed.
fn after_generics(rest: &str) -> Option<usize> {
    let mut depth = 1;
    for (i, c) in rest.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            '(' if depth == 0 => return Some(i + 1),
            c if depth == 0 && !c.is_whitespace() => return None,
            _ => {}
        }
    }
    None
}

/// `(file:line, statement)` for every static statement in `src/store/`.
fn statements() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // `query_as::<_, Row>(` and `query_as::<_, (i64, String)>(` name
        // their row type before the call's own parenthesis.
        let turbofish = ["query::<", "query_as::<", "query_scalar::<"]
            .iter()
            .flat_map(|call| src.match_indices(call).map(move |(i, _)| i + call.len()))
            .filter_map(|after| after_generics(&src[after..]).map(|j| after + j));
        let starts = ["query(", "query_as(", "query_scalar("]
            .iter()
            .flat_map(|call| src.match_indices(call).map(move |(i, _)| i + call.len()))
            .chain(turbofish)
            .chain(src.match_indices("_SQL: &str =").map(|(i, m)| i + m.len()));
        for start in starts {
            let rest = src[start..].trim_start();
            let Some(body) = rest.strip_prefix('"') else {
                continue; // not a literal: a const, a built string
            };
            let Some(sql) = literal(body) else { continue };
            let line = src[..start].lines().count();
            out.push((format!("{name}:{line}"), sql));
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

async fn prepare_all(t: &TestDb) -> Vec<(String, String, String)> {
    let mut conn = t.db.pool.acquire().await.unwrap();
    let mut failed = Vec::new();
    for (at, sql) in statements() {
        if let Err(e) = (&mut *conn)
            .prepare(sqlx::AssertSqlSafe(sql.clone()).into_sql_str())
            .await
        {
            let e = e.to_string();
            if !e.contains("could not determine data type of parameter") {
                failed.push((at, sql, e));
            }
        }
    }
    failed
}

crate::both_backends! {
    async fn every_static_statement_prepares(t) {
        // Statements of the other dialect may fail here, and only they.
        let backend = t.db.backend;
        let all = statements();
        assert!(all.len() > 120, "the scan found only {} statements", all.len());
        let failed = prepare_all(&t).await;
        let wrong: Vec<_> = failed
            .iter()
            .filter(|(_, sql, _)| dialect_of(sql).is_none_or(|d| d == backend))
            .map(|(at, sql, e)| format!("{at}: {e}\n    {sql}"))
            .collect();
        assert!(
            wrong.is_empty(),
            "{} statements do not prepare on {:?}:\n{}",
            wrong.len(),
            t.db.backend,
            wrong.join("\n")
        );
        // The markers name a few dialect statements, not everything.
        assert!(failed.len() < all.len() / 10, "{} of {} failed", failed.len(), all.len());
    }
}

#[test]
fn dialect_markers_name_one_dialect() {
    assert_eq!(dialect_of("SELECT 1 FROM outbox"), None);
    assert_eq!(
        dialect_of(
            "WITH r AS (\n  INSERT INTO inbound (id) VALUES ($1) RETURNING id) SELECT id FROM r"
        ),
        Some(Backend::Postgres)
    );
    assert_eq!(
        dialect_of("WITH me AS (SELECT id FROM participants) SELECT id FROM me"),
        None
    );
    assert_eq!(
        dialect_of("PRAGMA journal_mode = WAL"),
        Some(Backend::Sqlite)
    );
    assert_eq!(
        dialect_of("SELECT id FROM outbox FOR UPDATE SKIP LOCKED"),
        Some(Backend::Postgres)
    );
}

#[test]
fn the_scanner_reads_literals_as_rust_does() {
    assert_eq!(literal(r#"a \"b\" c" rest"#).as_deref(), Some(r#"a "b" c"#));
    assert_eq!(literal("one \\\n      two\""), Some("one two".into()));
    assert_eq!(literal("{\\\"x\\\":1}\""), Some("{\"x\":1}".into()));
    assert_eq!(literal("never closed"), None);
    // A turbofish is skipped whole, a tuple of row types included.
    assert_eq!(
        after_generics("_, (i64, Option<String>)>(\"SELECT"),
        Some(26)
    );
    assert_eq!(after_generics("_, Row>(x"), Some(8));
    assert_eq!(after_generics("_, Row> = y"), None);
    // The scan finds the statements this file knows are there.
    let all = statements();
    assert!(
        all.iter()
            .any(|(at, sql)| at.starts_with("journal.rs") && sql.starts_with("INSERT INTO journal"))
    );
    assert!(
        all.iter().any(|(at, _)| at.starts_with("tasks.rs")),
        "ALERTS_DUE_SQL, a const, is found"
    );
    assert!(
        all.iter()
            .any(|(at, sql)| at.starts_with("trials.rs")
                && sql.contains("FROM trial_assignments ta")),
        "a query_as::<_, (…)> with a tuple row is found"
    );
}
