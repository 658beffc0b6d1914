//! `paminn serve`: the HTTP server, the dispatcher and the series job in
//! one process, stopped cleanly on SIGTERM/SIGINT (in-flight sends finish,
//! open requests complete, nothing claimed is abandoned).

use crate::channels::Channels;
use crate::channels::sandbox::Sandbox;
use crate::config::Config;
use crate::domain::ChannelKind;
use crate::engine::Engine;
use crate::engine::dispatcher::Dispatcher;
use crate::store::Db;
use crate::web::{self, AppState};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Connects and migrates.
pub async fn open_db(cfg: &Config) -> anyhow::Result<Db> {
    let url = cfg.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    }
    let db = Db::connect(&url)
        .await
        .context("connecting to the database")?;
    db.migrate().await?;
    Ok(db)
}

/// The transports the configuration asks for.
pub fn channels(cfg: &Config, db: &Db) -> Arc<Channels> {
    let sandbox = Arc::new(Sandbox::new(
        db.clone(),
        Duration::from_millis(cfg.sandbox_latency_ms),
    ));
    // Only the sandbox exists so far; `Config::validate` refuses the rest.
    Arc::new(
        Channels::new()
            .with(ChannelKind::Sms, sandbox.clone())
            .with(ChannelKind::Telegram, sandbox),
    )
}

/// Cancels the token on SIGTERM or Ctrl-C.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                s.recv().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}

/// Runs everything until `shutdown`.
pub async fn run(
    cfg: &Config,
    db: Db,
    demo: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let engine = Engine::new(db.clone());
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");

    let dispatcher = Dispatcher::new(engine.clone(), channels(cfg, &db), cfg.dispatcher());
    let d_token = shutdown.clone();
    let dispatcher_task = tokio::spawn(async move { dispatcher.run(d_token).await });

    // Series expansion and the task/retention jobs: at start, then every
    // five minutes. All of them are idempotent.
    let horizon = chrono::Duration::days(cfg.series_horizon_days);
    let s_engine = engine.clone();
    let s_token = shutdown.clone();
    let series_task = tokio::spawn(async move {
        loop {
            let now = chrono::Utc::now();
            if let Err(e) = s_engine.expand_series(now, horizon).await {
                tracing::error!(error = %e, "series expansion failed; will retry");
            }
            match s_engine.run_jobs(now).await {
                Ok(r) => tracing::debug!(?r, "jobs ran"),
                Err(e) => tracing::error!(error = %e, "jobs failed; will retry"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(300)) => {}
                _ = s_token.cancelled() => break,
            }
        }
    });

    web::serve(listener, AppState { engine, demo }, shutdown.clone()).await?;
    shutdown.cancel();
    dispatcher_task.await.ok();
    series_task.await.ok();
    db.close().await;
    Ok(())
}

/// Logging: text or JSON lines, level from `RUST_LOG` (default info).
/// Log lines carry ids and statuses, never phone numbers or message texts.
pub fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
