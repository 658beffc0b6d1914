//! Configuration: defaults, then a TOML file (`--config FILE` or
//! `PAMINN_CONFIG`), then environment variables `PAMINN_<KEY>` (e.g.
//! `PAMINN_DATABASE_URL`). Secrets belong in the environment or in files
//! readable only by the service, never in the repository.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Serialize, Deserialize)]
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
    /// Transport for SMS: `sandbox`, `46elks`, `twilio` or `sinch`.
    pub sms_provider: String,
    /// Sender: a phone number (replies reach us) or an alphanumeric name
    /// (they do not).
    pub sms_from: Option<String>,
    /// Messages per second to the SMS gateway.
    pub sms_rate_per_sec: u32,
    /// Shared secret 46elks and Sinch callbacks must carry (Basic password,
    /// preferred, or `?secret=`); at least 32 characters.
    pub sms_webhook_secret: Option<String>,
    /// The public base URL gateways call back (delivery reports, inbound).
    pub public_url: Option<String>,
    /// Addresses of reverse proxies in front of paminn whose
    /// `X-Forwarded-For` header names the client (login limits per client
    /// address). Empty: the TCP peer is the client and the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    #[serde(rename = "46elks_username")]
    pub elks46_username: Option<String>,
    #[serde(rename = "46elks_password")]
    pub elks46_password: Option<String>,
    #[serde(rename = "46elks_api_url")]
    pub elks46_api_url: String,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<String>,
    pub twilio_api_url: String,
    pub sinch_service_plan_id: Option<String>,
    pub sinch_api_token: Option<String>,
    pub sinch_api_url: String,
    /// Transport for Telegram: `auto` (the bot when a token is set, else
    /// the sandbox), `telegram` or `sandbox`.
    pub telegram_provider: String,
    /// The bot's token from @BotFather. A secret: set it in the
    /// environment (`PAMINN_TELEGRAM_TOKEN`), not in a file in a repository.
    pub telegram_token: Option<String>,
    /// Base URL of the Bot API: the public one, a self-hosted Bot API
    /// server, or a fake in tests.
    pub telegram_api_url: String,
    /// `polling` (default) or `webhook`.
    pub telegram_mode: String,
    /// Webhook mode: the secret Telegram sends in
    /// `X-Telegram-Bot-Api-Secret-Token` (1-256 of A-Z a-z 0-9 _ -).
    pub telegram_webhook_secret: Option<String>,
    /// The bot's username, for deep links (`https://t.me/<bot>?start=<code>`).
    pub telegram_bot_username: Option<String>,
    /// The organisation that runs this instance, named in the
    /// accessibility statement (`/accessibility`).
    pub organisation_name: Option<String>,
    /// Where to report accessibility problems (an e-mail address, a phone
    /// number or a web page), shown in the accessibility statement.
    pub accessibility_contact: Option<String>,
    /// Messages per second across all chats.
    pub telegram_rate_per_sec: u32,
    /// Messages per second to one chat.
    pub telegram_per_chat_per_sec: u32,
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
    /// The shortest time a recurring series may leave between two
    /// appointments; a cron that comes more often is refused.
    pub series_min_interval_minutes: i64,
    /// Appointment times may be this many years back from now ...
    pub appointment_years_back: u32,
    /// ... and this many years ahead; anything else is refused as a typo.
    pub appointment_years_ahead: u32,
    /// Staff may log in with a username and password (the login form).
    /// An admin can switch it off for an instance that signs everyone in
    /// through the identity provider; needs `oidc_issuer_url` then.
    pub password_login: bool,
    /// Event webhook endpoints may be plain `http://` to 127.0.0.1 or
    /// localhost (tests and the demo); otherwise `https://` only.
    pub event_hooks_allow_local_http: bool,
    /// Sign-in through the organisation's identity provider (OpenID
    /// Connect): its issuer URL. Unset: no such sign-in.
    pub oidc_issuer_url: Option<String>,
    /// paminn's client id at the provider.
    pub oidc_client_id: Option<String>,
    /// paminn's client secret at the provider. A secret: set it in the
    /// environment (`PAMINN_OIDC_CLIENT_SECRET`) or use
    /// `oidc_client_secret_file`.
    pub oidc_client_secret: Option<String>,
    /// A file holding the client secret (readable only by the service).
    pub oidc_client_secret_file: Option<PathBuf>,
    /// The provider's name on the login button ("Logga in med <name>").
    pub oidc_provider_name: Option<String>,
    /// Scopes asked for besides `openid`, space-separated.
    pub oidc_scopes: String,
    /// The claim staff are matched by against their account's
    /// identity-provider id: `email`, `preferred_username`, `sub`, or a
    /// custom claim (an HSA-id, Entra's `oid`).
    pub oidc_match_claim: String,
    /// Unknown people get an account when their group claim maps to a
    /// role and unit in `oidc_provisioning_map`. Off by default.
    pub oidc_provisioning: bool,
    /// The claim holding a person's groups or roles, for provisioning.
    pub oidc_groups_claim: String,
    /// Group claim value → role and unit (name or id); the first match
    /// wins. TOML: `[[oidc_provisioning_map]]` with `group`, `role`, `unit`.
    pub oidc_provisioning_map: Vec<crate::domain::sign_in::ProvisionRule>,
    /// Whom someone without an account should ask (shown on the "no
    /// account" page); without it, "your coordinator or paminn's admin".
    pub oidc_no_account_contact: Option<String>,
    /// How long audit rows (who looked at or changed what) are kept, in
    /// days, apart from the units' message retention: at least 365 (the
    /// database refuses to delete younger rows), by default five years.
    pub audit_retention_days: i64,
}

