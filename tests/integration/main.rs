//! Integration tests: the client against wiremock, the mock tenant over HTTP, and the binary.

mod support;

mod audit_hostile_feed;
mod audit_hostile_graph;
mod audit_log;
mod audit_sources;
mod batch;
mod binary;
mod custody;
mod filter_escaping;
mod golden;
mod hostile;
mod mock_tenant;
mod output;
mod paging;
mod ranges;
mod refusals;
mod reports_at_scale;
mod requests;
mod retries;
mod source_flags;
mod triage;
