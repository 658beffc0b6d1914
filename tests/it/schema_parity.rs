//! The SQLite and PostgreSQL migrations are two folders kept in step by
//! hand (issue 17): this migrates a fresh database of each and compares
//! what they made — tables, columns with their type family and
//! nullability, and the indexes with their columns and uniqueness — so a
//! column or index added to one set only fails here, not in production.

use crate::common::{Kind, TestDb};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// A column as both backends can describe it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    family: String,
    not_null: bool,
}

/// An index: its table, its columns in order, whether it is unique.
type Index = (String, Vec<String>, bool);

#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, BTreeMap<String, Column>>,
    indexes: BTreeMap<String, Index>,
}

/// The type families the migrations use: every integer is one family
/// (SQLite's INTEGER PRIMARY KEY and PostgreSQL's BIGINT identity are
/// both 64-bit), texts another, JSON a third. Anything else is named as
/// is, so a new type on one side only shows as a difference.
fn family(declared: &str) -> String {
    let family = match declared.trim().to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "int" | "int8" | "bigserial" => "integer",
        "text" | "character varying" | "varchar" => "text",
        "json" | "jsonb" => "json",
        "real" | "double precision" => "real",
        "blob" | "bytea" => "bytes",
        "boolean" => "boolean",
        other => return format!("other:{other}"),
    };
    family.to_string()
}

const SKIP: &[&str] = &["_sqlx_migrations"];

