//! Configuration: defaults, then a TOML file (`--config FILE` or
//! `PAMINN_CONFIG`), then environment variables `PAMINN_<KEY>` (e.g.
//! `PAMINN_DATABASE_URL`). Secrets belong in the environment or in files
//! readable only by the service, never in the repository.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where SQLite keeps its file when no database URL is given.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`. Default: SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Address of the HTTP server (API, webhooks, demo page).
    pub listen: SocketAddr,
    /// `text` (default) or `json` log lines.
    pub log_format: String,
    /// Transport for SMS: `sandbox` until a gateway is configured.
    pub sms_provider: String,
    /// Transport for Telegram: `sandbox` until a bot is configured.
    pub telegram_provider: String,
    /// Simulated latency of the sandbox transport, in milliseconds.
    pub sandbox_latency_ms: u64,
    /// Rows claimed per dispatcher batch.
    pub dispatch_batch_size: i64,
    /// Concurrent sends within a batch.
    pub dispatch_concurrency: usize,
    /// How long a claimed row is held before another worker may take it.
    pub dispatch_lease_secs: u64,
    /// Attempts in all before a message fails.
    pub dispatch_max_attempts: i64,
    /// First retry delay; doubles per attempt.
    pub dispatch_backoff_base_secs: i64,
    /// Longest retry delay.
    pub dispatch_backoff_cap_secs: i64,
    /// How often to look for work written by other processes.
    pub dispatch_poll_ms: u64,
    /// How far ahead recurring series are expanded into appointments.
    pub series_horizon_days: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("paminn-data"),
            database_url: None,
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            log_format: "text".into(),
            sms_provider: "sandbox".into(),
            telegram_provider: "sandbox".into(),
            sandbox_latency_ms: 0,
            dispatch_batch_size: 200,
            dispatch_concurrency: 32,
            dispatch_lease_secs: 60,
            dispatch_max_attempts: 5,
            dispatch_backoff_base_secs: 30,
            dispatch_backoff_cap_secs: 3600,
            dispatch_poll_ms: 1000,
            series_horizon_days: 28,
        }
    }
}

impl Config {
    /// Loads defaults ← file ← environment.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("PAMINN_CONFIG").map(PathBuf::from));
        if let Some(path) = &file {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            f = f.merge(Toml::file(path));
        }
        f = f.merge(Env::prefixed("PAMINN_").ignore(&["config", "test_postgres_url"]));
        let c: Config = f.extract().map_err(|e| format!("configuration: {e}"))?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), String> {
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(format!(
                "log_format must be text or json, not '{}'",
                self.log_format
            ));
        }
        for (k, v) in [
            ("sms_provider", &self.sms_provider),
            ("telegram_provider", &self.telegram_provider),
        ] {
            if v != "sandbox" {
                return Err(format!(
                    "{k} = '{v}' is not available in this version; only 'sandbox' is"
                ));
            }
        }
        if self.dispatch_batch_size < 1
            || self.dispatch_max_attempts < 1
            || self.dispatch_lease_secs < 5
        {
            return Err("dispatch_batch_size and dispatch_max_attempts must be >= 1, dispatch_lease_secs >= 5".into());
        }
        Ok(())
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.data_dir.join("paminn.db").display()),
        }
    }

    pub fn dispatcher(&self) -> crate::engine::dispatcher::DispatcherConfig {
        use crate::domain::retry::RetryPolicy;
        use std::time::Duration;
        crate::engine::dispatcher::DispatcherConfig {
            batch_size: self.dispatch_batch_size,
            concurrency: self.dispatch_concurrency,
            lease: Duration::from_secs(self.dispatch_lease_secs),
            retry: RetryPolicy {
                max_attempts: self.dispatch_max_attempts,
                base: chrono::Duration::seconds(self.dispatch_backoff_base_secs),
                cap: chrono::Duration::seconds(self.dispatch_backoff_cap_secs),
            },
            poll: Duration::from_millis(self.dispatch_poll_ms),
            ..Default::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn file_then_env_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "p.toml",
                "listen = \"127.0.0.1:9000\"\ndispatch_batch_size = 50\n",
            )?;
            jail.set_env("PAMINN_DATABASE_URL", "postgres://db/paminn");
            jail.set_env("PAMINN_DISPATCH_BATCH_SIZE", "75");
            let c = Config::load(Some(Path::new("p.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.dispatch_batch_size, 75);
            assert_eq!(c.database_url(), "postgres://db/paminn");
            Ok(())
        });
    }

    #[test]
    fn mistakes_are_reported_not_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lisen = \"127.0.0.1:9000\"\n")?;
            let e = Config::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(e.contains("lisen"), "{e}");
            assert!(
                Config::load(Some(Path::new("missing.toml")))
                    .unwrap_err()
                    .contains("does not exist")
            );
            jail.set_env("PAMINN_LOG_FORMAT", "xml");
            assert!(Config::load(None).unwrap_err().contains("log_format"));
            Ok(())
        });
    }

    #[test]
    fn sqlite_in_the_data_dir_by_default() {
        let c = Config {
            data_dir: "/var/lib/paminn".into(),
            ..Default::default()
        };
        assert_eq!(c.database_url(), "sqlite:///var/lib/paminn/paminn.db");
    }
}
