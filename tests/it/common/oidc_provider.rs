//! A real OpenID Connect provider for sign-in tests: the npm package
//! `oidc-provider` run by `tests/oidc-provider/launch.mjs` on 127.0.0.1 (see
//! its header: one client `paminn`, PKCE required, RP-initiated logout, an
//! interaction page that signs in whichever account is typed, and the
//! account `other-audience` whose id_tokens name another client).
//!
//! Its node_modules come from `npm ci` in tests/oidc-provider; without them
//! [`start`] returns `None` and the test skips, unless
//! PAMINN_REQUIRE_OIDC_PROVIDER is set (CI sets it): then it panics.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// The client secret the launcher registers for `paminn`.
pub const CLIENT_SECRET: &str = "paminn-test-client-secret-0123456789";

/// A running provider; dropping it kills the node process.
pub struct Provider {
    /// `http://127.0.0.1:<port>`: the issuer.
    pub issuer: String,
    child: Child,
    _stdin: ChildStdin,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// Starts a provider whose client `paminn` may come back to `redirect_uri`
/// and, after logout, to `post_logout_uri`.
pub async fn start(redirect_uri: &str, post_logout_uri: &str) -> Option<Provider> {
    start_at(0, redirect_uri, post_logout_uri).await
}

impl Provider {
    /// The same provider (issuer, client) restarted with a new signing
    /// key: what a relying party sees when the provider rotates its keys.
    pub async fn restart_with_a_new_key(
        mut self,
        redirect_uri: &str,
        post_logout_uri: &str,
    ) -> Provider {
        let port: u16 = self.issuer.rsplit(':').next().unwrap().parse().unwrap();
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        start_at(port, redirect_uri, post_logout_uri)
            .await
            .expect("the provider ran before")
    }
}

async fn start_at(port: u16, redirect_uri: &str, post_logout_uri: &str) -> Option<Provider> {
    let dir = dir();
    if !dir.join("node_modules").is_dir() {
        if std::env::var_os("PAMINN_REQUIRE_OIDC_PROVIDER").is_some() {
            panic!(
                "the OIDC provider is required here: run `npm ci` in {}",
                dir.display()
            );
        }
        eprintln!(
            "OIDC provider not installed: skipping (run `npm ci` in {})",
            dir.display()
        );
        return None;
    }
    let mut child = Command::new("node")
        .arg(dir.join("launch.mjs"))
        .args(["--port", &port.to_string(), "--redirect-uri", redirect_uri])
        .args(["--post-logout-redirect-uri", post_logout_uri])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("OIDC provider: cannot run `node`: {e}"));
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("OIDC provider: no READY line within 20 s")
        .expect("OIDC provider: reading its stdout")
        .unwrap_or_default();
    let port: u16 = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("OIDC provider did not start: {line:?}"));
    // The provider prints notices on stdout later: keep draining it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Provider {
        issuer: format!("http://127.0.0.1:{port}"),
        child,
        _stdin: stdin,
    })
}

impl Provider {
    /// Plays a person at the provider: from the authorization URL paminn
    /// redirected to, through the provider's sign-in page (typing
    /// `account` and `groups`), to the URL the provider sends the browser
    /// back to (paminn's callback with `code` and `state`). `http` keeps
    /// cookies and follows no redirects.
    pub async fn sign_in(
        &self,
        http: &reqwest::Client,
        authorize_url: &str,
        account: &str,
        groups: &str,
    ) -> String {
        assert!(
            authorize_url.starts_with(&format!("{}/auth?", self.issuer)),
            "paminn sends the browser to the provider: {authorize_url}"
        );
        let res = http.get(authorize_url).send().await.unwrap();
        assert_eq!(res.status(), 303, "to the provider's sign-in page");
        let interaction = self.absolute(&location(&res));
        let page = http.get(&interaction).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("name=\"login\""));
        let res = http
            .post(format!("{interaction}/login"))
            .form(&[("login", account), ("groups", groups)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "signed in at the provider");
        let mut next = self.absolute(&location(&res));
        // Back through the provider's authorization endpoint to paminn.
        for _ in 0..5 {
            if !next.starts_with(&self.issuer) {
                return next;
            }
            let res = http.get(&next).send().await.unwrap();
            assert_eq!(res.status(), 303, "the provider redirects: {next}");
            next = self.absolute(&location(&res));
        }
        panic!("the provider never sent the browser back to paminn");
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.issuer)
        } else {
            url.to_string()
        }
    }
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
