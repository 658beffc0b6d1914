//! `paminn serve`: the HTTP server, the dispatcher and the series job in
//! one process, stopped cleanly on SIGTERM/SIGINT (in-flight sends finish,
//! open requests complete, nothing claimed is abandoned).

use crate::channels::Channels;
use crate::channels::sandbox::Sandbox;
use crate::channels::telegram::{TelegramTransport, make_bot};
use crate::config::Config;
use crate::domain::ChannelKind;
use crate::engine::Engine;
use crate::engine::dispatcher::Dispatcher;
use crate::store::Db;
use crate::telegram::TelegramBot;
use crate::web::{self, AppState};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Connects and migrates. A missing data directory is created 0700 (it
/// holds the SQLite file, which holds personal data).
pub async fn open_db(cfg: &Config) -> anyhow::Result<Db> {
    let url = cfg.database_url();
    if url.starts_with("sqlite:") {
        let mut d = std::fs::DirBuilder::new();
        d.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut d, 0o700);
        d.create(&cfg.data_dir)
            .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    }
    let db = Db::connect(&url)
        .await
        .context("connecting to the database")?;
    db.migrate().await?;
    Ok(db)
}

/// The transports the configuration asks for. `Config::validate` has
/// already checked that the chosen provider has its settings.
pub fn channels(cfg: &Config, db: &Db) -> Arc<Channels> {
    channels_with(cfg, db, None)
}

