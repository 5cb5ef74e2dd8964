//! One module per subcommand.

pub mod demo;
pub mod mock_tenant;
pub mod pull;
