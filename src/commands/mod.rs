//! One module per subcommand.

pub mod batch;
pub mod demo;
pub mod demo_identity;
pub mod mock_tenant;
pub mod pull;
pub mod triage;
pub mod verify;
