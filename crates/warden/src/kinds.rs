//! The kinds of event this binary serves on the generic routes and commands, besides mail
//! (whose routes and commands are its own): the one list a new kind is added to.

use std::sync::Arc;

use warden_server::kinds::Served;

/// Every kind, each a fresh pipeline with its starter model.
pub fn all() -> Vec<Arc<dyn Served>> {
    Vec::new()
}
