//! One module per hunting technique of the blog; `analyze` runs them in order.

pub mod attachments;
pub mod clients;
pub mod hiding;
pub mod logons;
pub mod reads;
pub mod rules;
pub mod searches;
pub mod sessions;
