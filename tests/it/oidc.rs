//! Sign-in through the organisation's identity provider, end to end
//! against a real OpenID Connect provider (`oidc-provider` from npm,
//! `tests/oidc-provider/launch.mjs`) on 127.0.0.1: a lots signs in and
//! lands on Today with a session; unknown people are refused, or
//! provisioned when their group maps to a role and unit; a replayed state,
//! a token for another audience and an expired token are refused; a
//! switched-off account is refused; logout ends the session and sends the
//! browser to the provider's end-session endpoint; with password login
//! off, the form is gone and POST /login is refused. Every refusal is in
//! the audit log with its reason.
//!
//! Without the provider's node_modules the tests say so and skip, unless
//! PAMINN_REQUIRE_OIDC_PROVIDER is set (CI sets it): then they fail.

use crate::common::oidc_provider::{self, CLIENT_SECRET, Provider};
use crate::common::server::Server;
use crate::common::ui::{Browser, PASSWORD};
use crate::common::{TestDb, fx::actor};
use chrono::Utc;
use paminn::domain::access::Password;
use paminn::domain::sign_in::{MatchClaim, ProvisionRule};
use paminn::domain::{Language, Role};
use paminn::engine::Engine;
use paminn::engine::sign_in::SignInPolicy;
use paminn::oidc::{Oidc, OidcSettings};
use paminn::store::staff::{NewStaff, Staff};
use paminn::store::units;
use paminn::web::ui::{SignInConfig, UiConfig};
use paminn::web::{self, AppState};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

/// A paminn server signing in through a fresh provider.
struct Setup {
    engine: Engine,
    base: String,
    op: Provider,
    _server: Server,
}

#[derive(Clone)]
struct Options {
    provisioning: bool,
    password_login: bool,
    /// paminn's clock for the id_token's expiry, ahead of the real one.
    clock_ahead: chrono::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            provisioning: false,
            password_login: true,
            clock_ahead: chrono::Duration::zero(),
        }
    }
}

