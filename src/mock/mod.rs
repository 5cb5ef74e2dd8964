//! The mock tenant: a faithful emulator of the Activities API, and the corpus it serves.
//!
//! Its request handling is written from the reference alone and shares no query-building
//! code with the client.

pub mod audit_log;
mod corpus_file;
pub mod demo_tenant;
pub mod files;
pub mod filter;
pub mod generate;
mod server;
pub mod store;

pub use corpus_file::{corpus_by_mailbox, default_corpus, generate_to_file, write_corpus, Written};
pub use generate::{generate, Corpus, CorpusSpec, Scenario, Truth};
pub use server::{
    start, start_with_audit_log, AppSpec, AuditCounters, AuditRecords, AuditSettings,
    EntraSettings, FaultSettings, RunningServer, ServerSettings, TokenSpec, MOCK_TENANT_ID,
};
