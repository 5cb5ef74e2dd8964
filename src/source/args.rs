//! The command-line flags the sources read, one `Args` group per `FlagGroup`, each with its
//! help heading. The CLI (`crate::cli`) flattens them into `pull` and `batch`; a flag of a
//! group the chosen source does not read is refused (`refused_flag`), from this declaration
//! alone.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{FlagGroup, PagingMode, SourceDescriptor};

/// Which API to read, and the flags of each.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Which API to read (see "Sources" in --help)
    #[arg(
        long,
        default_value = "activities",
        value_name = "SOURCE",
        help_heading = "Source"
    )]
    pub source: String,

    #[command(flatten)]
    pub activities: ActivitiesArgs,

    #[command(flatten)]
    pub audit: AuditQueryArgs,

    #[command(flatten)]
    pub graph: GraphArgs,

    #[command(flatten)]
    pub sign_in_logs: SignInLogArgs,

    #[command(flatten)]
    pub entra_logs: EntraLogArgs,

    #[command(flatten)]
    pub feed: FeedArgs,

    #[command(flatten)]
    pub sign_in: SignInArgs,

    /// The ids of the flags given on the command line (not from a default or the environment),
    /// filled in by `crate::cli::parse`.
    #[arg(skip)]
    pub given: Vec<String>,
}

/// The Activities API's query and connection.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Activities API (--source activities)")]
pub struct ActivitiesArgs {
    /// Activity types to keep (space- or comma-separated), e.g. ServerLogon SearchResult
    #[arg(long, value_name = "TYPE", num_args = 1.., value_delimiter = ',')]
    pub types: Vec<String>,

    /// Let --types and --app-types name types the reference does not document
    #[arg(long)]
    pub allow_unknown_types: bool,

    /// Application types to keep, e.g. Web IMAP4
    #[arg(long, value_name = "APP", num_args = 1.., value_delimiter = ',')]
    pub app_types: Vec<String>,

    /// Properties to return (Id and TimeStamp are always added: paging needs them)
    #[arg(long, value_name = "PROP,...", value_delimiter = ',')]
    pub select: Vec<String>,

    /// Basic authentication user (--api-version v1.0 only); the password comes from
    /// O365_PASSWORD or a prompt
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,

    /// Service root (default https://outlook.office.com, or https://outlook.office365.com with --username)
    #[arg(long, env = "O365_ACTIVITIES_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,

    #[arg(long, value_enum, default_value = "v2.0")]
    pub api_version: ApiVersion,

    /// Activities per request (the service's maximum is 1000)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,

    #[arg(long, value_enum, default_value = "keyset")]
    pub paging: PagingMode,

    /// Time windows of one mailbox fetched at once (keyset paging; the service allows about 4)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4))]
    pub mailbox_concurrency: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiVersion {
    #[value(name = "v1.0")]
    V1,
    #[value(name = "v2.0")]
    V2,
    #[value(name = "beta")]
    Beta,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::V2 => "v2.0",
            ApiVersion::Beta => "beta",
        }
    }
}

/// Graph audit log queries.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Audit log queries (--source audit)")]
pub struct AuditQueryArgs {
    /// Audit log operations to keep, e.g. MailItemsAccessed,MailboxLogin
    #[arg(long, value_name = "OP", num_args = 1.., value_delimiter = ',')]
    pub operations: Vec<String>,

    /// Audit log record types to keep, e.g. exchangeItem
    #[arg(long, value_name = "TYPE", num_args = 1.., value_delimiter = ',')]
    pub record_types: Vec<String>,

    /// Seconds between two polls of a running audit log query
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub poll_interval: f64,

    /// Seconds one audit log query may run before the pull stops with what it has
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub query_timeout: u64,

    /// Narrowest range, in seconds, that a query over its record limit is split down to
    #[arg(long, default_value_t = 1, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub min_split: u64,

    /// Audit log queries of one mailbox run at once (Microsoft Purview lets an account run
    /// up to 10 audit searches at the same time)
    #[arg(long, default_value_t = DEFAULT_QUERY_CONCURRENCY, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10))]
    pub query_concurrency: u32,
}

/// Microsoft Graph: its root and version, for every source read through Graph.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Microsoft Graph (--source audit, signins, directory-audits)")]
pub struct GraphArgs {
    /// Graph version (default: beta for signins, whose joins need beta-only fields; v1.0
    /// otherwise)
    #[arg(long, value_enum)]
    pub graph_version: Option<GraphVersion>,

    /// Microsoft Graph root
    #[arg(
        long,
        env = "O365_GRAPH_URL",
        value_name = "URL",
        default_value = "https://graph.microsoft.com"
    )]
    pub graph_url: String,
}

