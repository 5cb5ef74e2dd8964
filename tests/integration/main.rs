//! Integration tests: the client against wiremock, the mock tenant over HTTP, and the binary.

mod support;

mod audit_cases;
mod audit_feed;
mod audit_graph;
mod audit_hostile_feed;
mod audit_hostile_graph;
mod audit_hostile_signin;
mod audit_hostile_support;
mod audit_log;
mod audit_planner;
mod audit_signin;
mod audit_support;
mod batch;
mod binary;
mod binary_locking;
mod binary_signals;
mod binary_support;
mod binary_terminal;
mod custody;
mod filter_escaping;
mod golden;
mod hostile;
mod identity_sources;
mod layers;
mod mock_tenant;
mod old_case;
mod output;
mod paging;
mod ranges;
mod refusals;
mod requests;
mod retries;
mod source_flags;
mod triage;
mod triage_heldout;
