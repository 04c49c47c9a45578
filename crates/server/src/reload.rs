//! Reloading settings, model and rules without a restart; loading rules with their counters.

use std::sync::Arc;

use warden_rules::counters::CounterStore;

use crate::{AppState, ServerError, Settings, auth};

impl AppState {
    /// Re-reads the configuration file and the environment, and the model file when one was
    /// given on the command line; applies what can change without a restart, atomically.
    /// Returns what changed, and what needs a restart.
    pub fn reload(&self) -> Result<Vec<String>, ServerError> {
        let mut next = Settings::read(self.0.sources.config.as_deref(), std::env::vars())?;
        if let Some(apply) = &self.0.sources.overrides {
            apply(&mut next);
        }
        next.check()?;
        let now = self.settings();
        let mut notes = Vec::new();
        if next.server != now.server || next.limits != now.limits {
            notes.push("[server] and [limits] take effect at the next restart".to_owned());
        }
        if next.webhooks != now.webhooks {
            notes.push("[webhooks] takes effect at the next restart".to_owned());
        }
        if next.audit.key_file != now.audit.key_file {
            notes.push("[audit] key_file takes effect at the next restart".to_owned());
        }
        let known: Vec<&str> = self.0.plugins.iter().flat_map(|p| p.sections().iter().copied()).collect();
        next.check_sections(&known)?;
        let tokens = auth::tokens(&next)?;
        // Each plug-in checks its part (its model file, thresholds, settings) before anything
        // is put in force.
        let mut commits = Vec::new();
        for p in &self.0.plugins {
            let (said, commit) = p.prepare_reload(self, &next)?;
            notes.extend(said);
            commits.push(commit);
        }
        let geo = crate::open_geo(&next.geoip)?;
        if next.geoip != now.geoip {
            notes.push(format!("[geoip]: {}", geo.describe()));
        }
        // Rules are checked before anything is swapped: a set that fails leaves all as it was.
        let rules = self.all_rules(&next.rules).inspect_err(|_| self.rule_load_failed())?;
        self.0.metrics.rules_last_load_ok.set(1);
        for r in rules.0.iter().filter_map(|(_, r)| r.as_ref()) {
            notes.push(format!("{} rules loaded from {} files", r.rules().len(), r.files().len()));
        }
        for (kind, r) in &rules.1 {
            if let Some(r) = r {
                notes.push(format!(
                    "{}: {} rules loaded from {} files",
                    kind.name(),
                    r.rules().len(),
                    r.files().len()
                ));
            }
        }
        self.swap_rules(rules);
        for commit in commits {
            commit()?;
        }
        *self.0.geo.write().expect("not poisoned") = Arc::new(geo);
        *self.0.tokens.write().expect("not poisoned") = Arc::new(tokens);
        let r = &next.review;
        self.0.desk.set_limits(r.max_items, r.max_subject_bytes, r.max_reason_bytes);
        *self.0.settings.write().expect("not poisoned") = Arc::new(next);
        notes.push("configuration reloaded".to_owned());
        Ok(notes)
    }
}

impl AppState {
    pub(crate) fn rule_load_failed(&self) {
        self.0.metrics.rule_reload_failures.inc();
        self.0.metrics.rules_last_load_ok.set(0);
    }

    /// Loads the configured rule files again (the watcher's reload: nothing else changes).
    /// A set that fails to check is refused, counted, and the running one stays.
    pub fn reload_rules(&self) -> Result<usize, ServerError> {
        let rules = self.all_rules(&self.settings().rules).inspect_err(|_| self.rule_load_failed())?;
        self.0.metrics.rules_last_load_ok.set(1);
        let n = rules.0.iter().filter_map(|(_, r)| r.as_ref()).map(|r| r.rules().len()).sum::<usize>()
            + rules.1.iter().filter_map(|(_, r)| r.as_ref()).map(|r| r.rules().len()).sum::<usize>();
        self.swap_rules(rules);
        Ok(n)
    }

    /// Reads and checks every rule set `config` names — each plug-in's and each served kind's
    /// — before any is put in force: one that fails refuses them all.
    pub(crate) fn all_rules(&self, config: &crate::settings::RulesConfig) -> Result<AllRules, ServerError> {
        let mut plugins = Vec::new();
        for p in &self.0.plugins {
            let files = p.rule_files(config);
            plugins.push((
                Arc::clone(p),
                load_rules_of(&files, p.catalogue(), None, Some(&self.0.desk), &*self.0.counters)?,
            ));
        }
        let kinds = self.0.kinds.read().expect("not poisoned").all().to_vec();
        if let Some(name) = config.kinds.keys().find(|n| !kinds.iter().any(|k| k.name() == n.as_str())) {
            return Err(ServerError::KindRules(format!(
                "[rules.kinds] names {name:?}, which is not served here (served: {})",
                kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
            )));
        }
        let mut each = Vec::new();
        for kind in kinds {
            let files = config.kinds.get(kind.name()).cloned().unwrap_or_default();
            let rules = self.kind_rules(&*kind, &files)?;
            each.push((kind, rules));
        }
        Ok((plugins, each))
    }

