//! The sign-up kind's settings: the `[signup]` section of the configuration file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[signup]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignupSettings {
    /// The service's own mail domains: an address there is of class `own`.
    pub own_domains: Vec<String>,
    /// How long the memory of recent sign-ups keeps an attribute (a network, a device, …) not
    /// seen again, days (1 to 90). Velocities look back at most 7 days; device reuse and the
    /// time since the last sign-up sharing an attribute look back this far.
    pub memory_days: u64,
    /// A sign-up model file (`warden signup train`) to start from instead of the starter model
    /// built into the binary. A server's own checkpoint, when there is one, comes first.
    pub model: Option<PathBuf>,
    /// Files of the operator's network lists (hosting, VPN, Tor, …; the format is in
    /// `crates/signup/src/networks.rs`); none by default.
    pub network_lists: Vec<PathBuf>,
}

impl Default for SignupSettings {
    fn default() -> Self {
        SignupSettings { own_domains: Vec::new(), memory_days: 14, model: None, network_lists: Vec::new() }
    }
}

/// The section's name.
pub const SECTION: &str = "signup";

impl SignupSettings {
    /// The section as read from `settings`, checked.
    pub fn of(
        settings: &warden_server::Settings,
    ) -> Result<SignupSettings, warden_server::settings::SettingsError> {
        let s: SignupSettings = settings.section(SECTION)?;
        if !(1..=90).contains(&s.memory_days) {
            return Err(warden_server::settings::SettingsError::Invalid(format!(
                "[signup] memory_days is {}: it is 1 to 90",
                s.memory_days
            )));
        }
        for d in &s.own_domains {
            if d.is_empty()
                || d.len() > 253
                || d.bytes().any(|b| b.is_ascii_whitespace() || b == b'@' || b.is_ascii_control())
            {
                return Err(warden_server::settings::SettingsError::Invalid(format!(
                    "[signup] own_domains holds {d:?}, which is not a domain"
                )));
            }
        }
        Ok(s)
    }

    /// The kind these settings make: an error when `model` cannot be read or is not a sign-up
    /// model.
    pub fn kind(&self) -> Result<crate::kind::Signups, warden_server::settings::SettingsError> {
        let own = self.own_domains.iter().map(|d| d.trim_end_matches('.').to_ascii_lowercase()).collect();
        let lists = crate::networks::NetworkLists::read(&self.network_lists).map_err(|e| {
            warden_server::settings::SettingsError::Invalid(format!("[signup] network_lists: {e}"))
        })?;
        let mut kind = crate::kind::Signups::with_memory(own, self.memory_days * 86_400).with_lists(lists);
        if let Some(path) = &self.model {
            let bad = |e: String| {
                warden_server::settings::SettingsError::Invalid(format!(
                    "[signup] model {}: {e}",
                    path.display()
                ))
            };
            let model = warden_learn::Model::load(path).map_err(|e| bad(e.to_string()))?;
            warden_engine::check_kind::<crate::SignupKind>(&model).map_err(|e| bad(e.to_string()))?;
            kind.start_with(model);
            // Its cluster model beside it (`warden signup train` writes both), when there.
            let beside = warden_server::kinds::own_model_path(path, "clusters");
            if beside.exists() {
                let clusters = warden_learn::Model::load(&beside).map_err(|e| bad(e.to_string()))?;
                kind.start_clusters_with(clusters);
            }
        }
        Ok(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::SignupSettings;

    fn read(toml: &str) -> Result<SignupSettings, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warden.toml");
        std::fs::write(&path, toml).unwrap();
        let s = warden_server::Settings::read(Some(&path), std::iter::empty()).map_err(|e| e.to_string())?;
        SignupSettings::of(&s).map_err(|e| e.to_string())
    }

    /// The `[signup]` block docs/serving.md shows is the defaults.
    #[test]
    fn the_documented_section_is_the_defaults() {
        let doc = include_str!("../../../docs/serving.md");
        let block =
            doc.split("```toml\n[signup]\n").nth(1).and_then(|b| b.split("```").next()).expect("documented");
        assert_eq!(read(&format!("[signup]\n{block}")).unwrap(), SignupSettings::default());
    }

    #[test]
    fn the_section_is_read_checked_and_defaults_when_absent() {
        assert_eq!(read("").unwrap(), SignupSettings::default());
        let s = read("[signup]\nown_domains = [\"Mail.Example.\"]\nmemory_days = 30\n").unwrap();
        assert_eq!(s.memory_days, 30);
        assert_eq!(s.kind().unwrap().own, ["mail.example"]);
        let e =
            read("[signup]\nmodel = \"/nonexistent/signup.wdm\"\n").unwrap().kind().unwrap_err().to_string();
        assert!(e.contains("[signup] model") && e.contains("/nonexistent/signup.wdm"), "{e}");
        let e = read("[signup]\nmemory_days = 0\n").unwrap_err();
        assert!(e.contains("memory_days") && e.contains("1 to 90"), "{e}");
        let e = read("[signup]\nown_domains = [\"a b\"]\n").unwrap_err();
        assert!(e.contains("not a domain"), "{e}");
        let e = read("[signup]\nnetwork_lists = [\"/nonexistent/hosting.txt\"]\n")
            .unwrap()
            .kind()
            .unwrap_err()
            .to_string();
        assert!(e.contains("[signup] network_lists") && e.contains("/nonexistent/hosting.txt"), "{e}");
        let e = read("[signup]\nown_domain = []\n").unwrap_err();
        assert!(e.contains("own_domain"), "unknown keys are named: {e}");
    }
}
