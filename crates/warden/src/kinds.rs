//! The kinds of event this binary serves: mail, a plug-in of the server
//! (`warden-mail-serve`, with routes and commands of its own), and the kinds on the generic
//! routes and commands: the one place a new kind is added.

use std::sync::Arc;

use warden_server::kinds::{Pipeline, Served};
use warden_signup::settings::SignupSettings;

/// Every kind on the generic routes, each a fresh pipeline with its starter model, as
/// `settings` make it.
pub fn all(settings: &warden_server::Settings) -> anyhow::Result<Vec<Arc<dyn Served>>> {
    let signup = SignupSettings::of(settings)?;
    Ok(vec![Arc::new(Pipeline::new(signup.kind()?))])
}

/// The configuration sections the plug-ins and kinds read (mail's, `[signup]`).
pub fn sections() -> Vec<&'static str> {
    let mut all = warden_mail_serve::settings::SECTIONS.to_vec();
    all.push(warden_signup::settings::SECTION);
    all
}

/// Checks settings as read: the server's sections, that every other section is a plug-in's
/// or a kind's, and those.
pub fn check_settings(s: &warden_server::Settings) -> anyhow::Result<()> {
    s.check()?;
    s.check_sections(&sections())?;
    warden_mail_serve::MailSettings::of(s)?;
    SignupSettings::of(s)?;
    Ok(())
}
