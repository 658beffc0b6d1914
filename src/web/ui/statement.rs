//! The accessibility statement (tillgänglighetsredogörelse), in the form
//! DIGG's model prescribes for Swedish public-sector digital services
//! (lagen (2018:1937) om tillgänglighet till digital offentlig service):
//! who stands behind the service, how accessible it is, what is not, how
//! to report a problem, who supervises, how it was tested and when. Public:
//! people must be able to read it before they can sign in. Linked from the
//! footer of every page; served in the language cookie's language (Swedish
//! without one).

use super::{check_texts, render, t, ta};
use crate::domain::Language;
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum_extra::extract::CookieJar;

/// When the service was last assessed and the statement last reviewed.
/// Update both with the statement's text when either changes.
pub const ASSESSED_ON: &str = "2026-12-06";

pub fn router() -> Router<AppState> {
    Router::new().route("/accessibility", get(page))
}

#[derive(Template)]
#[template(path = "ui/statement.html")]
struct StatementPage {
    lang: Language,
    organisation: String,
    contact: String,
    known: Vec<String>,
}

impl StatementPage {
    fn t(&self, key: &str) -> String {
        t(self.lang, key)
    }
    fn ta(&self, key: &str, name: &'static str, value: &str) -> String {
        ta(self.lang, key, &[(name, value.to_string())])
    }
    fn lang_code(&self) -> &'static str {
        self.lang.as_str()
    }
    fn other_lang(&self) -> &'static str {
        match self.lang {
            Language::Sv => "en",
            Language::En => "sv",
        }
    }
    fn check_texts(&self) -> Vec<(&'static str, String)> {
        check_texts(self.lang)
    }
    fn assessed_on(&self) -> &'static str {
        ASSESSED_ON
    }
}

async fn page(State(s): State<AppState>, jar: CookieJar) -> Response {
    let lang = super::lang_from(&jar).unwrap_or(Language::Sv);
    let organisation =
        s.ui.organisation_name
            .clone()
            .unwrap_or_else(|| t(lang, "ui-a11y-organisation-unnamed"));
    let contact =
        s.ui.accessibility_contact
            .clone()
            .unwrap_or_else(|| t(lang, "ui-a11y-contact-unset"));
    let known = (1..=KNOWN_PROBLEMS)
        .map(|i| t(lang, &format!("ui-a11y-known-{i}")))
        .collect();
    render(&StatementPage {
        lang,
        organisation,
        contact,
        known,
    })
}

/// How many known problems `locales/*/ui.ftl` lists (`ui-a11y-known-N`).
const KNOWN_PROBLEMS: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_problem_is_worded_in_both_languages() {
        for lang in [Language::Sv, Language::En] {
            for i in 1..=KNOWN_PROBLEMS {
                let text = t(lang, &format!("ui-a11y-known-{i}"));
                assert!(!text.starts_with("Unknown localization"), "{lang} {i}");
            }
        }
    }
}