/// Settings that are secrets: `{:?}` shows whether they are set, never
/// their value.
const SECRET_KEYS: &[&str] = &[
    "sms_webhook_secret",
    "46elks_password",
    "twilio_auth_token",
    "sinch_api_token",
    "telegram_token",
    "telegram_webhook_secret",
    "oidc_client_secret",
];

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        if let Some(map) = v.as_object_mut() {
            for key in SECRET_KEYS {
                if let Some(x) = map.get_mut(*key)
                    && !x.is_null()
                {
                    *x = serde_json::json!("<redacted>");
                }
            }
            // A database URL may carry a password.
            if let Some(url) = map.get_mut("database_url")
                && url.as_str().is_some_and(|u| u.contains('@'))
            {
                *url = serde_json::json!("<redacted>");
            }
        }
        write!(f, "Config {v}")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("paminn-data"),
            database_url: None,
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            log_format: "text".into(),
            sms_provider: "sandbox".into(),
            sms_from: None,
            sms_rate_per_sec: 10,
            sms_webhook_secret: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            elks46_username: None,
            elks46_password: None,
            elks46_api_url: "https://api.46elks.com".into(),
            twilio_account_sid: None,
            twilio_auth_token: None,
            twilio_api_url: "https://api.twilio.com".into(),
            sinch_service_plan_id: None,
            sinch_api_token: None,
            sinch_api_url: "https://us.sms.api.sinch.com".into(),
            telegram_provider: "auto".into(),
            telegram_token: None,
            telegram_api_url: crate::channels::telegram::DEFAULT_API_URL.into(),
            telegram_mode: "polling".into(),
            telegram_webhook_secret: None,
            telegram_bot_username: None,
            organisation_name: None,
            accessibility_contact: None,
            telegram_rate_per_sec: 30,
            telegram_per_chat_per_sec: 1,
            sandbox_latency_ms: 0,
            dispatch_batch_size: 200,
            dispatch_concurrency: 32,
            dispatch_lease_secs: 60,
            dispatch_max_attempts: 5,
            dispatch_backoff_base_secs: 30,
            dispatch_backoff_cap_secs: 3600,
            dispatch_poll_ms: 1000,
            series_horizon_days: 28,
            series_min_interval_minutes: 60,
            appointment_years_back: 1,
            appointment_years_ahead: 5,
            password_login: true,
            event_hooks_allow_local_http: false,
            oidc_issuer_url: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_client_secret_file: None,
            oidc_provider_name: None,
            oidc_scopes: "email profile".into(),
            oidc_match_claim: "email".into(),
            oidc_provisioning: false,
            oidc_groups_claim: "groups".into(),
            oidc_provisioning_map: Vec::new(),
            oidc_no_account_contact: None,
            audit_retention_days: crate::engine::review::DEFAULT_AUDIT_RETENTION_DAYS,
        }
    }
}

