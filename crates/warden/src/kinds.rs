//! The kinds of event this binary serves: mail, a plug-in of the server
//! (`warden-mail-serve`, with routes and commands of its own), and the kinds on the generic
//! routes and commands: the one place a new kind is added.

use std::sync::Arc;

use warden_server::kinds::Served;

/// Every kind, each a fresh pipeline with its starter model.
pub fn all() -> Vec<Arc<dyn Served>> {
    Vec::new()
}

/// The configuration sections the plug-ins read (mail's).
pub const SECTIONS: &[&str] = warden_mail_serve::settings::SECTIONS;

/// Checks settings as read: the server's sections, that every other section is a plug-in's,
/// and mail's.
pub fn check_settings(s: &warden_server::Settings) -> anyhow::Result<()> {
    s.check()?;
    s.check_sections(SECTIONS)?;
    warden_mail_serve::MailSettings::of(s)?;
    Ok(())
}
