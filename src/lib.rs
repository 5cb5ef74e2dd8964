//! o365-activities: retrieve Office 365 mailbox activities (the Outlook Activities API) as
//! evidence, and a mock tenant to rehearse and test against.

pub mod case;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod custody;
pub mod error;
pub mod http;
pub mod json_key;
pub mod mock;
pub mod odata;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod record;
pub mod secret;
pub mod signin;
pub mod source;
pub mod timespec;
pub mod triage;
pub mod wire;
