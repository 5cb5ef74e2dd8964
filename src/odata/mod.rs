//! Building OData requests for the Activities API: literals, `$filter`, and the query string.
//!
//! The mock tenant has its own parser (`crate::mock::filter`); nothing here is shared with it, so a
//! misunderstanding of the protocol in one cannot hide in the other.

pub mod known_types;
mod literal;
mod query;

pub use literal::{format_timestamp_literal, string_literal, user_path_segment};
pub use query::{ActivityFilter, Order, PageQuery};
