//! The OpenID Connect relying party: what paminn says to the
//! organisation's identity provider, with the `openidconnect` crate and
//! its reqwest client. Discovery (once, then cached), the authorization
//! URL with state, nonce and PKCE (S256), the code exchange, and the
//! id_token's checks: signature against the provider's JWKS (fetched again
//! once when the token names a key it does not have: key rotation),
//! issuer, audience, expiry and nonce. Also the provider's end-session URL
//! for RP-initiated logout.
//!
//! Knows no database and no engine, like a channel: the state, nonce and
//! verifier are kept server-side by `engine::sign_in`, which also decides
//! who the verified claims belong to. Nothing here logs a token.

use crate::domain::sign_in::Failure;
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreJsonWebKey};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    JsonWebKeySet, LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::RwLock;

/// How paminn is registered at the provider.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer URL (discovery is `<issuer>/.well-known/openid-configuration`).
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// `<public_url>/login/oidc/callback`: registered at the provider.
    pub redirect_url: String,
    /// `<public_url>/login`: where the provider sends the browser after
    /// logging out (registered as a post-logout redirect URI).
    pub post_logout_url: String,
    /// Scopes asked for besides `openid` (e.g. `email profile`).
    pub scopes: Vec<String>,
    /// The provider's name on the login page ("Logga in med <name>").
    pub display_name: String,
    /// Added to the clock the id_token's expiry is checked against: zero
    /// in service; tests move paminn's clock past a token's lifetime with
    /// it instead of waiting.
    pub clock_offset: chrono::Duration,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_url", &self.redirect_url)
            .field("display_name", &self.display_name)
            .finish()
    }
}

