//! What the benchmarks share: a fresh database per run. Included with
//! `#[path = "support/db.rs"] mod db;` (each bench is its own crate).

use paminn::store::Db;
use rand::RngCore;

/// A fresh database: a SQLite temp file, or a random PostgreSQL database
/// on the server of `PAMINN_TEST_POSTGRES_URL` (drop it with [`drop_pg`]).
/// Returns the database, (admin URL, name) for PostgreSQL, and the SQLite
/// temp dir to keep alive.
pub async fn fresh(kind: &str) -> (Db, Option<(String, String)>, Option<tempfile::TempDir>) {
    if kind == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/bench.db", dir.path().display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        return (db, None, Some(dir));
    }
    let admin_url = std::env::var("PAMINN_TEST_POSTGRES_URL").unwrap();
    let mut b = [0u8; 6];
    rand::rng().fill_bytes(&mut b);
    let name = format!("paminn_bench_{}", hex::encode(b));
    let admin = Db::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin.pool)
        .await
        .unwrap();
    admin.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b)
        .to_string();
    let db = Db::connect(&format!("{base}/{name}")).await.unwrap();
    db.migrate().await.unwrap();
    (db, Some((admin_url, name)), None)
}

/// Drops a database made by [`fresh`].
pub async fn drop_pg(admin_url: &str, name: &str) {
    let admin = Db::connect(admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin.pool)
    .await
    .unwrap();
    admin.close().await;
}