/// The Entra ID sign-in logs.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Entra ID sign-in logs (--source signins)")]
pub struct SignInLogArgs {
    /// Sign-in event types to ask for, one request each (beta `signInEventTypes`; v1.0 has
    /// interactive sign-ins only)
    #[arg(long, value_name = "TYPE", num_args = 1.., value_delimiter = ',',
          default_value = "interactiveUser,nonInteractiveUser,servicePrincipal,managedIdentity")]
    pub sign_in_event_types: Vec<String>,
}

/// Both Entra ID logs.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Entra ID logs (--source signins, directory-audits)")]
pub struct EntraLogArgs {
    /// Time windows fetched at once (Graph allows the reporting API five requests per 10
    /// seconds per app and tenant; more are answered 429 and waited out)
    #[arg(long, default_value_t = DEFAULT_WINDOW_CONCURRENCY, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=5))]
    pub window_concurrency: u32,
}

/// `--window-concurrency` by default: below the five requests per 10 seconds per app and
/// tenant that microsoft-graph-docs-contrib `concepts/throttling-limits.md` ("Identity and
/// access reports service limits", `includes/throttling-entra-logs-reports.md`) gives the
/// resources `signIn` and `directoryAudit`, so a burst of first requests alone stays within it.
pub const DEFAULT_WINDOW_CONCURRENCY: u32 = 4;

/// `--query-concurrency` by default: within the 10 audit searches an account may run at once
/// (Microsoft Purview, "Search the audit log": "Each admin Audit account user can have up to
/// 10 search jobs running at the same time"), leaving room for an analyst's own searches in
/// the portal. Microsoft Graph's throttling-limits page gives no figure of its own for audit
/// log queries.
pub const DEFAULT_QUERY_CONCURRENCY: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphVersion {
    #[value(name = "v1.0")]
    V1,
    #[value(name = "beta")]
    Beta,
}

impl GraphVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            GraphVersion::V1 => "v1.0",
            GraphVersion::Beta => "beta",
        }
    }
}

/// The Management Activity API.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Management Activity API (--source feed)")]
pub struct FeedArgs {
    /// Content types to collect
    #[arg(long, value_name = "TYPE", num_args = 1.., value_delimiter = ',',
          default_value = "Audit.Exchange,Audit.AzureActiveDirectory")]
    pub content_types: Vec<String>,

    /// State file of the blobs fetched by earlier complete runs: they are skipped, and this
    /// run's are added once it completes (pull only)
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Office 365 Management APIs root
    #[arg(
        long,
        env = "O365_MANAGEMENT_URL",
        value_name = "URL",
        default_value = "https://manage.office.com"
    )]
    pub management_url: String,
}

/// Sign-in to the audit log APIs through the identity platform.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Sign-in (--source audit, feed, signins, directory-audits)")]
pub struct SignInArgs {
    /// Tenant id (or a verified domain; the Management Activity API wants the id)
    #[arg(long, value_name = "ID|DOMAIN")]
    pub tenant: Option<String>,

    /// Application (client) id to sign in as; its secret comes from O365_CLIENT_SECRET or a
    /// prompt, unless --certificate or --device-code is given
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// PEM file with the app's certificate and private key (a signed client assertion)
    #[arg(long, value_name = "PEM", conflicts_with = "device_code")]
    pub certificate: Option<PathBuf>,

    /// Sign in as an analyst at this terminal: print a code to enter at the sign-in page
    #[arg(long)]
    pub device_code: bool,

    /// Identity platform root (national clouds, or the mock tenant)
    #[arg(long, env = "O365_AUTHORITY_URL", value_name = "URL",
          default_value = crate::signin::DEFAULT_AUTHORITY_URL)]
    pub authority_url: String,
}

/// The flags of `group`, as declared above.
pub fn group_flags(group: FlagGroup) -> Vec<clap::Arg> {
    let empty = clap::Command::new("group");
    let command = match group {
        FlagGroup::Activities => ActivitiesArgs::augment_args(empty),
        FlagGroup::AuditQuery => AuditQueryArgs::augment_args(empty),
        FlagGroup::Graph => GraphArgs::augment_args(empty),
        FlagGroup::SignInLogs => SignInLogArgs::augment_args(empty),
        FlagGroup::EntraLogs => EntraLogArgs::augment_args(empty),
        FlagGroup::Feed => FeedArgs::augment_args(empty),
        FlagGroup::SignIn => SignInArgs::augment_args(empty),
    };
    command.get_arguments().cloned().collect()
}

/// The first flag given on the command line that `source` does not read, with the group it
/// belongs to: it would change nothing, and an analyst would believe it applied.
pub fn refused_flag(given: &[String], source: &SourceDescriptor) -> Option<(String, FlagGroup)> {
    FlagGroup::ALL
        .into_iter()
        .filter(|group| !source.reads(*group))
        .flat_map(|group| group_flags(group).into_iter().map(move |arg| (arg, group)))
        .find(|(arg, _)| given.iter().any(|id| id == arg.get_id().as_str()))
        .map(|(arg, group)| {
            let name = arg.get_long().unwrap_or(arg.get_id().as_str());
            (format!("--{name}"), group)
        })
}