/// The start of a sign-in: where to send the browser, and what must be
/// kept (server-side) until the provider sends it back.
pub struct Start {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A verified sign-in: the id_token's claims (every claim, custom ones
/// too), and the token itself for logout's `id_token_hint`.
pub struct Verified {
    pub claims: Value,
    pub id_token: String,
}

/// The relying party. Cheap to clone; the provider's metadata (and JWKS)
/// are fetched at the first sign-in and kept.
#[derive(Clone)]
pub struct Oidc {
    pub settings: Arc<OidcSettings>,
    http: reqwest::Client,
    metadata: Arc<RwLock<Option<ProviderMetadataWithLogout>>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.settings.fmt(f)
    }
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Oidc, String> {
        IssuerUrl::new(settings.issuer_url.clone()).map_err(|e| format!("oidc_issuer_url: {e}"))?;
        RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| format!("the OIDC redirect URL: {e}"))?;
        let http = reqwest::Client::builder()
            // Following redirects would open the client to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("an HTTP client for OIDC: {e}"))?;
        Ok(Oidc {
            settings: Arc::new(settings),
            http,
            metadata: Arc::new(RwLock::new(None)),
        })
    }

    /// The provider's metadata, discovered once.
    async fn metadata(&self) -> Result<ProviderMetadataWithLogout, Failure> {
        if let Some(m) = self.metadata.read().await.as_ref() {
            return Ok(m.clone());
        }
        let issuer =
            IssuerUrl::new(self.settings.issuer_url.clone()).map_err(|_| Failure::Provider)?;
        let m = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "OIDC discovery failed");
                Failure::Provider
            })?;
        *self.metadata.write().await = Some(m.clone());
        Ok(m)
    }

    /// The provider's keys fetched again (a token signed with a key we do
    /// not know: the provider has rotated its keys).
    async fn refetch_keys(&self) -> Result<ProviderMetadataWithLogout, Failure> {
        let m = self.metadata().await?;
        let jwks: JsonWebKeySet<CoreJsonWebKey> =
            JsonWebKeySet::fetch_async(m.jwks_uri(), &self.http)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "OIDC key set fetch failed");
                    Failure::Provider
                })?;
        let m = m.set_jwks(jwks);
        *self.metadata.write().await = Some(m.clone());
        Ok(m)
    }

    fn client(
        &self,
        m: ProviderMetadataWithLogout,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        Failure,
    > {
        let redirect =
            RedirectUrl::new(self.settings.redirect_url.clone()).map_err(|_| Failure::Provider)?;
        Ok(CoreClient::from_provider_metadata(
            m,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Begins a sign-in: a fresh state, nonce and PKCE pair, and the
    /// provider's authorization URL carrying them.
    pub async fn start(&self) -> Result<Start, Failure> {
        let client = self.client(self.metadata().await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &self.settings.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Ok(Start {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: exchanges the code (with the PKCE verifier) and
    /// verifies the id_token (signature, issuer, audience, expiry, nonce).
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, Failure> {
        let client = self.client(self.metadata().await?)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| Failure::Provider)?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                // The error's text names no token (the code is not in it).
                tracing::info!(error = %e, "OIDC code exchange refused");
                Failure::Exchange
            })?;
        let id_token: CoreIdToken = response.id_token().cloned().ok_or(Failure::NoIdToken)?;
        let nonce = Nonce::new(nonce.to_string());
        let at = now + self.settings.clock_offset;
        let check = |client: &CoreClient<_, _, _, _, _, _>| -> Result<(), ClaimsVerificationError> {
            let verifier = client.id_token_verifier().set_time_fn(move || at);
            id_token.claims(&verifier, &nonce).map(|_| ())
        };
        match check(&client) {
            Ok(()) => {}
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // Key rotation: fetch the keys again, once, and retry.
                let client = self.client(self.refetch_keys().await?)?;
                check(&client).map_err(failure)?;
            }
            Err(e) => return Err(failure(e)),
        }
        let text = id_token.to_string();
        let claims = payload(&text).ok_or(Failure::Token)?;
        Ok(Verified {
            claims,
            id_token: text,
        })
    }

    /// The provider's end-session URL with the session's id_token as hint
    /// and the login page as where to come back, when the provider offers
    /// RP-initiated logout (and its metadata is known).
    pub async fn end_session_url(&self, id_token: &str) -> Option<String> {
        let m = self.metadata().await.ok()?;
        let endpoint = m.additional_metadata().end_session_endpoint.clone()?;
        let hint: CoreIdToken = id_token.parse().ok()?;
        let mut req = LogoutRequest::from(endpoint)
            .set_id_token_hint(&hint)
            .set_client_id(ClientId::new(self.settings.client_id.clone()));
        if let Ok(back) = PostLogoutRedirectUrl::new(self.settings.post_logout_url.clone()) {
            req = req.set_post_logout_redirect_uri(back);
        }
        Some(req.http_get_url().to_string())
    }
}

/// Every claim of a JWT whose signature has been verified (the payload
/// segment, base64url JSON), custom ones included.
fn payload(jwt: &str) -> Option<Value> {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The audit's reason for a token the checks refused.
fn failure(e: ClaimsVerificationError) -> Failure {
    match e {
        ClaimsVerificationError::Expired(_) => Failure::Expired,
        ClaimsVerificationError::InvalidAudience(_) => Failure::Audience,
        ClaimsVerificationError::InvalidIssuer(_) => Failure::Issuer,
        ClaimsVerificationError::InvalidNonce(_) => Failure::Nonce,
        ClaimsVerificationError::SignatureVerification(_) => Failure::Signature,
        _ => Failure::Token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_read_from_the_middle_segment() {
        use base64::Engine as _;
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"a","hsa_id":"SE1"}"#);
        let v = payload(&format!("h.{p}.s")).unwrap();
        assert_eq!(v["hsa_id"], "SE1");
        assert!(payload("no-dots").is_none());
    }

    #[test]
    fn settings_never_print_the_secret() {
        let s = OidcSettings {
            issuer_url: "https://idp.example".into(),
            client_id: "paminn".into(),
            client_secret: "very-secret".into(),
            redirect_url: "https://paminn.example/login/oidc/callback".into(),
            post_logout_url: "https://paminn.example/login".into(),
            scopes: vec![],
            display_name: "Kommunens inloggning".into(),
            clock_offset: chrono::Duration::zero(),
        };
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