async fn setup(t: &TestDb, o: Options) -> Option<Setup> {
    let engine = Engine::new(t.db.clone());
    {
        let mut c = engine.db.conn().await.unwrap();
        units::create(&mut c, "Enhet A", Utc::now()).await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let op = oidc_provider::start(
        &format!("{base}/login/oidc/callback"),
        &format!("{base}/login"),
    )
    .await?;
    let oidc = Oidc::new(OidcSettings {
        issuer_url: op.issuer.clone(),
        client_id: "paminn".into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_url: format!("{base}/login/oidc/callback"),
        post_logout_url: format!("{base}/login"),
        scopes: vec!["email".into(), "profile".into()],
        display_name: "Testkommunens inloggning".into(),
        clock_offset: o.clock_ahead,
    })
    .unwrap();
    let ui = UiConfig {
        password_login_disabled: !o.password_login,
        sign_in: Some(SignInConfig {
            oidc,
            policy: SignInPolicy {
                match_claim: MatchClaim::parse("email").unwrap(),
                provisioning: o.provisioning,
                groups_claim: "groups".into(),
                rules: vec![ProvisionRule {
                    group: "paminn-lotsar".into(),
                    role: Role::Lots,
                    unit: "Enhet A".into(),
                }],
            },
            no_account_contact: Some("IT-servicedesk, tel 010-123 45 67".into()),
        }),
        ..Default::default()
    };
    let stop = CancellationToken::new();
    tokio::spawn(web::serve(
        listener,
        AppState {
            ui,
            ..crate::common::server::state(&engine)
        },
        stop.clone(),
    ));
    Some(Setup {
        engine,
        base: base.clone(),
        op,
        _server: Server { base, stop },
    })
}

impl Setup {
    /// A staff member in "Enhet A" with a password, known at the provider
    /// as `<username>@kommun.example` (when `external`).
    async fn staff(&self, username: &str, role: Role, external: bool) -> Staff {
        let now = Utc::now();
        let mut c = self.engine.db.conn().await.unwrap();
        let unit = units::resolve(&mut c, "Enhet A").await.unwrap();
        let s = self
            .engine
            .add_staff(
                &NewStaff {
                    unit: Some(unit.id),
                    name: format!("{username} Testsson"),
                    username: username.into(),
                    role,
                    language: Language::Sv,
                },
                &actor(),
                now,
            )
            .await
            .unwrap();
        self.engine
            .set_password(
                s.id,
                &Password::parse(PASSWORD).unwrap(),
                None,
                &actor(),
                now,
            )
            .await
            .unwrap();
        if external {
            self.engine
                .set_staff_external_id(
                    s.id,
                    &format!("{username}@kommun.example"),
                    &MatchClaim::parse("email").unwrap(),
                    &actor(),
                    now,
                )
                .await
                .unwrap()
        } else {
            s
        }
    }

    fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Clicks "Logga in med ..." on the login page and signs in at the
    /// provider as `account`: the callback URL the provider sends back.
    async fn to_callback(&self, http: &reqwest::Client, account: &str, groups: &str) -> String {
        let login = http
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            login.contains("Logga in med Testkommunens inloggning"),
            "{login}"
        );
        let res = http
            .get(format!("{}/login/oidc?next=%2Ftoday", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let authorize = location(&res);
        for must in [
            "code_challenge=",
            "code_challenge_method=S256",
            "nonce=",
            "state=",
        ] {
            assert!(authorize.contains(must), "{must} in {authorize}");
        }
        let back = self.op.sign_in(http, &authorize, account, groups).await;
        assert!(
            back.starts_with(&format!("{}/login/oidc/callback?", self.base)),
            "{back}"
        );
        back
    }

    /// The audit rows with this action: (actor, target, detail).
    async fn audit(&self, action: &str) -> Vec<(String, String, String)> {
        let mut c = self.engine.db.conn().await.unwrap();
        sqlx::query_as("SELECT actor, target, detail FROM audit WHERE action = $1 ORDER BY id")
            .bind(action)
            .fetch_all(&mut *c)
            .await
            .unwrap()
    }

    /// The reasons of the refused sign-ins, in order.
    async fn refusals(&self) -> Vec<String> {
        self.audit("login.oidc.failed")
            .await
            .into_iter()
            .map(|(_, _, d)| {
                serde_json::from_str::<serde_json::Value>(&d).unwrap()["reason"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    async fn get(&self, http: &reqwest::Client, url: &str) -> (StatusCode, String, String) {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_string()
        };
        let res = http.get(url).send().await.unwrap();
        let (status, loc) = (res.status(), location(&res));
        (status, loc, res.text().await.unwrap())
    }
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

both_backends!(
    async fn a_lots_signs_in_lands_on_today_and_a_replayed_state_is_refused(t) {
        let Some(s) = setup(&t, Options::default()).await else { return };
        let anna = s.staff("anna", Role::Lots, true).await;
        let http = s.browser();
        let back = s.to_callback(&http, "anna", "").await;
        let (status, to, _) = s.get(&http, &back).await;
        assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/today"));
        let (status, _, today) = s.get(&http, "/today").await;
        assert_eq!(status, StatusCode::OK);
        assert!(today.contains("anna Testsson"), "Anna is signed in on Today");
        let logins = s.audit("login").await;
        assert_eq!(logins.len(), 1);
        assert_eq!(logins[0].1, format!("staff:{}", anna.id));
        assert!(logins[0].2.contains("oidc"), "{}", logins[0].2);

        // The same callback again (a replayed state) signs nobody in.
        let other = s.browser();
        let (status, _, page) = s.get(&other, &back).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("redan använts"), "{page}");
        let (status, to, _) = s.get(&other, "/today").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(to.starts_with("/login"), "{to}");
        // Nor in the browser that began it: the state is used up.
        let (status, _, _) = s.get(&http, &back).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(s.refusals().await, ["state", "state"]);
        assert!(
            !s.audit("login.oidc.failed").await.iter().any(|(_, _, d)| d.contains("code")),
            "no code or token in the audit log"
        );

        // Logout ends the session here and at the provider.
        let (_, _, account) = s.get(&http, "/account").await;
        let csrf = crate::common::ui::csrf_in(&account).unwrap();
        let res = http
            .post(format!("{}/logout", s.base))
            .form(&[("_csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        // A page that moves on to the provider (a redirect of the POST
        // would be stopped by the CSP's form-action in a browser).
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        let end = page
            .split("id=\"provider-logout\" href=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a link to the provider's logout")
            .replace("&amp;", "&")
            .replace("&#x3d;", "=")
            .replace("&#61;", "=");
        assert!(page.contains("http-equiv=\"refresh\""), "{page}");
        assert!(end.starts_with(&format!("{}/session/end?", s.op.issuer)), "{end}");
        assert!(end.contains("id_token_hint="), "{end}");
        assert!(end.contains("post_logout_redirect_uri="), "{end}");
        let (status, to, _) = s.get(&http, "/today").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(to.starts_with("/login"), "{to}");
        // The provider takes the hint (its confirmation page).
        let (status, _, _) = s.get(&http, &end).await;
        assert_eq!(status, StatusCode::OK);
    }
);

both_backends!(
    async fn an_unknown_person_or_a_switched_off_account_gets_no_session(t) {
        let Some(s) = setup(&t, Options::default()).await else { return };
        let http = s.browser();
        // Nobody has bertil's identity, and provisioning is off.
        let back = s.to_callback(&http, "bertil", "paminn-lotsar").await;
        let (status, _, page) = s.get(&http, &back).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(page.contains("inget konto i paminn"), "{page}");
        assert!(page.contains("IT-servicedesk"), "whom to ask: {page}");
        let (status, _, _) = s.get(&http, "/today").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let mut c = s.engine.db.conn().await.unwrap();
        assert_eq!(paminn::store::staff::list(&mut c).await.unwrap().len(), 0);
        drop(c);

        // A switched-off account is refused.
        let cecilia = s.staff("cecilia", Role::Lots, true).await;
        s.engine
            .set_staff_active(cecilia.id, false, &actor(), Utc::now())
            .await
            .unwrap();
        let http = s.browser();
        let back = s.to_callback(&http, "cecilia", "").await;
        let (status, _, page) = s.get(&http, &back).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(page.contains("avstängt"), "{page}");
        assert_eq!(s.refusals().await, ["no_account", "inactive"]);
        assert!(s.audit("login").await.is_empty());
    }
);

both_backends!(
    async fn provisioning_makes_an_account_when_the_group_maps(t) {
        let o = Options { provisioning: true, ..Default::default() };
        let Some(s) = setup(&t, o).await else { return };
        // No mapped group: no account.
        let http = s.browser();
        let back = s.to_callback(&http, "david", "ekonomi").await;
        let (status, _, _) = s.get(&http, &back).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // The lotsar's group: a lots in Enhet A, signed in at once.
        let http = s.browser();
        let back = s.to_callback(&http, "erik", "ekonomi,paminn-lotsar").await;
        let (status, to, _) = s.get(&http, &back).await;
        assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/today"));
        let (status, _, _) = s.get(&http, "/today").await;
        assert_eq!(status, StatusCode::OK);
        let mut c = s.engine.db.conn().await.unwrap();
        let all = paminn::store::staff::list(&mut c).await.unwrap();
        assert_eq!(all.len(), 1);
        let erik = &all[0];
        assert_eq!(erik.role, Role::Lots);
        assert_eq!(erik.username, "erik");
        assert_eq!(erik.name, "Test erik");
        assert_eq!(erik.external_id.as_deref(), Some("erik@kommun.example"));
        let unit = units::resolve(&mut c, "Enhet A").await.unwrap();
        assert_eq!(erik.unit_id, Some(unit.id));
        drop(c);
        let provisioned = s.audit("staff.provision").await;
        assert_eq!(provisioned.len(), 1);
        assert!(provisioned[0].2.contains("paminn-lotsar"), "{}", provisioned[0].2);
        let refused = s.audit("login.oidc.failed").await;
        assert_eq!(refused.len(), 1);
        assert!(refused[0].2.contains("no_matching_group"), "{}", refused[0].2);
        // The next sign-in finds the account; no second one is made.
        let http = s.browser();
        let back = s.to_callback(&http, "erik", "paminn-lotsar").await;
        let (status, _, _) = s.get(&http, &back).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(s.audit("staff.provision").await.len(), 1);
        assert_eq!(s.audit("login").await.len(), 2);
    }
);

both_backends!(
    async fn a_token_for_another_audience_is_refused(t) {
        let Some(s) = setup(&t, Options::default()).await else { return };
        // The account exists, so only the token's audience is wrong.
        s.staff("other-audience", Role::Lots, true).await;
        let http = s.browser();
        let back = s.to_callback(&http, "other-audience", "").await;
        let (status, _, page) = s.get(&http, &back).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(page.contains("kunde inte godtas"), "{page}");
        let (status, _, _) = s.get(&http, "/today").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(s.refusals().await, ["audience"]);
        assert!(s.audit("login").await.is_empty());
    }
);

both_backends!(
    async fn an_expired_token_is_refused(t) {
        // paminn's clock two hours ahead of the provider's: the id_token
        // (one hour) has expired when it is checked.
        let o = Options { clock_ahead: chrono::Duration::hours(2), ..Default::default() };
        let Some(s) = setup(&t, o).await else { return };
        s.staff("frida", Role::Lots, true).await;
        let http = s.browser();
        let back = s.to_callback(&http, "frida", "").await;
        let (status, _, _) = s.get(&http, &back).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = s.get(&http, "/today").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(s.refusals().await, ["expired"]);
    }
);

both_backends!(
    async fn with_password_login_off_only_the_provider_signs_in(t) {
        let o = Options { password_login: false, ..Default::default() };
        let Some(s) = setup(&t, o).await else { return };
        s.staff("gustav", Role::Lots, true).await;
        let mut b = Browser::new(&s.base);
        let (_, page) = b.get("/login").await;
        assert!(!page.contains("name=\"password\""), "no password form: {page}");
        assert!(page.contains("Logga in med Testkommunens inloggning"));
        let res = b
            .post_raw("/login", &[("username", "gustav"), ("password", PASSWORD)])
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.text().await.unwrap().contains("avstängd"));
        assert!(s.audit("login").await.is_empty());
        assert!(s.audit("login.failed").await.is_empty(), "no password was checked");
        // Through the provider it works.
        let http = s.browser();
        let back = s.to_callback(&http, "gustav", "").await;
        let (status, to, _) = s.get(&http, &back).await;
        assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/today"));
    }
);

both_backends!(
    async fn an_admin_gives_a_staff_member_their_identity_on_the_staff_page(t) {
        let Some(s) = setup(&t, Options::default()).await else { return };
        s.staff("admin", Role::Admin, false).await;
        let hanna = s.staff("hanna", Role::Lots, false).await;
        let mut b = Browser::new(&s.base);
        let res = b
            .post_login(&[("username", "admin"), ("password", PASSWORD)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (status, page) = b.get("/staff").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&format!("/staff/{}/external-id", hanna.id)));
        let res = b
            .post(
                &format!("/staff/{}/external-id", hanna.id),
                &[("external_id", " Hanna@Kommun.example ")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        // Another account with the same identity is refused.
        let ida = s.staff("ida", Role::Lots, false).await;
        b.get("/staff").await;
        let res = b
            .post(
                &format!("/staff/{}/external-id", ida.id),
                &[("external_id", "hanna@kommun.example")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert_eq!(s.audit("staff.external_id").await.len(), 1);
        // Hanna signs in through the provider.
        let http = s.browser();
        let back = s.to_callback(&http, "hanna", "").await;
        let (status, to, _) = s.get(&http, &back).await;
        assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/today"));
    }
);

both_backends!(
    async fn a_token_signed_with_a_rotated_key_is_checked_against_the_new_keys(t) {
        let Some(mut s) = setup(&t, Options::default()).await else { return };
        s.staff("jonas", Role::Lots, true).await;
        // paminn learns the provider's keys at the first sign-in.
        let http = s.browser();
        let back = s.to_callback(&http, "jonas", "").await;
        let (status, _, _) = s.get(&http, &back).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        // The provider rotates its key: the next token names a key paminn
        // has not seen, and paminn fetches the key set again.
        s.op = s
            .op
            .restart_with_a_new_key(
                &format!("{}/login/oidc/callback", s.base),
                &format!("{}/login", s.base),
            )
            .await;
        let http = s.browser();
        let back = s.to_callback(&http, "jonas", "").await;
        let (status, to, _) = s.get(&http, &back).await;
        assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/today"));
        assert_eq!(s.audit("login").await.len(), 2);
        assert!(s.refusals().await.is_empty());
    }
);
