// Marks the PostgreSQL variants of the integration tests as ignored (shown
// as "ignored", never as passed) when PAMINN_TEST_POSTGRES_URL is not set at
// build time. .ci/run sets it.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(pg_tests)");
    println!("cargo::rerun-if-env-changed=PAMINN_TEST_POSTGRES_URL");
    if std::env::var("PAMINN_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=pg_tests");
    }
}