/// The `PAMINN_*` environment with every value kept as the text it is.
///
/// figment's `Env` parses values (`+46766861004` becomes a number, `true` a
/// bool), which a text setting then refuses; figment has no switch for
/// that, so this provider takes `Env`'s names (prefix, ignore list,
/// lowercasing) and hands on the values unparsed. Numbers are read from
/// text by `extract_lossy`, so this covers every key at once, new ones too.
struct RawEnv(Env);

impl figment::Provider for RawEnv {
    fn metadata(&self) -> figment::Metadata {
        self.0.metadata()
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (key, value) in self.0.iter() {
            dict.insert(key.as_str().to_string(), figment::value::Value::from(value));
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

impl Config {
    /// Loads defaults ← file ← environment.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let c = Self::read(file)?;
        c.validate()?;
        Ok(c)
    }

    /// defaults ← file ← environment, before `validate`.
    fn read(file: Option<&Path>) -> Result<Config, String> {
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
        f = f.merge(RawEnv(Env::prefixed("PAMINN_").ignore(&[
            "config",
            "test_postgres_url",
            "require_telegram_emulator",
            "require_oidc_provider",
            // The browser test's switches (tests/browser.rs).
            "require_browser",
            "screenshots",
            "chromium",
        ])));
        // Lossy: a number setting given as text ("75" from the environment)
        // is read as a number; text settings stay exactly as given.
        let c: Config = f
            .extract_lossy()
            .map_err(|e| format!("configuration: {e}"))?;
        Ok(c)
    }

    /// The window of accepted appointment times.
    pub fn appointment_window(&self) -> crate::domain::window::Window {
        crate::domain::window::Window {
            years_back: self.appointment_years_back,
            years_ahead: self.appointment_years_ahead,
        }
    }

    /// Whether Telegram goes through the real bot (else the sandbox).
    pub fn telegram_enabled(&self) -> bool {
        match self.telegram_provider.as_str() {
            "telegram" => true,
            "auto" => self
                .telegram_token
                .as_deref()
                .is_some_and(|t| !t.trim().is_empty()),
            _ => false,
        }
    }

    /// The bot's settings, when the bot is enabled.
    pub fn telegram(&self) -> Option<crate::channels::telegram::TelegramConfig> {
        self.telegram_enabled()
            .then(|| crate::channels::telegram::TelegramConfig {
                token: self.telegram_token.clone().unwrap_or_default(),
                api_url: self.telegram_api_url.clone(),
                rate_per_sec: self.telegram_rate_per_sec,
                per_chat_per_sec: self.telegram_per_chat_per_sec,
                timeout: std::time::Duration::from_secs(20),
            })
    }

    /// Webhook mode: the URL Telegram is told to call.
    pub fn telegram_webhook_url(&self) -> Option<String> {
        self.public_url
            .as_ref()
            .map(|u| format!("{}/webhooks/telegram", u.trim_end_matches('/')))
    }

    fn validate_telegram(&self) -> Result<(), String> {
        if !matches!(
            self.telegram_provider.as_str(),
            "auto" | "telegram" | "sandbox"
        ) {
            return Err(format!(
                "telegram_provider must be auto, telegram or sandbox, not '{}'",
                self.telegram_provider
            ));
        }
        if !matches!(self.telegram_mode.as_str(), "polling" | "webhook") {
            return Err(format!(
                "telegram_mode must be polling or webhook, not '{}'",
                self.telegram_mode
            ));
        }
        if self.telegram_rate_per_sec == 0 || self.telegram_per_chat_per_sec == 0 {
            return Err(
                "telegram_rate_per_sec and telegram_per_chat_per_sec must be at least 1".into(),
            );
        }
        if !self.telegram_enabled() {
            return Ok(());
        }
        if self
            .telegram_token
            .as_deref()
            .is_none_or(|t| t.trim().is_empty())
        {
            return Err(
                "telegram_provider = 'telegram' needs telegram_token (PAMINN_TELEGRAM_TOKEN)"
                    .into(),
            );
        }
        if reqwest::Url::parse(&self.telegram_api_url).is_err() {
            return Err(format!(
                "telegram_api_url '{}' is not a URL",
                self.telegram_api_url
            ));
        }
        if self.telegram_mode == "webhook" {
            let ok = |s: &str| {
                (1..=256).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            };
            match &self.telegram_webhook_secret {
                Some(s) if ok(s) => {}
                Some(_) => {
                    return Err(
                        "telegram_webhook_secret must be 1-256 characters of A-Z a-z 0-9 _ -"
                            .into(),
                    );
                }
                None => {
                    return Err("telegram_mode = 'webhook' needs telegram_webhook_secret (PAMINN_TELEGRAM_WEBHOOK_SECRET)".into());
                }
            }
            if self.public_url.is_none() {
                return Err("telegram_mode = 'webhook' needs public_url: Telegram calls <public_url>/webhooks/telegram".into());
            }
        }
        Ok(())
    }

    /// Whether sign-in through an identity provider is configured.
    pub fn oidc_enabled(&self) -> bool {
        self.oidc_issuer_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
    }

    /// The client secret: `oidc_client_secret`, else the file's contents.
    fn oidc_client_secret(&self) -> Result<String, String> {
        if let Some(s) = self.oidc_client_secret.as_deref().filter(|s| !s.is_empty()) {
            return Ok(s.to_string());
        }
        let Some(path) = &self.oidc_client_secret_file else {
            return Err("oidc_issuer_url needs oidc_client_secret (PAMINN_OIDC_CLIENT_SECRET) or oidc_client_secret_file".into());
        };
        let s = std::fs::read_to_string(path)
            .map_err(|e| format!("oidc_client_secret_file {}: {e}", path.display()))?;
        let s = s.trim().to_string();
        if s.is_empty() {
            return Err(format!(
                "oidc_client_secret_file {} is empty",
                path.display()
            ));
        }
        Ok(s)
    }

    /// Sign-in through the identity provider, when configured: the
    /// relying party and who may sign in.
    pub fn sign_in(&self) -> Result<Option<crate::web::ui::SignInConfig>, String> {
        if !self.oidc_enabled() {
            return Ok(None);
        }
        let issuer = self.oidc_issuer_url.clone().unwrap_or_default();
        let client_id = self
            .oidc_client_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or("oidc_issuer_url needs oidc_client_id (PAMINN_OIDC_CLIENT_ID)")?;
        let secret = self.oidc_client_secret()?;
        let base = self
            .public_url
            .as_deref()
            .ok_or("oidc_issuer_url needs public_url: the provider sends the browser back to <public_url>/login/oidc/callback")?
            .trim_end_matches('/')
            .to_string();
        let match_claim = crate::domain::sign_in::MatchClaim::parse(&self.oidc_match_claim)?;
        if self.oidc_provisioning && self.oidc_provisioning_map.is_empty() {
            return Err("oidc_provisioning = true needs at least one [[oidc_provisioning_map]] entry (group, role, unit)".into());
        }
        let mut scopes: Vec<String> = self
            .oidc_scopes
            .split_whitespace()
            .filter(|s| *s != "openid")
            .map(str::to_string)
            .collect();
        scopes.dedup();
        let oidc = crate::oidc::Oidc::new(crate::oidc::OidcSettings {
            issuer_url: issuer,
            client_id,
            client_secret: secret,
            redirect_url: format!("{base}/login/oidc/callback"),
            post_logout_url: format!("{base}/login"),
            scopes,
            display_name: self.oidc_provider_name.clone().unwrap_or_default(),
            clock_offset: chrono::Duration::zero(),
        })?;
        Ok(Some(crate::web::ui::SignInConfig {
            oidc,
            policy: crate::engine::sign_in::SignInPolicy {
                match_claim,
                provisioning: self.oidc_provisioning,
                groups_claim: self.oidc_groups_claim.clone(),
                rules: self.oidc_provisioning_map.clone(),
            },
            no_account_contact: self.oidc_no_account_contact.clone(),
        }))
    }

    fn validate(&self) -> Result<(), String> {
        if !self.password_login && !self.oidc_enabled() {
            return Err("password_login = false needs sign-in through an identity provider (oidc_issuer_url), or nobody could log in".into());
        }
        self.sign_in()?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(format!(
                "log_format must be text or json, not '{}'",
                self.log_format
            ));
        }
        self.validate_telegram()?;
        let need = |what: &str, v: &Option<String>| match v {
            Some(s) if !s.trim().is_empty() => Ok(()),
            _ => Err(format!(
                "sms_provider = '{}' needs {what} (PAMINN_{})",
                self.sms_provider,
                what.to_uppercase()
            )),
        };
        if let Some(secret) = &self.sms_webhook_secret {
            let n = secret.chars().count();
            if n < crate::channels::sms::webhook::MIN_SECRET_LEN {
                return Err(format!(
                    "sms_webhook_secret is {n} characters; it must be at least {} \
                     (e.g. `openssl rand -hex 32`)",
                    crate::channels::sms::webhook::MIN_SECRET_LEN
                ));
            }
        }
        match self.sms_provider.as_str() {
            "sandbox" => {}
            "46elks" => {
                need("46elks_username", &self.elks46_username)?;
                need("46elks_password", &self.elks46_password)?;
                need("sms_from", &self.sms_from)?;
                need("sms_webhook_secret", &self.sms_webhook_secret)?;
            }
            "twilio" => {
                need("twilio_account_sid", &self.twilio_account_sid)?;
                need("twilio_auth_token", &self.twilio_auth_token)?;
                need("sms_from", &self.sms_from)?;
                need("public_url", &self.public_url)?;
            }
            "sinch" => {
                need("sinch_service_plan_id", &self.sinch_service_plan_id)?;
                need("sinch_api_token", &self.sinch_api_token)?;
                need("sms_from", &self.sms_from)?;
                need("sms_webhook_secret", &self.sms_webhook_secret)?;
            }
            other => {
                return Err(format!(
                    "sms_provider must be sandbox, 46elks, twilio or sinch, not '{other}'"
                ));
            }
        }
        if self.dispatch_batch_size < 1
            || self.dispatch_max_attempts < 1
            || self.dispatch_lease_secs < 5
        {
            return Err("dispatch_batch_size and dispatch_max_attempts must be >= 1, dispatch_lease_secs >= 5".into());
        }
        if self.series_min_interval_minutes < 1 {
            return Err("series_min_interval_minutes must be at least 1".into());
        }
        if self.audit_retention_days < crate::engine::review::MIN_AUDIT_RETENTION_DAYS {
            return Err(format!(
                "audit_retention_days must be at least {} (a year of audit rows is kept whatever the setting)",
                crate::engine::review::MIN_AUDIT_RETENTION_DAYS
            ));
        }
        Ok(())
    }

    /// Is the SMS sender a name rather than a number? Then replies cannot
    /// reach us.
    pub fn sms_sender_is_alphanumeric(&self) -> bool {
        self.sms_from
            .as_deref()
            .is_some_and(|f| f.chars().any(|c| c.is_alphabetic()))
    }

    /// The URL a gateway should send delivery reports to, with the secret
    /// when the provider authenticates by it: as Basic auth credentials in
    /// the URL for 46elks (kept out of proxy logs' query strings), as
    /// `?secret=` for Sinch.
    pub fn sms_status_callback(&self) -> Option<String> {
        let base = self.public_url.as_deref()?.trim_end_matches('/');
        let url = format!("{base}/webhooks/sms/{}/status", self.sms_provider);
        Some(
            match (&self.sms_webhook_secret, self.sms_provider.as_str()) {
                (Some(s), "46elks") => {
                    let with_credentials = url::Url::parse(&url).ok().and_then(|mut u| {
                        u.set_username("paminn").ok()?;
                        u.set_password(Some(s)).ok()?;
                        Some(u.to_string())
                    });
                    with_credentials.unwrap_or_else(|| {
                        let enc: String = form_urlencoded::byte_serialize(s.as_bytes()).collect();
                        format!("{url}?secret={enc}")
                    })
                }
                (Some(s), "sinch") => {
                    let enc: String = form_urlencoded::byte_serialize(s.as_bytes()).collect();
                    format!("{url}?secret={enc}")
                }
                _ => url,
            },
        )
    }

    /// The shortest gap a recurring series may have.
    pub fn series_min_gap(&self) -> chrono::Duration {
        chrono::Duration::minutes(self.series_min_interval_minutes)
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

    /// The keys that take text, found from the struct itself (every key
    /// that accepts `abc` from the environment), so new keys are covered.
    fn text_keys(jail: &mut figment::Jail) -> Vec<String> {
        let keys = serde_json::to_value(Config::default()).unwrap();
        let mut text = Vec::new();
        for key in keys.as_object().unwrap().keys() {
            let var = format!("PAMINN_{}", key.to_uppercase());
            jail.set_env(&var, "abc");
            if let Ok(c) = Config::read(None) {
                let v = serde_json::to_value(&c).unwrap();
                if v[key] == "abc" {
                    text.push(key.clone());
                }
            }
            // The jail restores the whole environment when it ends.
            jail.clear_env();
        }
        text
    }

    #[test]
    fn every_text_setting_takes_digits_and_booleans_from_the_environment_as_written() {
        figment::Jail::expect_with(|jail| {
            let keys = text_keys(jail);
            for must in [
                "sms_from",
                "sms_webhook_secret",
                "46elks_username",
                "46elks_password",
                "twilio_auth_token",
                "sinch_api_token",
                "telegram_token",
                "telegram_webhook_secret",
                "database_url",
                "data_dir",
            ] {
                assert!(keys.iter().any(|k| k == must), "{must} in {keys:?}");
            }
            for value in [
                "+46766861004",
                "123456",
                "12345678",
                "0046766861004",
                "007",
                "true",
                "false",
                "-1",
                "1.5",
                "1e3",
                "[1, 2]",
                "{a=1}",
                "\"quoted\"",
            ] {
                for key in &keys {
                    jail.set_env(format!("PAMINN_{}", key.to_uppercase()), value);
                }
                let c = Config::read(None).unwrap_or_else(|e| panic!("{value}: {e}"));
                let v = serde_json::to_value(&c).unwrap();
                for key in &keys {
                    assert_eq!(v[key], value, "{key} = {value}");
                }
            }
            Ok(())
        });
    }

    #[test]
    fn an_sms_deployment_as_the_readme_shows_it_starts() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PAMINN_SMS_PROVIDER", "46elks");
            jail.set_env("PAMINN_SMS_FROM", "+46766861004");
            jail.set_env("PAMINN_46ELKS_USERNAME", "u1234");
            jail.set_env("PAMINN_46ELKS_PASSWORD", "12345678");
            // All digits, and long enough (at least 32 characters).
            jail.set_env(
                "PAMINN_SMS_WEBHOOK_SECRET",
                "12345678901234567890123456789012",
            );
            jail.set_env("PAMINN_TELEGRAM_TOKEN", "123456");
            jail.set_env("PAMINN_SMS_RATE_PER_SEC", "5");
            let c = Config::load(None).unwrap();
            assert_eq!(c.sms_from.as_deref(), Some("+46766861004"));
            assert_eq!(c.elks46_password.as_deref(), Some("12345678"));
            assert_eq!(
                c.sms_webhook_secret.as_deref(),
                Some("12345678901234567890123456789012")
            );
            assert_eq!(c.telegram_token.as_deref(), Some("123456"));
            assert_eq!(c.sms_rate_per_sec, 5);
            assert!(!c.sms_sender_is_alphanumeric());
            jail.set_env("PAMINN_SMS_RATE_PER_SEC", "many");
            let e = Config::load(None).unwrap_err();
            assert!(e.contains("SMS_RATE_PER_SEC"), "{e}");
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
    fn telegram_is_the_bot_with_a_token_and_webhook_mode_needs_its_secret() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None).unwrap();
            assert!(!c.telegram_enabled() && c.telegram().is_none());
            jail.set_env("PAMINN_TELEGRAM_TOKEN", "123:abc");
            let c = Config::load(None).unwrap();
            let t = c.telegram().expect("a token turns the bot on");
            assert_eq!((t.rate_per_sec, t.per_chat_per_sec), (30, 1));
            assert!(
                !format!("{t:?}").contains("123:abc"),
                "the token is not printed"
            );
            jail.set_env("PAMINN_TELEGRAM_MODE", "webhook");
            let e = Config::load(None).unwrap_err();
            assert!(e.contains("telegram_webhook_secret"), "{e}");
            jail.set_env("PAMINN_TELEGRAM_WEBHOOK_SECRET", "has spaces");
            assert!(Config::load(None).unwrap_err().contains("A-Z a-z 0-9"));
            jail.set_env("PAMINN_TELEGRAM_WEBHOOK_SECRET", "ok_secret-1");
            assert!(Config::load(None).unwrap_err().contains("public_url"));
            jail.set_env("PAMINN_PUBLIC_URL", "https://paminn.example.se/");
            let c = Config::load(None).unwrap();
            assert_eq!(
                c.telegram_webhook_url().as_deref(),
                Some("https://paminn.example.se/webhooks/telegram")
            );
            jail.set_env("PAMINN_TELEGRAM_MODE", "push");
            assert!(Config::load(None).unwrap_err().contains("telegram_mode"));
            jail.set_env("PAMINN_TELEGRAM_MODE", "polling");
            jail.set_env("PAMINN_TELEGRAM_PROVIDER", "sandbox");
            assert!(!Config::load(None).unwrap().telegram_enabled());
            Ok(())
        });
    }

    #[test]
    fn the_example_config_loads_and_names_every_setting() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/paminn.toml.example");
        let text = std::fs::read_to_string(&path).unwrap();
        figment::Jail::expect_with(|_| {
            Config::load(Some(&path)).unwrap();
            Ok(())
        });
        let keys = serde_json::to_value(Config::default()).unwrap();
        for key in keys.as_object().unwrap().keys() {
            assert!(
                text.lines()
                    .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} ="))),
                "deploy/paminn.toml.example does not mention {key}"
            );
        }
    }

    #[test]
    fn debug_output_names_secrets_but_never_shows_them() {
        let c = Config {
            telegram_token: Some("123:tok".into()),
            twilio_auth_token: Some("twtok".into()),
            sms_webhook_secret: Some("hooksecret".into()),
            database_url: Some("postgres://u:pw@db/paminn".into()),
            ..Config::default()
        };
        let d = format!("{c:?}");
        for secret in ["123:tok", "twtok", "hooksecret", "pw@db"] {
            assert!(!d.contains(secret), "{d}");
        }
        assert!(
            d.contains("\"telegram_token\":\"<redacted>\"")
                && d.contains("\"sms_provider\":\"sandbox\""),
            "{d}"
        );
    }

    #[test]
    fn sign_in_through_a_provider_needs_its_client_and_password_login_off_needs_it() {
        figment::Jail::expect_with(|jail| {
            assert!(Config::load(None).unwrap().sign_in().unwrap().is_none());
            jail.set_env("PAMINN_PASSWORD_LOGIN", "false");
            let e = Config::load(None).unwrap_err();
            assert!(e.contains("password_login"), "{e}");
            jail.set_env("PAMINN_OIDC_ISSUER_URL", "https://idp.kommun.example");
            assert!(Config::load(None).unwrap_err().contains("oidc_client_id"));
            jail.set_env("PAMINN_OIDC_CLIENT_ID", "paminn");
            assert!(
                Config::load(None)
                    .unwrap_err()
                    .contains("oidc_client_secret")
            );
            jail.create_file("secret", "s3cret-from-a-file\n")?;
            jail.set_env("PAMINN_OIDC_CLIENT_SECRET_FILE", "secret");
            assert!(Config::load(None).unwrap_err().contains("public_url"));
            jail.set_env("PAMINN_PUBLIC_URL", "https://paminn.kommun.example/");
            jail.set_env("PAMINN_OIDC_MATCH_CLAIM", "not a claim");
            assert!(Config::load(None).unwrap_err().contains("oidc_match_claim"));
            jail.set_env("PAMINN_OIDC_MATCH_CLAIM", "hsa_id");
            let c = Config::load(None).unwrap();
            assert!(!format!("{c:?}").contains("s3cret"));
            let si = c.sign_in().unwrap().expect("configured");
            assert_eq!(si.oidc.settings.client_secret, "s3cret-from-a-file");
            assert_eq!(
                si.oidc.settings.redirect_url,
                "https://paminn.kommun.example/login/oidc/callback"
            );
            assert_eq!(si.policy.match_claim.as_str(), "hsa_id");
            jail.set_env("PAMINN_OIDC_PROVISIONING", "true");
            assert!(
                Config::load(None)
                    .unwrap_err()
                    .contains("oidc_provisioning_map")
            );
            jail.create_file(
                "p.toml",
                "[[oidc_provisioning_map]]\ngroup = \"g1\"\nrole = \"lots\"\nunit = \"Norr\"\n",
            )?;
            let c = Config::load(Some(Path::new("p.toml"))).unwrap();
            let si = c.sign_in().unwrap().unwrap();
            assert!(si.policy.provisioning);
            assert_eq!(si.policy.rules[0].role, crate::domain::Role::Lots);
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

    #[test]
    fn a_short_webhook_secret_is_refused_at_start() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PAMINN_SMS_PROVIDER", "46elks");
            jail.set_env("PAMINN_46ELKS_USERNAME", "u");
            jail.set_env("PAMINN_46ELKS_PASSWORD", "p");
            jail.set_env("PAMINN_SMS_FROM", "Paminn");
            jail.set_env("PAMINN_SMS_WEBHOOK_SECRET", "s3cret-for-tests");
            let e = Config::load(None).unwrap_err();
            assert!(
                e.contains("sms_webhook_secret") && e.contains("at least 32"),
                "{e}"
            );
            jail.set_env("PAMINN_SMS_WEBHOOK_SECRET", " ");
            assert!(Config::load(None).unwrap_err().contains("at least 32"));
            jail.set_env("PAMINN_SMS_WEBHOOK_SECRET", "x".repeat(32));
            jail.set_env("PAMINN_PUBLIC_URL", "https://paminn.example.se");
            let c = Config::load(None).unwrap();
            // 46elks is told to call back with Basic auth, not a query secret.
            let cb = c.sms_status_callback().unwrap();
            assert_eq!(
                cb,
                format!(
                    "https://paminn:{}@paminn.example.se/webhooks/sms/46elks/status",
                    "x".repeat(32)
                )
            );
            Ok(())
        });
    }
}