/// [`channels`], with the Telegram bot when one is configured.
pub fn channels_with(cfg: &Config, db: &Db, telegram: Option<&teloxide::Bot>) -> Arc<Channels> {
    use crate::channels::sms::{elks46, sinch, twilio};
    let sandbox = Arc::new(Sandbox::new(
        db.clone(),
        Duration::from_millis(cfg.sandbox_latency_ms),
    ));
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let sms: Arc<dyn crate::channels::Transport> = match cfg.sms_provider.as_str() {
        "46elks" => Arc::new(elks46::Elks46::new(elks46::Elks46Config {
            api_url: cfg.elks46_api_url.clone(),
            username: s(&cfg.elks46_username),
            password: s(&cfg.elks46_password),
            from: s(&cfg.sms_from),
            status_callback: cfg.sms_status_callback(),
            rate_per_sec: cfg.sms_rate_per_sec,
            timeout: elks46::DEFAULT_TIMEOUT,
        })),
        "twilio" => Arc::new(twilio::Twilio::new(twilio::TwilioConfig {
            api_url: cfg.twilio_api_url.clone(),
            account_sid: s(&cfg.twilio_account_sid),
            auth_token: s(&cfg.twilio_auth_token),
            from: s(&cfg.sms_from),
            status_callback: cfg.sms_status_callback(),
            rate_per_sec: cfg.sms_rate_per_sec,
            timeout: twilio::DEFAULT_TIMEOUT,
        })),
        "sinch" => Arc::new(sinch::Sinch::new(sinch::SinchConfig {
            api_url: cfg.sinch_api_url.clone(),
            service_plan_id: s(&cfg.sinch_service_plan_id),
            api_token: s(&cfg.sinch_api_token),
            from: s(&cfg.sms_from),
            status_callback: cfg.sms_status_callback(),
            rate_per_sec: cfg.sms_rate_per_sec,
            timeout: sinch::DEFAULT_TIMEOUT,
        })),
        _ => sandbox.clone(),
    };
    let tg: Arc<dyn crate::channels::Transport> = match (telegram, cfg.telegram()) {
        (Some(bot), Some(t)) => Arc::new(TelegramTransport::new(bot.clone(), &t)),
        _ => sandbox.clone(),
    };
    if cfg.sms_provider != "sandbox" && cfg.sms_sender_is_alphanumeric() {
        tracing::warn!(
            "sms_from is a name, not a number: participants' SMS replies cannot reach paminn"
        );
    }
    Arc::new(
        Channels::new()
            .with(ChannelKind::Sms, sms)
            .with(ChannelKind::Telegram, tg),
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
    let engine = Engine::new(db.clone())
        .with_series_min_gap(cfg.series_min_gap())
        .with_audit_retention_days(cfg.audit_retention_days)
        .with_window(cfg.appointment_window())
        .with_event_hooks_local_http(cfg.event_hooks_allow_local_http);
    // Install the metrics recorder before anything counts.
    crate::telemetry::handle();
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");

    let bot = match cfg.telegram() {
        Some(t) => Some(make_bot(&t).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    let chans = channels_with(cfg, &db, bot.as_ref());
    let transports = ChannelKind::ALL
        .iter()
        .filter_map(|k| {
            chans
                .transport_name(*k)
                .map(|t| (k.as_str().to_string(), t.to_string()))
        })
        .collect();
    let dispatcher = Dispatcher::new(engine.clone(), chans, cfg.dispatcher());
    let d_token = shutdown.clone();
    let dispatcher_task = tokio::spawn(async move { dispatcher.run(d_token).await });
    // Event webhooks out: the delivery worker beside the dispatcher.
    let hooks = crate::engine::event_hooks::EventHookWorker::new(
        engine.clone(),
        crate::engine::event_hooks::EventHooksConfig::default(),
    );
    let h_token = shutdown.clone();
    let hooks_task = tokio::spawn(async move { hooks.run(h_token).await });

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

    // Telegram: updates by long polling or webhook; alerts and attendance
    // prompts for lotsar every 10 seconds.
    let mut tg_tasks = Vec::new();
    let mut telegram_hook = None;
    if let Some(bot) = bot {
        let tg_bot =
            Arc::new(TelegramBot::new(engine.clone(), bot).with_public_url(cfg.public_url.clone()));
        tg_tasks.push(tokio::spawn(
            tg_bot
                .clone()
                .run_staff_loop(Duration::from_secs(10), shutdown.clone()),
        ));
        if cfg.telegram_mode == "webhook" {
            let url = cfg.telegram_webhook_url().unwrap_or_default();
            let secret = cfg.telegram_webhook_secret.clone().unwrap_or_default();
            tg_bot
                .set_webhook(&url, &secret)
                .await
                .context("registering the Telegram webhook (setWebhook)")?;
            tracing::info!("Telegram webhook registered");
            telegram_hook = Some(web::telegram::TelegramHook {
                bot: tg_bot,
                secret,
            });
        } else {
            tg_tasks.push(tokio::spawn(tg_bot.poll(shutdown.clone())));
        }
    }

    let webhooks = web::webhooks::WebhookConfig {
        provider: web::webhooks::SmsProvider::from_path(&cfg.sms_provider),
        secret: cfg.sms_webhook_secret.clone(),
        twilio_auth_token: cfg.twilio_auth_token.clone(),
        public_url: cfg.public_url.clone(),
    };
    web::serve(
        listener,
        AppState {
            engine,
            demo,
            webhooks,
            telegram: telegram_hook,
            transports,
            ui: web::ui::UiConfig {
                secure_cookies: cfg
                    .public_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://")),
                demo_login: demo.then(|| {
                    (
                        crate::demo::DEMO_STAFF[0].0.to_string(),
                        crate::demo::DEMO_PASSWORD.to_string(),
                    )
                }),
                telegram_bot_username: cfg.telegram_bot_username.clone(),
                trusted_proxies: cfg.trusted_proxies.clone(),
                organisation_name: cfg.organisation_name.clone(),
                accessibility_contact: cfg.accessibility_contact.clone(),
                password_login_disabled: !cfg.password_login,
                public_url: cfg.public_url.clone(),
                sign_in: cfg.sign_in().map_err(|e| anyhow::anyhow!(e))?,
            },
        },
        shutdown.clone(),
    )
    .await?;
    shutdown.cancel();
    dispatcher_task.await.ok();
    hooks_task.await.ok();
    series_task.await.ok();
    for t in tg_tasks {
        t.await.ok();
    }
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
