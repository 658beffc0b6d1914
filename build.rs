// Marks the PostgreSQL variants of the integration tests as ignored (shown
// as "ignored", never as passed) when PAMINN_TEST_POSTGRES_URL is not set at
// build time. .ci/run sets it.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(pg_tests)");
    println!("cargo::rerun-if-env-changed=PAMINN_TEST_POSTGRES_URL");
    // sqlx::migrate! embeds the migrations at compile time; a changed
    // migration must rebuild the crate (as sqlx's docs advise).
    println!("cargo::rerun-if-changed=migrations");
    if std::env::var("PAMINN_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=pg_tests");
    }
}