async fn sqlite_schema(t: &TestDb) -> Schema {
    let pool = &t.db.pool;
    let mut s = Schema::default();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in tables.into_iter().filter(|t| !SKIP.contains(&t.as_str())) {
        let cols = sqlx::query(
            "SELECT name, type, \"notnull\" AS nn, pk FROM pragma_table_info($1) ORDER BY cid",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut columns = BTreeMap::new();
        for r in cols {
            let name: String = r.try_get("name").unwrap();
            let ty: String = r.try_get("type").unwrap();
            let nn: i64 = r.try_get("nn").unwrap();
            let pk: i64 = r.try_get("pk").unwrap();
            // A primary key column is never NULL on either backend.
            columns.insert(
                name,
                Column {
                    family: family(&ty),
                    not_null: nn == 1 || pk > 0,
                },
            );
        }
        // Indexes created by CREATE INDEX (origin 'c'); those behind a
        // UNIQUE or PRIMARY KEY constraint are part of the column set.
        let idx = sqlx::query(
            "SELECT name, \"unique\" AS u FROM pragma_index_list($1) WHERE origin = 'c' ORDER BY name",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        for r in idx {
            let name: String = r.try_get("name").unwrap();
            let unique: i64 = r.try_get("u").unwrap();
            let cols: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(pool)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|c: Option<String>| c.unwrap_or_else(|| "<expression>".into()))
                    .collect();
            s.indexes.insert(name, (table.clone(), cols, unique == 1));
        }
        s.tables.insert(table, columns);
    }
    s
}

async fn postgres_schema(t: &TestDb) -> Schema {
    let pool = &t.db.pool;
    let mut s = Schema::default();
    let cols = sqlx::query(
        "SELECT c.table_name::text AS t, c.column_name::text AS c, c.data_type::text AS ty,
                c.is_nullable::text AS n
         FROM information_schema.columns c
         JOIN information_schema.tables tb
           ON tb.table_name = c.table_name AND tb.table_schema = c.table_schema
         WHERE c.table_schema = current_schema() AND tb.table_type = 'BASE TABLE'
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for r in cols {
        let table: String = r.try_get("t").unwrap();
        if SKIP.contains(&table.as_str()) {
            continue;
        }
        let name: String = r.try_get("c").unwrap();
        let ty: String = r.try_get("ty").unwrap();
        let n: String = r.try_get("n").unwrap();
        s.tables.entry(table).or_default().insert(
            name,
            Column {
                family: family(&ty),
                not_null: n == "NO",
            },
        );
    }
    // Indexes not behind a constraint (those are CREATE INDEX), with their
    // key columns in order.
    let idx = sqlx::query(
        "SELECT i.relname::text AS name, t.relname::text AS tbl, x.indisunique AS u,
                array_to_string(ARRAY(
                    SELECT COALESCE(a.attname::text, '<expression>')
                    FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                    ORDER BY k.ord), ',') AS cols
         FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace ns ON ns.oid = t.relnamespace
         WHERE ns.nspname = current_schema()
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
         ORDER BY i.relname",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for r in idx {
        let name: String = r.try_get("name").unwrap();
        let table: String = r.try_get("tbl").unwrap();
        if SKIP.contains(&table.as_str()) {
            continue;
        }
        let unique: bool = r.try_get("u").unwrap();
        let cols: String = r.try_get("cols").unwrap();
        s.indexes.insert(
            name,
            (table, cols.split(',').map(str::to_string).collect(), unique),
        );
    }
    s
}

/// What differs, one line each, so a failure says what to add where.
fn differences(sqlite: &Schema, pg: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let tables: BTreeSet<&String> = sqlite.tables.keys().chain(pg.tables.keys()).collect();
    for t in tables {
        match (sqlite.tables.get(t), pg.tables.get(t)) {
            (Some(_), None) => out.push(format!("table {t}: only in SQLite")),
            (None, Some(_)) => out.push(format!("table {t}: only in PostgreSQL")),
            (Some(a), Some(b)) => {
                let cols: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for c in cols {
                    match (a.get(c), b.get(c)) {
                        (Some(_), None) => out.push(format!("column {t}.{c}: only in SQLite")),
                        (None, Some(_)) => out.push(format!("column {t}.{c}: only in PostgreSQL")),
                        (Some(x), Some(y)) if x != y => {
                            out.push(format!("column {t}.{c}: SQLite {x:?}, PostgreSQL {y:?}"))
                        }
                        _ => {}
                    }
                }
            }
            (None, None) => unreachable!(),
        }
    }
    let names: BTreeSet<&String> = sqlite.indexes.keys().chain(pg.indexes.keys()).collect();
    for n in names {
        match (sqlite.indexes.get(n), pg.indexes.get(n)) {
            (Some(_), None) => out.push(format!("index {n}: only in SQLite")),
            (None, Some(_)) => out.push(format!("index {n}: only in PostgreSQL")),
            (Some(x), Some(y)) if x != y => {
                out.push(format!("index {n}: SQLite {x:?}, PostgreSQL {y:?}"))
            }
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pg_tests),
    ignore = "PostgreSQL: set PAMINN_TEST_POSTGRES_URL to run"
)]
async fn both_migration_sets_make_the_same_schema() {
    let lite = TestDb::new(Kind::Sqlite).await;
    let pg = TestDb::new(Kind::Postgres).await;
    let a = sqlite_schema(&lite).await;
    let b = postgres_schema(&pg).await;
    // The comparison sees something: every table paminn keeps, with columns.
    for t in ["participants", "appointments", "outbox", "journal", "audit"] {
        assert!(
            a.tables.get(t).is_some_and(|c| c.len() > 2),
            "SQLite schema read: {t} missing"
        );
    }
    assert!(a.indexes.len() > 5, "SQLite indexes read: {:?}", a.indexes);
    let diff = differences(&a, &b);
    assert!(
        diff.is_empty(),
        "the migrations differ; add the missing part to the other folder:\n{}",
        diff.join("\n")
    );
}

#[test]
fn a_column_on_one_side_only_is_reported() {
    let col = |family: &str| Column {
        family: family.into(),
        not_null: true,
    };
    let mut a = Schema::default();
    a.tables.insert(
        "outbox".into(),
        BTreeMap::from([
            ("id".to_string(), col("integer")),
            ("error_kind".to_string(), col("text")),
        ]),
    );
    let mut b = Schema::default();
    b.tables.insert(
        "outbox".into(),
        BTreeMap::from([("id".to_string(), col("integer"))]),
    );
    b.indexes.insert(
        "outbox_due".into(),
        ("outbox".into(), vec!["next_attempt_at".into()], false),
    );
    assert_eq!(
        differences(&a, &b),
        [
            "column outbox.error_kind: only in SQLite",
            "index outbox_due: only in PostgreSQL"
        ]
    );
    assert!(differences(&a, &a).is_empty());
}
