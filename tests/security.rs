//! Security hardening (issue 15): what an outside review found, each with
//! the check that failed before the fix. Database file modes and
//! `secure_delete` (SQLite only), response headers, redirects, the sandbox
//! phone's access rule, and the login under attack.

mod common;

use paminn::config::Config;
use paminn::store::Db;

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_the_sqlite_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nested").join("paminn-data");
    let cfg = Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    let db = paminn::server::open_db(&cfg).await.unwrap();
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("paminn.db")), 0o600, "database file");
    // WAL mode: the write-ahead log holds recent writes, texts included.
    sqlx::query("CREATE TABLE t (x TEXT)")
        .execute(&db.pool)
        .await
        .unwrap();
    let wal = data.join("paminn.db-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600, "write-ahead log");
    db.close().await;
}

#[tokio::test]
async fn sqlite_overwrites_deleted_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/p.db", tmp.path().display());
    let db = Db::connect(&url).await.unwrap();
    // Every connection of the pool, not only the first.
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(db.pool.acquire().await.unwrap());
    }
    for c in &mut conns {
        let on: i64 = sqlx::query_scalar("PRAGMA secure_delete")
            .fetch_one(&mut **c)
            .await
            .unwrap();
        assert_eq!(on, 1);
    }
    drop(conns);
    // And the effect: a deleted text is gone from the file's bytes.
    sqlx::query("CREATE TABLE t (x TEXT)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES ('sjuk hiv-mottagningen-markör')")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM t")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&db.pool)
        .await
        .unwrap();
    db.close().await;
    let bytes = std::fs::read(tmp.path().join("p.db")).unwrap();
    let needle = "hiv-mottagningen-markör".as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "the deleted text is still in the file"
    );
}
