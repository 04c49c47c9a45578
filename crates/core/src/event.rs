use crate::features::FeatureSink;

/// The kinds of event the pipeline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// An RFC 5322 message.
    Mail,
    /// An account sign-up.
    Signup,
    /// A login attempt.
    Login,
    /// A traffic-rate sample.
    Traffic,
}

impl EventKind {
    /// The lower-case name used in files and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Mail => "mail",
            EventKind::Signup => "signup",
            EventKind::Login => "login",
            EventKind::Traffic => "traffic",
        }
    }
}

/// Something the pipeline can decide on: it knows its kind and how to describe itself as
/// features. Extraction must be total: any event that exists yields features, never a panic.
pub trait Event {
    /// The actions a decision on this kind of event can take, mildest first.
    type Action: Copy + Ord + std::fmt::Debug;
    /// Which kind of event this is.
    fn kind(&self) -> EventKind;
    /// Emits the event's features into `sink`.
    fn extract(&self, sink: &mut dyn FeatureSink);
}