    /// Refuses a configuration whose `[rules.kinds]` names a kind that is not served (at
    /// start, once the binary's kinds are registered).
    pub fn check_rule_kinds(&self) -> Result<(), ServerError> {
        let served = self.kind_names();
        match self.settings().rules.kinds.keys().find(|n| !served.contains(&n.as_str())) {
            None => Ok(()),
            Some(name) => Err(ServerError::KindRules(format!(
                "[rules.kinds] names {name:?}, which is not served here (served: {})",
                served.join(", ")
            ))),
        }
    }

    /// A JSON kind's rules from `files`, checked against its catalogue, with their counters.
    pub(crate) fn kind_rules(
        &self,
        kind: &dyn crate::kinds::Served,
        files: &[std::path::PathBuf],
    ) -> Result<Option<Arc<warden_rules::RuleSet>>, ServerError> {
        if files.is_empty() {
            return Ok(None);
        }
        let Some(catalogue) = kind.catalogue() else {
            return Err(ServerError::KindRules(format!(
                "[rules.kinds]: the {} kind reads no rules",
                kind.name()
            )));
        };
        load_rules_of(files, catalogue, Some(kind.name()), Some(&self.0.desk), &*self.0.counters)
    }

    /// Puts the rules in force, then lets the counter store forget the counters none of them
    /// declares (a set replaced may still be finishing a decision: its counters stay whole
    /// until it lets them go).
    fn swap_rules(&self, (plugins, kinds): AllRules) {
        let mut keep = Vec::new();
        for (plugin, rules) in plugins {
            keep.extend(rules.as_ref().map(|r| r.counter_keys()).unwrap_or_default());
            plugin.set_rules(rules);
        }
        for (kind, rules) in kinds {
            keep.extend(rules.as_ref().map(|r| r.counter_keys()).unwrap_or_default());
            kind.set_rules(rules);
        }
        // A kind registered since the sets were read keeps its own.
        for kind in self.0.kinds.read().expect("not poisoned").all() {
            keep.extend(kind.rules().map(|r| r.counter_keys()).unwrap_or_default());
        }
        self.0.counters.retain(&keep);
    }

    /// The files the rules in force were read from (every plug-in's and kind's), or the
    /// configured ones when none are in force: what the watcher looks at.
    pub fn rule_files(&self) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for p in &self.0.plugins {
            match p.rules() {
                Some(r) => files.extend(r.files().iter().cloned()),
                None => files.extend(p.rule_files(&self.settings().rules)),
            }
        }
        for kind in self.0.kinds.read().expect("not poisoned").all() {
            match kind.rules() {
                Some(r) => files.extend(r.files().iter().cloned()),
                None => {
                    files.extend(self.settings().rules.kinds.get(kind.name()).cloned().unwrap_or_default())
                }
            }
        }
        files
    }

    /// Watches the rule and list files, reloading the rules when one changes (every
    /// `[rules] watch_secs`; never when 0 or no rule files are configured).
    pub async fn watch_rules(self) {
        let mut last = None;
        loop {
            let secs = self.settings().rules.watch_secs;
            if secs == 0 || self.rule_files().is_empty() {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            }
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            let stamp: Vec<Option<std::time::SystemTime>> = self
                .rule_files()
                .iter()
                .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
                .collect();
            if last.as_ref().is_some_and(|l| *l != stamp) {
                match self.reload_rules() {
                    Ok(n) => tracing::info!(rules = n, "rule files changed: rules reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "rule files changed but do not check: the running rules stay")
                    }
                }
            }
            last = Some(stamp);
        }
    }
}

/// Each plug-in's rules and each JSON kind's, read and checked.
pub(crate) type AllRules = (
    Vec<(Arc<dyn crate::Plugin>, Option<Arc<warden_rules::RuleSet>>)>,
    Vec<(Arc<dyn crate::kinds::Served>, Option<Arc<warden_rules::RuleSet>>)>,
);

/// Reads and checks rule files against `catalogue`; `None` when there are none. Every error
/// is in the message, one per line, as `file:line:column: what (expected …)`. The counters
/// keep their state in `counters`, which outlives a rule set: a counter the rules in force
/// declare the same way goes on with its windows. With a desk, the counters hash under its
/// key, and those the store does not hold yet (at start, or new in these rules) are rebuilt
/// from the updates it keeps within their windows, so that neither a restart nor a reload loses
/// a count. `prefix` names the counters as they are kept (see
/// [`crate::effects::journaled_name`]): `None` for a plug-in's, the kind's name for a JSON
/// kind's.
pub fn load_rules_of(
    files: &[std::path::PathBuf],
    catalogue: &'static warden_rules::Catalogue,
    prefix: Option<&str>,
    desk: Option<&warden_desk::Desk>,
    counters: &dyn CounterStore,
) -> Result<Option<Arc<warden_rules::RuleSet>>, ServerError> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut rules = warden_rules::RuleSet::load(files, catalogue).map_err(ServerError::Rules)?;
    if let Some(desk) = desk {
        rules.set_key_seed(desk.counter_seed());
    }
    let fresh = rules.attach_counters(counters);
    if let Some(desk) = desk
        && !fresh.is_empty()
    {
        let window = rules.longest_window();
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        desk.counts_since(now.saturating_sub(window), |c| {
            if let Some(name) = crate::effects::counter_of(prefix, &c.counter)
                && fresh.iter().any(|f| f == name)
            {
                rules.restore(name, c.entity, c.value, c.at);
            }
        })
        .map_err(ServerError::desk("counter journal"))?;
    }
    Ok(Some(Arc::new(rules)))
}
