//! The one list of the sources. Adding a source is its module, its mock, its tests and one
//! line here (docs/ARCHITECTURE.md has the checklist).

use super::SourceDescriptor;

pub static SOURCES: &[&SourceDescriptor] = &[
    &super::activities::ACTIVITIES,
    &super::audit_query::AUDIT_QUERY,
    &super::feed::FEED,
    &super::entra::signins::SIGNINS,
    &super::entra::directory_audits::DIRECTORY_AUDITS,
];

/// The source named `name` (`--source`, a case's manifest).
pub fn find(name: &str) -> Option<&'static SourceDescriptor> {
    SOURCES.iter().copied().find(|source| source.name == name)
}

/// The names, for `--source`'s possible values and messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|source| source.name)
}
