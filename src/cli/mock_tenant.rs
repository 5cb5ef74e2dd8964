//! `mock-tenant`'s arguments: the mock reads none of them itself (`config::mock_tenant`
//! turns them into its settings), so the emulator stays independent of the command line.

use std::path::PathBuf;

use clap::Args;

use crate::mock::{Scenario, MOCK_TENANT_ID};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Corpus file to write (JSON Lines, one activity per line with a `_mailbox` field)
    #[arg(long)]
    pub out: PathBuf,
    /// Write what the scenario planted (mailbox, attacker IPs, activity Ids) as JSON
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Also write the tenant as today's Unified Audit Log would hold it, as a Purview audit
    /// search export (CSV) that `triage` reads; the bec scenarios add an inbox rule and a
    /// forwarding change
    #[arg(long, value_name = "CSV")]
    pub audit_log: Option<PathBuf>,
    /// Number of mailboxes
    #[arg(long, default_value_t = 5)]
    pub users: usize,
    /// Ordinary activities per mailbox (the scenario adds its own)
    #[arg(long, default_value_t = 2000)]
    pub per_user: usize,
    /// Days of history (the service kept six months)
    #[arg(long, default_value_t = 180)]
    pub days: u32,
    /// Newest activity time (default 2018-06-01T00:00:00Z)
    #[arg(long)]
    pub end: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "none")]
    pub scenario: Scenario,
    /// Replace existing files
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Corpus to serve (default: a generated tenant with the bec scenario)
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: String,
    /// Also write the base URL to this file (atomically)
    #[arg(long)]
    pub url_file: Option<PathBuf>,
    /// Accepted Bearer tokens: TOKEN, TOKEN=UPN (whose mailbox `me` is), or withdrawn:TOKEN
    /// (answers 403 AppId ... is not allowed). Basic auth on v1.0 takes any user with a token as password
    #[arg(long, value_delimiter = ',', default_value = "mock-token")]
    pub tokens: Vec<String>,
    /// Milliseconds of latency added to every response
    #[arg(long, default_value_t = 0)]
    pub latency: u64,
    /// Share of requests answered 503 (some with Retry-After)
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Share of requests whose connection is dropped without an answer
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Share of pages whose body is cut off mid-way
    #[arg(long, default_value_t = 0.0)]
    pub truncate_rate: f64,
    /// Request budget per mailbox and token, e.g. 10000/600 (answers 429 beyond it)
    #[arg(long, value_name = "LIMIT/SECONDS")]
    pub throttle: Option<String>,
    /// Server-driven paging: at most N records a page, with an @odata.nextLink to the rest
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub page_cap: Option<u64>,
    /// Concurrent requests allowed per mailbox (the 5th of 4 gets 429); 0 for no limit
    #[arg(long, default_value_t = 4)]
    pub max_concurrent: usize,
    /// Tokens expire this many seconds after their first use
    #[arg(long)]
    pub token_ttl: Option<u64>,
    /// New activities appended to the mailbox on each request (a live mailbox)
    #[arg(long, default_value_t = 0)]
    pub insert_per_request: usize,
    /// Oldest activities purged on each request (retention)
    #[arg(long, default_value_t = 0)]
    pub age_per_request: usize,
    /// Seed of every random fault
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Tenant id of the identity platform and the Management Activity API
    #[arg(long, default_value = MOCK_TENANT_ID)]
    pub tenant_id: String,
    /// Application that may sign in (client credentials, device code)
    #[arg(long, default_value = "mock-client-id")]
    pub client_id: String,
    /// Its client secret
    #[arg(long, default_value = "mock-client-secret")]
    pub client_secret: String,
    /// Public key (PEM) of its certificate: client assertions must be signed by it (without
    /// it, an assertion's claims are checked but not its signature)
    #[arg(long, value_name = "PEM")]
    pub client_public_key: Option<PathBuf>,
    /// Polls of a new audit log query before it has succeeded
    #[arg(long, default_value_t = 2)]
    pub query_polls: u32,
    /// Records one audit log query may return (over it, the query is flagged and cut)
    #[arg(long, default_value_t = 50_000)]
    pub record_limit: usize,
    /// Audit log records per page
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_page_size: u64,
    /// Blobs per page of a Management Activity API content listing
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pub feed_page_size: u64,
    /// Every n-th request to the audit log APIs is answered 429 (Retry-After: 1)
    #[arg(long, value_name = "N")]
    pub audit_throttle_every: Option<u64>,
    /// The Management Activity API's present, for its 7 days (default: an hour after the
    /// newest record)
    #[arg(long, value_name = "TIME")]
    pub feed_now: Option<String>,
}
